#!/usr/bin/env bash
# scan --kafka --state-dir (issue 20) against librdkafka's mock cluster on 127.0.0.1: members of
# one group, each partition's state in a file of its own that follows the partition. Two
# members' findings together are one member's; a member killed with SIGKILL and started again
# loses no finding and writes none twice; a partition moved to another member goes on there
# from its state. Every run is bounded (timeout or a watchdog); waits are on output and files,
# never on time alone.
#   tests/kafka/check_state_dir.sh EXFILSCAN MOCK_BROKER PRODUCE_RECORDS
set -u
bin=$(realpath "$1") mock=$(realpath "$2") produce=$(realpath "$3")
cd "$(dirname "$0")/../.." || exit 2
source tests/kafka/group_harness.sh
refused() {  # expected message (a grep pattern), then scan's flags
  local want=$1; shift
  local code=0
  timeout 60 "$bin" scan "$@" > /dev/null 2> "$tmp/refused.err" || code=$?
  [[ $code == 2 ]] && grep -q -- "$want" "$tmp/refused.err"
}
kscan() {  # group, then scan's other flags
  local group=$1; shift
  timeout 120 "$bin" scan --kafka "$brokers" --group "$group" --kafka-config "$tmp/kafka.properties" "$@"
}
findings() { grep '"type":"finding"' "$@"; }
# The findings of the keys' own detectors: of an API key, by a rule that reads nothing of other
# keys (not volume_spike, which reads the population; not a cluster's), each with its key, rule,
# severity, score, time and window. Sorted, duplicates kept.
own() {
  python3 - "$@" <<'PY'
import json, sys
rows = []
for name in sys.argv[1:]:
    for line in open(name):
        d = json.loads(line)
        if d.get("type") != "finding" or d["key_kind"] != "api_key" or d["rule"] == "volume_spike":
            continue
        rows.append("\t".join(str(d[k]) for k in
                              ("key", "rule", "severity", "score", "detected_at", "window_start")))
for r in sorted(rows):
    print(r)
PY
}
# Every record of the topic taken: the members' latest positions add up to $1.
all_taken() {  # records, then member names
  local want=$1; shift
  python3 - "$tmp" "$want" "$@" <<'PY'
import re, sys
d, want, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
at = {}
for n in names:
    for line in open(f"{d}/{n}.err"):
        m = re.search(r"kafka: partition (\d+): offset (-?\d+) of", line)
        if m:
            at[(n, m.group(1))] = int(m.group(2))
    # a partition revoked from this member is another's now
    for line in open(f"{d}/{n}.err"):
        m = re.search(r"kafka: revoked \S+ partitions((?: \d+)+)", line)
        if m:
            for p in m.group(1).split():
                at.pop((n, p), None)
best = {}
for (n, p), o in at.items():
    best[p] = max(best.get(p, 0), o)
sys.exit(0 if sum(best.values()) >= want else 1)
PY
}
stop_members() {
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2> /dev/null; done
  for pid in "$@"; do wait "$pid"; done
}
found_some() {  # each output holds a finding of the keys' own detectors
  local out
  for out in "$@"; do [[ -n $(own "$out") ]] || return 1; done
}

"$mock" --bootstraps-file "$tmp/bootstraps" whole:4 two:4 killed:4 moving:4 > /dev/null 2> "$tmp/mock.err" &
broker_pid=$!
if ! wait_for 30 test -s "$tmp/bootstraps"; then
  echo "FAIL the mock broker did not start: $(cat "$tmp/mock.err")"
  exit 1
fi
brokers=$(cat "$tmp/bootstraps")
zstd -dc samples/campaigns.jsonl.zst > "$tmp/all.jsonl"
total=$(wc -l < "$tmp/all.jsonl")

# The reference: one member over the whole sample, with hourly checkpoints, fires what one
# --state scan of the file does (windows left open at the end, for the next run, in both).
"$produce" --brokers "$brokers" --topic whole "$tmp/all.jsonl" 2> /dev/null
"$bin" scan -q --format jsonl --state "$tmp/file.state" "$tmp/all.jsonl" > "$tmp/file.out"
kscan one --topic whole --kafka-until-end --state-dir "$tmp/one.d" -v --format jsonl \
  > "$tmp/one.out" 2> "$tmp/one.err"
check "one member with --state-dir fires the findings of a --state scan of the file" \
  cmp <(findings "$tmp/file.out") <(findings "$tmp/one.out")
check "... having saved a state file per partition at each hour" \
  test "$(grep -c 'state: saved .*/whole-[0-3].state' "$tmp/one.err")" -gt 40
check "... and committed the offsets after the last save" \
  grep -q '"type":"run","lines":0,' <(kscan one --topic whole --kafka-until-end --format jsonl 2> /dev/null)
own "$tmp/one.out" > "$tmp/one.own"
check "... (the keys' own findings are many)" test "$(wc -l < "$tmp/one.own")" -gt 50

# (a) Two members of one group: the group settles on the empty topic, then the records come and
# each member reads its partitions; stopped once all are read. Their findings together are one
# member's, for the keys' own detectors (the population and clusters are per member).
start_member two-a two two --state-dir "$tmp/two.d"; a=$member
start_member two-b two two --state-dir "$tmp/two.d"; b=$member
check "(a) two members settle, each with some of the 4 partitions" wait_for 90 settled two-a two-b
"$produce" --brokers "$brokers" --topic two "$tmp/all.jsonl" 2> /dev/null
check "... read the topic between them" wait_for 90 all_taken "$total" two-a two-b
stop_members "$a" "$b"
own "$tmp/two-a.out" "$tmp/two-b.out" > "$tmp/two.own"
check "... each found some" found_some "$tmp/two-a.out" "$tmp/two-b.out"
check "... and together what one member finds, once each" cmp "$tmp/one.own" "$tmp/two.own"

# (b) A member killed with SIGKILL in the middle of the topic, and started again on the state
# directory: the findings of both runs are the uninterrupted run's, none lost, none twice (the
# records after the last checkpoint are read again; the findings they fire again are dropped).
# The topic holds only its first hours while the first run reads it, so that the run is in the
# middle of it when it is killed, however fast or slow the machine; the rest comes after.
awk -v d="$tmp" '{ t = substr($0, 15, 13); print > (d "/" ((t < "2026-11-02T03") ? "early" : "late") ".jsonl") }' \
  "$tmp/all.jsonl"
"$produce" --brokers "$brokers" --topic killed "$tmp/early.jsonl" 2> /dev/null
start_member killed-1 killed killed --state-dir "$tmp/killed.d"; k=$member
not_finished() { ! grep -q '"type":"run"' "$tmp/killed-1.out"; }
check "(b) a member reads the first hours" wait_for 60 all_taken "$(wc -l < "$tmp/early.jsonl")" killed-1
kill -KILL "$k"
wait "$k" 2> /dev/null
check "... and is killed with SIGKILL mid-topic" not_finished
check "... having written findings" test "$(findings "$tmp/killed-1.out" | wc -l)" -gt 0
"$produce" --brokers "$brokers" --topic killed "$tmp/late.jsonl" 2> /dev/null
kscan killed --topic killed --kafka-until-end --state-dir "$tmp/killed.d" -v --format jsonl \
  > "$tmp/killed-2.out" 2> "$tmp/killed-2.err"
check "... started again, goes on from the partitions' states" \
  test "$(grep -c 'state: loaded .*/killed-[0-3].state' "$tmp/killed-2.err")" = 4
check "... and the two runs wrote the uninterrupted run's findings, each once" \
  cmp <(findings "$tmp/one.out") <(cat "$tmp/killed-1.out" "$tmp/killed-2.out" | findings)
check "... the replay having fired again some the killed run had written" \
  grep -q 'findings fired again by the replay after a restart were written before it' \
  "$tmp/killed-2.err"

# (c) A partition moves to another member with its state: a member reads the first hours alone,
# a second joins and takes some partitions (the first saves them as they are revoked, the
# second loads them), then the rest comes. The keys whose partition moved go on where they were.
"$produce" --brokers "$brokers" --topic moving "$tmp/early.jsonl" 2> /dev/null
start_member moving-a moving moving --state-dir "$tmp/moving.d"; a=$member
check "(c) the first member reads the first hours" wait_for 60 all_taken "$(wc -l < "$tmp/early.jsonl")" moving-a
start_member moving-b moving moving --state-dir "$tmp/moving.d"; b=$member
check "... a second joins and takes some partitions" wait_for 90 settled moving-a moving-b
check "... the first saved them as they were revoked" grep -q 'state: handed over' "$tmp/moving-a.err"
check "... and the second loaded them" grep -q 'state: loaded .*/moving-[0-3].state' "$tmp/moving-b.err"
"$produce" --brokers "$brokers" --topic moving "$tmp/late.jsonl" 2> /dev/null
check "... the rest read between them" wait_for 90 all_taken "$total" moving-a moving-b
stop_members "$a" "$b"
own "$tmp/moving-a.out" "$tmp/moving-b.out" > "$tmp/moving.own"
check "... the second found some" found_some "$tmp/moving-b.out"
check "... and together they find what one member finds, once each" \
  cmp "$tmp/one.own" "$tmp/moving.own"

# Set-ups that cannot work are usage errors (exit 2) with a message.
check "--state with --state-dir" refused "--state FILE and --state-dir DIR together" \
  --kafka "$brokers" --topic whole --group g --state "$tmp/x.state" --state-dir "$tmp/x.d"
check "--state-dir without --kafka" refused "--state-dir needs --kafka BROKERS" \
  --state-dir "$tmp/x.d" samples/api-logs.jsonl
check "--state-dir on a file" refused "--state-dir $tmp/all.jsonl: not a directory" \
  --kafka "$brokers" --topic whole --group g --state-dir "$tmp/all.jsonl"
check "explain reads a partition's state" \
  "$bin" explain -q --state "$tmp/one.d/whole-0.state" camp-dormant_burst-0 "$tmp/early.jsonl" -o /dev/null

echo "kafka state-dir: $passed passed, $failed failed"
((failed == 0))
