"""Smooth paths rounded to a resolution are not noiseless steps (`noiseless._rounded_path_changes`).

A logistic decline of 5.8 to 1.6 over 300 years rounded to 0.01 has most of its years equal
to the one before, so it took the noiseless path, where each one-hundredth tick was a
level shift (main: 75-129 of them at a score of 1e7). Its ticks follow its slope; a real
step beside the curve jumps out of them, and a level held and then moved keeps the
noiseless reading."""
from __future__ import annotations

import numpy as np
import pytest

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect import find_changes
from ctxmetrics.detect.noiseless import _decimal_resolution, _move_contrasts, _rounded_path_changes
from ctxmetrics.detect.prepare import _prepare


def _years(n: int) -> np.ndarray:
    return (np.datetime64("1800", "Y") + np.arange(n)).astype("datetime64[D]")


def _decline(n: int = 300, steepness: float = 30.0, middle: float = 0.55, step_at: int | None = None,
             step: float = 0.0, decimals: int = 2) -> np.ndarray:
    x = np.arange(n) / (n - 1)
    rise = 1 / (1 + np.exp(-steepness * (x - middle)))
    level = 5.8 - 4.2 * (rise - rise[0]) / (rise[-1] - rise[0])
    if step_at is not None:
        level = level + step * (np.arange(n) >= step_at)
    return np.round(level, decimals)


@pytest.mark.parametrize("steepness", [20.0, 30.0, 40.0])
def test_a_rounded_smooth_decline_has_no_change(steepness):
    values = _decline(steepness=steepness)
    assert np.mean(np.diff(values) == 0) > 0.5  # the noiseless path's condition: this is the case it misread
    assert find_changes(values, kind="gauge", dates=_years(len(values))) == []


@pytest.mark.parametrize("steepness", [20.0, 30.0, 40.0])
@pytest.mark.parametrize("step", [0.05, 0.3, -0.3])
def test_a_step_beside_a_rounded_decline_is_its_one_change(steepness, step):
    # 5 and 30 hundredths, up and down, in the decline's flat tail or on its slope
    values = _decline(steepness=steepness, step_at=200, step=step)
    changes = find_changes(values, kind="gauge", dates=_years(len(values)))
    assert [(c.kind, c.start, c.end, c.direction) for c in changes] == [
        ("level_shift", 200, None, "up" if step > 0 else "down")]


def test_a_one_period_spike_on_a_rounded_decline_is_a_spike():
    values = _decline()
    values[150] += 0.4
    changes = find_changes(values, kind="gauge", dates=_years(len(values)))
    assert [(c.kind, c.start, c.end, c.direction) for c in changes] == [("spike", 150, 150, "up")]


def test_a_price_held_and_then_moved_keeps_the_noiseless_reading():
    # a daily price at cents, held for weeks between moves of several cents each way: its
    # moves stand out of the zeros around them, so each is a change, as before
    n = 400
    values = np.full(n, 19.99)
    for at, price in ((60, 21.49), (150, 20.99), (260, 22.49), (330, 24.99)):
        values[at:] = price
    changes = find_changes(values, kind="gauge")
    assert [(c.kind, c.start) for c in changes] == [("level_shift", at) for at in (60, 150, 260, 330)]
    s = _prepare(values, DetectionSettings(), "gauge", None, None, 0)
    assert _rounded_path_changes(values, s, DetectionSettings()) is None


def test_the_decimal_resolution_of_rounded_values():
    assert _decimal_resolution(np.array([5.8, 5.79, 1.6])) == pytest.approx(0.01)
    assert _decimal_resolution(np.array([100.0, 140.0])) == 1.0
    assert _decimal_resolution(np.array([0.1234567, 1.0])) is None


def test_a_moves_contrast_takes_out_slope_and_bend_and_leaves_a_jump():
    t = np.arange(20, dtype=float)
    bend = 0.05 * t**2  # a path's moves on a parabola: a line, contrast 0
    assert np.allclose(_move_contrasts(np.diff(bend))[1:-1], 0.0)
    moves = np.diff(bend)
    moves[10] += 7.0
    contrast = _move_contrasts(moves)
    assert contrast[10] == pytest.approx(7.0)
    assert contrast[9] == pytest.approx(-3.5) and contrast[11] == pytest.approx(-3.5)
