#!/usr/bin/env bash
# Hostile and broken input through the real binary (issue #17): a file that shrinks while it is
# read, wild numbers, bad inputs among good ones, garbage, compressed formats one after another,
# prompt text in diagnostics, terminal controls and spreadsheet formulas from logs, a state whose
# contents do not match its format. Each case: its exit code and what stderr must (or must not) say.
#   tests/cli/input_faults.sh BINARY     (KEEP=1 keeps the scratch directory to look at)
set -u
bin=$(realpath "$1")
cd "$(dirname "$0")/../.." || exit 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[[ -n "${KEEP:-}" ]] && trap - EXIT
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1${2:+: $2}"; }
# name, expected exit, a grep pattern stderr must hold ("" for an empty stderr), the command
# (run by bash, stdout into $T/out, stderr into $T/err).
case_() {
  local name=$1 want=$2 pattern=$3 cmd=$4
  bash -c "$cmd" > "$tmp/out" 2> "$tmp/err"
  local got=$?
  if [[ $got != "$want" ]]; then
    fail "$name" "exit $got, expected $want"; head -3 "$tmp/err"
  elif [[ -z "$pattern" && -s "$tmp/err" ]]; then
    fail "$name" "stderr not empty"; head -3 "$tmp/err"
  elif [[ -n "$pattern" ]] && ! grep -q -- "$pattern" "$tmp/err"; then
    fail "$name" "stderr lacks '$pattern'"; head -3 "$tmp/err"
  else
    pass "$name"
  fi
}
check() {  # name, then a command that must succeed
  local name=$1; shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}
export B=$bin T=$tmp
events() { grep -o '"events":[0-9]*' "$1" | head -1 | cut -d: -f2; }

# --- #17.1: a mapped input that shrinks while it is read (logrotate's copytruncate) ------------
# The scan is stopped once it has mapped the file, the file cut, the scan let go on: "Bus error",
# exit 135, before the fix. The copies of the sample are a day apart, so that the file is in
# time order and read once: out of order, the first pass stops where the second copy starts
# (before the cut) and the second pass reads the file as it was cut, rightly without error.
for ((i = 0; i < 80; ++i)); do
  sed "s/\"2026-11-02T/\"$(date -u -d "2026-11-02 + $i day" +%F)T/" samples/api-logs.jsonl
done > "$tmp/big.jsonl"
"$bin" scan -q --threads 1 --format jsonl -o /dev/null "$tmp/big.jsonl" 2> "$tmp/err" &
scan=$!
for ((i = 0; i < 2000; ++i)); do
  grep -q "$tmp/big.jsonl" "/proc/$scan/maps" 2> /dev/null && break
  sleep 0.005
done
if kill -STOP "$scan" 2> /dev/null; then
  truncate -s 1000000 "$tmp/big.jsonl"
  kill -CONT "$scan"
  wait "$scan"
  code=$?
  check "a file that shrinks while it is read: exit 2 (not SIGBUS)" test "$code" = 2
  check "... the message names the file and says it shrank" \
    grep -q "$tmp/big.jsonl: read error: the file shrank while it was read" "$tmp/err"
else
  wait "$scan"
  fail "a file that shrinks while it is read" "the scan ended before it could be stopped"
fi

# --- #17.9, #17.10: wild numbers ---------------------------------------------------------------
L='"api_key_id":"k1","endpoint":"/v1/chat/completions"'
printf '{"timestamp":33353333333333,%s}\n{"timestamp":9223372036854775807,%s}\n{"timestamp":"2026-11-02T10:00:00Z",%s}\n' \
  "$L" "$L" "$L" > "$tmp/epochs.jsonl"
case_ "an epoch past the range is a bad line, not 1857" 0 "epochs.jsonl:1: bad_timestamp: timestamp: epoch out of range" \
  '$B normalize $T/epochs.jsonl; s=$?; grep -q "1857\|2262" $T/out && exit 9; exit $s'
check "... so is INT64_MAX, not 2262" grep -q "epochs.jsonl:2: bad_timestamp: timestamp: epoch out of range" "$tmp/err"
for ((i = 0; i < 300; ++i)); do
  printf '{"timestamp":"2026-11-02T10:%02d:00Z","api_key_id":"k1","response":{"usage":{"prompt_tokens":1,"completion_tokens":9223372036854775807}}}\n' $((i % 60))
done > "$tmp/tokens.jsonl"
case_ "impossible token counts are bad lines with their own reason, never summed" 2 \
  "300 skipped (implausible_value 300)" \
  '$B scan --format jsonl $T/tokens.jsonl; s=$?; grep -q 18446744073709551316 $T/out && exit 9; exit $s'

# --- #17.12, #17.13: bad inputs among good ones, garbage ---------------------------------------
mkdir "$tmp/dir"
cp samples/api-logs.jsonl "$tmp/dir/a.jsonl"
cp samples/bad/truncated.jsonl.gz "$tmp/dir/b.jsonl.gz"
cp samples/api-logs.jsonl "$tmp/dir/c.jsonl"
case_ "a truncated .gz in a directory: the files after it are still read, exit 2" 2 \
  "b.jsonl.gz: truncated gzip stream" '$B scan --format jsonl $T/dir'
check "... all of a.jsonl and c.jsonl and the head of b.jsonl.gz" \
  test "$(events "$tmp/out")" -gt 1200
case_ "a missing input among good ones: named, the others read, exit 2" 2 "no-such.jsonl: cannot open" \
  '$B scan --format jsonl $T/no-such.jsonl samples/api-logs.jsonl; s=$?; grep -q "\"events\":600," $T/out || exit 9; exit $s'
case_ "the binary itself as input: exit 2" 2 "no line is an event" '$B scan -q -o /dev/null $B'
case_ "a pretty-printed JSON array: exit 2, jq suggested" 2 "jq -c '.\[\]'" \
  '$B scan -q -o /dev/null samples/bad/json_array.json'

# --- compressed formats one after another (issue #17, "Smaller") -------------------------------
head -300 samples/api-logs.jsonl > "$tmp/head.jsonl"
tail -n +301 samples/api-logs.jsonl > "$tmp/tail.jsonl"
gzip -c "$tmp/head.jsonl" > "$tmp/head.gz"
zstd -q -c "$tmp/tail.jsonl" > "$tmp/tail.zst"
cat "$tmp/head.gz" "$tmp/tail.zst" > "$tmp/gz-zst"
cat "$tmp/tail.zst" "$tmp/head.gz" "$tmp/tail.zst" > "$tmp/zst-gz-zst"
"$bin" normalize -q samples/api-logs.jsonl > "$tmp/whole.out"
case_ "a gzip member then a zstd frame: read whole" 0 "" \
  '$B normalize -q $T/gz-zst | cmp -s - $T/whole.out'
case_ "... from stdin too" 0 "" 'cat $T/gz-zst | $B normalize -q - | cmp -s - $T/whole.out'
case_ "zstd, gzip, zstd: read whole" 0 "" \
  '$B normalize -q $T/zst-gz-zst | wc -l | grep -qx 900'
cat "$tmp/head.gz" "$tmp/tail.jsonl" > "$tmp/gz-plain"
case_ "plain text after a gzip member: exit 2, the file and the byte named" 2 \
  "gz-plain: neither a gzip member nor a zstd frame at compressed byte $(stat -c %s "$tmp/head.gz")" \
  '$B normalize $T/gz-plain'
check "... the member's lines all read, none lost" cmp -s <(head -300 "$tmp/whole.out") "$tmp/out"
cat "$tmp/tail.zst" <(head -c 100 /dev/zero) > "$tmp/zst-zeros"
case_ "zero padding after a zstd frame: exit 2, named" 2 \
  "zst-zeros: neither a gzip member nor a zstd frame" '$B scan -q --format jsonl $T/zst-zeros'

# --- #17.15: prompt text stays out of diagnostics ----------------------------------------------
printf '{"messages":[{"role":"user","content":"SECRET-%s"}],"timestamp":"2026-11-02T10:00:00Z",\n' \
  1 2 3 > "$tmp/secret.jsonl"
case_ "a bad line's excerpt masks string values" 2 '"content":"\*\*\*"' \
  '$B normalize $T/secret.jsonl; s=$?; grep -q SECRET $T/err && exit 9; exit $s'
case_ "... and shows them with --include-prompts" 2 "SECRET-1" '$B normalize --include-prompts $T/secret.jsonl'

# --- #17.16, #17.17: terminal controls and formulas from logs ----------------------------------
rules="--no-default-rules --rules tests/cli/golden-rules.toml"
export RULES=$rules
esc=$'\x1b' csi=$'\xc2\x9b'
case_ "keys holding ESC and C1 CSI: no raw control in the table" 0 "" \
  "\$B scan -q --format table \$RULES tests/cli/hostile.jsonl; ! grep -q -e '$esc' -e '$csi' \$T/out"
check "... the key is shown escaped" grep -qF '\x1b[2J\x1b[31mpwned' "$tmp/out"
case_ "... nor in explain" 0 "" \
  "\$B explain -q \$RULES \"\$(printf '\\033[2J\\033[31mpwned')\" tests/cli/hostile.jsonl; ! grep -q '$esc' \$T/out"
printf '{"api_key_id":"\033]0;owned\007\033[2Jk","timestamp":"2026-11-02T10:00:00Z"}\n' > "$tmp/esc-bad.jsonl"
case_ "... nor in a bad line's diagnostic" 2 "bad_json" \
  "\$B normalize --include-prompts \$T/esc-bad.jsonl; s=\$?; grep -q '$esc' \$T/err && exit 9; exit \$s"
case_ "CSV cells that start =, +, -, @: quoted for spreadsheets" 0 "" \
  '$B scan -q --format csv $RULES tests/cli/hostile.jsonl --summary-csv $T/s.csv; ! grep -q "^[=+@-]\|,[=+@-]" $T/out $T/s.csv && grep -q "'"'"'=HYPERLINK" $T/s.csv'

# --- a state whose contents do not match its format (issue #17, "Smaller") ----------------------
# The format number rewritten and the checksum made good again (it is not keyed): refused with a
# message naming the file and the way out, the file left as it was.
"$bin" scan -q -o /dev/null --state "$tmp/st.bin" samples/api-logs.jsonl
python3 tests/cli/state_reversion.py "$tmp/st.bin" "$tmp/st1.bin" 1
cp "$tmp/st1.bin" "$tmp/st1.before"
case_ "a state whose contents are not of its format: exit 2, the file and --state-reset named" 2 \
  "st1.bin: the state cannot be loaded (its header says format 1): .*--state-reset starts over" \
  '$B scan -q -o /dev/null --state $T/st1.bin samples/api-logs.jsonl; s=$?; cmp -s $T/st1.bin $T/st1.before || exit 9; exit $s'
case_ "... explain --state too" 2 "st1.bin: the state cannot be loaded" \
  '$B explain -q --state $T/st1.bin key-00001 samples/api-logs.jsonl'
case_ "--summary-csv that cannot be written: exit 2, errno said" 2 \
  "/dev/full: write error: No space left on device" \
  '$B scan -q -o /dev/null --summary-csv /dev/full samples/api-logs.jsonl'

# --- #17.14: values that were undefined behaviour (a sanitizer build runs this too) -----------
printf '%s\n' \
  '{"timestamp":"2026-11-02T10:00:00Z","api_key_id":"k1","request":{"model":"m","seed":7,"logit_bias":{"50256":1e300,"11":-1e300}}}' \
  '{"startTime":"2026-11-02T10:00:00Z","api_key":"k2","model":"m","call_type":"acompletion","status":"failure","metadata":{"error_information":{"error_code":"99999999999999999999"}}}' \
  > "$tmp/ub.jsonl"
case_ "a logit_bias of 1e300, a 20-digit error_code: read, no crash" 0 "" \
  '$B scan -q --format jsonl -o /dev/null $T/ub.jsonl'

echo "input faults: $passed passed, $failed failed"
((failed == 0))
