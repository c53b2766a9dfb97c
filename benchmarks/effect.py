"""Calibration of `effect.measure_window`: how often a window with no effect is called a
real change (nominal 5% for a 95% range), on seeded synthetic funnels.

For seeds 0-5, the daily leads of each region (no injected effect) are measured over
windows of 1, 3 and 12 days starting every 7 days; the share whose 95% range excludes 0
is printed per window length.

    python benchmarks/effect.py [--seeds 6]
"""
from __future__ import annotations

import argparse
import datetime as dt

import polars as pl

from ctxmetrics.explain.effect import measure_window
from ctxmetrics.synth import generate_funnel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()
    counts: dict[int, list[int]] = {}
    for seed in range(args.seeds):
        frame = generate_funnel(seed, start=dt.date(2025, 1, 1), days=300, low_volume_segment=False).frame
        for region in ("NA", "EMEA", "APAC"):
            daily = (frame.filter((pl.col("metric") == "leads") & (pl.col("region") == region))
                     .group_by("date").agg(pl.col("value").sum()).sort("date"))
            days, values = daily["date"].to_list(), daily["value"].to_list()
            for start in range(40, 250, 7):
                for length in (1, 3, 12):
                    measured = measure_window(days, values, days[start], days[start + length - 1])
                    tally = counts.setdefault(length, [0, 0])
                    tally[0] += not measured.consistent_with_no_change
                    tally[1] += 1
    for length, (false, total) in sorted(counts.items()):
        print(f"{length:>2}-day windows: {false}/{total} called a change ({100 * false / total:.1f}%, nominal 5%)")


if __name__ == "__main__":
    main()
