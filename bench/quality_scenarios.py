#!/usr/bin/env python3
"""Detection quality on the tuning scenarios (bench/scenarios.py, the set the thresholds were first
tuned on): runs `exfilscan scan` and scores its verdicts
against the labels written by gen_logs.py --scenarios.

    python3 bench/quality_scenarios.py [--build build] [--lines N] [--keys K] [--days D] [--seed S]
                             [--corpus ../shared/corpora] [--check]

Prints a Markdown report: per campaign, its keys at high or above (recall) and the median time
from the campaign's start to the first finding that put the key's risk at high (event time);
benign keys (the unlabelled population and the labelled hard negatives) at high and at medium,
with the worst named. --check exits 1 when a target is missed: every campaign with >= 80 % of its
keys at high, benign false-positive rate at high <= 0.1 %, median time-to-detect under 60 min.
"""
import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys

RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
HIGH_RISK = 0.75


def ts(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--lines", type=int, default=200000)
    ap.add_argument("--keys", type=int, default=2000)
    ap.add_argument("--days", type=float, default=2)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--corpus")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--rules", action="append", default=[], help="rules files passed to exfilscan scan")
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    os.makedirs(os.path.join(here, "data"), exist_ok=True)
    tag = f"q{a.lines}-k{a.keys}-d{a.days}-s{a.seed}" + ("-corpus" if a.corpus else "")
    log = os.path.join(here, "data", tag + ".jsonl")
    labels_path = os.path.join(here, "data", tag + ".labels.jsonl")
    if not os.path.exists(log):
        cmd = [sys.executable, os.path.join(here, "gen_logs.py"), "--lines", str(a.lines), "--keys", str(a.keys),
               "--days", str(a.days), "--seed", str(a.seed), "--scenarios", "all", "--labels", labels_path,
               "--out", log]
        if a.corpus:
            cmd += ["--corpus", a.corpus]
        subprocess.run(cmd, check=True)
    labels = {}
    with open(labels_path) as f:
        for line in f:
            lab = json.loads(line)
            labels[lab["key"]] = lab

    rules = [x for r in a.rules for x in ("--rules", r)]
    run = subprocess.run([os.path.join(a.build, "exfilscan"), "scan", "--format", "jsonl", "-q", "--top", "10000000", *rules, log],
                         capture_output=True, text=True)
    if run.returncode not in (0, 1):
        sys.exit(run.stderr)
    accounts, first_high, lines = {}, {}, 0
    for line in run.stdout.splitlines():
        row = json.loads(line)
        if row["type"] == "finding" and row["key_kind"] == "api_key" and row["account_risk"] >= HIGH_RISK:
            first_high.setdefault(row["key"], ts(row["detected_at"]))
        elif row["type"] == "account":
            accounts[row["key"]] = row
        elif row["type"] == "run":
            lines = row["lines"]

    def sev(key):
        row = accounts.get(key)
        return row["severity"] if row and row["rules"] else "info"

    out = [f"Set: `{os.path.basename(log)}` ({lines:,} lines, {len(accounts):,} accounts, "
           f"{sum(1 for l in labels.values() if l['kind'] == 'campaign')} campaign keys)", "",
           "| campaign | keys | at high+ | recall | median time to high | at medium+ |", "|---|---|---|---|---|---|"]
    ok = True
    campaigns = sorted({l["label"] for l in labels.values() if l["kind"] == "campaign"})
    all_ttd = []
    for c in campaigns:
        keys = [k for k, l in labels.items() if l["label"] == c]
        high = [k for k in keys if RANK[sev(k)] >= RANK["high"]]
        medium = [k for k in keys if RANK[sev(k)] >= RANK["medium"]]
        ttd = [(first_high[k] - ts(labels[k]["start"])) / 60 for k in high if k in first_high]
        all_ttd += ttd
        recall = len(high) / len(keys)
        ok = ok and recall >= 0.8
        med = f"{statistics.median(ttd):.0f} min" if ttd else "-"
        out.append(f"| {c} | {len(keys)} | {len(high)} | {recall:.0%} | {med} | {len(medium)} |")
    benign = [k for k in accounts if labels.get(k, {}).get("kind") != "campaign"]
    benign += [k for k, l in labels.items() if l["kind"] == "benign" and k not in accounts]
    out += ["", "| benign keys | at high+ | rate | at medium+ | rate |", "|---|---|---|---|---|"]
    fp_high = [k for k in benign if RANK[sev(k)] >= RANK["high"]]
    fp_med = [k for k in benign if RANK[sev(k)] >= RANK["medium"]]
    n = max(1, len(benign))
    out.append(f"| {len(benign)} | {len(fp_high)} | {len(fp_high) / n:.2%} | {len(fp_med)} | {len(fp_med) / n:.2%} |")
    ok = ok and len(fp_high) / n <= 0.001
    worst = sorted(fp_med, key=lambda k: -accounts[k]["risk"])[:10]
    if worst:
        out += ["", "Benign keys at medium or above (worst first):", "",
                "| key | label | severity | risk | rules |", "|---|---|---|---|---|"]
        for k in worst:
            r = accounts[k]
            out.append(f"| {k} | {labels.get(k, {}).get('label', 'background')} | {r['severity']} | "
                       f"{r['risk']:.2f} | {', '.join(r['rules'])} |")
    med_all = statistics.median(all_ttd) if all_ttd else float("inf")
    ok = ok and med_all < 60
    out += ["", f"Median time to high over all campaign keys: {med_all:.0f} min of event time."]
    print("\n".join(out))
    if a.check and not ok:
        print("\nquality targets missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
