"""The vectorised pre-screen over many series, run before `find_changes`."""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.calendar import _close_days
from ctxmetrics.detect.noise import _BLOCKS
from ctxmetrics.detect.prepare import KINDS, _DEAD_WEEKDAY, nb_transform
from ctxmetrics.detect.robust import _MAD_TO_SD

_PRESCREEN_CHUNK = 2048  # rows per chunk: keeps a 100k x 730 screen within a few hundred MB


def _row_weekday_medians(v: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """Per-row median of `v` for each weekday: shape (rows, 7)."""
    out = np.ones((v.shape[0], 7), v.dtype)
    for day in range(7):
        cols = weekday == day
        if cols.any():
            out[:, day] = _row_median(v[:, cols])
    return out


def _row_median(v: np.ndarray) -> np.ndarray:
    """Per-row (upper) median with a single partition: twice as fast as np.median."""
    k = v.shape[1] // 2
    return np.partition(v, k, axis=1)[:, k]


def _row_centered_mean(v: np.ndarray, width: int = 7) -> np.ndarray:
    """Per-row centered moving mean (edges use the nearest full window)."""
    n = v.shape[1]
    cs = _row_cumsum(v)
    half = width // 2
    start = np.clip(np.arange(n) - half, 0, max(n - width, 0))
    # every full window's mean from slices, then one gather (edges repeat their nearest)
    full = (cs[:, width:] - cs[:, : n + 1 - width]) / width
    return full[:, start]


def too_small(matrix, settings: DetectionSettings, kind: str = "count", denominators=None) -> np.ndarray:
    """Rows too small to ever show a change: counts whose longest episode window holds
    fewer events than a drop to zero needs to reach `min_score` (Poisson deviance
    2 * expected >= min_score**2); ratios whose median denominator is below
    `min_denominator`. Gauges are never too small."""
    matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-unknown rows
        if kind == "count":
            return np.nan_to_num(np.nanmean(matrix, axis=1)) * settings.max_temporary_days < settings.min_score**2 / 2
        if kind == "ratio":
            return np.nan_to_num(np.nanmedian(np.asarray(denominators, dtype=float), axis=1)) < settings.min_denominator
    return np.zeros(len(matrix), bool)


def _stabilised_rows(matrix: np.ndarray, settings, kind, denominators, weekday):
    """Deseasonalised, variance-stabilised rows.

    Returns:
        The stabilised rows, which rows are large enough to judge, and the expected
        variance of each weekday relative to a typical day (rows x 7).
    """
    if kind == "count":
        x = matrix.astype(np.float32, copy=False)
        if np.isnan(x).any():  # data gaps: unknown days take the row's typical day
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                x = np.where(np.isnan(x), np.nan_to_num(np.nanmedian(x, axis=1))[:, None], x)
        big = ~too_small(x, settings, kind)
        local = _row_centered_mean(x)
        ratio = np.divide(x, local, out=np.ones_like(x), where=local > 0)
        profile = _row_weekday_medians(ratio, weekday)
        profile /= np.maximum(profile.mean(axis=1, keepdims=True), 1e-12)
        factor = np.maximum(profile[:, weekday], _DEAD_WEEKDAY)
        u = x / factor
        shape = _row_nb_shape(u, factor)
        # weekday variance on the stabilised scale: (1/factor + mean/k) / (1 + mean/k)
        over = (_row_median(u[:, ::3]) / shape)[:, None]
        rel_var = (1.0 / np.maximum(profile, _DEAD_WEEKDAY) + over) / (1.0 + over)
        rel_var /= np.median(rel_var, axis=1, keepdims=True)
        return nb_transform(u, shape[:, None]), big, rel_var
    if kind == "ratio":
        den = np.nan_to_num(np.asarray(denominators, dtype=np.float32))
        big = np.median(den, axis=1) >= settings.min_denominator
        valid = np.isfinite(matrix) & (den >= settings.min_denominator)
        rate = np.clip(np.divide(np.nan_to_num(matrix), den, out=np.zeros_like(den), where=valid), 0, 1)
        y = np.where(valid, np.arcsin(np.sqrt(rate)), np.nan)
    else:
        big = np.ones(matrix.shape[0], bool)
        y = matrix.astype(np.float32, copy=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-unknown rows stay flat
        fill = np.nan_to_num(np.nanmedian(y, axis=1))
    y = np.where(np.isfinite(y), y, fill[:, None])
    profile = _row_weekday_medians(y - _row_centered_mean(y), weekday)
    rel_var = np.ones((len(y), 7), y.dtype)
    return y - (profile - profile.mean(axis=1, keepdims=True))[:, weekday], big, rel_var


def _row_nb_shape(u: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Per-row gamma shape of the overdispersion, as `_nb_shape` does for one series."""
    local = _row_centered_mean(u)
    # every third day (still cycling through all weekdays) is plenty for one number per row
    scale, _ = _row_mad((u - local)[:, ::3])
    excess = scale**2 * 7 / 6 - np.mean(local / factor, axis=1)
    mean = _row_median(u[:, ::3])
    shape = np.divide(mean**2, excess, out=np.full(len(u), 1e6), where=excess > 0)
    return np.clip(shape, 1.0, 1e6)


def _row_mad(v: np.ndarray, floor: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Per-row robust sd (scaled MAD, at least `floor`) and median."""
    centre = _row_median(v)
    return np.maximum(_MAD_TO_SD * _row_median(np.abs(v - centre[:, None])), max(floor, 1e-9)), centre


_PAD = 112  # widest flank of `_episode_stat`


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
    return np.concatenate((np.zeros((y.shape[0], 1), y.dtype), np.cumsum(y, axis=1)), axis=1)


def _spike_stat(y, cs, weekday, half: int, rel_var, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Largest |residual| against the surrounding days' mean, in robust sds of its weekday
    (the pooled scale times the expected relative sd of the weekday), and the rows' robust
    daily sd. `cs`: `_row_cumsum(y)`."""
    n = y.shape[1]
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    # window sums cs[hi] - cs[lo]: slices inside, gathers only at the clipped edges
    window = np.empty_like(y)
    window[:, half : n - half] = cs[:, 2 * half + 1 :] - cs[:, : n - 2 * half]
    edges = np.r_[0:half, n - half : n]
    window[:, edges] = cs[:, hi[edges]] - cs[:, lo[edges]]
    resid = y - (window - y) / (hi - lo - 1)
    scale, centre = _row_mad(resid[:, ::2], floor)
    sd = scale[:, None] * np.sqrt(rel_var)[:, weekday]
    # a residual against the mean of 2*half neighbours has (1 + 1/(2*half)) the daily variance
    return (np.abs(resid - centre[:, None]) / sd).max(axis=1), scale / np.sqrt(1 + 1 / (2 * half))


def _episode_stat(cs: np.ndarray, width: int, scale: np.ndarray, long_run: np.ndarray) -> np.ndarray:
    """Largest |mean of a `width`-day window - mean of its flanks| per row, in units of its
    standard error, as the detector's episode scan judges a window: flanks of the same
    length each side (fewer at the ends), variances grown by the long-run factor
    (autocorrelation) as in `_Noise.se2`. `cs`: `_padded_cumsum` rows; `scale`: the rows'
    robust daily sd; `long_run`: their long-run variance over the daily one (`_row_long_run`)."""
    n = cs.shape[1] - 1 - 2 * _PAD
    flank = max(42, min(2 * width, 112))
    # the flanks' ends clipped to the series are plain slices of the padded sums
    inside = cs[:, _PAD + width : _PAD + n + 1] - cs[:, _PAD : _PAD + n - width + 1]
    around = cs[:, _PAD + width + flank : _PAD + n + 1 + flank] - cs[:, _PAD - flank : _PAD + n - width + 1 - flank]
    t = np.arange(n - width + 1)
    days = (np.minimum(t + width + flank, n) - np.maximum(t - flank, 0) - width).astype(cs.dtype)
    ramp = 1.0 + (long_run - 1.0) * min(width - 1, 6) / 6
    # mean inside - mean of the flanks, largest squared per row over the variance of the
    # difference; in the interior the flanks are full, so the variance is one per row
    full = slice(flank, max(n - width - flank + 1, flank))
    edges = np.r_[0 : min(flank, len(t)), full.stop : len(t)]
    d = 2.0 * flank
    diff = inside[:, full] * (1 / width + 1 / d) - around[:, full] * (1 / d)
    best = np.zeros(len(cs), cs.dtype)
    if diff.size:
        best = np.maximum(diff.max(axis=1), -diff.min(axis=1)) ** 2 / (ramp / width + long_run / d)
    e_days = days[edges]
    e_diff = inside[:, edges] / width - (around[:, edges] - inside[:, edges]) / e_days
    e_var = (ramp / width)[:, None] + long_run[:, None] / e_days
    best = np.maximum(best, np.max(e_diff * e_diff / e_var, axis=1))
    return np.sqrt(best) / scale


def _step_stat(cs: np.ndarray, width: int, scale: np.ndarray, long_run: np.ndarray) -> np.ndarray:
    """Largest |difference of adjacent `width`-day means| per row in standard errors, as
    the detector measures a boundary (`_measure`: long-run variance at these lengths)."""
    n = cs.shape[1] - 1
    diff = (cs[:, 2 * width : n + 1] - 2 * cs[:, width : n - width + 1] + cs[:, : n - 2 * width + 1]) / width
    return np.abs(diff).max(axis=1) / (scale * np.sqrt(2 * long_run / width))


def _row_long_run(cs: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per row, the long-run variance over the daily one (>= 1), from differences of
    adjacent 7-, 14- and 28-day block means (median over lengths), as `_long_run_var`."""
    n = cs.shape[1] - 1
    estimates = []
    for block in _BLOCKS:
        if n >= 8 * block:
            t = np.arange(0, n - 2 * block + 1, max(2, block // 4))  # the detector: every block // 4
            diffs = (cs[:, t + 2 * block] - 2 * cs[:, t + block] + cs[:, t]) / block
            estimates.append(_row_mad(diffs)[0] ** 2 / 2 * block)
    if not estimates:
        return np.ones(len(scale), cs.dtype)
    return np.maximum(np.min(np.array(estimates), axis=0) / scale**2, 1.0)


# Measured against find_changes itself on the tune split of the evaluation profiles
# (benchmarks/prescreen_recall.py --split tune --per-profile 60: daily counts and ratios
# with season, trend, closes, heavy tails, gaps, low volume): share of the series the
# detector reports that the screen keeps / share of clean synth.many_series rows kept
# (white noise). Episode share 0.85: 0.994 / 32%; 0.9: 0.985 / 22%; 1.0: 0.966 / 11%;
# 1.2: 0.896 / 4.6%. Below 1.2 the detector's own false alarms on clean funnels pass
# the screen: 11-15 in 560 series at 0.9-1.05 (tests/test_detect_funnel.py allows 1%),
# so recall >= 0.99 waits for a detector with fewer false alarms there.
_SPIKE_SHARE = 0.9  # share of min_score a single-day residual needs to keep its row
_EPISODE_SHARE = 1.2  # share of min_score an episode window needs to keep its row
_SCREEN_WIDTHS = (2, 3, 5, 8, 13, 21, 34, 55, 89)  # episode windows screened (~1.6x apart)


def _prescreen_chunk(matrix, settings, kind, denominators, weekday, closes) -> np.ndarray:
    """The pre-screen of one block of rows (see `prescreen`)."""
    y, big, rel_var = _stabilised_rows(matrix, settings, kind, denominators, weekday)
    # centred and in single precision: half the memory traffic of the sums below, and
    # centring keeps a gauge's large level from eating the float32 digits of its sums
    y = (y - _row_median(y[:, ::7])[:, None]).astype(np.float32)
    for close in closes:  # the sales calendar is normal, as in the detector's calendar fit
        usual = np.flatnonzero(~close)[::3]  # a third of the other days: plenty for a median
        y[:, close] -= (_row_median(y[:, close]) - _row_median(y[:, usual]))[:, None]
    n = y.shape[1]
    padded = _padded_cumsum(y)
    cs = padded[:, _PAD : _PAD + n + 1]
    # counts: the stabilised scale has unit sampling variance, so a zero MAD of a
    # low-volume row (mostly zeros) must not make every single event look extreme
    floor = 0.8 if kind == "count" else 1e-9
    spike, scale = _spike_stat(y, cs, weekday, settings.min_segment_days, rel_var, floor)
    keep = spike >= _SPIKE_SHARE * settings.min_score
    long_run = _row_long_run(cs, scale)
    for width in _SCREEN_WIDTHS:
        if 3 * width <= n:
            keep |= _episode_stat(padded, width, scale, long_run) >= _EPISODE_SHARE * settings.min_score
    for width in (settings.min_segment_days, settings.level_window_days // 2, settings.level_window_days):
        if 2 * width < n:
            keep |= _step_stat(cs, width, scale, long_run) >= _EPISODE_SHARE * settings.min_score
    return keep & big


def prescreen(
    matrix,
    settings: DetectionSettings,
    *,
    kind: str = "count",
    denominators=None,
    start_weekday: int = 0,
    start_date=None,
) -> np.ndarray:
    """Vectorised filter: which series are worth running `find_changes` on.

    Per row: weekday profile removed and variance stabilised as in `find_changes`, then a
    spike statistic (residual against neighbouring days in robust sds, with the expected
    extra variance of weekend days) and episode statistics (2- to 89-day windows against
    their flanks, as the detector's episode scan measures them, in standard errors from
    the row's robust daily sd). Rows are processed in chunks so 100k x 730 fits in a few
    hundred MB.

    Args:
        matrix: Shape (n_series, n_days); values as for `find_changes` (NaN: unknown day).
        settings: Detection thresholds; the screen is looser than the detector.
        kind: "count", "ratio" or "gauge".
        denominators: Ratios only: same shape as `matrix`.
        start_weekday: Weekday of column 0 (0=Monday).
        start_date: Date of column 0, if known: then month- and quarter-end closes are
            normal, as in `find_changes` with dates (and it sets the weekday).

    Returns:
        Boolean array, one entry per row.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}.")
    matrix = np.asarray(matrix)
    if kind == "ratio" and (denominators is None or np.shape(denominators) != matrix.shape):
        raise ValueError("ratio pre-screen needs denominators of the same shape as matrix.")
    rows, n = matrix.shape
    keep = np.zeros(rows, bool)
    if n < 4 * settings.min_segment_days:
        return keep
    closes = []
    if start_date is not None:
        days = np.datetime64(start_date, "D") + np.arange(n)
        start_weekday = int((days[0].astype(np.int64) + 3) % 7)  # 1970-01-01 was a Thursday
        closes = _close_days(days)
    weekday = (start_weekday + np.arange(n)) % 7

    def screen(lo: int) -> None:
        hi = min(lo + _PRESCREEN_CHUNK, rows)
        den = None if denominators is None else np.asarray(denominators[lo:hi])
        keep[lo:hi] = _prescreen_chunk(matrix[lo:hi], settings, kind, den, weekday, closes)

    # numpy releases the GIL in its array loops, so threads use every core
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(screen, range(0, rows, _PRESCREEN_CHUNK)))
    return keep
