#!/usr/bin/env bash
# Peak memory against input size: `exfilscan scan` on a 1 GB log (600,000 lines, 7 days) and a
# 10 GB one (6,000,000 lines, 70 days), both from bench/gen_logs.py with the same 2,000 keys at
# the same hourly rates, so the active accounts are the same and only the length differs.
#
#   bench/memory.sh [BUILD_DIR]
# Generates the logs into bench/data/ if absent (the 10 GB one takes ~10 minutes and 10 GB of
# disk). Prints a Markdown table of peak RSS per input and thread count.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
mkdir -p bench/data
small=bench/data/logs-600000.jsonl
big=bench/data/logs-6000000-d70.jsonl
[[ -f $small ]] || python3 bench/gen_logs.py --lines 600000 --seed 1 --out "$small"
[[ -f $big ]] || python3 bench/gen_logs.py --lines 6000000 --seed 1 --days 70 --out "$big"
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
rss() { /usr/bin/time -f "%M" "$build/exfilscan" scan -q -o /dev/null --threads "$1" "$2" 2>&1 >/dev/null | tail -1 || true; }
echo "| threads | $(basename $small) MB | $(basename $big) MB | 10 GB / 1 GB |"
echo "|---|---|---|---|"
for t in 1 2; do
  a=$(rss "$t" "$small") b=$(rss "$t" "$big")
  printf "| %s | %.0f | %.0f | %.2f |\n" "$t" "$(echo "$a / 1024" | bc -l)" "$(echo "$b / 1024" | bc -l)" \
    "$(echo "$b / $a" | bc -l)"
done
