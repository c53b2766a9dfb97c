"""Series that wander (AR(1) noise) at daily to yearly frequency: clean ones flagged, steps and episodes found. Prints, never asserts.

Usage: python benchmarks/ar_series.py [--split tune|holdout] [--count N] [--freq F ...] [--verbose]

Issue 9's clean-series limit (<= 1 false alarm per 100 series-years) for series whose
noise is autocorrelated: a weekly price, a conversion rate averaged over a week, a
yearly economic series. Each class is a frequency (lengths users bring: 2 years daily,
3-5 years weekly, 5-10 years monthly, 30-60 years yearly), an AR(1) coefficient phi
(0.3, 0.6, 0.9) and a kind:

- gauge: a level of 300 with AR(1) noise of marginal sd 5 (kind "gauge");
- count: Poisson counts around a level of 200-2000 a period whose logarithm wanders
  as AR(1) with a marginal sd of 5% (kind "count": more than Poisson, autocorrelated).

Each class draws `--count` clean series, as many with one lasting step and as many with
one temporary episode (a level that moves and comes back after 3-12 periods, 7-60 days
daily), each of 3-6 long-run sds of the noise (the sd of the noise's mean over a long
stretch, times the square root of that stretch: sigma * sqrt((1 + phi) / (1 - phi))) up
or down, planted at a random period of the middle two-thirds. Reported per class: clean
series flagged (any change) and changes per 100 series-years; planted changes found (a
detection in their direction starting within 2 periods of the planted start, 3 days
daily: a lasting shift for a step, any change for an episode), misplaced (a detection
in their direction overlapping them, starting further off) and other changes beside
them. `--verbose` prints each false alarm of a clean series (kind, window, score).

Seeds: the tune split draws from `[0, class]`, holdout from `[1, class]`: tune a change
on tune, read holdout once.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.yearly_steps import _ar1  # noqa: E402
from ctxmetrics.detect import find_changes  # noqa: E402

# name: (periods drawn from, episode lengths in periods, start tolerance in periods)
FREQS = {
    "daily": ((730, 731), (7, 61), 3),
    "weekly": ((156, 261), (3, 13), 2),
    "monthly": ((60, 121), (3, 13), 2),
    "yearly": ((30, 61), (3, 9), 2),
}
PHIS = (0.3, 0.6, 0.9)
KINDS = ("gauge", "count")
PLANTS = ("clean", "step", "episode")
SPLITS = {"tune": 0, "holdout": 1}


def dates_of(freq: str, n: int) -> np.ndarray:
    """`n` dates at `freq` from 2000 (1960 for yearly series)."""
    if freq == "daily":
        return np.datetime64("2000-01-03") + np.arange(n)
    if freq == "weekly":
        return np.datetime64("2000-01-03") + 7 * np.arange(n)
    if freq == "monthly":
        return (np.datetime64("2000-01", "M") + np.arange(n)).astype("datetime64[D]")
    return (np.datetime64("1960", "Y") + np.arange(n)).astype("datetime64[D]")


def draw(rng, freq: str, phi: float, kind: str, plant: str):
    """One series: (values, planted (start, end or None) or None, direction or None)."""
    (low, high), (short, long), _ = FREQS[freq]
    n = int(rng.integers(low, high))
    noise = _ar1(rng, n, phi)
    long_run_sd = np.sqrt((1 + phi) / (1 - phi))  # of unit-marginal AR(1) noise
    shape = np.zeros(n)
    planted = direction = None
    if plant != "clean":
        size = rng.uniform(3, 6) * long_run_sd * rng.choice([-1, 1])
        start = int(rng.integers(n // 6, n - n // 6))
        end = None if plant == "step" else min(start + int(rng.integers(short, long)) - 1, n - 1)
        shape[start:(n if end is None else end + 1)] = size
        planted, direction = (start, end), "up" if size > 0 else "down"
    if kind == "gauge":
        return 300 + 5 * (noise + shape), planted, direction
    level = rng.uniform(200, 2000) * np.exp(0.05 * (noise + shape))
    return rng.poisson(level).astype(float), planted, direction


def _found(changes, planted, direction, plant: str, tolerance: int):
    """The detection that finds the planted change, the one that overlaps it off its start."""
    start, end = planted
    stop = np.inf if end is None else end
    same = [c for c in changes if c.direction == direction]
    hit = [c for c in same if abs(c.start - start) <= tolerance and (plant == "episode" or c.end is None)]
    off = [c for c in same if c not in hit and c.start <= stop and (c.end is None or c.end >= start)]
    return (hit[:1], off[:1])


def run_class(split: str, freq: str, phi: float, kind: str, plant: str, count: int, verbose: bool) -> dict:
    """`count` series of one class through `find_changes`: series flagged, other changes and
    series-years, planted changes found and misplaced."""
    rng = np.random.default_rng([SPLITS[split], list(FREQS).index(freq), PHIS.index(phi), KINDS.index(kind),
                                 PLANTS.index(plant)])
    step_days = {"daily": 1, "weekly": 7, "monthly": 30.44, "yearly": 365.25}[freq]
    out = {"flagged": 0, "others": 0, "years": 0.0, "found": 0, "misplaced": 0}
    for i in range(count):
        values, planted, direction = draw(rng, freq, phi, kind, plant)
        got = find_changes(values, kind=kind, dates=dates_of(freq, len(values)))
        hit, off = _found(got, planted, direction, plant, FREQS[freq][2]) if planted else ([], [])
        others = [c for c in got if c not in hit + off]
        out["found"] += bool(hit)
        out["misplaced"] += bool(off) and not hit
        out["flagged"] += bool(others)
        out["others"] += len(others)
        out["years"] += len(values) * step_days / 365.25
        if verbose and plant == "clean":
            for c in others:
                print(f"    {freq} phi {phi} {kind} #{i} n={len(values)}: {c.kind} {c.direction} {c.start}-{c.end}"
                      f" score {c.score:.2f} ({c.change_pct:+.1f}%)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=SPLITS, default="tune")
    parser.add_argument("--count", type=int, default=40, help="series per class")
    parser.add_argument("--freq", nargs="*", choices=FREQS, default=list(FREQS))
    parser.add_argument("--kind", nargs="*", choices=KINDS, default=list(KINDS))
    parser.add_argument("--verbose", action="store_true", help="print each false alarm of a clean series")
    args = parser.parse_args()
    totals = {"flagged": 0, "others": 0, "years": 0.0}
    for freq in args.freq:
        for kind in args.kind:
            for phi in PHIS:
                parts = []
                for plant in PLANTS:
                    r = run_class(args.split, freq, phi, kind, plant, args.count, args.verbose)
                    if plant == "clean":
                        parts.append(f"clean flagged {r['flagged']:3d}/{args.count} ({100 * r['others'] / r['years']:5.2f}"
                                     " per 100 series-years)")
                        for key in totals:
                            totals[key] += r[key]
                    else:
                        parts.append(f"{plant} found {r['found']:3d}, misplaced {r['misplaced']:2d}, "
                                     f"other changes {100 * r['others'] / r['years']:5.2f}")
                print(f"{freq:8s} {kind:6s} phi {phi}: " + "; ".join(parts), flush=True)
    print(f"all clean: {totals['flagged']} series flagged, {100 * totals['others'] / totals['years']:.2f} changes"
          f" per 100 series-years ({totals['years']:.0f} series-years)")


if __name__ == "__main__":
    main()
