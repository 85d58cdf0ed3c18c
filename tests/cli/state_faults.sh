#!/usr/bin/env bash
# Cron mode when something else is going on (issue #17): another run on the same state, planted
# links, file modes, an unwritable state directory, a save that fails. Each case is deterministic:
# a held lock is held by this shell, a wait is seen through a FIFO, a full disk is RLIMIT_FSIZE.
#   tests/cli/state_faults.sh BINARY     (KEEP=1 keeps the scratch directory to look at)
set -u
bin=$(realpath "$1")
cd "$(dirname "$0")/../.." || exit 2
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
[[ -n "${KEEP:-}" ]] && trap - EXIT
passed=0 failed=0
check() {  # name, then a command that must succeed
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
not() { ! "$@"; }
no_temporaries() { test -z "$(find "$1" -name '*.tmp.*')"; }

# One day that fires findings at high and above, and a state built from it.
zstd -dc samples/campaigns.jsonl.zst > "$tmp/day.jsonl"
scan() { "$bin" scan -q --format jsonl "$@" "$tmp/day.jsonl"; }
scan --state "$tmp/base.state" > "$tmp/base.out"
check "the day has findings" grep -q '"severity":"critical"' "$tmp/base.out"

# --- #17.4: another run holds the state ---------------------------------------------------------
# This shell takes the lock on fd 4 (as a run would), and keeps it from the runs it starts.
mkdir "$tmp/lock"
cp "$tmp/base.state" "$tmp/lock/s.state"
cp "$tmp/lock/s.state" "$tmp/before"
exec 4> "$tmp/lock/s.state.lock"
flock -n 4
echo "the other run's report" > "$tmp/lock/report.txt"
scan --state "$tmp/lock/s.state" -o "$tmp/lock/report.txt" 4>&- 2> "$tmp/err"
check "a locked state: exit 2" test $? = 2
check "a locked state: names the file" grep -q "$tmp/lock/s.state" "$tmp/err"
check "a locked state: says another exfilscan holds it" grep -q "another exfilscan holds" "$tmp/err"
check "a locked state: the state is left as it was" cmp -s "$tmp/lock/s.state" "$tmp/before"
check "a locked state: the other run's report is not truncated" \
  grep -q "the other run's report" "$tmp/lock/report.txt"

# --wait: started while the lock is held, it says it waits and cannot finish; once the lock is
# let go of it runs to its end and saves the state (a first one, for findings to show).
mkfifo "$tmp/fifo"
rm "$tmp/lock/s.state"
"$bin" scan --format jsonl --wait --state "$tmp/lock/s.state" "$tmp/day.jsonl" \
  > "$tmp/wait.out" 2> "$tmp/fifo" 4>&- &
waiter=$!
exec 3< "$tmp/fifo"
IFS= read -r line <&3
check "--wait: says it waits for the other run" grep -q "waiting (--wait)" <<< "$line"
check "--wait: has not finished while the lock is held" kill -0 "$waiter" 2> /dev/null
cat <&3 > "$tmp/wait.err" &
drain=$!
exec 3<&-
flock -u 4
exec 4>&-
wait "$waiter"
check "--wait: once the lock is let go of, it finishes (exit 1: its findings)" test $? = 1
wait "$drain"
check "--wait: the run's findings" grep -q '"type":"finding"' "$tmp/wait.out"
check "--wait: the state is saved" cmp -s "$tmp/lock/s.state" "$tmp/base.state"
check "--wait without --state is a usage error" \
  test "$("$bin" scan --wait "$tmp/day.jsonl" > /dev/null 2>&1; echo $?)" = 2

# --- #17.5: the temporary file ------------------------------------------------------------------
# A link planted where the temporary goes (an older exfilscan used PATH.tmp.PID: the pid is this
# shell's, which exec hands to exfilscan) must not be followed to overwrite its target.
mkdir "$tmp/plant"
echo "a file the cron job must not overwrite" > "$tmp/victim"
cp "$tmp/victim" "$tmp/victim.before"
bash -c 'ln -s "$1" "$2.tmp.$$" && exec "$0" scan -q --format jsonl --state "$2" "$3"' \
  "$bin" "$tmp/victim" "$tmp/plant/s.state" "$tmp/day.jsonl" > /dev/null
check "a planted temporary link: the run saves its state" cmp -s "$tmp/plant/s.state" "$tmp/base.state"
check "a planted temporary link: its target is not written" cmp -s "$tmp/victim" "$tmp/victim.before"
check "a planted temporary link: the state is a regular file" test -f "$tmp/plant/s.state" -a ! -L "$tmp/plant/s.state"

# Modes: a state made 0600 or 0640 keeps its mode; a new one is 0600, whatever the umask.
mkdir "$tmp/mode"
for mode in 600 640; do
  cp "$tmp/base.state" "$tmp/mode/$mode.state"
  chmod "$mode" "$tmp/mode/$mode.state"
  scan --state "$tmp/mode/$mode.state" > /dev/null
  check "a state made $mode is $mode after a save" test "$(stat -c %a "$tmp/mode/$mode.state")" = "$mode"
done
(umask 022; scan --state "$tmp/mode/new.state" > /dev/null)
check "a new state is 600" test "$(stat -c %a "$tmp/mode/new.state")" = 600

# A run killed before it removed its temporary leaves PATH.tmp.XXXXXX; the next run on that
# state, holding the lock, removes it (and nothing of another state's).
mkdir "$tmp/killed"
cp "$tmp/base.state" "$tmp/killed/s.state"
echo partial > "$tmp/killed/s.state.tmp.Xy12Zq"
echo partial > "$tmp/killed/s.state.tmp.4242"
echo other > "$tmp/killed/other.state.tmp.Xy12Zq"
echo mine > "$tmp/killed/s.state.tmp.bak"
echo mine > "$tmp/killed/s.state.tmp.backup"
scan --state "$tmp/killed/s.state" > /dev/null
check "a killed run's temporaries are removed by the next run" \
  test ! -e "$tmp/killed/s.state.tmp.Xy12Zq" -a ! -e "$tmp/killed/s.state.tmp.4242"
check "... and another state's are not" test -e "$tmp/killed/other.state.tmp.Xy12Zq"
check "... nor a user's own state.tmp.bak and .backup" \
  test -e "$tmp/killed/s.state.tmp.bak" -a -e "$tmp/killed/s.state.tmp.backup"

# A save that fails (a full disk: the file size limit, with SIGXFSZ ignored so that the write
# fails) leaves the old state and no temporary.
mkdir "$tmp/full"
cp "$tmp/base.state" "$tmp/full/s.state"
# The report goes through a pipe, out of reach of the limit.
(ulimit -f 64; trap '' XFSZ; exec "$bin" scan -q --format jsonl --state-reset \
  --state "$tmp/full/s.state" "$tmp/day.jsonl") 2> "$tmp/err" | cat > "$tmp/full.out"
check "a failed save: exit 2" test "${PIPESTATUS[0]}" = 2
check "a failed save: the old state is left" cmp -s "$tmp/full/s.state" "$tmp/base.state"
check "a failed save: no temporary is left" no_temporaries "$tmp/full"
check "a failed save: the findings were written" grep -q '"type":"finding"' "$tmp/full.out"
check "a failed save: says the findings were written and the state not saved" \
  grep -q "the findings were written; the state was not saved: .*File too large" "$tmp/err"

# --- #17.11: a state directory that cannot be written stops the run before any input is read ---
# Read-only for whoever runs exfilscan: as root, that is nobody (root writes anywhere).
as_other() {
  if ((EUID == 0)); then setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; else "$@"; fi
}
chmod 755 "$tmp"
for lock in "a lock file" "no lock file"; do
  rm -rf "$tmp/ro" && mkdir "$tmp/ro"
  cp "$tmp/base.state" "$tmp/ro/s.state"
  chmod 644 "$tmp/ro/s.state"
  [[ "$lock" == "a lock file" ]] && touch "$tmp/ro/s.state.lock"
  chmod 555 "$tmp/ro"
  as_other "$bin" scan -q --format jsonl --state-reset --state "$tmp/ro/s.state" "$tmp/day.jsonl" \
    > "$tmp/ro.out" 2> "$tmp/err"
  check "a read-only state directory ($lock): exit 2" test $? = 2
  check "a read-only state directory ($lock): nothing read, no findings" test ! -s "$tmp/ro.out"
  check "a read-only state directory ($lock): says why" \
    grep -q "$tmp/ro/s.state.*Permission denied" "$tmp/err"
  check "a read-only state directory ($lock): the state is left" \
    cmp -s "$tmp/ro/s.state" "$tmp/base.state"
done

# --- #17.6: a symlinked --state is refused, not replaced -----------------------------------------
mkdir "$tmp/link"
cp "$tmp/base.state" "$tmp/link/target.state"
ln -s target.state "$tmp/link/s.state"
scan --state "$tmp/link/s.state" > "$tmp/link.out" 2> "$tmp/err"
check "a symlinked state: exit 2" test $? = 2
check "a symlinked state: says so" grep -q "$tmp/link/s.state: is a symbolic link" "$tmp/err"
check "a symlinked state: the link is left a link" test -L "$tmp/link/s.state"
check "a symlinked state: its target is left as it was" cmp -s "$tmp/link/target.state" "$tmp/base.state"
check "a symlinked state: refused before reading the input" test ! -s "$tmp/link.out"
scan --state "$tmp/link/s.state" --state-reset > /dev/null 2> "$tmp/err"
check "a symlinked state with --state-reset: exit 2" test $? = 2
mkdir "$tmp/link/dir.state"
scan --state "$tmp/link/dir.state" > /dev/null 2> "$tmp/err"
check "a directory as the state: exit 2" test $? = 2
check "a directory as the state: says so" grep -q "not a regular file" "$tmp/err"

# --- #17.12-13: a bad input among good ones ---------------------------------------------------
# Unreadable (missing): the others are reported, exit 2, the state left as it was. Read whole
# but no event in it (a JSON array): exit 2 too, but nothing was lost, so the state is saved.
mkdir "$tmp/inputs"
cp "$tmp/base.state" "$tmp/inputs/s.state"
"$bin" scan -q --format jsonl --state "$tmp/inputs/s.state" "$tmp/day.jsonl" samples/no-such.jsonl \
  > "$tmp/inputs/out" 2> "$tmp/inputs/err"
check "an unreadable input: exit 2" test $? = 2
check "... the others reported" grep -q '"type":"run"' "$tmp/inputs/out"
check "... the state as it was" cmp -s "$tmp/inputs/s.state" "$tmp/base.state"
check "... and said" grep -q "not updated (1 input could not be read)" "$tmp/inputs/err"
"$bin" scan -q --format jsonl --state "$tmp/inputs/s.state" "$tmp/day.jsonl" \
  samples/bad/json_array.json > /dev/null 2> "$tmp/inputs/err"
check "an input with no event: exit 2" test $? = 2
check "... the state saved" not cmp -s "$tmp/inputs/s.state" "$tmp/base.state"

echo "state faults: $passed passed, $failed failed"
((failed == 0))
