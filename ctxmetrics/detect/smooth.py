"""Smooth gauges: a lasting shift must be a break in the values, not a bend of a curve.

A gauge with no noise of its own (an interpolated population estimate, a cumulative
total, a smoothed index) is reproduced by the detector's rolling median on every
monotone stretch: most residuals are exactly 0, the day scale collapses to its floor,
and the long-run variance (differences of block means) measures the curve's bends
instead of noise. Judged against that, the level windows either side of any bend
differ by "5-14 sds" and the curve is cut into a staircase of level shifts (TCPD
run_log's cumulative distance: 8; children_per_woman: a step planted 130 years away
moved the block variance by one rank and a bend at 1991 with it). Such a series'
lasting shift is kept only where its first differences jump at the shift: a step
adds its size to one difference, a bend changes them gradually.
"""
from __future__ import annotations

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.noise import _Noise
from ctxmetrics.detect.prepare import _Series
from ctxmetrics.detect.robust import mad, median
from ctxmetrics.models.change import Change

# the sd of the difference of two values rounded to a resolution r: r * sqrt(2 / 12)
_ROUNDING_SD = np.sqrt(2.0 / 12.0)


def _smooth_gauge(s: _Series, noise: _Noise) -> bool:
    """Whether `s` is a gauge that its rolling median reproduces on most known periods
    (a residual of exactly 0: on noisy series that is one period in a window's length)."""
    ok = ~s.known
    if s.shape is not None or s.floor_var.any() or ok.sum() < 8:
        return False
    return 2 * np.count_nonzero((s.y - noise.level)[ok] == 0) > ok.sum()


def _breaks_only(s: _Series, noise: _Noise, changes: list[Change], settings: DetectionSettings) -> list[Change]:
    """`changes` of `s`, without the lasting shifts of a smooth gauge whose values do not
    jump where they start (`_jump_z` below `min_score`); any other series' unchanged."""
    if not any(c.kind == "level_shift" for c in changes) or not _smooth_gauge(s, noise):
        return changes
    v = s.y[~s.known]
    steps = np.diff(v)
    values = np.unique(v)
    resolution = float(np.min(np.diff(values))) if values.size > 1 else 0.0
    periods = s.index[~s.known]
    out = []
    for c in changes:
        # the difference into the shift's first period, placed within the placement's reach
        at = int(np.searchsorted(periods, c.start)) - 1
        if c.kind != "level_shift" or _jump_z(steps, at, settings, resolution) >= settings.min_score:
            out.append(c)
    return out


def _jump_z(steps: np.ndarray, at: int, settings: DetectionSettings, resolution: float) -> float:
    """The largest of the differences `steps` within `min_segment_days` of `at`, in robust
    sds of the differences around them (up to `level_window_days` either side), from their
    median; inf where too few differences surround it to judge.

    The scale is local: a curve's differences drift along it, so the whole series' spread
    would make every bend's neighbourhood look calm or wild by where it lies. Values
    rounded to a resolution have differences at least that noisy."""
    reach, width = settings.min_segment_days, settings.level_window_days
    lo, hi = max(at - reach, 0), min(at + reach + 1, len(steps))
    around = np.concatenate((steps[max(at - width, 0):lo], steps[hi:at + width + 1]))
    if around.size < 4 or lo >= hi:
        return np.inf
    scale = max(mad(around), resolution * _ROUNDING_SD, 1e-300)
    return float(np.max(np.abs(steps[lo:hi] - median(around)))) / scale
