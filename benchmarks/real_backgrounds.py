"""Planted changes on real backgrounds: recall, precision and false alarms. Prints, never asserts.

Usage: python benchmarks/real_backgrounds.py [--split tune|holdout|all] [--seeds 10]
                                             [--realdata DIR] [--ext DIR] [--misses] [--json]

evaluate.py's profiles all come from our own generator; here the noise is real: bike
rentals (day.csv's three columns, hour.csv summed to days), Melbourne's pedestrians, the
Prophet example files (monthly counts, 5-minute temperatures averaged to days), NAB's
nyc_taxi summed to days, the Peyton Manning page views (exp of the file's logs) and every
column of the TCPD datasets. Each file is read where it lies (benchmarks/eval/backgrounds.py);
nothing is copied into the repository. Effects (benchmarks/eval/planting.py): episodes
of 1-3, 5-14 and 21-90 days and lasting steps, up and down, of 4, 6, 9 and 12 local noise
units over their length, at random places clear of each other, of the ends and of the
background's documented changes. Scoring (benchmarks/eval/planted_scoring.py): a hit
starts within 2 periods (daily; 1 otherwise) with the right direction; a detection near
a documented change is neither hit nor false alarm; one the unplanted background also has
is the background's own (printed per series-year, not charged); one near a planted change
that does not match it is `near` (misplaced or a second piece); the rest are false alarms
added by planting. Precision = hits / (hits + near + added).

Split by background file (backgrounds.split_of): holdout backgrounds are never seen
while tuning; seeds differ too (tune 0.., holdout 10000..). `--misses` lists each missed
effect of the top severity with what the detector reported near it, and each false alarm;
`--noise` prints how the detector's noise model reads each background (eval/noise_profile.py).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.eval import external  # noqa: E402
from benchmarks.eval.backgrounds import REALDATA, SPLITS, Background, load_backgrounds  # noqa: E402
from benchmarks.eval.cases import Case, Planted  # noqa: E402
from benchmarks.eval.detector import load_detector  # noqa: E402
from benchmarks.eval.noise_profile import noise_profile  # noqa: E402
from benchmarks.eval.planted_scoring import RealTally, judge, own_detections  # noqa: E402
from benchmarks.eval.planting import SEVERITIES, place_effects, plant, spacing  # noqa: E402

SEED_BASE = {"tune": 0, "holdout": 10000}


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _tolerance(background: Background) -> int:
    return 2 if background.step_days == 1 else 1


def _detect(detector, background: Background, values: np.ndarray) -> list:
    return detector.run(Case(background.name, values, background.kind, background.dates))


def run_background(detector, background: Background, seeds: range, misses: list[str]) -> dict[str, RealTally]:
    """Tallies of one background over `seeds`, keyed by "all", effect class and "sev k"."""
    tolerance, gap = _tolerance(background), spacing(background)
    own = own_detections(_detect(detector, background, background.values), background.documented,
                         background.documented_margin)
    tallies: dict[str, RealTally] = defaultdict(RealTally)
    tallies["all"].add(RealTally(own=len(own), own_years=background.years))
    for seed in seeds:
        rng = np.random.default_rng([seed, zlib.crc32(background.name.encode())])
        effects = place_effects(background, rng, tolerance)
        if not effects:
            continue
        detections = _detect(detector, background, plant(background, effects, rng))
        planted = [Planted(e.start, e.end, e.direction) for e in effects]
        judged = judge(planted, detections, own, tolerance=tolerance, spacing=gap,
                       documented=background.documented, margin=background.documented_margin)
        counts = judged.counts
        tallies["all"].add(RealTally.of_run(len(effects), len(judged.found), counts["near"], counts["added"],
                                            background.years))
        for i, e in enumerate(effects):
            for key in (e.klass, f"sev {e.severity}"):
                tallies[key].add(RealTally(planted=1, found=int(i in judged.found)))  # recall only
            if i not in judged.found and e.severity == max(SEVERITIES):
                nearby = [f"{d.direction} {d.start}..{d.end} score {d.score:.1f}" for d in detections
                          if e.start - gap <= d.start <= (e.end if e.end is not None else e.start) + gap]
                misses.append(f"  MISS {background.name} seed {seed}: {e.klass} {e.direction} sev {e.severity} "
                              f"at {e.start}..{e.end} ({background.dates[e.start]}), shift {e.shift:+.3g}/period; "
                              f"near: {', '.join(nearby) or 'nothing'}")
        for d, verdict in zip(detections, judged.verdicts):
            if verdict in ("near", "added"):
                misses.append(f"  {verdict.upper()} {background.name} seed {seed}: {d.kind} {d.direction} "
                              f"{d.start}..{d.end} ({background.dates[d.start]}) score {d.score:.1f}")
    return tallies


def _row(label: str, t: RealTally) -> str:
    return (f"  {label[:44]:<44}{t.planted:>7}{t.found:>6}{_fmt(t.recall):>7}{t.near:>6}{t.added:>6}"
            f"{_fmt(t.precision):>7}{_fmt(t.f1):>6}{_fmt(t.added_per_100_years, 1):>9}{_fmt(t.own_per_100_years, 1):>9}")


def evaluate(detector, backgrounds: list[Background], seeds: range, misses: list[str]) -> dict:
    per_background = {b.name: run_background(detector, b, seeds, misses) for b in backgrounds}
    by_key: dict[str, RealTally] = defaultdict(RealTally)
    for tallies in per_background.values():
        for key, t in tallies.items():
            by_key[key].add(t)
    return {"backgrounds": per_background, "pooled": by_key}


def print_split(split: str, result: dict) -> None:
    print(f"\nsplit {split}:")
    header = (f"  {'background':<44}{'planted':>7}{'hits':>6}{'recall':>7}{'near':>6}{'added':>6}"
              f"{'precis':>7}{'F1':>6}{'add/100y':>9}{'own/100y':>9}")
    print(header)
    for name, tallies in result["backgrounds"].items():
        print(_row(name, tallies["all"]))
    pooled = result["pooled"]
    print("  by effect class and severity (pooled):")
    for key in sorted(k for k in pooled if k != "all"):
        print(_row(key, pooled[key]))
    print(_row("pooled", pooled["all"]))


def print_noise(backgrounds: list[Background]) -> None:
    print("  the detector's noise model on each unplanted background (generator: robust sd of z 0.88-0.94, lag-1 0.0-0.2):")
    for b in backgrounds:
        p = noise_profile(b)
        print(f"  {b.name[:44]:<45}" + ("not prepared" if p is None else
              f"robust sd of z {p['robust_sd_z']:.2f}, lag-1 {p['lag1']:.2f}, "
              f"long-run/day variance {p['long_run_over_day']:.3g}, calendar steps {p['calendar_steps']}"))


def _json(t: RealTally) -> dict:
    return {"planted": t.planted, "hits": t.found, "near": t.near, "added": t.added, "recall": t.recall,
            "precision": t.precision, "f1": t.f1, "added_per_100_series_years": t.added_per_100_years,
            "own_per_100_series_years": t.own_per_100_years}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=(*SPLITS, "all"), default="tune")
    parser.add_argument("--seeds", type=int, default=10, help="planted runs per background")
    parser.add_argument("--realdata", type=Path, default=REALDATA, help="the shared realdata folder")
    parser.add_argument("--ext", type=Path, default=external.DEFAULT_FOLDER, help="folder of external public series")
    parser.add_argument("--misses", action="store_true", help="list misses of the top severity and every false alarm")
    parser.add_argument("--noise", action="store_true", help="print how the detector's noise model reads each background")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    args = parser.parse_args()
    began = time.perf_counter()
    detector = load_detector()
    results, misses = {}, {}
    for split in (SPLITS if args.split == "all" else (args.split,)):
        try:
            backgrounds = load_backgrounds(split, args.realdata, args.ext)
        except (OSError, ValueError) as exc:  # an unreadable input file: one line, no traceback
            sys.exit(f"real_backgrounds.py: error: {exc}")
        if not backgrounds:
            sys.exit(f"real_backgrounds.py: error: no background file found under {args.realdata} or {args.ext}.")
        misses[split] = []
        seeds = range(SEED_BASE[split], SEED_BASE[split] + args.seeds)
        results[split] = evaluate(detector, backgrounds, seeds, misses[split])
    if args.json:
        print(json.dumps({"detector": detector.name, "seeds": args.seeds, "splits": {
            s: {"backgrounds": {n: _json(t["all"]) for n, t in r["backgrounds"].items()},
                "pooled": {k: _json(t) for k, t in r["pooled"].items()}} for s, r in results.items()}}, indent=2))
        return
    print(f"planted changes on real backgrounds; detector: {detector.name}; {args.seeds} seeds per background")
    for split, result in results.items():
        print_split(split, result)
        if args.noise:
            print_noise(load_backgrounds(split, args.realdata, args.ext))
        if args.misses:
            print("\n".join(misses[split]))
    print(f"\n{time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
