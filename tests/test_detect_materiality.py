"""A change far too small against the series' own range to matter (`materiality._material`)
is not reported, however large its percentage from a near-zero base; a step from zero to
the series' later level (a launch, a region opening) is still found."""
from __future__ import annotations

import numpy as np

from ctxmetrics.detect import find_changes, find_changes_many
from ctxmetrics.detect.materiality import _SHARE_OF_RANGE, _material
from ctxmetrics.models.change import Change

_DAYS = np.datetime64("2024-01-01") + np.arange(730)


def _change(before: float, after: float) -> Change:
    return Change(kind="level_shift", direction="up" if after > before else "down", start=5, end=None,
                  before=before, after=after, change_pct=100 * (after / before - 1) if before else float("nan"),
                  score=9.0)


def test_the_floor_is_a_share_of_the_series_range():
    values = np.r_[np.zeros(50), np.full(50, 1000.0)]
    half_floor = 0.5 * _SHARE_OF_RANGE * 1000
    rise = _change(1.0, 1.0 + half_floor)  # +50%, half the floor in units
    blip = _change(0.2, 0.2 + half_floor)  # +250% from a near-zero base
    at_floor = _change(1.0, 1.0 + 2 * half_floor)
    step = _change(0.0, 1000.0)
    assert _material([rise, blip, at_floor, step], values) == [at_floor, step]
    assert _material([], values) == []


def _launch(rng) -> np.ndarray:
    """A daily count at ~3 a day before a launch on day 300 and ~100,000 a day after it,
    with a three-day blip to 60 a day in its near-zero stretch (a test, a few early users)."""
    values = rng.poisson(np.r_[np.full(300, 3.0), np.full(430, 100_000.0)]).astype(float)
    values[100:103] = 60
    return values


def test_a_blip_before_a_launch_is_not_reported_and_the_launch_is():
    # main reported the blip as a +1931% spike
    values = _launch(np.random.default_rng(1))
    changes = find_changes(values, kind="count", dates=_DAYS)
    assert [(c.kind, c.direction, c.start) for c in changes] == [("level_shift", "up", 300)]
    assert find_changes_many(values[None, :], kind="count", dates=_DAYS) == [changes]


def test_a_gauge_stepping_up_from_zero_is_found():
    rng = np.random.default_rng(2)
    values = np.r_[np.zeros(300), np.full(430, 500.0)] + rng.normal(0, 0.01, 730)
    values[100:103] += 0.5  # +0.1% of the later level: noise far above the near-zero stretch's
    changes = find_changes(values, kind="gauge", dates=_DAYS)
    assert [(c.kind, c.direction, c.start) for c in changes] == [("level_shift", "up", 300)]
    assert np.isnan(changes[0].change_pct)  # a gauge that can be <= 0 has no honest percentage


def test_a_step_of_a_series_that_starts_at_zero_is_found_at_its_own_size():
    # a region opening at 0 and selling 40-60 a week: its later +50% step is material
    rng = np.random.default_rng(3)
    weeks = np.datetime64("2021-01-04") + 7 * np.arange(156)
    level = np.r_[np.zeros(20), np.full(70, 40.0), np.full(66, 60.0)]
    changes = find_changes(rng.poisson(level).astype(float), kind="count", dates=weeks)
    assert {(c.kind, c.direction, c.start) for c in changes} >= {("level_shift", "up", 20), ("level_shift", "up", 90)}
