"""Cold `ctxmetrics why` on a large store: fresh processes, wall and CPU time.

Builds a project whose store holds 10M observations (5 funnel metrics x 50 regions x
40 channels x 1,000 days, inserted with DuckDB SQL), ~20k stored anomalies and the scan
state of every series, then times `python -m ctxmetrics --project P why leads --segment
region=r1` in fresh processes (median of 10, wall and CPU time) and the import time of
that path.

    python benchmarks/why.py [--dir DIR] [--runs 10]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METRICS = ("leads", "mql", "sql", "opportunities", "won")
REGIONS, CHANNELS, DAYS = 50, 40, 1000
START = dt.date(2023, 1, 1)


def build(root: Path) -> Path:
    import numpy as np
    import polars as pl

    from ctxmetrics.models.anomaly import Anomaly, Cause
    from ctxmetrics.config import DEMO_CONFIG_TEXT
    from ctxmetrics.project import Project, init_project

    root = init_project(root, DEMO_CONFIG_TEXT)
    project = Project(root)
    leaves = REGIONS * CHANNELS
    total = len(METRICS) * leaves * DAYS
    t0 = time.perf_counter()
    with project.store() as store:
        store.add_dimensions(["region", "channel"])
        metrics = "[" + ", ".join(f"'{m}'" for m in METRICS) + "]"
        store.con.execute(
            f"""insert into obs (metric, ts, value, region, channel)
            select {metrics}[(i % {len(METRICS)}) + 1],
                   date '{START}' + (i // {len(METRICS) * leaves})::integer,
                   round(20 + 10 * random()),
                   'r' || ((i // {len(METRICS)}) % {leaves}) // {CHANNELS},
                   'c' || ((i // {len(METRICS)}) % {leaves}) % {CHANNELS}
            from range({total}) t(i)"""
        ).fetchall()
        n = store.con.execute("select count(*) from obs").fetchall()[0][0]
        print(f"store: {n:,} observations inserted in {time.perf_counter() - t0:.1f}s")

        segments = [{}] + [{"region": f"r{r}"} for r in range(REGIONS)] + [{"channel": f"c{c}"} for c in range(CHANNELS)]
        segments += [{"region": f"r{r}", "channel": f"c{c}"} for r in range(REGIONS) for c in range(CHANNELS)]
        from ctxmetrics.models.segments import segment_key

        state = pl.DataFrame(
            [(m, segment_key(s), "0" * 32) for m in METRICS for s in segments],
            schema=[("metric", pl.Utf8), ("segment_key", pl.Utf8), ("fingerprint", pl.Utf8)], orient="row",
        )
        rng = np.random.default_rng(0)
        rows = []
        for i in range(20_000):
            metric = METRICS[i % len(METRICS)]
            segment = segments[int(rng.integers(len(segments)))] if i % 10 else {"region": "r1"}
            start = START + dt.timedelta(days=int(rng.integers(30, DAYS - 30)))
            end = None if i % 3 == 0 else start + dt.timedelta(days=int(rng.integers(0, 14)))
            a = Anomaly(metric, dict(segment), "level_shift" if end is None else "spike", "up", start, end,
                        100.0, 150.0, 50.0, 7.0, 25.0,
                        causes=[Cause("spring-promo", "Spring promo", "campaign", 0.8, "starts 1 day before the change")] if i % 2 else [],
                        drivers=[{"segment": {"region": "r1", "channel": "c1"}, "share": 0.8}])
            rows.append((a.id, a.metric, a.segment_key, json.dumps(a.segment), a.kind, a.direction, a.start, a.end,
                         a.before, a.after, a.change_pct, a.score, a.volume, a.explained, json.dumps(a.to_json()),
                         "{}", dt.datetime(2026, 1, 1)))
        anomalies = pl.DataFrame(rows, orient="row", schema=[
            ("id", pl.Utf8), ("metric", pl.Utf8), ("segment_key", pl.Utf8), ("segment", pl.Utf8), ("kind", pl.Utf8),
            ("direction", pl.Utf8), ("start_day", pl.Date), ("end_day", pl.Date), ("before", pl.Float64),
            ("after", pl.Float64), ("change_pct", pl.Float64), ("score", pl.Float64), ("volume", pl.Float64),
            ("explained", pl.Boolean), ("data", pl.Utf8), ("settings", pl.Utf8), ("scanned_at", pl.Datetime("us")),
        ])
        for table, frame in (("scan_state", state), ("anomalies", anomalies)):
            store.con.register("_rows", frame)
            store.con.execute(f"insert into {table} select * from _rows")
            store.con.unregister("_rows")
        print(f"stored {anomalies.height:,} anomalies and {state.height:,} series states")
    return root


def time_why(root: Path, runs: int, args: list[str]) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system, all threads) seconds of each fresh process. CPU time
    moves far less than wall time when other work shares the machine."""
    command = [sys.executable, "-m", "ctxmetrics", "--project", str(root), "why", *args]
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if result.returncode != 0:
            raise SystemExit(f"why failed: {result.stderr.strip()}")
    return walls, cpus


def import_time(root: Path, args: list[str]) -> tuple[float, list[str]]:
    command = [sys.executable, "-X", "importtime", "-m", "ctxmetrics", "--project", str(root), "why", *args]
    err = subprocess.run(command, capture_output=True, text=True).stderr
    total, heavy = 0, []
    for line in err.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        if len(m.group(2)) == 1:  # top-level import
            total += int(m.group(1))
        if m.group(3).split(".")[0] in ("ruptures", "scipy", "numpy", "polars") or m.group(3) in (
            "ctxmetrics.scan.scan", "ctxmetrics.store.series", "ctxmetrics.detect"
        ):
            heavy.append(m.group(3))
    return total / 1e6, sorted(set(heavy))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="Where to build the project (default: a temporary folder).")
    parser.add_argument("--runs", type=int, default=10)
    opts = parser.parse_args()
    base = opts.dir or Path(tempfile.mkdtemp(prefix="ctxmetrics-why-"))
    root = base / "project"
    if not (root / "ctxmetrics.yaml").exists():
        root = build(root)
    for args in (["leads", "--segment", "region=r1"], ["leads", "--segment", "region=r1", "--on", "2024-06-01", "--json"]):
        times, cpus = time_why(root, opts.runs, args)
        print(f"why {' '.join(args)}: median {statistics.median(times) * 1000:.0f} ms wall "
              f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}), "
              f"{statistics.median(cpus) * 1000:.0f} ms CPU; {opts.runs} fresh processes")
    seconds, heavy = import_time(root, ["leads", "--segment", "region=r1"])
    print(f"imports of the why path: {seconds * 1000:.0f} ms; heavy modules imported: {', '.join(heavy) or 'none'}")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    print(f"bare interpreter start: {(time.perf_counter() - t0) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
