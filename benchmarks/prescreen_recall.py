"""Pre-screen recall against the unscreened detector, on the evaluation profiles.

For every daily series of the generated profiles (benchmarks/eval; holdout split unless
--split tune, the split the screen's thresholds were chosen on) that
`find_changes` reports something on, does `prescreen` keep it? Prints the share per
profile and overall (the issue asks >= 0.99), then the share of clean synthetic rows the
screen keeps (what it saves). Needs the evaluation suite (benchmarks/eval).

Usage: python benchmarks/prescreen_recall.py [--per-profile 60] [--split holdout|tune]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks.eval` and `ctxmetrics` from here

from benchmarks.eval import profiles  # noqa: E402
from ctxmetrics.config import DetectionSettings  # noqa: E402
from ctxmetrics.detect import find_changes, prescreen  # noqa: E402
from ctxmetrics.synth import many_series  # noqa: E402

DAILY_PROFILES = ("volumes", "season_trend", "quarter_close", "heavy_tails", "sparse", "gaps", "ratio", "small_company", "clean")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-profile", type=int, default=60)
    parser.add_argument("--split", choices=("holdout", "tune"), default="holdout")
    args = parser.parse_args()
    settings = DetectionSettings()
    kept_total = reported_total = 0
    for name in DAILY_PROFILES:
        kept = reported = 0
        for case in profiles.generate(name, args.split, args.per_profile):
            if not find_changes(case.values, kind=case.kind, dates=case.dates, denominators=case.denominators):
                continue
            den = None if case.denominators is None else case.denominators[None]
            reported += 1
            kept += bool(prescreen(case.values[None], settings, kind=case.kind, denominators=den, start_date=case.dates[0])[0])
        print(f"  {name:<14} kept {kept:>4} of {reported:>4} series the detector reports")
        kept_total, reported_total = kept_total + kept, reported_total + reported
    print(f"pre-screen recall against find_changes: {kept_total / max(reported_total, 1):.3f} ({kept_total}/{reported_total})")
    for noise in ("white", "ar1"):
        clean, _ = many_series(5000, shift_fraction=0.0, noise=noise, seed=4)
        print(f"clean rows kept (synth.many_series, 5000 x 730, {noise} noise): {prescreen(clean, settings).mean():.1%}")


if __name__ == "__main__":
    main()
