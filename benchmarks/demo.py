"""`ctxmetrics demo` end to end (generate, ingest, scan, digest with charts): wall time of
fresh processes, median of N.

    python benchmarks/demo.py [--runs 3]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    times = []
    for _ in range(opts.runs):
        with tempfile.TemporaryDirectory(prefix="ctxmetrics-demo-") as folder:
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ctxmetrics", "demo", str(Path(folder) / "acme")],
                           check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - began)
    print(f"ctxmetrics demo: median {statistics.median(times):.1f} s wall (min {min(times):.1f}, "
          f"max {max(times):.1f}); {opts.runs} fresh processes")


if __name__ == "__main__":
    main()
