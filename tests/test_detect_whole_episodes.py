"""An episode found as a whole: a campaign is not reported as its peak or a late part of it,
while a short peak beside the baseline or in a rise too mild to matter stays a peak."""
from __future__ import annotations

import numpy as np

from ctxmetrics.detect import find_changes

DAYS = 730
DATES = np.datetime64("2024-01-01") + np.arange(DAYS)  # day 0 is a Monday
WEEK = np.r_[np.ones(5), 0.35, 0.35] / np.mean(np.r_[np.ones(5), 0.35, 0.35])  # a business week
SEEDS = range(12)


def changes_around(seed: int, rate: float, effects: list[tuple[int, int, float]], weekday: int = 0) -> tuple[list, int]:
    """The changes of Poisson counts at `rate` a day (business week) with `effects`
    (offset from a drawn start on `weekday`, length, relative size) applied, and that start."""
    rng = np.random.default_rng([seed, int(rate), 9])
    start = 7 * int(rng.integers(30, 70)) + weekday
    lam = rate * WEEK[np.arange(DAYS) % 7]
    for offset, length, size in effects:
        lam[start + offset : start + offset + length] *= 1.0 + size
    return find_changes(rng.poisson(lam).astype(float), dates=DATES), start


def whole(changes, first: int, last: int, direction: str) -> bool:
    """Whether one change in `direction` starts and ends within 2 days of [first, last]."""
    return any(c.direction == direction and abs(c.start - first) <= 2 and c.end is not None and abs(c.end - last) <= 2
               for c in changes)


def test_a_two_week_campaign_is_one_two_week_anomaly():
    # +70% for 14 days at ~14 leads a day (issue 9's campaign), Poisson counts: the
    # whole, not its peak or its last days (measured 9 of 12 seeds; the other three
    # start on time or 4 days early but end 5 days early or 4 and 11 days late)
    found = 0
    for seed in SEEDS:
        changes, start = changes_around(seed, 14, [(0, 14, 0.7)])
        found += whole(changes, start, start + 13, "up")
    assert found >= 8


def test_a_three_day_dip_stays_three_days():
    # -65% Tue-Thu at ~45 a day: the days beside it are at the baseline, so no wider
    # window holding it is the episode (measured 12 of 12)
    found = 0
    for seed in SEEDS:
        changes, first = changes_around(seed, 45, [(0, 3, -0.65)], weekday=1)
        found += whole(changes, first, first + 2, "down") and not any(
            c.start <= first + 2 and (c.end is None or c.end >= first and c.end - c.start > 4) for c in changes)
    assert found >= 11


def test_a_short_peak_in_a_mild_rise_stays_a_peak():
    # a 3-day +100% peak in a 28-day +10% rise at ~50 a day: the rise alone is not
    # significant, so the peak is reported as itself and nothing spans the rise
    # (measured 12 of 12 peaks found, no wide detection)
    peaks, wide = 0, 0
    for seed in SEEDS:
        changes, start = changes_around(seed, 50, [(0, 28, 0.10), (12, 3, 1.0)])
        near = [c for c in changes if c.start <= start + 40 and (c.end is None or c.end >= start - 10)]
        peaks += any(abs(c.start - (start + 12)) <= 2 and c.end is not None and c.end <= start + 16 for c in near)
        wide += sum(c.end is None or c.end - c.start >= 7 for c in near)
    assert peaks >= 11
    assert wide == 0
