"""Timeline of one whole scan: what runs when, and where a core idles (issues 9 and 15).

Scans a fresh copy of a store built by `benchmarks/scan.py --cache DIR` (DIR/100000-white,
DIR/cube-15x12x10x6x4, ...) and prints, per phase of the scan process, its calls, wall
and CPU seconds (the process's CPU, its threads included, so a phase that overlaps another
thread counts that thread's CPU too) and when it first started and last ended (seconds into
the scan); per forked detector worker when it was forked, its first and last batch and its
busy wall and CPU seconds; how long the scan process ran alone before and after the
workers, and the core-seconds left idle on 2 cores (2 x wall - all CPU: on a shared machine
also the time other jobs held the cores). Phases are timed by wrapping the scan's own
functions in this process (the scan code is not changed), which adds a little overhead.

Usage: PYTHONPATH=<tree> python benchmarks/scan_timeline.py DIR/100000-white
"""
from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

EVENTS: list[tuple[str, str, float, float, float, float]] = []  # (who, phase, wall0, wall1, cpu0, cpu1)
BATCHES = Path(tempfile.gettempdir()) / f"scan_timeline_{os.getpid()}.jsonl"  # the workers write their batches here
PARENT = os.getpid()


def timed(module, name: str, label: str | None = None) -> None:
    """Replace `module.name` by a wrapper that records its wall and CPU time in this process
    and, called in a forked worker, writes each call to BATCHES instead."""
    inner = getattr(module, name, None)
    if inner is None:  # a phase this version of the scan does not have
        return

    @functools.wraps(inner)
    def wrapper(*args, **kwargs):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            t1, c1 = time.perf_counter(), time.process_time()
            if os.getpid() == PARENT:
                EVENTS.append(("scan", label or name, t0, t1, c0, c1))
            else:
                with BATCHES.open("a") as out:
                    out.write(json.dumps([os.getpid(), t0, t1, c0, c1, len(args[0])]) + "\n")

    setattr(module, name, wrapper)


def main(store: Path) -> None:
    import ctxmetrics.detect as detect
    import ctxmetrics.explain.cube as cube
    import ctxmetrics.explain.drivers as drivers
    import ctxmetrics.explain.explain as explain
    import ctxmetrics.scan.effects as effects
    import ctxmetrics.scan.latest as latest
    import ctxmetrics.scan.restatements as restatements
    import ctxmetrics.scan.scan as scan
    import ctxmetrics.store.results as results
    from ctxmetrics.project import Project

    for module, name, label in [
        (scan, "load_anomalies", None), (scan, "load_state", None), (scan, "build_series_set", "read store, build cube"),
        (scan, "known_masks", None), (scan, "fingerprint_rows", None), (detect, "too_small", None),
        (scan, "screen", "pre-screen (a chunk)"), (scan, "_import_detector_libraries", "import ruptures, scipy (thread)"),
        (scan, "_detect_rows", "detect a batch"), (latest, "latest_windows", None),
        (cube, "linking_cube", "explain's cube"), (drivers, "prepare_cube_days", "explain's cube days (thread)"),
        (latest, "latest_changes", None),
        (explain, "explain_anomalies", None), (restatements, "drop_restatements", None), (explain, "link_anomalies", None),
        (effects, "expected_effects", None), (results, "save_annotation_mirror", None), (results, "save_scan", None),
        (results, "save_gaps", None),
    ]:
        timed(module, name, label)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "p"
        shutil.copytree(store, work)
        started, cpu = time.perf_counter(), time.process_time()
        result = scan.scan_project(Project(work))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = children.ru_utime + children.ru_stime
    print(f"scan {wall:.2f} s wall; CPU: scan process {cpu:.2f} s, forked processes {child_cpu:.2f} s; "
          f"{result.candidates:,} candidates, {result.anomalies:,} anomalies; "
          f"RSS {own.ru_maxrss / 1024**2:.2f} + {children.ru_maxrss / 1024**2:.2f} GB")
    phases: dict[str, list[float]] = {}
    for _, label, t0, t1, c0, c1 in EVENTS:
        p = phases.setdefault(label, [0, 0.0, 0.0, t0 - started, 0.0])
        p[0] += 1
        p[1] += t1 - t0
        p[2] += c1 - c0
        p[3], p[4] = min(p[3], t0 - started), max(p[4], t1 - started)
    print(f"{'phase (scan process)':32} {'calls':>5} {'wall s':>7} {'CPU s':>7} {'from':>7} {'to':>7}")
    for label, (n, w, c, first, last) in sorted(phases.items(), key=lambda kv: kv[1][3]):
        print(f"{label:32} {n:>5} {w:>7.2f} {c:>7.2f} {first:>7.2f} {last:>7.2f}")
    workers: dict[int, dict] = {}
    for line in BATCHES.read_text().splitlines() if BATCHES.exists() else []:
        pid, t0, t1, c0, c1, rows = json.loads(line)
        w = workers.setdefault(pid, dict(first=t0 - started, last=0.0, busy=0.0, cpu=0.0, batches=0, rows=0))
        w["first"], w["last"] = min(w["first"], t0 - started), max(w["last"], t1 - started)
        w["busy"] += t1 - t0
        w["cpu"] += c1 - c0
        w["batches"] += 1
        w["rows"] += rows
    BATCHES.unlink(missing_ok=True)
    for pid, w in sorted(workers.items()):
        print(f"detector worker {pid}: batches {w['first']:.2f}-{w['last']:.2f} s, {w['batches']} batches, {w['rows']:,} rows, "
              f"busy {w['busy']:.2f} s wall, {w['cpu']:.2f} s CPU")
    if workers:
        first, last = min(w["first"] for w in workers.values()), max(w["last"] for w in workers.values())
        print(f"scan process alone: {first:.2f} s before the workers, {wall - last:.2f} s after them")
    print(f"core-seconds idle on 2 cores (2 x wall - all CPU): {2 * wall - cpu - child_cpu:.2f} of {2 * wall:.2f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
