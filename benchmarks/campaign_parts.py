"""Generated campaigns: found whole, found only in part, or missed. Prints, never asserts.

Usage: python benchmarks/campaign_parts.py [--seeds N]

730 days of business-week counts (gamma-Poisson, shape 20, the small_company profile's
weekday pattern), one temporary rise of 7, 14, 21 or 28 days at 5, 14 or 50 events a
day, sized so that the whole rise is a z of 7 against its flanks (the campaign of
issue 9, +70% for 14 days at ~14 a day, is z ~7.5). Each rise is classed by the
detection in its direction that overlaps it most: "whole" when its start is within 2
days of the planted start (the evaluation's matching) and its last day within 2 days
of the planted last day; "found" when only its start is; "a part" when it lies inside
the rise starting more than 2 days late (or ending early with a late start); "other"
for any other overlapping detection; "missed" when none overlaps. Other detections of
the series are counted as false alarms.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.eval import shapes as sh  # noqa: E402
from ctxmetrics.detect import find_changes  # noqa: E402

LENGTHS = (7, 14, 21, 28)
RATES = (5.0, 14.0, 50.0)
SHAPE = 20.0
Z = 7.0
DAYS = 730


def campaign(seed: int, length: int, rate: float):
    """(values, dates, planted start, planted last day) of one generated campaign."""
    rng = np.random.default_rng(np.random.SeedSequence([length, int(rate), seed]))
    dates = sh.daily_dates(rng, DAYS)
    level = rate * sh.weekly_profile(rng, True)[sh.weekday(dates)]
    size = Z * np.sqrt(length * (rate + rate**2 / SHAPE)) / (rate * length)
    start = int(rng.integers(150, DAYS - 150))
    values = sh.sample_counts(rng, level * sh.multiplier(DAYS, [sh.Effect(start, length, size)]), SHAPE)
    return values, dates, start, start + length - 1


def classify(changes, start: int, last: int) -> tuple[str, int]:
    """(class of the planted rise, false alarms beside it)."""
    near = [c for c in changes if c.direction == "up" and c.start <= last and (c.end is None or c.end >= start)]
    if not near:
        return "missed", len(changes)
    c = max(near, key=lambda c: min(last, DAYS if c.end is None else c.end) - max(start, c.start))
    others = len(changes) - 1
    if abs(c.start - start) <= 2:
        return ("whole" if c.end is not None and abs(c.end - last) <= 2 else "found"), others
    if c.start > start + 2 and c.end is not None and c.end <= last + 2:
        return "a part", others + 1
    return "other", others + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12)
    args = parser.parse_args()
    total = Counter()
    print(f"{'days':>4} {'a day':>5} {'size':>6} | whole found a-part other missed | false alarms")
    for length in LENGTHS:
        for rate in RATES:
            tally, alarms = Counter(), 0
            for seed in range(args.seeds):
                values, dates, start, last = campaign(seed, length, rate)
                cls, extra = classify(find_changes(values, dates=dates), start, last)
                tally[cls] += 1
                alarms += extra
            total.update(tally)
            total["false alarms"] += alarms
            size = Z * np.sqrt(length * (rate + rate**2 / SHAPE)) / (rate * length)
            print(f"{length:>4} {rate:>5.0f} {100 * size:>+5.0f}% | {tally['whole']:>5} {tally['found']:>5} "
                  f"{tally['a part']:>6} {tally['other']:>5} {tally['missed']:>6} | {alarms}")
    print(f"all: whole {total['whole']}, found {total['found']}, a part {total['a part']}, other {total['other']}, "
          f"missed {total['missed']}; false alarms {total['false alarms']}")


if __name__ == "__main__":
    main()
