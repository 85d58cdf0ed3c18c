#!/usr/bin/env python3
"""Runs `exfilscan scan` on a labelled sample and checks the verdicts against the labels: every
campaign account at high or above, and no benign account (labelled hard negatives and the
unlabelled background alike) at high.

    tests/cli/check_detection.py BINARY samples/campaigns.jsonl.zst samples/campaigns.labels.jsonl
"""
import json
import subprocess
import sys

RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def main():
    binary, log, labels_path = sys.argv[1:4]
    labels = {}
    with open(labels_path) as f:
        for line in f:
            lab = json.loads(line)
            labels[lab["key"]] = lab
    run = subprocess.run([binary, "scan", "--format", "jsonl", "-q", "--top", "100000", log],
                         capture_output=True, text=True)
    if run.returncode not in (0, 1):
        print(run.stderr)
        print("detection: 0 passed, 1 failed")
        return 1
    severity = {}
    for line in run.stdout.splitlines():
        row = json.loads(line)
        # A cluster is not a key: its members are judged, each ranked with its cluster.
        if row["type"] == "account" and row["key_kind"] != "cluster":
            severity[row["key"]] = row["severity"] if row["rules"] else "info"
    passed = failed = 0
    for key, lab in sorted(labels.items()):
        got = severity.get(key, "info")
        want_high = lab["kind"] == "campaign"
        ok = (RANK[got] >= RANK["high"]) == want_high
        print(f"{'ok  ' if ok else 'FAIL'} {key:20} {lab['kind']:9} {lab['label']:22} {got}")
        passed, failed = passed + ok, failed + (not ok)
    for key, got in sorted(severity.items()):
        if key not in labels and RANK[got] >= RANK["high"]:
            print(f"FAIL {key:20} background reached {got}")
            failed += 1
    print(f"detection: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
