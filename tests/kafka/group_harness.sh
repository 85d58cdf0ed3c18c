# shellcheck shell=bash
# The harness of the tests that run members of a consumer group against the mock cluster
# (check_state_dir.sh, check_campaigns.sh), sourced after they set $bin: a scratch directory
# cleaned up on exit with every member, watchdog and the broker; checks counted; waits on a
# condition, bounded; members started in the background; and the test of a settled group.
tmp=$(mktemp -d)
broker_pid=""
members=() watchdogs=()
cleanup() {
  local pid
  for pid in "${members[@]}"; do kill -KILL "$pid" 2> /dev/null; done
  for pid in "${watchdogs[@]}"; do pkill -KILL -P "$pid" 2> /dev/null; kill -KILL "$pid" 2> /dev/null; done
  [[ -n $broker_pid ]] && kill "$broker_pid" 2> /dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0 failed=0
check() {  # name, then a command that must succeed
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
wait_for() {  # at most $1 seconds, polling the condition (a command) every 0.1 s
  local limit=$1; shift
  local i
  for ((i = 0; i < limit * 10; i++)); do "$@" && return 0; sleep 0.1; done
  return 1
}
# One value for the whole run (the mock hangs members of one group with different ones), and
# short: a rebalance waits for the session timeout.
printf 'session.timeout.ms=6000\nheartbeat.interval.ms=1000\n' > "$tmp/kafka.properties"
# A member in the background, as $! itself (not under timeout: a SIGKILL must reach exfilscan);
# a watchdog bounds it. Its pid is left in $member. Needs $brokers.
start_member() {  # name, group, topic, then scan's other flags
  local name=$1 group=$2 topic=$3; shift 3
  # -v every second: the waits read its progress lines. The idle timeout is long: a partition
  # whose records come a moment after another's is waited for, so that each member merges its
  # partitions in event time whatever the timing (docs/scale-out.md).
  "$bin" scan --kafka "$brokers" --group "$group" --topic "$topic" \
    --kafka-config "$tmp/kafka.properties" --kafka-idle-timeout 10m -v --format jsonl "$@" \
    > "$tmp/$name.out" 2> "$tmp/$name.err" &
  member=$!
  members+=("$member")
  (sleep 240; kill -KILL "$member" 2> /dev/null) > /dev/null 2>&1 &
  watchdogs+=($!)
  disown $!  # (killed at the end without a word)
}
# Which partitions each member holds now, from its "kafka: assigned / revoked" lines: the group
# has settled when the members hold all 4 between them, each some, none twice.
settled() {  # member names
  python3 - "$tmp" "$@" <<'PY'
import re, sys
d, names = sys.argv[1], sys.argv[2:]
held = {}
for n in names:
    s = set()
    for line in open(f"{d}/{n}.err"):
        m = re.search(r"kafka: (assigned|revoked) \S+ partitions((?: \d+)+)", line)
        if m:
            p = set(m.group(2).split())
            s = s | p if m.group(1) == "assigned" else s - p
    held[n] = s
ok = all(held.values()) and sum(map(len, held.values())) == 4 and len(set().union(*held.values())) == 4
sys.exit(0 if ok else 1)
PY
}
