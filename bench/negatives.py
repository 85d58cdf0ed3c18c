"""The hard negatives of a world (bench/world.py): benign traffic that a simple rule takes for
extraction. A mixin of World: each neg_TYPE method emits one negative spec's keys and lines."""
import math

from traffic import (DAY, FRAMEWORK_SYSTEM, H, MODELS, NEW_MODEL, SCRIPT_AGENTS, SDK_AGENTS, TUTOR_SYSTEMS,
                     arrivals, log_uniform)

GRAY_TYPES = {"one_off_benchmark"}  # reported, not counted either way


class Negatives:
    # ---- hard negatives ----------------------------------------------------------------------
    def neg_keys(self, spec, n, org=None, ip=None, users=None):
        out = []
        for k in range(n):
            key = f"{spec['id']}-k{k}"
            a = self.app_key(key, org or f"org-{spec['id']}-{k}", ip or self.rand_ip(), users)
            self.label(key, spec, "gray" if spec["type"] in GRAY_TYPES else "benign", self.start)
            out.append(a)
        return out

    def rand_ip(self):
        r = self.rng
        return f"{r.randrange(11, 220)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 254)}"

    def neg_raw_api_app(self, spec):
        """Real human prompts through a backend with no system prompt and no end-user ids, at a
        steady rate: raw API use that is not extraction."""
        for a in self.neg_keys(spec, spec["keys"]):
            a.update(system=None, users=0, agent=self.rng.choice(SCRIPT_AGENTS + SDK_AGENTS))
            for t in arrivals(self.rng, spec["arrivals"], self.start, self.end, spec["rate"]):
                self.human_line(t, a)

    def neg_batch_pipeline(self, spec):
        rng = self.rng
        templated = self.prompts.pools.get("templated")
        for a in self.neg_keys(spec, spec["keys"]):
            t0 = self.start + rng.uniform(0.5, 2) * DAY
            fixed = rng.choice(["Classify this support ticket as billing, technical or other.\n\nTicket: {x}",
                                "Extract the product names from the review below as a JSON list.\n\n{x}",
                                "Summarise the following document in one sentence.\n\n{x}"])
            for t in arrivals(rng, "steady", t0, min(self.end, t0 + spec["hours"] * H), spec["rate"]):
                if templated and spec["source"] == "t0":
                    prompt = rng.choice(templated)
                else:
                    prompt = fixed.replace("{x}", self.prompts.get("benign")[:600])
                self.emit(t, a["key"], a["org"], a["ip"], a["agent"], prompt,
                          max(1, int(rng.lognormvariate(math.log(spec["completion"]), 0.5))),
                          system=a["system"] if rng.random() < 0.5 else None, temperature=0)

    def neg_launch(self, spec):
        rng = self.rng
        for a in self.neg_keys(spec, 1, users=5000):
            launch = self.start + rng.uniform(1.5, 3.5) * DAY
            for t in arrivals(rng, "diurnal", self.start, launch, spec["rate"]):
                self.human_line(t, a)
            for t in arrivals(rng, "diurnal", launch, self.end, spec["rate"] * spec["factor"]):
                self.human_line(t, a)

    def neg_enterprise_nat(self, spec):
        ip = self.rand_ip()
        for a in self.neg_keys(spec, spec["keys"], org=f"org-{spec['id']}", ip=ip, users=300):
            for t in arrivals(self.rng, "diurnal", self.start, self.end, spec["rate"] * self.rng.uniform(0.3, 2)):
                self.human_line(t, a)

    def neg_shared_cloud_nat(self, spec):
        rng = self.rng
        subnets = [f"100.{rng.randrange(64, 128)}.{rng.randrange(256)}" for _ in range(spec["subnets"])]
        for a in self.neg_keys(spec, spec["keys"]):
            a["ip"] = f"{rng.choice(subnets)}.{rng.randrange(1, 254)}"
            a["agent"] = rng.choice(SDK_AGENTS[:2])
            if rng.random() < 0.4:
                a["system"] = FRAMEWORK_SYSTEM
            for t in arrivals(rng, "diurnal", self.start, self.end, spec["rate"] * rng.uniform(0.3, 2)):
                self.human_line(t, a)

    def neg_tutoring_app(self, spec):
        """Homework help for many students: math problems, step-by-step answers asked for by the
        app's system prompt and often by the students themselves."""
        rng = self.rng
        for a in self.neg_keys(spec, spec["keys"], users=spec["users"]):
            a.update(system=rng.choice(TUTOR_SYSTEMS), completion=log_uniform(rng, 300, 900))
            for t in arrivals(rng, "diurnal", self.start, self.end, spec["rate"]):
                prompt = self.prompts.get(rng.choice(["math", "math", "benign"]))
                if rng.random() < 0.3:
                    prompt += rng.choice(["\ncan you explain", "\nI don't get it, show me how",
                                          " pls explain steps", "\nwhy?"])
                self.human_line(t, a, prompt=prompt)

    def neg_logprob_classifier(self, spec):
        rng = self.rng
        for a in self.neg_keys(spec, 1):
            bias = {str(rng.randint(1, 100000)): 100, str(rng.randint(1, 100000)): 100}
            for t in arrivals(rng, "poisson", self.start, self.end, spec["rate"]):
                prompt = ("Is the following message spam? Answer yes or no.\n\n"
                          + self.prompts.get("benign")[:400])
                self.emit(t, a["key"], a["org"], a["ip"], a["agent"], prompt, 1, system=a["system"],
                          max_tokens=1, logprobs=True, top_logprobs=2, logit_bias=bias, temperature=0)

    def neg_health_checks(self, spec):
        rng = self.rng
        for a in self.neg_keys(spec, spec["keys"]):
            prompt = rng.choice(["ping", "Say OK.", "Reply with the word ready.", "health check"])
            for t in arrivals(rng, "steady", self.start, self.end, H / spec["every_s"]):
                self.emit(t, a["key"], a["org"], a["ip"], "kube-probe/1.29", prompt, rng.randint(1, 3),
                          max_tokens=5, temperature=0, model=rng.choice(MODELS + [NEW_MODEL] * (t > self.release)))

    def neg_early_adopters(self, spec):
        rng = self.rng
        for a in self.neg_keys(spec, spec["keys"]):
            moved = rng.uniform(0.2, 1.0)
            after = rng.uniform(1, 24) * H
            for t in arrivals(rng, "diurnal", self.start, self.end, spec["rate"] * rng.uniform(0.5, 2)):
                new = t > self.release + after and rng.random() < moved
                self.human_line(t, a, model=NEW_MODEL if new else None)

    def neg_one_off_benchmark(self, spec):
        rng = self.rng
        for a in self.neg_keys(spec, 1):
            t0 = self.start + rng.uniform(1, 4) * DAY
            for t in arrivals(rng, "steady", t0, t0 + spec["items"] / spec["rate"] * H, spec["rate"]):
                self.emit(t, a["key"], a["org"], a["ip"], a["agent"], self.prompts.get("mcq") + "\nAnswer:",
                          rng.randint(1, 3), temperature=0, max_tokens=5)


