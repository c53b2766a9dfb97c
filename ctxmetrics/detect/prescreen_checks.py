"""The pre-screen's checks of one block of rows: the detector's own statistics (episode
windows, steps, count likelihoods) judged against its bars with a margin, and the least
change a count window or step must show (`min_change_pct`)."""
from __future__ import annotations

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.episodes import _FEW_A_DAY, _bars, _episode_widths
from ctxmetrics.detect.prepare import _DEAD_WEEKDAY
from ctxmetrics.detect.prescreen_noise import _daily_scale, _detector_weekday_noise, _nb_slope, _row_long_run
from ctxmetrics.detect.prescreen_rows import _PAD, _Counts, _padded_cumsum, _row_median, _stabilised_rows
from ctxmetrics.detect.prescreen_windows import _count_best, _count_step_best, _end_step_stat, _episode_keep, _step_stat, _window_best

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
