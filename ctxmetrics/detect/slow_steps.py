"""Lasting steps of series with no calendar fit (yearly), chosen against a linear trend;
the trend of those that grow multiplicatively taken out."""
from __future__ import annotations

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.calendar import _episode_columns, _significant, _step_starts
from ctxmetrics.detect.noise import _Noise, _remembered_long_run_var
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


def _growth_out(s: _Series, steps: list[int], unit: int) -> bool:
    """Take a log-scale series' linear trend out of `s` (in place), fitted with its lasting
    `steps` alongside, when the trend is significant; whether it was taken out.

    A series read on the log scale grows multiplicatively (`log_scale`): its growth is
    the larger part of its variation, and a yearly series has no calendar fit to take it
    out, so the level windows of the shift search cut it into a staircase (a GDP of a
    century growing 2-6% a year: 7-26 level shifts). The steps stay in the series, for
    the shift search and `shifts._steps_as_shifts` to judge."""
    ok = ~s.known
    t = np.arange(len(s.y)) / len(s.y)
    trend = (t - t[ok].mean())[:, None]
    columns = np.column_stack([np.ones(len(t)), trend] + [(np.arange(len(t)) >= k).astype(float) for k in steps])
    coef = np.linalg.lstsq(columns[ok], s.y[ok], rcond=None)[0]
    lrv = _remembered_long_run_var(s.y - columns @ coef, ok, unit)
    if not _significant(trend, coef[1:2], ok, lrv):
        return False
    s.y = s.y - trend[:, 0] * coef[1]
    s.num = s.inverse(s.y) * s.den
    return True
