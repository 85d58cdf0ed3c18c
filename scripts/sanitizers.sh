#!/usr/bin/env bash
# Builds exfilscan and its tests with AddressSanitizer and UndefinedBehaviorSanitizer and runs
# every test (unit and golden) under them: memory errors, and undefined behaviour the release
# build would hide (a failed simdjson assumption is one), stop the run.
#
#   bash scripts/sanitizers.sh [BUILD_DIR]     (default: build-sanitizers)
#
# ThreadSanitizer needs a build of its own (it cannot be combined with ASan):
#   cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS=-fsanitize=thread \
#         -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread && cmake --build build-tsan -j2 \
#     && ctest --test-dir build-tsan -R 'shards|pipeline|read|chunk' --output-on-failure
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-sanitizers}
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# Built for x86-64-v2 (no AVX2): the release build takes the AVX2 paths (a key's end, escapes,
# byte masks), so the tests run here through the portable ones they fall back to.
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$flags" \
  -DEXFILSCAN_ARCH=x86-64-v2 -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" > /dev/null
if ! cmake --build "$dir" -j2 > "$dir/build.log" 2>&1; then
  tail -40 "$dir/build.log" >&2
  echo "sanitizers: the build failed (whole log: $dir/build.log)" >&2
  exit 1
fi
# Leak checking needs ptrace, which some containers refuse: memory errors and UB are the point.
ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir "$dir" -j2 --output-on-failure
