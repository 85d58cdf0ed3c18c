#!/usr/bin/env bash
# Builds exfilscan and its tests with AddressSanitizer and UndefinedBehaviorSanitizer and runs
# every test (unit and golden; the Kafka group tests only in the release build) under them:
# memory errors, and undefined behaviour the release build would hide (a failed simdjson
# assumption is one), stop the run. Then, in a build of its
# own (it cannot be combined with ASan), ThreadSanitizer over everything that runs on several
# threads: every unit test (the engine's shards, the parallel reader and pipeline, the
# read-ahead) but those that start librdkafka's threads, and scans of the big sample with
# --threads 2, from a file and from a zstd pipe.
#
#   bash scripts/sanitizers.sh [BUILD_DIR [TSAN_BUILD_DIR]]
#                              (defaults: build-sanitizers, build-tsan)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-sanitizers}
tsan_dir=${2:-build-tsan}
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# Built for x86-64-v2 (no AVX2): the release build takes the AVX2 paths (a key's end, escapes,
# byte masks), so the tests run here through the portable ones they fall back to.
# -g1 (line tables only): a report still names file and line, and the build is a quarter
# faster than with full debug information (13 to 10 minutes on CI's two cores).
debug="-O2 -g1 -DNDEBUG"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$debug" -DEXFILSCAN_ARCH=x86-64-v2 -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" > /dev/null
if ! cmake --build "$dir" -j2 > "$dir/build.log" 2>&1; then
  tail -40 "$dir/build.log" >&2
  echo "sanitizers: the build failed (whole log: $dir/build.log)" >&2
  exit 1
fi
# Leak checking needs ptrace, which some containers refuse: memory errors and UB are the point.
# Not the Kafka group tests (label kafka_group): three minutes of waiting for groups to form
# and sessions to time out. The [librdkafka] unit tests run exfilscan's Kafka reading and
# per-partition state here; the group tests' hand-over between processes and the cluster
# stage over a topic run in the release build only.
ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir "$dir" -j2 --output-on-failure -LE kafka_group

# ThreadSanitizer: a data race, or a lock taken in two orders, stops the run (halt_on_error).
cmake -S . -B "$tsan_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="-fsanitize=thread" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$debug" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" > /dev/null
if ! cmake --build "$tsan_dir" -j2 --target exfilscan exfilscan_tests > "$tsan_dir/build.log" 2>&1; then
  tail -40 "$tsan_dir/build.log" >&2
  echo "sanitizers: the ThreadSanitizer build failed (whole log: $tsan_dir/build.log)" >&2
  exit 1
fi
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
# Not the [librdkafka] tests: librdkafka starts its threads with C11 thrd_create, which GCC 12's
# ThreadSanitizer does not intercept, so their first allocation crashes inside TSan's allocator.
# They run in every other build, AddressSanitizer's included, and exfilscan's own Kafka code runs
# on the calling thread only.
"$tsan_dir/tests/exfilscan_tests" '~[librdkafka]'
bin="$tsan_dir/exfilscan"
for threads in 2 3; do
  # Exit 1: the sample's campaigns are found; anything else (66: TSan's report) fails.
  code=0
  "$bin" scan -q --format jsonl --threads "$threads" samples/campaigns.jsonl.zst > /dev/null || code=$?
  [[ $code == 1 ]] || { echo "sanitizers: a --threads $threads scan exited $code" >&2; exit 1; }
  code=0
  zstd -dc samples/campaigns.jsonl.zst | zstd -q -c | "$bin" scan -q --format jsonl --threads "$threads" - \
    > /dev/null || code=$?
  [[ $code == 1 ]] || { echo "sanitizers: a --threads $threads scan of stdin exited $code" >&2; exit 1; }
done
echo "sanitizers: ThreadSanitizer found no race"
