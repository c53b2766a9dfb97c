"""The pre-screen's statistics of windows and steps per row: upper bounds of the
detector's episode scores, steps between adjacent means (also cut by an end), and the
count likelihood of windows and steps of few events."""
from __future__ import annotations

import numpy as np

from ctxmetrics.detect.episodes import _two_rates_z
from ctxmetrics.detect.prescreen_rows import _PAD, _row_median

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
