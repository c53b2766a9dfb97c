"""What the checks of the whole cube cost the Spark engine, and that it stores what the local engine stores.

Builds a 3-dimension cube of daily counts (A x B x C leaves and every rollup, 120 days,
Poisson around lognormal levels) where a few single cells fall by 70% for 20 days from
different days (too little for the total: their anomalies get `cube_drivers`) and three
cells rise by 60% over the last 3 days (what the latest-days check finds). In one Spark
session (local[*], started apart, warmed up by a scan of another copy), a Spark scan of a
fresh copy, timed whole and in the part spent reading the total and leaves for those
checks (`SparkScan._whole_cube`, the Spark jobs they add) and running the latest-days
check on the driver (`SparkScan._latest`, which includes its read); then a local scan of
another copy, and both engines' stored anomalies compared (cube drivers included).

Run it with the code before the checks came to Spark too (PYTHONPATH at that checkout):
it then prints the whole scan only. Wall seconds; on a shared machine they include the
time other processes held the cores.

Usage: python benchmarks/spark_cube_checks.py [--sizes 20 10 10] [--repeat 2]
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from itertools import product
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from scan import spark_session  # noqa: E402  (benchmarks/scan.py)

DAYS = 120
FIRST_DAY = dt.date(2026, 1, 1)
CELL_DROPS = [(40, 0.3), (55, 0.3), (70, 0.3), (85, 0.3)]  # (first day, factor) of 20-day drops, one cell each
LAST_DAYS, LAST_RISE = 3, 1.6


def build(folder: Path, sizes: list[int], seed: int = 5) -> None:
    """The cube project (see the module's docstring) in `folder`."""
    from ctxmetrics.project import Project, init_project

    dims = [f"d{j}" for j in range(len(sizes))]
    rng = np.random.default_rng(seed)
    codes = np.array(list(product(*(range(c) for c in sizes))))
    weekly = 1 + 0.2 * np.sin(2 * np.pi * np.arange(DAYS) / 7)
    mean = rng.lognormal(np.log(30), 0.6, len(codes))[:, None] * weekly[None, :]
    cells = rng.choice(len(codes), len(CELL_DROPS) + 3, replace=False)
    for cell, (first, factor) in zip(cells, CELL_DROPS):
        mean[cell, first : first + 20] *= factor
    mean[cells[len(CELL_DROPS) :], DAYS - LAST_DAYS :] *= LAST_RISE
    counts = rng.poisson(mean).astype(float)
    root = init_project(folder, f"dimensions: [{', '.join(dims)}]\nmetrics:\n  leads: {{type: count}}\n")
    rows, days = np.nonzero(np.ones_like(counts, dtype=bool))
    frame = pl.DataFrame(
        {
            "metric": "leads",
            "ts": pl.Series([FIRST_DAY + dt.timedelta(days=d) for d in range(DAYS)])[days],
            "value": counts[rows, days],
            **{d: pl.Series([f"{d}v{k}" for k in codes[:, j]])[rows] for j, d in enumerate(dims)},
        }
    )
    with Project(root).store() as store:
        store.upsert_observations(frame)


def found(project) -> list[tuple]:
    from ctxmetrics.store.results import load_anomalies

    with project.store(read_only=True) as store:
        return sorted((a.id, a.score, a.found_by, repr(a.drivers), repr(a.cube_drivers)) for a in load_anomalies(store))


def timed(owner, name: str, spent: list[float]) -> None:
    """Wrap method `name` of class `owner` so that its wall seconds add up in `spent` (if it exists)."""
    original = getattr(owner, name, None)
    if original is None:
        return

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    setattr(owner, name, wrapper)


def main() -> None:
    from ctxmetrics.project import Project
    from ctxmetrics.scan.engines.spark import SparkScan
    from ctxmetrics.scan.scan import scan_project

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 10, 10])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    reads: list[float] = []
    latest: list[float] = []
    timed(SparkScan, "_whole_cube", reads)
    timed(SparkScan, "_latest", latest)
    with tempfile.TemporaryDirectory() as tmp:
        built = Path(tmp) / "built"
        build(built, args.sizes)
        started = time.perf_counter()
        spark_session().sparkContext.setLogLevel("ERROR")
        print(f"Spark session started in {time.perf_counter() - started:.1f} s")
        scan_project(Project(shutil.copytree(built, Path(tmp) / "warm-up")), engine="spark")
        leaves = int(np.prod(args.sizes))
        print(f"{leaves:,} leaves x {DAYS} days; checks' reads and latest-days check: "
              f"{'measured' if hasattr(SparkScan, '_whole_cube') else 'not in this code'}")
        for k in range(args.repeat):
            reads.clear(), latest.clear()
            project = Project(shutil.copytree(built, Path(tmp) / f"spark-{k}"))
            started = time.perf_counter()
            result = scan_project(project, engine="spark")
            seconds = time.perf_counter() - started
            print(f"Spark scan {k + 1}: {seconds:.1f} s, {result.anomalies} anomalies; reads for the cube checks "
                  f"{sum(reads):.1f} s in {len(reads)} calls; latest-days check (its read included) {sum(latest):.1f} s")
        local = Project(shutil.copytree(built, Path(tmp) / "local"))
        started = time.perf_counter()
        scan_project(local)
        print(f"local scan: {time.perf_counter() - started:.1f} s")
        same = found(project) == found(local)
        rows = found(local)
        print(f"anomalies with cube drivers {sum(bool(r[4] != '[]') for r in rows)}, found by the cube "
              f"{sum(r[2] == 'cube' for r in rows)}; stored identical on both engines: {same}")


if __name__ == "__main__":
    main()
