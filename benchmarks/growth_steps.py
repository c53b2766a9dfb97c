"""Daily, weekly, monthly and yearly series that grow: false alarms on clean ones, steps found. Prints, never asserts.

Usage: python benchmarks/growth_steps.py [--count N] [--seed S] [--split tune|holdout]
       [--kinds gauge count additive logistic flattening] [--freqs monthly weekly daily yearly]

The shapes of issue 9's exponential growth at the frequencies `evaluate.py` has (its
season_trend profile grows linearly) and at yearly frequency: a monthly revenue (gauge)
or user count (count) compounding 1-4% a month for 4-8 years, a weekly one 0.3-1% a week
for 2-4 years, a daily one growing x2-x4 over two years with its weekday pattern, a
yearly one 2-6% a year for 30-200 years. Gauges carry AR(1) noise of 3% in their
logarithm (noise proportional to the level: the log scale is right for them), counts
Poisson noise around their level (50-2000 a period at the start).

The third kind, `additive`, is a gauge the log scale is wrong for: a level rising from
near zero (3-6 noise sds) to 30-150 noise sds, from linearly to accelerating (an
adoption curve), with AR(1) noise of a constant size (and a weekday
pattern of +-1 sd at daily frequency); its step is one of 3-5 noise sds. On the log
scale its first periods' noise is stretched into dips and spikes. Two more shapes with
the same noise and steps: `logistic`, an S-curve (a new product's adoption, a market
ramp) from 3-6 to 30-150 noise sds whose steepest part lies in the middle third, and
`flattening`, a decline from 30-150 noise sds towards a floor of 3-6, steep at first
and flat at the end.

Each class draws `--count` clean series and as many with one lasting step (gauges and
counts: +-25-40%) at a random period of the middle two-thirds. Reported: clean series
with any change and changes per 100 series-years; steps found (a lasting shift within 2
periods, 1 for weekly and monthly series, in its direction) and other changes beside
them. `--split` draws apart: tune to choose, holdout to report.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.yearly_steps import _ar1  # noqa: E402
from ctxmetrics.detect import find_changes  # noqa: E402

# name: (periods drawn from, days per period, growth per period drawn from, tolerance in periods)
FREQS = {
    "monthly": ((48, 97), 30, (0.01, 0.04), 1),
    "weekly": ((104, 209), 7, (0.003, 0.01), 1),
    "daily": ((730, 731), 1, (np.log(2) / 730, np.log(4) / 730), 2),
    "yearly": ((30, 201), 365.25, (0.02, 0.06), 2),
}
KINDS = ("gauge", "count", "additive", "logistic", "flattening")  # appended: earlier kinds keep their draws
CURVES = ("additive", "logistic", "flattening")  # gauges with noise of one size on a curved level
WEEKDAYS = np.array([1.1, 1.15, 1.1, 1.05, 1.0, 0.8, 0.8])


def _dates(freq: str, n: int) -> np.ndarray:
    if freq == "yearly":
        return (np.datetime64("1900", "Y") + np.arange(n)).astype("datetime64[D]")
    if freq == "monthly":
        return (np.datetime64("2018-01", "M") + np.arange(n)).astype("datetime64[D]")
    return np.datetime64("2018-01-01") + np.arange(n) * FREQS[freq][1]


def _series(rng, freq: str, kind: str, n: int, step_at: int | None, step: float) -> np.ndarray:
    if kind in CURVES:
        return _additive(rng, freq, n, step_at, step, kind)
    rate = rng.uniform(*FREQS[freq][2])
    log_level = rate * np.arange(n) + (np.log(1 + step) * (np.arange(n) >= step_at) if step_at is not None else 0.0)
    pattern = WEEKDAYS[np.arange(n) % 7] if freq == "daily" else 1.0
    if kind == "gauge":
        return 100 * pattern * np.exp(log_level + 0.03 * _ar1(rng, n, 0.6))
    return rng.poisson(rng.uniform(50, 2000) * pattern * np.exp(log_level)).astype(float)


def _additive(rng, freq: str, n: int, step_at: int | None, step: float, shape: str = "additive") -> np.ndarray:
    """A level rising from near zero (`shape` additive or logistic) or falling towards it
    (flattening) with noise of a constant size (unit sd); its step is 3-5 sds in the
    direction of `step`."""
    start, end, bend, size = rng.uniform(3, 6), rng.uniform(30, 150), rng.uniform(0.01, 4), rng.uniform(3, 5)
    x = np.arange(n) / (n - 1)
    if shape == "logistic":
        middle, steepness = rng.uniform(1 / 3, 2 / 3), rng.uniform(6, 14)
        rise = 1 / (1 + np.exp(-steepness * (x - middle)))
        rise = (rise - rise[0]) / (rise[-1] - rise[0])
    elif shape == "flattening":
        rise = np.expm1(-(bend + 1) * x) / np.expm1(-(bend + 1))  # steep at first, flat at the end
        start, end = end, start
    else:
        rise = np.expm1(bend * x) / np.expm1(bend)  # linear (bend ~0) to accelerating
    level = start + (end - start) * rise
    if step_at is not None:
        level = level + np.sign(step) * size * (np.arange(n) >= step_at)
    pattern = 5 * (WEEKDAYS[np.arange(n) % 7] - 1) if freq == "daily" else 0.0
    return level + pattern + _ar1(rng, n, 0.6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="series per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=("tune", "holdout"), default="tune")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--freqs", nargs="+", choices=list(FREQS), default=list(FREQS))
    args = parser.parse_args()
    apart = [1] if args.split == "holdout" else []  # tune keeps the draws of earlier rounds
    for freq, ((low, high), step_days, _, tolerance) in FREQS.items():
        if freq not in args.freqs:
            continue
        for kind in args.kinds:
            for stepped in (False, True):
                rng = np.random.default_rng([args.seed, list(FREQS).index(freq), KINDS.index(kind), stepped] + apart)
                flagged = changes = years = found = 0
                for _ in range(args.count):
                    n = int(rng.integers(low, high))
                    at = int(rng.integers(n // 6, n - n // 6)) if stepped else None
                    step = rng.uniform(0.25, 0.4) * rng.choice([-1, 1])
                    values = _series(rng, freq, kind, n, at, step)
                    got = find_changes(values, kind="count" if kind == "count" else "gauge", dates=_dates(freq, n))
                    direction = "up" if step > 0 else "down"
                    hit = [c for c in got if at is not None and c.end is None and abs(c.start - at) <= tolerance
                           and c.direction == direction]
                    found += bool(hit)
                    others = [c for c in got if c not in hit[:1]]
                    flagged += bool(others)
                    changes += len(others)
                    years += n * step_days / 365.25
                line = (f"{freq:8s} {kind:8s} {'step' if stepped else 'clean':5s} {args.count} series, {years:.0f} years: "
                        f"other changes in {flagged} series, {100 * changes / years:.2f} per 100 series-years")
                print(line + (f"; step found in {found}/{args.count}" if stepped else ""), flush=True)


if __name__ == "__main__":
    main()
