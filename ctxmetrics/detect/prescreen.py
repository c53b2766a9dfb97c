"""The vectorised pre-screen over many series, run before `find_changes`: the entry points,
which split the rows into blocks judged on threads (`prescreen_checks`)."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.calendar import _close_days
from ctxmetrics.detect.noiseless import held_count_rows
from ctxmetrics.detect.prepare import KINDS
from ctxmetrics.detect.prescreen_checks import _screen_statistics

_PRESCREEN_CHUNK = 2048  # rows per chunk: keeps a 100k x 730 screen within a few hundred MB


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
    if kind == "count":  # a count held exactly has no counting noise: the detector reads its moves
        keep |= held_count_rows(matrix, settings)
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
