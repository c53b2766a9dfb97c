"""The episode scan's compiled kernels (`detect/kernels_episodes.py`) give the numpy code
they replaced to the last bit: each is compared, bytes for bytes, with that code (kept
here as the reference) on random inputs with zeros, signed zeros, NaN and infinities."""
from __future__ import annotations

import numpy as np
import pytest

from ctxmetrics.detect import kernels_episodes as ke
from ctxmetrics.detect.episodes import _cum
from ctxmetrics.detect.robust import median


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _spiky(rng, n, specials=(0.0, -0.0, np.nan, np.inf)) -> np.ndarray:
    """Random values with a few special ones among them."""
    v = rng.normal(3.0, 2.0, n)
    picks = rng.random(n) < 0.15
    v[picks] = rng.choice(np.array(specials), picks.sum())
    return v


@pytest.mark.parametrize("seed", range(20))
def test_series_sums_are_numpys(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 120))
    y, num, den, factor = (_spiky(rng, n) for _ in range(4))
    scale, tail = np.abs(_spiky(rng, n)), np.abs(_spiky(rng, n))
    with np.errstate(all="ignore"):
        body, by_tail = 1.0 / scale**2, 1.0 / tail**2
        terms = np.array((y * body, body, np.ones(n), num, den, num * factor, factor))
        expected = (terms, _cum(num), _cum(den), _cum(terms[5]), _cum(factor),
                    _cum(y * body), _cum(body), _cum(y * by_tail), _cum(by_tail))
    terms, sums = ke.series_sums(y, num, den, factor, scale, tail)
    assert _same(terms, expected[0]) and len(sums) == 8
    for g, e in zip(sums, expected[1:]):
        assert _same(g, e)


def _excess_reference(scale, tail, floor_var, factor):
    floor = floor_var > 0
    model = floor_var + np.maximum(1.0 - floor_var * factor, 0.0)
    return tuple(max(1.0, float(median(sd[floor] ** 2 / model[floor]))) if floor.any() else 1.0 for sd in (scale, tail))


@pytest.mark.parametrize("seed", range(30))
def test_count_model_excess_is_numpys(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    floor_var = np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0.0, 2.0, n))
    factor = rng.uniform(0.0, 3.0, n)
    scale, tail = rng.uniform(0.1, 3.0, n), rng.uniform(0.1, 3.0, n)
    if seed % 5 == 0:
        scale[0] = np.nan  # a NaN median: excess 1
    if seed % 7 == 0:
        floor_var[:] = 0.0  # no day with a sampling variance
    assert _same(ke.count_model_excess(scale, tail, floor_var, factor), _excess_reference(scale, tail, floor_var, factor))


def _levels_reference(score, floor, use_a, counted, t, end, lo_b, hi_a, knum, kden, num, den, kx, kfactor, x, factor):
    """`episodes._window_scores`' levels before the kernel (with `_count_levels`, `_pct_array`)."""
    shape = score.shape
    rows, cols = np.nonzero(score >= floor)
    use_a = use_a[rows, cols]
    pct, before, during = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    if rows.size:
        tt, ee, lb, ha = t[cols], end[rows, cols], lo_b[rows, cols], hi_a[rows, cols]
        with np.errstate(invalid="ignore", divide="ignore"):
            lvl_b = (knum[tt] - knum[lb]) / (kden[tt] - kden[lb])
            lvl_a = (knum[ha] - knum[ee]) / (kden[ha] - kden[ee])
            level = (num[ee] - num[tt]) / (den[ee] - den[tt])
            by_count = ((kx[tt] - kx[lb]) / (kfactor[tt] - kfactor[lb]), (kx[ha] - kx[ee]) / (kfactor[ha] - kfactor[ee]),
                        (x[ee] - x[tt]) / (factor[ee] - factor[tt]))
        counted = counted[rows, cols]
        lvl_b, lvl_a, level = (np.where(counted, c, d) for c, d in zip(by_count, (lvl_b, lvl_a, level)))
        before[rows, cols] = np.where(use_a, lvl_a, lvl_b)
        during[rows, cols] = level
        b = before[rows, cols]
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.nan_to_num(100.0 * (level - b) / np.abs(b))
            pct[rows, cols] = np.where(b == 0, np.where(level == 0, 0.0, np.copysign(np.inf, level - b)), p)
    return before, during, pct


def _scan_geometry(rng, widths, n):
    t = np.arange(n)
    end = np.minimum(t[None, :] + widths[:, None], n)
    lo_b = np.maximum(t[None, :] - rng.integers(0, 20, (len(widths), n)), 0)
    hi_a = np.minimum(end + rng.integers(0, 20, (len(widths), n)), n)
    return t, end, lo_b, hi_a


@pytest.mark.parametrize("seed", range(20))
def test_window_levels_are_numpys(seed):
    rng = np.random.default_rng(seed)
    n, widths = int(rng.integers(10, 90)), np.array([1, 2, 3, 5, 8])
    t, end, lo_b, hi_a = _scan_geometry(rng, widths, n)
    # cumulative sums whose differences are often 0 (0/0, x/0) or hold a NaN
    sums = [np.concatenate(([0.0], np.cumsum(np.where(rng.random(n) < 0.3, 0.0, _spiky(rng, n, (0.0, -0.0, np.nan))))))
            for _ in range(8)]
    score = np.where(rng.random((len(widths), n)) < 0.5, rng.uniform(0, 8, (len(widths), n)), 0.0)
    score[0, 0] = np.nan
    use_a, counted = rng.random((2, len(widths), n)) < 0.5
    args = (score, 4.0, use_a, counted, t, end, lo_b, hi_a, *sums)
    for g, e in zip(ke.window_levels(*args), _levels_reference(*args)):
        assert _same(g, e)


def _passing_reference(score, lowest, counted, bars, t, end, taken, aside, sized, pct, min_change_pct):
    """`episodes._episodes`' judgement of a scan before the kernel."""
    free = np.concatenate(([0], np.cumsum(taken | aside)))
    rows, cols = np.nonzero(score >= lowest)
    ok = (free[end[rows, cols]] == free[t[cols]]) & (score[rows, cols] >= np.where(counted[rows, cols], bars[rows, 0], bars[rows, 1]))
    if sized:
        ok &= np.abs(pct[rows, cols]) >= min_change_pct
    passing = np.zeros(score.shape)
    if not ok.any():
        return passing, -1, -1
    rows, cols = rows[ok], cols[ok]
    passing[rows, cols] = score[rows, cols]
    row, start = np.unravel_index(int(np.argmax(passing)), passing.shape)
    return passing, int(row), int(start)


@pytest.mark.parametrize("seed", range(30))
def test_passing_windows_are_numpys(seed):
    rng = np.random.default_rng(seed)
    n, widths = int(rng.integers(10, 90)), np.array([1, 2, 3, 5, 8])
    t, end, _, _ = _scan_geometry(rng, widths, n)
    # scores on a coarse grid, so that equal best scores occur (the first is taken)
    score = np.where(rng.random((len(widths), n)) < 0.3, np.round(rng.uniform(3, 7, (len(widths), n)), 0), 0.0)
    score[rng.random(score.shape) < 0.05] = np.nan
    bars = np.column_stack([np.linspace(5.0, 4.6, len(widths)), np.linspace(5.0, 5.2, len(widths))])
    bars.flags.writeable = False  # as `_pass_bars` hands it over
    counted = rng.random(score.shape) < 0.5
    taken, aside = rng.random(n) < 0.1, rng.random(n) < 0.05
    pct = rng.normal(0, 30, score.shape)
    pct[rng.random(score.shape) < 0.05] = np.nan
    for sized in (True, False):
        got = ke.passing_windows(score, 4.6, counted, bars, t, end, taken, aside, sized, pct, 10.0)
        expected = _passing_reference(score, 4.6, counted, bars, t, end, taken, aside, sized, pct, 10.0)
        assert _same(got[0], expected[0]) and got[1:] == expected[1:]


def _narrowest_reference(row, start, passing, widths):
    w, score = widths[row], passing[row, start]
    for r in range(row):
        inner = passing[r, start : start + w - widths[r] + 1]
        if inner.size and inner.max() >= 0.95 * score:
            return r, start + int(np.argmax(inner))
    return row, start


def _widest_reference(row, start, passing, pct, widths, accept):
    w, score, change = widths[row], passing[row, start], pct[row, start]
    best, best_score = (row, start), 0.0
    for r in np.flatnonzero(widths > accept):
        lo, hi = max(start + w - widths[r], 0), start
        scores = passing[r, lo : hi + 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = np.where(pct[r, lo : hi + 1] / change >= 0.5, scores, 0.0)
        if scores.size and scores.max() >= 0.75 * score and scores.max() > best_score:
            best, best_score = (r, lo + int(np.argmax(scores))), float(scores.max())
    return best


@pytest.mark.parametrize("seed", range(40))
def test_narrowest_and_widest_fits_are_numpys(seed):
    rng = np.random.default_rng(seed)
    widths = np.array([1, 2, 3, 4, 5, 6, 7, 9, 11, 14, 17, 21])
    n = int(rng.integers(25, 80))
    passing = np.where(rng.random((len(widths), n)) < 0.4, np.round(rng.uniform(4, 9, (len(widths), n)), 1), 0.0)
    pct = np.round(rng.normal(0, 40, passing.shape), 0)  # zeros among them: 0/0 is not kept
    for _ in range(10):
        row, start = int(rng.integers(0, len(widths))), int(rng.integers(0, n))
        passing[row, start] = max(passing[row, start], 5.0)
        assert ke.narrowest_fit(row, start, passing, widths) == _narrowest_reference(row, start, passing, widths)
        for accept in (1, 3, 7, 14):
            got = ke.widest_fit(row, start, passing, pct, widths, accept)
            assert got == _widest_reference(row, start, passing, pct, widths, accept)
