"""The pre-screen's noise of each row: its robust daily and tail scales, each day's size
against its local level, its long-run variance, and (short count rows) the detector's own
per-weekday noise restated in the screen's units."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ctxmetrics.detect.noise import _BLOCKS
from ctxmetrics.detect.prepare import _DEAD_WEEKDAY, nb_transform
from ctxmetrics.detect.prescreen_rows import _Counts, _row_cumsum, _row_mad, _row_median
from ctxmetrics.detect.robust import MAD_TO_SD

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
