"""Boundary placement by the series' own likelihood: episode ends and shift days at low volume, and how steps are judged."""
from __future__ import annotations

import numpy as np
import pytest

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.episodes import _refine_episode
from ctxmetrics.detect.noise import _noise
from ctxmetrics.detect.prepare import _prepare
from ctxmetrics.detect.shifts import _place_by_likelihood

DAYS = 600
SETTINGS = DetectionSettings()


def low_volume(seed: int, start: int, stop: int | None, factor: float, level: float = 1.0):
    """Prepared counts at `level` a day every day (so that positions are days), `factor`
    times from `start` to `stop`."""
    rng = np.random.default_rng(seed)
    rate = np.full(DAYS, level)
    rate[start:stop] *= factor
    s = _prepare(rng.poisson(rate).astype(float), SETTINGS, "count", None, None, 0)
    return s, _noise(s, SETTINGS)


@pytest.mark.parametrize("offset", [-4, 4])
def test_a_long_episode_window_placed_days_off_moves_to_its_days(offset):
    # a 28-day episode that the window grid saw shifted by `offset` days
    moved = []
    for seed in range(8):
        s, noise = low_volume(seed, 300, 328, 3.0)
        a, b = _refine_episode(s, noise, SETTINGS, 300 + offset, 328 + offset, np.zeros(DAYS, bool))
        moved.append(abs(a - 300) <= 2)
    assert sum(moved) >= 7  # measured: 7 of 8 (-4), 8 of 8 (+4)


def test_an_episode_end_never_crosses_another_episode():
    s, noise = low_volume(0, 300, 328, 3.0)
    others = np.zeros(DAYS, bool)
    others[326:330] = True  # another episode's days just past this one's true end
    _, b = _refine_episode(s, noise, SETTINGS, 296, 324, others)
    assert b <= 326


def test_a_lasting_step_placed_days_late_moves_to_its_day():
    placed = []
    for seed in range(8):
        s, noise = low_volume(seed, 300, None, 0.3, level=2.0)
        (day,) = _place_by_likelihood(s, noise, [305], np.zeros(DAYS, bool), SETTINGS)
        placed.append(abs(day - 300) <= 3)
    assert sum(placed) >= 6  # measured: 7 of 8


def test_a_shift_day_moves_to_the_busy_day_after_a_dead_weekend():
    # business days only carry events (weekend factor 0.03 of a weekday, below the 0.05 at
    # which `_prepare` drops a weekday as dead): a step from 20 to 8 a day that begins on
    # a Monday is placed on the Monday, never on the empty days before it
    rng = np.random.default_rng(3)
    week = np.array([1, 1, 1, 1, 1, 0.03, 0.03])
    rate = 20.0 * week[np.arange(DAYS) % 7]
    rate[301:] *= 0.4  # day 301 is a Monday (day 0 a Monday)
    s = _prepare(rng.poisson(rate).astype(float), SETTINGS, "count", None, None, 0)
    noise = _noise(s, SETTINGS)
    (at,) = _place_by_likelihood(s, noise, [int(np.searchsorted(s.index, 296))], np.zeros(len(s.y), bool), SETTINGS)
    assert s.index[at] == 301


@pytest.mark.parametrize("seed", range(6))
def test_a_shift_and_a_return_within_noise_of_the_old_level_are_one_episode(seed):
    # +2 sd for 40 days, then back to 0.8 sd below the old level: 37-56% of the jump
    # left, beyond the 30% rule (which kept two lasting shifts, 6 of 6 seeds), yet within
    # noise of the old level over the windows measured (scores 3.2-4.8 < 5)
    from ctxmetrics.detect import find_changes

    rng = np.random.default_rng(seed)
    values = rng.normal(0.0, 1.0, 400)
    values[150:190] += 2.0
    values[190:] -= 0.8
    changes = find_changes(values, kind="gauge")
    if seed == 1:  # measured: its return lands at day 188, 5.6 sds from the old level
        pytest.xfail("seed 1: the return is measured beyond noise of the old level")
    assert [(c.kind, c.direction, c.end is not None) for c in changes] == [("spike", "up", True)]
    assert abs(changes[0].start - 150) <= 2 and abs(changes[0].end - 189) <= 2


def test_a_ninety_day_episode_placed_a_day_long_is_still_one_episode():
    # the limit is on the episode's length; its placed ends may overstate it by the
    # placement's reach (min_segment_days), so 91 days apart still pair, 98 do not
    from ctxmetrics.detect.shifts import _reverts, _Step

    def step(at, y_before, y_after):
        return _Step(at - 56, at, y_before, y_after, y_before, y_after, 0.0, 6.0, at + 56)

    first = step(100, 0.0, 1.0)
    assert _reverts(first, step(191, 1.0, 0.1), None, None, SETTINGS)
    assert _reverts(first, step(197, 1.0, 0.1), None, None, SETTINGS)
    assert not _reverts(first, step(198, 1.0, 0.1), None, None, SETTINGS)


def test_an_episode_whose_ends_are_weak_alone_is_kept_as_a_whole():
    # +1 sd for 40 days on unit noise: each boundary alone (40 days against 56) scores
    # about 4.8, the episode against both sides pooled about 5.4; wherever the whole
    # passes and neither end does alone, pruning keeps both ends
    from ctxmetrics.detect.shifts import _episode_step, _measure, _prune, _Windows

    rescued = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        values = rng.normal(0.0, 1.0, DAYS)
        values[300:340] += 1.0
        s = _prepare(values, SETTINGS, "gauge", None, None, 0, period=1)
        noise = _noise(s, SETTINGS)
        w = _Windows(s, s.y, s.known, noise)
        first, second = _measure(w, noise, 244, 300, 340), _measure(w, noise, 300, 340, 396)
        whole = _episode_step(w, noise, first, second).score
        if max(first.score, second.score) < SETTINGS.min_score <= whole:
            rescued += 1
            assert [st.at for st in _prune([300, 340], w, noise, len(s.y), SETTINGS)] == [300, 340], seed
    assert rescued >= 2  # measured: seeds 5 and 7 of 12


def test_a_lasting_drop_at_one_event_a_day_is_judged_by_its_count_likelihood():
    # -70% from day 400 at ~1 event a day: ~20 events expected in the 56 days after the
    # step, judged by their likelihood, not on the stabilised scale (found 1 of 12 then)
    from ctxmetrics.detect import find_changes

    dates = np.datetime64("2024-01-01") + np.arange(730)
    hits = []
    for seed in range(12):
        rate = np.where(np.arange(730) >= 400, 0.3, 1.0)
        changes = find_changes(np.random.default_rng(seed).poisson(rate).astype(float), dates=dates)
        hits.append(any(c.end is None and c.direction == "down" and abs(c.start - 400) <= 7 for c in changes))
    assert sum(hits) >= 4, hits  # measured: 5 of 12
