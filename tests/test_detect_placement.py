"""Changes next to a quiet weekend dated within 2 days: lasting steps and 30-day episodes of counts at 5-50 a day."""
from __future__ import annotations

import numpy as np
import pytest

from ctxmetrics.detect import find_changes

DAYS = 730
DATES = np.datetime64("2024-01-01") + np.arange(DAYS)  # day 0 is a Monday
WEEK = np.r_[np.ones(5), 0.2, 0.2] / np.mean(np.r_[np.ones(5), 0.2, 0.2])  # weekend days at a fifth of a weekday
# the contrast of a +-30% step at 50 a day, 2.4 Poisson sds on a weekday, at every rate:
# at 5 and 15 a day a +-30% step is below the detection bar (benchmarks/placement.py)
CONTRAST = 2.4


def dated(rate: float, size: float, length: int | None, weekday: int, seed: int) -> bool:
    """Whether the step (`length` None) or episode of relative `size` starting on
    `weekday` (0 = Monday) is found in its direction with its start (and an episode's
    last day) within 2 days."""
    rng = np.random.default_rng([seed, int(rate), weekday])
    start = 7 * int(rng.integers(40, 60)) + weekday
    rates = rate * WEEK[np.arange(DAYS) % 7]
    rates[start : DAYS if length is None else start + length] *= 1.0 + size
    changes = find_changes(rng.poisson(rates).astype(float), dates=DATES)
    last = None if length is None else start + length - 1
    return any(
        c.direction == ("up" if size > 0 else "down") and abs(c.start - start) <= 2
        and (c.end is None if last is None else c.end is not None and abs(c.end - last) <= 2)
        for c in changes
    )


@pytest.mark.parametrize("length", [None, 30], ids=["lasting", "30 days"])
@pytest.mark.parametrize("rate", [5, 15, 50])
def test_a_change_next_to_a_quiet_weekend_is_dated_within_two_days(rate, length):
    # starting on the Monday after the weekend and on the Saturday, up and down, 6 seeds
    # each: a few seeds are dated 3-4 days off where the days next to the weekend look
    # like the other level by chance (the exact likelihood with the weekday factors known
    # puts them there too; benchmarks/placement.py), a bias would move most of them
    size = min(CONTRAST / np.sqrt(rate * WEEK[0]), 0.9)
    hits = [dated(rate, sign * size, length, weekday, seed)
            for sign in (1, -1) for weekday in (0, 5) for seed in range(6)]
    assert sum(hits) >= 18, hits  # measured: 19-24 of 24
