#!/usr/bin/env python3
"""Seeded generator of realistic canonical exfilscan logs (docs/log-format.md), for benchmarks
and samples.

Shape: --keys API keys in about keys/3 orgs with Zipf-like request shares (a few keys carry most
traffic); a diurnal cycle over --days from --start; mostly chat, some embeddings, legacy
completions and Responses calls; system prompts and multi-turn histories; prompts from a few
hundred bytes to several KB (lognormal, a rare long document); 429/5xx errors; a small share of
logprobs, n>1 and logit_bias requests. Lines are in completion order, so timestamps are mostly
increasing with about a latency of disorder, as real gateway logs are.

    python3 bench/gen_logs.py --lines 400000 --seed 1 --out bench/data/logs-1g.jsonl
"""
import argparse
import datetime as dt
import json
import math
import random

WORDS = ("the a of to and in is it you that for on with as are this be at have or from an by "
         "not but what all were when we there can your which their said if do will each about how "
         "up out them then she many some so these would other into has more her two like him see "
         "time could no make than first been its who now people my made over did down only way "
         "find use may water long little very after words called just where most know get through "
         "back much before go good new write our used me man too any day same right look think "
         "also around another came come work three word must because does part even place well "
         "such here take why things help put years different away again off went old number "
         "function return value error table query model data server request user account report "
         "summary customer invoice order product review email translate explain list compare").split()
TASKS = ["Summarize the following text", "Translate this into French", "Write a short story about",
         "Explain step by step how", "Classify the sentiment of", "Fix the bug in this code",
         "Answer the question", "Draft an email to", "Extract the entities from", "Rewrite politely"]
SYSTEMS = ["You are a helpful assistant.", "You are a customer support agent for an online shop. "
           "Answer politely and briefly, and never invent order numbers.",
           "You are a senior software engineer. Review code carefully and explain issues.",
           "You classify support tickets into billing, technical, account or other. Reply with "
           "one word."]
AGENTS = ["OpenAI/Python 1.52.0", "OpenAI/NodeJS 4.67.1", "langchain/0.3.1", "curl/8.5.0",
          "litellm/1.55.2"]


def text(rng, n_bytes):
    out, size = [], 0
    while size < n_bytes:
        w = rng.choice(WORDS)
        if rng.random() < 0.01:
            w = rng.choice(["café", "naïve", "日本語", "\"quoted\"", "back\\slash", "line\nbreak"])
        out.append(w)
        size += len(w) + 1
    return " ".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=10000)
    ap.add_argument("--keys", type=int, default=2000)
    ap.add_argument("--days", type=float, default=7)
    ap.add_argument("--start", default="2026-11-02T00:00:00")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="-")
    ap.add_argument("--scenarios", default="",
                    help="comma-separated labelled scenarios to mix in (see bench/scenarios.py), or 'all'")
    ap.add_argument("--labels", help="write the scenario labels (JSON lines) here")
    ap.add_argument("--corpus", help="directory of prompt corpora ({\"text\",\"kind\"} JSON lines, "
                    "e.g. ../shared/corpora); built-in prompts without it")
    a = ap.parse_args()
    if a.scenarios:
        return with_scenarios(a)
    write_lines(background(a), a.out)


def write_lines(rows, path):
    """Writes (epoch seconds, line) pairs as JSON lines, stamping times and missing ids."""
    out = open(path, "w", encoding="utf-8") if path != "-" else None
    buf = []
    for n, (t, d) in enumerate(rows):
        ts = dt.datetime.fromtimestamp(t, dt.timezone.utc)
        d["timestamp"] = ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
        if d.get("request_id") is None:
            d["request_id"] = f"req_s{n:07d}"
        buf.append(json.dumps(d, ensure_ascii=False, separators=(",", ":")))
        if len(buf) >= 5000:
            flush(buf, out)
    flush(buf, out)
    if out:
        out.close()


def background(a):
    """The benign population, as (epoch seconds, line) pairs in time order."""
    rng = random.Random(a.seed)
    start = dt.datetime.fromisoformat(a.start).replace(tzinfo=dt.timezone.utc).timestamp()
    span = a.days * 86400
    keys = []
    for i in range(a.keys):
        keys.append({
            "key": f"key-{i:05d}", "org": f"org-{i // 3:04d}", "project": f"proj_{i % 7}",
            "ip": f"198.51.{(i * 7) % 256}.{(i * 13) % 254 + 1}",
            "agent": AGENTS[i % len(AGENTS)], "users": 1 + (i % 40),
            "median": rng.choice([120, 300, 600, 1500]), "system": rng.choice(SYSTEMS),
            "history": rng.random() < 0.3, "tz": rng.choice([-8, -5, 0, 1, 5, 8, 9]),
        })
    weights = [1.0 / (r + 1) for r in range(a.keys)]  # Zipf, s = 1
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)

    t = start
    busy = [0.3 + 0.7 * math.sin(math.pi * max(0, h - 5) / 18) ** 2 for h in range(24)]
    step = span / max(a.lines, 1) / (sum(1 / b for b in busy) / 24)
    for n in range(a.lines):
        # Diurnal cycle: the clock runs faster through the (UTC) night, so fewer lines fall there.
        hour = dt.datetime.fromtimestamp(t, dt.timezone.utc).hour
        t += rng.expovariate(1.0 / step) / busy[hour]
        # Each key lives in its own time zone: keys whose local hour is quiet are drawn less.
        for _ in range(4):
            k = keys[min(bisect(cum, rng.random() * total), a.keys - 1)]
            local = (dt.datetime.fromtimestamp(t, dt.timezone.utc).hour + k["tz"]) % 24
            if rng.random() < busy[local]:
                break
        roll = rng.random()
        endpoint = ("/v1/chat/completions" if roll < 0.9 else "/v1/embeddings" if roll < 0.95
                    else "/v1/completions" if roll < 0.97 else "/v1/responses")
        size = max(40, int(rng.lognormvariate(math.log(k["median"]), 0.8)))
        if rng.random() < 0.005:
            size = rng.randint(8000, 30000)
        corpus_prompts = getattr(a, "prompts", None)
        if corpus_prompts is not None and corpus_prompts.pools.get("benign"):
            prompt = corpus_prompts.get("benign")
        else:
            prompt = rng.choice(TASKS) + ": " + text(rng, size)
        req = {"model": rng.choice(["gpt-4o", "gpt-4o-mini", "o4-mini"])}
        if endpoint == "/v1/chat/completions":
            msgs = [{"role": "system", "content": k["system"]}]
            if k["history"] and rng.random() < 0.5:
                msgs += [{"role": "user", "content": text(rng, 80)},
                         {"role": "assistant", "content": text(rng, 200)}]
            msgs.append({"role": "user", "content": prompt})
            req["messages"] = msgs
        elif endpoint == "/v1/embeddings":
            req = {"model": "text-embedding-3-small", "input": [text(rng, 100) for _ in range(3)]}
        elif endpoint == "/v1/completions":
            req = {"model": "gpt-3.5-turbo-instruct", "prompt": prompt}
        else:
            req["input"] = prompt
            req["instructions"] = k["system"]
        if endpoint != "/v1/embeddings":
            req["temperature"] = rng.choice([0, 0.2, 0.7, 1.0])
            req["max_tokens"] = rng.choice([256, 512, 1024, 4096])
            if rng.random() < 0.03:
                req["logprobs"] = True if endpoint != "/v1/completions" else 5
                if endpoint != "/v1/completions":
                    req["top_logprobs"] = 5
            if rng.random() < 0.02:
                req["n"] = rng.choice([2, 4])
            if rng.random() < 0.005:
                req["logit_bias"] = {str(rng.randint(1, 100000)): -100}
        status = 200
        r = rng.random()
        if r < 0.01:
            status = 429
        elif r < 0.013:
            status = rng.choice([400, 401, 500, 503])
        pt = size // 4 + 20
        ct = 0 if endpoint == "/v1/embeddings" else int(rng.lognormvariate(math.log(200), 1.0))
        latency = int(200 + ct * rng.uniform(5, 25))
        resp = {"status": status}
        if status == 200:
            usage = {"prompt_tokens": pt, "total_tokens": pt + ct}
            if endpoint != "/v1/embeddings":
                usage["completion_tokens"] = ct
                usage["completion_tokens_details"] = {
                    "reasoning_tokens": ct // 2 if req.get("model") == "o4-mini" else 0}
            resp["usage"] = usage
        else:
            resp["error"] = {"code": str(status)}
        line = {
            "timestamp": None,
            "request_id": f"req_{n:08x}{rng.getrandbits(24):06x}", "org_id": k["org"],
            "project_id": k["project"], "api_key_id": k["key"],
            "user": f"end-user-{rng.randrange(k['users'])}", "ip": k["ip"],
            "user_agent": k["agent"], "method": "POST", "endpoint": endpoint,
            "request": req, "response": resp, "latency_ms": latency,
        }
        yield t, line


def with_scenarios(a):
    """Benign background plus labelled scenarios, merged in time order as they stream (only the
    scenarios' own lines are held in memory), so sets of any size can be written."""
    import heapq
    import scenarios as sc
    names = set(a.scenarios.split(",")) if a.scenarios != "all" else {
        "sweep", "cot", "templated", "spread", "dormant", "logit", "pipeline", "launch", "eval", "nat"}
    rng = random.Random(a.seed)
    start = dt.datetime.fromisoformat(a.start).replace(tzinfo=dt.timezone.utc).timestamp()
    prompts = sc.Prompts(random.Random(a.seed + 1), a.corpus)
    extra, labels = sc.scenarios(rng, start, names, prompts)
    extra.sort(key=lambda r: r[0])
    a.prompts = prompts
    write_lines(heapq.merge(background(a), extra, key=lambda r: r[0]), a.out)
    if a.labels:
        with open(a.labels, "w") as f:
            for lab in labels:
                lab = dict(lab, start=dt.datetime.fromtimestamp(lab["start"], dt.timezone.utc).isoformat())
                f.write(json.dumps(lab) + "\n")


def bisect(cum, x):
    lo, hi = 0, len(cum)
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def flush(buf, out):
    data = "\n".join(buf) + "\n" if buf else ""
    if out:
        out.write(data)
    else:
        print(data, end="")
    buf.clear()


if __name__ == "__main__":
    main()
