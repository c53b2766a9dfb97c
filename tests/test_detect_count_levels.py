"""A window judged by its count likelihood reports the level that likelihood estimates:
its events over its weekday exposure (`kernels_episodes.window_levels`), not the mean of its
weekday-adjusted days, where one event on a quiet weekend day weighs as ten weekdays."""
from __future__ import annotations

import numpy as np
import pytest

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.episodes import _Scan, _window_scores
from ctxmetrics.detect.find import _ready
from ctxmetrics.detect.targeted import Window, window_changes

DAYS = 364
DATES = np.datetime64("2024-01-01") + np.arange(DAYS)  # a Monday
WEEKEND = np.arange(DAYS) % 7 >= 5
FIRST, LAST = 150, 191  # six weeks


def won(seed: int) -> np.ndarray:
    """~2.5 won a weekday, ~0.1 a weekend day; six weeks at 60% of that, with two
    weekend days of the six weeks holding an event each."""
    rate = np.where(WEEKEND, 0.1, 2.5)
    rate[FIRST : LAST + 1] *= 0.6
    values = np.random.default_rng(seed).poisson(rate).astype(float)
    weekend_days = np.flatnonzero(WEEKEND[FIRST : LAST + 1]) + FIRST
    values[weekend_days] = 0.0
    values[weekend_days[[1, 6]]] = 1.0
    return values


def test_a_counted_window_is_measured_by_its_events_over_their_exposure():
    settings = DetectionSettings()
    values = won(0)
    known = np.zeros(DAYS, bool)
    known[FIRST : LAST + 1] = True
    layout, _, s, noise, _ = _ready(values, "count", DATES, None, known, settings, 0)
    a = int(np.searchsorted(s.index, layout.position[FIRST]))
    b = int(np.searchsorted(s.index, layout.position[LAST], side="right"))
    sc = _Scan(s, noise, [b - a], settings, starts=[a]).exclude(s.known)
    _, _, _, during, _ = _window_scores(sc, DetectionSettings(min_score=0.0))
    assert sc.counted[0, 0]
    events, exposure = s.num[a:b] * s.factor[a:b], s.factor[a:b]
    assert during[0, 0] == pytest.approx(np.sum(events) / np.sum(exposure), rel=1e-9)
    assert during[0, 0] < np.mean(s.num[a:b]) * 0.8  # the weekend events inflate the mean of days


def test_a_tagged_six_week_drop_at_a_few_a_day_measures_near_its_size():
    measured = [window_changes(won(seed), [Window(FIRST, LAST)], dates=DATES)[0].change_pct for seed in range(6)]
    assert all(-60 < pct < -20 for pct in measured)  # planted -40%


def test_a_tagged_lasting_drop_at_a_few_a_day_measures_near_its_size():
    """A lasting step judged by its count likelihood, measured the same way (`shifts._measure`)."""
    measured = []
    for seed in range(6):
        rate = np.where(WEEKEND, 0.1, 2.5)
        rate[FIRST:] *= 0.6
        values = np.random.default_rng(seed).poisson(rate).astype(float)
        measured.append(window_changes(values, [Window(FIRST, None)], dates=DATES)[0].change_pct)
    # planted -40% (seed 1 draws less); the mean of weekday-adjusted days read +38% on seed 1
    assert all(-60 < pct < -15 for pct in measured)
