"""Whole-scan benchmark: N series × 730 days through `scan_project`.

Builds a project whose metric `leads` has one dimension `unit` with N-1 values, so the
cube holds N series (the N-1 leaves and their total). Leaves come from
`synth.many_series` (~5% with a real effect). The store is filled with DuckDB directly
(ingest has its own benchmark); then the timed part is the whole scan: reading the store,
building the cube, pre-screen, detection, explanation and storing. Prints seconds,
CPU seconds (the scan process and its workers: on a shared machine the wall clock also
counts the time other processes held the cores), series/s, peak memory and end-to-end detection recall against the injected truth.
Then the pre-screen's own recall on the same cube, and a plain per-series
`rpt.Pelt(model="l2")` loop on a sample timed against pre-screen + detector (from
benchmarks/detect.py).

Each case runs in two fresh processes: one builds the store (synthetic matrix, frames),
the other only scans it, so the reported peak is the scan's own: max RSS of the scan
process and, separately, of its largest forked detector worker. A forked worker shares
the parent's pages copy-on-write, so its RSS counts much of the parent's memory again:
the sum of the two is an upper bound of the physical peak, not the peak itself.

Usage: python benchmarks/scan.py [--series 10000 100000] [--noise white ar1] [--cache DIR] [--pelt-sample 1000]
       python benchmarks/scan.py --engine spark [--series 10000] [--cores 64 512]
       python benchmarks/scan.py --cube 15 12 10 6 4 [--cache DIR]

--cube SIZES (issue 15's wide cube) scans one metric with a dimension per size instead
(15 x 12 x 10 x 6 x 4: 43,200 leaves, 80,080 series with every rollup) over CUBE_DAYS
days, where every leaf with the first value of either of the last two dimensions drops
by CUBE_DROP over the last CUBE_EFFECT_DAYS days: tens of thousands of series change on
the same day, and the whole scan (detection, root causes and linking of all of them,
storing) is timed. Prints the anomalies and how many start on that day.

--engine spark scans the same store with both engines in the same run (Spark in local
mode on this machine, local[*]: it measures Spark's overhead against the local engine,
not a cluster's speed; the session's start is timed apart). It then measures the
per-series cost of the work Spark distributes (fingerprint, pre-screen and detection of
one bucket, `engines.bucket_detect.detect_bucket`, in CPU seconds of this process, all
threads) and estimates that stage for 10M series on N executor cores as
10M x cost / N: perfect scaling of independent buckets, with the same share of
candidates as this store; Spark's scheduling, the cube's aggregation (a shuffle of the
observations) and the driver's linking and storing come on top.

--cache DIR keeps the built stores in DIR and scans a fresh copy of them on later runs
(for repeated measurements; the build of 100k series takes about a minute).
"""
from __future__ import annotations

import argparse
import json
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

CONFIG = "store: bench.duckdb\ndimensions: [unit]\nmetrics:\n  leads: {type: count}\n"
DAYS = 730
MATCH_DAYS = 7  # a detection counts when it starts within a week of the injected effect


def build_project(folder: Path, leaves: int, noise: str, seed: int) -> None:
    """Write the project and its store into `folder`, the injected truth to truth.pkl."""
    from ctxmetrics.project import Project, init_project
    from ctxmetrics.synth import many_series

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
    (Path(root) / "truth.pkl").write_bytes(pickle.dumps([(t.row, t.start) for t in truth]))


CUBE_DAYS, CUBE_EFFECT_DAYS, CUBE_DROP = 90, 3, 0.6


def build_cube_project(folder: Path, sizes: list[int], seed: int = 1) -> None:
    """Write a project whose metric `leads` has one dimension per size (see --cube)."""
    from itertools import product

    from ctxmetrics.project import Project, init_project

    dims = [f"d{j}" for j in range(len(sizes))]
    rng = np.random.default_rng(seed)
    codes = np.array(list(product(*(range(c) for c in sizes))))
    rate = rng.lognormal(3.0, 1.0, len(codes))[:, None] * np.ones(CUBE_DAYS)
    hit = (codes[:, -1] == 0) | (codes[:, -2] == 0)
    rate[hit, CUBE_DAYS - CUBE_EFFECT_DAYS :] *= 1 - CUBE_DROP
    counts = rng.poisson(rate).astype(float)
    root = init_project(folder, f"store: bench.duckdb\ndimensions: [{', '.join(dims)}]\nmetrics:\n  leads: {{type: count}}\n")
    rows, days = np.nonzero(np.ones_like(counts, dtype=bool))
    frame = pl.DataFrame(
        {
            "metric": pl.Series(["leads"], dtype=pl.Utf8).extend_constant("leads", len(rows) - 1),
            "ts": np.datetime64("2026-01-01") + days.astype("timedelta64[D]"),
            "value": counts[rows, days],
            **{d: pl.Series([f"{d}v{k}" for k in codes[:, j]])[rows] for j, d in enumerate(dims)},
        }
    ).with_columns(pl.col("ts").cast(pl.Date))
    with Project(root).store() as store:
        store.add_dimensions(dims)
        store.con.register("chunk", frame)
        store.con.execute(f"insert into obs select metric, ts, value, {', '.join(dims)} from chunk")
        store.con.unregister("chunk")


def kernels_loaded() -> dict:
    """Import the detector's numba kernels before the timer starts, and time it apart.

    A fresh install compiles them here (tens of seconds, once: numba caches them on disk
    beside `detect/kernels.py`); every later process loads them from that cache in ~2-3 s.
    That one-time build is not part of a scan's cost, so it is reported on its own line
    instead of inflating the first run's scan seconds."""
    cpu = time.process_time()
    started = time.perf_counter()
    from ctxmetrics.detect import kernels

    compiled = any(k.stats.cache_misses for k in vars(kernels).values() if hasattr(k, "stats"))
    return dict(kernel_seconds=time.perf_counter() - started, kernel_cpu=time.process_time() - cpu, compiled=compiled)


def scan_cube_once(folder: Path) -> dict:
    """Scan the wide-cube project in `folder` (in this fresh process) and measure it."""
    from ctxmetrics.project import Project
    from ctxmetrics.store.results import load_anomalies
    from ctxmetrics.scan.scan import scan_project

    project = Project(folder)
    kernels = kernels_loaded()
    started = time.perf_counter()
    result = scan_project(project)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with project.store(read_only=True) as store:
        found = load_anomalies(store)
    effect_day = (np.datetime64("2026-01-01") + CUBE_DAYS - CUBE_EFFECT_DAYS).astype(object)
    return dict(
        series=result.series, seconds=seconds, own_gb=usage.ru_maxrss / 1024**2, workers_gb=children.ru_maxrss / 1024**2,
        cpu=usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime - kernels["kernel_cpu"], **kernels,
        candidates=result.candidates, anomalies=len(found), same_day=sum(a.start == effect_day for a in found),
    )


def cube_report(sizes: list[int], cache: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "p"
        built = (cache or Path(tmp)) / f"cube-{'x'.join(map(str, sizes))}"
        if not (built / "ctxmetrics.yaml").exists():
            shutil.rmtree(built, ignore_errors=True)
            child("--build-cube-into", str(built), *map(str, sizes))
        shutil.copytree(built, work)
        r = json.loads(child("--scan-cube", str(work)))
    print(f"{'cube':>14} {'series':>8} {'scan s':>7} {'CPU s':>6} {'scan RSS':>9} {'worker RSS':>10} "
          f"{'candidates':>10} {'anomalies':>9} {'same day':>8}")
    print(f"{'x'.join(map(str, sizes)):>14} {r['series']:>8,} {r['seconds']:>7.1f} {r['cpu']:>6.1f} {r['own_gb']:>7.2f}GB "
          f"{r['workers_gb']:>8.2f}GB {r['candidates']:>10,} {r['anomalies']:>9,} {r['same_day']:>8,}")
    print_kernels(r)


def print_kernels(r: dict) -> None:
    how = "compiled (the first run of a fresh install; cached on disk for later ones)" if r["compiled"] else "loaded from numba's disk cache"
    print(f"{'':>8} numba kernels before the timed scan: {r['kernel_seconds']:.1f} s, {r['kernel_cpu']:.1f} CPU s, {how}", flush=True)


def recall(project, truth: list[tuple[int, int]]) -> float:
    from ctxmetrics.store.results import load_anomalies

    with project.store(read_only=True) as store:
        found = [a for a in load_anomalies(store) if a.segment]
    start = np.datetime64("2024-01-01")
    by_unit: dict[int, list[int]] = {}
    for a in found:
        by_unit.setdefault(int(a.segment["unit"]), []).append(int((np.datetime64(a.start) - start).astype(int)))
    hits = sum(1 for row, first in truth if any(abs(s - first) <= MATCH_DAYS for s in by_unit.get(row, [])))
    return hits / max(len(truth), 1)


def scan_once(folder: Path) -> dict:
    """Scan the project in `folder` (in this fresh process) and measure it."""
    from ctxmetrics.project import Project
    from ctxmetrics.scan.scan import scan_project

    project = Project(folder)
    kernels = kernels_loaded()
    started = time.perf_counter()
    result = scan_project(project)
    seconds = time.perf_counter() - started
    # ru_maxrss is in KiB on Linux; RUSAGE_CHILDREN is the largest waited-for child
    usage, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    truth = pickle.loads((folder / "truth.pkl").read_bytes())
    return dict(
        series=result.series, seconds=seconds, own_gb=usage.ru_maxrss / 1024**2, workers_gb=children.ru_maxrss / 1024**2,
        cpu=usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime - kernels["kernel_cpu"], **kernels,
        anomalies=result.anomalies, candidates=result.candidates, recall=recall(project, truth),
        screen_recall=prescreen_recall(project, truth),
    )


def prescreen_recall(project, truth: list[tuple[int, int]]) -> float:
    """Share of the series with an injected effect that the pre-screen passes on
    (measured after the timed scan, on the same cube)."""
    from ctxmetrics.detect import prescreen
    from ctxmetrics.store.series import build_series_set

    with project.store(read_only=True) as store:
        cube = build_series_set(store, project.config, "leads")
    keep = prescreen(cube.values, project.config.detection_for("leads"), start_date=cube.start)
    rows = [cube.row({"unit": str(row)}) for row, _ in truth]
    return float(np.mean([keep[r] for r in rows])) if rows else 1.0


def spark_session():
    """Spark in local mode on every core, bound to this machine."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[*]")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )


def scan_spark_once(folder: Path) -> dict:
    """Scan the project in `folder` with the Spark engine (session started first, timed apart)."""
    from ctxmetrics.project import Project
    from ctxmetrics.scan.scan import scan_project

    started = time.perf_counter()
    spark_session().sparkContext.setLogLevel("ERROR")
    session_seconds = time.perf_counter() - started
    project = Project(folder)
    started = time.perf_counter()
    result = scan_project(project, engine="spark")
    seconds = time.perf_counter() - started
    truth = pickle.loads((folder / "truth.pkl").read_bytes())
    return dict(
        series=result.series, seconds=seconds, session_seconds=session_seconds,
        anomalies=result.anomalies, candidates=result.candidates, recall=recall(project, truth),
    )


def bucket_cost(folder: Path) -> dict:
    """CPU seconds per series of `detect_bucket` over the whole cube, in buckets as Spark runs them."""
    import pyarrow as pa

    from ctxmetrics.scan.engines.bucket_detect import MetricJob, detect_bucket
    from ctxmetrics.scan.engines.spark import BUCKET_SERIES
    from ctxmetrics.project import Project
    from ctxmetrics.store.series import build_series_set
    from ctxmetrics.timeline.read import load_timeline

    project = Project(folder)
    with project.store(read_only=True) as store:
        cube = build_series_set(store, project.config, "leads")
    job = MetricJob("count", cube.start, cube.days, ("unit",), project.config.detection_for("leads"), "UTC")
    annotations = load_timeline(project.annotations_dir, "UTC")
    n = len(cube.keys)
    started = time.process_time()
    for lo in range(0, n, BUCKET_SERIES):
        hi = min(lo + BUCKET_SERIES, n)
        block = cube.values[lo:hi]
        cells = pa.StructArray.from_arrays(
            [pa.array(np.tile(np.arange(cube.days, dtype=np.int32), hi - lo)), pa.array(block.ravel()), pa.array(np.zeros(block.size))],
            names=["day", "v", "den"],
        )
        offsets = pa.array(np.arange(0, block.size + 1, cube.days, dtype=np.int32))
        bucket = pa.table({
            "metric": ["leads"] * (hi - lo),
            "d_0": [s.get("unit") for s in cube.segments[lo:hi]],
            "segment_key": cube.keys[lo:hi],
            "cells": pa.ListArray.from_arrays(offsets, cells),
            "previous": pa.nulls(hi - lo, pa.string()),
        })
        detect_bucket(bucket, {"leads": job}, annotations)
    return dict(series=n, cpu_seconds=time.process_time() - started)


def spark_report(n: int, cores: list[int]) -> None:
    """Both engines on the same store, then the per-series cost and the 10M estimate."""
    with tempfile.TemporaryDirectory() as tmp:
        built = Path(tmp) / "built"
        child("--build-into", str(built), str(n), "white")
        rows = {}
        for engine, flag in (("local", "--scan"), ("spark", "--scan-spark")):
            work = Path(tmp) / engine
            shutil.copytree(built, work)
            rows[engine] = json.loads(child(flag, str(work)))
        cost = json.loads(child("--bucket-cost", str(built)))
    print(f"{'engine':>7} {'series':>8} {'scan s':>8} {'series/s':>9} {'session s':>9} {'anomalies':>9} {'recall':>7}")
    for engine, r in rows.items():
        session = f"{r['session_seconds']:>9.1f}" if "session_seconds" in r else f"{'-':>9}"
        print(
            f"{engine:>7} {r['series']:>8,} {r['seconds']:>8.1f} {r['series'] / r['seconds']:>9,.0f} {session} "
            f"{r['anomalies']:>9,} {r['recall']:>7.3f}"
        )
    per_series = cost["cpu_seconds"] / cost["series"]
    print(
        f"Per-series cost of the distributed stage (detect_bucket: fingerprint, pre-screen, detection; "
        f"{rows['local']['candidates']:,} of {cost['series']:,} series passed the pre-screen): "
        f"{per_series * 1e3:.2f} ms CPU ({cost['cpu_seconds']:.1f} s CPU for {cost['series']:,} series)"
    )
    for n_cores in cores:
        estimate = 10_000_000 * per_series / n_cores
        print(f"Estimate, 10M series on {n_cores} executor cores: 10M x {per_series * 1e3:.2f} ms / {n_cores} = {estimate:,.0f} s "
              "for that stage (cube aggregation, scheduling, driver-side linking and storing not included)")


def child(*args: str) -> str:
    """Run this script in a fresh Python process; its stdout."""
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"benchmark step {' '.join(args)} failed")
    return done.stdout


def run_case(n: int, noise: str, cache: Path | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "p"
        if cache is None:
            child("--build-into", str(work), str(n), noise)
        else:
            built = cache / f"{n}-{noise}"
            if not (built / "truth.pkl").exists():
                shutil.rmtree(built, ignore_errors=True)
                child("--build-into", str(built), str(n), noise)
            shutil.copytree(built, work)  # a pristine store: no scan state from earlier runs
        return json.loads(child("--scan", str(work)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--noise", nargs="+", default=["white", "ar1"])
    parser.add_argument("--cache", type=Path, help="keep built stores here and reuse them")
    parser.add_argument("--pelt-sample", type=int, default=1000, help="series in the plain-Pelt comparison (0: skip)")
    parser.add_argument("--engine", choices=["local", "spark"], default="local",
                        help="spark: both engines on the same store, plus the 10M-series estimate")
    parser.add_argument("--cores", type=int, nargs="+", default=[64, 512], help="executor cores of the estimate (--engine spark)")
    parser.add_argument("--scan-spark", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--bucket-cost", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--build-into", nargs=3, metavar=("DIR", "N", "NOISE"), help=argparse.SUPPRESS)
    parser.add_argument("--scan", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--cube", type=int, nargs="+", metavar="SIZE", help="scan a wide cube instead: one dimension per size")
    parser.add_argument("--build-cube-into", nargs="+", metavar="DIR SIZE", help=argparse.SUPPRESS)
    parser.add_argument("--scan-cube", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_cube_into:
        build_cube_project(Path(args.build_cube_into[0]), [int(v) for v in args.build_cube_into[1:]])
        return
    if args.scan_cube:
        print(json.dumps(scan_cube_once(args.scan_cube)))
        return
    if args.cube:
        cube_report(args.cube, args.cache)
        return
    if args.build_into:
        folder, n, noise = args.build_into
        build_project(Path(folder), int(n) - 1, noise, seed=int(n))
        return
    if args.scan:
        print(json.dumps(scan_once(args.scan)))
        return
    if args.scan_spark:
        print(json.dumps(scan_spark_once(args.scan_spark)))
        return
    if args.bucket_cost:
        print(json.dumps(bucket_cost(args.bucket_cost)))
        return
    if args.engine == "spark":
        for n in args.series:
            spark_report(n, args.cores)
        return
    print(
        f"{'series':>8} {'noise':>6} {'scan s':>8} {'CPU s':>6} {'series/s':>9} {'scan RSS':>9} {'worker RSS':>10} "
        f"{'candidates':>10} {'anomalies':>9} {'recall':>7} {'screen recall':>13}"
    )
    for n in args.series:
        for noise in args.noise:
            r = run_case(n, noise, args.cache)
            print(
                f"{r['series']:>8,} {noise:>6} {r['seconds']:>8.1f} {r['cpu']:>6.1f} {r['series'] / r['seconds']:>9,.0f} "
                f"{r['own_gb']:>7.2f}GB {r['workers_gb']:>8.2f}GB {r['candidates']:>10,} {r['anomalies']:>9,} "
                f"{r['recall']:>7.3f} {r['screen_recall']:>13.3f}",
                flush=True,
            )
            print_kernels(r)
    if args.pelt_sample:
        from detect import pelt_report  # benchmarks/detect.py, beside this file

        print("Plain per-series ruptures on a sample, against pre-screen + detector, same run:")
        pelt_report(args.pelt_sample)


if __name__ == "__main__":
    main()
