"""Month- and quarter-end closes of count series taken as normal at any count (issue 9)."""
from __future__ import annotations

import numpy as np
import pytest

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect import find_changes
from ctxmetrics.detect.find import _ready

DAYS = np.datetime64("2025-01-06") + np.arange(455)  # 15 months: five quarter ends, as the mid-size funnel


def _quarter_close(days: np.ndarray) -> np.ndarray:
    month = days.astype("datetime64[M]")
    return (month.astype(int) % 3 == 2) & ((month + 1).astype("datetime64[D]") - days <= np.timedelta64(7, "D"))


def _close_multiplier(values: np.ndarray) -> float:
    """The multiplier the detector's calendar puts on quarter-close days (their exposure
    against the other days'), for a series without a weekly pattern."""
    _, _, s, _, _ = _ready(values, "count", DAYS, None, None, DetectionSettings(), 0)
    close = _quarter_close(DAYS)[s.index]
    return float(np.mean(s.factor[close]) / np.mean(s.factor[~close]))


@pytest.mark.parametrize("rate", [0.6, 3.0, 20.0])
def test_a_quarter_close_is_measured_at_its_size_at_low_counts(rate):
    # won x2.2 in each quarter's last week: fitted on the stabilised scale with the trimmed
    # fit, the close read x1.0-1.4 at ~0.6 a day (its days then flagged +300% to +1000%)
    close = _quarter_close(DAYS)
    measured = [_close_multiplier(np.random.default_rng(seed).poisson(np.where(close, 2.2 * rate, rate)).astype(float))
                for seed in range(6)]
    assert 1.8 <= np.median(measured) <= 2.6


def test_low_count_quarter_closes_are_not_flagged():
    # the mid-size funnel's won on a cell: 0.5-0.8 a day, weekends at 0.4, each win of a
    # quarter's last week bringing 1.2 more on average; /29 flagged a close day in 17 of
    # these 40 series, the close by counts in 9 (where it is not seen with any one quarter
    # end left out, the stabilised fit stays)
    close, weekend = _quarter_close(DAYS), np.arange(len(DAYS)) % 7 >= 5
    flagged = 0
    for rate in (0.5, 0.8):
        for seed in range(20):
            rng = np.random.default_rng(100 + seed)
            won = rng.poisson(rate * np.where(weekend, 0.4, 1.0))
            values = (won + np.where(close, rng.poisson(1.2 * won), 0)).astype(float)
            flagged += any(close[c.start] for c in find_changes(values, dates=DAYS))
    assert flagged <= 10
