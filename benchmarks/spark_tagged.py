"""What testing tagged windows costs the Spark engine, and that it stores what the local engine stores.

Builds the store of benchmarks/scan.py (N series × 730 days: N-1 units and their total,
~5% of units with an injected effect) and a timeline of K one-week events, each scoped to
one unit: half on units with an injected effect, starting at it (the search finds most of
them: the overlap rule), half on clean units (decoys), plus one global release without an
end (a lasting step on the total). Then, in one Spark session (local[*], started apart):

0. a warm-up scan of another copy (the first scan of a session pays for the JVM's warm-up);
1. a Spark scan of a fresh copy without the timeline, and one with it: the cost of the
   tagged windows in a whole scan (their series read first, then tested beside detection);
2. on the first copy, a scan with nothing changed, then the timeline added and scanned
   again: nothing is detected again, only the tagged windows are tested (a new tag's cost);
3. a local scan of a fresh copy with the timeline: both engines' stored anomalies compared.

Wall seconds; on a shared machine they include the time other processes held the cores.

Usage: python benchmarks/spark_tagged.py [--series 2000] [--tags 100]
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from scan import DAYS, build_project, spark_session  # noqa: E402  (benchmarks/scan.py)

FIRST_DAY = dt.date(2024, 1, 1)  # benchmarks/scan.py's first day
WEEK = 7


def timeline(folder: Path, n_series: int, tags: int) -> list[dict]:
    """K one-week events on single units (half where an effect was injected) and a global release."""
    import pickle

    truth = pickle.loads((folder / "truth.pkl").read_bytes())  # (unit, start day) of the injected effects
    effected = {row for row, _ in truth}
    on_effects = [(row, start) for row, start in truth if start + WEEK <= DAYS][: tags // 2]
    clean = [row for row in range(n_series - 1) if row not in effected][: tags - len(on_effects)]
    decoys = [(row, 100 + (37 * i) % (DAYS - 200)) for i, row in enumerate(clean)]
    events = [
        {"id": f"tag-{row}-{start}", "title": f"Unit {row} week", "type": "other",
         "start": (FIRST_DAY + dt.timedelta(days=start)).isoformat(),
         "end": (FIRST_DAY + dt.timedelta(days=start + WEEK - 1)).isoformat(), "scope": {"unit": [str(row)]}}
        for row, start in on_effects + decoys
    ]
    events.append({"id": "new-crm", "title": "New CRM", "type": "release", "start": "2025-03-03"})
    return events


def timed_scan(project, engine: str):
    from ctxmetrics.scan.scan import scan_project

    started = time.perf_counter()
    result = scan_project(project, engine=engine)
    return result, time.perf_counter() - started


def found(project) -> list[tuple]:
    from ctxmetrics.store.results import load_anomalies

    with project.store(read_only=True) as store:
        return sorted((a.id, a.score, a.found_by, repr(a.tagged)) for a in load_anomalies(store))


def main() -> None:
    from ctxmetrics.project import Project
    from ctxmetrics.scan.tagged import FOUND_BY

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--tags", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        built = Path(tmp) / "built"
        build_project(built, args.series - 1, "white", seed=7)
        text = yaml.safe_dump(timeline(built, args.series, args.tags), sort_keys=False)
        copies = {}
        for name in ("warm-up", "untagged", "tagged", "local"):
            copies[name] = Project(shutil.copytree(built, Path(tmp) / name))
        for name in ("tagged", "local"):
            (copies[name].annotations_dir / "events.yaml").write_text(text)
        started = time.perf_counter()
        spark_session().sparkContext.setLogLevel("ERROR")
        print(f"Spark session started in {time.perf_counter() - started:.1f} s")
        rows = []

        def scan(label: str, project, engine: str) -> None:
            result, seconds = timed_scan(project, engine)
            tagged = sum(a[2] == FOUND_BY for a in found(project))
            rows.append((label, result, seconds, tagged))

        timed_scan(copies["warm-up"], "spark")
        scan("Spark, no timeline", copies["untagged"], "spark")
        scan("Spark, tagged", copies["tagged"], "spark")
        scan("Spark, nothing changed", copies["untagged"], "spark")
        (copies["untagged"].annotations_dir / "events.yaml").write_text(text)
        scan("Spark, timeline added", copies["untagged"], "spark")
        scan("local, tagged", copies["local"], "local")
        print(f"{args.series:,} series x {DAYS} days, {args.tags + 1} tagged windows")
        print(f"{'scan':<24} {'seconds':>8} {'rescanned':>9} {'anomalies':>9} {'tagged':>7}")
        for label, result, seconds, tagged in rows:
            print(f"{label:<24} {seconds:>8.1f} {result.rescanned:>9,} {result.anomalies:>9,} {tagged:>7}")
        same = found(copies["tagged"]) == found(copies["local"]) == found(copies["untagged"])
        print(f"Stored anomalies (ids, scores, found_by, tagged) identical on both engines: {same}")


if __name__ == "__main__":
    main()
