"""Episode flanks are counted in the series' own periods: a monthly series is judged
against the months around a window, not against three and a half years of them."""
from __future__ import annotations

import numpy as np

from ctxmetrics.detect import find_changes

MONTHS = 96
DATES = np.datetime64("2015-01", "M") + np.arange(MONTHS)


def seasonal_growth(seed: int) -> np.ndarray:
    """Eight years of monthly counts: a yearly season of +-25% and 60% growth."""
    rng = np.random.default_rng(seed)
    month = np.arange(MONTHS)
    season = 1 + 0.25 * np.sin(2 * np.pi * month / 12 + rng.uniform(0, 2 * np.pi))
    rate = 2000 * season * np.linspace(1.0, 1.6, MONTHS)
    return rng.poisson(rate * rng.gamma(100, 1 / 100, MONTHS)).astype(float)


def test_monthly_season_and_growth_are_not_changes():
    flagged = sum(bool(find_changes(seasonal_growth(seed), dates=DATES)) for seed in range(20))
    assert flagged <= 1  # measured: 0 of 20 (flanks of 42-112 months: 4 of 20)


def test_a_three_month_drop_is_still_found():
    found = 0
    for seed in range(20):
        values = seasonal_growth(seed)
        values[50:53] *= 0.6
        found += any(c.direction == "down" and abs(c.start - 50) <= 1 for c in find_changes(values, dates=DATES))
    assert found >= 17  # measured: 18 of 20 (before the change: 18 of 20)
