#!/usr/bin/env bash
# The cluster stage (issue 20, test 4) against librdkafka's mock cluster on 127.0.0.1: a
# cross-account campaign whose keys fall on different partitions, read by two members of a
# group. Without the stage the members cannot link it (each holds some of its keys); with
# --profiles-topic they link nothing and publish their keys' profiles, and exfilscan campaigns
# finds it: the cluster findings of one scan of the file. Every run is bounded (timeout or a
# watchdog); waits are on output, never on time alone.
#   tests/kafka/check_campaigns.sh EXFILSCAN MOCK_BROKER PRODUCE_RECORDS
set -u
bin=$(realpath "$1") mock=$(realpath "$2") produce=$(realpath "$3")
cd "$(dirname "$0")/../.." || exit 2
source tests/kafka/group_harness.sh
stage() {  # group, then campaigns' other flags
  local group=$1; shift
  timeout 120 "$bin" campaigns --kafka "$brokers" --group "$group" \
    --kafka-config "$tmp/kafka.properties" --kafka-until-end "$@"
}
# Every record taken: the members' latest positions add up to $1.
all_taken() {  # records, then member names
  local want=$1; shift
  python3 - "$tmp" "$want" "$@" <<'PY'
import re, sys
d, want, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
best = {}
for n in names:
    for line in open(f"{d}/{n}.err"):
        m = re.search(r"kafka: partition (\d+): offset (-?\d+) of", line)
        if m:
            best[m.group(1)] = max(best.get(m.group(1), 0), int(m.group(2)))
sys.exit(0 if sum(best.values()) >= want else 1)
PY
}
stop_members() {
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2> /dev/null; done
  for pid in "$@"; do wait "$pid"; done
}
clusters() { grep -h '"type":"finding"' "$@" | grep '"key_kind":"cluster"'; }
not_found() {  # pattern, then outputs: no cluster finding of theirs matches
  ! clusters "${@:2}" | grep -q -- "$1"
}
# The campaign: three keys that only their cluster shows (kafka_partition() puts them on
# partitions 1, 2 and 0 of 4, so no member of two holds all three).
campaign='"keys":\["camp-cot_math_harvest-0","camp-cot_math_harvest-1","camp-cot_math_harvest-2"\]'

"$mock" --bootstraps-file "$tmp/bootstraps" logs:4 plain:4 profiles:2 junk:1 empty:2 > /dev/null 2> "$tmp/mock.err" &
broker_pid=$!
if ! wait_for 30 test -s "$tmp/bootstraps"; then
  echo "FAIL the mock broker did not start: $(cat "$tmp/mock.err")"
  exit 1
fi
brokers=$(cat "$tmp/bootstraps")
zstd -dc samples/campaigns.jsonl.zst > "$tmp/all.jsonl"
total=$(wc -l < "$tmp/all.jsonl")
"$bin" scan -q --format jsonl "$tmp/all.jsonl" > "$tmp/file.out"
check "the file scan finds the campaign's cluster" grep -q "$campaign" <(clusters "$tmp/file.out")

# Two groups of two members, settled on the empty topics before the records come: one without
# the stage (each member links the keys it holds), one publishing profiles for it.
start_member plain-a plain plain; pa=$member
start_member plain-b plain plain; pb=$member
start_member prof-a prof logs --profiles-topic profiles; qa=$member
start_member prof-b prof logs --profiles-topic profiles; qb=$member
check "two members of each group settle, each with some of the 4 partitions" \
  wait_for 90 settled plain-a plain-b
check "... (the members that publish profiles too)" wait_for 90 settled prof-a prof-b
"$produce" --brokers "$brokers" --topic plain "$tmp/all.jsonl" 2> /dev/null
"$produce" --brokers "$brokers" --topic logs "$tmp/all.jsonl" 2> /dev/null
check "... and read the topics between them" wait_for 90 all_taken "$total" plain-a plain-b
check "... (both topics)" wait_for 90 all_taken "$total" prof-a prof-b
stop_members "$pa" "$pb" "$qa" "$qb"
check "members without the stage do not find the campaign's cluster" \
  not_found "$campaign" "$tmp/plain-a.out" "$tmp/plain-b.out"
check "members with --profiles-topic write no cluster finding (the stage owns clusters)" \
  test -z "$(clusters "$tmp/prof-a.out" "$tmp/prof-b.out")"
# (The keys' own detectors: volume_spike reads each member's population, which depends on the
# partitions the group gave it; a key's finding names its cluster where its member linked one,
# and its account's risk counts the other rules.)
own() {
  grep -h '"type":"finding"' "$@" | grep '"key_kind":"api_key"' | grep -v '"rule":"volume_spike"' |
    sed 's/"account_risk":[0-9.]*,//; s/,"cluster":"cluster-[0-9a-f]*"//' | sort
}
own "$tmp/plain-a.out" "$tmp/plain-b.out" > "$tmp/plain.own"
own "$tmp/prof-a.out" "$tmp/prof-b.out" > "$tmp/prof.own"
check "... and the same findings of the keys' own detectors as the members without it" \
  cmp "$tmp/plain.own" "$tmp/prof.own"
check "... (many)" test "$(wc -l < "$tmp/prof.own")" -gt 50
check "... having published profiles and ends of hours" \
  test "$(timeout 60 kcat -C -b "$brokers" -t profiles -e -q -f '%k\n' | wc -l)" -gt 1000

# The stage: the profiles, then the members' records of the clusters.
stage stage --topic logs --profiles-topic profiles --format jsonl -v > "$tmp/stage.out" 2> "$tmp/stage.err"
check "the stage finds the campaign's cluster" grep -q "$campaign" <(clusters "$tmp/stage.out")
check "... exits 1 (findings at high)" test "$(stage stage-x --topic logs --profiles-topic profiles -q --format jsonl > /dev/null; echo $?)" = 1
check "... the cluster findings of one scan of the file, byte for byte" \
  cmp <(clusters "$tmp/file.out") <(clusters "$tmp/stage.out")
check "... writes only cluster findings" test -z "$(grep '"type":"finding"' "$tmp/stage.out" | grep -v '"key_kind":"cluster"')"
check "... ranks the campaign's keys with their cluster" \
  grep -q '"key":"camp-cot_math_harvest-1","key_kind":"api_key",.*"cluster":"cluster-' "$tmp/stage.out"
check "... and passes over the records of keys in no cluster, unparsed" \
  grep -q 'campaigns: [1-9][0-9]* records of keys in no cluster passed over' "$tmp/stage.err"
stage stage-2 --topic logs --profiles-topic profiles --format jsonl -q > "$tmp/stage2.out"
check "a second replay of the stage writes the same report" cmp "$tmp/stage.out" "$tmp/stage2.out"
stage stage-3 --topic logs --profiles-topic profiles --format jsonl -q --threads 1 > "$tmp/stage1.out"
check "... and with --threads 1" cmp "$tmp/stage.out" "$tmp/stage1.out"

# The stage reads every partition itself: another consumer in its group (here a member on the
# records' topic) would leave it part of the records, which is exit 2, not a partial report.
start_member other shared logs; other=$member
check "a consumer of the stage's group settles" wait_for 90 grep -q "kafka: assigned" "$tmp/other.err"
code=0
stage shared --topic logs --profiles-topic profiles -q > "$tmp/shared.out" 2> "$tmp/shared.err" || code=$?
stop_members "$other"
check "the stage sharing its group: exit 2, saying it must read every partition" \
  eval '[[ $code == 2 ]] && grep -q "group shared gave this member [0-9] of the 4 partitions of logs" "$tmp/shared.err"'
check "... and no cluster finding" test -z "$(clusters "$tmp/shared.out")"

# Faults are exit 2 with a message: a message that is not a profile, profiles of other rules.
printf 'not a profile\n' | timeout 60 kcat -P -b "$brokers" -t junk 2> /dev/null
code=0
stage junk --topic logs --profiles-topic junk -q > /dev/null 2> "$tmp/junk.err" || code=$?
check "a profiles topic holding something else: exit 2, naming the message" \
  eval '[[ $code == 2 ]] && grep -q "junk/0@0: not an exfilscan profile message" "$tmp/junk.err"'
code=0
stage rules --topic logs --profiles-topic profiles --max-skew 1h -q > /dev/null 2> "$tmp/rules.err" || code=$?
check "profiles made under other rules: exit 2" \
  eval '[[ $code == 2 ]] && grep -q "profiles made under other rules" "$tmp/rules.err"'

code=0
stage empty --topic logs --profiles-topic empty -q > /dev/null 2> "$tmp/empty.err" || code=$?
check "a profiles topic with no member's profiles: exit 2, saying so" \
  eval '[[ $code == 2 ]] && grep -q "profiles-topic empty: no member.s profiles were found" "$tmp/empty.err"'

echo "kafka campaigns: $passed passed, $failed failed"
((failed == 0))
