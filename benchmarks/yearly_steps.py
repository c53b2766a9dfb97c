"""Yearly series: false alarms on clean ones and steps found, by noise model. Prints, never asserts.

Usage: python benchmarks/yearly_steps.py [--count N] [--seed S]

No generated profile of benchmarks/evaluate.py is yearly, so a change to how yearly
series are judged moves none of its rows; this script measures it. Each class draws
`--count` series of 30-200 years (dates from 1900) and runs `find_changes` on them:

- clean (nothing planted): white noise around a level (gauge); AR(1) noise (phi 0.6:
  slow wander, as river flows); a linear trend in white noise; exponential growth of
  2-6% a year with AR(1) noise in its logarithm (a GDP, read as a gauge); Poisson counts
  of 20-2000 a year. Reported: series with any change, changes per 100 series-years.
- a lasting step of 2-4 noise sds at a random year of the middle two-thirds, in white
  noise, in AR(1) noise and beside a linear trend. Reported: series whose step is found
  (a lasting shift within 2 years of it, in its direction), and other changes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))

from ctxmetrics.detect import find_changes  # noqa: E402


def _ar1(rng, n: int, phi: float) -> np.ndarray:
    e = rng.normal(size=n)
    out = np.empty(n)
    out[0] = e[0] / np.sqrt(1 - phi**2)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + e[i]
    return out * np.sqrt(1 - phi**2)  # unit marginal sd


def _clean(rng, name: str, n: int) -> tuple[np.ndarray, str]:
    t = np.arange(n)
    if name == "white":
        return 100 + 10 * rng.normal(size=n), "gauge"
    if name == "ar1":
        return 100 + 10 * _ar1(rng, n, 0.6), "gauge"
    if name == "trend":
        return 100 + rng.uniform(-1, 1) * t + 10 * rng.normal(size=n), "gauge"
    if name == "growth":
        return 100 * np.exp(rng.uniform(0.02, 0.06) * t + 0.03 * _ar1(rng, n, 0.6)), "gauge"
    return rng.poisson(rng.uniform(20, 2000), size=n).astype(float), "count"


def _stepped(rng, name: str, n: int) -> tuple[np.ndarray, int, str]:
    at = int(rng.integers(n // 6, n - n // 6))
    size = rng.uniform(2, 4) * rng.choice([-1, 1]) * 10
    noise = _ar1(rng, n, 0.6) if name == "step_ar1" else rng.normal(size=n)
    trend = rng.uniform(-1, 1) * np.arange(n) if name == "step_trend" else 0.0
    values = 100 + trend + 10 * noise + size * (np.arange(n) >= at)
    return values, at, "up" if size > 0 else "down"


CLEAN = ("white", "ar1", "trend", "growth", "counts")
STEPS = ("step_white", "step_ar1", "step_trend")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="series per class")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name in CLEAN + STEPS:
        rng = np.random.default_rng([args.seed, (CLEAN + STEPS).index(name)])
        flagged = changes = years = found = 0
        for _ in range(args.count):
            n = int(rng.integers(30, 201))
            dates = np.datetime64("1900-01-01", "Y") + np.arange(n)
            if name in CLEAN:
                values, kind = _clean(rng, name, n)
                at = direction = None
            else:
                (values, at, direction), kind = _stepped(rng, name, n), "gauge"
            got = find_changes(values, kind=kind, dates=dates.astype("datetime64[D]"))
            hit = [c for c in got if at is not None and c.end is None and abs(c.start - at) <= 2 and c.direction == direction]
            found += bool(hit)
            others = [c for c in got if c not in hit[:1]]
            flagged += bool(others)
            changes += len(others)
            years += n
        line = (f"{name:11s} {args.count} series, {years} years: other changes in {flagged} series, "
                f"{100 * changes / years:.2f} per 100 series-years")
        print(line + (f"; step found in {found}/{args.count}" if name in STEPS else ""))


if __name__ == "__main__":
    main()
