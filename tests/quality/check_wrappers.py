#!/usr/bin/env python3
"""Fails when a held-out wrapper phrasing (bench/wrappers.py HELDOUT) appears in a file under
src/: the held-out list measures detectors on phrasings they were not written for, and a
detector that matches one of them is tuned on the held-out split.

    tests/quality/check_wrappers.py [REPO_ROOT]
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(root, "bench"))
import wrappers  # noqa: E402

MIN_FRAGMENT = 12  # shorter literal pieces ("Into ", ": ") are ordinary words, not phrasings


def fragments(phrasing):
    for piece in re.split(r"\{x\}|\{lang\}", phrasing):
        piece = " ".join(piece.lower().split()).strip(" .:,;-()[]\"'")
        if len(piece) >= MIN_FRAGMENT:
            yield piece


def main():
    sources = []
    for base, _, files in os.walk(os.path.join(root, "src")):
        for name in sorted(files):
            with open(os.path.join(base, name), encoding="utf-8", errors="replace") as f:
                sources.append((os.path.relpath(os.path.join(base, name), root), " ".join(f.read().lower().split())))
    found, checked = [], 0
    families = dict(wrappers.HELDOUT, campaign_systems=wrappers.CAMPAIGN_SYSTEMS["heldout"])
    for family, phrasings in families.items():
        if family != "campaign_systems" and len(phrasings) < 30:
            found.append(f"family {family} has {len(phrasings)} held-out phrasings, under 30")
        for p in phrasings:
            for frag in fragments(p):
                checked += 1
                for path, text in sources:
                    if frag in text:
                        found.append(f"{path}: held-out {family} phrasing {frag!r}")
    for f in found:
        print("FAIL " + f)
    print(f"held-out wrappers: {checked} fragments checked against src/, {len(found)} found")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
