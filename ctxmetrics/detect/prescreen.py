"""The vectorised pre-screen over many series, run before `find_changes`."""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.calendar import _close_days
from ctxmetrics.detect.episodes import _FEW_A_DAY, _bars, _episode_widths, _two_rates_z
from ctxmetrics.detect.noise import _BLOCKS
from ctxmetrics.detect.prepare import KINDS, _DEAD_WEEKDAY, nb_transform
from ctxmetrics.detect.robust import MAD_TO_SD

_PRESCREEN_CHUNK = 2048  # rows per chunk: keeps a 100k x 730 screen within a few hundred MB


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


def _daily_scale(y: np.ndarray, cs: np.ndarray, half: int, floor: float, unknown=None) -> tuple[np.ndarray, np.ndarray, "_DaySizes"]:
    """The rows' robust daily sd (at least `floor`), their tail sd (for windows of up to
    `spike_max_days`) and each day's size against its local level in tail sds (as the
    detector's `noise.z`): from every other day's residual against the mean of the
    `half` days each side, its scaled MAD and its tails. `cs`: `_row_cumsum(y)`; days
    `unknown` (filled: no residual of their own) are left out, as the detector leaves
    them out of the series: a ratio with many days below `min_denominator` would
    otherwise look far quieter than it is."""
    n = y.shape[1]
    resid = _neighbour_residuals(y, cs, half)
    every = 2 if n >= 365 else 1  # a year gives plenty with every other day; a shorter row needs all
    sample = resid[:, ::every] if unknown is None else np.where(unknown[:, ::every], np.nan, resid[:, ::every])
    scale, centre = _row_mad(sample, floor)
    partial = np.flatnonzero(np.isnan(sample).any(axis=1))
    if partial.size:  # NaN-aware medians only for the rows that need them
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-unknown rows: the floor
            centre[partial] = np.nan_to_num(np.nanmedian(sample[partial], axis=1))
            spread = np.nanmedian(np.abs(sample[partial] - centre[partial, None]), axis=1)
        scale[partial] = np.maximum(MAD_TO_SD * np.nan_to_num(spread), max(floor, 1e-9))
    # as the detector's tail scale (`noise._weekday_scales`): the 95th percentile of the
    # deviations within 5 sds must look normal too, so heavy tails do not make single
    # days look extreme; beyond 5 sds (the anomalies) sort last and are not counted. The
    # detector judges tails on 100 days or more only.
    tail = scale
    if n >= 100:
        deviation = np.abs(sample - centre[:, None])  # unknown: NaN, never in the body
        body = deviation <= 5 * scale[:, None]
        ranked = np.where(body, deviation, np.inf)
        at = np.maximum((0.95 * (body.sum(axis=1) - 1)).astype(np.int64), 0)
        tail = np.maximum(scale, _row_order_statistic(ranked, at) / 1.96)
    # a residual against the mean of 2*half neighbours has (1 + 1/(2*half)) the daily variance
    inflation = np.sqrt(1 + 1 / (2 * half))
    return scale / inflation, tail / inflation, _DaySizes(np.abs(resid, out=resid), tail)


def _row_order_statistic(v: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Per row, the `at[row]`-th smallest of `v` (no NaN). The rows share a few ranks: each
    group of rows partitioned at its own rank alone (numpy's vectorised selection takes
    one rank at a time; partitioning every row at every rank costs ~3x as much)."""
    out = np.empty(len(v), v.dtype)
    order = np.argsort(at, kind="stable")
    ranks, first = np.unique(at[order], return_index=True)
    for rank, rows in zip(ranks, np.split(order, first[1:])):
        out[rows] = np.partition(v[rows], rank, axis=1)[:, rank]
    return out


@dataclass
class _DaySizes:
    """Each day's size against its local level in tail sds (as the detector's `noise.z`):
    its |residual| over its row's tail sd (times the row's `factor`, when set), formed only
    for the rows asked for (a rows x days array of doubles otherwise). `rows`: which rows
    of `residual` these are (`tail`, `factor`: one per row of these)."""

    residual: np.ndarray
    tail: np.ndarray
    factor: np.ndarray | None = None
    rows: np.ndarray | None = None

    def subset(self, idx: np.ndarray) -> "_DaySizes":
        rows = idx if self.rows is None else self.rows[idx]
        return _DaySizes(self.residual, self.tail[idx], None if self.factor is None else self.factor[idx], rows)

    def of(self, idx: np.ndarray) -> np.ndarray:
        """The sizes of every day of rows `idx`."""
        z = self.residual[idx if self.rows is None else self.rows[idx]] / self.tail[idx, None]
        if self.factor is not None:
            z *= self.factor[idx, None]
        return z

    def largest(self, idx: np.ndarray) -> np.ndarray:
        """The largest size of each row of `idx`: `of(idx).max(axis=1)`, the same numbers
        (dividing and multiplying by a row's positive tail and factor keep the days' order)."""
        largest = self.residual.max(axis=1)[idx if self.rows is None else self.rows[idx]] / self.tail[idx]
        return largest if self.factor is None else largest * self.factor[idx]


def _neighbour_residuals(y: np.ndarray, cs: np.ndarray, half: int) -> np.ndarray:
    """Each day's residual against the mean of the `half` days each side (fewer at the
    ends). `cs`: `_row_cumsum(y)`."""
    from ctxmetrics.detect.kernels import neighbour_residuals

    return neighbour_residuals(y, cs, half)  # compiled, one pass, in y's single precision


def _detector_weekday_noise(counts: "_Counts", unknown, half: int, tail_ratio: np.ndarray):
    """Per count row, the detector's noise (`noise._noise`) restated in the screen's units:
    (day scale, tail scale, long-run factor) such that the screen's window statistic on
    its stabilised counts equals the detector's on its own. The detector stabilises the
    counts divided by their weekday factor, scales each weekday by its own MAD (never
    below the pooled one, relative to the day's Poisson variance), weighs days by inverse
    variance and takes its long-run factor against the mean of those variances; on a
    quarter's leaf (13 days a weekday) that can be far from the screen's pooled scale:
    a quiet weekday's large scale lowers the detector's long-run factor (1.0 where the
    screen's is 3), the Poisson-relative pooling lowers busy weekdays' scales (0.66 where
    the screen's is 0.98). `tail_ratio`: the screen's tail over day scale, per row.
    Rows with columns reordered (`_known_first`) must be passed before the reordering."""
    rows, n = counts.x.shape
    factor = counts.factor[:, :7]  # one of each weekday, in column order (factors repeat weekly)
    live = factor > _DEAD_WEEKDAY
    shape = counts.shape[:, None]
    yd = nb_transform(counts.x / counts.factor, shape)
    resid = yd - _row_rolling_median(yd, 2 * half, unknown)
    # each day's Poisson variance relative to the median day's (`noise._weekday_scales`)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows without a live weekday: no scale
        inverse = np.where(live, 1.0 / factor, np.nan)
        rel2 = inverse / np.nanmedian(inverse, axis=1, keepdims=True)
    r = resid / np.take(np.sqrt(np.nan_to_num(rel2, nan=1.0)), np.arange(n) % 7, axis=1)  # (row order: see `_stabilised_rows`)
    # the pooled MAD and each weekday's own (about its own median, as `robust.mad`)
    pooled = _row_mad(r)[0]
    day_mad = np.stack([_row_mad(r[:, d::7])[0] for d in range(7)], axis=1)
    partial = np.flatnonzero(unknown.any(axis=1)) if unknown is not None else []
    if len(partial):  # unknown days left out: NaN-aware medians only for the rows with some
        pooled[partial], day_mad[partial] = _nan_mads(np.where(unknown[partial], np.nan, r[partial]))
    typical = _row_median(counts.x / counts.factor)[:, None]
    floor_var = 1.0 / (factor * (1.0 + typical / shape))
    body_var, tail_var = (np.where(live, np.maximum(np.fmax(day_mad, p[:, None]) ** 2 * rel2, floor_var), np.nan)
                          for p in (pooled, pooled * tail_ratio))
    mean_var = np.nanmean(body_var, axis=1)
    harmonic = 1.0 / np.nanmean(1.0 / body_var, axis=1)
    # a relative change moves the detector's values by slope_d, each weekday's stabilised
    # count in the screen by its own slope (as `_size_bars`)
    m = counts.rate[:, None] * np.ones((1, 7))
    slope_d = _nb_slope(m, shape)
    slope_s = np.where(live, _nb_slope(m * factor, shape), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        body = np.nanmean(slope_s, axis=1) * np.sqrt(harmonic) / slope_d[:, 0]
        tail = np.nanmin(slope_s * np.sqrt(tail_var), axis=1) / slope_d[:, 0]
    long_run = _row_long_run(_row_cumsum(yd), np.sqrt(mean_var).astype(yd.dtype))
    ok = np.isfinite(body) & np.isfinite(tail) & (body > 0) & (tail > 0)
    return np.where(ok, body, np.inf), np.where(ok, tail, np.inf), np.where(ok, long_run, np.inf)


def _nan_mads(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the scaled MAD of `r` without its NaN days, pooled and per weekday column
    (every 7th from the first 7; 0 where a weekday has no known day)."""
    def mad(v: np.ndarray) -> np.ndarray:
        known = np.isfinite(v).any(axis=1)
        out = np.zeros(len(v), v.dtype)
        if known.any():
            centre = np.nanmedian(v[known], axis=1, keepdims=True)
            out[known] = MAD_TO_SD * np.nanmedian(np.abs(v[known] - centre), axis=1)
        return out

    return mad(r), np.stack([mad(r[:, d::7]) for d in range(7)], axis=1)


def _row_rolling_median(y: np.ndarray, half: int, unknown=None) -> np.ndarray:
    """Per row, the centred rolling median over 2 * half + 1 days with reflected edges, as
    `noise._rolling_median` (unknown days left out: NaN-aware, only for the rows with some)."""
    n = y.shape[1]
    half = min(half, n - 1)
    v = y if unknown is None else np.where(unknown, np.nan, y)
    padded = np.concatenate((v[:, 1 : half + 1][:, ::-1], v, v[:, n - 1 - half : n - 1][:, ::-1]), axis=1)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=1)
    out = np.empty_like(y)
    partial = np.zeros(len(y), bool) if unknown is None else unknown.any(axis=1)
    whole = np.flatnonzero(~partial)
    if whole.size:  # compiled, a sorted window sliding along each row (its values must be ordered: finite)
        from ctxmetrics.detect.kernels import rolling_median

        ordered = np.isfinite(y[whole]).all(axis=1)
        out[whole[ordered]] = rolling_median(y, whole[ordered], half)
        rest = whole[~ordered]
        if rest.size:
            out[rest] = np.partition(windows[rest], half, axis=2)[:, :, half]
    for row in np.flatnonzero(partial):  # few: a NaN-aware median, gaps filled between known levels
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            level = np.nanmedian(windows[row], axis=1)
        have = np.isfinite(level)
        out[row] = np.interp(np.arange(n), np.flatnonzero(have), level[have]) if have.any() else 0.0
    return out


def _nb_slope(m: np.ndarray, shape) -> np.ndarray:
    """The slope of `nb_transform` at mean m, times m: how far a relative change moves it."""
    v = m + 0.375
    return m / np.sqrt(v * (1 + v / shape))


def _episode_keep(cs: np.ndarray, width: int, scale: np.ndarray, long_run: np.ndarray, one_sided: bool, bar: float,
                  size=None, kept=None) -> np.ndarray:
    """Rows where some `width`-day window may reach `bar` in the detector's episode scan
    (`episodes._window_scores`); see `_window_best`. In the interior the pooled statistic
    (the window against both flanks together) bounds the score from above and costs a
    third as much, so the full score is only computed for the rows it does not clear.

    `cs`: `_padded_cumsum` rows; `scale`: the rows' robust daily sd; `long_run`: their
    long-run variance over the daily one (`_row_long_run`); `size`: as `_window_best`;
    `kept`: rows already kept (returned kept, their interior not scored)."""
    n = cs.shape[1] - 1 - 2 * _PAD
    flank = _flank(width)
    starts = n - width + 1
    interior = slice(min(flank, starts), max(n - width - flank + 1, min(flank, starts)))
    keep = np.zeros(len(cs), bool) if kept is None else kept.copy()
    for edge in (slice(0, interior.start), slice(interior.stop, starts)):  # slices: no gathers
        if edge.stop > edge.start:
            keep |= _window_best(cs, width, scale, long_run, one_sided, edge, bar, size) >= bar
    if interior.stop > interior.start:
        from ctxmetrics.detect.kernels import pooled_contrast_max

        ramp = 1.0 + (long_run - 1.0) * min(width - 1, 6) / 6
        # the pooled contrast's largest size per row, compiled: one pass, no temporaries
        pooled = pooled_contrast_max(cs, _PAD + interior.start, _PAD + interior.stop, width, flank,
                                     np.float32(1 / width + 1 / (2 * flank)), np.float32(1 / (2 * flank)), keep)
        se = scale * np.sqrt(ramp / width + long_run / (2 * flank))
        bound = pooled / se
        maybe = np.flatnonzero(~keep & (bound >= bar))
        if maybe.size:
            keep[maybe] = _window_best(cs[maybe], width, scale[maybe], long_run[maybe], one_sided, interior,
                                       size=None if size is None else size[maybe]) >= bar
    return keep


def _flank(width: int) -> int:
    """Flank days each side of a window, as the detector's episode scan takes them."""
    return max(42, min(2 * width, 112))


def _window_best(cs: np.ndarray, width: int, scale: np.ndarray, long_run: np.ndarray, one_sided: bool, cols, bar=None,
                 size=None) -> np.ndarray:
    """Per row, an upper bound of the detector's best score of the `width`-day windows
    starting at `cols` (a slice or indices): the window's mean against the flanks before
    and after it (as many days as the detector takes, fewer at the ends), in standard
    errors grown by the long-run factor (autocorrelation) as in `_Noise.se2`. Both flanks
    must move the same way; the score is the pooled one, at most twice the weaker flank's
    (the detector: the pooled score when the weaker flank shows half of it, else the
    weaker's), so a step or a trend, which one flank follows, scores little. Windows
    narrower than `min_segment_days` (`one_sided`) near an end are judged on the one flank
    they have. With `bar`, rows whose bound (`_window_bound`) stays below `bar` return
    that bound: the score is only computed for the others. `size` (per row, in y's units;
    None: no size rule) is the least change against that flank a window must show, as the
    detector's `min_change_pct`: a smaller one scores 0 (see `_size_bars`)."""
    if bar is not None:
        bound = _window_bound(cs, width, scale, long_run, one_sided, cols)
        rows = np.flatnonzero(bound >= bar)
        if rows.size:
            bound[rows] = _window_best(cs[rows], width, scale[rows], long_run[rows], one_sided, cols,
                                       size=None if size is None else size[rows])
        return bound
    n = cs.shape[1] - 1 - 2 * _PAD
    flank = _flank(width)
    ramp = 1.0 + (long_run - 1.0) * min(width - 1, 6) / 6
    t = np.arange(n - width + 1)[cols]
    at = _starts_plus(cs, cols, t)
    start = at(0)
    inside = (at(width) - start) / width
    n_b, n_a = _flank_days(t, width, flank, n, cs.dtype)
    d_b = inside - (start - at(-flank)) / np.maximum(n_b, 1)
    d_a = inside - (at(width + flank) - at(width)) / np.maximum(n_a, 1)
    pooled = np.abs(d_b * n_b + d_a * n_a) / (n_b + n_a)
    z_ba = pooled / np.sqrt((ramp / width)[:, None] + long_run[:, None] / (n_b + n_a))
    z_b = np.abs(d_b) / np.sqrt((ramp / width)[:, None] + long_run[:, None] / np.maximum(n_b, 1))
    z_a = np.abs(d_a) / np.sqrt((ramp / width)[:, None] + long_run[:, None] / np.maximum(n_a, 1))
    score = np.where((d_b * d_a > 0) & (n_b >= 7) & (n_a >= 7), np.minimum(z_ba, 2 * np.minimum(z_b, z_a)), 0)
    # the detector's change is against the flank whose score is the smaller (the one flank
    # near an end); a window of a week or more takes the larger of the two, as its score
    # is an upper bound: beside a lasting step, which the step checks may score just
    # short, it keeps the step's change
    if one_sided:
        change = np.where(z_a < z_b, np.abs(d_a), np.abs(d_b))
    else:
        change = np.maximum(np.abs(d_a), np.abs(d_b))
    if one_sided:
        only_b, only_a = (n_b >= 7) & (n_a < 7), (n_a >= 7) & (n_b < 7)
        score = np.where(only_b, z_b, np.where(only_a, z_a, score))
        change = np.where(only_b, np.abs(d_b), np.where(only_a, np.abs(d_a), change))
    if size is not None:
        score = np.where(change >= size[:, None], score, 0)
    return score.max(axis=1) / scale


def _window_bound(cs: np.ndarray, width: int, scale: np.ndarray, long_run: np.ndarray, one_sided: bool, cols) -> np.ndarray:
    """Per row, an upper bound of `_window_best` at a third of its cost: the pooled score
    (the window against both flanks together, from the flanks' summed days), which bounds
    every window judged on both flanks; the few windows of a `one_sided` width that have
    one flank only (within a week of an end) are scored exactly."""
    from ctxmetrics.detect.kernels import pooled_bound_max

    n = cs.shape[1] - 1 - 2 * _PAD
    flank = _flank(width)
    long_run = long_run.astype(np.float64, copy=False)  # (the screen's is: its standard errors are doubles)
    ramp = 1.0 + (long_run - 1.0) * min(width - 1, 6) / 6
    t = np.arange(n - width + 1)[cols]
    bound = pooled_bound_max(cs, cols.start, cols.stop, width, flank, n, ramp, long_run) / scale
    if one_sided:
        n_b, n_a = _flank_days(t, width, flank, n, cs.dtype)
        ends = np.flatnonzero((n_b < 7) | (n_a < 7))
        if ends.size:
            bound = np.maximum(bound, _window_best(cs, width, scale, long_run, True, t[ends]))
    return bound


def _starts_plus(cs: np.ndarray, cols, t: np.ndarray):
    """cs at each window start in `cols` + an offset: a slice when `cols` is one, else a gather."""
    def at(offset: int) -> np.ndarray:
        if isinstance(cols, slice):
            return cs[:, _PAD + cols.start + offset : _PAD + cols.stop + offset]
        return cs[:, _PAD + t + offset]
    return at


def _flank_days(t: np.ndarray, width: int, flank: int, n: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Days of the flank before and after `width`-day windows starting at `t` (clipped at the ends)."""
    return (t - np.maximum(t - flank, 0)).astype(dtype), (np.minimum(t + width + flank, n) - t - width).astype(dtype)


# two years of days: the detector takes a significant smooth trend out (`calendar`)
_TREND_MIN_DAYS = 730


def _step_stat(cs: np.ndarray, width: int, scale: np.ndarray, long_run: np.ndarray, size=None) -> np.ndarray:
    """Largest |difference of adjacent `width`-day means| per row in standard errors, as
    the detector measures a boundary (`_measure`: long-run variance at these lengths);
    over two years, against the rows' typical difference (their trend). `size`: as
    `_window_best` (the step, with or without the trend, must reach it)."""
    from ctxmetrics.detect.kernels import largest_deviation, step_differences

    n = cs.shape[1] - 1
    diff = step_differences(cs, width)  # compiled: one pass each, no temporaries
    trend = np.zeros(len(cs), cs.dtype)
    if n >= _TREND_MIN_DAYS:  # the typical difference is the trend's, which the detector removes
        trend = _row_median(diff[:, ::7])
    step = largest_deviation(diff, trend)  # (x - 0 is x: the same without a trend)
    if size is not None:  # (one standard error for all: the largest step is the one that may reach it)
        step = np.where(step >= size - np.abs(trend), step, 0)
    return step / (scale * np.sqrt(2 * long_run / width))


def _end_step_stat(cs: np.ndarray, width: int, shortest: int, scale: np.ndarray, long_run: np.ndarray, size=None) -> np.ndarray:
    """Largest step per row whose one side is cut by an end of the series (fewer than
    `width` days, at least `shortest`), in standard errors: as the detector measures a
    boundary near an end (`shifts._prune`: up to `width` days each side, clipped at the
    ends), which the full windows of `_step_stat` cannot place. 17 days of a new level at
    the end of a 90-day leaf are a shift the detector reports. `size`: as `_window_best`."""
    n = cs.shape[1] - 1
    cut = np.arange(shortest, min(width, n - shortest + 1))  # days on the cut side
    if cut.size == 0:
        return np.zeros(len(cs), cs.dtype)
    other = np.minimum(width, n - cut)  # days on the other side
    days_cut, days_other = cut.astype(cs.dtype), other.astype(cs.dtype)
    se = np.sqrt(long_run[:, None] * (1 / days_cut + 1 / days_other))
    at_end = (cs[:, n : n + 1] - cs[:, n - cut]) / days_cut - (cs[:, n - cut] - cs[:, n - cut - other]) / days_other
    at_start = cs[:, cut] / days_cut - (cs[:, cut + other] - cs[:, cut]) / days_other
    step = np.maximum(np.abs(at_end), np.abs(at_start))
    if size is not None:  # (at least one of the two reaches it)
        step = np.where(step >= size[:, None], step, 0)
    return (step / se).max(axis=1) / scale


def _row_long_run(cs: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per row, the long-run variance over the daily one (>= 1), from differences of
    adjacent 7-, 14- and 28-day block means (median over lengths), as `_long_run_var`."""
    n = cs.shape[1] - 1
    estimates = []
    for block in _BLOCKS:
        if n >= 8 * block:
            step = max(2 if n >= 365 else 1, block // 4)  # the detector: every block // 4
            last = n - 2 * block + 1  # starts t in range(0, last, step), as strided slices (views)
            diffs = (cs[:, 2 * block : last + 2 * block : step] - 2 * cs[:, block : last + block : step] + cs[:, :last:step]) / block
            estimates.append(_row_mad(diffs, overwrite=True)[0] ** 2 / 2 * block)
    if not estimates:
        return np.ones(len(scale), cs.dtype)
    return np.maximum(np.median(np.array(estimates), axis=0) / scale**2, 1.0)


# Margins under the detector's bars (screened windows are ~1.6x apart, not every width,
# and on rows of a year or more the screen's noise scale is one per row, not per weekday). Measured against
# find_changes itself (benchmarks/prescreen_recall.py), chosen on the tune split; see
# benchmarks/README.md for the recall and the clean rows passed at each choice.
_SHORT_SHARE = 0.95  # share of the detector's bar an episode window shorter than min_segment_days needs
_LONG_SHARE = 0.9  # the same for longer windows (the detector's bar: 1.1 min_score)
_COUNT_SHARE = 0.92  # the same for windows judged by their count likelihood (the bar of their width)
_STEP_SHARE = 0.95  # share of min_score a step between adjacent windows needs
_SIZE_SHARE = 0.8  # share of min_change_pct a count window's or step's change needs (`_size_bars`)


def _share(share: float, n: int) -> float:
    """A margin chosen on rows of a year or more (`share` of the detector's bar) for a
    row of `n` days: the screen's noise scale and the detector's are each estimated from
    the row's days, so on shorter rows they disagree more, as 1/sqrt(days); the margin
    (1 - share) grows so (a 90-day leaf: twice the margin of a year). Count rows shorter
    than a year take the detector's own noise (`_detector_weekday_noise`) and keep the
    margin of a year."""
    return share if n >= _SHORT_ROW_DAYS else 1.0 - (1.0 - share) * np.sqrt(_SHORT_ROW_DAYS / n)
_SCREEN_WIDTHS = (1, 2, 3, 5, 8, 13, 21, 34, 55, 89)  # episode windows screened (~1.6x apart)
_SHORT_ROW_DAYS = 365  # rows shorter than a year: every width the detector scans
# expected events in a window below which the detector judges it by its count likelihood
# (`episodes._FEW_EVENTS`); the screen's expectation is the row's mean day times the
# width, so both statistics are judged within a factor of 2 of it
_FEW_EVENTS = 50


def _screen_statistics(matrix, settings, kind, denominators, weekday, closes, explain: bool = False):
    """The pre-screen of one block of rows (see `prescreen`): which rows to keep or, with
    `explain`, every check's best value per row and its bar ({label: (values, bar)})."""
    y, big, counts, unknown = _stabilised_rows(matrix, settings, kind, denominators, weekday)
    # centred and in single precision: half the memory traffic of the sums below, and
    # centring keeps a gauge's large level from eating the float32 digits of its sums
    y = (y - _row_median(y[:, ::7])[:, None]).astype(np.float32, copy=False)
    for close in closes:  # the sales calendar is normal, as in the detector's calendar fit
        usual = np.flatnonzero(~close)[::3]  # a third of the other days: plenty for a median
        # the medians' days gathered in row order (np.take; see `_stabilised_rows`)
        shift = _row_median(np.take(y, np.flatnonzero(close), axis=1), overwrite=True) - _row_median(np.take(y, usual, axis=1), overwrite=True)
        y[:, close] -= shift[:, None]
        if counts is not None:  # events over expected: the close's own level is the expectation
            with np.errstate(invalid="ignore", divide="ignore"):  # rows without events
                lift = counts.x[:, close].mean(axis=1) / counts.x[:, usual].mean(axis=1)
            counts.x[:, close] /= np.where(np.isfinite(lift) & (lift > 0), lift, 1.0)[:, None]
    sizes = _size_bars(counts, settings) if counts is not None else None
    in_order, unknown_in_order = counts, unknown
    if unknown is not None:
        y, counts, unknown = _known_first(y, counts, unknown)
    n = y.shape[1]
    padded = _padded_cumsum(y)
    cs = padded[:, _PAD : _PAD + n + 1]
    # counts: the stabilised scale has unit sampling variance, so a zero MAD of a
    # low-volume row (mostly zeros) must not make every single event look extreme
    floor = 0.8 if kind == "count" else 1e-9
    body, tail, day_z = _daily_scale(y, cs, settings.min_segment_days, floor, unknown)
    long_run = _row_long_run(cs, body)
    margin_days = n
    if counts is not None and n < _SHORT_ROW_DAYS:
        # short count rows: the detector's own per-weekday noise, restated in the screen's
        # units, instead of the screen's pooled estimate; the two no longer disagree by
        # chance, so the margin is that of long rows
        d_body, d_tail, d_long_run = _detector_weekday_noise(in_order, unknown_in_order, settings.min_segment_days, tail / body)
        ok = np.isfinite(d_body)
        day_z.factor = tail / np.where(ok, d_tail, tail)
        body, tail, long_run = np.where(ok, d_body, body), np.where(ok, d_tail, tail), np.where(ok, d_long_run, long_run)
        margin_days = _SHORT_ROW_DAYS
    keep, steps = np.zeros(len(y), bool), {}
    for width in (settings.min_segment_days, settings.level_window_days // 2, settings.level_window_days):
        if 2 * width < n:
            stat = _step_stat(cs, width, body, long_run, None if sizes is None else sizes[1])
            bar = _share(_STEP_SHARE, margin_days) * settings.min_score
            steps[f"step {width}d"] = (stat, bar)
            keep |= stat >= bar
    stat = _end_step_stat(cs, settings.level_window_days, settings.min_segment_days, body, long_run,
                          None if sizes is None else sizes[1])
    steps["step at an end"] = (stat, _share(_STEP_SHARE, margin_days) * settings.min_score)
    keep |= stat >= _share(_STEP_SHARE, margin_days) * settings.min_score
    todo = np.arange(len(y)) if explain else np.flatnonzero(big & ~keep)
    if todo.size < len(y):  # the episode checks only for the rows not decided yet (same OR)
        padded, body, tail, long_run, day_z = padded[todo], body[todo], tail[todo], long_run[todo], day_z.subset(todo)
        sizes = None if sizes is None else sizes[:, todo]
    if counts is not None:  # the sums of the rows `todo`, compiled: from the block's rows, no gathered copies
        from ctxmetrics.detect.kernels import padded_row_cumsum

        events, exposure = padded_row_cumsum(counts.x, todo, _PAD), padded_row_cumsum(counts.factor, todo, _PAD)
        # (only these sums of x and factor are read from here on: the rest per row of `todo`)
        counts = _Counts(counts.x, counts.factor, counts.shape[todo], counts.rate[todo])
    decided, keep, found = keep, np.zeros(len(todo), bool), {}
    # the count likelihood is cheap where it is needed (few events): every width the
    # detector scans; the stabilised statistic on a coarser grid of widths
    count_widths = set(_episode_widths(n, settings)) if counts is not None else set()
    # short rows (a quarter's leaf) have few starts: every width the detector scans there too;
    # longer rows a coarser grid, none wider than the detector's widest window
    scanned = _episode_widths(n, settings)
    normal_widths = set(scanned) if n < _SHORT_ROW_DAYS else {min(w, scanned[-1]) for w in _SCREEN_WIDTHS if w <= scanned[-1] * 1.6}
    for width in sorted(normal_widths | count_widths):
        one_sided = width < settings.min_segment_days
        scale = tail if width <= settings.spike_max_days else body
        expected = counts.rate * width if counts is not None else np.full(len(todo), np.inf)
        # single days of counts: the detector caps their score by the exact tail, which
        # the count likelihood follows and the stabilised scale overstates
        normal = np.flatnonzero(expected >= _FEW_EVENTS / 2) if width in normal_widths and (counts is None or width > 1) else []
        bar = _share(_SHORT_SHARE if one_sided else _LONG_SHARE, margin_days) * _bars([width], settings)[0, 1]
        size = None if sizes is None else sizes[0 if one_sided else 1, normal]
        if explain and len(normal):
            best = np.zeros(len(todo))
            best[normal] = _window_best(padded[normal], width, scale[normal], long_run[normal], one_sided, slice(0, n - width + 1),
                                        size=size)
            found[f"episode {width}d"] = (best, bar)
        elif len(normal):
            # (a row kept at a narrower width, or by the count likelihood, stays kept: not scored again)
            keep[normal] |= _episode_keep(padded[normal] if normal.size < len(todo) else padded, width, scale[normal], long_run[normal],
                                          one_sided, bar, size, keep[normal])
        # (and rows of few events a day at every width, as the detector judges them)
        few = np.flatnonzero((expected < 2 * _FEW_EVENTS) | (counts.rate < 2 * _FEW_A_DAY) | (width == 1)) if width in count_widths else np.zeros(0, np.int64)
        bar = _share(_COUNT_SHARE, margin_days) * _bars([width], settings)[0, 0]
        if not explain:  # (as above: the same OR)
            few = few[~keep[few]]
        if width == 1 and not explain:  # the cap below: no day of the other rows can reach the bar
            few = few[day_z.largest(few) >= bar]
        if few.size:
            best = np.zeros(len(todo))
            # the noise beyond the count model, as the detector's `_Scan.excess` (days)
            # and `excess_long` (the long-run variance; not below the model's own, even
            # where the day scale is): the stabilised scale has unit variance under the model
            day = np.maximum(scale[few], 1.0) ** 2
            beyond = day + (np.maximum(body[few] ** 2 * long_run[few], 1.0) - day) * min(width - 1, 6) / 6
            # single days: the detector's score is at most the day's size against its
            # local level (`noise.z`), which a wandering level does not inflate
            cap = day_z.of(few) * np.sqrt(beyond)[:, None] if width == 1 else None
            best[few] = _count_best(events[few], exposure[few], width, counts.shape[few], one_sided, 0.0 if explain else bar * np.sqrt(beyond),
                                    cap, _SIZE_SHARE * settings.min_change_pct / 100) / np.sqrt(beyond)
            if explain:
                found[f"episode {width}d (count likelihood)"] = (best, bar)
            keep |= best >= bar
    if counts is not None:  # lasting steps of few events, as the detector's `_Windows.count_z` judges them
        few = np.flatnonzero((counts.rate * settings.level_window_days < 2 * _FEW_EVENTS) | (counts.rate < 2 * _FEW_A_DAY))
        bar = _share(_STEP_SHARE, margin_days) * settings.min_score
        for width in (settings.min_segment_days, settings.level_window_days // 2, settings.level_window_days):
            if not explain:
                few = few[~keep[few]]
            if few.size and 2 * width < n:
                best = np.zeros(len(todo))
                beyond = np.maximum(body[few] ** 2 * long_run[few], 1.0)  # as `_long_run_excess`
                best[few] = _count_step_best(events[few], exposure[few], width, settings.min_segment_days, counts.shape[few],
                                             _SIZE_SHARE * settings.min_change_pct / 100) / np.sqrt(beyond)
                if explain:
                    found[f"step {width}d (count likelihood)"] = (best, bar)
                keep |= best >= bar
    if explain:
        return found | steps, big
    decided[todo] |= keep
    return decided & big


def _size_bars(counts: "_Counts", settings: DetectionSettings) -> np.ndarray:
    """Per count row, the least change on the stabilised scale of a window (row 0: of a
    day or a few, row 1: of a week or more) whose level moved by `_SIZE_SHARE` of
    `min_change_pct`: the detector reports no change smaller than that (at high volume
    a long window's 5 sds can be a few percent). A relative change p of a day expecting
    m events moves its stabilised value by p m y'(m) (the slope of `nb_transform`);
    short windows take the weekday where that is least, long ones the week's mean.
    Dead weekdays (unknown, as in the detector) are left out."""
    factor = counts.factor[:, :7]  # one of each weekday (the days' factors repeat weekly)
    live = factor > _DEAD_WEEKDAY
    slope = _nb_slope(counts.rate[:, None] * factor, counts.shape[:, None])
    with np.errstate(invalid="ignore"):  # rows without a live weekday: no size rule
        least = np.where(live, slope, np.inf).min(axis=1)
        mean = np.sum(np.where(live, slope, 0), axis=1) / live.sum(axis=1)
    p = _SIZE_SHARE * settings.min_change_pct / 100
    return p * np.nan_to_num(np.stack([least, mean]), posinf=0.0).astype(np.float32)


def _known_first(y: np.ndarray, counts, unknown: np.ndarray):
    """The rows with their unknown days moved to the end (filled, flat), the known days
    in order before them: as the detector, which leaves unknown days out of the series,
    a window spans that many known days (a ratio whose denominator is often below
    `min_denominator` would otherwise have its episodes diluted by filled days)."""
    order = np.argsort(unknown, axis=1, kind="stable")
    y = np.take_along_axis(y, order, axis=1)
    if counts is not None:
        counts = _Counts(np.take_along_axis(counts.x, order, axis=1), np.take_along_axis(counts.factor, order, axis=1),
                         counts.shape, counts.rate)
    return y, counts, np.take_along_axis(unknown, order, axis=1)


def _count_step_best(events: np.ndarray, exposure: np.ndarray, width: int, shortest: int, shape: np.ndarray,
                     least_change: float) -> np.ndarray:
    """Per row, the largest step between the `width` days before and after a boundary
    (clipped at the ends, at least `shortest` each side) by the two-sample count
    likelihood, before the noise beyond the count model (`_two_rates_z`): as the detector
    measures a boundary where few events are expected (`shifts._Windows.count_z`). A step
    whose rate moves less than `least_change` (relative) scores 0.

    `events`, `exposure`: `_padded_cumsum` of the counts and of the weekday factors."""
    n = events.shape[1] - 1 - 2 * _PAD
    t = np.arange(shortest, n - shortest + 1)
    lo, hi = np.maximum(t - width, 0), np.minimum(t + width, n)
    x_b, f_b = (c[:, _PAD + t] - c[:, _PAD + lo] for c in (events, exposure))
    x_a, f_a = (c[:, _PAD + hi] - c[:, _PAD + t] for c in (events, exposure))
    z = np.abs(_two_rates_z(x_a, f_a, (hi - t).astype(np.float32), x_b, f_b, (t - lo).astype(np.float32), shape[:, None]))
    with np.errstate(invalid="ignore", divide="ignore"):
        change = np.abs((x_a / f_a) / (x_b / f_b) - 1)
    return np.where(change >= least_change, z, 0).max(axis=1)  # (NaN: no events before, 0)


def _count_best(events: np.ndarray, exposure: np.ndarray, width: int, shape: np.ndarray, one_sided: bool, floor, cap=None,
                least_change: float = 0.0) -> np.ndarray:
    """Per row, the detector's count-likelihood score of its best `width`-day window
    (`kernels.count_z` within `episodes._count_z`) before the noise beyond the count
    model and autocorrelation: the two-sample Poisson likelihood ratio of the window's
    events over its weekday exposure against the flanks', shrunk by the overdispersion
    of the contrast; pooled over both flanks while each alone shows half of it (else the
    weaker flank's), one flank for short windows near an end. Single flanks are only
    scored where the pooled statistic reaches `floor` (per row; as the detector does);
    `cap` (rows x starts), if given, caps each window's score; a window whose rate is
    less than `least_change` (relative) off its flanks' scores 0.

    `events`, `exposure`: `_padded_cumsum` of the counts and of the weekday factors."""
    from ctxmetrics.detect.kernels import pooled_count_log_args, pooled_count_z

    n = events.shape[1] - 1 - 2 * _PAD
    flank, starts = _flank(width), n - width + 1
    t = np.arange(starts)

    def span(c: np.ndarray, lo: int, hi: int, rows, cols: np.ndarray) -> np.ndarray:  # sums over [t + lo, t + hi) at `cols`
        return c[rows, _PAD + hi + cols] - c[rows, _PAD + lo + cols]

    n_b = (t - np.maximum(t - flank, 0)).astype(np.float32)
    n_a = (np.minimum(t + width + flank, n) - t - width).astype(np.float32)
    # the pooled z of every window, compiled: two passes and numpy's logarithms between
    # them (the same floats) instead of ~25 (rows x starts) temporaries
    logs = np.empty((2, len(events), starts), np.float32)
    pooled_count_log_args(events, exposure, _PAD, width, flank, n, logs)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.log(logs, out=logs)
    pooled = np.empty((len(events), starts), np.float32)
    pooled_count_z(events, exposure, _PAD, width, flank, n, shape, logs, pooled)
    shape = shape[:, None]
    has_b, has_a = n_b >= 7, n_a >= 7
    score = np.zeros(pooled.shape, np.float32)
    if one_sided:  # near an end a short window has one flank: scored on it alone
        every = slice(None)
        for has, other, lo, hi, days in ((has_b, has_a, -flank, 0, n_b), (has_a, has_b, width, width + flank, n_a)):
            cols = np.flatnonzero(has & ~other)
            if cols.size:
                score[:, cols] = np.abs(_two_rates_z(span(events, 0, width, every, cols), span(exposure, 0, width, every, cols), width,
                                                     span(events, lo, hi, every, cols), span(exposure, lo, hi, every, cols), days[cols], shape))
    rows, cols = np.nonzero((np.abs(pooled) >= np.reshape(floor, (-1, 1))) & has_b & has_a)
    if rows.size:
        o, f_w = span(events, 0, width, rows, cols), span(exposure, 0, width, rows, cols)
        z_b = _two_rates_z(o, f_w, width, span(events, -flank, 0, rows, cols), span(exposure, -flank, 0, rows, cols), n_b[cols], shape[rows, 0])
        z_a = _two_rates_z(o, f_w, width, span(events, width, width + flank, rows, cols), span(exposure, width, width + flank, rows, cols),
                           n_a[cols], shape[rows, 0])
        z_ba, weaker = np.abs(pooled[rows, cols]), np.minimum(np.abs(z_b), np.abs(z_a))
        score[rows, cols] = np.where(np.sign(z_b) == np.sign(z_a), np.where(weaker >= 0.5 * z_ba, z_ba, weaker), 0.0)
    if cap is not None:
        score = np.minimum(score, cap[:, :starts])
    best = score.max(axis=1)
    rows = np.flatnonzero(best >= floor) if least_change else []
    if len(rows):  # the window's rate against its flanks', as the detector's change %, where the score may pass
        x_b, f_b, x_a, f_a = (span(c, lo, hi, rows[:, None], t) for c, lo, hi in (
            (events, -flank, 0), (exposure, -flank, 0), (events, width, width + flank), (exposure, width, width + flank)))
        with np.errstate(invalid="ignore", divide="ignore"):
            change = np.abs(span(events, 0, width, rows[:, None], t) / span(exposure, 0, width, rows[:, None], t)
                            * ((f_b + f_a) / (x_b + x_a)) - 1)
        best[rows] = np.where(change >= least_change, score[rows], 0).max(axis=1)  # (NaN: no events at all, 0)
    return best


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

    Per row: variance stabilised, weekday profile and month/quarter-end closes removed,
    unknown days (gaps, dead weekdays, ratio days below `min_denominator`) left out as
    in `find_changes`, then the detector's own statistics judged against its own bars
    (`episodes._bars`) with a margin: episode windows (1 to 89 days) against the flanks
    before and after them, which must both move the same way, in standard errors from
    the row's robust daily sd (its tail sd for windows of up to `spike_max_days`) and
    long-run variance; windows of few expected events (counts) by the two-sample count
    likelihood at every width the detector scans; steps between adjacent 7-, 28- and
    56-day means, as the detector measures a boundary (few events: by their count
    likelihood too). Count rows shorter than a year are judged with the detector's own
    per-weekday noise (`_detector_weekday_noise`). Count windows and steps must also
    move the level by nearly `min_change_pct` (`_size_bars`). Ratios whose numerator exceeds
    the denominator on some day are two counts (their share). A row is kept when one
    check reaches its bar (`explain_prescreen` lists them). Rows are processed in
    chunks so 100k x 730 fits in a few hundred MB.

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
    weekday, closes = _calendar(n, start_weekday, start_date)

    def screen(lo: int) -> None:
        hi = min(lo + _PRESCREEN_CHUNK, rows)
        den = None if denominators is None else np.asarray(denominators[lo:hi])
        keep[lo:hi] = _screen_statistics(matrix[lo:hi], settings, kind, den, weekday, closes)

    # numpy releases the GIL in its array loops, so threads use every core
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(screen, range(0, rows, _PRESCREEN_CHUNK)))
    return keep


def _calendar(n: int, start_weekday: int, start_date) -> tuple[np.ndarray, list[np.ndarray]]:
    """Weekday of each of `n` days and the masks of the sales calendar's closes (none
    without a start date)."""
    closes = []
    if start_date is not None:
        days = np.datetime64(start_date, "D") + np.arange(n)
        start_weekday = int((days[0].astype(np.int64) + 3) % 7)  # 1970-01-01 was a Thursday
        closes = _close_days(days)
    return (start_weekday + np.arange(n)) % 7, closes


def explain_prescreen(values, settings: DetectionSettings, *, kind: str = "count", denominators=None, start_weekday: int = 0, start_date=None) -> dict:
    """Why `prescreen` keeps or drops one series: every check's best value and its bar.

    Returns:
        {"kept": bool, "too_small": bool, "checks": {label: (value, bar)}} (no checks for
        a series shorter than 4 x `min_segment_days`, which the screen drops).
    """
    matrix = np.asarray(values, dtype=float)[None]
    den = None if denominators is None else np.asarray(denominators, dtype=float)[None]
    kept = bool(prescreen(matrix, settings, kind=kind, denominators=den, start_weekday=start_weekday, start_date=start_date)[0])
    if matrix.shape[1] < 4 * settings.min_segment_days:
        return {"kept": kept, "too_small": False, "checks": {}}
    weekday, closes = _calendar(matrix.shape[1], start_weekday, start_date)
    found, big = _screen_statistics(matrix, settings, kind, den, weekday, closes, explain=True)
    checks = {label: (float(values[0]), float(bar)) for label, (values, bar) in found.items()}
    return {"kept": kept, "too_small": not bool(big[0]), "checks": checks}
