#!/usr/bin/env bash
# Kafka input throughput (issue 20): events a second from a topic on librdkafka's mock cluster
# (tests/kafka/mock_broker, on 127.0.0.1) against the same records from a file, and one worker
# against two in one group, on this machine. A topic run's time is the reader's own, from its
# first message to its end (scan -v: "N messages in X s from the first"), so the group's
# forming (a few seconds on the mock) is left out; a file run's is its wall time.
#
#   bench/kafka.sh [--lines N] [--partitions P] [--runs R] [BUILD_DIR]
# Generates bench/data/logs-<N>.jsonl (seeded) if absent. Prints a Markdown table (medians).
# The mock keeps some 5 MB of compressed batches a partition: past that, fewer lines or more
# partitions (the producer says so).
set -euo pipefail
cd "$(dirname "$0")/.."
lines=100000 partitions=6 runs=3 build=build
while (($#)); do
  case "$1" in
    --lines) lines=$2; shift 2 ;;
    --partitions) partitions=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) build=$1; shift ;;
  esac
done
bin=$build/exfilscan mock=$build/tests/mock_broker produce=$build/tests/produce_records
for b in "$bin" "$mock" "$produce"; do
  [[ -x $b ]] || { echo "build exfilscan and its tests first ($b)" >&2; exit 2; }
done
data=bench/data/logs-$lines.jsonl
mkdir -p bench/data
[[ -f $data ]] || python3 bench/gen_logs.py --lines "$lines" --seed 1 --out "$data"
cat "$data" > /dev/null  # warm the page cache

tmp=$(mktemp -d)
broker_pid=""
trap '[[ -n $broker_pid ]] && kill "$broker_pid" 2> /dev/null; rm -rf "$tmp"' EXIT
"$mock" --bootstraps-file "$tmp/bootstraps" "bench:$partitions" profiles:2 > /dev/null &
broker_pid=$!
for ((i = 0; i < 300; i++)); do [[ -s $tmp/bootstraps ]] && break; sleep 0.1; done
brokers=$(cat "$tmp/bootstraps")
"$produce" --brokers "$brokers" --topic bench "$data"
printf 'session.timeout.ms=6000\nheartbeat.interval.ms=1000\n' > "$tmp/kafka.properties"

calc() { awk "BEGIN { printf \"%.6f\\n\", $1 }"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
group=0
# A topic run: prints "messages seconds" of one member's read.
topic_run() {  # log file, then scan's flags
  local log=$1; shift
  "$bin" scan -v --kafka "$brokers" --topic bench --kafka-config "$tmp/kafka.properties" \
    --kafka-until-end --format jsonl "$@" > /dev/null 2> "$log" || [[ $? == 1 ]]
  sed -n 's/.*kafka: \([0-9]*\) messages in \([0-9.]*\) s from the first.*/\1 \2/p' "$log"
}

echo "| run | threads | events/s | vs the file |"
echo "|---|---|---|---|"
for threads in 1 2; do
  file_rates=() topic_rates=()
  for ((r = 0; r < runs; r++)); do
    start=$(date +%s.%N)
    "$bin" scan -q --threads "$threads" --format jsonl "$data" > /dev/null || [[ $? == 1 ]]
    end=$(date +%s.%N)
    file_rates+=("$(calc "$lines / ($end - $start)")")
    group=$((group + 1))
    read -r n s < <(topic_run "$tmp/one.log" --group "bench-$$-$group" --threads "$threads")
    [[ $n == "$lines" ]] || { echo "a topic run read $n of $lines messages" >&2; exit 1; }
    topic_rates+=("$(calc "$n / $s")")
  done
  file=$(printf '%s\n' "${file_rates[@]}" | median)
  topic=$(printf '%s\n' "${topic_rates[@]}" | median)
  printf '| file | %s | %.0f | 1.00 |\n' "$threads" "$file"
  printf '| topic, 1 worker | %s | %.0f | %.2f |\n' "$threads" "$topic" "$(calc "$topic / $file")"
done

# Two workers of one group, started together, one thread each (this machine has 2 cores). A
# run counts only if the group split the partitions between them and nothing was read twice.
pair_rates=() worker_rates=()
for ((r = 0, tries = 0; r < runs && tries < 3 * runs; tries++)); do
  group=$((group + 1))
  topic_run "$tmp/a.log" --group "bench-$$-$group" --threads 1 > "$tmp/a.out" &
  a=$!
  topic_run "$tmp/b.log" --group "bench-$$-$group" --threads 1 > "$tmp/b.out"
  wait "$a"
  read -r na sa < "$tmp/a.out" || na=0
  read -r nb sb < "$tmp/b.out" || nb=0
  ((na > 0 && nb > 0 && na + nb == lines)) || continue
  r=$((r + 1))
  slower=$(calc "($sa > $sb) ? $sa : $sb")
  pair_rates+=("$(calc "$lines / $slower")")
  worker_rates+=("$(calc "($na / $sa + $nb / $sb) / 2")")
done
if ((${#pair_rates[@]})); then
  file=$(printf '%s\n' "${file_rates[@]}" | median)  # the 2-thread file runs
  pair=$(printf '%s\n' "${pair_rates[@]}" | median)
  printf '| topic, 2 workers (together) | 1 each | %.0f | %.2f |\n' "$pair" "$(calc "$pair / $file")"
  printf '| topic, 2 workers (each) | 1 | %.0f | |\n' "$(printf '%s\n' "${worker_rates[@]}" | median)"
else
  echo "two workers: the group never split the partitions between them in $tries tries" >&2
fi

# The cluster stage (docs/scale-out.md): one member publishes the keys' profiles, then
# `campaigns` reads them and the topic, parsing only the records of keys in a cluster in their
# hour. Its rate is over every message of the topic (fetched, its key looked up); the share
# parsed says how much of it was judged.
group=$((group + 1))
topic_run "$tmp/member.log" --group "bench-$$-$group" --profiles-topic profiles > /dev/null
stage_rates=() parsed=""
for ((r = 0; r < runs; r++)); do
  group=$((group + 1))
  "$bin" campaigns -v --kafka "$brokers" --topic bench --profiles-topic profiles \
    --group "bench-$$-$group" --kafka-config "$tmp/kafka.properties" --kafka-until-end \
    --format jsonl > /dev/null 2> "$tmp/stage.log" || [[ $? == 1 ]]
  read -r n s < <(sed -n 's/.*kafka: \([0-9]*\) messages in \([0-9.]*\) s from the first.*/\1 \2/p' \
    "$tmp/stage.log" | tail -1)
  [[ $n == "$lines" ]] || { echo "the stage read $n of $lines messages" >&2; exit 1; }
  stage_rates+=("$(calc "$n / $s")")
  over=$(sed -n 's/.*campaigns: \([0-9]*\) records of keys in no cluster passed over.*/\1/p' "$tmp/stage.log")
  parsed=$(calc "($lines - $over) / $lines")
done
file=$(printf '%s\n' "${file_rates[@]}" | median)
stage=$(printf '%s\n' "${stage_rates[@]}" | median)
printf '| campaigns (the stage; %.1f%% of the records parsed) | 2 | %.0f | %.2f |\n' \
  "$(calc "100 * $parsed")" "$stage" "$(calc "$stage / $file")"
