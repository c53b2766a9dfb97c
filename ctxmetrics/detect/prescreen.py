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
from ctxmetrics.detect.robust import MAD_TO_SD

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
        The stabilised rows and which rows are large enough to judge.
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
        return nb_transform(u, shape[:, None]), big
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
    return y - (profile - profile.mean(axis=1, keepdims=True))[:, weekday], big


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
    return np.maximum(MAD_TO_SD * _row_median(np.abs(v - centre[:, None])), max(floor, 1e-9)), centre


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


def _daily_scale(y: np.ndarray, cs: np.ndarray, half: int, floor: float) -> np.ndarray:
    """The rows' robust daily sd (at least `floor`): the scaled MAD of every other day's
    residual against the mean of the `half` days each side. `cs`: `_row_cumsum(y)`."""
    n = y.shape[1]
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    # window sums cs[hi] - cs[lo]: slices inside, gathers only at the clipped edges
    window = np.empty_like(y)
    window[:, half : n - half] = cs[:, 2 * half + 1 :] - cs[:, : n - 2 * half]
    edges = np.r_[0:half, n - half : n]
    window[:, edges] = cs[:, hi[edges]] - cs[:, lo[edges]]
    resid = y - (window - y) / (hi - lo - 1)
    scale, _ = _row_mad(resid[:, ::2], floor)
    # a residual against the mean of 2*half neighbours has (1 + 1/(2*half)) the daily variance
    return scale / np.sqrt(1 + 1 / (2 * half))


def _episode_keep(cs: np.ndarray, width: int, scale: np.ndarray, long_run: np.ndarray, one_sided: bool, bar: float) -> np.ndarray:
    """Rows where some `width`-day window may reach `bar` in the detector's episode scan
    (`episodes._window_scores`); see `_window_best`. In the interior the pooled statistic
    (the window against both flanks together) bounds the score from above and costs a
    third as much, so the full score is only computed for the rows it does not clear.

    `cs`: `_padded_cumsum` rows; `scale`: the rows' robust daily sd; `long_run`: their
    long-run variance over the daily one (`_row_long_run`)."""
    n = cs.shape[1] - 1 - 2 * _PAD
    flank = _flank(width)
    starts = n - width + 1
    interior = slice(min(flank, starts), max(n - width - flank + 1, min(flank, starts)))
    keep = np.zeros(len(cs), bool)
    for edge in (slice(0, interior.start), slice(interior.stop, starts)):  # slices: no gathers
        if edge.stop > edge.start:
            keep |= _window_best(cs, width, scale, long_run, one_sided, edge) >= bar
    if interior.stop > interior.start:
        ramp = 1.0 + (long_run - 1.0) * min(width - 1, 6) / 6
        span = slice(_PAD + interior.start, _PAD + interior.stop)
        inside = cs[:, span.start + width : span.stop + width] - cs[:, span]
        around = cs[:, span.start + width + flank : span.stop + width + flank] - cs[:, span.start - flank : span.stop - flank]
        pooled = inside * (1 / width + 1 / (2 * flank)) - around * (1 / (2 * flank))
        se = scale * np.sqrt(ramp / width + long_run / (2 * flank))
        bound = np.maximum(pooled.max(axis=1), -pooled.min(axis=1)) / se
        maybe = np.flatnonzero(~keep & (bound >= bar))
        if maybe.size:
            keep[maybe] = _window_best(cs[maybe], width, scale[maybe], long_run[maybe], one_sided, interior) >= bar
    return keep


def _flank(width: int) -> int:
    """Flank days each side of a window, as the detector's episode scan takes them."""
    return max(42, min(2 * width, 112))


def _window_best(cs: np.ndarray, width: int, scale: np.ndarray, long_run: np.ndarray, one_sided: bool, cols) -> np.ndarray:
    """Per row, an upper bound of the detector's best score of the `width`-day windows
    starting at `cols` (a slice or indices): the window's mean against the flanks before
    and after it (as many days as the detector takes, fewer at the ends), in standard
    errors grown by the long-run factor (autocorrelation) as in `_Noise.se2`. Both flanks
    must move the same way; the score is the pooled one, at most twice the weaker flank's
    (the detector: the pooled score when the weaker flank shows half of it, else the
    weaker's), so a step or a trend, which one flank follows, scores little. Windows
    narrower than `min_segment_days` (`one_sided`) near an end are judged on the one flank
    they have."""
    n = cs.shape[1] - 1 - 2 * _PAD
    flank = _flank(width)
    ramp = 1.0 + (long_run - 1.0) * min(width - 1, 6) / 6
    t = np.arange(n - width + 1)[cols]

    def at(offset: int) -> np.ndarray:  # cs at window start + offset: a slice in the interior
        if isinstance(cols, slice):
            return cs[:, _PAD + cols.start + offset : _PAD + cols.stop + offset]
        return cs[:, _PAD + t + offset]

    start = at(0)
    inside = (at(width) - start) / width
    n_b = (t - np.maximum(t - flank, 0)).astype(cs.dtype)
    n_a = (np.minimum(t + width + flank, n) - t - width).astype(cs.dtype)
    d_b = inside - (start - at(-flank)) / np.maximum(n_b, 1)
    d_a = inside - (at(width + flank) - at(width)) / np.maximum(n_a, 1)
    z_b = np.abs(d_b) / np.sqrt((ramp / width)[:, None] + long_run[:, None] / np.maximum(n_b, 1))
    z_a = np.abs(d_a) / np.sqrt((ramp / width)[:, None] + long_run[:, None] / np.maximum(n_a, 1))
    pooled = np.abs(d_b * n_b + d_a * n_a) / (n_b + n_a)
    z_ba = pooled / np.sqrt((ramp / width)[:, None] + long_run[:, None] / (n_b + n_a))
    score = np.where((d_b * d_a > 0) & (n_b >= 7) & (n_a >= 7), np.minimum(z_ba, 2 * np.minimum(z_b, z_a)), 0)
    if one_sided:
        score = np.where((n_b >= 7) & (n_a < 7), z_b, np.where((n_a >= 7) & (n_b < 7), z_a, score))
    return score.max(axis=1) / scale


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


# Measured against find_changes itself (benchmarks/prescreen_recall.py, 60 series per
# daily profile: counts and ratios with season, trend, closes, heavy tails, gaps, low
# volume), chosen on the tune split: share of the series the detector reports that the
# screen keeps, tune / holdout, and share of clean synth.many_series rows kept, white /
# ar1 noise. Episode and step shares 1.0 / 1.0: 0.985 / 0.987, 4.4% / 10.6%;
# 1.0 / 1.2: 0.982 / 0.974, 2.9% / 7.9%; 1.05 / 1.1: 0.966 / 0.968, 2.2% / 4.8%.
# Below 1.05 the detector's own false alarms on clean funnels pass the screen (6-10 in
# 560 series; tests/test_detect_funnel.py allows 1%), so recall >= 0.99 waits for a
# detector with fewer of them.
_EPISODE_SHARE = 1.05  # share of min_score an episode window needs to keep its row
_STEP_SHARE = 1.1  # share of min_score a step between adjacent windows needs
_SCREEN_WIDTHS = (1, 2, 3, 5, 8, 13, 21, 34, 55, 89)  # episode windows screened (~1.6x apart)


def _prescreen_chunk(matrix, settings, kind, denominators, weekday, closes) -> np.ndarray:
    """The pre-screen of one block of rows (see `prescreen`)."""
    y, big = _stabilised_rows(matrix, settings, kind, denominators, weekday)
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
    scale = _daily_scale(y, cs, settings.min_segment_days, floor)
    keep = np.zeros(len(y), bool)
    long_run = _row_long_run(cs, scale)
    for width in _SCREEN_WIDTHS:
        if 3 * width <= n:
            one_sided = width < settings.min_segment_days
            keep |= _episode_keep(padded, width, scale, long_run, one_sided, _EPISODE_SHARE * settings.min_score)
    for width in (settings.min_segment_days, settings.level_window_days // 2, settings.level_window_days):
        if 2 * width < n:
            keep |= _step_stat(cs, width, scale, long_run) >= _STEP_SHARE * settings.min_score
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

    Per row: weekday profile and month/quarter-end closes removed and variance
    stabilised as in `find_changes`, then episode statistics (1- to 89-day windows
    against the flanks before and after them, which must both move the same way, as the
    detector's episode scan judges a window) and step statistics (adjacent 7-, 28- and
    56-day means, as the detector measures a boundary), in standard errors from the
    row's robust daily sd and long-run variance. A row is kept when one of them reaches
    `min_score`. Rows are processed in chunks so 100k x 730 fits in a few hundred MB.

    Args:
        matrix: Shape (n_series, n_days); values as for `find_changes` (NaN: unknown day).
        settings: Detection thresholds (`min_score`, window lengths).
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
