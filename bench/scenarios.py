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


def scenarios(rng, start, names):
    """Yields (epoch_seconds, line_dict) and returns labels [(key, label, kind, start)]."""
    lines, labels = [], []

    def add(kind, label, key, t0, gen):
        labels.append({"key": key, "label": label, "kind": kind, "start": t0})
        lines.extend(gen)

    h = 3600
    if "sweep" in names:  # Alpaca-style instruction sweep: diverse, single-turn, long answers
        key, t0 = "camp-sweep", start + 2 * h
        add("campaign", "instruction_sweep", key, t0,
            ((t, chat_line(None, key, "org-buyer-1", "198.18.0.10", fill(rng, rng.choice(INSTRUCTIONS)),
                           rng.randint(350, 900), None)) for t in steady(rng, t0, 3, 700)))
    if "cot" in names:  # chain-of-thought harvest over math word problems
        key, t0 = "camp-cot", start + 3 * h
        add("campaign", "cot_math_harvest", key, t0,
            ((t, chat_line(None, key, "org-buyer-2", "198.18.1.20",
                           fill(rng, rng.choice(MATH)) + " Let's think step by step and show your work.",
                           rng.randint(400, 1000), None, logprobs=True, top_logprobs=5))
             for t in steady(rng, t0, 3, 600)))
    if "templated" in names:  # templated Q&A sweep with long answers
        key, t0 = "camp-template", start + 1 * h
        add("campaign", "templated_qa_sweep", key, t0,
            ((t, chat_line(None, key, "org-buyer-3", "198.18.2.30",
                           "Answer the following question and explain your reasoning in detail. Question: "
                           + fill(rng, rng.choice(INSTRUCTIONS)), rng.randint(350, 800), None))
             for t in steady(rng, t0, 3, 600)))
    if "dormant" in names:  # a key quiet for days that bursts
        key, t0 = "camp-dormant", start + 4 * h
        early = [start - 9 * 24 * h + i * 3 * h for i in range(8)]
        add("campaign", "dormant_burst", key, t0,
            [(t, chat_line(None, key, "org-old", "198.18.3.40", rng.choice(CHAT), rng.randint(50, 200), None))
             for t in early] +
            [(t, chat_line(None, key, "org-old", "198.18.3.40", fill(rng, rng.choice(INSTRUCTIONS)),
                           rng.randint(500, 1200), None, n=2)) for t in steady(rng, t0, 2, 900)])
    if "logit" in names:  # logit-bias probing of one prompt
        key, t0 = "camp-logit", start + 2 * h
        probe = "The capital of France is"
        add("campaign", "logit_probe", key, t0,
            ((t, chat_line(None, key, "org-buyer-4", "198.18.4.50", probe, 1, None, max_tokens=1,
                           logprobs=True, top_logprobs=5,
                           logit_bias={str(rng.randint(1, 100000)): 100}))
             for t in steady(rng, t0, 1, 400)))
    if "pipeline" in names:  # hard negative: templated classification, short outputs, 24x7
        key, t0 = "shop-classifier", start
        add("benign", "templated_pipeline", key, t0,
            ((t, chat_line(None, key, "org-shop", "203.0.113.60",
                           "Classify the sentiment of this product review as positive, negative or neutral. "
                           "Reply with one word.\n\nReview: %s %s %s, order %d" %
                           (rng.choice(PRODUCTS), rng.choice(OPINIONS), rng.choice(DETAILS),
                            rng.randint(10000, 99999)),
                           rng.randint(1, 3), None, system="You are a sentiment classifier.", temperature=0))
             for t in steady(rng, t0, 6, 500)))
    if "launch" in names:  # hard negative: an app whose traffic jumps at launch
        key, t0 = "app-launch", start + 3 * h
        before = bursty(rng, start - 3 * 24 * h, 3 * 24 + 3, 12)
        after = bursty(rng, t0, 3, 400)
        add("benign", "launch", key, t0,
            ((t, chat_line(None, key, "org-app", "203.0.113.70", rng.choice(CHAT) + " " + rng.choice(TOPICS),
                           rng.randint(80, 400), None, system="You are the assistant in the Acme app.",
                           history=rng.randint(0, 3)))
             for t in before + after))
    if "eval" in names:  # hard negative: a customer runs a multiple-choice eval once
        key, t0 = "lab-eval", start + 2 * h
        add("benign", "one_off_eval", key, t0,
            ((t, chat_line(None, key, "org-lab", "203.0.113.80",
                           "Question: Which statement about %s is true?\nA. %s\nB. %s\nC. %s\nD. %s\nAnswer:" %
                           tuple([rng.choice(TOPICS)] + [fill(rng, rng.choice(SENTENCES)) for _ in range(4)]),
                           1, None, temperature=0, max_tokens=1))
             for t in steady(rng, t0, 0.4, 1500)))
    return lines, labels
