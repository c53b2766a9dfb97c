"""The one-free-dimension path of root-cause localization (explain/one_dimension.py)
answers exactly what the general path answers, and declines where it could differ."""
from __future__ import annotations

import numpy as np
import pytest

import ctxmetrics.explain.rootcause as rootcause
from ctxmetrics.explain.one_dimension import OneDimensionFit


def cases(count: int):
    """Rows of one dimension: a few changed cells (some by one factor), ties of value,
    zero-expected cells, directions either way."""
    rng = np.random.default_rng(11)
    for _ in range(count):
        n = int(rng.integers(2, 40))
        expected = rng.lognormal(3.0, 1.0, n).round(int(rng.integers(0, 3)))
        expected[rng.random(n) < 0.1] = 0.0
        if rng.random() < 0.3:  # cells of equal size: equal gains, told apart by their codes
            expected = rng.choice([5.0, 20.0], n)
        actual = rng.poisson(expected).astype(float)
        moved = rng.choice(n, int(rng.integers(0, min(n, 4) + 1)), replace=False)
        actual[moved] *= rng.choice([0.3, 0.6, 1.5, 2.5])
        if rng.random() < 0.3:
            actual[:] = expected  # nothing moved but where ties of gain are likely
            actual[moved] = expected[moved] * 2
        codes = rng.permutation(n * 3)[:n].reshape(-1, 1)  # values in any order of their codes
        yield codes, expected, actual, int(rng.choice([0, 1, -1]))


def test_the_one_dimension_path_answers_what_the_general_path_answers(monkeypatch):
    names = [[f"v{i}" for i in range(120)]]
    path, taken = rootcause._choose_in_one_dimension, []

    def spy(*args):
        found = path(*args)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(rootcause, "_choose_in_one_dimension", spy)
    fast = [rootcause.localize_codes(c, ["d"], names, e, a, direction=d) for c, e, a, d in cases(600)]
    monkeypatch.setattr(rootcause, "_choose_in_one_dimension", lambda *args: None)
    general = [rootcause.localize_codes(c, ["d"], names, e, a, direction=d) for c, e, a, d in cases(600)]
    assert sum(taken) > 300  # the path decided most cases
    assert sum(bool(r.elements) for r in general) > 200 and sum(r.uniform for r in general) > 10
    assert fast == general


@pytest.mark.parametrize("codes, expected, ok", [
    (np.array([[0], [1], [2]]), np.array([1.0, 2.0, 3.0]), True),
    (np.array([[0], [1], [1]]), np.array([1.0, 2.0, 3.0]), False),  # a value twice: not one leaf per element
    (np.array([[0, 0], [1, 0]]), np.array([1.0, 2.0]), False),  # two dimensions
    (np.array([[0], [1]]), np.array([1.0, np.nan]), False),  # an unknown value
])
def test_the_one_dimension_path_applies_only_where_it_is_exact(codes, expected, ok):
    assert OneDimensionFit.applies(codes, expected, expected + 1, np.ones(len(expected))) is ok
