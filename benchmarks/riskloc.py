"""RiskLoc (Kalander, "RiskLoc: Localization of Multi-dimensional Root Causes by Weighted
Risk", 2022), written from the paper's description as a published baseline for
`drivers.py` and `drivers_e2e.py`.

Every leaf gets a deviation score 2(f - v)/(f + v) (f forecast, v actual). A cutoff splits
the leaves in two: the side of the deviations with the shorter tail (after dropping its
`n_remove` most extreme distinct values) is taken as normal noise, and its extreme,
mirrored, is the cutoff on the other side; leaves beyond it are abnormal. Abnormal leaves
weigh their |deviation|, normal ones their distance to the cutoff, both capped at 1.
An element's risk is its high risk (the weighted share of its leaves that are abnormal,
with 1 added to the normal weight) less its low risk (how far its leaves depart from the
ripple effect, each scaled by the element's own change, against their own deviations).
Layers are searched from the top: in each cuboid the elements with the most explanatory
power (v - f over the total's V - F) are tried in order and the first with risk >= 0.5
is that cuboid's candidate; the layer's candidate with the most explanatory power is a
root cause, its leaves are removed and the search starts again until the abnormal leaves
left explain less than 2% of what all abnormal leaves explained. Layer-1 elements with
too little positive explanatory power or no abnormal leaf are pruned from deeper cuboids.
Defaults are the paper's (risk 0.5, proportional explanatory power 0.02, 5 removed).
"""
from __future__ import annotations

import math
from itertools import combinations
from typing import Mapping, Sequence

import numpy as np

RISK_THRESHOLD = 0.5
PEP_THRESHOLD = 0.02
N_REMOVE = 5


def riskloc(
    leaves: Sequence[Mapping[str, str]],
    expected: np.ndarray,
    actual: np.ndarray,
    risk_threshold: float = RISK_THRESHOLD,
    pep_threshold: float = PEP_THRESHOLD,
    n_remove: int = N_REMOVE,
) -> list[dict[str, str]]:
    """The root-cause set RiskLoc finds, in the order found.

    Args:
        leaves: One segment per leaf, every leaf with the same dimensions.
        expected: The forecast of each leaf.
        actual: The actual value of each leaf.
        risk_threshold: Least risk score of a root-cause element.
        pep_threshold: The search stops when the abnormal leaves left explain less than
            this share of what all abnormal leaves explained.
        n_remove: Distinct extreme deviations dropped on each side before the cutoff.

    Returns:
        The elements found, each a segment ({dimension: value} of its layer).
    """
    dims = list(leaves[0]) if len(leaves) else []
    forecast = np.asarray(expected, dtype=float)
    real = np.asarray(actual, dtype=float)
    change = float(real.sum() - forecast.sum())
    if not dims or change == 0:
        return []
    names = [sorted({leaf[d] for leaf in leaves}) for d in dims]
    index = [{name: code for code, name in enumerate(values)} for values in names]
    codes = np.array([[index[j][leaf[d]] for j, d in enumerate(dims)] for leaf in leaves])
    cube = _Scored(forecast, real, change, risk_threshold, pep_threshold, n_remove)
    return [{dims[j]: names[j][code] for j, code in zip(cuboid, key)} for cuboid, key in cube.search(codes)]


class _Scored:
    """The leaves' deviation, partition, weight and explanatory power, and the search."""

    def __init__(self, forecast, real, change, risk_threshold, pep_threshold, n_remove):
        self.forecast, self.real, self.risk_threshold = forecast, real, risk_threshold
        total = forecast + real
        with np.errstate(divide="ignore", invalid="ignore"):
            self.deviation = np.where(total != 0, 2 * (forecast - real) / np.where(total != 0, total, 1), 0.0)
        cutoff = _cutoff(self.deviation, n_remove)
        # a cutoff of zero takes its side from its sign (-0.0: the abnormal leaves lie below)
        self.abnormal = self.deviation > cutoff if math.copysign(1.0, cutoff) > 0 else self.deviation < cutoff
        weight = np.where(self.abnormal, np.abs(self.deviation), np.abs(cutoff - self.deviation))
        weight[(forecast == 0) & (real == 0)] = 0.0
        self.weight = np.minimum(weight, 1.0)
        self.ep = (real - forecast) / change
        if self.ep[self.abnormal].sum() < 0:  # the abnormal side explains the change with its sign
            self.ep = -self.ep
        self.ep_floor = pep_threshold * float(self.ep[self.abnormal].sum())

    def search(self, codes: np.ndarray) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """Root causes as (cuboid, value codes), one per round, until what is left explains
        too little."""
        left = np.ones(len(codes), dtype=bool)
        pruned: dict[int, set[int]] = {}
        found = []
        while float(self.ep[self.abnormal & left].sum()) >= self.ep_floor:
            best = self._best_element(codes, left, pruned)
            if best is None:
                break
            found.append(best)
            cuboid, key = best
            left &= ~np.all(codes[:, list(cuboid)] == np.array(key), axis=1)
        return found

    def _best_element(self, codes, left, pruned):
        """The first layer's element with risk over the threshold and the most explanatory
        power among its cuboids' best ones."""
        n_dims = codes.shape[1]
        for layer in range(1, n_dims + 1):
            best, best_ep = None, self.ep_floor
            for cuboid in combinations(range(n_dims), layer):
                kept = left.copy()
                for j in cuboid:
                    if pruned.get(j):
                        kept &= ~np.isin(codes[:, j], list(pruned[j]))
                idx = np.flatnonzero(kept)
                radix = np.cumprod([1] + [int(codes[:, j].max()) + 1 for j in cuboid[:-1]])
                flat, group = np.unique(codes[np.ix_(idx, cuboid)] @ radix, return_inverse=True)
                member = np.empty(len(flat), dtype=int)
                member[group] = idx  # any leaf of each element gives its value codes
                keys = codes[np.ix_(member, cuboid)]
                ep = np.bincount(group, self.ep[idx], len(keys))
                n_abnormal = np.bincount(group, self.abnormal[idx], len(keys))
                if layer == 1:
                    positive = np.bincount(group, np.maximum(self.ep[idx], 0), len(keys))
                    weak = (positive < self.ep_floor) | (n_abnormal == 0)
                    pruned.setdefault(cuboid[0], set()).update(int(k) for k in keys[weak, 0])
                for g in sorted(np.flatnonzero((n_abnormal > 0) & (ep > best_ep)), key=lambda g: -ep[g]):
                    if self._risk(idx[group == g]) >= self.risk_threshold:
                        best, best_ep = (cuboid, tuple(int(k) for k in keys[g])), ep[g]
                        break  # the cuboid's elements are tried by explanatory power: next cuboid
            if best is not None:
                return best
        return None

    def _risk(self, leaves: np.ndarray) -> float:
        """High risk (the weighted share of abnormal leaves, 1 added to the normal weight so
        that a few leaves cannot reach certainty) less low risk."""
        weight, abnormal = self.weight[leaves], self.abnormal[leaves]
        high = weight[abnormal].sum() / (weight[abnormal].sum() + weight[~abnormal].sum() + 1)
        return float(high) - self._low_risk(leaves)

    def _low_risk(self, leaves: np.ndarray) -> float:
        """Departure from the ripple effect: each leaf's deviation from the element's own
        change spread over its leaves, against the leaves' deviations (nonzero leaves only)."""
        forecast, real = self.forecast[leaves], self.real[leaves]
        nonzero = (forecast != 0) & (real != 0)
        if not nonzero.any():
            return 0.0
        forecast, real = forecast[nonzero], real[nonzero]
        rippled = forecast * real.sum() / forecast.sum()
        departure = np.nan_to_num(2 * (rippled - real) / (rippled + real))
        own = np.abs(self.deviation[leaves][nonzero]).mean()
        return float(np.abs(departure).mean() / own) if own != 0 else 0.0


def _cutoff(deviation: np.ndarray, n_remove: int) -> float:
    """Minus the less extreme of the two tails' (n_remove + 1)-th distinct deviation."""
    distinct = np.unique(deviation)
    low = float(distinct[min(n_remove, len(distinct) - 1)])
    high = float(distinct[max(len(distinct) - 1 - n_remove, 0)])
    return -(low if abs(low) <= abs(high) else high)
