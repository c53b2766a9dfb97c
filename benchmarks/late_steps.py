"""Lasting steps near the end of a series or right after a short episode: how they are dated (issue 9).

Usage: python benchmarks/late_steps.py [--seeds N] [--group end_weekly|end_daily|after_episode_daily|after_episode_weekly|...]

The short-window pass can take a new level's first periods (near the end, where a window
has one flank; or beside an episode whose days leave the flanks), and the level-shift
search then sees those periods bridged: the step is dated where they end, or lost. Each
group plants one lasting +-40% step (and, in the "after_episode" groups, a short spike
before it) in generated series:

- end_weekly: 52 or 104 weeks at ~2,000 a week (Poisson) or ~200 (gamma-Poisson, shape
  50), the step 5, 9, 13 or 17 weeks before the end;
- end_monthly: 60 months at ~20,000 or ~500 a month (gamma-Poisson, shape 200), the
  step 5, 8, 12 or 18 months before the end;
- end_daily: 365 days with a weekday pattern at ~50 or ~2,000 a day (gamma-Poisson,
  shape 40), the step 10, 20, 35 or 50 days before the end;
- after_episode_daily: 730 days at ~50 or ~2,000 a day, a 3-day spike (x2.5) ending 0,
  3, 7 or 14 days before a step on day 400;
- after_episode_weekly: 104 weeks at ~2,000 a week, a one-week spike (x2) ending 0, 1, 2
  or 4 weeks before a step on week 60.

Per group it prints, of the planted steps: dated on their period, within the evaluation's
tolerance (2 periods daily, 1 weekly and monthly), misplaced (a detection in the step's
direction 1-20 periods beyond the tolerance) and missed; and the other detections (those
matching neither the step nor the planted spike). Prints, never asserts.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))

from ctxmetrics.detect import find_changes  # noqa: E402

WEEK = np.array([1.1, 1.1, 1.05, 1.0, 0.95, 0.5, 0.4])
SIZE = 0.4


def _counts(rng, rate: np.ndarray, shape: float | None) -> np.ndarray:
    """Poisson counts of `rate`, gamma-mixed with `shape` (None: plain Poisson)."""
    if shape is not None:
        rate = rate * rng.gamma(shape, 1 / shape, len(rate))
    return rng.poisson(rate).astype(float)


def _dates(n: int, step: str) -> np.ndarray:
    start = np.datetime64("2022-01-03")  # a Monday
    if step == "M":
        return np.arange(np.datetime64("2020-01"), np.datetime64("2020-01") + n).astype("datetime64[D]")
    return start + np.arange(n) * (7 if step == "W" else 1)


def _steps_before_end(seeds: int, n: int, freq: str, unit: str, noises, before_ends):
    """Series of `n` periods at each (level, gamma shape) of `noises` with the step
    `before_ends` periods before the end, both ways, `seeds` each (daily: a weekday pattern)."""
    season = WEEK[np.arange(n) % 7] if freq == "D" else np.ones(n)
    for level, shape in noises:
        for before_end in before_ends:
            for sign in (1, -1):
                for seed in range(seeds):
                    at = n - before_end
                    rate = level * season * np.where(np.arange(n) >= at, 1 + sign * SIZE, 1.0)
                    values = _counts(np.random.default_rng(seed), rate, shape)
                    yield f"{n}{unit[0]} {level:g}/{unit}, {before_end:>2} before end", values, _dates(n, freq), at, None, sign


def end_weekly(seeds: int):
    for n in (52, 104):
        yield from _steps_before_end(seeds, n, "W", "wk", ((2000.0, None), (200.0, 50.0)), (5, 9, 13, 17))


def end_monthly(seeds: int):
    yield from _steps_before_end(seeds, 60, "M", "mo", ((20000.0, 200.0), (500.0, 200.0)), (5, 8, 12, 18))


def end_daily(seeds: int):
    yield from _steps_before_end(seeds, 365, "D", "day", ((50.0, 40.0), (2000.0, 40.0)), (10, 20, 35, 50))


def _spike_before_step(seeds: int, n: int, at: int, freq: str, unit: str, noises, spike: tuple[int, float], gaps):
    """Series of `n` periods at each (level, gamma shape) of `noises`, a spike of (width,
    factor) `spike` ending each of `gaps` periods before a step at `at`, both ways."""
    season = WEEK[np.arange(n) % 7] if freq == "D" else np.ones(n)
    width, factor = spike
    for level, shape in noises:
        for gap in gaps:
            for sign in (1, -1):
                for seed in range(seeds):
                    mult = np.where(np.arange(n) >= at, 1 + sign * SIZE, 1.0)
                    first = at - gap - width
                    mult[first : first + width] *= factor
                    values = _counts(np.random.default_rng(seed), level * season * mult, shape)
                    yield f"{level:g}/{unit}, spike {gap:>2} before", values, _dates(n, freq), at, first, sign


def after_episode_daily(seeds: int):
    yield from _spike_before_step(seeds, 730, 400, "D", "day", ((50.0, 40.0), (2000.0, 40.0)), (3, 2.5), (0, 3, 7, 14))


def after_episode_weekly(seeds: int):
    yield from _spike_before_step(seeds, 104, 60, "W", "wk", ((2000.0, None),), (1, 2.0), (0, 1, 2, 4))


GROUPS = {f.__name__: f for f in (end_weekly, end_monthly, end_daily, after_episode_daily, after_episode_weekly)}


def judge(values, dates, at: int, spike: int | None, sign: int, tolerance: int) -> tuple[str, int]:
    """How the step at `at` was dated ("on day", "within", "misplaced", "missed") and how
    many other detections there are (the planted spike's own detection not counted)."""
    changes = find_changes(values, dates=dates)
    direction = "up" if sign > 0 else "down"
    same = sorted((abs(c.start - at), i) for i, c in enumerate(changes) if c.direction == direction)
    used = set()
    verdict = "missed"
    if same and same[0][0] <= tolerance + 20:
        off, i = same[0]
        verdict = "on day" if off == 0 else "within" if off <= tolerance else "misplaced"
        if off <= tolerance:
            used.add(i)
    if spike is not None:
        near = [i for i, c in enumerate(changes) if i not in used and c.direction == "up" and abs(c.start - spike) <= tolerance]
        used.update(near[:1])
    return verdict, len(changes) - len(used)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--group", choices=sorted(GROUPS), nargs="*")
    args = parser.parse_args()
    total = Counter()
    for name in args.group or GROUPS:
        tolerance = 2 if "daily" in name else 1
        rows: dict[str, Counter] = {}
        for label, values, dates, at, spike, sign in GROUPS[name](args.seeds):
            verdict, others = judge(values, dates, at, spike, sign, tolerance)
            row = rows.setdefault(f"{label} {'up' if sign > 0 else 'down'}", Counter())
            row[verdict] += 1
            row["others"] += others
            row["planted"] += 1
        print(f"\n{name} (tolerance {tolerance})")
        print(f"{'setting':<40} {'planted':>7} {'on day':>6} {'within':>6} {'misplaced':>9} {'missed':>6} {'others':>6}")
        group = Counter()
        for label, row in rows.items():
            group.update(row)
            print(f"{label:<40} {row['planted']:>7} {row['on day']:>6} {row['within']:>6} {row['misplaced']:>9} "
                  f"{row['missed']:>6} {row['others']:>6}")
        print(f"{'all':<40} {group['planted']:>7} {group['on day']:>6} {group['within']:>6} {group['misplaced']:>9} "
              f"{group['missed']:>6} {group['others']:>6}")
        total.update(group)
    print(f"\ntotal: {total['planted']} planted, {total['on day']} on their period, "
          f"{total['on day'] + total['within']} within tolerance, {total['misplaced']} misplaced, "
          f"{total['missed']} missed, {total['others']} other detections")


if __name__ == "__main__":
    main()
