#!/usr/bin/env bash
# Fault injection through the real binary (issue #17): every fault the issue lists, each with
# the exit code and the message it must give. One runner over five sections, each a script of
# its own that can also run alone:
#
#   output  2, 3      stdout and stderr full (/dev/full) or closed, a closed pipe; --state
#                     left as it was and said when the report could not be written
#   state   4, 5, 6,  two runs on one state (--wait), a planted temporary link, file modes,
#           11, 12    a killed run's temporaries, a full disk during the save, a read-only state
#                     directory, a symlinked or directory --state, bad inputs and the state
#   clock   7         a far-future line first or mid-campaign: no finding lost, quarantined,
#                     counted, through chained --state runs and on 1 and 2 threads
#   input   1, 9, 10, a file that shrinks while it is read, wild epochs and token counts, bad
#           12-17 and inputs among good ones, garbage, gzip and zstd one after another, masked
#           "Smaller" excerpts, ESC and C1 controls, CSV formulas, a state whose contents are
#                     not of its format, --summary-csv errors, values that were UB
#   memory  8         peak RSS under a flood of new keys, with and without max_accounts
#
# Item 14's state case (a valid checksum over corrupt counts) is the fuzz target's
# (tests/fuzz/regressions/state); docs/cron.md and docs/log-format.md say what is promised.
#
#   tests/cli/faults.sh BINARY [SECTION...]     (KEEP=1 keeps each section's scratch directory)
set -u
[[ $# -ge 1 ]] || { echo "usage: $0 BINARY [output|state|clock|input|memory]..." >&2; exit 2; }
bin=$1
shift
here=$(dirname "$0")
sections=("$@")
((${#sections[@]})) || sections=(output state clock input memory)
failed=()
for s in "${sections[@]}"; do
  [[ -f "$here/${s}_faults.sh" ]] || { echo "faults: no section '$s'" >&2; exit 2; }
  echo "== $s"
  bash "$here/${s}_faults.sh" "$bin" || failed+=("$s")
done
if ((${#failed[@]})); then
  echo "faults: failed in ${failed[*]}"
  exit 1
fi
echo "faults: every section passed (${sections[*]})"
