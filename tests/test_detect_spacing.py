"""Frequency inference on regular, fortnightly and irregular dates, and `find_changes` on them."""
from __future__ import annotations

import numpy as np
import pytest

from ctxmetrics.detect import find_changes, infer_frequency
from ctxmetrics.detect.frequency import _grid_positions

MONDAY = np.datetime64("2024-01-01")


def days(*text: str) -> np.ndarray:
    return np.array(text, dtype="datetime64[D]")


@pytest.mark.parametrize("step, name", [(1, "daily"), (7, "weekly"), (14, "fortnightly")])
def test_regular_steps_read_as_their_frequency(step, name):
    dates = MONDAY + step * np.arange(30)
    freq = infer_frequency(dates, 30)
    assert freq.name == name
    assert list(_grid_positions(dates, freq, 30)) == list(range(30))


def test_a_fortnightly_file_is_not_weekly_with_every_other_week_missing():
    dates = MONDAY + 14 * np.arange(52)
    freq = infer_frequency(dates, 52)
    assert (freq.name, freq.unit, freq.step_days) == ("fortnightly", "fortnight", 14)


def test_a_weekly_file_with_a_week_missing_and_a_tuesday_export_keeps_its_weeks():
    dates = MONDAY + 7 * np.arange(40)
    dates[10] += 1  # exported on a Tuesday
    dates = np.delete(dates, 20)  # a week with no file
    freq = infer_frequency(dates, len(dates))
    assert freq.name == "weekly"
    position = _grid_positions(dates, freq, len(dates))
    assert position[10] == 10 and position[20] == 21  # the Tuesday in its week, a gap at week 20


def test_a_monthly_file_dated_on_varying_days_keeps_its_months():
    dates = days("2023-01-03", "2023-02-01", "2023-03-06", "2023-04-28", "2023-05-02", "2023-06-30")
    freq = infer_frequency(dates, 6)
    assert freq.name == "monthly"
    assert list(_grid_positions(dates, freq, 6)) == [0, 1, 2, 3, 4, 5]


def test_points_a_fortnight_or_three_weeks_apart_leave_gaps_never_two_in_a_fortnight():
    rng = np.random.default_rng(0)
    dates = MONDAY + np.cumsum(rng.integers(14, 22, 300))
    freq = infer_frequency(dates, 300)
    position = _grid_positions(dates, freq, 300)
    assert freq.name == "fortnightly"
    assert np.all(np.diff(position) >= 1) and np.any(np.diff(position) == 2)


def test_a_monthly_file_with_two_dates_in_one_month_is_irregular_at_its_median_step():
    dates = days("2023-01-02", "2023-01-31", "2023-03-03", "2023-04-03", "2023-05-02", "2023-06-01")
    freq = infer_frequency(dates, 6)
    assert freq.name == "irregular"
    assert 28 <= freq.step_days <= 31  # the day-based settings are restated in ~months
    assert list(_grid_positions(dates, freq, 6)) == list(range(6))


@pytest.mark.parametrize("seed", range(5))
def test_find_changes_never_raises_on_increasing_dates(seed):
    rng = np.random.default_rng(seed)
    steps = rng.choice([1, 2, 6, 7, 8, 13, 14, 15, 20, 29, 31, 45], 80)
    dates = MONDAY + np.cumsum(steps)
    values = np.r_[rng.poisson(200, 40), rng.poisson(320, 40)].astype(float)
    for kind in ("count", "gauge"):
        for c in find_changes(values, kind=kind, dates=dates):
            assert c.start_date == dates[c.start].astype(object)


def test_a_step_in_a_fortnightly_count_is_dated_on_its_fortnight():
    rng = np.random.default_rng(5)
    dates = MONDAY + 14 * np.arange(78)
    values = rng.poisson(np.r_[np.full(40, 500.0), np.full(38, 650.0)]).astype(float)
    changes = find_changes(values, dates=dates)
    assert [(c.kind, c.start, c.frequency, c.unit) for c in changes] == [
        ("level_shift", 40, "fortnightly", "per fortnight")
    ]
    assert changes[0].start_date == dates[40].astype(object)
