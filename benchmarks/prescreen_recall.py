"""Pre-screen recall against the unscreened detector, on a broad evaluation set.

For every daily series that `find_changes` reports something on, does `prescreen` keep
it? Sets (each seeded by the split; --split tune is where the screen's margins were
chosen):

- the daily profiles of benchmarks/evaluate.py (benchmarks/eval: counts from 0.3 to
  3000 a day, season and trend, quarter closes, heavy tails, gaps, gauges, ratios, the
  small company of issue 9, clean series);
- realdata: the daily series of ../shared/realdata (bike rentals: total, casual,
  registered; Melbourne pedestrians; Yosemite temperatures as a gauge), whole, in
  365-day slices, and thinned to 1/10 and 1/100 of their counts (each event kept with
  that chance: the same patterns at low volume);
- cube90: 16 x --per-profile 90-day leaves of a wide cube (lognormal volumes, median ~20
  a day), half with one effect of 1-21 days (up to the last day), sized near the
  detector's bar;
- low_volume: 5 x --per-profile series of two years at 0.2-5 events a day (counts) and
  conversion rates on 30-80 trials a day, effects sized near the bar, two unknown days.

Weekly and monthly series are not screened (`scan.screen` passes them all). Prints the
recall per profile and per set, the findings the screen drops with the check that came
closest (its value against its bar), and the pass-through rate: the share of clean
730-day `synth.many_series` rows the screen keeps (the scan's detection cost is
proportional to it).

--cost ROWS instead times the screen itself (`prescreen`, its threaded batch path) on
ROWS x 730 `synth.many_series` rows (5% with an effect, as benchmarks/scan.py's store):
wall and CPU seconds of this process (all threads) per run, best of --repeat runs.

Usage: python benchmarks/prescreen_recall.py [--split holdout|tune] [--per-profile 60]
                                             [--realdata DIR] [--show 12]
       python benchmarks/prescreen_recall.py --cost 100000 [--noise white|ar1] [--repeat 3]
"""
from __future__ import annotations

import argparse
import sys
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks.eval` and `ctxmetrics` from here

from benchmarks.eval import profiles  # noqa: E402
from benchmarks.eval import shapes as sh  # noqa: E402
from benchmarks.eval.cases import Case  # noqa: E402
from benchmarks.eval.files import per_day, read_columns  # noqa: E402
from benchmarks.eval.realdata import DEFAULT_FOLDER  # noqa: E402
from ctxmetrics.config import DetectionSettings  # noqa: E402
from ctxmetrics.detect import find_changes, prescreen  # noqa: E402
from ctxmetrics.detect.prescreen import explain_prescreen  # noqa: E402
from ctxmetrics.synth import many_series  # noqa: E402

DAILY_PROFILES = ("volumes", "season_trend", "quarter_close", "heavy_tails", "sparse", "gaps", "gauge", "ratio",
                  "small_company", "clean")
NEAR_BAR = (3.0, 9.0)  # effect sizes (z of the effect's mean) of the cube90 set; low_volume: 4.5-9
CLEAN_ROWS = 5000


def _rng(name: str, split: str, i: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([zlib.crc32(name.encode()), profiles.SPLITS.index(split), i]))


def realdata_cases(folder: Path, split: str) -> list[Case]:
    """Real daily series: whole, 365-day slices, and thinned counts."""
    day = folder / "bike_sharing_dc" / "day.csv"
    series = [(f"bike {col}", *per_day(*read_columns(day, "dteday", col)), "count") for col in ("cnt", "casual", "registered")]
    series.append(("pedestrians", *per_day(*read_columns(folder / "melbourne_pedestrians" / "example_pedestrians_covid.csv", "ds", "y")), "count"))
    series.append(("yosemite temps", *per_day(*read_columns(folder / "formats" / "example_yosemite_temps.csv", "ds", "y")), "gauge"))
    cases = []
    for i, (name, dates, values, kind) in enumerate(series):
        variants = [(name, values)]
        if kind == "count":
            rng = _rng(name, split, i)
            for share in (0.1, 0.01):
                thinned = np.where(np.isfinite(values), rng.binomial(np.nan_to_num(values).astype(np.int64), share), np.nan)
                variants.append((f"{name} x{share}", thinned.astype(float)))
        for label, v in variants:
            cases.append(Case(label, v, kind, dates))
            for lo in range(0, len(v) - 365 + 1, 91):
                cases.append(Case(f"{label} [{lo}:{lo + 365}]", v[lo : lo + 365], kind, dates[lo : lo + 365]))
    return cases


def cube90_case(rng: np.random.Generator) -> Case:
    """One 90-day leaf of a wide cube; half carry one effect, some up to the last day."""
    n = 90
    dates = np.datetime64("2026-01-01") + int(rng.integers(0, 365)) + np.arange(n)
    rate = float(np.clip(rng.lognormal(3.0, 1.0), 0.5, 5000)) * sh.weekly_profile(rng, bool(rng.random() < 0.5))[sh.weekday(dates)]
    shape = rng.uniform(10, 100)
    effects = []
    if rng.random() < 0.5:
        length = int(rng.choice((1, 2, 3, 5, 7, 14, 21)))
        start = int(rng.integers(30, n - length + 1))
        size = sh.count_sizer(rate, shape)(start, length, bool(rng.random() < 0.5), rng.uniform(*NEAR_BAR))
        effects = [sh.Effect(start, length, size)] if size is not None else []
    values = sh.sample_counts(rng, rate * sh.multiplier(n, effects), shape)
    return Case("cube90", values, "count", dates, planted=tuple(e.planted() for e in effects))


def low_volume_case(rng: np.random.Generator, i: int) -> Case:
    """Two years of counts at 0.2-5 a day, or (every third) a rate on 30-80 trials a day."""
    n = profiles.DAYS
    dates = sh.daily_dates(rng, n)
    profile = sh.weekly_profile(rng, bool(rng.random() < 0.5))[sh.weekday(dates)]
    if i % 3 == 2:
        den = sh.sample_counts(rng, rng.uniform(30, 80) * profile, 50.0)
        p = rng.uniform(0.05, 0.4)

        def size(start, length, up, z):
            z *= NEAR_BAR[1] / sh.Z_HIGH  # the generator's sizes scaled down to near the bar
            relative = z * np.sqrt(p * (1 - p) / float(den.mean()) / length) / p
            return (relative if p * (1 + relative) < 0.95 else None) if up else (-relative if relative < 0.95 else None)

        effects = sh.draw_effects(rng, n, int(rng.integers(0, 3)), sh.DAILY_LENGTHS, 60, size)
        values = rng.binomial(den.astype(int), np.clip(p * sh.multiplier(n, effects), 0, 1)).astype(float)
        values = sh.add_gaps(rng, values, 2, effects, False)
        den[~np.isfinite(values)] = np.nan
        return Case("low_volume ratio", values, "ratio", dates, denominators=den)
    rate, shape = rng.uniform(0.2, 5.0) * profile, rng.uniform(5, 50)
    sizer = sh.count_sizer(rate, shape)

    def near_bar(start, length, up, z):  # the generator's sizes scaled down to near the bar
        return sizer(start, length, up, z * NEAR_BAR[1] / sh.Z_HIGH)

    effects = sh.draw_effects(rng, n, int(rng.integers(0, 3)), sh.DAILY_LENGTHS, 60, near_bar)
    values = sh.add_gaps(rng, sh.sample_counts(rng, rate * sh.multiplier(n, effects), shape), 2, effects, False)
    return Case("low_volume count", values, "count", dates)


def sets(split: str, per_profile: int, folder: Path) -> dict[str, list[Case]]:
    out = {f"profile {name}": profiles.generate(name, split, per_profile) for name in DAILY_PROFILES}
    if (folder / "bike_sharing_dc").exists():
        out["realdata"] = realdata_cases(folder, split)
    else:
        print(f"(realdata skipped: {folder} not found)")
    # the detector reports on ~15% of the leaves and ~40% of the low-volume series: sets
    # large enough that one dropped series is about 1% of those reported
    out["cube90"] = [cube90_case(_rng("cube90", split, i)) for i in range(16 * per_profile)]
    out["low_volume"] = [low_volume_case(_rng("low_volume", split, i), i) for i in range(5 * per_profile)]
    return out


def closest_check(why: dict) -> str:
    """The check whose best value came closest to its bar, as 'label value/bar'."""
    if why["too_small"]:
        return "too small"
    if not why["checks"]:
        return "too short"
    label, (value, bar) = max(why["checks"].items(), key=lambda item: item[1][0] / item[1][1])
    return f"{label} {value:.2f} < {bar:.2f}"


def screen_cost(rows: int, noise: str, repeat: int) -> None:
    """Print the screen's wall and CPU seconds on `rows` x 730 generated rows."""
    matrix, _ = many_series(rows, shift_fraction=0.05, noise=noise, seed=4)
    start, settings = np.datetime64("2024-01-01"), DetectionSettings()
    for run in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        kept = prescreen(matrix, settings, start_date=start)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"pre-screen, {rows:,} x 730 {noise} rows, run {run + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU "
              f"({cpu / rows * 1e6:.0f} us CPU per row), {kept.sum():,} kept")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-profile", type=int, default=60)
    parser.add_argument("--split", choices=profiles.SPLITS, default="holdout")
    parser.add_argument("--realdata", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--show", type=int, default=12, help="dropped findings listed")
    parser.add_argument("--cost", type=int, metavar="ROWS", help="time the screen on ROWS generated rows instead")
    parser.add_argument("--noise", choices=("white", "ar1"), default="white", help="with --cost")
    parser.add_argument("--repeat", type=int, default=3, help="with --cost")
    args = parser.parse_args()
    if args.cost:
        screen_cost(args.cost, args.noise, args.repeat)
        return
    settings = DetectionSettings()
    dropped, total = [], [0, 0]
    for set_name, cases in sets(args.split, args.per_profile, args.realdata).items():
        by_profile: dict[str, list[int]] = {}
        for case in cases:
            changes = find_changes(case.values, kind=case.kind, dates=case.dates, denominators=case.denominators)
            if not changes:
                continue
            den = None if case.denominators is None else case.denominators[None]
            kept = bool(prescreen(case.values[None], settings, kind=case.kind, denominators=den, start_date=case.dates[0])[0])
            tally = by_profile.setdefault(case.name.split(" [")[0].split(":")[0] if set_name != "realdata" else "real", [0, 0])
            tally[0] += kept
            tally[1] += 1
            if not kept:
                why = explain_prescreen(case.values, settings, kind=case.kind, denominators=case.denominators, start_date=case.dates[0])
                best = max(changes, key=lambda c: c.score)
                dropped.append(f"{set_name:<22} {case.name[:34]:<34} {best.kind} {best.direction} {best.start_date} "
                               f"{'' if best.end is None else f'{best.end - best.start + 1}d '}score {best.score:.2f}, "
                               f"{best.change_pct:+.0f}%  | {closest_check(why)}")
        kept, reported = (sum(t[k] for t in by_profile.values()) for k in (0, 1))
        detail = ", ".join(f"{name} {k}/{r}" for name, (k, r) in by_profile.items()) if len(by_profile) > 1 else ""
        print(f"  {set_name:<24} recall {kept / max(reported, 1):.3f} ({kept:>3} of {reported:>3} reported series kept) {detail}")
        total[0], total[1] = total[0] + kept, total[1] + reported
    print(f"pre-screen recall against find_changes, {args.split} split, all sets: {total[0] / max(total[1], 1):.3f} "
          f"({total[0]}/{total[1]})")
    print(f"dropped ({len(dropped)}; the detector's strongest finding | the screen's closest check):")
    for line in dropped[: args.show]:
        print("   " + line)
    start = np.datetime64("2024-01-01")  # as benchmarks/scan.py's store
    for noise in ("white", "ar1"):
        clean, _ = many_series(CLEAN_ROWS, shift_fraction=0.0, noise=noise, seed=4)
        share = prescreen(clean, settings, start_date=start).mean()
        print(f"pass-through: clean rows kept (synth.many_series, {CLEAN_ROWS} x 730, {noise} noise): {share:.1%}")


if __name__ == "__main__":
    main()
