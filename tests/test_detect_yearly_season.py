"""The yearly season is learned from what recurs (`calendar._season_beside_episodes`):
two unrelated 60-90-day episodes a year apart are no season, a real one still is."""
from __future__ import annotations

import numpy as np
import pytest

from ctxmetrics.detect import find_changes

DAYS = 730
DATES = np.datetime64("2024-01-01") + np.arange(DAYS)  # a Monday
DAY = np.arange(DAYS)
SEEDS = range(8)


def sample(rng, rate: np.ndarray) -> np.ndarray:
    return rng.poisson(rate * rng.gamma(30, 1 / 30, DAYS)).astype(float)


def weekdays(level: float) -> np.ndarray:
    return level * np.where(DAY % 7 >= 5, 0.4, 1.0)


@pytest.mark.parametrize("first, second, least", [(-0.28, -0.25, 4), (0.44, 0.3, 12)])
def test_two_episodes_a_year_apart_are_found_not_taken_as_a_season(first, second, least):
    """A flat series with a 60-90-day episode and another about a year later: both
    years' fitted curves agree and the harmonics alone are significant, but the two
    episodes fit better at their price. Measured at 47 a day, 8 seeds: 5 and 16 of 16
    episodes found (starts within 2 days, directions right; the -28% pair's season is
    still removed in 3 of 8); 0 and 0 of 16 when the season was always removed."""
    found = 0
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        start = 150 + int(rng.integers(0, 60))
        length = int(rng.integers(60, 91))
        later = start + 365 + int(rng.integers(-20, 20))
        later_length = int(rng.integers(60, 91))
        effect = np.ones(DAYS)
        effect[start : start + length] *= 1 + first
        effect[later : later + later_length] *= 1 + second
        changes = find_changes(sample(rng, weekdays(47.0) * effect), kind="count", dates=DATES)
        for planted, size in ((start, first), (later, second)):
            found += any(abs(c.start - planted) <= 2 and (c.direction == "up") == (size > 0) for c in changes)
    assert found >= least


@pytest.mark.parametrize("level", [10.0, 50.0, 400.0])
def test_a_real_yearly_season_is_still_learned(level):
    """A +-30% yearly season is no change: measured 0 detections in 8 seeds at each
    level, as before the episodes were fitted alongside."""
    detections = 0
    for seed in SEEDS:
        rng = np.random.default_rng(100 + seed)
        season = 1 + 0.3 * np.sin(2 * np.pi * DAY / 365.25 + rng.uniform(0, 6.3))
        detections += len(find_changes(sample(rng, weekdays(level) * season), kind="count", dates=DATES))
    assert detections <= 1
