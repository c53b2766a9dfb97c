"""Short peaks inside a longer episode, judged against the episode's own level."""
from __future__ import annotations

import numpy as np

from ctxmetrics.detect import find_changes

DAYS = 730
DATES = np.datetime64("2024-01-01") + np.arange(DAYS)


def month_with_a_peak(peak_day: int, seed: int = 3) -> np.ndarray:
    """A gauge (sd 1) 4 sds up for 40 days from day 300, with a 7-sd peak on `peak_day`."""
    values = np.random.default_rng(seed).normal(100.0, 1.0, DAYS)
    values[300:340] += 4.0
    values[peak_day] += 7.0
    return values


def test_a_game_day_in_a_playoff_month_is_a_peak_of_its_own():
    # measured: without the peak test only the month is reported (300-337)
    changes = find_changes(month_with_a_peak(320), kind="gauge", dates=DATES)
    assert len(changes) == 2
    month, peak = sorted(changes, key=lambda c: c.end - c.start, reverse=True)
    assert month.start == 300 and abs(month.end - 339) <= 3 and month.direction == "up"
    assert (peak.start, peak.end, peak.direction) == (320, 320, "up")
    assert peak.before > 103.0  # measured from the month's level, not the level around it


def test_a_peak_on_the_episode_first_day_is_its_edge():
    changes = find_changes(month_with_a_peak(300), kind="gauge", dates=DATES)
    assert [c.start for c in changes] == [300]
