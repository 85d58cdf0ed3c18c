#!/usr/bin/env python3
"""CSV round trip: the findings CSV and the ranking CSV read back through Python's csv module
give exactly the values of the JSON-lines report, also for keys holding commas, quotes and
newlines.

    tests/cli/check_csv.py BINARY
"""
import csv
import io
import json
import subprocess
import sys
import tempfile


def make_log():
    # A logit probe (fires within minutes) from a key with every character CSV must quote.
    lines = []
    for i in range(60):
        lines.append(json.dumps({
            "timestamp": "2026-11-02T10:%02d:%02dZ" % (i // 60, i % 60),
            "request_id": "r,\"%d\"" % i, "api_key_id": 'evil, "key"\nline two',
            "request": {"messages": [{"role": "user", "content": "The capital of France is"}],
                        "max_tokens": 1, "logprobs": True, "logit_bias": {str(1000 + i): 100}},
            "response": {"status": 200, "usage": {"prompt_tokens": 6, "completion_tokens": 1}}}))
    return "\n".join(lines) + "\n"


def main():
    binary = sys.argv[1]
    failed = passed = 0
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as log, \
            tempfile.NamedTemporaryFile("r", suffix=".csv") as summary:
        log.write(make_log())
        log.flush()
        jsonl = subprocess.run([binary, "scan", "-q", "--format", "jsonl", log.name],
                               capture_output=True, text=True).stdout
        findings_csv = subprocess.run([binary, "scan", "-q", "--format", "csv", "--summary-csv", summary.name,
                                       log.name], capture_output=True).stdout.decode()
        summary_csv = open(summary.name, newline="").read()
    rows = [json.loads(l) for l in jsonl.splitlines()]
    findings = [r for r in rows if r["type"] == "finding"]
    accounts = [r for r in rows if r["type"] == "account"]

    def check(name, ok):
        nonlocal passed, failed
        print(("ok   " if ok else "FAIL ") + name)
        passed, failed = passed + ok, failed + (not ok)

    check("CSV lines end in CRLF", findings_csv.endswith("\r\n") and summary_csv.endswith("\r\n"))
    read = list(csv.DictReader(io.StringIO(findings_csv, newline="")))
    check("one CSV row per finding", len(read) == len(findings) and len(findings) > 0)
    for got, want in zip(read, findings):
        check("finding fields survive the round trip",
              got["key"] == want["key"] and got["rule"] == want["rule"] and got["reason"] == want["reason"]
              and got["detected_at"] == want["detected_at"] and got["severity"] == want["severity"]
              and float(got["score"]) == want["score"]
              and got["sample_request_ids"].split(" ") == want["sample_request_ids"]
              and {k: float(v) for k, v in (m.split("=") for m in got["metrics"].split(";"))}
              == {k: float(v) for k, v in want["metrics"].items()})
    ranking = list(csv.DictReader(io.StringIO(summary_csv, newline="")))
    check("one ranking row per account", len(ranking) == len(accounts))
    for got, want in zip(ranking, accounts):
        check("account fields survive the round trip",
              got["key"] == want["key"] and int(got["requests"]) == want["requests"]
              and got["rules"].split(" ") == want["rules"] and float(got["risk"]) == want["risk"])
    check("the awkward key came back whole", any(r["key"] == 'evil, "key"\nline two' for r in read))
    print(f"csv: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
