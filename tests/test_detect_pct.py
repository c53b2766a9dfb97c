"""`episodes._pct_array`: its shortcut past `nan_to_num` gives numpy's bytes."""
from __future__ import annotations

import itertools

import numpy as np

from ctxmetrics.detect.episodes import _pct_array


def _reference(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The expression before the shortcut: `nan_to_num` on every call."""
    pct = 100.0 * (after - before) / np.abs(before)
    return np.where(before == 0, np.where(after == 0, 0.0, np.copysign(np.inf, after - before)), np.nan_to_num(pct))


def test_pct_array_equals_nan_to_num_bit_for_bit():
    special = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-310, -1e-310, 1.7e308, -1.7e308, 3.0, -2.5]
    pairs = np.array(list(itertools.product(special, repeat=2)))
    rng = np.random.default_rng(0)
    with np.errstate(all="ignore"):  # infinities and NaN on purpose
        mixed = rng.choice(special, (200, 2)) * rng.choice([1.0, 1e-3, 1e5], (200, 2))
        for before, after in (pairs.T, mixed.T, rng.normal(100, 30, (2, 500))):
            assert _pct_array(before, after).tobytes() == _reference(before, after).tobytes()
    # finite arrays alone take the shortcut, and a -0.0 change stays -0.0
    assert _pct_array(np.array([5.0, 2.0]), np.array([5.0, 3.0])).tobytes() == _reference(
        np.array([5.0, 2.0]), np.array([5.0, 3.0])).tobytes()
