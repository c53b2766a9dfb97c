"""Whole-scan benchmark: N series × 730 days through `scan_project`.

Builds a project whose metric `leads` has one dimension `unit` with N-1 values, so the
cube holds N series (the N-1 leaves and their total). Leaves come from
`synth.many_series` (~5% with a real effect). The store is filled with DuckDB directly
(ingest has its own benchmark); then the timed part is the whole scan: reading the store,
building the cube, pre-screen, detection, explanation and storing. Prints seconds,
series/s, peak memory (max RSS of this process) and end-to-end detection recall against
the injected truth. Pre-screen recall and the per-series Pelt comparison are printed by
benchmarks/detect.py.

Usage: python benchmarks/scan.py [--series 10000 100000] [--noise white ar1]
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from ctxmetrics.project import Project, init_project
from ctxmetrics.results import load_anomalies
from ctxmetrics.scan import scan_project
from ctxmetrics.synth import many_series

CONFIG = "store: bench.duckdb\ndimensions: [unit]\nmetrics:\n  leads: {type: count}\n"
DAYS = 730
MATCH_DAYS = 7  # a detection counts when it starts within a week of the injected effect


def build_project(folder: Path, leaves: int, noise: str, seed: int):
    matrix, truth = many_series(leaves, DAYS, 0.05, noise, seed)
    root = init_project(folder, CONFIG)
    project = Project(root)
    with project.store() as store:
        store.add_dimensions(["unit"])
        for lo in range(0, leaves, 5_000):  # in chunks to bound memory
            block = matrix[lo : lo + 5_000]
            rows, days = np.nonzero(np.ones_like(block, dtype=bool))
            frame = pl.DataFrame(
                {
                    "metric": pl.Series(["leads"], dtype=pl.Utf8).extend_constant("leads", len(rows) - 1),
                    "ts": (np.datetime64("2024-01-01") + days.astype("timedelta64[D]")),
                    "value": block[rows, days],
                    "unit": pl.Series((rows + lo).astype(np.int64)).cast(pl.Utf8),
                }
            ).with_columns(pl.col("ts").cast(pl.Date))
            store.con.register("chunk", frame)
            store.con.execute("insert into obs select metric, ts, value, unit from chunk")
            store.con.unregister("chunk")
    return project, truth


def recall(project: Project, truth) -> float:
    with project.store(read_only=True) as store:
        found = load_anomalies(store, "segment_key <> ''")
    start = np.datetime64("2024-01-01")
    by_unit: dict[int, list[int]] = {}
    for a in found:
        by_unit.setdefault(int(a.segment["unit"]), []).append(int((np.datetime64(a.start) - start).astype(int)))
    hits = sum(1 for t in truth if any(abs(s - t.start) <= MATCH_DAYS for s in by_unit.get(t.row, [])))
    return hits / max(len(truth), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--noise", nargs="+", default=["white", "ar1"])
    args = parser.parse_args()
    print(f"{'series':>8} {'noise':>6} {'scan s':>8} {'series/s':>9} {'peak RSS':>9} {'anomalies':>9} {'recall':>7}")
    for n in args.series:
        for noise in args.noise:
            with tempfile.TemporaryDirectory() as tmp:
                project, truth = build_project(Path(tmp) / "p", n - 1, noise, seed=n)
                started = time.perf_counter()
                result = scan_project(project)
                seconds = time.perf_counter() - started
                peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
                print(
                    f"{result.series:>8,} {noise:>6} {seconds:>8.1f} {result.series / seconds:>9,.0f} "
                    f"{peak_gb:>7.2f}GB {result.anomalies:>9,} {recall(project, truth):>7.3f}"
                )


if __name__ == "__main__":
    main()
