"""Calibration of the latest-days cube check (`scan/latest.py`) on clean data.

Nothing changed in any of these cubes, so every anomaly the check stores is a false alarm;
its bound promises at most 1% per metric and scan. Two kinds of clean cube:

- `e2e`: the 6 x 5 null cubes of `benchmarks/drivers_e2e.py --null` (90 days, Poisson
  counts with a weekly cycle, median `--level` a day per cell);
- `funnel`: the clean 3 x 3 funnels of tests/test_detect_funnel.py (`synth.generate_funnel`:
  growth, overdispersed counts, a low-volume cell, five stages), each stage's cube checked
  as if its data ended on each of `--ends` days.

The check runs alone with nothing detected (no element is left to a detected anomaly),
which is stricter than in a scan; `--scans FIRST END` runs whole scans of clean funnels
(`scan_project`, 730 days, as tests/test_detect_funnel.py does) and counts the anomalies
the check stored there. Besides the alarms, the run prints how the check's
scores are spread: the share of candidate elements beyond 2, 3 and 4 standard deviations
(a normal gives 4.6%, 0.27% and 0.006%): scores too wide mean its noise is understated.

    PYTHONPATH=$PWD python3 benchmarks/latest_null.py --e2e 0 300 --funnels 0 40

`--cost LEAVES` times the check alone on a one-dimension cube of that many clean leaves
(90 days of Poisson counts; an unflagged total, so the check runs in full).

    PYTHONPATH=$PWD python3 benchmarks/latest_null.py --cost 100000
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from itertools import product
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from ctxmetrics.models.series import SeriesSet  # noqa: E402
from ctxmetrics.scan.latest import element_scores, latest_changes  # noqa: E402
from ctxmetrics.synth import STAGES, generate_funnel  # noqa: E402
from test_rootcause_e2e import DAYS, START, make_case  # noqa: E402  (the e2e generator)


def cube_set(metric: str, start: dt.date, cells: dict[tuple[str, str], np.ndarray]) -> SeriesSet:
    """Every rollup of a two-dimension cube of daily counts, as `scan` builds it."""
    regions = sorted({r for r, _ in cells})
    channels = sorted({c for _, c in cells})
    segments, rows = [{}], [sum(cells.values())]
    segments += [{"region": r} for r in regions]
    rows += [sum(v for (rr, _), v in cells.items() if rr == r) for r in regions]
    segments += [{"channel": c} for c in channels]
    rows += [sum(v for (_, cc), v in cells.items() if cc == c) for c in channels]
    for r, c in product(regions, channels):
        segments.append({"region": r, "channel": c})
        rows.append(cells[(r, c)])
    return SeriesSet(metric, "count", start, segments, np.array(rows, dtype=float))


def e2e_sets(first: int, end: int, level: float):
    for seed in range(first, end):
        data, _ = make_case(seed, median_level=level, null=True)
        cells: dict[tuple[str, str], list[float]] = {}
        for line in data.splitlines()[1:]:
            _, _, value, region, channel = line.split(",")
            cells.setdefault((region, channel), []).append(float(value))
        yield cube_set("leads", START, {k: np.array(v) for k, v in cells.items()})


def funnel_sets(first: int, end: int, ends: list[int]):
    for seed in range(first, end):
        frame = generate_funnel(seed, start=dt.date(2025, 1, 6), days=max(ends)).frame
        for stage in STAGES:
            part = frame.filter(frame["metric"] == stage)
            cells = {
                (r, c): part.filter((part["region"] == r) & (part["channel"] == c))["value"].to_numpy()
                for r, c in sorted(set(zip(part["region"].to_list(), part["channel"].to_list())))
            }
            for last in ends:
                yield cube_set(stage, dt.date(2025, 1, 6), {k: v[:last] for k, v in cells.items()})


def report(name: str, sets) -> None:
    checks = alarms = 0
    scores: list[np.ndarray] = []
    for series_set in sets:
        checks += 1
        alarms += bool(latest_changes(series_set, []))
        scores += element_scores(series_set)
    if not checks:
        return
    z = np.abs(np.concatenate(scores)) if scores else np.zeros(0)
    beyond = "  ".join(f">{k}σ {100 * np.mean(z > k):.3f}%" for k in (2, 3, 4))
    print(f"{name:8} checks {checks:5d}  with an anomaly {alarms:4d} ({100 * alarms / max(checks, 1):.2f}%)  "
          f"element scores {len(z)}: {beyond}")


def cost(leaves: int) -> None:
    rng = np.random.default_rng(0)
    cells = rng.poisson(rng.lognormal(np.log(20), 1.0, (leaves, 1)), (leaves, DAYS)).astype(float)
    segments = [{}] + [{"item": f"i{i}"} for i in range(leaves)]
    series_set = SeriesSet("leads", "count", START, segments, np.vstack([cells.sum(axis=0), cells]))
    wall, cpu = time.perf_counter(), time.process_time()
    found = latest_changes(series_set, [])
    print(f"check alone, {leaves} leaves x {DAYS} days: {time.perf_counter() - wall:.2f} s wall, "
          f"{time.process_time() - cpu:.2f} s CPU, {len(found)} anomalies")


def scans(first: int, end: int) -> None:
    from test_detect_funnel import scanned_project

    stored = series = metrics = 0
    for seed in range(first, end):
        with tempfile.TemporaryDirectory() as tmp:
            project, found = scanned_project(Path(tmp) / "p", seed, [], days=730)
            with project.store(read_only=True) as store:
                series += store.query_rows("select count(*) from scan_state")[1][0][0]
        stored += sum(a.found_by == "cube" for a in found)
        metrics += len(STAGES)
        print(f"seed {seed}: {len(found)} anomalies, from the check: {[(a.metric, a.segment) for a in found if a.found_by == 'cube']}")
    print(f"clean funnel scans {first}..{end - 1}: the check stored {stored} anomalies in {metrics} checked metrics "
          f"({100 * stored / max(metrics, 1):.2f}%); {series} series")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--e2e", type=int, nargs=2, default=(0, 300), metavar=("FIRST", "END"))
    parser.add_argument("--level", type=float, default=80.0, help="median daily count of an e2e cell")
    parser.add_argument("--funnels", type=int, nargs=2, default=(0, 40), metavar=("FIRST", "END"))
    parser.add_argument("--ends", type=int, nargs="+", default=[120, 240, 365, 480, 600, 730],
                        help="days of funnel data the check sees (one check per stage and end)")
    parser.add_argument("--cost", type=int, metavar="LEAVES", help="only time the check on this many leaves")
    parser.add_argument("--scans", type=int, nargs=2, metavar=("FIRST", "END"), help="only whole scans of clean funnels")
    args = parser.parse_args()
    if args.scans:
        scans(*args.scans)
        return
    if args.cost:
        cost(args.cost)
        return
    print(f"e2e null seeds {args.e2e[0]}..{args.e2e[1] - 1} ({DAYS} days, level {args.level:g}); "
          f"clean funnels seeds {args.funnels[0]}..{args.funnels[1] - 1}, ends {args.ends}")
    report("e2e", e2e_sets(*args.e2e, args.level))
    report("funnel", funnel_sets(*args.funnels, args.ends))


if __name__ == "__main__":
    main()
