#!/usr/bin/env python3
"""Detection quality on traffic the detectors were not tuned on: a grid of campaigns drawn from
ranges (bench/world.py), over held-out prompts and wrappers, scored against their labels.

    python3 bench/quality.py --corpus ../shared/corpora                 # the held-out grid
    python3 bench/quality.py --corpus ../shared/corpora --part tuning   # the same grid, tuning split
    python3 bench/quality.py --gate tests/quality/gate.json             # the suite's gate (ctest -R quality)

The grid crosses each content campaign type with per-key rate x keys x dilution (one campaign
per cell and --replicates), adds the campaign types with shapes of their own (cross-account,
release chasing, quota hugging, logit probing, dormant bursts) and every hard-negative class,
packs them into worlds of a few days over a benign background, runs `exfilscan scan` on each
world and prints a Markdown report: recall at high and at medium per campaign type and per grid
cell, median event time to high, and benign false-positive rates per class with the worst
accounts named. Campaign recall is per key (a campaign's keys at high over its keys), averaged
over campaigns. --gate reads fixed design points from a JSON file instead and exits 1 when one
misses its floor, when an expected failure passes (remove it from the list), or when a benign
key reaches high.
"""
import argparse
import concurrent.futures as cf
import json
import os
import random
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import corpus_split  # noqa: E402
import world as wd  # noqa: E402

SUSTAINED_REQUESTS = 120  # issue 14: 5 requests an hour for a day
RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
HIGH_RISK = 0.75


def load_pools(a):
    if a.corpus:
        return corpus_split.load(a.corpus, a.part, max_chars=2000)
    if a.part != "heldout":
        sys.exit("--part tuning needs --corpus")
    return corpus_split.load_gate(os.path.join(HERE, "..", "tests", "quality", "prompts.jsonl.gz"))


def plan_grid(a):
    """World specs: [{"seed", "campaigns": [...], "negatives": [...]}]."""
    rng = random.Random(a.seed)
    probe = wd.World(0, a.part, {}, days=a.days)
    start, end = probe.start, probe.end
    specs = []
    n = 0
    for rep in range(a.replicates):
        for ctype in wd.GRID_TYPES:
            for r in range(len(wd.RATE_BINS)):
                for k in range(len(wd.KEY_BINS)):
                    for d in range(len(wd.DILUTION_BINS)):
                        specs.append(wd.draw_campaign(rng, ctype, f"c{n:03d}", start, end, (r, k, d),
                                                      a.line_budget))
                        n += 1
        for ctype in wd.CAMPAIGN_TYPES[len(wd.GRID_TYPES):]:
            for _ in range(a.special):
                specs.append(wd.draw_campaign(rng, ctype, f"c{n:03d}", start, end, None, a.line_budget))
                n += 1
    rng.shuffle(specs)
    worlds, cur, keys, lines = [], [], 0, 0
    for s in specs:
        if cur and (keys + s["keys"] > a.world_keys or lines + wd.campaign_lines(s) > a.world_lines):
            worlds.append(cur)
            cur, keys, lines = [], 0, 0
        cur.append(s)
        keys += s["keys"]
        lines += wd.campaign_lines(s)
    if cur:
        worlds.append(cur)
    negs = [t for _ in range(a.negative_replicates) for t in wd.NEGATIVE_TYPES]
    out = []
    for i, camps in enumerate(worlds):
        mine = negs[i::len(worlds)]
        out.append({"seed": a.seed * 1000 + i, "campaigns": camps,
                    "negatives": [wd.draw_negative(rng, t, f"n{i:02d}{j}-{t}") for j, t in enumerate(mine)]})
    return out


def plan_gate(a, gate):
    """The gate's design points: each a campaign type with some fields fixed, the rest drawn."""
    probe = wd.World(0, "heldout", {}, days=gate["days"])
    camps = []
    for p in gate["points"]:
        fixed = dict(p.get("spec", {}))
        if "start_day" in p:
            fixed["start"] = probe.start + p["start_day"] * wd.DAY
        for d in range(gate["draws"]):
            # A generator per point and draw: adding or editing one leaves the others as they were.
            rng = random.Random(f"{gate['seed']}:{p['name']}:{d}")
            s = wd.draw_campaign(rng, p["type"], f"g{d}-{p['name']}", probe.start, probe.end, None, 10 ** 9,
                                 fixed)
            s["point"] = p["name"]
            camps.append(s)
    negs = []
    for n in gate["negatives"]:
        s = wd.draw_negative(random.Random(f"{gate['seed']}:{n['name']}"), n["type"], "n-" + n["name"])
        s.update(n.get("spec", {}))
        negs.append(s)
    return [{"seed": gate["seed"], "campaigns": camps, "negatives": negs}]


def make_world(args):
    spec, part, pools, days, bg_keys, bg_lines, path = args
    w = wd.World(spec["seed"], part, pools, days=days, bg_keys=bg_keys, bg_lines_per_day=bg_lines,
                  world_id=os.path.basename(path).split(".")[0])
    w.campaigns, w.negatives = spec["campaigns"], spec["negatives"]
    return w.write(path, path.replace(".jsonl", ".labels.jsonl"))


def scan(binary, path, rules):
    cmd = [binary, "scan", "--format", "jsonl", "-q", "--threads", "1", "--top", "10000000", *rules, path]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)}: exit {run.returncode}\n{run.stderr}")
    accounts, first_high = {}, {}
    for line in run.stdout.splitlines():
        row = json.loads(line)
        if row["type"] == "finding" and row["key_kind"] == "api_key" and row["account_risk"] >= HIGH_RISK:
            first_high.setdefault(row["key"], []).append(ts(row["detected_at"]))
        elif row["type"] == "account" and row["key_kind"] != "cluster":
            # A cluster is not a key: its members are scored (each ranks with its cluster).
            accounts[row["key"]] = row
    return accounts, first_high


def ts(s):
    import datetime as dt
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def run_worlds(a, plans, pools, tag):
    out_dir = os.path.join(a.data, tag)
    os.makedirs(out_dir, exist_ok=True)
    jobs = []
    for i, p in enumerate(plans):
        path = os.path.join(out_dir, f"w{i:02d}.jsonl")
        jobs.append((p, a.part, pools, a.days, a.bg_keys, a.bg_lines, path))
    with cf.ProcessPoolExecutor(max_workers=a.jobs) as ex:
        if a.reuse and all(os.path.exists(j[-1]) for j in jobs):
            lines = sum(sum(1 for _ in open(j[-1])) for j in jobs)
        else:
            lines = sum(ex.map(make_world, jobs))
    binary = os.path.join(a.build, "exfilscan")
    rules = [x for r in a.rules for x in ("--rules", r)]
    results = []
    with cf.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        for (p, _, _, _, _, _, path), (accounts, first_high) in zip(
                jobs, ex.map(lambda j: scan(binary, j[-1], rules), jobs)):
            labels = [json.loads(x) for x in open(path.replace(".jsonl", ".labels.jsonl"))]
            results.append((p, labels, accounts, first_high))
    if not a.keep and not a.reuse:
        for j in jobs:
            os.remove(j[-1])
    return results, lines


def severity(accounts, key):
    row = accounts.get(key)
    return row["severity"] if row and row["rules"] else "info"


def score(results):
    """Per campaign: its spec, keys, keys at high and at medium, times to high (minutes);
    per benign key: (class, world, key, severity, risk, rules)."""
    campaigns, benign = [], []
    for plan, labels, accounts, first_high in results:
        by_label = {}
        for lab in labels:
            by_label.setdefault(lab["label"], []).append(lab)
        specs = {s["id"]: s for s in plan["campaigns"]}
        for cid, labs in by_label.items():
            if labs[0]["kind"] != "campaign":
                continue
            sev = [RANK[severity(accounts, l["key"])] for l in labs]
            # From the key's first campaign request to its first finding at high after it (a
            # diluted key's own traffic may have been flagged before).
            ttd = []
            for l in labs:
                after = [t for t in first_high.get(l["key"], []) if t >= l["start"]]
                if after and RANK[severity(accounts, l["key"])] >= RANK["high"]:
                    ttd.append((min(after) - l["start"]) / 60)
            campaigns.append({"spec": specs[cid], "keys": len(labs), "high": sum(s >= 3 for s in sev),
                              "medium": sum(s >= 2 for s in sev), "ttd": ttd,
                              # Each key's own campaign traffic (worlds kept before it was
                              # labelled have none) and whether it reached high.
                              "sent": [(l.get("requests"), l.get("hours"), s >= 3)
                                       for l, s in zip(labs, sev)]})
        labelled = {l["key"]: l for l in labels}
        world = os.path.basename(labels[0]["world"]) if labels else "?"
        for key, row in accounts.items():
            lab = labelled.get(key)
            if lab and lab["kind"] == "campaign":
                continue
            cls = lab["type"] if lab else "background"
            kind = lab["kind"] if lab else "benign"
            benign.append({"class": cls, "kind": kind, "world": world, "key": key,
                           "severity": severity(accounts, key), "risk": row["risk"], "rules": row["rules"]})
        for key, lab in labelled.items():
            if lab["kind"] != "campaign" and key not in accounts:
                benign.append({"class": lab["type"], "kind": lab["kind"], "world": world, "key": key,
                               "severity": "info", "risk": 0, "rules": []})
    return campaigns, benign


def recall(cs, level):
    return statistics.mean(c[level] / c["keys"] for c in cs) if cs else float("nan")


def pct(x):
    return "-" if x != x else f"{x:.0%}"


def median_ttd(cs):
    t = [x for c in cs for x in c["ttd"]]
    return f"{statistics.median(t):.0f} min" if t else "-"


def report(campaigns, benign, lines, title, by_type=False):
    out = [f"### {title}", "", f"{lines:,} lines; {len(campaigns)} campaigns, "
           f"{sum(c['keys'] for c in campaigns):,} campaign keys; {len(benign):,} benign and gray accounts.", "",
           "| campaign type | campaigns | keys | recall at high | at medium | median time to high |",
           "|---|---|---|---|---|---|"]
    types = [t for t in wd.CAMPAIGN_TYPES if any(c["spec"]["type"] == t for c in campaigns)]
    for t in types:
        cs = [c for c in campaigns if c["spec"]["type"] == t]
        out.append(f"| {t} | {len(cs)} | {sum(c['keys'] for c in cs)} | {pct(recall(cs, 'high'))} | "
                   f"{pct(recall(cs, 'medium'))} | {median_ttd(cs)} |")
    grid = [c for c in campaigns if c["spec"]["cell"]]
    if grid:
        rate_names = [f"{lo}-{hi}/h" for lo, hi in wd.RATE_BINS]
        key_names = ["1 key" if lo == hi else f"{lo}-{hi} keys" for lo, hi in wd.KEY_BINS]
        dil_names = ["pure", "diluted 30-99%", "diluted 5-30%"]
        out += ["", "Recall at high / at medium by per-key rate (rows) and campaign type:", "",
                "| rate | " + " | ".join(wd.GRID_TYPES) + " |", "|---" * (len(wd.GRID_TYPES) + 1) + "|"]
        for r, name in enumerate(rate_names):
            cells = []
            for t in wd.GRID_TYPES:
                cs = [c for c in grid if c["spec"]["type"] == t and c["spec"]["cell"]["rate"] == r]
                cells.append(f"{pct(recall(cs, 'high'))} / {pct(recall(cs, 'medium'))}")
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out += ["", "Median time to high (event time from a key's campaign start) by per-key rate and "
                "campaign type:", "",
                "| rate | " + " | ".join(wd.GRID_TYPES) + " |", "|---" * (len(wd.GRID_TYPES) + 1) + "|"]
        for r, name in enumerate(rate_names):
            cells = [median_ttd([c for c in grid if c["spec"]["type"] == t and c["spec"]["cell"]["rate"] == r])
                     for t in wd.GRID_TYPES]
            out.append(f"| {name} | " + " | ".join(cells) + " |")

        def cell_table(title, cs_all):
            """Recall at high / at medium by rate (rows), keys and dilution (columns)."""
            out.extend(["", f"{title} recall at high / at medium by rate (rows), keys and dilution:", "",
                        "| rate | " + " | ".join(f"{k}, {d}" for k in key_names for d in dil_names) + " |",
                        "|---" * (len(key_names) * len(dil_names) + 1) + "|"])
            for r, name in enumerate(rate_names):
                cells = []
                for k in range(len(key_names)):
                    for d in range(len(dil_names)):
                        cs = [c for c in cs_all if c["spec"]["cell"] == {"rate": r, "keys": k, "dilution": d}]
                        cells.append(f"{pct(recall(cs, 'high'))} / {pct(recall(cs, 'medium'))}")
                out.append(f"| {name} | " + " | ".join(cells) + " |")

        # The bar: a key that sends 120 campaign requests or more (5 an hour for a day)
        # is at high, at any rate, however many keys share the campaign and however diluted.
        sustained = [(c["spec"], high) for c in grid for n, _, high in c["sent"]
                     if n is not None and n >= SUSTAINED_REQUESTS]
        if sustained:
            out += ["", f"Keys that sent {SUSTAINED_REQUESTS} campaign requests or more: share at high "
                    "(over keys, not averaged per campaign) by per-key rate (rows) and campaign type:", "",
                    "| rate | " + " | ".join(wd.GRID_TYPES) + " | all |",
                    "|---" * (len(wd.GRID_TYPES) + 2) + "|"]
            for r, name in enumerate(rate_names + ["all rates"]):
                cells = []
                for t in wd.GRID_TYPES + [None]:
                    ks = [h for spec, h in sustained if (t is None or spec["type"] == t)
                          and (r == len(rate_names) or spec["cell"]["rate"] == r)]
                    cells.append(f"{sum(ks) / len(ks):.0%} of {len(ks)}" if ks else "-")
                out.append(f"| {name} | " + " | ".join(cells) + " |")
        cell_table("All grid types pooled,", grid)
        for t in wd.GRID_TYPES if by_type else []:
            cell_table(t + ":", [c for c in grid if c["spec"]["type"] == t])
    out += ["", "| benign class | accounts | at high+ | rate | at medium+ | rate | worst (world/key: severity, risk, rules) |",
            "|---|---|---|---|---|---|---|"]
    classes = ["background"] + [t for t in wd.NEGATIVE_TYPES if any(b["class"] == t for b in benign)]
    for cls in classes:
        bs = [b for b in benign if b["class"] == cls]
        if not bs:
            continue
        hi = [b for b in bs if RANK[b["severity"]] >= 3]
        me = [b for b in bs if RANK[b["severity"]] >= 2]
        worst = sorted(me, key=lambda b: -b["risk"])[:3]
        names = "; ".join(f"{b['world']}/{b['key']}: {b['severity']}, {b['risk']:.2f}, {'+'.join(b['rules'])}"
                          for b in worst)
        gray = " (gray: not counted)" if cls in wd.GRAY_TYPES else ""
        out.append(f"| {cls}{gray} | {len(bs):,} | {len(hi)} | {len(hi) / len(bs):.2%} | {len(me)} | "
                   f"{len(me) / len(bs):.2%} | {names or '-'} |")
    counted = [b for b in benign if b["kind"] == "benign"]
    hi = [b for b in counted if RANK[b["severity"]] >= 3]
    out += ["", f"Benign accounts at high over all classes: {len(hi)} of {len(counted):,} "
            f"({len(hi) / max(1, len(counted)):.3%})."]
    return "\n".join(out)


def check_gate(gate, campaigns, benign):
    """Each design point against its floor; strict expected failures; no benign key at high."""
    failures, lines = [], []
    for cls in sorted({b["class"] for b in benign if b["class"] != "background"}):
        bs = [b for b in benign if b["class"] == cls]
        top = max(bs, key=lambda b: b["risk"])
        lines.append(f"{'':5} negative {cls:21} {len(bs)} accounts, the riskiest {top['key']} at {top['severity']} "
                     f"({top['risk']:.2f})")
    for p in gate["points"]:
        cs = [c for c in campaigns if c["spec"]["point"] == p["name"]]
        for e in p["expect"]:
            level = e["level"]
            got = recall(cs, level)
            ok = got >= e["min_recall"]
            xfail = e.get("xfail")
            state = ("ok" if ok else "FAIL") if not xfail else ("XPASS" if ok else "xfail")
            per_draw = " ".join(f"{c[level]}/{c['keys']}" for c in cs)
            lines.append(f"{state:5} {p['name']:28} {p['type']:18} at {level:6} {got:4.0%} (floor "
                         f"{e['min_recall']:.0%}; keys by draw {per_draw})" + (f"  [{xfail}]" if xfail else ""))
            if state == "FAIL":
                failures.append(f"{p['name']}: recall at {level} {got:.0%} under {e['min_recall']:.0%}")
            if state == "XPASS":
                failures.append(f"{p['name']} at {level} passes now: remove its expected failure")
    for b in benign:
        if b["kind"] == "benign" and RANK[b["severity"]] >= 3:
            xfail = next((n.get("xfail") for n in gate["negatives"] if b["key"].startswith("n-" + n["name"] + "-")),
                         None)
            lines.append(f"{'xfail' if xfail else 'FAIL':5} benign {b['class']} {b['key']} at {b['severity']} "
                         f"({b['risk']:.2f}: {', '.join(b['rules'])})" + (f"  [{xfail}]" if xfail else ""))
            if not xfail:
                failures.append(f"benign {b['key']} ({b['class']}) at {b['severity']}")
    return lines, failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--corpus", help="../shared/corpora; without it the suite's held-out sample")
    ap.add_argument("--part", choices=["heldout", "tuning"], default="heldout")
    ap.add_argument("--gate", help="a gate file (tests/quality/gate.json): check its design points")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--replicates", type=int, default=1, help="campaigns per grid cell and type")
    ap.add_argument("--special", type=int, default=6, help="campaigns of each non-grid type")
    ap.add_argument("--negative-replicates", type=int, default=2)
    ap.add_argument("--days", type=float, default=6)
    ap.add_argument("--bg-keys", type=int, default=1200)
    ap.add_argument("--bg-lines", type=int, default=40000, help="background lines a day")
    ap.add_argument("--world-keys", type=int, default=300, help="campaign keys a world holds at most")
    ap.add_argument("--world-lines", type=int, default=350000, help="campaign lines a world holds at most")
    ap.add_argument("--line-budget", type=int, default=60000, help="lines one campaign sends at most")
    ap.add_argument("--by-type", action="store_true", help="also the whole grid of each campaign type")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--data", default=os.path.join(HERE, "data"), help="where the worlds are written")
    ap.add_argument("--keep", action="store_true", help="keep the generated worlds")
    ap.add_argument("--reuse", action="store_true",
                    help="scan the worlds kept in --data by an earlier --keep run of the same grid")
    ap.add_argument("--rules", action="append", default=[], help="rules files passed to exfilscan scan")
    a = ap.parse_args()
    pools = load_pools(a)
    if a.gate:
        gate = json.load(open(a.gate))
        a.days, a.bg_keys, a.bg_lines = gate["days"], gate["bg_keys"], gate["bg_lines"]
        results, lines = run_worlds(a, plan_gate(a, gate), pools, "gate")
        campaigns, benign = score(results)
        out, failures = check_gate(gate, campaigns, benign)
        print("\n".join(out))
        print(f"quality gate: {len(gate['points'])} design points, {lines:,} lines, "
              f"{len(failures)} failures")
        for f in failures:
            print("  " + f)
        return 1 if failures else 0
    tag = f"grid-{a.part}-s{a.seed}"
    results, lines = run_worlds(a, plan_grid(a), pools, tag)
    campaigns, benign = score(results)
    source = "held-out" if a.part == "heldout" else "tuning"
    print(report(campaigns, benign, lines, f"{source} prompts and wrappers, seed {a.seed}", a.by_type))
    return 0


if __name__ == "__main__":
    sys.exit(main())
