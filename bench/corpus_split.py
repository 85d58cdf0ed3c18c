#!/usr/bin/env python3
"""The fixed split of the prompt corpora into a tuning part and a held-out part.

Every text of ../shared/corpora goes to one part by a hash of the text itself (SHA-256, its
first four bytes as a number, modulo 10: 0-2 held out, 3-9 tuning), so the split needs no list,
never changes when a file grows, and a text that appears in two files lands in the same part in
both. Detectors are tuned on the tuning part only; the held-out part, like the held-out wrappers
(bench/wrappers.py), is read only by the quality gate (bench/quality.py).

    python3 bench/corpus_split.py --corpus ../shared/corpora            # counts per file and part
    python3 bench/corpus_split.py --corpus ../shared/corpora --export-gate tests/quality/prompts.jsonl.gz

--export-gate writes the small held-out sample the test suite runs on (CI has no corpora): at
most --per-kind texts of each kind below, each under 2,000 characters, in corpus order.
"""
import argparse
import gzip
import hashlib
import json
import os

HELDOUT_BUCKETS = 3  # of 10

# Prompt kinds the generators draw from, and the corpus files behind each.
KINDS = {
    "benign": ["benign_sharegpt", "benign_arena_hard"],
    "instructions": ["distill_alpaca_5000", "distill_code_alpaca", "distill_self_instruct_seed_tasks"],
    "math": ["benchmark_gsm8k", "benchmark_math_word_problems", "benchmark_math_test",
             "benchmark_math_competition_sets"],
    "mcq": ["benchmark_mmlu"],
    "code": ["benchmark_humaneval", "benchmark_mbpp", "benchmark_leetcode_2024"],
    "questions": ["benchmark_alpaca_eval", "benchmark_wizardlm_evol_testset",
                  "benchmark_mt_bench_vicuna_bench", "benchmark_self_instruct_user_oriented"],
    "translate": ["benchmark_wmt22_translation_sources"],
    "roles": ["template_awesome_chatgpt_prompts"],
    "templated": ["template_t0_promptsource_instances"],
}


def part_of(text):
    """'heldout' or 'tuning', from the text alone."""
    h = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big")
    return "heldout" if h % 10 < HELDOUT_BUCKETS else "tuning"


def load(corpus, part, max_chars=4000, per_file=None):
    """{kind: [texts]} of one part of the corpora under `corpus`, in file order."""
    pools = {}
    for kind, names in KINDS.items():
        pool = []
        for name in names:
            path = os.path.join(corpus, name + ".jsonl")
            if not os.path.exists(path):
                continue
            taken = 0
            with open(path, encoding="utf-8") as f:
                for line in f:
                    text = json.loads(line)["text"]
                    if len(text) >= max_chars or part_of(text) != part:
                        continue
                    pool.append(text)
                    taken += 1
                    if per_file and taken >= per_file:
                        break
        if pool:
            pools[kind] = pool
    return pools


def load_gate(path):
    """The exported sample: {kind: [texts]}."""
    pools = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            pools.setdefault(row["kind"], []).append(row["text"])
    return pools


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--export-gate")
    ap.add_argument("--per-kind", type=int, default=400)
    a = ap.parse_args()
    if a.export_gate:
        pools = load(a.corpus, "heldout", max_chars=2000)
        with gzip.GzipFile(a.export_gate, "wb", mtime=0) as raw:
            for kind in KINDS:
                pool = pools.get(kind, [])
                step = max(1, len(pool) // a.per_kind)  # spread over the kind's files
                for text in pool[::step][:a.per_kind]:
                    raw.write((json.dumps({"kind": kind, "text": text}, ensure_ascii=False) + "\n").encode())
        return
    print("| file | tuning | held out |\n|---|---|---|")
    for name in sorted(f[:-6] for f in os.listdir(a.corpus) if f.endswith(".jsonl")):
        path = os.path.join(a.corpus, name + ".jsonl")
        counts = {"tuning": 0, "heldout": 0}
        with open(path, encoding="utf-8") as f:
            for line in f:
                counts[part_of(json.loads(line)["text"])] += 1
        print(f"| {name} | {counts['tuning']:,} | {counts['heldout']:,} |")


if __name__ == "__main__":
    main()
