"""`kernels_episodes._pct_of`, the change % of the episode scan's windows: numpy's bytes."""
from __future__ import annotations

import itertools

import numpy as np

from ctxmetrics.detect.kernels_episodes import _pct_of


def _reference(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The numpy expression the kernel replaces (`nan_to_num` on every call)."""
    pct = 100.0 * (after - before) / np.abs(before)
    return np.where(before == 0, np.where(after == 0, 0.0, np.copysign(np.inf, after - before)), np.nan_to_num(pct))


def test_pct_of_equals_numpy_bit_for_bit():
    special = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-310, -1e-310, 1.7e308, -1.7e308, 3.0, -2.5]
    pairs = np.array(list(itertools.product(special, repeat=2)))
    rng = np.random.default_rng(0)
    with np.errstate(all="ignore"):  # infinities and NaN on purpose
        mixed = rng.choice(special, (200, 2)) * rng.choice([1.0, 1e-3, 1e5], (200, 2))
        for before, after in (pairs.T, mixed.T, rng.normal(100, 30, (2, 500)), np.array([[5.0, 2.0], [5.0, 3.0]])):
            got = np.array([_pct_of(b, a) for b, a in zip(before, after)])
            assert got.tobytes() == _reference(before, after).tobytes()
