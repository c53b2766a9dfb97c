"""The RiskLoc baseline of benchmarks/riskloc.py on tiny hand-built cubes."""
from __future__ import annotations

from itertools import product

import numpy as np
import pytest

from benchmarks.riskloc import riskloc

ROWS, COLUMNS = ("a0", "a1", "a2", "a3", "a4", "a5"), ("b0", "b1", "b2", "b3", "b4")


def cube(changed: dict[tuple[str, str], float]):
    """A 6 x 5 cube (RiskLoc's cutoff drops the 5 most extreme deviations of each side, so
    it needs more than a handful of leaves): expected 100 a cell, actual off by a different
    small amount in every cell (distinct deviations, as noise gives, in a scrambled order),
    times the factor of the changed cells."""
    leaves = [{"a": a, "b": b} for a, b in product(ROWS, COLUMNS)]
    expected = np.full(len(leaves), 100.0)
    wobble = np.random.default_rng(0).permutation(np.linspace(-3, 3, len(leaves)))
    actual = np.array([(100 + w) * changed.get((leaf["a"], leaf["b"]), 1.0) for leaf, w in zip(leaves, wobble)])
    return leaves, expected, actual


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_a_whole_row_is_found_as_the_row(factor):
    leaves, expected, actual = cube({("a1", b): factor for b in COLUMNS})
    assert riskloc(leaves, expected, actual) == [{"a": "a1"}]


def test_a_single_cell_that_collapsed_is_found_as_the_cell():
    leaves, expected, actual = cube({("a2", "b1"): 0.1})
    assert riskloc(leaves, expected, actual) == [{"a": "a2", "b": "b1"}]


def test_a_single_cell_up_by_half_stays_below_the_risk_threshold():
    # one leaf's high risk is w / (w + 1) with w = |deviation| = 0.4 here: below 0.5
    leaves, expected, actual = cube({("a2", "b1"): 1.5})
    assert riskloc(leaves, expected, actual) == []


def test_two_rows_are_both_found():
    leaves, expected, actual = cube({**{("a0", b): 0.4 for b in COLUMNS}, **{("a3", b): 0.4 for b in COLUMNS}})
    assert sorted(riskloc(leaves, expected, actual), key=lambda e: e["a"]) == [{"a": "a0"}, {"a": "a3"}]


def test_nothing_changed_gives_nothing():
    leaves = [{"a": a, "b": b} for a, b in product(ROWS, COLUMNS)]
    values = np.arange(1.0, len(leaves) + 1)
    assert riskloc(leaves, values, values.copy()) == []


def test_noise_alone_gives_nothing():
    leaves, expected, actual = cube({})
    actual = actual + 0.5  # the total moved a little, every leaf within its noise
    assert riskloc(leaves, expected, actual) == []
