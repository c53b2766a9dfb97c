"""Lasting steps of series with no calendar fit (yearly), chosen against a linear trend."""
from __future__ import annotations

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.calendar import _episode_columns, _step_starts
from ctxmetrics.detect.noise import _Noise
from ctxmetrics.detect.prepare import _Series


def _steps_beside_trend(s: _Series, noise: _Noise, settings: DetectionSettings) -> list[int]:
    """First period of each lasting step that stands out of a linear trend of `s`, for
    `shifts._steps_as_shifts` to judge on the whole segments either side.

    A yearly series has no calendar fit, and its level windows (12 periods) are a decade
    or more: a step in a century of river flows (TCPD nile, 1898) scored 3.83 on them
    against its bar 4.61, 6.75 on the whole segments. The candidates are chosen as the
    weekly calendar fit chooses its steps (`calendar._episode_columns`: forward
    selection, each window at the bar of its width, a lasting step at `min_score`), here
    against an intercept and a linear trend only: a trend alongside keeps a growing
    series (GDP) from being cut into a staircase, which a flat fit did.
    """
    t = np.arange(len(s.y)) / len(s.y)
    windows = _episode_columns(s.y, (t - t.mean())[:, None], ~s.known, noise, settings)
    return _step_starts(windows)
