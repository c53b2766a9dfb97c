"""Compiled kernels (numba) for the episode scan's per-call work around its window scores.

A 90-day leaf's episode pass handles arrays of a few dozen values, where numpy's cost is
its per-call overhead, not the arithmetic (benchmarks/README.md, issue-15cd): these
kernels do the same float operations element by element in the same order, so their
results are numpy's to the last bit (numba without fastmath does no reassociation or
fused multiply-add). Only sequential sums are compiled: np.cumsum adds in order, as the
loops here do; numpy's pairwise sums (np.sum, np.mean over more than 8 values) stay in
numpy; medians are `kernels._median` (`robust.median`'s order statistics and average).
Compiled and cached as `kernels.py`'s are (its `_compiled`, `_contiguous`; ~4 s of CPU on
a cold cache, so a scan loads this module before it forks);
tests/test_detect_kernels_episodes.py compares each with the numpy code it replaces.
"""
from __future__ import annotations

import math

import numpy as np
from numba import types

from ctxmetrics.detect.kernels import _LARGEST, _compiled, _contiguous, _median


@_contiguous("Tuple((f8[:, :], f8[:, :]))(f8[:], f8[:], f8[:], f8[:], f8[:], f8[:])")
def series_sums(y, num, den, factor, scale, tail):
    """`episodes._Scan._sums`' arrays: the baseline terms (rows: y and weight by the body
    scale, 1, numerator, denominator, events (numerator x weekday factor), factor) and the
    cumulative sums (`episodes._cum`; rows: numerator, denominator, events, factor, then y
    and weight by the body and by the tail scales). Inverse-variance weights 1 / scale^2,
    squared as numpy's x**2 squares: x * x. Two arrays, not one per row: each array a
    kernel returns costs numba's dispatch a few microseconds."""
    n = y.shape[0]
    terms = np.empty((7, n))
    summed = np.empty((8, n))  # the rows cumulated, in the order returned
    for i in range(n):
        body = 1.0 / (scale[i] * scale[i])
        by_tail = 1.0 / (tail[i] * tail[i])
        events = num[i] * factor[i]
        terms[0, i], terms[1, i], terms[2, i], terms[3, i] = y[i] * body, body, 1.0, num[i]
        terms[4, i], terms[5, i], terms[6, i] = den[i], events, factor[i]
        summed[0, i], summed[1, i], summed[2, i], summed[3, i] = num[i], den[i], events, factor[i]
        summed[4, i], summed[5, i], summed[6, i], summed[7, i] = y[i] * body, body, y[i] * by_tail, by_tail
    sums = np.zeros((8, n + 1))
    for r in range(8):  # as np.cumsum: in order, the first sum the value itself (-0.0 stays)
        for i in range(n):
            sums[r, i + 1] = summed[r, i] if i == 0 else sums[r, i] + summed[r, i]
    return terms, sums


@_contiguous("UniTuple(f8, 2)(f8[:], f8[:], f8[:], f8[:])")
def count_model_excess(scale, tail, floor_var, factor):
    """`episodes._Scan._sums`' excess of the days' noise (body and tail scales) over the
    count model's variance, floor_var + max(1 - floor_var x factor, 0): the median of
    scale^2 / model over the days with a sampling variance, at least 1 (1 without such
    days; as Python's max(1.0, median), a NaN median gives 1)."""
    n = scale.shape[0]
    body, by_tail = np.empty(n), np.empty(n)
    m = 0
    for i in range(n):
        if floor_var[i] > 0:
            gamma = 1.0 - floor_var[i] * factor[i]
            model = floor_var[i] + (gamma if gamma >= 0.0 or math.isnan(gamma) else 0.0)  # as np.maximum
            body[m], by_tail[m] = scale[i] * scale[i] / model, tail[i] * tail[i] / model
            m += 1
    if m == 0:
        return 1.0, 1.0
    excess, excess_tail = _median(body[:m]), _median(by_tail[:m])
    return (excess if excess > 1.0 else 1.0), (excess_tail if excess_tail > 1.0 else 1.0)


@_compiled("f8(f8, f8)")
def _pct_of(before, after):
    """`episodes._pct` of a window's levels: 100 (after - before) / |before|, NaN as 0 and
    infinities as the largest float (as np.nan_to_num); 0 where both are 0, infinite
    where only the baseline is."""
    if before == 0:
        return 0.0 if after == 0 else math.copysign(math.inf, after - before)
    pct = 100.0 * (after - before) / abs(before)
    if math.isnan(pct):
        return 0.0
    if math.isinf(pct):
        return _LARGEST if pct > 0 else -_LARGEST
    return pct


@_contiguous(
    "Tuple((f8[:, :], f8[:, :], f8[:, :]))"
    "(f8[:, :], f8, b1[:, :], b1[:, :], i8[:], i8[:, :], i8[:, :], i8[:, :],"
    " f8[:], f8[:], f8[:], f8[:], f8[:], f8[:], f8[:], f8[:])"
)
def window_levels(score, floor, use_a, counted, starts, end, lo_b, hi_a, knum, kden, num, den, kx, kfactor, x, factor):
    """Level before (the flank `use_a` says), level during and change % of every window
    whose score reaches `floor` (`episodes._window_scores`; 0 elsewhere; widths x starts):
    numerator over denominator of the baseline days of the flank (`knum`, `kden`) and of
    the window (`num`, `den`); for `counted` windows events over weekday exposure
    (`kx`, `kfactor`, `x`, `factor`). All cumulative sums."""
    rows, cols = score.shape
    before, during, pct = np.zeros((rows, cols)), np.zeros((rows, cols)), np.zeros((rows, cols))
    for r in range(rows):
        for c in range(cols):
            if not score[r, c] >= floor:
                continue
            t, e, lb, ha = starts[c], end[r, c], lo_b[r, c], hi_a[r, c]
            if counted[r, c]:
                level = (x[e] - x[t]) / (factor[e] - factor[t])
                flank = ((kx[ha] - kx[e]) / (kfactor[ha] - kfactor[e]) if use_a[r, c]
                         else (kx[t] - kx[lb]) / (kfactor[t] - kfactor[lb]))
            else:
                level = (num[e] - num[t]) / (den[e] - den[t])
                flank = ((knum[ha] - knum[e]) / (kden[ha] - kden[e]) if use_a[r, c]
                         else (knum[t] - knum[lb]) / (kden[t] - kden[lb]))
            before[r, c], during[r, c], pct[r, c] = flank, level, _pct_of(flank, level)
    return before, during, pct


_F8_2D, _B1_2D, _I8_2D = (types.Array(t, 2, "C") for t in (types.float64, types.boolean, types.int64))
_B1_1D, _I8_1D = (types.Array(t, 1, "C") for t in (types.boolean, types.int64))


# `bars` is `episodes._pass_bars`' cached, read-only array
@_compiled([types.Tuple((_F8_2D, types.int64, types.int64))(
    _F8_2D, types.float64, _B1_2D, types.Array(types.float64, 2, "C", readonly=True), _I8_1D, _I8_2D, _B1_1D, _B1_1D,
    types.boolean, _F8_2D, types.float64)], other_types_when_called=True)
def passing_windows(score, lowest, counted, bars, starts, end, taken, aside, sized, pct, min_change_pct):
    """`episodes._episodes`' judgement of a scan: the score of every window that passes
    (0 elsewhere) and the best one's (row, start), (-1, -1) when none passes (the first
    of equals in row-major order, as np.argmax). A window passes when it reaches the
    lowest bar and its width's (`bars`: column 0 for `counted` windows, 1 for the rest),
    holds no day `taken` or set `aside`, and (`sized`: counts and rates) changes by at
    least `min_change_pct`."""
    rows, cols = score.shape
    n = taken.shape[0]
    blocked = np.zeros(n + 1, np.int64)  # blocked days before each position
    for i in range(n):
        blocked[i + 1] = blocked[i] + (1 if taken[i] or aside[i] else 0)
    passing = np.zeros((rows, cols))
    best, best_row, best_start = 0.0, -1, -1
    for r in range(rows):
        for c in range(cols):
            value = score[r, c]
            if not value >= lowest or blocked[end[r, c]] != blocked[starts[c]]:
                continue
            if not value >= (bars[r, 0] if counted[r, c] else bars[r, 1]):
                continue
            if sized and not abs(pct[r, c]) >= min_change_pct:
                continue
            passing[r, c] = value
            if best_row < 0 or value > best:
                best, best_row, best_start = value, r, c
    return passing, best_row, best_start


@_contiguous("UniTuple(i8, 2)(i8, i8, f8[:, :], i8[:])")
def narrowest_fit(row, start, passing, widths):
    """`episodes._narrowest_fit`: the first narrower width with a passing window inside
    the winner scoring at least 95% of it (its best start, the first of equals)."""
    w, score = widths[row], passing[row, start]
    cols = passing.shape[1]
    for r in range(row):
        stop = min(start + w - widths[r] + 1, cols)
        best, at = -math.inf, -1
        for c in range(start, stop):
            if passing[r, c] > best:
                best, at = passing[r, c], c
        if at >= 0 and best >= 0.95 * score:
            return r, at
    return row, start


@_contiguous("UniTuple(i8, 2)(i8, i8, f8[:, :], f8[:, :], i8[:], i8)")
def widest_fit(row, start, passing, pct, widths, accept):
    """`episodes._widest_fit`: among widths above `accept`, the best passing window holding
    the winner with at least half its change (0/0 is NaN: not kept), if it scores at least
    3/4 of the winner and more than the best wider one so far."""
    w, score, change = widths[row], passing[row, start], pct[row, start]
    best_row, best_start, best_score = row, start, 0.0
    for r in range(widths.shape[0]):
        if widths[r] <= accept:
            continue
        lo = max(start + w - widths[r], 0)
        top, at = -math.inf, -1
        for c in range(lo, start + 1):
            value = passing[r, c] if pct[r, c] / change >= 0.5 else 0.0
            if value > top:
                top, at = value, c
        if at >= 0 and top >= 0.75 * score and top > best_score:
            best_row, best_start, best_score = r, at, top
    return best_row, best_start
