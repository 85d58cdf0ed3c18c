"""Labelled traffic for detection tests: extraction campaigns and the benign look-alikes that a
detector must not confuse with them. Used by gen_logs.py --scenarios. Prompts come from small
built-in lists, stamped with varied fills, so the repository works alone."""
import math

TOPICS = ["photosynthesis", "the French revolution", "black holes", "compound interest", "sleep hygiene",
          "machine learning", "the water cycle", "supply and demand", "climate change", "vaccines",
          "the Roman empire", "plate tectonics", "quantum computing", "healthy eating", "public speaking",
          "time management", "renewable energy", "the stock market", "cloud computing", "jazz music",
          "the immune system", "volcanoes", "blockchain", "meditation", "urban gardening", "electric cars",
          "the printing press", "ocean currents", "game theory", "bird migration"]
INSTRUCTIONS = ["Give three tips for {t}.", "Explain {t} to a ten-year-old.", "Write a short poem about {t}.",
                "Summarize the key ideas of {t} in one paragraph.", "List five facts about {t}.",
                "Describe the history of {t}.", "Compare {t} and {u}.", "Generate a quiz question about {t}.",
                "Write a persuasive essay on {t}.", "What are the pros and cons of {t}?",
                "Create a lesson plan about {t}.", "Suggest a title for an article about {t}.",
                "Rewrite this sentence to be more formal: {t} is pretty cool.",
                "Classify {t} as science, history or lifestyle.", "Brainstorm names for a podcast about {t}.",
                "Outline a presentation on {t}.", "Describe how {t} affects {u}.",
                "Write a dialogue between two people discussing {t}.", "Explain why {t} matters today.",
                "Propose an experiment to study {t}."]
PEOPLE = ["Maria", "Tom", "Aisha", "Ken", "Lena", "Omar", "Priya", "Jack"]
ITEMS = ["apple", "marble", "book", "stamp", "cookie", "pencil", "coin", "sticker"]
MATH = ["{p} has {a} {i}s and buys {b} more. How many {i}s does {p} have now?",
        "{p} reads {a} pages a day for {b} days. How many pages does {p} read in total?",
        "A box holds {a} {i}s. How many boxes are needed for {c} {i}s?",
        "{p} earns {a} dollars an hour and works {b} hours. How much does {p} earn?",
        "A train travels {a} km in {b} hours. What is its average speed?"]
SENTENCES = ["the {i} is on the table", "{p} is going to the market", "we need {a} more chairs",
             "my favourite topic is {t}", "{p} wrote a report about {t}", "the meeting starts at {a}",
             "please send me the file about {t}", "{p} lost {a} {i}s yesterday"]
PRODUCTS = ["headphones", "blender", "backpack", "phone case", "desk lamp", "running shoes", "coffee maker"]
OPINIONS = ["works great", "broke after a week", "is okay for the price", "exceeded my expectations",
            "arrived late and damaged", "is exactly as described", "stopped charging", "feels cheap"]
DETAILS = ["after two days", "for my kitchen", "as a gift", "compared to the old one", "out of the box",
           "during travel", "on the first use", "for the kids", "at this price", "in the office"]
CHAT = ["hey can you help me fix my resume", "what should I cook tonight with rice and eggs",
        "my python script says index out of range, why", "recommend a movie like inception",
        "how do I tell my landlord the heater is broken", "is it safe to run every day",
        "write a birthday message for my mom", "explain this error: undefined is not a function",
        "what's a good gift for a 5 year old", "help me plan a trip to lisbon"]


class Prompts:
    """Prompt text by kind, from a corpus directory (files of {"text","kind"} JSON lines, as in
    ../shared/corpora) when given, else from the built-in lists above."""

    FILES = {"benign": ["benign_sharegpt", "benign_arena_hard"],
             "instructions": ["distill_alpaca_5000", "distill_code_alpaca", "distill_self_instruct_seed_tasks"],
             "math": ["benchmark_gsm8k", "benchmark_math_word_problems", "benchmark_math_test"],
             "questions": ["benchmark_alpaca_eval", "benchmark_wizardlm_evol_testset", "benign_arena_hard"],
             "translate": ["benchmark_wmt22_translation_sources"],
             "mcq": ["benchmark_mmlu"]}

    def __init__(self, rng, corpus=None, per_file=4000):
        import json, os
        self.rng = rng
        self.pools = {}
        if corpus:
            for kind, names in self.FILES.items():
                pool = []
                for name in names:
                    path = os.path.join(corpus, name + ".jsonl")
                    if not os.path.exists(path):
                        continue
                    with open(path, encoding="utf-8") as f:
                        for n, line in enumerate(f):
                            if n >= per_file:
                                break
                            text = json.loads(line)["text"]
                            if len(text) < 4000:
                                pool.append(text)
                if pool:
                    self.pools[kind] = pool

    def get(self, kind):
        pool = self.pools.get(kind)
        if pool:
            return self.rng.choice(pool)
        r = self.rng
        if kind == "benign":
            return r.choice(CHAT) + " " + r.choice(TOPICS)
        if kind == "math":
            return fill(r, r.choice(MATH))
        if kind == "translate":
            return fill(r, r.choice(SENTENCES))
        if kind == "mcq":
            return "Which statement about %s is true?\nA. %s\nB. %s\nC. %s\nD. %s" % tuple(
                [r.choice(TOPICS)] + [fill(r, r.choice(SENTENCES)) for _ in range(4)])
        return fill(r, r.choice(INSTRUCTIONS))  # instructions, questions


def fill(rng, template):
    return template.format(t=rng.choice(TOPICS), u=rng.choice(TOPICS), p=rng.choice(PEOPLE),
                           i=rng.choice(ITEMS), a=rng.randint(2, 99), b=rng.randint(2, 40),
                           c=rng.randint(100, 999))


def chat_line(ts, key, org, ip, prompt, completion, rid, system=None, history=0, **params):
    msgs = [{"role": "system", "content": system}] if system else []
    for h in range(history):
        msgs += [{"role": "user", "content": "earlier question %d" % h},
                 {"role": "assistant", "content": "earlier answer %d" % h}]
    msgs.append({"role": "user", "content": prompt})
    req = {"model": params.pop("model", "gpt-4o"), "messages": msgs}
    req.update(params)
    usage = {"prompt_tokens": len(prompt) // 4 + 10, "completion_tokens": completion}
    return {"timestamp": ts, "request_id": rid, "org_id": org, "api_key_id": key, "ip": ip,
            "endpoint": "/v1/chat/completions", "request": req,
            "response": {"status": 200, "usage": usage}, "latency_ms": 300 + completion * 8}


def steady(rng, start, hours, per_hour):
    """Machine cadence: evenly spread requests with a little jitter."""
    n = int(hours * per_hour)
    step = 3600.0 / per_hour
    return [start + i * step + rng.uniform(0, step * 0.5) for i in range(n)]


def bursty(rng, start, hours, per_hour):
    """Human-driven traffic: Poisson arrivals."""
    out, t = [], start
    while t < start + hours * 3600:
        t += rng.expovariate(per_hour / 3600.0)
        out.append(t)
    return out[:-1]


def scenarios(rng, start, names, prompts=None):
    """Returns (lines as (epoch_seconds, dict), labels). Campaigns spread their load over several
    keys, each labelled, as real ones do to stay under rate limits."""
    prompts = prompts or Prompts(rng)
    lines, labels = [], []
    h = 3600

    def label(kind, name, key, t0):
        labels.append({"key": key, "label": name, "kind": kind, "start": t0})

    def campaign(name, keys, t0, hours, per_hour, make):
        for k in range(keys):
            key = "camp-%s-%d" % (name, k)
            begin = t0 + rng.uniform(0, 600)
            label("campaign", name, key, begin)
            org, ip = "org-%s" % name, "198.18.%d.%d" % (len(labels), k + 10)
            for t in steady(rng, begin, hours, per_hour * rng.uniform(0.85, 1.15)):
                lines.append((t, make(key, org, ip)))

    if "sweep" in names:  # Alpaca-style instruction sweep: diverse, single-turn, long answers
        campaign("instruction_sweep", 4, start + 2 * h, 4, 450, lambda key, org, ip: chat_line(
            None, key, org, ip, prompts.get("instructions"), rng.randint(350, 900), None))
    if "cot" in names:  # chain-of-thought harvest over math benchmarks
        campaign("cot_math_harvest", 3, start + 3 * h, 4, 400, lambda key, org, ip: chat_line(
            None, key, org, ip, prompts.get("math") + "\nLet's think step by step and show your work.",
            rng.randint(400, 1000), None, logprobs=True, top_logprobs=5))
    if "templated" in names:  # templated sweep: Q&A with explanations, and translation
        campaign("templated_qa_sweep", 3, start + 1 * h, 4, 400, lambda key, org, ip: chat_line(
            None, key, org, ip,
            "Answer the following question and explain your reasoning in detail.\n\nQuestion: "
            + prompts.get("questions"), rng.randint(350, 800), None))
        campaign("templated_translation", 2, start + 5 * h, 3, 450, lambda key, org, ip: chat_line(
            None, key, org, ip, "Translate the following text into English and explain each idiom:\n\n"
            + prompts.get("translate"), rng.randint(300, 700), None))
    if "spread" in names:  # one campaign over many keys, each slow enough to pass rate limits
        campaign("spread_sweep", 8, start + 2 * h, 8, 150, lambda key, org, ip: chat_line(
            None, key, org, ip, prompts.get(rng.choice(["instructions", "math"])) +
            rng.choice(["", " Explain your reasoning step by step."]), rng.randint(300, 900), None))
    if "dormant" in names:  # a key quiet for days that bursts
        key, t0 = "camp-dormant_burst-0", start + 4 * h
        label("campaign", "dormant_burst", key, t0)
        for i in range(8):
            lines.append((start - 9 * 24 * h + i * 3 * h, chat_line(
                None, key, "org-old", "198.18.3.40", prompts.get("benign"), rng.randint(50, 200), None)))
        for t in steady(rng, t0, 2, 900):
            lines.append((t, chat_line(None, key, "org-old", "198.18.3.40", prompts.get("instructions"),
                                       rng.randint(500, 1200), None, n=2)))
    if "logit" in names:  # logit-bias probing of one prompt
        key, t0 = "camp-logit_probe-0", start + 2 * h
        label("campaign", "logit_probe", key, t0)
        for t in steady(rng, t0, 1, 400):
            lines.append((t, chat_line(None, key, "org-probe", "198.18.4.50", "The capital of France is", 1,
                                       None, max_tokens=1, logprobs=True, top_logprobs=5,
                                       logit_bias={str(rng.randint(1, 100000)): 100})))
    if "pipeline" in names:  # hard negative: templated classification, short outputs, 24x7
        key, t0 = "neg-pipeline", start
        label("benign", "templated_pipeline", key, t0)
        for t in steady(rng, t0, 8, 500):
            lines.append((t, chat_line(
                None, key, "org-shop", "203.0.113.60",
                "Classify the sentiment of this product review as positive, negative or neutral. "
                "Reply with one word.\n\nReview: %s %s %s, order %d" %
                (rng.choice(PRODUCTS), rng.choice(OPINIONS), rng.choice(DETAILS), rng.randint(10000, 99999)),
                rng.randint(1, 3), None, system="You are a sentiment classifier.", temperature=0)))
    if "launch" in names:  # hard negative: an app whose traffic jumps at launch
        key, t0 = "neg-launch", start + 3 * h
        label("benign", "launch", key, t0)
        for t in bursty(rng, start - 3 * 24 * h, 3 * 24 + 3, 12) + bursty(rng, t0, 4, 500):
            line = chat_line(None, key, "org-app", "203.0.113.70", prompts.get("benign"), rng.randint(80, 400),
                             None, system="You are the assistant in the Acme app.", history=rng.randint(0, 3))
            line["user"] = "app-user-%d" % rng.randint(1, 5000)
            lines.append((t, line))
    if "eval" in names:  # hard negative: a customer runs a multiple-choice eval once
        key, t0 = "neg-eval", start + 2 * h
        label("benign", "one_off_eval", key, t0)
        for t in steady(rng, t0, 0.4, 1500):
            lines.append((t, chat_line(None, key, "org-lab", "203.0.113.80", prompts.get("mcq") + "\nAnswer:",
                                       1, None, temperature=0, max_tokens=1)))
    if "nat" in names:  # hard negatives: an enterprise's keys behind one NAT address; small orgs
        for k in range(40):  # sharing a cloud NAT range
            key = "neg-enterprise-%d" % k
            label("benign", "enterprise_nat", key, start)
            for t in bursty(rng, start, 8, 15):
                line = chat_line(None, key, "org-bigcorp", "192.0.2.10", prompts.get("benign"),
                                 rng.randint(60, 500), None, history=rng.randint(0, 2))
                line["user"] = "employee-%d" % rng.randint(1, 300)
                lines.append((t, line))
        for k in range(30):
            key = "neg-cloudnat-%d" % k
            label("benign", "shared_cloud_nat", key, start)
            for t in bursty(rng, start, 8, 6):
                lines.append((t, chat_line(None, key, "org-small-%d" % k, "100.64.7.%d" % (k % 4 + 1),
                                           prompts.get("benign"), rng.randint(60, 400), None)))
    return lines, labels
