"""Information `localize` does not read yet, measured on the root-cause benchmarks' cubes.

Three questions from issue 15's single-cell misses (`drivers.py`, `drivers_e2e.py`):

- days: does the shape of a cell's deviation over the window's 3 days separate a changed
  cell from a noisy one beyond the window's sum? Per cell of the end-to-end cubes
  (`tests/test_rootcause_e2e.make_case`), each day against its weekday median of the 8
  weeks before (as drivers read it): the misfit of one factor over the 3 days (a lasting
  change fits one factor, a one-day burst does not; chi-square with 2 degrees of freedom
  when the days are independent), for changed and unchanged cells in the same band of
  window z. When both spread alike, the days add nothing the sum does not hold.
- noise: are the leaves' noise estimates calibrated at low volume? On the same cubes
  without a change (`null=True`), the window z of every cell by its daily level.
- bound: how strict is the first element's Bonferroni bound (5% over every candidate of
  every layer) against the actual distribution of the best element's gain on noise-only
  6 x 5 cubes (`drivers.make_case(single_cells=True, null=True)`)?

    PYTHONPATH=$PWD python3 benchmarks/drivers_signals.py
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from benchmarks.drivers import make_case as drivers_case  # noqa: E402
from benchmarks.drivers_e2e import cell_series  # noqa: E402
from ctxmetrics.explain.rootcause import (  # noqa: E402
    WeekdayBaseline, candidate_count, candidate_groups, encode_leaves, null_gain,
)
from test_rootcause_e2e import make_case  # noqa: E402

WINDOW = 3  # the last days, as in both benchmarks
WEEKS = 8  # history behind the expected values, as `explain` reads it for drivers
Z_BANDS = ((0.0, 2.0), (2.0, 3.5), (3.5, np.inf))
LEVEL_BANDS = ((0, 10), (10, 30), (30, 100), (100, 300), (300, np.inf))
CHI2_2DF_95 = 5.991  # 95% quantile of chi-square with 2 degrees of freedom


def day_scores(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(window z, misfit of one factor over the days, daily expected level) per row."""
    first = values.shape[1] - WINDOW
    baseline = WeekdayBaseline.before(values, first, WEEKS)
    expected, actual, noise = baseline.window(values, first, values.shape[1] - 1)
    daily = [baseline.window(values, d, d) for d in range(first, values.shape[1])]
    e, a, n = (np.stack([day[i] for day in daily], axis=1) for i in range(3))
    w = 1 / n**2
    with np.errstate(divide="ignore", invalid="ignore"):  # a cell expected at 0 on every day: no factor
        factor = np.nan_to_num((w * a * e).sum(axis=1) / (w * e * e).sum(axis=1))
    misfit = (w * (a - factor[:, None] * e) ** 2).sum(axis=1)
    return (actual - expected) / noise, misfit, expected / WINDOW


def days_report(seeds: range, severity: tuple[float, float], level: float) -> None:
    changed, unchanged = [], []
    for seed in seeds:
        data, truth = make_case(seed, severity, level)
        series = cell_series(data)
        z, misfit, _ = day_scores(np.array(list(series.values())))
        for (region, channel), zi, qi in zip(series, z, misfit):
            inside = any(all({"region": region, "channel": channel}[k] == v for k, v in t.items()) for t in truth)
            (changed if inside else unchanged).append((abs(zi), qi))
    print(f"days: e2e cubes, seeds {seeds.start}..{seeds.stop - 1}, severity {severity[0]}-{severity[1]}, "
          f"level {level:g}; misfit of one factor over the {WINDOW} days (chi-square 2 df: mean 2, 5% beyond 5.99)")
    for low, high in Z_BANDS:
        for name, cells in (("changed", changed), ("unchanged", unchanged)):
            q = np.array([qi for zi, qi in cells if low <= zi < high])
            if len(q):
                print(f"  |window z| {low:.1f}-{high:.1f}, {name:9} cells {len(q):5d}: misfit mean {q.mean():.2f}, "
                      f"beyond 5.99 {np.mean(q > CHI2_2DF_95):.1%}")


def noise_report(seeds: range, levels: list[float]) -> None:
    print(f"noise: e2e null cubes, seeds {seeds.start}..{seeds.stop - 1}: window z of every cell by its daily level "
          "(calibrated: mean 0, sd 1, 0.27% beyond 3)")
    for level in levels:
        z, daily = [], []
        for seed in seeds:
            data, _ = make_case(seed, median_level=level, null=True)
            zi, _, di = day_scores(np.array(list(cell_series(data).values())))
            z.append(zi)
            daily.append(di)
        z, daily = np.concatenate(z), np.concatenate(daily)
        for low, high in LEVEL_BANDS:
            part = z[(daily >= low) & (daily < high)]
            if len(part) >= 30:
                print(f"  median level {level:g}, cells at {low}-{high} a day ({len(part):5d}): mean {part.mean():+.3f}, "
                      f"sd {part.std():.3f}, beyond 3: {np.mean(np.abs(part) > 3):.2%}")


def bound_report(seeds: range) -> None:
    """The best single element's gain (z² of its one-factor fit) on noise-only cubes."""
    best = []
    for seed in seeds:
        leaves, expected, actual, noise, _, _ = drivers_case(np.random.default_rng(seed), single_cells=True, null=True)
        codes = encode_leaves(leaves, list(leaves[0]))[0]
        w = 1 / noise**2
        gains = []
        for _, ids in candidate_groups(codes, 2):
            b = np.bincount(ids, w * expected * (actual - expected))
            c = np.bincount(ids, w * expected**2)
            gains.append((b**2 / c).max())
        best.append(max(gains))
    best = np.array(best)
    candidates = candidate_count(codes, 2)
    bound = null_gain(candidates, 0.05)
    print(f"bound: drivers.py noise-only single-cell cubes, seeds {seeds.start}..{seeds.stop - 1}: the best of "
          f"{candidates} elements' gain beyond the 5% Bonferroni bound {bound:.2f} in {np.mean(best > bound):.2%} "
          f"of cubes; its 95% quantile {np.quantile(best, 0.95):.2f} (z {np.sqrt(np.quantile(best, 0.95)):.2f} "
          f"against {np.sqrt(bound):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs=2, default=(3000, 3060), metavar=("FIRST", "END"))
    parser.add_argument("--null-seeds", type=int, nargs=2, default=(3000, 3150), metavar=("FIRST", "END"))
    parser.add_argument("--cell-null-seeds", type=int, nargs=2, default=(300_000, 305_000), metavar=("FIRST", "END"))
    args = parser.parse_args()
    days_report(range(*args.seeds), (0.2, 0.4), 80.0)
    noise_report(range(*args.null_seeds), [80.0, 20.0, 5.0])
    bound_report(range(*args.cell_null_seeds))


if __name__ == "__main__":
    main()
