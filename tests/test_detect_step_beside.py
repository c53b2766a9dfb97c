"""An episode beside a lasting step: which boundaries pair into the episode, and the whole
detector on counts with an episode days before or after a lasting step."""
from __future__ import annotations

import numpy as np
import pytest

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect import find_changes
from ctxmetrics.detect.noise import _noise
from ctxmetrics.detect.prepare import _prepare
from ctxmetrics.detect.shifts import _episode_pairs, _measure, _Windows

SETTINGS = DetectionSettings()
DAYS = 600


def paired(levels: list[tuple[int, float]], seed: int, sd: float = 0.1) -> tuple[list[int], list[int]]:
    """`_episode_pairs` of the boundaries of a gauge that holds each (from day, level)."""
    rng = np.random.default_rng(seed)
    bounds = [day for day, _ in levels[1:]]
    clean = np.zeros(DAYS)
    for (day, level), nxt in zip(levels, [*bounds, DAYS]):
        clean[day:nxt] = level
    s = _prepare(clean + rng.normal(0.0, sd, DAYS), SETTINGS, "gauge", None, None, 0, period=1)
    noise = _noise(s, SETTINGS)
    w = _Windows(s, s.y, s.known, noise)
    edges = [0, *bounds, DAYS]
    steps = [_measure(w, noise, max(edges[i], b - 56), b, min(edges[i + 2], b + 56)) for i, b in enumerate(bounds)]
    return _episode_pairs(steps, w, noise, DAYS, SETTINGS)


@pytest.mark.parametrize("seed", range(6))
def test_a_dip_back_to_the_old_level_before_a_lasting_drop_is_the_episode(seed):
    # old level, an 8-day dip, the old level for 7 days, then a lasting drop a little
    # smaller than the dip: both pairs of opposite steps return within 30% of their jump,
    # but only the dip's sides agree (the other pair's differ by 0.2, ~5 noise units)
    pairs, beside = paired([(0, 0.0), (285, -1.0), (293, 0.0), (300, -0.8)], seed)
    assert (pairs, beside) == ([0], [])


@pytest.mark.parametrize("seed", range(6))
def test_a_dip_after_a_lasting_rise_is_the_episode_and_the_rise_lasts(seed):
    # a lasting rise, 15 days later a 7-day dip halfway back: the rise and the dip's
    # start do not make an episode (the dip is far from the old level), the dip does
    pairs, beside = paired([(0, 0.0), (300, 1.0), (315, 0.5), (322, 1.0)], seed)
    assert (pairs, beside) == ([1], [])


@pytest.mark.parametrize("seed", range(6))
def test_two_opposite_steps_that_do_not_return_are_an_episode_beside_a_step(seed):
    # a lasting rise missed by the segmentation, then a 10-day dip: the dip's two ends
    # differ by the rise, so they pair as an episode beside a lasting step
    pairs, beside = paired([(0, 0.0), (409, -0.5), (419, 1.0)], seed)
    assert (pairs, beside) == ([], [0])


def counts(seed: int, level: float, step_at: int, step: float, start: int, length: int, size: float):
    """Daily counts (gamma-Poisson, shape 30) at `level` a day with a lasting `step` from
    `step_at` and an episode of `size` over [start, start + length)."""
    rng = np.random.default_rng(seed)
    rate = np.full(DAYS, level) * np.where(np.arange(DAYS) >= step_at, 1 + step, 1.0)
    rate[start : start + length] *= 1 + size
    dates = np.datetime64("2023-01-02") + np.arange(DAYS)
    return rng.poisson(rate * rng.gamma(30, 1 / 30, DAYS)).astype(float), dates


def found_both(seed, level, step_at, step, start, length, size) -> bool:
    """The episode (its start within 2 days) and the lasting step (within 2 days) both
    found, each in its direction, and nothing else."""
    values, dates = counts(seed, level, step_at, step, start, length, size)
    changes = find_changes(values, dates=dates)
    episode = [c for c in changes if c.end is not None and abs(c.start - start) <= 2 and (c.direction == "up") == (size > 0)]
    lasting = [c for c in changes if c.end is None and abs(c.start - step_at) <= 2 and (c.direction == "up") == (step > 0)]
    return bool(episode) and bool(lasting) and len(changes) == 2


# (level a day, lasting step at day 300, episode start, length, size): least found of 8
# seeds. Measured on 8 seeds before this change (the greedy left-to-right pairing):
# 0 and 1 (lift after a drop, 50 and 150 a day), 1 and 0 (dip after a rise), 6 and 8
# (dip before a drop); with it: 5, 6; 3, 4 (episode and step found, nothing else); 7, 8.
@pytest.mark.parametrize("level, step, start, length, size, least", [
    (50.0, -0.4, 315, 10, 1.0, 4),
    (150.0, -0.4, 315, 10, 1.0, 5),
    (50.0, 0.4, 315, 7, -0.5, 3),
    (150.0, 0.4, 315, 7, -0.5, 3),
    (50.0, -0.4, 280, 8, -0.6, 6),
    (150.0, -0.4, 280, 8, -0.6, 7),
])
def test_an_episode_days_from_a_lasting_step_and_the_step_are_both_found(level, step, start, length, size, least):
    found = sum(found_both(seed, level, 300, step, start, length, size) for seed in range(8))
    assert found >= least


@pytest.mark.parametrize("seed", range(6))
def test_a_long_drop_and_a_partial_recovery_between_close_steps_are_lasting_levels(seed):
    # a 41-day drop, then a partial recovery for 23 days, then another: the drop is
    # longer than the level after it, so it is no episode beside a lasting step (staged
    # lockdown lifts), and the two opposite steps stay lasting shifts
    pairs, beside = paired([(0, 0.0), (300, -1.0), (341, -0.6), (364, -0.3)], seed)
    assert (pairs, beside) == ([], [])


def peak_found_again(seed: int) -> bool:
    """A 60-day +1 lift holding a 3-day +4 peak that the first scan found on its own:
    whether the peak pass inside the lift reports a second peak on those days."""
    from ctxmetrics.detect.episodes import _level_change, _peaks_within

    values = np.random.default_rng(seed).normal(0.0, 0.2, DAYS)
    values[300:360] += 1.0
    values[330:333] += 4.0
    s = _prepare(values, SETTINGS, "gauge", None, None, 0, period=1)
    lift = _level_change("spike", s, 300, 359, 0.0, 1.0, 1.0, 20.0)
    peak = _level_change("spike", s, 330, 332, 1.0, 5.0, 1.0, 20.0)
    return any(p.start <= 332 and p.end >= 330 for p in _peaks_within(s, _noise(s, SETTINGS), SETTINGS, [lift, peak]))


def test_a_peak_already_found_inside_a_long_episode_is_not_found_again():
    # before: found again on 6 of 6 seeds
    assert sum(map(peak_found_again, range(6))) == 0
