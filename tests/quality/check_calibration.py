#!/usr/bin/env python3
"""Calibration keeps the benign rate at high near its target on days it did not learn from: bars
are learnt (`exfilscan calibrate --target-fpr 0.01`) on one world of benign background and every
hard-negative class (held-out prompts and wrappers: the suite's sample), then another world (its
own seed, the week after) is scanned with them. Fails when more than twice the target's share of
that world's benign accounts reach high, when the learnt bars are the built-in ones (nothing was
learnt) or none came down (bars that only rise hold the rate by finding nothing), or when the
file does not load.

    tests/quality/check_calibration.py BUILD_DIR DATA_DIR
"""
import json
import os
import random
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import corpus_split  # noqa: E402
import world as wd  # noqa: E402

TARGET = 0.01


def benign_world(seed, start, pools, path):
    w = wd.World(seed, "heldout", pools, days=3, bg_keys=2500, bg_lines_per_day=20000, start=start,
                 world_id=f"cal{seed}")
    rng = random.Random(seed)
    w.negatives = [wd.draw_negative(rng, t, f"n-{t}") for t in wd.NEGATIVE_TYPES]
    w.write(path, path.replace(".jsonl", ".labels.jsonl"))


def main():
    build, data = sys.argv[1], sys.argv[2]
    os.makedirs(data, exist_ok=True)
    binary = os.path.join(build, "exfilscan")
    pools = corpus_split.load_gate(os.path.join(HERE, "prompts.jsonl.gz"))
    learn, scan = os.path.join(data, "learn.jsonl"), os.path.join(data, "scan.jsonl")
    benign_world(31, "2026-11-02T00:00:00", pools, learn)
    benign_world(32, "2026-11-09T00:00:00", pools, scan)
    rules = os.path.join(data, "calibrated.toml")
    run = subprocess.run([binary, "calibrate", "-q", "--target-fpr", str(TARGET), "-o", rules, learn],
                         capture_output=True, text=True)
    failures = []
    if run.returncode != 0:
        sys.exit(f"calibrate: exit {run.returncode}\n{run.stderr}")
    bars = [m.groups() for m in map(re.compile(r"^(medium|high)_bar\s*=\s*([0-9.]+)").match, open(rules))
            if m]
    if not bars or all(float(v) == {"medium": 0.5, "high": 0.75}[k] for k, v in bars):
        failures.append("every bar is the built-in one: nothing was learnt")
    # Known-good traffic this quiet (most detectors never fire on it) lowers high bars: bars that
    # only rose would hold the benign rate by finding nothing.
    if not any(k == "high" and float(v) < 0.75 for k, v in bars):
        failures.append("no high bar came down on quiet known-good traffic")
    check = subprocess.run([binary, "rules", "--check", rules], capture_output=True, text=True)
    if check.returncode != 0:
        failures.append(f"rules --check: {check.stdout}{check.stderr}")
    out = subprocess.run([binary, "scan", "-q", "--format", "jsonl", "--top", "100000000", "--rules",
                          rules, scan], capture_output=True, text=True)
    if out.returncode not in (0, 1):
        sys.exit(f"scan: exit {out.returncode}\n{out.stderr}")
    accounts = high = 0
    named = ""
    calibration = None
    for line in out.stdout.splitlines():
        row = json.loads(line)
        if row["type"] == "account" and row["key_kind"] == "api_key":
            accounts += 1
            if row["rules"] and row["severity"] in ("high", "critical"):
                high += 1
                named += f" {row['key']} ({row['top_rule']} {row['risk']:.2f})"
        elif row["type"] == "run":
            calibration = row.get("calibration")
    rate = high / max(1, accounts)
    print(f"calibrated at {TARGET:.0%} on {os.path.basename(learn)}; on the week after: "
          f"{high} of {accounts} benign accounts at high ({rate:.2%}){':' + named if named else ''}")
    if calibration in (None, "none"):
        failures.append(f"the run row names no calibration ({calibration!r})")
    if rate > 2 * TARGET:
        failures.append(f"benign rate at high {rate:.2%} is over twice the target {TARGET:.0%}")
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
