#!/usr/bin/env bash
# Many small files (S3 exports: LiteLLM's S3 logger writes one request a file, Bedrock delivers
# small .json.gz objects): the same lines scanned as one file and as many, on 1 and 2 threads.
# The ratio to the one file is the per-file cost.
#
#   bench/small-files.sh [--lines N] [--runs R] [BUILD_DIR]
# Takes the first N lines (20,000) of bench/data/logs-600000.jsonl (bench/run.sh makes it) and
# writes them once into bench/data/small-<N>/: one line a file as .json.gz, and 100 lines a file
# as plain .jsonl. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
lines=20000 runs=5 build=build
while (($#)); do
  case "$1" in
    --lines) lines=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) build=$1; shift ;;
  esac
done
src=bench/data/logs-600000.jsonl
[[ -f $src ]] || python3 bench/gen_logs.py --lines 600000 --seed 1 --out "$src"
[[ -x $build/exfilscan ]] || { echo "build exfilscan first ($build/exfilscan)" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
dir=bench/data/small-$lines
if [[ ! -f $dir/done ]]; then
  rm -rf "$dir" && mkdir -p "$dir/one-gz" "$dir/hundred"
  head -n "$lines" "$src" > "$dir/all.jsonl"
  (cd "$dir/one-gz" && split -l 1 -d -a 6 --additional-suffix=.json ../all.jsonl r- && gzip -1 ./*.json)
  (cd "$dir/hundred" && split -l 100 -d -a 6 --additional-suffix=.jsonl ../all.jsonl p-)
  touch "$dir/done"
fi
cat "$dir/all.jsonl" > /dev/null

declare -A cmds=(
  [one-file-1t]="$build/exfilscan scan -q --threads 1 $dir/all.jsonl"
  [one-file]="$build/exfilscan scan -q --threads 2 $dir/all.jsonl"
  [gz-a-line-1t]="$build/exfilscan scan -q --threads 1 $dir/one-gz/*.json.gz"
  [gz-a-line]="$build/exfilscan scan -q --threads 2 $dir/one-gz/*.json.gz"
  [100-lines-1t]="$build/exfilscan scan -q --threads 1 $dir/hundred/*.jsonl"
  [100-lines]="$build/exfilscan scan -q --threads 2 $dir/hundred/*.jsonl"
)
order=(one-file-1t one-file gz-a-line-1t gz-a-line 100-lines-1t 100-lines)
declare -A walls rss
for ((r = 0; r < runs; r++)); do
  for name in "${order[@]}"; do
    out=$( { /usr/bin/time -f "%e %M" bash -c "${cmds[$name]} > /dev/null 2>/dev/null; rc=\$?; exit \$((rc > 1 ? rc : 0))"; } 2>&1 | tail -1)
    read -r e m <<< "$out"
    walls[$name]+="$e "
    rss[$name]=$m
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "$lines lines of $src, median of $runs runs"
echo
echo "| input | threads | wall s | peak RSS MB | × one file, same threads |"
echo "|---|---|---|---|---|"
for name in "${order[@]}"; do
  threads=2 base=one-file
  [[ $name == *-1t ]] && threads=1 base=one-file-1t
  w=$(echo "${walls[$name]}" | median) b=$(echo "${walls[$base]}" | median)
  printf "| %s | %s | %.2f | %.0f | %.1f |\n" "${name%-1t}" "$threads" "$w" \
    "$(echo "${rss[$name]} / 1024" | bc -l)" "$(echo "$w / $b" | bc -l)"
done
