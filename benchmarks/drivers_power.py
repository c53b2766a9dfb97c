"""Whether a cube changed at all: first tests compared at one false-alarm rate.

On the single-cell cases of `drivers.py` (6 x 5 cubes, 1-3 cells changed by 20, 40 or 70%)
`localize` reports nothing in about a quarter, mostly at 20%: its first test (an element,
or a set of 2-3 elements of one layer, beyond a Bonferroni bound at 5%) keeps noise-only
cubes quiet. This run asks whether a test with more power at the same false-alarm rate
exists. On noise-only twins of the cases (`make_case(null=True)`, other seeds) it measures
how often `localize` reports anything, sets each other test's threshold to that rate on
the same null cubes, and counts, per severity and number of changed cells, the cases each
test finds, and those it finds where `localize` reports nothing:

- pooled Bayes factor: every set of 1-3 elements of one layer (cells; rows; columns) that
  moved by one common factor, and the whole cube alike, is a hypothesis, with an even prior
  over layers, set sizes and the sets of a size; each set's likelihood ratio has the factor
  integrated out under N(0, τ²); the statistic is their prior-weighted sum, the most
  powerful test on average over that prior (Neyman-Pearson);
- top-k sums: per layer and way, the one-factor gain of the k elements most σ off
  (k = 1, 2, 3), each read against its own null distribution, the smallest p-value kept.

    PYTHONPATH=$PWD python3 benchmarks/drivers_power.py --seeds 200000 200600 --null 1500
"""
from __future__ import annotations

import argparse
import math
import sys
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]
from ctxmetrics.explain.rootcause import localize  # noqa: E402
from drivers import SHAPES, make_case  # noqa: E402

NULL_SEEDS = 300_000  # noise-only cubes: apart from every seed drivers.py reads
SIZES = (1, 2, 3)  # a root-cause set has 1-3 elements


def layers(expected, actual, noise):
    """(c, s) per element of each layer of the 6 x 5 cube: cells, rows, columns, with
    c = Σ w·e² and s = Σ w·e·(a - e) over its leaves (w = 1/noise²): the one-factor fit's
    sufficient statistics."""
    w = 1 / noise**2
    c = (w * expected**2).reshape(SHAPES[2])
    s = (w * expected * (actual - expected)).reshape(SHAPES[2])
    return [(c.ravel(), s.ravel()), (c.sum(axis=1), s.sum(axis=1)), (c.sum(axis=0), s.sum(axis=0))]


def log_evidence(c, s, tau):
    """Log likelihood ratio of leaves scaled by 1 + δ against unchanged, δ ~ N(0, τ²)."""
    spread = 1 + c * tau**2
    return s * s * tau**2 / (2 * spread) - 0.5 * np.log(spread)


def log_bayes_factor(parts, tau) -> float:
    """Prior-weighted sum of every hypothesis' likelihood ratio against no change."""
    kinds = 3  # cells; rows or columns (one layer); the whole cube alike
    terms = []
    for layer, (c, s) in enumerate(parts):
        share = 1 / kinds if layer == 0 else 1 / (2 * kinds)  # rows and columns split layer 1
        for k in SIZES:
            sets = np.array(list(combinations(range(len(c)), k)))
            prior = math.log(share / len(SIZES) / len(sets))
            terms.append(prior + log_evidence(c[sets].sum(axis=1), s[sets].sum(axis=1), tau))
    c_all, s_all = parts[0][0].sum(), parts[0][1].sum()
    terms.append(np.array([math.log(1 / kinds) + float(log_evidence(c_all, s_all, tau))]))
    values = np.concatenate(terms)
    top = values.max()
    return float(top + np.log(np.exp(values - top).sum()))


def top_k_gains(parts) -> np.ndarray:
    """Per layer and k: the larger over both ways of the one-factor gain s²/c of the k
    elements most σ off that way (0 when their sum moved the other way)."""
    out = []
    for c, s in parts:
        z = s / np.sqrt(c)
        for k in SIZES:
            best = 0.0
            for way in (1, -1):
                top = np.argsort(-way * z)[:k]
                moved = s[top].sum()
                if way * moved > 0:
                    best = max(best, moved**2 / c[top].sum())
            out.append(best)
    return np.array(out)


def smallest_p(gains: np.ndarray, null_gains: np.ndarray) -> np.ndarray:
    """Per case, the smallest of its statistics' p-values read off the null cubes'."""
    return np.array([(null_gains >= row).mean(axis=0).min() for row in gains])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs=2, default=(200_000, 200_600), metavar=("FIRST", "END"),
                        help="single-cell cases (drivers.py's tune seeds by default)")
    parser.add_argument("--null", type=int, default=1500, help=f"noise-only cubes, seeds from {NULL_SEEDS}")
    parser.add_argument("--tau", type=float, default=0.5, help="prior σ of the common relative change")
    args = parser.parse_args()
    nulls = [make_case(np.random.default_rng(seed), single_cells=True, null=True)
             for seed in range(NULL_SEEDS, NULL_SEEDS + args.null)]
    cases = [make_case(np.random.default_rng(seed), single_cells=True) for seed in range(*args.seeds)]
    rate = float(np.mean([bool(localize(*case[:4]).elements) for case in nulls]))
    reports = np.array([bool(localize(*case[:4]).elements) for case in cases])

    null_bf = np.array([log_bayes_factor(layers(*case[1:4]), args.tau) for case in nulls])
    bayes = np.array([log_bayes_factor(layers(*case[1:4]), args.tau) for case in cases]) > np.quantile(null_bf, 1 - rate)
    null_gains = np.array([top_k_gains(layers(*case[1:4])) for case in nulls])
    null_p = smallest_p(null_gains, null_gains)
    gains = np.array([top_k_gains(layers(*case[1:4])) for case in cases])
    top_k = smallest_p(gains, null_gains) < np.quantile(null_p, rate)

    print(f"cases seeds {args.seeds[0]}..{args.seeds[1] - 1}; null cubes seeds {NULL_SEEDS}..{NULL_SEEDS + args.null - 1}; "
          f"tau {args.tau:g}")
    print(f"noise-only cubes where localize reports anything: {round(rate * args.null)} of {args.null} ({rate:.1%}); "
          f"the other tests' thresholds are set to that rate on the same cubes")
    print(f"{'group':16} {'cases':>5} {'localize':>9} {'Bayes factor':>13} {'(where empty)':>14} "
          f"{'top-k sums':>11} {'(where empty)':>14}")
    groups = {"all": np.ones(len(cases), dtype=bool)}
    for level in sorted({case[5]["severity"] for case in cases}):
        groups[f"severity {level:.0%}"] = np.array([case[5]["severity"] == level for case in cases])
    for count in SIZES:
        groups[f"{count} cell(s)"] = np.array([case[5]["count"] == count for case in cases])
    for name, inside in groups.items():
        empty = inside & ~reports
        print(f"{name:16} {inside.sum():5d} {reports[inside].sum():9d} {bayes[inside].sum():13d} "
              f"{bayes[empty].sum():14d} {top_k[inside].sum():11d} {top_k[empty].sum():14d}")


if __name__ == "__main__":
    main()
