"""Labelled worlds for the quality grid (bench/quality.py): a benign population with hard
negatives and a set of extraction campaigns, every shape drawn from ranges per seed.

A world is a few days of canonical log lines (docs/log-format.md). Campaigns and hard negatives
are specs (plain dicts drawn by `draw_campaign` / `draw_negative`, or written by hand for the
gate's design points); `World.write` turns them into lines, in time order, and labels every key
it made: {"key", "label" (one id per campaign or negative), "kind" (campaign, benign, gray),
"type", "cell", "start"}. Prompt text comes from one part of the corpus split
(bench/corpus_split.py) and wrappers from one list (bench/wrappers.py), so a world is either
tuning traffic or held-out traffic, never both.
"""
import datetime as dt
import json
import math
import random

import negatives
import wrappers as wr
from negatives import GRAY_TYPES
from traffic import (DAY, FRAMEWORK_SYSTEM, H, MODELS, NEW_MODEL, SCRIPT_AGENTS, SDK_AGENTS, arrivals,
                     log_uniform)

LEGIT_MARGIN_H = 30  # hours of a diluted key's own traffic around its campaign

CAMPAIGN_TYPES = ["instruction_sweep", "cot_harvest", "benchmark_sweep", "templated_sweep",
                  "translation_sweep", "multilingual_sweep", "logit_probe", "cross_account",
                  "release_chasing", "quota_hugging", "dormant_burst"]
# The types the grid crosses with rate x keys x dilution; the others have shapes of their own.
GRID_TYPES = CAMPAIGN_TYPES[:6]
NEGATIVE_TYPES = ["raw_api_app", "batch_pipeline", "launch", "enterprise_nat", "shared_cloud_nat",
                  "tutoring_app", "logprob_classifier", "health_checks", "early_adopters",
                  "one_off_benchmark"]

class Prompts:
    """Prompt texts by kind, from corpus pools ({kind: [texts]}); kinds the pools lack fall back
    to bench/scenarios.py's built-in lists, so a world can be made without the corpora."""

    def __init__(self, pools, rng):
        import scenarios
        self.pools = {k: v for k, v in pools.items() if v}
        self.builtin = scenarios.Prompts(rng)
        self.rng = rng

    def get(self, kind):
        pool = self.pools.get(kind)
        if pool:
            return self.rng.choice(pool)
        return self.builtin.get({"code": "instructions", "roles": "benign", "templated": "instructions"}
                                .get(kind, kind))

    def shuffled(self, kinds, n):
        """n texts of the given kinds, in a fixed random order (a campaign's prompt set)."""
        return [self.get(self.rng.choice(kinds)) for _ in range(n)]


class World(negatives.Negatives):
    """One labelled log: a background population plus campaign and negative specs."""

    def __init__(self, seed, part, pools, days=6.0, bg_keys=1200, bg_lines_per_day=40000,
                 start="2026-11-02T00:00:00", world_id="w0"):
        self.rng = random.Random(seed)
        self.seed = seed
        self.part = part
        self.prompts = Prompts(pools, random.Random(seed + 1))
        self.wrap = wr.HELDOUT if part == "heldout" else wr.TUNING
        self.systems = wr.CAMPAIGN_SYSTEMS[part]
        self.start = dt.datetime.fromisoformat(start).replace(tzinfo=dt.timezone.utc).timestamp()
        self.end = self.start + days * DAY
        self.release = self.start + self.rng.uniform(2.0, 3.0) * DAY
        self.bg_keys, self.bg_lines = bg_keys, int(bg_lines_per_day * days)
        self.id = world_id
        self.lines, self.labels, self.n = [], [], 0
        self.campaigns, self.negatives = [], []

    # ---- output -------------------------------------------------------------------------
    def emit(self, t, key, org, ip, agent, prompt, completion, system=None, user=None, model=None,
             status=200, history=0, endpoint="/v1/chat/completions", **params):
        self.n += 1
        if endpoint == "/v1/completions":
            req = {"model": model or "gpt-3.5-turbo-instruct", "prompt": prompt}
        else:
            msgs = [{"role": "system", "content": system}] if system else []
            for h in range(history):
                msgs += [{"role": "user", "content": "(earlier question %d)" % h},
                         {"role": "assistant", "content": "(earlier answer %d)" % h}]
            msgs.append({"role": "user", "content": prompt})
            req = {"model": model or "gpt-4o", "messages": msgs}
        req.update(params)
        ts = dt.datetime.fromtimestamp(t, dt.timezone.utc)
        line = {"timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z",
                "request_id": f"req_{self.id}_{self.n:08d}", "org_id": org, "api_key_id": key, "ip": ip,
                "method": "POST", "endpoint": endpoint, "request": req}
        if agent:
            line["user_agent"] = agent
        if user:
            line["user"] = user
        if status == 200:
            pt = len(prompt) // 4 + 12 + (len(system) // 4 if system else 0)
            line["response"] = {"status": 200, "usage": {"prompt_tokens": pt, "completion_tokens": completion,
                                                         "total_tokens": pt + completion}}
            line["latency_ms"] = int(250 + completion * self.rng.uniform(6, 20))
        else:
            line["response"] = {"status": status, "error": {"code": str(status)}}
            line["latency_ms"] = int(self.rng.uniform(20, 200))
        self.lines.append((t, json.dumps(line, ensure_ascii=False, separators=(",", ":"))))

    def reseed(self, name):
        self.rng = random.Random(f"{self.seed}:{name}")
        self.prompts.rng = random.Random(f"{self.seed}:{name}:prompts")

    def label(self, key, spec, kind, start):
        self.labels.append({"key": key, "label": spec["id"], "kind": kind, "type": spec["type"],
                            "cell": spec.get("cell", {}), "start": start, "world": self.id})
        return self.labels[-1]

    def write(self, path, labels_path):
        self.background()
        # Each spec draws from a generator of its own, so adding one leaves the others as they were.
        for spec in self.negatives:
            self.reseed(spec["id"])
            getattr(self, "neg_" + spec["type"])(spec)
        for spec in self.campaigns:
            self.reseed(spec["id"])
            self.campaign(spec)
        self.lines.sort(key=lambda r: r[0])
        with open(path, "w", encoding="utf-8") as f:
            for _, s in self.lines:
                f.write(s)
                f.write("\n")
        with open(labels_path, "w") as f:
            for lab in self.labels:
                f.write(json.dumps(lab) + "\n")
        count = len(self.lines)
        self.lines = []
        return count

    # ---- the benign population ---------------------------------------------------------------
    def background(self):
        rng = self.rng
        keys = []
        for i in range(self.bg_keys):
            app = rng.random() < 0.7
            keys.append({
                "key": f"key-{i:05d}", "org": f"org-{i // 3:04d}",
                "ip": f"198.51.{(i * 7) % 256}.{(i * 13) % 254 + 1}",
                "agent": rng.choice(SDK_AGENTS + SDK_AGENTS + SCRIPT_AGENTS + [None]),
                "system": self.app_system() if app else None,
                "users": rng.choice([0, 0, 3, 40, 500, 5000]) if app else rng.choice([0, 0, 0, 1]),
                "completion": log_uniform(rng, 60, 700), "history": rng.random() < 0.3,
                "model": rng.choice(MODELS), "tz": rng.choice([-8, -5, 0, 1, 5, 8, 9]),
            })
        weights = [1.0 / (r + 1) ** 0.9 for r in range(self.bg_keys)]
        total = sum(weights)
        for k, w in zip(keys, weights):
            per_hour = self.bg_lines * w / total / ((self.end - self.start) / H)
            shift = k["tz"] * H
            for t in arrivals(rng, "diurnal", self.start + shift, self.end + shift, per_hour):
                self.human_line(t - shift, k)

    def app_system(self):
        if self.rng.random() < 0.3:
            return FRAMEWORK_SYSTEM
        return self.prompts.get("roles")[:600]

    def human_line(self, t, k, model=None, prompt=None):
        """One request of a human-facing application key."""
        rng = self.rng
        user = f"{k['key']}-u{rng.randrange(k['users'])}" if k["users"] else None
        completion = max(1, int(rng.lognormvariate(math.log(k["completion"]), 0.9)))
        params = {"temperature": rng.choice([0, 0.3, 0.7, 1.0])}
        if rng.random() < 0.02:
            params.update(logprobs=True, top_logprobs=3)
        status = 429 if rng.random() < 0.005 else 200
        self.emit(t, k["key"], k["org"], k["ip"], k["agent"], prompt or self.prompts.get("benign"),
                  completion, system=k["system"], user=user, model=model or k["model"], status=status,
                  history=rng.randint(1, 3) if k["history"] and rng.random() < 0.5 else 0, **params)

    def app_key(self, key, org, ip, users=None):
        rng = self.rng
        return {"key": key, "org": org, "ip": ip, "agent": rng.choice(SDK_AGENTS),
                "system": self.app_system(), "users": users or rng.choice([20, 300, 3000]),
                "completion": log_uniform(rng, 80, 600), "history": rng.random() < 0.4,
                "model": rng.choice(MODELS)}

    # ---- campaigns ---------------------------------------------------------------------------
    def campaign(self, spec):
        """Emits one campaign spec (see draw_campaign for its fields)."""
        rng = self.rng
        spec = dict(spec)
        # A drawn system prompt is an index into this world's list (tuning or held-out text);
        # a design point may give the text itself.
        if isinstance(spec["system"], int):
            spec["system"] = self.systems[spec["system"] % len(self.systems)]
        make = self.content(spec)
        n_keys, cid = spec["keys"], spec["id"]
        shared_orgs = spec["org_mode"] == "one"
        t0 = spec["start"]
        subnets = [f"10.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(spec["subnets"])]
        for k in range(n_keys):
            key = f"{cid}-k{k}"
            org = f"org-{cid}" if shared_orgs else f"org-{cid}-{k}"
            wave = rng.randrange(spec["waves"])
            # Waves join within the campaign's first half, so that every key sends something.
            gap = min(spec["wave_gap"], spec["hours"] * H / (2 * spec["waves"]))
            begin = t0 + wave * gap + rng.uniform(0, min(300, gap / 2 + 1))
            life = spec["hours"] * H * (1 if rng.random() > spec["retire_share"] else rng.uniform(0.3, 0.9))
            end = min(self.end, begin + life)
            ip = (f"{rng.choice(subnets)}.{rng.randrange(2, 254)}" if subnets
                  else f"{rng.randrange(11, 220)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 254)}")
            agent = spec["agent"]
            rate = spec["rate"] * rng.uniform(0.8, 1.2)
            if spec["type"] == "quota_hugging":
                rate = spec["limit"] * rng.uniform(0.85, 0.98)
            lab = self.label(key, spec, "campaign", begin)
            if spec["dilution"] < 1:  # a legitimate application's key, the campaign injected
                # Its own traffic from a day before (a baseline to hide in) to a while after.
                app = self.app_key(key, org, ip)
                legit = rate * (1 - spec["dilution"]) / spec["dilution"]
                lo = max(self.start, begin - (LEGIT_MARGIN_H - 6) * H)
                for t in arrivals(rng, "diurnal", lo, min(self.end, end + 6 * H), legit):
                    self.human_line(t, app)
            if spec["type"] == "dormant_burst":
                for i in range(rng.randint(3, 10)):
                    self.emit(self.start - rng.uniform(9, 20) * DAY, key, org, ip, agent,
                              self.prompts.get("benign"), rng.randint(50, 300))
            slice_ = spec.get("shares") and (k * 7919) % spec["shares"]
            sent, last = 0, begin
            for t in arrivals(rng, spec["arrivals"], begin, end, rate):
                sent, last = sent + 1, t
                prompt, completion, params = make(t, slice_)
                model = params.pop("model", spec["model"])
                status = 200
                if spec["type"] == "quota_hugging" and rng.random() < spec["throttled"]:
                    status = 429
                user = None
                if spec["users"]:
                    user = f"{cid}-u{rng.randrange(spec['users'])}"
                self.emit(t, key, org, ip, agent, prompt, completion, system=spec["system"], user=user,
                          model=model, status=status, **params)
            # What the key sent of the campaign (not its application's own traffic), for the
            # report's sustained keys.
            lab["requests"], lab["hours"] = sent, round((last - begin) / H, 2)

    def content(self, spec):
        """The campaign's request maker: (time, key's share of the prompt set) -> (prompt,
        completion tokens, request params)."""
        rng = self.rng
        w = self.wrap
        kind = spec["type"]
        median = spec["completion"]

        def long_answer():
            return max(5, int(rng.lognormvariate(math.log(median), 0.35)))

        def pick(family, n):
            return rng.sample(w[family], min(n, len(w[family])))

        base = {"temperature": spec["temperature"]}
        if spec["max_tokens"]:
            base["max_tokens"] = spec["max_tokens"]

        def sampled(params):
            if rng.random() < spec["logprobs"]:
                params.update(logprobs=True, top_logprobs=rng.choice([5, 10, 20]))
            if rng.random() < spec["n_share"]:
                params["n"] = rng.choice([2, 4, 8])
            return params

        source_kinds = spec["prompt_kinds"]
        prompt_set = None
        if spec.get("shares"):  # a prompt set cut into disjoint shares, one per key
            prompt_set = self.prompts.shuffled(source_kinds, 4000)

        def source(share):
            if prompt_set:
                n = len(prompt_set) // spec["shares"]
                return prompt_set[share * n + rng.randrange(n)]
            return self.prompts.get(rng.choice(source_kinds))

        if kind in ("instruction_sweep", "cross_account", "release_chasing", "quota_hugging", "dormant_burst"):
            wrappers = pick("instruction", rng.randint(1, 3))
            cots = pick("cot", 2)

            def make(t, share):
                x = source(share)
                if rng.random() >= spec["raw_share"]:
                    x = rng.choice(wrappers).replace("{x}", x)
                if rng.random() < spec["cot_share"]:
                    x = x + "\n" + rng.choice(cots)
                params = sampled(dict(base))
                if kind == "release_chasing" and t > self.release + spec["switch_after"]:
                    if rng.random() < spec["moved_share"]:
                        params["model"] = NEW_MODEL
                if kind == "dormant_burst" and rng.random() < 0.5:
                    params["n"] = 2
                return x, long_answer(), params
            return make
        if kind == "cot_harvest":
            cots = pick("cot", rng.randint(1, 4))
            in_system = rng.random() < 0.25
            if in_system:
                spec["system"] = (spec["system"] or self.systems[0]) + " " + cots[0]

            def make(t, share):
                x = source(share)
                if not in_system and rng.random() < spec["cot_share"]:
                    c = rng.choice(cots)
                    x = c + "\n\n" + x if rng.random() < 0.3 else x + "\n" + c
                return x, long_answer(), sampled(dict(base))
            return make
        if kind == "benchmark_sweep":
            def make(t, share):
                return source(share), long_answer(), sampled(dict(base))
            return make
        if kind == "templated_sweep":
            templates = pick("template", rng.choice([1, 1, 2]))

            def make(t, share):
                return rng.choice(templates).replace("{x}", source(share)), long_answer(), sampled(dict(base))
            return make
        if kind == "translation_sweep":
            family = "translate" if spec["prompt_kinds"] == ["translate"] else "transform"
            templates = pick(family, rng.choice([1, 1, 2]))
            langs = rng.sample(wr.LANGUAGES, rng.choice([1, 1, 2, 3]))

            def make(t, share):
                x = source(share)
                prompt = rng.choice(templates).replace("{lang}", rng.choice(langs)).replace("{x}", x)
                completion = max(3, int(len(x) / 4 * rng.uniform(0.8, 1.5)))
                return prompt, completion, sampled(dict(base))
            return make
        if kind == "multilingual_sweep":
            templates = pick("language", rng.randint(1, 3))
            langs = rng.sample(wr.LANGUAGES, rng.randint(3, 8))
            questions = self.prompts.shuffled(source_kinds, 600)
            counter = [0]

            def make(t, share):
                # One question set walked through under each language in turn.
                i = counter[0]
                counter[0] += 1
                x = questions[(i // len(langs)) % len(questions)]
                lang = langs[i % len(langs)]
                return (rng.choice(templates).replace("{lang}", lang).replace("{x}", x), long_answer(),
                        sampled(dict(base)))
            return make
        if kind == "logit_probe":
            targets = [self.prompts.get("questions")[:200] for _ in range(rng.randint(1, 5))]
            echo = rng.random() < 0.2

            def make(t, share):
                params = {"max_tokens": 1, "logprobs": 5 if echo else True, "temperature": 0}
                if echo:
                    params.update(echo=True, endpoint="/v1/completions")
                else:
                    params["top_logprobs"] = rng.choice([5, 20])
                    params["logit_bias"] = {str(rng.randint(1, 200000)): rng.choice([100, -100, 50])
                                            for _ in range(rng.randint(1, 3))}
                return rng.choice(targets), 1, params
            return make
        raise ValueError(kind)


# ---- drawing specs -------------------------------------------------------------------------
RATE_BINS = [(3, 10), (10, 50), (50, 150), (150, 500)]
KEY_BINS = [(1, 1), (2, 10), (11, 200)]
DILUTION_BINS = [(1.0, 1.0), (0.3, 0.99), (0.05, 0.3)]
PROMPT_KINDS = {
    "instruction_sweep": [["instructions"], ["instructions", "code"]],
    "cot_harvest": [["math"], ["math", "code"], ["mcq", "math"]],
    "benchmark_sweep": [["mcq"], ["math", "mcq", "code"], ["questions"], ["code"]],
    "templated_sweep": [["questions"], ["instructions"], ["math", "questions"]],
    "translation_sweep": [["translate"], ["translate"], ["benign"], ["instructions"]],
    "multilingual_sweep": [["questions"], ["instructions"], ["math"]],
    "cross_account": [["instructions"], ["math", "code"], ["questions", "instructions"]],
    "release_chasing": [["instructions"], ["math", "questions"]],
    "quota_hugging": [["instructions", "questions"], ["math"]],
    "dormant_burst": [["instructions"], ["questions"]],
    "logit_probe": [["questions"]],
}


def draw_campaign(rng, ctype, cid, world_start, world_end, cell=None, line_budget=60000, fixed=None):
    """A campaign of `ctype` with every free parameter drawn; `cell` = (rate bin, keys bin,
    dilution bin) indices for the grid types; `fixed`: fields given, not drawn (a design point:
    the fields drawn from them, such as the start from the hours, follow them). Returns the spec
    World.campaign reads."""
    fixed = fixed or {}
    spec = {"id": cid, "type": ctype}
    if cell is None and ctype in GRID_TYPES:
        spec.update(rate=log_uniform(rng, 3, 500), keys=int(log_uniform(rng, 1, 200)), dilution=1.0)
    elif cell is not None:
        r, k, d = cell
        # The costliest corners (many fast keys, each hidden in a busy application) are drawn
        # again until they fit the line budget in 2 hours, else taken at the cell's cheapest.
        for attempt in range(20):
            spec["rate"] = log_uniform(rng, *RATE_BINS[r])
            spec["keys"] = int(round(log_uniform(rng, KEY_BINS[k][0], KEY_BINS[k][1] + 0.49)))
            spec["dilution"] = rng.uniform(*DILUTION_BINS[d]) if d else 1.0
            if spec_lines(spec, 2) <= line_budget:
                break
        else:
            spec.update(rate=RATE_BINS[r][0], keys=KEY_BINS[k][0], dilution=DILUTION_BINS[d][1])
        spec["cell"] = {"rate": r, "keys": k, "dilution": d}
    elif ctype == "logit_probe":
        spec.update(rate=log_uniform(rng, 3, 500), keys=rng.choice([1, 1, 2, 5]), dilution=rng.choice([1.0, 0.5]))
    elif ctype == "cross_account":
        spec.update(rate=log_uniform(rng, 3, 30), keys=int(log_uniform(rng, 11, 200)), dilution=1.0)
    elif ctype == "release_chasing":
        spec.update(rate=log_uniform(rng, 10, 300), keys=int(log_uniform(rng, 1, 30)), dilution=1.0)
    elif ctype == "quota_hugging":
        spec.update(rate=0, keys=int(log_uniform(rng, 5, 60)), dilution=1.0,
                    limit=log_uniform(rng, 30, 600), throttled=rng.uniform(0.005, 0.03))
    elif ctype == "dormant_burst":
        spec.update(rate=log_uniform(rng, 200, 1500), keys=rng.choice([1, 1, 2, 3]), dilution=1.0)
    spec["cell"] = spec.get("cell") or {}
    spec.update({k: v for k, v in fixed.items() if k in ("rate", "keys", "dilution", "limit", "throttled")})
    hours = log_uniform(rng, 2, 120) if ctype != "dormant_burst" else rng.uniform(1, 4)
    if ctype == "release_chasing":
        hours = max(hours, 60)
    # A campaign has a budget: many keys, a fast rate or heavy dilution shorten it (2 h at least).
    hours = max(2 if ctype != "dormant_burst" else 1, min(hours, line_budget / max(spec_lines(spec, 1), 1)))
    hours = fixed.get("hours", hours)
    earliest = world_start + 1.0 * DAY
    latest = max(earliest, world_end - hours * H)
    if ctype == "release_chasing":
        latest = earliest + 0.5 * DAY
    spec["start"] = fixed["start"] if "start" in fixed else rng.uniform(earliest, latest)
    spec["hours"] = min(hours, (world_end - spec["start"]) / H)
    many_keys = spec["keys"] > 1
    spec.update(
        org_mode=rng.choice(["one", "many"]) if many_keys else "one",
        subnets=(rng.choice([0, 1, 1, 2, 4]) if many_keys else 0),
        waves=rng.randint(1, 4) if many_keys else 1, wave_gap=rng.uniform(600, 12 * H),
        retire_share=rng.uniform(0, 0.5) if many_keys else 0,
        agent=rng.choice(SDK_AGENTS + SCRIPT_AGENTS + [None]),
        system=rng.choice([None, None, 0, 1, 2, 3]),  # an index into the world's own list
        users=rng.choice([0, 0, 0, 1, 5, 200]),
        arrivals=rng.choice(["steady", "poisson", "bursty"]),
        completion=log_uniform(rng, 200, 1200), temperature=rng.choice([0, 0.7, 1.0]),
        max_tokens=rng.choice([None, 2048, 4096]), logprobs=rng.choice([0, 0, 0.5, 1.0]),
        n_share=rng.choice([0, 0, 0, 0.3]), model=rng.choice(MODELS),
        prompt_kinds=rng.choice(PROMPT_KINDS[ctype]), raw_share=rng.choice([0, 0.5, 1.0]),
        cot_share=rng.choice([0, 0, 0.3, 1.0]) if ctype != "cot_harvest" else rng.uniform(0.3, 1.0),
        shares=rng.choice([0, 8]) if ctype == "cross_account" else 0,
        switch_after=rng.uniform(1, 12) * H, moved_share=rng.uniform(0.6, 0.95))
    spec.update({k: v for k, v in fixed.items() if k not in ("hours", "start")})
    return spec


def draw_negative(rng, ntype, nid):
    spec = {"id": nid, "type": ntype}
    if ntype == "raw_api_app":
        spec.update(keys=rng.choice([1, 1, 2]), rate=log_uniform(rng, 50, 500),
                    arrivals=rng.choice(["steady", "poisson"]))
    elif ntype == "batch_pipeline":
        spec.update(keys=rng.choice([1, 2]), rate=log_uniform(rng, 200, 2000), hours=log_uniform(rng, 6, 48),
                    completion=log_uniform(rng, 2, 150), source=rng.choice(["t0", "fixed"]))
    elif ntype == "launch":
        spec.update(rate=log_uniform(rng, 5, 20), factor=log_uniform(rng, 10, 50))
    elif ntype == "enterprise_nat":
        spec.update(keys=int(log_uniform(rng, 20, 80)), rate=log_uniform(rng, 2, 20))
    elif ntype == "shared_cloud_nat":
        spec.update(keys=int(log_uniform(rng, 100, 300)), rate=log_uniform(rng, 0.5, 4),
                    subnets=rng.randint(2, 6))
    elif ntype == "tutoring_app":
        spec.update(keys=rng.choice([1, 2, 3]), rate=log_uniform(rng, 20, 300), users=rng.choice([200, 2000, 5000]))
    elif ntype == "logprob_classifier":
        spec.update(rate=log_uniform(rng, 50, 600))
    elif ntype == "health_checks":
        spec.update(keys=rng.randint(1, 3), every_s=log_uniform(rng, 30, 300))
    elif ntype == "early_adopters":
        spec.update(keys=rng.randint(3, 10), rate=log_uniform(rng, 5, 60))
    elif ntype == "one_off_benchmark":
        spec.update(items=int(log_uniform(rng, 200, 3000)), rate=log_uniform(rng, 500, 3000))
    return spec


def negative_keys(spec):
    return spec.get("keys", 1)


def spec_lines(spec, hours):
    """Lines a campaign sends in `hours`, with its keys' own traffic (a day before and a few hours
    after the campaign, see World.campaign) when diluted."""
    rate = spec["keys"] * spec.get("limit", spec["rate"])
    if spec["dilution"] >= 1:
        return rate * hours
    return rate * hours + rate * (1 - spec["dilution"]) / spec["dilution"] * (hours + LEGIT_MARGIN_H)


def campaign_lines(spec):
    return spec_lines(spec, spec["hours"])
