"""Ingest throughput: ctxmetrics ingest vs DuckDB's bare read_parquet/read_csv (the ceiling).

Generates N long-format rows (metric, date, value, region, channel, team), writes them as
Parquet and CSV to a temporary folder, then prints rows/s for:
  - DuckDB alone: `create table as select * from read_parquet(...)` / `read_csv(...)`
  - ctxmetrics ingest (validation + store) from Parquet and from CSV into a fresh store
  - re-ingesting 1M of those rows into the full store (upsert: delete keys + insert)
  - a sparse file of about 1M rows, one row per (labels, 64-day block): ctxmetrics
    ingest into a fresh store vs bare read_parquet (the fast path's key check per row,
    where grouping the keys would cost most)

Usage: python benchmarks/ingest.py [--rows 10000000] [--reingest 1000000] [--sparse 1000000] [--repeat 1]
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from ctxmetrics.ingest.ingest import ingest_paths
from ctxmetrics.store.database import Store

METRICS = ["leads", "mql", "sql", "opportunities", "won"]
DAYS = 730


def make_frame(rows: int, seed: int = 0) -> pl.DataFrame:
    """Distinct (metric, day, region, channel, team) keys, about `rows` of them."""
    segments = max(1, rows // (len(METRICS) * DAYS))
    regions, channels = 10, 10
    teams = max(1, -(-segments // (regions * channels)))
    rng = np.random.default_rng(seed)
    keys = pl.DataFrame({"metric": METRICS}).join(
        pl.DataFrame({"date": pl.date_range(dt.date(2024, 1, 1), dt.date(2024, 1, 1) + dt.timedelta(days=DAYS - 1), eager=True)}),
        how="cross",
    )
    segs = (
        pl.DataFrame({"region": [f"r{i}" for i in range(regions)]})
        .join(pl.DataFrame({"channel": [f"c{i}" for i in range(channels)]}), how="cross")
        .join(pl.DataFrame({"team": [f"t{i}" for i in range(teams)]}), how="cross")
    )
    frame = segs.join(keys, how="cross").head(rows)
    return frame.with_columns(value=pl.Series(rng.poisson(20, frame.height).astype(np.float64))).select(
        "date", "metric", "value", "region", "channel", "team"
    )


def make_sparse_frame(rows: int, seed: int = 0) -> pl.DataFrame:
    """About `rows` distinct keys, one day in each 64-day block of DAYS per (metric,
    region, channel, team), in random order."""
    blocks = -(-DAYS // 64)
    segments = max(1, rows // (len(METRICS) * blocks))
    rng = np.random.default_rng(seed)
    n = len(METRICS) * segments * blocks
    segment = np.tile(np.repeat(np.arange(segments), blocks), len(METRICS))
    block = np.tile(np.arange(blocks), len(METRICS) * segments)
    first = (dt.date(2024, 1, 1) - dt.date(1970, 1, 1)).days // 64 * 64  # blocks as the fast path counts them
    day = first + np.minimum(block * 64 + rng.integers(0, 64, n), DAYS - 1)
    frame = pl.DataFrame({
        "date": pl.Series(day, dtype=pl.Int32).cast(pl.Date),
        "metric": np.repeat(np.array(METRICS), segments * blocks),
        "value": rng.poisson(3, n).astype(np.float64),
        "region": [f"r{s % 10}" for s in segment],
        "channel": [f"c{s // 10 % 10}" for s in segment],
        "team": [f"t{s // 100}" for s in segment],
    })
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)


def timed(label: str, rows: int, fn, repeat: int = 1, setup=None) -> tuple[float, float]:
    """Rows/s of the best of `repeat` runs, wall and CPU (all threads of this process: the
    steadier figure when the machine is shared); `setup` runs untimed before each."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        if setup is not None:
            setup()
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        best, best_cpu = min(best, time.perf_counter() - start), min(best_cpu, time.process_time() - start_cpu)
    print(f"{label:<52} {best:7.2f} s  {rows / best / 1e6:6.2f} M rows/s  (CPU {best_cpu:.2f} s)")
    return rows / best, rows / best_cpu


def fresh(db: Path) -> None:
    for f in (db, db.with_name(db.name + ".wal")):
        f.unlink(missing_ok=True)


def bare_duckdb(folder: Path, reader: str, path: Path) -> None:
    fresh(folder / f"bare_{reader}.duckdb")
    con = duckdb.connect(str(folder / f"bare_{reader}.duckdb"))
    # The same setting ctxmetrics' own insert uses, so the ceiling is a fair one.
    con.execute("set preserve_insertion_order = false")
    con.execute(f"create table t as select * from {reader}(?)", [str(path)])
    con.close()


def ours(folder: Path, name: str, path: Path, dims, new: bool = True) -> None:
    if new:
        fresh(folder / f"{name}.duckdb")
    with Store(folder / f"{name}.duckdb") as store:
        ingest_paths(store, [path], known_dimensions=dims)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--reingest", type=int, default=1_000_000)
    parser.add_argument("--sparse", type=int, default=1_000_000, help="rows of the sparse file (0: skip)")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs for every line (default 1)")
    args = parser.parse_args()
    rep = args.repeat
    dims = ["region", "channel", "team"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frame = make_frame(args.rows)
        rows = frame.height
        parquet, csv = folder / "data.parquet", folder / "data.csv"
        frame.write_parquet(parquet)
        frame.write_csv(csv)
        print(f"{rows:,} rows, {parquet.stat().st_size / 1e6:.0f} MB Parquet, {csv.stat().st_size / 1e6:.0f} MB CSV")
        ceiling_pq = timed("duckdb bare read_parquet -> table (ceiling)", rows, lambda: bare_duckdb(folder, "read_parquet", parquet), rep)
        ceiling_csv = timed("duckdb bare read_csv -> table (ceiling)", rows, lambda: bare_duckdb(folder, "read_csv", csv), rep)
        ours_pq = timed("ctxmetrics ingest Parquet, fresh store", rows, lambda: ours(folder, "pq", parquet, dims), rep)
        ours_csv = timed("ctxmetrics ingest CSV, fresh store", rows, lambda: ours(folder, "csv", csv, dims), rep)
        subset = folder / "subset.parquet"
        frame.sample(min(args.reingest, rows), seed=1).with_columns(pl.col("value") + 1).write_parquet(subset)
        n = min(args.reingest, rows)
        full, work = folder / "pq.duckdb", folder / "reingest.duckdb"
        upsert = timed(
            f"ctxmetrics re-ingest {n:,} rows into full store", n,
            lambda: ours(folder, "reingest", subset, dims, new=False), rep,
            setup=lambda: shutil.copyfile(full, work),  # the full store as the Parquet load left it
        )
        ratios = [("Parquet", ceiling_pq, ours_pq, 1.15), ("CSV", ceiling_csv, ours_csv, 1.7)]
        if args.sparse:
            sparse = folder / "sparse.parquet"
            sparse_frame = make_sparse_frame(args.sparse)
            sparse_frame.write_parquet(sparse)
            m = sparse_frame.height
            ceiling_sparse = timed(f"duckdb bare read_parquet sparse {m:,} rows", m, lambda: bare_duckdb(folder, "read_parquet", sparse), rep)
            ours_sparse = timed("ctxmetrics ingest sparse Parquet, fresh store", m, lambda: ours(folder, "sparse", sparse, dims), rep)
            ratios.append(("sparse", ceiling_sparse, ours_sparse, 1.15))
        for name, ceiling, ours_rate, target in ratios:
            print(f"{name + ':':<8} ceiling/ours = {ceiling[0] / ours_rate[0]:.2f}x wall, "
                  f"{ceiling[1] / ours_rate[1]:.2f}x CPU (target <= {target}x)")
        print(f"re-ingest: {upsert[0] / 1e6:.2f} M rows/s (target >= 1 M rows/s)")


if __name__ == "__main__":
    main()
