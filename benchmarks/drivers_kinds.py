"""Single-cell misses of `localize` by kind, and which of them the data identify.

On `drivers.make_case(single_cells=True)` (6 x 5 cubes whose root cause is 1-3 cells),
each case's answer gets one kind, the first that applies:

- nothing named: no element reported;
- row/column named: a whole dimension value reported (instead of or beside the cells);
- wrong cell: a cell reported that did not change, no more cells reported than changed;
- extra elements: every true cell found, and cells that did not change besides;
- true cells missed: only true cells reported, fewer than changed;
- exact.

Identifiable: what a Bayes reader of the same numbers answers (`oracle`, issue-15cl's
ceiling): by default told the generator's own prior (cells only, a change always, sizes
20 / 40 / 70%), or, with `--generic --values --unchanged 0.5`, a prior that knows nothing
of it (sizes log-uniform from 5% to 95%, whole rows and columns as likely as cells, as
likely that nothing changed). Per kind: the cases the oracle answers exactly, and the F1
over all cases if only that kind's answers were replaced by the oracle's (what fixing that
kind could gain at most, were its cases known).

    PYTHONPATH=$PWD python3 benchmarks/drivers_kinds.py            # tune seeds 200000-200599
    PYTHONPATH=$PWD python3 benchmarks/drivers_kinds.py --generic --values [--unchanged 0.5] [--above 0.4]
"""
from __future__ import annotations

import argparse
import math
import sys
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.drivers import SEVERITY, f1, make_case  # noqa: E402
from ctxmetrics.explain.rootcause import localize  # noqa: E402

# a prior that knows nothing of the generator: sizes log-uniform from 5% to 95%
GENERIC = tuple(np.exp(np.linspace(np.log(0.05), np.log(0.95), 24)))
KINDS = ("nothing named", "row/column named", "wrong cell", "extra elements", "true cells missed", "exact")


def _key(element: dict) -> tuple:
    return tuple(sorted(element.items()))


def kind(found: list[dict], truth: list[dict]) -> str:
    """The first kind of `KINDS` that applies to one answer."""
    keys, true = {_key(e) for e in found}, {_key(e) for e in truth}
    if not keys:
        return "nothing named"
    if any(len(k) < len(next(iter(true))) for k in keys):
        return "row/column named"
    if keys - true:
        return "wrong cell" if len(keys) <= len(true) else "extra elements"
    return "true cells missed" if true - keys else "exact"


def oracle(leaves, expected, actual, noise_level, unchanged: float = 0.0, sizes=SEVERITY,
           values: bool = False, above: float = 0.5) -> list[dict]:
    """The elements whose posterior probability of having changed is beyond `above`, the
    hypotheses being "1-3 disjoint elements changed by one common factor", even over set
    sizes, sizes of the change and ways, and over the sets of each size. The generator's own
    prior by default: cells only, a change always, its sizes. `unchanged`: the prior
    probability that nothing changed; `sizes`: the changes' sizes (`GENERIC`: knowing
    nothing of the generator); `values`: whole rows or columns (1-3 values of one dimension)
    as likely as cells, as in a cube where either may change. Each leaf's variance under a
    hypothesis is that of its mean then (count noise plus the case's relative noise)."""
    var_out = expected + (noise_level * expected) ** 2
    ll_out = -0.5 * ((actual - expected) ** 2 / var_out + np.log(var_out))
    gains = []  # per size and way: each leaf's log likelihood changed against unchanged
    for delta in [way * s for s in sizes for way in (1, -1)]:
        mean = expected * (1 + delta)
        var_in = mean + (noise_level * mean) ** 2
        gains.append(-0.5 * ((actual - mean) ** 2 / var_in + np.log(var_in)) - ll_out)
    gains = np.array(gains)
    groups = [([dict(leaf) for leaf in leaves], [np.array([i]) for i in range(len(leaves))], 0.0)]
    if values:  # the value layer as likely as the cells, split evenly over its dimensions
        groups = [(cells, members, math.log(2)) for cells, members, _ in groups]
        for dim in leaves[0]:
            names = sorted({leaf[dim] for leaf in leaves})
            inside = [np.flatnonzero([leaf[dim] == v for leaf in leaves]) for v in names]
            groups.append(([{dim: v} for v in names], inside, math.log(2 * len(leaves[0]))))
    hypotheses = []  # (log prior + log likelihood ratio: sizes x sets, sets, elements)
    for elements, members, share in groups:
        element_gain = np.stack([gains[:, m].sum(axis=1) for m in members], axis=1)  # sizes x elements
        for k in (1, 2, 3):
            sets = np.array(list(combinations(range(len(members)), k)))
            prior = math.log1p(-unchanged) - share - math.log(3 * len(sets) * len(gains))
            hypotheses.append((element_gain[:, sets].sum(axis=2) + prior, sets, elements))
    null = math.log(unchanged) if unchanged else -np.inf  # nothing changed: likelihood ratio 1
    top = max(null, max(x.max() for x, _, _ in hypotheses))
    total = sum(np.exp(x - top).sum() for x, _, _ in hypotheses) + math.exp(null - top)
    probability: dict[tuple, float] = defaultdict(float)
    for x, sets, elements in hypotheses:
        for w, members in zip(np.exp(x - top).sum(axis=0) / total, sets):
            for i in members:
                probability[_key(elements[i])] += float(w)
    return [dict(key) for key, p in probability.items() if p > above]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell-seed", type=int, default=200_000)
    parser.add_argument("--cells", type=int, default=600)
    parser.add_argument("--unchanged", type=float, default=0.0,
                        help="the oracle's prior that nothing changed (the generator's: 0)")
    parser.add_argument("--generic", action="store_true",
                        help="the oracle's sizes log-uniform from 5%% to 95%% (not the generator's)")
    parser.add_argument("--values", action="store_true",
                        help="the oracle weighs whole rows and columns as likely as cells")
    parser.add_argument("--above", type=float, default=0.5, help="the oracle reports elements above this")
    args = parser.parse_args()
    answers, oracles, kinds = [], [], []
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for seed in range(args.cell_seed, args.cell_seed + args.cells):
        leaves, expected, actual, noise, truth, meta = make_case(np.random.default_rng(seed), single_cells=True)
        found = [segment for segment, _ in localize(leaves, expected, actual, noise).elements]
        best = oracle(leaves, expected, actual, meta["noise"], args.unchanged,
                      GENERIC if args.generic else SEVERITY, args.values, args.above)
        k = kind(found, truth)
        answers.append((found, truth))
        oracles.append((best, truth))
        kinds.append(k)
        by_kind[k][f"{meta['severity']:.0%}"] += 1
        by_kind[k]["oracle exact"] += kind(best, truth) == "exact"
    print(f"single-cell seeds {args.cell_seed}..{args.cell_seed + args.cells - 1}: "
          f"F1 {f1(answers):.3f}, oracle (elements above {args.above}) {f1(oracles):.3f}")
    print(f"{'kind':20} {'cases':>5} {'20%':>4} {'40%':>4} {'70%':>4} {'oracle exact':>12} {'F1 if oracle here':>17}")
    for k in KINDS:
        n = sum(kk == k for kk in kinds)
        mixed = [o if kk == k else a for a, o, kk in zip(answers, oracles, kinds)]
        row = by_kind[k]
        print(f"{k:20} {n:5d} {row['20%']:4d} {row['40%']:4d} {row['70%']:4d} {row['oracle exact']:12d} "
              f"{f1(mixed):17.3f}")


if __name__ == "__main__":
    main()
