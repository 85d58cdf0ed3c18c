#!/usr/bin/env python3
"""Calibration judged on traffic it did not learn from: the benign traffic of one grid's worlds
(every key no campaign label names: the background and the hard negatives) is merged into one
log of many accounts, `exfilscan calibrate` learns bars from it, and bench/quality.py then scans
another grid (another seed) with the built-in and with the learnt bars.

    python3 bench/calibration.py --data /tmp/q --corpus ../shared/corpora --learn-seed 7 \
        --scan-seed 8 --target-fpr 0.001 --build build

The learning grid's worlds are generated (and kept in --data) as quality.py does; each world's
keys and orgs are prefixed with its name so that worlds drawn over the same days are different
customers of one deployment, and the worlds are merged in event-time order.
"""
import argparse
import heapq
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def benign_lines(world, prefix):
    labels = world.replace(".jsonl", ".labels.jsonl")
    campaign = {json.loads(x)["key"] for x in open(labels) if json.loads(x)["kind"] == "campaign"}
    for line in open(world):
        row = json.loads(line)
        if row.get("api_key_id") in campaign:
            continue
        for field in ("api_key_id", "org_id"):
            if row.get(field):
                row[field] = f"{prefix}-{row[field]}"
        yield row["timestamp"], json.dumps(row, separators=(",", ":")) + "\n"


def quality(a, seed, rules):
    cmd = [sys.executable, os.path.join(HERE, "quality.py"), "--build", a.build, "--seed", str(seed),
           "--data", a.data, "--keep", "--reuse", "--jobs", str(a.jobs), "--by-type"]
    if a.corpus:
        cmd += ["--corpus", a.corpus, "--part", a.part]
    for r in rules:
        cmd += ["--rules", r]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--corpus")
    ap.add_argument("--part", choices=["heldout", "tuning"], default="heldout")
    ap.add_argument("--data", required=True, help="where the grids' worlds are kept")
    ap.add_argument("--learn-seed", type=int, default=7)
    ap.add_argument("--scan-seed", type=int, default=8)
    ap.add_argument("--target-fpr", type=float, default=0.001)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", help="the learnt rules file (default: in --data)")
    a = ap.parse_args()
    # The learning grid: generated and kept (its scan is the by-product).
    quality(a, a.learn_seed, [])
    grid = os.path.join(a.data, f"grid-{a.part}-s{a.learn_seed}")
    worlds = sorted(os.path.join(grid, f) for f in os.listdir(grid)
                    if f.endswith(".jsonl") and not f.endswith(".labels.jsonl"))
    merged = os.path.join(a.data, f"benign-{a.part}-s{a.learn_seed}.jsonl")
    with open(merged, "w") as out:
        streams = [benign_lines(w, os.path.basename(w).split(".")[0]) for w in worlds]
        for _, line in heapq.merge(*streams):
            out.write(line)
    rules = a.out or os.path.join(a.data, f"calibrated-{a.part}-s{a.learn_seed}.toml")
    run = subprocess.run([os.path.join(a.build, "exfilscan"), "calibrate", "--target-fpr",
                          str(a.target_fpr), "-o", rules, merged], capture_output=True, text=True)
    sys.stderr.write(run.stderr)
    if run.returncode != 0:
        sys.exit(f"calibrate: exit {run.returncode}")
    print(f"# Calibration: learnt on the benign traffic of seed {a.learn_seed} ({len(worlds)} worlds), "
          f"scanned on seed {a.scan_seed}\n")
    print("".join(line for line in open(rules) if line.startswith("#") and "warning" not in line))
    print("## Built-in bars\n")
    print(quality(a, a.scan_seed, []))
    print("## Calibrated bars\n")
    print(quality(a, a.scan_seed, [rules]))


if __name__ == "__main__":
    main()
