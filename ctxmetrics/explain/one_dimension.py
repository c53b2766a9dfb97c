"""Root-cause localization where the leaves vary in one dimension only: its own path.

Two thirds of a wide cube's rollup anomalies leave one dimension free (a region's row of
channels): every leaf is then a candidate element of its own (one value), there is no
finer element to refine or narrow to, and each element's fit reads one leaf. The general
path (`rootcause.localize_codes`) pays numpy's per-call cost dozens of times on a few
values there. This path makes the same choices in Python on the leaves' own numbers and
hands every sum over several leaves to numpy on the same arrays in the same order, so its
answers are the general path's bits (element ties broken the same way: the lower code
first). Where it could differ the general path decides
(`rootcause._choose_in_one_dimension`): a value that is not finite, a value repeated, or
no leaf clearing the bound alone (the shared-set search, which sorts).
"""
from __future__ import annotations

import math

import numpy as np


class OneDimensionFit:
    """The fits, greedy and extending steps of `rootcause.localize_codes` on leaves that
    are each an element of the one free dimension (`rootcause._prune` reads its fits as
    it reads `_Fits`'); `chosen` are leaf indexes."""

    def __init__(self, codes: np.ndarray, expected: np.ndarray, actual: np.ndarray, weight: np.ndarray):
        self.expected, self.actual, self.weight = expected, actual, weight
        self.wae, self.wee = weight * actual * expected, weight * expected * expected  # as rootcause._Fits
        self.untouched = weight * (actual - expected) ** 2  # each leaf's error at its expected value
        self.rank = np.argsort(np.argsort(codes[:, 0], kind="stable"), kind="stable").tolist()  # element id of each leaf
        self.wae_of, self.wee_of = self.wae.tolist(), self.wee.tolist()
        self.candidates = len(expected)  # every leaf is an element of its own
        self.done: dict[tuple[int, ...], tuple[float, np.ndarray]] = {}

    @staticmethod
    def applies(codes: np.ndarray, *parts: np.ndarray) -> bool:
        """One free dimension, each leaf a value of its own, every number finite."""
        if codes.shape[1] != 1 or not all(np.isfinite(part).all() for part in parts):
            return False
        ordered = np.sort(codes[:, 0])
        return bool((ordered[1:] != ordered[:-1]).all())

    def __call__(self, chosen) -> tuple[float, np.ndarray]:
        """(error, owner of each leaf) of `rootcause._Fits` for these leaves: each scaled by
        its own fitted factor, the others at their expected value."""
        key = tuple(chosen)
        if key not in self.done:
            terms, owner = self.untouched.copy(), np.full(len(self.expected), -1)
            for i, leaf in enumerate(key):
                c = self.wee_of[leaf]
                if c > 0:
                    pred = self.wae_of[leaf] / c * float(self.expected[leaf])
                    error = float(self.actual[leaf]) - pred
                    terms[leaf] = float(self.weight[leaf]) * (error * error)  # numpy squares by x·x
                owner[leaf] = i
            self.done[key] = float(terms.sum()), owner
        return self.done[key]

    def uniform_error(self) -> float:
        """Error when every leaf changes by one common fitted factor (`_Fits.uniform_error`)."""
        factor = float(self.wae.sum() / max(self.wee.sum(), 1e-300))
        return float((self.weight * (self.actual - factor * self.expected) ** 2).sum())

    def greedy(self, threshold: float, start_error: float, max_elements: int, min_gain_share: float) -> list[int]:
        """`rootcause._greedy` from no element: each leaf's gain is its own and never
        changes, so the leaves are taken by gain while it clears the bounds."""
        gains = [(b - c) * (b - c) / c if c > 0 else 0.0 for b, c in zip(self.wae_of, self.wee_of)]  # _best_element's
        chosen: list[int] = []
        while len(chosen) < min(max_elements, len(gains)):
            best = self._best([i for i in range(len(gains)) if i not in chosen], gains)
            gain = gains[best]
            if gain <= 0 or gain <= threshold or gain < min_gain_share * start_error:
                break
            chosen.append(best)
        return chosen

    def extend_alike(self, chosen: list[int], n_candidates: int, max_elements: int) -> list[int]:
        """`rootcause._extend_alike`: leaves that moved by the chosen ones' shared factor."""
        _, owner = self(chosen)
        factors = [self.wae_of[leaf] / max(self.wee_of[leaf], 1e-300) for leaf in chosen]
        if not (all(f > 1 for f in factors) or all(f < 1 for f in factors)):
            return chosen
        held = owner >= 0
        k = float(self.wae[held].sum() / max(self.wee[held].sum(), 1e-300))
        penalty = 2 * math.log(n_candidates)
        b = self.weight * self.expected * (self.actual - self.expected)
        gains = (2 * (k - 1) * b - (k - 1) ** 2 * self.wee).tolist()
        chosen = list(chosen)
        while len(chosen) < min(max_elements, len(gains)):
            best = self._best([i for i in range(len(gains)) if i not in chosen], gains)
            if gains[best] <= penalty:
                break
            chosen.append(best)
        return chosen

    def _best(self, free: list[int], gains: list[float]) -> int:
        """The free leaf of the largest gain; of equal gains the lower element id (numpy's
        argmax over the elements, which are in code order)."""
        return max(free, key=lambda i: (gains[i], -self.rank[i]))
