"""The measures of benchmarks/drivers_answers.py on tiny hand-built cubes."""
from __future__ import annotations

from itertools import product

import numpy as np
import pytest
from scipy.stats import chi2

from benchmarks.drivers_answers import cell_share, credited, residual_p, rest_z

ROWS, COLUMNS = ("r0", "r1"), ("c0", "c1", "c2")


def cube(expected_per_cell: float = 100.0):
    leaves = [{"r": r, "c": c} for r, c in product(ROWS, COLUMNS)]
    expected = np.full(len(leaves), expected_per_cell)
    return leaves, expected, np.sqrt(expected)


def test_a_row_holding_one_true_cell_is_credited_as_that_cell_and_nothing_else_is():
    truth = [{"r": "r0", "c": "c1"}]
    assert credited([{"r": "r0"}], truth) == truth
    assert credited([{"r": "r1"}], truth) == [{"r": "r1"}]  # holds no true cell
    two = truth + [{"r": "r0", "c": "c2"}]
    assert credited([{"r": "r0"}], two) == [{"r": "r0"}]  # holds two: no one cell to credit
    assert credited([{"r": "r1", "c": "c0"}], truth) == [{"r": "r1", "c": "c0"}]  # a wrong cell stays wrong


def test_the_rest_of_a_row_moves_by_the_change_over_its_noise():
    leaves, expected, noise = cube()
    z = rest_z(leaves, expected, noise, {"r": "r0", "c": "c1"}, 0.2)
    # the row's other 2 cells: 0.2 * sqrt(2 * 100² / 100); the column's other cell: 0.2 * 10
    assert z["r"] == pytest.approx(0.2 * np.sqrt(200))
    assert z["c"] == pytest.approx(2.0)
    expected[[0, 2]] = 0.0  # r0's other cells have no volume: cell and row are the same answer
    assert rest_z(leaves, expected, np.maximum(noise, 1.0), {"r": "r0", "c": "c1"}, 0.2)["r"] == 0.0


def test_the_residual_is_judged_on_the_leaves_no_element_covers():
    leaves, expected, noise = cube()
    actual = expected.copy()
    actual[1] += 60  # r0 x c1, 6 sigma
    assert residual_p(leaves, expected, actual, noise, []) == pytest.approx(chi2.sf(36.0, 6))
    assert residual_p(leaves, expected, actual, noise, [{"r": "r0"}]) == pytest.approx(1.0)


def test_one_changed_cell_explains_its_whole_row_and_a_changed_row_does_not_reduce_to_a_cell():
    leaves, expected, noise = cube()
    one = expected.copy()
    one[1] *= 1.5
    # the cell removes 5²; the row's one factor, misfitting its 2 unchanged cells, a third of that
    assert cell_share(leaves, expected, one, noise, {"r": "r0"}) == pytest.approx(3.0)
    row = expected * np.where(np.arange(len(leaves)) < 3, 1.5, 1.0)
    assert cell_share(leaves, expected, row, noise, {"r": "r0"}) == pytest.approx(1 / 3)
