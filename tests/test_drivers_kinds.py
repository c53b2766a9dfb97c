"""The kinds and the Bayes reader of benchmarks/drivers_kinds.py on tiny hand-built cubes."""
from __future__ import annotations

from itertools import product

import numpy as np

from benchmarks.drivers_kinds import GENERIC, kind, oracle

CELL, OTHER = {"r": "r0", "c": "c1"}, {"r": "r1", "c": "c2"}


def test_each_answer_gets_the_first_kind_that_applies():
    assert kind([], [CELL]) == "nothing named"
    assert kind([{"r": "r0"}, CELL], [CELL]) == "row/column named"  # a whole value beside the cell
    assert kind([OTHER], [CELL]) == "wrong cell"
    assert kind([CELL, OTHER], [CELL]) == "extra elements"
    assert kind([CELL], [CELL, OTHER]) == "true cells missed"
    assert kind([OTHER, CELL], [CELL, OTHER]) == "exact"


def cube(changed: dict, factor: float, rows: int = 3, columns: int = 4):
    leaves = [{"r": f"r{i}", "c": f"c{j}"} for i, j in product(range(rows), range(columns))]
    expected = np.full(len(leaves), 400.0)
    actual = expected.copy()
    for i, leaf in enumerate(leaves):
        if all(leaf[k] == v for k, v in changed.items()):
            actual[i] *= factor
    return leaves, expected, actual


def test_a_cell_far_beyond_noise_is_named_and_an_unchanged_cube_names_nothing_once_that_is_possible():
    leaves, expected, actual = cube(CELL, 1.4)  # 8σ at 400 a cell
    assert oracle(leaves, expected, actual, 0.0) == [CELL]
    assert oracle(leaves, expected, actual, 0.0, sizes=GENERIC, values=True, unchanged=0.5) == [CELL]
    # the generator's prior always has a change somewhere; a prior that allows none names nothing
    assert oracle(leaves, expected, expected.copy(), 0.0, sizes=GENERIC, unchanged=0.5) == []


def test_a_whole_row_is_named_as_a_row_only_when_rows_are_hypotheses():
    leaves, expected, actual = cube({"r": "r1"}, 0.6, columns=3)
    assert oracle(leaves, expected, actual, 0.0, sizes=GENERIC, values=True) == [{"r": "r1"}]
    # told that only cells change, the reader names the row's 3 cells
    named = oracle(leaves, expected, actual, 0.0)
    assert sorted(e["c"] for e in named) == ["c0", "c1", "c2"] and {e["r"] for e in named} == {"r1"}
