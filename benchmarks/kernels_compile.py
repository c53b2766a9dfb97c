"""How long the detector's numba kernels take to compile on a fresh install, and to load
from numba's disk cache afterwards.

Each measurement runs in a fresh Python process whose `NUMBA_CACHE_DIR` is a new empty
directory (numba then caches there, not beside `detect/kernels.py`, so the checkout's own
cache is neither read nor written):

1. cold: `import ctxmetrics.detect.kernels` (and `kernels_episodes`, the episode scan's)
   compiles every kernel it compiles at import;
   numba's "numba:compile" events give each kernel's own seconds (wall and CPU, a
   kernel's compile less the compiles nested in it), and the import's total;
2. warm: a second fresh process with the same cache dir loads the same kernels from it;
3. first call (with --calls): a third fresh process, same cache dir, runs the detector on
   a few synthetic series and a small pre-screen batch, and reports any kernel that was
   compiled only then (lazily) or loaded from the cache at first call.

numba's own import (numpy, llvmlite) is timed apart from the kernels'. The machine's load
(`os.getloadavg`) is printed beside the figures: on shared cores the wall clock also
counts other processes' time.

Usage: python benchmarks/kernels_compile.py [--repeat 1] [--top 15] [--calls]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run in the child: records each kernel's compile, wall and CPU seconds, less those of the
# project's kernels compiled inside it; numba's own compiled helpers (np.partition's
# overloads, say) count in the kernel that needed them.
_CHILD = r"""
import json, os, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import numba
from numba.core import event
t1, c1 = time.perf_counter(), time.process_time()

class Timer(event.Listener):
    def __init__(self):
        self.stack, self.rows = [], []
    def on_start(self, ev):
        if _ours(ev):
            self.stack.append([time.perf_counter(), time.process_time(), 0.0, 0.0])
    def on_end(self, ev):
        if not _ours(ev):
            return
        w0, c0_, nested_w, nested_c = self.stack.pop()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0_
        if self.stack:
            self.stack[-1][2] += wall
            self.stack[-1][3] += cpu
        self.rows.append({"kernel": ev.data["dispatcher"].py_func.__name__, "args": str(ev.data["args"]),
                          "wall": wall - nested_w, "cpu": cpu - nested_c})

def _ours(ev):
    return ev.data["dispatcher"].py_func.__module__.startswith("ctxmetrics.")

timer = Timer()
event.register("numba:compile", timer)
import ctxmetrics.detect.kernels as kernels
import ctxmetrics.detect.kernels_episodes
t2, c2 = time.perf_counter(), time.process_time()
import_rows = list(timer.rows)
timer.rows.clear()
calls = {}
if sys.argv[1] == "calls":
    import numpy as np
    from ctxmetrics.detect import prescreen
    from ctxmetrics.detect.find import find_changes_many
    from ctxmetrics.config import DetectionSettings
    from ctxmetrics.synth import many_series
    t3 = time.perf_counter()
    values, _truth = many_series(400, 730, seed=3)
    keep = prescreen(values, DetectionSettings())
    find_changes_many(values[keep][:60].astype(np.float64), kind="count")
    calls = {"rows": timer.rows, "wall": time.perf_counter() - t3}
print(json.dumps({"numba_wall": t1 - t0, "numba_cpu": c1 - c0, "wall": t2 - t1, "cpu": c2 - c1,
                  "rows": import_rows, "calls": calls}))
"""


def _child(cache_dir: str, mode: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", _CHILD, mode], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"kernels_compile.py: the {mode} child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _per_kernel(rows: list[dict]) -> dict[str, list[float]]:
    """Each kernel's wall and CPU seconds, its signatures added up."""
    out: dict[str, list[float]] = {}
    for row in rows:
        total = out.setdefault(row["kernel"], [0.0, 0.0, 0])
        total[0] += row["wall"]
        total[1] += row["cpu"]
        total[2] += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="cold/warm pairs, each with a new cache dir")
    parser.add_argument("--top", type=int, default=15, help="kernels listed, slowest first (0: all)")
    parser.add_argument("--calls", action="store_true", help="also report kernels compiled at first call")
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
            load = os.getloadavg()[0]
            cold = _child(cache, "import")
            warm = _child(cache, "import")
            first = _child(cache, "calls") if args.calls else None
            runs.append((load, os.getloadavg()[0], cold, warm, first))
    for load0, load1, cold, warm, first in runs:
        kernels = _per_kernel(cold["rows"])
        print(f"load {load0:.1f} -> {load1:.1f} (1-min average, 2 cores shared)")
        print(f"  numba's own import: {cold['numba_wall']:.2f} s wall, {cold['numba_cpu']:.2f} s CPU")
        print(f"  cold import of detect/kernels.py and kernels_episodes.py: {cold['wall']:.1f} s wall, {cold['cpu']:.1f} s CPU; "
              f"{len(kernels)} kernels, {len(cold['rows'])} signatures compiled")
        print(f"  warm import (from the cache):     {warm['wall']:.2f} s wall, {warm['cpu']:.2f} s CPU")
        ranked = sorted(kernels.items(), key=lambda kv: -kv[1][1])
        shown = ranked if args.top == 0 else ranked[: args.top]
        print(f"  {'kernel':<28} {'sigs':>4} {'wall s':>7} {'CPU s':>7}")
        for name, (wall, cpu, sigs) in shown:
            print(f"  {name:<28} {sigs:>4} {wall:7.2f} {cpu:7.2f}")
        rest = ranked[len(shown):]
        if rest:
            print(f"  {'(the other ' + str(len(rest)) + ')':<28} {'':>4} {sum(r[1][0] for r in rest):7.2f} "
                  f"{sum(r[1][1] for r in rest):7.2f}")
        if first is not None:
            lazy = _per_kernel(first["calls"]["rows"])
            print(f"  first detection after a warm import ({first['calls']['wall']:.1f} s wall): "
                  + (", ".join(f"{k} {v[0]:.2f} s" for k, v in lazy.items()) or "no kernel compiled or loaded"))
    if len(runs) > 1:
        print(f"median of {len(runs)}: cold {statistics.median(r[2]['wall'] for r in runs):.1f} s wall, "
              f"{statistics.median(r[2]['cpu'] for r in runs):.1f} s CPU; warm "
              f"{statistics.median(r[3]['wall'] for r in runs):.2f} s wall")


if __name__ == "__main__":
    main()
