"""What the world generators share (bench/world.py, bench/negatives.py): units, agents, models,
and request arrival times."""
import math

H = 3600
DAY = 24 * H

SDK_AGENTS = ["OpenAI/Python 1.52.0", "OpenAI/NodeJS 4.67.1", "AsyncOpenAI/Python 1.40.6",
              "langchain/0.3.1", "litellm/1.55.2", "anthropic-sdk-python/0.39.0"]
SCRIPT_AGENTS = ["python-requests/2.31.0", "curl/8.5.0", "aiohttp/3.9.5", "Go-http-client/2.0",
                 "httpx/0.27.0"]
MODELS = ["gpt-4o", "gpt-4o-mini", "o4-mini"]
NEW_MODEL = "gpt-5-preview"  # first seen at the world's release time
TUTOR_SYSTEMS = ["You are a patient math tutor for high-school students. Explain each step so the "
                 "student can follow, and never just give the answer.",
                 "You help students with homework. Walk through the method, then check the answer.",
                 "You are StudyBuddy, a friendly tutor. Break problems into small steps."]
FRAMEWORK_SYSTEM = "You are a helpful assistant."  # many unrelated apps keep a framework's default


def log_uniform(rng, lo, hi):
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def arrivals(rng, pattern, t0, t1, per_hour):
    """Request times in [t0, t1) at about per_hour: steady (a script's loop), poisson, bursty
    (on/off periods at the same mean), or diurnal (people: Poisson, quieter at night UTC)."""
    out = []
    if per_hour <= 0 or t1 <= t0:
        return out
    if pattern == "steady":
        step = H / per_hour
        t = t0 + rng.uniform(0, step)
        while t < t1:
            out.append(t + rng.uniform(-0.2, 0.2) * step)
            t += step
        return out
    if pattern == "bursty":
        t = t0
        while t < t1:
            on = rng.uniform(300, 1800)
            duty = rng.uniform(0.15, 0.5)
            rate = per_hour / duty
            end = min(t + on, t1)
            s = t
            while True:
                s += rng.expovariate(rate / H)
                if s >= end:
                    break
                out.append(s)
            t = end + on * (1 - duty) / duty
        return out
    t = t0
    while True:
        if pattern == "diurnal":
            hour = (t % DAY) / H
            busy = 0.25 + 0.75 * math.sin(math.pi * max(0.0, hour - 5) / 18) ** 2
            t += rng.expovariate(per_hour * busy / H)
        else:
            t += rng.expovariate(per_hour / H)
        if t >= t1:
            return out
        out.append(t)


