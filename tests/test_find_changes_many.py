"""`find_changes_many`, the batch entry point the scan uses: for every row, exactly the
changes `find_changes` reports for that row alone.

The rows mix what takes the matrix path (every day present, none known) with what
falls back to the row-by-row one (data gaps, known days, dead weekends, a few events a
day), so that a batch holding both is checked too.
"""
from __future__ import annotations

import numpy as np
import pytest

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect import find_changes, find_changes_many
from ctxmetrics.synth import many_series

START = np.datetime64("2024-01-01")


def mixed_counts(days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Count rows of every kind a scan meets, and their known-day masks."""
    rng = np.random.default_rng(seed)
    values, _ = many_series(24, days, 0.3 if days >= 365 else 0.0, "white", seed)  # its effects need a year
    values[1, 40:43] = np.nan  # a data gap
    values[2, 5::7] = 0.0  # a dead weekday
    values[2, 6::7] = 0.0
    values[3] = rng.poisson(0.8, days)  # a few events a day
    values[4, days // 2 :] *= 0.4  # a lasting drop
    values[5, 60:63] *= 3.0  # a 3-day spike
    masks = np.zeros(values.shape, bool)
    masks[6, 30:33] = True  # known days off
    return values, masks


def assert_same(rows, **kwargs):
    masks, dens = kwargs.pop("known_masks", None), kwargs.pop("denominators", None)
    many = find_changes_many(rows, known_masks=masks, denominators=dens, **kwargs)
    alone = [
        find_changes(row, known_mask=None if masks is None else masks[i], denominators=None if dens is None else dens[i],
                     **kwargs)
        for i, row in enumerate(rows)
    ]
    assert [repr(c) for c in many] == [repr(c) for c in alone]
    return many


@pytest.mark.parametrize("days", [90, 730])
def test_each_row_gets_the_changes_it_gets_alone(days):
    values, masks = mixed_counts(days, seed=days)
    many = assert_same(values, kind="count", dates=START + np.arange(days), known_masks=masks)
    assert sum(map(len, many)) > 0  # the comparison covers rows with changes


def test_rows_without_dates_ratios_gauges_and_weekly_rows_match_too():
    rng = np.random.default_rng(3)
    values, _ = many_series(6, 365, 0.5, "white", 3)
    assert_same(values, kind="count")
    dens = rng.poisson(200, (6, 365)).astype(float)
    assert_same(rng.binomial(dens.astype(int), 0.1).astype(float), kind="ratio", denominators=dens,
                dates=START + np.arange(365))
    assert_same(np.log1p(values), kind="gauge", dates=START + np.arange(365))
    weeks = START + 7 * np.arange(156)
    assert_same(rng.poisson(300, (5, 156)).astype(float), kind="count", dates=weeks)


def test_an_empty_batch_and_a_short_batch():
    assert find_changes_many(np.zeros((0, 90)), kind="count") == []
    assert find_changes_many(np.ones((3, 5)), kind="count", settings=DetectionSettings()) == [[], [], []]


def test_values_must_be_a_matrix():
    with pytest.raises(ValueError, match="matrix"):
        find_changes_many(np.ones(90), kind="count")
