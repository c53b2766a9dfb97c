"""The pre-screen's rows: per-row medians, MADs and cumulative sums, and each row
deseasonalised and variance-stabilised as the detector prepares one series (rows too
small to ever show a change marked)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.prepare import _DEAD_WEEKDAY, nb_transform
from ctxmetrics.detect.robust import MAD_TO_SD

def _row_weekday_medians(v: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """Per-row median of `v` for each weekday: shape (rows, 7)."""
    out = np.ones((v.shape[0], 7), v.dtype)
    for day in range(7):
        cols = _weekday_columns(weekday, day)
        if v[:, cols].shape[1]:
            out[:, day] = _row_median(v[:, cols])
    return out


def _weekday_columns(weekday: np.ndarray, day: int) -> slice:
    """The columns of one weekday as a slice (every 7th day from its first), not a mask:
    selecting them is a view, not a gathered copy. `weekday`: as `_calendar` makes it."""
    return slice((day - int(weekday[0])) % 7, None, 7)


def _row_median(v: np.ndarray, overwrite: bool = False) -> np.ndarray:
    """Per-row (upper) median with a single partition: twice as fast as np.median.
    `overwrite`: partition `v` itself (a temporary) instead of a copy of it."""
    k = v.shape[1] // 2
    if overwrite:
        v.partition(k, axis=1)
        return v[:, k].copy()
    return np.partition(v, k, axis=1)[:, k]


def _row_centered_mean(v: np.ndarray, width: int = 7) -> np.ndarray:
    """Per-row centered moving mean (edges use the nearest full window): compiled, one
    pass per row, the same floats as the cumulative sums of single-precision rows."""
    from ctxmetrics.detect.kernels import centered_mean

    return centered_mean(v, width)


def too_small(matrix, settings: DetectionSettings, kind: str = "count", denominators=None) -> np.ndarray:
    """Rows too small to ever show a change: counts whose longest episode window holds
    fewer events than a drop to zero needs to reach `min_score` (Poisson deviance
    2 * expected >= min_score**2); ratios whose median denominator is below
    `min_denominator`. Gauges are never too small."""
    matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-unknown rows
        if kind == "count":
            return np.nan_to_num(_row_nanmean(matrix)) * settings.max_temporary_days < settings.min_score**2 / 2
        if kind == "ratio":
            return np.nan_to_num(np.nanmedian(np.asarray(denominators, dtype=float), axis=1)) < settings.min_denominator
    return np.zeros(len(matrix), bool)


def _row_nanmean(matrix: np.ndarray) -> np.ndarray:
    """`np.nanmean(matrix, axis=1)`; without NaN, the same sums without nanmean's copy of
    the matrix (0.6 GB for a 100k x 730 cube; 20k x 730 rows: 773 -> 15 ms, under load)."""
    if np.isnan(matrix).any():
        return np.nanmean(matrix, axis=1)
    return np.sum(matrix, axis=1) / matrix.shape[1]


def _stabilised_rows(matrix: np.ndarray, settings, kind, denominators, weekday):
    """Deseasonalised, variance-stabilised rows.

    Returns:
        The stabilised rows, which rows are large enough to judge, (counts) the
        `_Counts` of the count likelihood (None for ratios and gauges), and the unknown
        days (filled, but left out of the noise scale; None when there are none).
    """
    if kind == "count":
        x = matrix.astype(np.float32, copy=False)
        gaps = np.isnan(x)
        if gaps.any():  # data gaps: a first fill (the row's typical day) for the weekday profile
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                x = np.where(gaps, np.nan_to_num(np.nanmedian(x, axis=1))[:, None], x)
        big = ~too_small(x, settings, kind)
        local = _row_centered_mean(x)
        weekly = _row_weekday_factors(x, local, weekday)  # (rows, 7): spread over the days once
        # spread in row order (`a[:, cols]` is column-major: rows' days 8 kB apart, every
        # elementwise operation with it ~15x slower); the same values
        factor = np.take(np.maximum(weekly, _DEAD_WEEKDAY), weekday, axis=1)
        # gaps are unknown and dead weekdays (no weekend trade) carry no signal, as in the
        # detector, which leaves both out: they take the day's expected count, no deviation
        dead = weekly < _DEAD_WEEKDAY
        unknown = gaps | dead[:, weekday] if dead.any() else gaps  # (spread over the days only when some)
        if unknown.any():
            x = np.where(unknown, local * factor, x)
        u = x / factor
        shape = _row_nb_shape(u, factor)
        counts = _Counts(x, factor, shape.astype(np.float32), _row_nanmean(u))
        # the counts themselves stabilised, the weekday pattern then taken out on that
        # scale: every day has unit variance, so a quiet weekend day weighs as little as
        # its few events say (as the detector's inverse-variance weights), instead of its
        # count divided by a small factor weighing as much as a busy day
        y = nb_transform(x, shape[:, None].astype(np.float32))  # single precision, as the screen's sums
    elif kind == "ratio":
        raw_den = np.asarray(denominators, dtype=np.float32)
        den = np.nan_to_num(raw_den)
        big = np.median(den, axis=1) >= settings.min_denominator
        num = np.nan_to_num(matrix).astype(np.float32)
        valid = np.isfinite(matrix) & (den >= settings.min_denominator)
        # as the detector: a numerator above its denominator on any day (both known) makes
        # the two counts of their own, judged by the share num / (num + den)
        two_counts = np.any(np.isfinite(matrix) & np.isfinite(raw_den) & (num > den), axis=1)[:, None]
        trials = np.where(two_counts, num + den, den)
        rate = np.clip(np.divide(num, trials, out=np.zeros_like(den), where=valid & (trials > 0)), 0, 1)
        y = np.where(valid, np.arcsin(np.sqrt(rate)), np.nan)
        unknown = ~valid
    else:
        big = np.ones(matrix.shape[0], bool)
        y = matrix.astype(np.float32, copy=True)
        unknown = ~np.isfinite(y)
    if kind != "count":
        counts = None
    if not np.isfinite(y).all():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-unknown rows stay flat
            fill = np.nan_to_num(np.nanmedian(y, axis=1))
        y = np.where(np.isfinite(y), y, fill[:, None])
    profile = _row_weekday_medians(y - _row_centered_mean(y), weekday)
    profile -= profile.mean(axis=1, keepdims=True)
    for day in range(7):  # taken out of each weekday's columns in place (`y` is this function's own)
        y[:, _weekday_columns(weekday, day)] -= profile[:, day : day + 1]
    return y, big, counts, (unknown if unknown.any() else None)


def _row_weekday_factors(x: np.ndarray, local: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """Per-row weekday factors (mean 1), as `_multiplicative_profile`: the median ratio of
    each weekday to its week's mean; rows where a weekday with events has a median of 0
    (below ~0.7 a day) take events over expected events per weekday instead, without the
    days beyond 3.5 Poisson sds of what the rest of their week leads to expect."""
    ratio = np.divide(x, local, out=np.ones_like(x), where=local > 0)
    profile = _row_weekday_medians(ratio, weekday)
    events = np.stack([x[:, _weekday_columns(weekday, d)].sum(axis=1) for d in range(7)], axis=1)
    sparse = np.flatnonzero(np.any((profile <= 0) & (events > 0), axis=1))
    if sparse.size:
        xs, ls = x[sparse], local[sparse]
        first = _row_ratio_of_sums(xs, ls, weekday, ls > 0)
        others = np.maximum(7 * ls - xs, 0.0) / 6
        inlier = (ls > 0) & (np.abs(2.0 * (np.sqrt(xs) - np.sqrt(first[:, weekday] * others))) <= 3.5)
        profile[sparse] = _row_ratio_of_sums(xs, ls, weekday, inlier)
    mean = profile.mean(axis=1, keepdims=True)
    return np.divide(profile, mean, out=np.ones_like(profile), where=mean > 0)


def _row_ratio_of_sums(x: np.ndarray, local: np.ndarray, weekday: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Per row and weekday, the `use` days' events over their expected events (1 where none)."""
    out = np.ones((len(x), 7), x.dtype)
    for day in range(7):
        cols = _weekday_columns(weekday, day)
        events, exposure = (np.sum(np.where(use[:, cols], v[:, cols], 0), axis=1) for v in (x, local))
        out[:, day] = np.divide(events, exposure, out=np.ones_like(events), where=exposure > 0)
    return out


@dataclass
class _Counts:
    """Count rows as the count likelihood needs them: events (gaps filled with their
    expected count), weekday factors, the gamma shape and the mean deseasonalised day."""

    x: np.ndarray
    factor: np.ndarray
    shape: np.ndarray
    rate: np.ndarray


def _row_nb_shape(u: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Per-row gamma shape of the overdispersion, as `_nb_shape` does for one series."""
    local = _row_centered_mean(u)
    # in a year or more, every third day (still cycling through all weekdays) is plenty
    # for one number per row; a shorter row needs all its days
    step = 3 if u.shape[1] >= 365 else 1
    scale, _ = _row_mad(u[:, ::step] - local[:, ::step], overwrite=True)
    excess = scale**2 * 7 / 6 - np.mean(local / factor, axis=1)
    mean = _row_median(u[:, ::step])
    shape = np.divide(mean**2, excess, out=np.full(len(u), 1e6), where=excess > 0)
    return np.clip(shape, 1.0, 1e6)


def _row_mad(v: np.ndarray, floor: float = 1e-9, overwrite: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per-row robust sd (scaled MAD, at least `floor`) and median. `overwrite`: `v` is a
    temporary, partitioned in place for its median (the MAD does not depend on the days' order)."""
    centre = _row_median(v, overwrite)
    return np.maximum(MAD_TO_SD * _row_median(np.abs(v - centre[:, None]), overwrite=True), max(floor, 1e-9)), centre


_PAD = 112  # widest flank of `_window_best` and `_count_best`


def _padded_cumsum(y: np.ndarray) -> np.ndarray:
    """`_row_cumsum(y)` with `_PAD` columns each side holding its first and last sums, so
    that sums over windows clipped at the series' ends are slices, not gathers."""
    rows, n = y.shape
    out = np.empty((rows, n + 1 + 2 * _PAD), y.dtype)
    out[:, : _PAD + 1] = 0
    np.cumsum(y, axis=1, out=out[:, _PAD + 1 : _PAD + n + 1])
    out[:, _PAD + n + 1 :] = out[:, _PAD + n : _PAD + n + 1]
    return out


def _row_cumsum(y: np.ndarray) -> np.ndarray:
    """Per-row cumulative sums with a leading 0 column (shared by the screen's statistics)."""
    out = np.empty((y.shape[0], y.shape[1] + 1), y.dtype)
    out[:, 0] = 0
    np.cumsum(y, axis=1, out=out[:, 1:])
    return out
