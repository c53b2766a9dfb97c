"""How `drivers.py` scores single-cell answers, and which answers the data can tell apart.

Four questions from issue 15's single-cell cases (`drivers.make_case(single_cells=True)`,
6 x 5 cubes whose root cause is 1-3 cells), on `localize`'s answers as they are:

- scoring: a whole row or column reported where one of its cells is the cause counts as a
  wrong element and a missed cell (exact match, as the literature scores sets). How many
  such answers are there, and what would F1 be if each counted as its one true cell (an
  upper bound on what any rule that narrows a whole value to a cell could gain)?
- identifiable: can the data tell a changed cell from its whole row or column? Under a
  change of the same size over the whole row, the rest of the row would move by
  severity * sqrt(sum of expected² / noise²) standard deviations; below 1 the two answers
  are alike. Cells that are their row's only volume (the rest expected at 0) are the
  extreme case. The same for the end-to-end cubes' true cells (`drivers_e2e.py`, expected
  values and noise as drivers read them from 8 weeks, at the generator's smallest change).
- residual: once `localize` has chosen its set, do the leaves no element covers look like
  noise (chi-square of their residual against their noise)? A stopping rule built on it
  can only help if it flags the cases whose rest still holds a true cell more often than
  those whose rest holds none.
- share: for a whole value reported on a 2-dimension cube, the gain of its strongest cell
  over the whole value's gain (how much of what the row explains one cell explains), for
  rows reported where one cell changed and for true rows and columns correctly reported
  (`make_case()`'s 2-dimension layer-1 cases): a rule "report the cell when its share is
  beyond t" separates them only where the two do not overlap.

    PYTHONPATH=$PWD python3 benchmarks/drivers_answers.py            # tune seeds
    PYTHONPATH=$PWD python3 benchmarks/drivers_answers.py --cell-seed 100000 --cells 400 --mixed 200 600
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.stats import chi2

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from benchmarks.drivers import f1, make_case  # noqa: E402
from benchmarks.drivers_e2e import cell_series  # noqa: E402
from ctxmetrics.explain.rootcause import localize, window_expectation  # noqa: E402
from test_rootcause_e2e import make_case as e2e_case  # noqa: E402

SHARE_STEPS = (0.6, 0.7, 0.8, 0.9)


def _inside(leaves, element) -> np.ndarray:
    return np.array([all(leaf[k] == v for k, v in element.items()) for leaf in leaves])


def credited(found: list[dict], truth: list[dict]) -> list[dict]:
    """`found` with each whole value that holds exactly one true cell replaced by that cell."""
    out = []
    for element in found:
        held = [t for t in truth if all(t[k] == v for k, v in element.items())]
        out.append(held[0] if len(element) < len(truth[0]) and len(held) == 1 else element)
    return out


def rest_z(leaves, expected, noise, cell: dict, severity: float) -> dict[str, float]:
    """Per dimension of `cell`: how many σ the rest of the cell's row (or column) would move
    if the change covered the whole row instead; 0 when the rest has no volume."""
    here = _inside(leaves, cell)
    out = {}
    for dim, value in cell.items():
        rest = _inside(leaves, {dim: value}) & ~here
        out[dim] = float(severity * np.sqrt(((expected[rest] / noise[rest]) ** 2).sum()))
    return out


def e2e_rest_z(seeds: range, severity: float = 0.2) -> np.ndarray:
    """`rest_z` of every true cell of the end-to-end single-cell cubes (`severity`: the
    smallest change their generator draws at `--severity 0.2 0.4`)."""
    out = []
    for seed in seeds:
        data, truth = e2e_case(seed, (severity, 2 * severity))
        if not truth or len(truth[0]) != 2:
            continue
        series = cell_series(data)
        values = np.array(list(series.values()))
        expected, _, noise = window_expectation(values, values.shape[1] - 3, values.shape[1] - 1, 8)
        leaves = [{"region": region, "channel": channel} for region, channel in series]
        for cell in truth:
            out += rest_z(leaves, expected, noise, cell, severity).values()
    return np.array(out)


def residual_p(leaves, expected, actual, noise, found: list[dict]) -> float:
    """Chi-square p-value of the residual of the leaves no element of `found` covers."""
    covered = np.zeros(len(leaves), dtype=bool)
    for element in found:
        covered |= _inside(leaves, element)
    rest = ~covered
    return float(chi2.sf((((actual - expected) / noise)[rest] ** 2).sum(), int(rest.sum())))


def _gain(mask, expected, actual, noise) -> float:
    """Squared error a one-factor fit over the leaves of `mask` removes."""
    w = 1 / noise[mask] ** 2
    c = (w * expected[mask] ** 2).sum()
    return float(((w * actual[mask] * expected[mask]).sum() - c) ** 2 / c)


def cell_share(leaves, expected, actual, noise, value: dict) -> float:
    """The strongest cell's gain inside a whole value over the whole value's gain (2 dims)."""
    row = _inside(leaves, value)
    cells = [_gain(np.arange(len(leaves)) == i, expected, actual, noise) for i in np.flatnonzero(row)]
    return max(cells) / _gain(row, expected, actual, noise)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell-seed", type=int, default=200_000, help="first single-cell seed (tune: 200000)")
    parser.add_argument("--cells", type=int, default=600)
    parser.add_argument("--e2e", type=int, nargs=2, default=(3000, 3060), metavar=("FIRST", "END"),
                        help="drivers_e2e.py's seeds for the end-to-end cubes' identifiability")
    parser.add_argument("--mixed", type=int, nargs=2, default=(0, 200), metavar=("FIRST", "END"),
                        help="drivers.py's mixed seeds (tune: 0-199) for true whole values")
    args = parser.parse_args()
    scored, credit, tally, rest, shares = [], [], Counter(), [], {"row for one cell": [], "true whole value": []}
    for seed in range(args.cell_seed, args.cell_seed + args.cells):
        leaves, expected, actual, noise, truth, meta = make_case(np.random.default_rng(seed), single_cells=True)
        found = [segment for segment, _ in localize(leaves, expected, actual, noise).elements]
        scored.append((found, truth))
        credit.append((credited(found, truth), truth))
        for element in found:
            if len(element) == 1:
                held = sum(all(t[k] == v for k, v in element.items()) for t in truth)
                tally[f"whole values holding {held} true cell(s)"] += 1
                if held == 1:
                    shares["row for one cell"].append(cell_share(leaves, expected, actual, noise, element))
        for cell in truth:
            rest += rest_z(leaves, expected, noise, cell, meta["severity"]).values()
        if found:
            covered = {tuple(sorted(t.items())) for t in truth
                       if any(all(t[k] == v for k, v in e.items()) for e in found)}
            kind = "rest holds a true cell" if len(covered) < len(truth) else "rest holds none"
            tally[kind] += 1
            tally[f"{kind}, residual p < 0.05"] += residual_p(leaves, expected, actual, noise, found) < 0.05
    for seed in range(*args.mixed):
        leaves, expected, actual, noise, truth, meta = make_case(np.random.default_rng(seed))
        if meta["dims"] != 2 or meta["layer"] != 1:
            continue
        found = [segment for segment, _ in localize(leaves, expected, actual, noise).elements]
        for element in found:
            if element in truth:
                shares["true whole value"].append(cell_share(leaves, expected, actual, noise, element))
    rest = np.array(rest)
    last = args.cell_seed + args.cells - 1
    print(f"single-cell seeds {args.cell_seed}..{last}; mixed seeds {args.mixed[0]}..{args.mixed[1] - 1}")
    print(f"scoring: F1 as scored {f1(scored):.3f}; a whole value holding one true cell counted as it {f1(credit):.3f}; "
          + ", ".join(f"{k} {n}" for k, n in sorted(tally.items()) if k.startswith("whole")))
    print(f"identifiable: {len(rest)} (true cell, its row or column): rest expected at 0 in {int((rest == 0).sum())}, "
          f"rest would move < 1σ under a whole-value change in {int((rest < 1).sum())}; "
          f"smallest {rest.min():.2f}σ, 5% below {np.quantile(rest, 0.05):.2f}σ")
    e2e = e2e_rest_z(range(*args.e2e))
    print(f"identifiable, e2e seeds {args.e2e[0]}..{args.e2e[1] - 1} at 20%: {len(e2e)} (true cell, its row or "
          f"column): rest would move < 1σ in {int((e2e < 1).sum())}; smallest {e2e.min():.2f}σ")
    print("residual: " + "; ".join(
        f"{kind}: {tally[kind]} cases, chi-square p < 0.05 in {tally[kind + ', residual p < 0.05']}"
        for kind in ("rest holds a true cell", "rest holds none")))
    for kind, values in shares.items():
        values = np.array(values)
        print(f"share: {kind} ({len(values)}): strongest cell's gain over the value's beyond "
              + ", ".join(f"{t} in {int((values > t).sum())}" for t in SHARE_STEPS))


if __name__ == "__main__":
    main()
