"""Benchmark of the pre-screen and the detector on synthetic series (prints, never asserts).

Usage: python benchmarks/detect.py [--quick]

For 10k and 100k series x 730 days (--quick: 10k only), white and AR(1) noise: pre-screen
time, series/s, peak memory, recall against the injected truth and the share kept; then
find_changes time per candidate. Finally, on a 1k sample (--quick: 100), the same
detection as a plain per-series ruptures Pelt(model="l2") loop versus pre-screen +
find_changes, as a time ratio measured in this run.
"""
from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect import find_changes, prescreen
from ctxmetrics.detect.noise import _noise
from ctxmetrics.detect.prepare import _prepare
from ctxmetrics.synth import many_series

SETTINGS = DetectionSettings()
DAYS = 730
DETECT_SAMPLE = 2000  # candidates timed per configuration


def timed(fn, *args, **kwargs):
    """(result, seconds) of one call."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def peak_prescreen_mb(matrix) -> float:
    """Peak traced allocation (MB) of one pre-screen run, the input excluded."""
    tracemalloc.start()
    prescreen(matrix, SETTINGS)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def screen_report(n: int, noise: str) -> None:
    """Pre-screen and find_changes figures for one size and noise type."""
    matrix, truth = many_series(n, days=DAYS, shift_fraction=0.05, noise=noise, seed=11)
    prescreen(matrix[:1000], SETTINGS)  # warm-up: thread pool, first-touch of numpy paths
    keep, seconds = timed(prescreen, matrix, SETTINGS)
    effect_rows = np.array(sorted({t.row for t in truth}))
    recall = keep[effect_rows].mean()
    print(
        f"  {n:>7,} x {DAYS} {noise:<5}  prescreen {seconds:6.2f} s  {n / seconds:>9,.0f} series/s  "
        f"peak +{peak_prescreen_mb(matrix):6.0f} MB (input {matrix.nbytes / 2**20:.0f} MB)  "
        f"recall {recall:.3f} ({len(effect_rows)} effects)  kept {keep.mean():.1%}"
    )
    candidates = np.flatnonzero(keep)[:DETECT_SAMPLE]
    found, seconds = timed(lambda: [find_changes(matrix[i], settings=SETTINGS) for i in candidates])
    true_rows = set(effect_rows.tolist())
    flagged = [int(i) for k, i in enumerate(candidates) if found[k]]
    hits = sum(i in true_rows for i in flagged)
    print(
        f"  {'':>7}   find_changes {1e3 * seconds / len(candidates):.2f} ms per candidate "
        f"({len(candidates)} timed; {len(flagged)} flagged: {hits} with an injected effect, "
        f"{len(flagged) - hits} clean)"
    )


def pelt_loop(matrix) -> list[list[int]]:
    """The plain approach: every series, same stabilisation and penalty, ruptures Pelt."""
    import ruptures as rpt

    out = []
    for row in matrix:
        series = _prepare(row, SETTINGS, "count", None, None, 0)
        if series is None:
            out.append([])
            continue
        noise = _noise(series, SETTINGS)
        penalty = 0.5 * SETTINGS.min_score**2 * noise.lrv
        algo = rpt.Pelt(model="l2", min_size=SETTINGS.min_segment_days, jump=5).fit(series.y)
        out.append(algo.predict(pen=penalty)[:-1])
    return out


def ours(matrix) -> list[list]:
    """Pre-screen, then find_changes on the kept rows only."""
    keep = prescreen(matrix, SETTINGS)
    return [find_changes(row, settings=SETTINGS) if k else [] for row, k in zip(matrix, keep)]


def pelt_report(n: int) -> None:
    """Time ratio of the Pelt loop to pre-screen + find_changes on the same rows."""
    import ruptures  # noqa: F401  (import cost kept out of both timings)

    import ctxmetrics.detect.kernels  # noqa: F401  (so is loading the detector's compiled kernels)

    matrix, _ = many_series(n, days=DAYS, shift_fraction=0.05, noise="white", seed=12)
    _, t_pelt = timed(pelt_loop, matrix)
    _, t_ours = timed(ours, matrix)
    print(
        f"  {n} series: Pelt(model='l2', jump=5, min_size={SETTINGS.min_segment_days}) loop {t_pelt:.2f} s "
        f"({1e3 * t_pelt / n:.1f} ms/series); prescreen + find_changes {t_ours:.2f} s "
        f"({1e3 * t_ours / n:.2f} ms/series); ratio {t_pelt / t_ours:.0f}x"
    )
    print("  (jump=5 keeps Pelt bearable: change points only every 5th day; jump=1 is ~25x slower)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k series only, 100-series Pelt sample")
    args = parser.parse_args()
    sizes = (10_000,) if args.quick else (10_000, 100_000)
    print(f"ctxmetrics detect benchmark ({DAYS} days per series, settings {SETTINGS})")
    print("pre-screen (recall = share of rows with an injected effect that are kept):")
    for n in sizes:
        for noise in ("white", "ar1"):
            screen_report(n, noise)
    print("plain per-series ruptures vs ours:")
    pelt_report(100 if args.quick else 1000)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
