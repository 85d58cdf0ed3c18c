#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan, and runs each for a fixed
# number of inputs from seeds taken from samples/ and the rules files: the line parser (every
# format), the reader (chunking, gzip, zstd, mapped and read files), the rules file, the
# state payload, and time zones (TZif files, POSIX TZ rules, --since/--until values). A crash, a sanitizer report or a leak of time (a slow input) fails; the input
# that did it is left in the build directory (crash-*, timeout-*) to rerun:
#   build-fuzz/tests/fuzz/fuzz_reader build-fuzz/crash-...
#
#   bash scripts/fuzz.sh [BUILD_DIR] [SCALE]    (defaults: build-fuzz, 1; SCALE multiplies the
#                                               runs of each target: 10 for a longer session)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-fuzz}
scale=${2:-1}
# Runs a target, sized to take about a minute or less each on CI's cores: reading a file costs
# far more than parsing a line or a rules file.
declare -A runs=([line_parser]=30000 [reader]=8000 [rules]=200000 [state]=200000 [time_zone]=1000000)
root=$(pwd)
# -g1: line tables are all a crash report needs (see sanitizers.sh).
CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEXFILSCAN_FUZZ=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DEXFILSCAN_BUILD_TESTS=OFF -DEXFILSCAN_ARCH=x86-64-v2 > /dev/null
if ! cmake --build "$dir" -j2 --target fuzz_line_parser fuzz_reader fuzz_rules fuzz_state fuzz_time_zone \
    > "$dir/build.log" 2>&1; then
  tail -40 "$dir/build.log" >&2
  echo "fuzz: the build failed (whole log: $dir/build.log)" >&2
  exit 1
fi

seeds=$dir/seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{line_parser,reader,rules,state,time_zone}
# Inputs that once crashed a target (tests/fuzz/regressions/TARGET/) run first, every time.
mkdir -p tests/fuzz/regressions/{line_parser,reader,rules,state,time_zone}
# Lines of every sample format, one a file; whole sample inputs, compressed ones and bad ones.
n=0
for f in samples/*.jsonl samples/bad/*.jsonl tests/cli/golden.jsonl tests/cli/hostile.jsonl; do
  head -n 40 "$f" | while IFS= read -r line; do
    n=$((n + 1))
    printf '%s' "$line" > "$seeds/line_parser/$(basename "$f").$n"
  done
done
for f in samples/bedrock.jsonl samples/gateways.jsonl samples/helicone.jsonl \
         samples/litellm-spendlogs.jsonl samples/litellm-payload.jsonl.gz samples/bad/*; do
  cp "$f" "$seeds/reader/"
done
head -c 20000 samples/api-logs.jsonl > "$seeds/reader/api-logs-head.jsonl"
gzip -c "$seeds/reader/api-logs-head.jsonl" > "$seeds/reader/api-logs-head.jsonl.gz"
zstd -q -c "$seeds/reader/api-logs-head.jsonl" > "$seeds/reader/api-logs-head.jsonl.zst"
cp src/rules/default.toml tests/cli/*.toml bench/metadata-only.toml "$seeds/rules/"
# State payloads (the bytes between the file's 28-byte header and its 8-byte checksum), from
# the release binary when there is one.
if [[ -x build/exfilscan ]]; then
  for f in samples/api-logs.jsonl tests/cli/golden.jsonl; do
    s="$dir/seed.state"
    rm -f "$s"
    build/exfilscan scan -q --state "$s" -o /dev/null "$f" || true
    [[ -f "$s" ]] && tail -c +29 "$s" | head -c -8 > "$seeds/state/$(basename "$f").payload"
  done
fi

# Zones of the system's tz database (every kind of rule: none, northern, southern, negative
# times), POSIX rules, and --since/--until values.
for z in Europe/Berlin America/New_York Australia/Sydney Asia/Tehran America/Nuuk UTC; do
  [[ -f /usr/share/zoneinfo/$z ]] && cp "/usr/share/zoneinfo/$z" "$seeds/time_zone/${z//\//_}"
done
n=0
for v in 'CET-1CEST,M3.5.0,M10.5.0/3' '<-03>3<-02>,M3.5.0/-2,M10.5.0/-1' 'IST-2IDT,M3.4.4/26,M10.5.0' \
         'EST5EDT' 'XXX3YYY,J60/2,300' 2026-11-02 2026-11-02T10:00 '2026-11-02 10:00:00.5' \
         2026-11-02T10:00:00+01:00 24h 7d 1793577600; do
  n=$((n + 1))
  printf '%s' "$v" > "$seeds/time_zone/value.$n"
done

status=0
for t in line_parser reader rules state time_zone; do
  mkdir -p "$dir/corpus/$t"
  n=$((runs[$t] * scale))
  echo "fuzz: $t, $n runs"
  if ! (cd "$dir" && ASAN_OPTIONS=detect_leaks=0 "$root/$dir/tests/fuzz/fuzz_$t" -seed=1 \
        -runs="$n" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        "corpus/$t" "seeds/$t" "$root/tests/fuzz/regressions/$t" > "fuzz-$t.log" 2>&1); then
    tail -30 "$dir/fuzz-$t.log" >&2
    echo "fuzz: $t failed (log: $dir/fuzz-$t.log)" >&2
    status=1
  fi
done
exit $status
