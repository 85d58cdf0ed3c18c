#!/usr/bin/env python3
"""Paired timing of shell commands against the first: each round runs every command once, in a
shuffled order, and the figure is the median over rounds of each command's time divided by the
first command's time in the same round. On a shared machine whose speed drifts over minutes,
that ratio is steady where medians of separate series are not.

    python3 bench/paired.py [--rounds N] CMD_A CMD_B [CMD_C ...]

Prints, per command, the median wall and CPU ratios to CMD_A with their quartiles. A command
that exits 1 (a scan that found something) counts as a run; any other failure stops.
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("commands", nargs="+")
    a = ap.parse_args()
    if len(a.commands) < 2:
        ap.error("give at least two commands")
    n = len(a.commands)
    wall = [[] for _ in range(n)]
    cpu = [[] for _ in range(n)]
    for _ in range(a.rounds):
        order = list(range(n))
        random.shuffle(order)
        w, c = [0.0] * n, [0.0] * n
        for i in order:
            t0, r0 = time.perf_counter(), os.times()
            rc = subprocess.run(a.commands[i], shell=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL).returncode
            r1 = os.times()
            if rc > 1:
                sys.exit(f"paired: exit {rc}: {a.commands[i]}")
            w[i] = time.perf_counter() - t0
            c[i] = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
        for i in range(n):
            wall[i].append(w[i] / w[0])
            cpu[i].append(c[i] / c[0] if c[0] > 0 else float("nan"))

    def spread(v):
        v = sorted(v)
        return f"{statistics.median(v):.3f} ({v[len(v) // 4]:.3f}-{v[(3 * len(v)) // 4]:.3f})"

    print(f"{a.rounds} rounds; ratio to the first command, median (quartiles)")
    for i, cmd in enumerate(a.commands):
        print(f"wall {spread(wall[i])}  cpu {spread(cpu[i])}  {cmd}")


if __name__ == "__main__":
    main()
