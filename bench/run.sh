#!/usr/bin/env bash
# Throughput benchmark: exfilscan against the simdjson three-field ceiling (bench/ceiling.cpp), on
# the same file, in the same invocation, page cache warm. The ratio to the ceiling is the figure;
# lone times mean little on a shared machine.
#
#   bench/run.sh [--lines N] [--runs R] [--peers] [BUILD_DIR]
# Generates bench/data/logs-<N>.jsonl (seeded) if absent. Prints a Markdown table. --peers adds
# DuckDB (its Node.js package, installed into bench/data/ from the npm registry) on 1 and 2
# threads, doing the per (key, hour) group-by a simple detector needs.
set -euo pipefail
cd "$(dirname "$0")/.."
lines=600000 runs=5 build=build peers=0
while (($#)); do
  case "$1" in
    --lines) lines=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --peers) peers=1; shift ;;
    *) build=$1; shift ;;
  esac
done
data=bench/data/logs-$lines.jsonl
mkdir -p bench/data
[[ -f $data ]] || python3 bench/gen_logs.py --lines "$lines" --seed 1 --out "$data"
[[ -x $build/exfilscan ]] || { echo "build exfilscan first ($build/exfilscan)" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null

ceiling=bench/data/ceiling
if [[ ! -x $ceiling || bench/ceiling.cpp -nt $ceiling ]]; then
  g++ -O3 -DNDEBUG -std=c++17 -march=native bench/ceiling.cpp -o "$ceiling" -lsimdjson
fi
gz=$data.gz
[[ -f $gz ]] || gzip -1 -c "$data" > "$gz"
zst=$data.zst
if [[ ! -f $zst ]] && command -v zstd >/dev/null; then zstd -q -3 -T0 -c "$data" > "$zst"; fi
cat "$data" > /dev/null  # warm the page cache

declare -A cmds=(
  [ceiling]="$ceiling $data"
  [normalize]="$build/exfilscan normalize -q $data"
  [scan-metadata-1t]="$build/exfilscan scan -q --threads 1 --rules bench/metadata-only.toml $data"
  [scan-metadata]="$build/exfilscan scan -q --threads 2 --rules bench/metadata-only.toml $data"
  [scan-1t]="$build/exfilscan scan -q --threads 1 $data"
  [scan]="$build/exfilscan scan -q --threads 2 $data"
  [scan-stdin]="$build/exfilscan scan -q --threads 2 - < $data"
  [scan-gzip]="$build/exfilscan scan -q --threads 2 $gz"
)
order=(ceiling normalize scan-metadata-1t scan-metadata scan-1t scan scan-stdin scan-gzip)
if [[ -f $zst ]]; then
  cmds[scan-zstd]="$build/exfilscan scan -q --threads 2 $zst"
  order+=(scan-zstd)
fi
if ((peers)); then
  node_dir=bench/data/duckdb
  if [[ ! -d $node_dir/node_modules/@duckdb/node-api ]]; then
    mkdir -p "$node_dir" && cp bench/duckdb/package.json bench/duckdb/group_by.js "$node_dir/"
    (cd "$node_dir" && npm install --no-audit --no-fund >/dev/null)
  fi
  cp bench/duckdb/group_by.js "$node_dir/"
  cmds[duckdb-2t]="node $node_dir/group_by.js $data 2"
  cmds[duckdb-1t]="node $node_dir/group_by.js $data 1"
  order+=(duckdb-1t duckdb-2t)
fi

# One result a line: name wall cpu maxrss_kb (median wall of $runs, interleaved runs).
declare -A walls cpus rss
for ((r = 0; r < runs; r++)); do
  for name in "${order[@]}"; do
    # Exit code 1 is a scan that found something (the synthetic busiest keys can look like a
    # sweep); anything above is a failure.
    out=$( { /usr/bin/time -f "%e %U %S %M" bash -c "${cmds[$name]} > /dev/null 2>/dev/null; rc=\$?; exit \$((rc > 1 ? rc : 0))"; } 2>&1 | tail -1)
    read -r e u s m <<< "$out"
    walls[$name]+="$e "
    cpus[$name]+="$(echo "$u + $s" | bc) "
    rss[$name]=$m
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
size=$(stat -c %s "$data")
base=$(echo "${walls[ceiling]}" | median)
echo "file: $data ($((size / 1000000)) MB, $lines lines), median of $runs runs"
echo
# With --peers, each exfilscan variant is also given against DuckDB on as many threads: both
# are compute-bound, so that ratio moves less than the ceiling's when the machine's speed does.
if ((peers)); then
  d1=$(echo "${walls[duckdb-1t]}" | median) d2=$(echo "${walls[duckdb-2t]}" | median)
  echo "| program | wall s | CPU s | MB/s | peak RSS MB | × ceiling | × DuckDB, same threads |"
  echo "|---|---|---|---|---|---|---|"
else
  echo "| program | wall s | CPU s | MB/s | peak RSS MB | × ceiling |"
  echo "|---|---|---|---|---|---|"
fi
for name in "${order[@]}"; do
  w=$(echo "${walls[$name]}" | median)
  c=$(echo "${cpus[$name]}" | median)
  row=$(printf "| %s | %.2f | %.2f | %.0f | %.0f | %.2f |" "$name" "$w" "$c" \
    "$(echo "$size / 1000000 / $w" | bc -l)" "$(echo "${rss[$name]} / 1024" | bc -l)" \
    "$(echo "$w / $base" | bc -l)")
  if ((peers)); then
    case $name in
      scan*-1t) row+=$(printf " %.2f |" "$(echo "$w / $d1" | bc -l)") ;;
      scan*) row+=$(printf " %.2f |" "$(echo "$w / $d2" | bc -l)") ;;
      *) row+=" |" ;;
    esac
  fi
  echo "$row"
done
