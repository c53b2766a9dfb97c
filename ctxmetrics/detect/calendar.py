"""The sales calendar and the yearly season: quarter- and month-end closes fitted and removed."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.noise import _Noise
from ctxmetrics.detect.prepare import _Series
from ctxmetrics.detect.robust import mad, median
from ctxmetrics.detect.shifts import _candidates

_YEARLY_MIN_DAYS = 395  # 13 months: from here on the yearly season is part of normal
_CLOSE_DAYS = (7, 3)  # the sales calendar: last 7 days of a quarter, last 3 of other months


def _calendar_columns(days: np.ndarray, span: int, daily: bool) -> np.ndarray | None:
    """Regressors of the normal calendar: yearly harmonics (>= 13 months of data) and,
    for daily series, quarter-end and month-end closes (each seen at least 3 times)."""
    cols = []
    if span >= _YEARLY_MIN_DAYS:
        year_day = (days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
        angle = 2 * np.pi * year_day / 365.25
        cols += [np.sin(angle), np.cos(angle), np.sin(2 * angle), np.cos(2 * angle)]
    if daily:
        cols += [close.astype(float) for close in _close_days(days)]
    return np.column_stack(cols) if cols else None


def _close_days(days: np.ndarray) -> list[np.ndarray]:
    """Masks of the sales calendar's closes among `days` (datetime64[D]): the last 7 days
    of each quarter, the last 3 of other months; each only when seen at least 3 times."""
    month = days.astype("datetime64[M]")
    to_end = ((month + 1).astype("datetime64[D]") - days).astype(np.int64)
    quarter_month = month.astype(np.int64) % 3 == 2
    closes = (quarter_month & (to_end <= _CLOSE_DAYS[0]), ~quarter_month & (to_end <= _CLOSE_DAYS[1]))
    return [close for close in closes if np.unique(month[close]).size >= 3]


def _robust_fit(y: np.ndarray, calendar: np.ndarray, ok: np.ndarray) -> np.ndarray | None:
    """Calendar coefficients of y ~ intercept + trend + calendar, refitted three times
    without the days beyond 3.5 robust sds (episodes must not bend the season)."""
    t = np.arange(len(y)) / 365.25
    design = np.column_stack((np.ones(len(t)), t - t.mean(), calendar))
    use = ok.copy()
    for _ in range(3):
        if use.sum() <= 2 * design.shape[1]:
            return None
        # normal equations (a few columns, hundreds of days): far cheaper than lstsq's SVD
        # of the whole design; pinv keeps lstsq's answer when a column is empty
        x = design[use]
        coef = np.linalg.pinv(x.T @ x) @ (x.T @ y[use])
        resid = y - design @ coef
        kept = use
        use = ok & (np.abs(resid - median(resid[ok])) <= 3.5 * max(mad(resid[ok]), 1e-9))
        if np.array_equal(use, kept):  # the same days again would give the same fit
            break
    return coef[2:]


def _same_season_each_year(s: _Series, days: np.ndarray, calendar: np.ndarray, coef: np.ndarray) -> bool:
    """With two years or more, the yearly shape fitted on the first and on the last year
    must agree (correlation >= 0.5): a year upset by months-long anomalies (a lockdown)
    is no season to learn."""
    span = int((days[-1] - days[0]).astype(np.int64))
    if span < 730 or calendar.shape[1] < 4:
        return True
    curves = []
    for part in (days < days[0] + 365, days >= days[-1] - 365):
        fitted = _robust_fit(s.y[part], calendar[part, :4], ~s.known[part])
        if fitted is None:
            return False
        curves.append(calendar[:, :4] @ fitted)
    return bool(np.corrcoef(curves[0], curves[1])[0, 1] >= 0.5)


def _remove_calendar(s: _Series, noise: _Noise, settings: DetectionSettings, first_day, step_days: int) -> None:
    """Take the yearly season and the month-/quarter-end closes out of `s` (in place).

    Fitted with an intercept and a linear trend on the stabilised scale (`_robust_fit`),
    and only used when the years agree. Only the calendar part is removed: the trend
    stays, for the episode scan (flanks) and the boundary pruning to judge.
    """
    days = np.datetime64(first_day, "D") + s.index * step_days
    calendar = _calendar_columns(days, int(s.index[-1] - s.index[0] + 1) * step_days, step_days == 1)
    if calendar is None:
        return
    # level steps where a first segmentation puts them are fitted alongside, so that a
    # lasting shift is not mistaken for part of the season (with < 2 years they look alike)
    strong = replace(settings, min_score=1.5 * settings.min_score)  # only clear steps: a season bends, it does not jump
    steps = np.column_stack([np.arange(len(s.y)) >= b for b in _candidates(s.y, noise, strong, coarse=True)] or [np.zeros(len(s.y))])
    coef = _robust_fit(s.y, np.column_stack((calendar, steps)), ~s.known)
    if coef is None:
        return
    coef = coef[: calendar.shape[1]]
    if not _same_season_each_year(s, days, calendar, coef):
        return
    s.y = s.y - calendar @ coef
    if s.shape is not None:
        s.num = s.inverse(s.y)
    elif s.floor_var.any():
        s.num = s.inverse(s.y) * s.den
    else:
        s.num = s.y
