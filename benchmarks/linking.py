"""Explaining and linking many anomalies that start the same day, in a wide cube.

A 5-dimension cube (default 15 x 12 x 10 x 6 x 4: 43,200 leaves, 80,080 series with every
rollup) of daily counts over 120 days; two cells drop by half for the last 10 days. Then
N anomalies on randomly chosen series, all starting that day, go through
`explain_anomalies` (root cause of every rollup anomaly, funnel and correlated links, one
scoped event to match). Timed for growing N: near-linear work shows as a flat time per
anomaly. The correlated linking step is also timed on its own.

With --steps, each step a scan runs after the detector is timed on its own instead, in
one process (CPU seconds), against the number of anomalies: root causes (in a scan they
run in forked workers; here one after another), the restatement and crossing-scope
screens, the funnel and correlated links, and the stored rows with their JSON. Here a
fifth of the anomalies start on one of the 20 days before the change day, so the screens
have pairs dated apart to read. Near-linear steps show a flat CPU per anomaly.

    PYTHONPATH=$PWD python3 benchmarks/linking.py --anomalies 2500 5000 10000 22000
    PYTHONPATH=$PWD python3 benchmarks/linking.py --steps --anomalies 5000 10000 20000 40000
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from itertools import combinations, product
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ctxmetrics.models.anomaly import Anomaly  # noqa: E402
from ctxmetrics.config import Config  # noqa: E402
from ctxmetrics.explain.explain import explain_anomalies  # noqa: E402
from ctxmetrics.explain.related import _link_correlated  # noqa: E402
from ctxmetrics.models.series import SeriesSet  # noqa: E402
from ctxmetrics.models.annotation import Annotation  # noqa: E402

START = dt.date(2026, 1, 1)
DAYS = 120
CHANGE_DAY = DAYS - 10


def build_cube(shape: tuple[int, ...], seed: int = 1) -> SeriesSet:
    rng = np.random.default_rng(seed)
    dims = [f"d{j}" for j in range(len(shape))]
    leaf_codes = np.array(list(product(*(range(c) for c in shape))))
    leaves = rng.poisson(rng.lognormal(2.0, 1.0, len(leaf_codes))[:, None], (len(leaf_codes), DAYS)).astype(float)
    leaves[[3, 4000], CHANGE_DAY:] *= 0.5
    segments, blocks = [], []
    for layer in range(len(dims) + 1):
        for combo in combinations(range(len(dims)), layer):
            keys, ids = np.unique(leaf_codes[:, list(combo)], axis=0, return_inverse=True)
            sums = np.zeros((len(keys), DAYS))
            np.add.at(sums, ids.reshape(-1), leaves)
            segments += [{dims[j]: f"{dims[j]}v{k[i]}" for i, j in enumerate(combo)} for k in keys]
            blocks.append(sums)
    return SeriesSet("leads", "count", START, segments, np.vstack(blocks))


def anomalies_on(series_set: SeriesSet, n: int, seed: int = 2, spread: float = 0.0) -> list[Anomaly]:
    """`n` anomalies on random series, starting on the change day; with `spread`, that
    share of them on one of the 20 days before it instead, with random scores."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(series_set.segments), n, replace=False)
    days = np.where(rng.random(n) < spread, CHANGE_DAY - rng.integers(1, 21, n), CHANGE_DAY)
    scores = np.round(rng.uniform(4.0, 12.0, n), 1) if spread else np.full(n, 6.0)
    return [
        Anomaly("leads", dict(series_set.segments[r]), "level_shift", "down", series_set.day(int(d)), None, 10.0,
                5.0, -50.0, float(score), float(series_set.values[r].mean()))
        for r, d, score in zip(rows, days, scores)
    ]


def time_steps(cube: SeriesSet, config: Config, sizes: list[int]) -> None:
    """CPU seconds of each step after the detector against the number of anomalies."""
    from ctxmetrics.explain.cube import _Cube
    from ctxmetrics.explain.related import _link_funnel
    from ctxmetrics.scan.crossings import crossing_echoes
    from ctxmetrics.scan.restatements import restatements
    from ctxmetrics.store.results import result_frames

    linking = _Cube(cube)
    steps = {
        "root causes": lambda found: [linking.root_cause(a) for a in found],
        "restatements": restatements,
        "crossings": lambda found: crossing_echoes(found, {"leads": cube}),
        "funnel links": lambda found: _link_funnel(found, config),
        "correlated": lambda found: _link_correlated(found, config),
        "stored rows": lambda found: result_frames(found, config),
    }
    print("CPU s (µs per anomaly) of each step, one process")
    print(f"{'anomalies':>9} " + " ".join(f"{name:>20}" for name in steps))
    for n in sizes:
        found = anomalies_on(cube, n, spread=0.2)
        for a in found:
            linking.prepare(a)  # the window expectations, computed once before the workers in a scan
        spent = []
        for step in steps.values():
            c0 = time.process_time()
            step(found)
            spent.append(time.process_time() - c0)
        print(f"{n:9,d} " + " ".join(f"{cpu:8.2f} ({1e6 * cpu / n:8.1f})" for cpu in spent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anomalies", type=int, nargs="+", default=[2500, 5000, 10000, 22000])
    parser.add_argument("--shape", type=int, nargs="+", default=[15, 12, 10, 6, 4])
    parser.add_argument("--steps", action="store_true", help="time each step after the detector on its own")
    args = parser.parse_args()
    began = time.perf_counter()
    cube = build_cube(tuple(args.shape))
    print(f"cube {'x'.join(map(str, args.shape))}: {len(cube.segments):,} series, built in "
          f"{time.perf_counter() - began:.1f} s")
    config = Config(funnel=("leads",))
    if args.steps:
        time_steps(cube, config, args.anomalies)
        return
    event = Annotation(id="migration", title="Partner migration", type="release", start=cube.day(CHANGE_DAY),
                       end=None, scope={"d0": ("d0v0",)}, metrics=(), expect="down")
    # CPU seconds of this process beside the wall clock: on a shared machine the wall
    # clock also counts the time other processes held the cores
    print(f"{'anomalies':>9} {'explain s':>10} {'CPU s':>6} {'CPU ms/anomaly':>15} {'correlated s':>13} {'CPU s':>6} {'CPU ms/anomaly':>15}")
    for n in args.anomalies:
        found = anomalies_on(cube, n)
        t0, c0 = time.perf_counter(), time.process_time()
        explain_anomalies(found, [event], {"leads": cube}, config, {})
        spent, cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        _link_correlated(found, config)
        linking, link_cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{n:9,d} {spent:10.2f} {cpu:6.2f} {1000 * cpu / n:15.3f} {linking:13.2f} {link_cpu:6.2f} {1000 * link_cpu / n:15.3f}")


if __name__ == "__main__":
    main()
