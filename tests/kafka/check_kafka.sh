#!/usr/bin/env bash
# Kafka input (issue 20) against librdkafka's mock cluster on 127.0.0.1: a replay of a topic is
# the file scan of the same records, byte for byte; a stream ended by SIGTERM reports what it
# read; keys land on their murmur2 partitions; bad records and bad set-ups are clear errors.
# Every exfilscan run is bounded (timeout); waits are on files and output, never on time alone.
#   tests/kafka/check_kafka.sh EXFILSCAN MOCK_BROKER PRODUCE_RECORDS
set -u
bin=$(realpath "$1") mock=$(realpath "$2") produce=$(realpath "$3")
cd "$(dirname "$0")/../.." || exit 2
tmp=$(mktemp -d)
broker_pid=""
trap '[[ -n $broker_pid ]] && kill "$broker_pid" 2> /dev/null; rm -rf "$tmp"' EXIT
passed=0 failed=0
check() {  # name, then a command that must succeed
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
# Polls a condition (a command) every 0.1 s, for at most $1 seconds.
wait_for() {
  local limit=$1; shift
  local i
  for ((i = 0; i < limit * 10; i++)); do "$@" && return 0; sleep 0.1; done
  return 1
}
not_in() { ! grep -q -- "$1" "$2"; }
refused() {  # expected message (a grep pattern), then scan's flags
  local want=$1; shift
  local code=0
  timeout 60 "$bin" scan "$@" > /dev/null 2> "$tmp/refused.err" || code=$?
  [[ $code == 2 ]] && grep -q -- "$want" "$tmp/refused.err"
}
exit_is() {  # expected code, then the command
  local want=$1; shift
  "$@"; [[ $? == "$want" ]]
}
# One value for the whole file (the mock hangs members of one group with different ones), and
# short: a rebalance waits for the session timeout.
printf 'session.timeout.ms=6000\nheartbeat.interval.ms=1000\n' > "$tmp/kafka.properties"
kscan() {  # group, then scan's other flags
  local group=$1; shift
  timeout 120 "$bin" scan --kafka "$brokers" --group "$group" --kafka-config "$tmp/kafka.properties" "$@"
}

"$mock" --bootstraps-file "$tmp/bootstraps" logs:4 bad:2 days:3 moving:3 findings:1 > /dev/null 2> "$tmp/mock.err" &
broker_pid=$!
if ! wait_for 30 test -s "$tmp/bootstraps"; then
  echo "FAIL the mock broker did not start: $(cat "$tmp/mock.err")"
  exit 1
fi
brokers=$(cat "$tmp/bootstraps")

# The producer keys each record by its account with murmur2_random and checks every key's
# partition against (murmur2(key) & 0x7fffffff) % 4.
check "records land on their keys' murmur2 partitions" \
  "$produce" --brokers "$brokers" --topic logs samples/campaigns.jsonl.zst

exit_is 1 "$bin" scan -q --format jsonl samples/campaigns.jsonl.zst > "$tmp/file.jsonl"
exit_is 1 kscan replay --topic logs --kafka-until-end -q --format jsonl > "$tmp/replay.jsonl"
check "a replay of the topic exits 1 as the file scan does" test $? = 0
check "a replay of the topic = the file scan, byte for byte" cmp "$tmp/file.jsonl" "$tmp/replay.jsonl"
check "... with findings in it" grep -q '"type":"finding"' "$tmp/replay.jsonl"
kscan replay-2 --topic logs --kafka-until-end -q --format jsonl --threads 1 > "$tmp/replay1.jsonl"
check "... and with --threads 1" cmp "$tmp/file.jsonl" "$tmp/replay1.jsonl"
"$bin" scan -q --format table samples/campaigns.jsonl.zst > "$tmp/file.txt"
kscan replay-3 --topic logs --kafka-until-end -q --format table > "$tmp/replay.txt"
check "the table of a replay = the file's but for the input's name" \
  cmp <(grep -v 'samples/campaigns' "$tmp/file.txt") <(grep -v 'kafka:logs' "$tmp/replay.txt")

# --findings-topic: the JSON-lines report produced to a topic too, a row a message, findings
# and account rows keyed by their key, the run row without one (read back with kcat).
kscan to-topic --topic logs --kafka-until-end -q --format jsonl --findings-topic findings \
  > "$tmp/to-topic.jsonl"
timeout 60 kcat -C -b "$brokers" -t findings -e -q -f '%k\t%s\n' > "$tmp/findings.kcat"
check "--findings-topic: the topic holds the report, row for row" \
  cmp <(cut -f2- "$tmp/findings.kcat") "$tmp/to-topic.jsonl"
keyed_by_account() {
  python3 - "$tmp/findings.kcat" <<'PY'
import json, sys
rows = [line.rstrip("\n").split("\t", 1) for line in open(sys.argv[1])]
ok = all(k == (json.loads(v).get("key", "") if json.loads(v)["type"] != "run" else "")
         for k, v in rows)
sys.exit(0 if ok and len(rows) > 1 else 1)
PY
}
check "... each row keyed by its account, the run row by none" keyed_by_account
check "--findings-topic without --kafka" refused "--findings-topic needs --kafka" \
  --findings-topic findings samples/api-logs.jsonl

# A stream (no --kafka-until-end) runs until SIGTERM; what it took by then is merged and
# reported. Once every partition shows lag 0 it has taken everything: the report is the file's.
# (Not through kscan: $! must be exfilscan's own process, under timeout.)
timeout 120 "$bin" scan --kafka "$brokers" --group stream --kafka-config "$tmp/kafka.properties" \
  --topic logs -v --format jsonl > "$tmp/stream.jsonl" 2> "$tmp/stream.err" &
stream_pid=$!
caught_up() { [[ $(grep -c 'partition [0-3]: .*, lag 0,' "$tmp/stream.err") -ge 4 ]]; }
check "a stream reports each partition's lag with -v" wait_for 60 caught_up
kill -TERM "$stream_pid"
wait "$stream_pid"
check "a stream ended by SIGTERM exits 1 (its findings)" test $? = 1
check "... having reported all it read: the file scan's report" cmp "$tmp/file.jsonl" "$tmp/stream.jsonl"

# --state with --kafka: the state keeps each partition's offset beside the accounts, and the
# offsets are committed once it is saved. Three "days" produced one after the other, each read by
# a run that goes on from the state, fire the findings of one --state run over the three files,
# and each run reads only its day.
zstd -dc samples/campaigns.jsonl.zst > "$tmp/all.jsonl"
awk -v d="$tmp" '{ t = substr($0, 15, 13);
  f = (t < "2026-11-02T03") ? "day1" : (t < "2026-11-02T05") ? "day2" : "day3";
  print > (d "/" f ".jsonl") }' "$tmp/all.jsonl"
"$bin" scan -q --format jsonl --state "$tmp/one.state" "$tmp/all.jsonl" > "$tmp/one.out"
chained_lines=""
for day in day1 day2 day3; do
  "$produce" --brokers "$brokers" --topic days "$tmp/$day.jsonl" 2> /dev/null
  kscan days --topic days --kafka-until-end --state "$tmp/kafka.state" --format jsonl \
    > "$tmp/$day.out" 2> "$tmp/$day.err"
  chained_lines+="$(grep -o '"lines":[0-9]*' "$tmp/$day.out") "
done
grep '"type":"finding"' "$tmp/one.out" > "$tmp/one.findings"
cat "$tmp"/day{1,2,3}.out | grep '"type":"finding"' > "$tmp/chain.findings"
check "runs going on from a --kafka --state fire one --state run's findings" \
  cmp "$tmp/one.findings" "$tmp/chain.findings"
day_lines="$(for day in day1 day2 day3; do printf '"lines":%s ' "$(wc -l < "$tmp/$day.jsonl")"; done)"
check "... each reading only its day's records ($day_lines)" test "$chained_lines" = "$day_lines"
# Without the state, the group starts at its committed offsets: the end, so nothing is read.
kscan days --topic days --kafka-until-end --format jsonl > "$tmp/after.out" 2> /dev/null
check "... the offsets committed after the save: the group goes on from the end" \
  grep -q '"type":"run","lines":0,' "$tmp/after.out"
check "a file scan's state is refused by --kafka" refused "the state of a scan of files" \
  --kafka "$brokers" --topic days --group g --kafka-until-end --state "$tmp/one.state"
check "a --kafka state is refused by a file scan" refused "the state of a scan --kafka" \
  --state "$tmp/kafka.state" "$tmp/day1.jsonl"
cp "$tmp/kafka.state" "$tmp/other.state"
check "... and by --kafka on another topic" refused "the state of topic days, not logs" \
  --kafka "$brokers" --topic logs --group g --kafka-until-end --state "$tmp/other.state"
check "explain reads a --kafka state" \
  "$bin" explain -q --state "$tmp/kafka.state" camp-dormant_burst-0 "$tmp/day1.jsonl" -o /dev/null

# One member per group with --state: when a second member joins and takes a partition, the
# first stops (exit 2, saying why) and leaves its state as it was, rather than keep accounts the
# other member now reads.
"$produce" --brokers "$brokers" --topic moving "$tmp/day1.jsonl" 2> /dev/null
kscan moving --topic moving --kafka-until-end --state "$tmp/moving.state" -q > /dev/null
cp "$tmp/moving.state" "$tmp/moving.before"
timeout 120 "$bin" scan --kafka "$brokers" --group moving --kafka-config "$tmp/kafka.properties" \
  --topic moving -v --state "$tmp/moving.state" --format jsonl > /dev/null 2> "$tmp/moving.err" &
first=$!
wait_for 60 grep -q 'kafka: assigned moving partitions 0 1 2' "$tmp/moving.err"
# (Not through kscan: $! must be exfilscan's own process, for the kill below.)
timeout 120 "$bin" scan --kafka "$brokers" --group moving --kafka-config "$tmp/kafka.properties" \
  --topic moving -q --format jsonl > /dev/null 2>&1 &
second=$!
wait "$first"
check "a member with --state whose partition moves to another exits 2" test $? = 2
check "... saying why" grep -q 'moved to another member of group moving' "$tmp/moving.err"
check "... and leaves its state as it was" cmp "$tmp/moving.state" "$tmp/moving.before"
kill -TERM "$second" 2> /dev/null
wait "$second"

# Bad records are reported by topic, partition and offset, their strings masked.
printf '%s\n' '{"timestamp":"2026-11-02T00:00:00Z","api_key_id":"k1","request":{"model":"m"},"response":{"status":200}}' \
  '{"timestamp":"2026-11-02T00:00:01Z","api_key_id":"k1", "secret prompt' \
  '{"timestamp":"2026-11-02T00:00:02Z","api_key_id":"k1","request":{"model":"m"},"response":{"status":200}}' > "$tmp/bad.jsonl"
"$produce" --brokers "$brokers" --topic bad "$tmp/bad.jsonl" 2> /dev/null
exit_is 0 kscan bad --topic bad --kafka-until-end --format jsonl > /dev/null 2> "$tmp/bad.err"
check "a bad record is skipped, exit 0" test $? = 0
check "... and named by topic/partition@offset, its text masked" \
  grep -qE '^bad/[01]@[0-9]+:1: bad_json: .*\*\*\*' "$tmp/bad.err"
check "... never its prompt" not_in "secret prompt" "$tmp/bad.err"
exit_is 2 kscan bad-strict --topic bad --kafka-until-end --strict --format jsonl > /dev/null 2>&1
check "... and with --strict, exit 2" test $? = 0

# Set-ups that cannot work are usage or input errors (exit 2) with a message.
check "--kafka with input files" refused "give no input files" --kafka "$brokers" --topic logs --group g samples/api-logs.jsonl
check "--kafka without --group" refused "needs --topic TOPIC and --group GROUP" --kafka "$brokers" --topic logs
check "--topic without --kafka" refused "--topic needs --kafka" --topic logs samples/api-logs.jsonl
printf 'session.timeout.ms\n' > "$tmp/bad.properties"
check "a --kafka-config line that is not name=value" refused "bad.properties:1: expected name=value" \
  --kafka "$brokers" --topic logs --group g --kafka-config "$tmp/bad.properties"
printf 'no.such.property=1\n' > "$tmp/unknown.properties"
check "a property librdkafka does not know" refused "No such configuration property" \
  --kafka "$brokers" --topic logs --group g --kafka-config "$tmp/unknown.properties"
check "no broker at the address" refused "cannot reach the brokers 127.0.0.1:1" \
  --kafka 127.0.0.1:1 --topic logs --group g --kafka-until-end

echo "kafka: $passed passed, $failed failed"
((failed == 0))
