"""Episodes beside a lasting step: found with their ends, and false episodes (issue 9).

Usage: python benchmarks/flank_steps.py [--cases N] [--seed S]

Each generated series (730 days, weekly pattern) holds one lasting step of +-30-50% at a
day between 300 and 430, and one temporary episode of 1-14 days whose edge is 0-30 days
before the step (it ends before it) or after it (it starts after it). Counts at 5-500 a
day (gamma-Poisson noise) and gauges (AR(1) noise) are drawn; the episode is sized like
the evaluation's effects (`benchmarks/eval/shapes.py`: 6-12 standard errors of its mean,
at least 30%). Prints, per side and distance of the episode from the step:
- found: the episode detected (its start within 2 days, same direction);
- ends: found with both ends within 2 days (and a quarter of its length);
- step: the step detected (within 2 days, same direction);
- false: other detections, per series.
`--no-step`: the same series and episodes without the step (what the episodes alone
score). Prints, never asserts.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.eval import shapes as sh  # noqa: E402
from ctxmetrics.detect import find_changes  # noqa: E402

LENGTHS = (1, 2, 3, 5, 7, 10, 14)
DISTANCE_BUCKETS = ((0, 3), (4, 10), (11, 20), (21, 30))


def make_case(rng, with_step: bool = True):
    """One series: (values, kind, dates, step day, step sign, episode (start, end, sign), side, distance)."""
    n = 730
    dates = sh.daily_dates(rng, n)
    at = int(rng.integers(300, 431))
    step = float(rng.uniform(0.3, 0.5)) * (1 if rng.random() < 0.5 else -1) * with_step
    length = int(rng.choice(LENGTHS))
    distance = int(rng.integers(0, 31))
    side = "before" if rng.random() < 0.5 else "after"
    start = at - distance - length if side == "before" else at + distance
    up = bool(rng.random() < 0.5)
    z = float(rng.uniform(sh.Z_LOW, sh.Z_HIGH))
    if rng.random() < 0.7:
        kind = "count"
        rate = np.exp(rng.uniform(np.log(5), np.log(500))) * sh.weekly_profile(rng, bool(rng.random() < 0.5))[sh.weekday(dates)]
        rate = rate * np.where(np.arange(n) >= at, 1.0 + step, 1.0)
        shape = float(rng.uniform(10, 100))
        size = sh.count_sizer(rate, shape)(start, length, up, z)
        if size is None:
            size = -sh.MIN_RELATIVE if not up else sh.MIN_RELATIVE
        rate = rate * np.where((np.arange(n) >= start) & (np.arange(n) < start + length), 1.0 + size, 1.0)
        values = sh.sample_counts(rng, rate, shape)
        sign = np.sign(size)
    else:
        kind = "gauge"
        level, rho = rng.uniform(20, 500), rng.uniform(0.0, 0.6)
        sd = level * rng.uniform(0.005, 0.02)
        # a lasting step of 30-50% of a typical episode's size in sd units: a level shift as
        # visible as the count steps (a percentage of a gauge's level means little)
        jump = np.sign(step) * sd * rng.uniform(3, 6) * with_step
        size = z * np.sqrt(sh.ar1_mean_var(sd, rho, length)) * (1 if up else -1)
        values = level + np.where(np.arange(n) >= at, jump, 0.0) + sh.ar1(rng, n, rho, sd)
        values[start : start + length] += size
        sign = np.sign(size)
    return values, kind, dates, at, (np.sign(step) if with_step else 0), (start, start + length - 1, sign), side, distance


def judge(changes, at, step_sign, episode):
    """(episode found, found with its ends, step found, false detections)."""
    start, end, sign = episode
    tol_end = max(2, (end - start + 1) // 4)
    found = ends = step = False
    false = 0
    for c in changes:
        c_sign = 1 if c.direction == "up" else -1
        if not found and abs(c.start - start) <= 2 and c_sign == sign and c.end is not None:
            found = True
            ends = abs(c.end - end) <= tol_end
        elif not step and abs(c.start - at) <= 2 and c_sign == step_sign:
            step = True
        else:
            false += 1
    return found, ends, step, false


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--no-step", action="store_true", help="the same series without their step (a control)")
    args = parser.parse_args()
    tally = defaultdict(lambda: np.zeros(5))
    for i in range(args.cases):
        rng = np.random.default_rng([args.seed, i])
        values, kind, dates, at, step_sign, episode, side, distance = make_case(rng, not args.no_step)
        changes = find_changes(values, kind=kind, dates=dates)
        found, ends, step, false = judge(changes, at, step_sign, episode)
        bucket = next(b for b in DISTANCE_BUCKETS if b[0] <= distance <= b[1])
        for key in ((kind, side, bucket), ("all", side, bucket), ("all", "all", (0, 30))):
            tally[key] += (1, found, ends, step, false)
    print(f"{'kind':6} {'side':7} {'days':6} {'cases':>5} {'found':>6} {'ends':>6} {'step':>6} {'false/series':>12}")
    for (kind, side, bucket), (count, found, ends, step, false) in sorted(tally.items()):
        print(f"{kind:6} {side:7} {bucket[0]:>2}-{bucket[1]:<3} {int(count):5d} {found / count:6.2f} {ends / count:6.2f} "
              f"{step / count:6.2f} {false / count:12.2f}")


if __name__ == "__main__":
    main()
