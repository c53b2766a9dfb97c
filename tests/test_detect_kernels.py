"""The compiled kernels give exactly what the code they replace gives: ruptures' KernelCPD
breakpoints, and the numpy window geometry, baseline sums, flank z and scoring rule, and
few-event rule of the episode scan, bit for bit; the calendar's trimmed least squares and
trimmed cost to float rounding (their sums run in another order), and the episode scan's
count likelihood z (another logarithm). Their medians looked for near a guess, and the
long-run variance's block differences, bit for bit."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import ruptures as rpt
from ruptures.exceptions import BadSegmentationParameters
from numba import njit
from numpy.lib.stride_tricks import sliding_window_view

from ctxmetrics.detect.kernels import (
    _median, _median_within, _middle, _middle_within, _residuals, _select, _trimmed_cost_near, _trimmed_fit_and_scale,
    baseline_sums, block_difference_mads, count_z, few_event_windows, flank_days, kernel_cpd_l2, pelt_l2, refine_bounds,
    step_fit_cost, trimmed_cost, trimmed_fit, window_geometry, window_scores,
)
from ctxmetrics.detect.episodes import _two_rates_z
from ctxmetrics.detect.noise import _BLOCK_UNITS, _long_run_var, _rolling_median, _slides
from ctxmetrics.detect.robust import mad, median, median_and_mad


def _signal(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "noise":
        return rng.normal(size=n)
    if kind == "steps":
        return np.repeat(rng.normal(scale=3.0, size=n // 20 + 1), 20)[:n] + rng.normal(size=n)
    if kind == "ties":  # few distinct values: equal costs, where the tie-break decides
        return rng.integers(0, 3, size=n).astype(float)
    return np.full(n, 1.5)  # constant


@pytest.mark.parametrize("kind, min_size", itertools.product(["noise", "steps", "ties", "constant"], [1, 3, 14]))
def test_segmentation_gives_ruptures_breakpoints(kind, min_size):
    rng = np.random.default_rng(min_size * 7 + len(kind))
    for _ in range(60):
        y = _signal(kind, int(rng.integers(2 * min_size, 400)), rng)
        pen = float(rng.choice([1e-3, 0.5, 2.0, 10.0, 50.0]))
        expected = rpt.KernelCPD(kernel="linear", min_size=min_size).fit(y).predict(pen=pen)
        assert kernel_cpd_l2(y, pen, min_size) == expected


def test_segmentation_of_a_clear_step():
    y = np.r_[np.zeros(50), np.full(50, 4.0)] + np.random.default_rng(1).normal(scale=0.1, size=100)
    assert kernel_cpd_l2(y, 5.0, 5) == [50, 100]


def test_too_short_to_split_fails_as_ruptures_does():
    y = np.arange(9.0)
    with pytest.raises(BadSegmentationParameters):
        rpt.KernelCPD(kernel="linear", min_size=5).fit(y).predict(pen=1.0)
    with pytest.raises(BadSegmentationParameters):
        kernel_cpd_l2(y, 1.0, 5)


def _numpy_flank_z(k, kw, kwy, t, end, lo_b, hi_a, m_w, v_w, long_run):
    """The numpy code of the flank z (episodes._window_scores before the kernels)."""
    k_b, k_a = k[t] - k.take(lo_b), k.take(hi_a) - k.take(end)
    kw_b, kw_a = kw[t] - kw.take(lo_b), kw.take(hi_a) - kw.take(end)
    with np.errstate(invalid="ignore", divide="ignore"):
        sum_b, sum_a = kwy[t] - kwy.take(lo_b), kwy.take(hi_a) - kwy.take(end)
        z_b = (m_w - sum_b / kw_b) / np.sqrt(v_w + long_run / kw_b)
        z_a = (m_w - sum_a / kw_a) / np.sqrt(v_w + long_run / kw_a)
        z_ba = (m_w - (sum_b + sum_a) / (kw_b + kw_a)) / np.sqrt(v_w + long_run / (kw_b + kw_a))
    return z_b, z_a, z_ba, k_b >= 7, k_a >= 7


def _numpy_flank_rule(z_b, z_a, z_ba, has_b, has_a, valid, widths, min_segment_days, floor):
    """The numpy code of the scoring rule (episodes._window_scores before the kernels)."""
    shape = z_b.shape
    if floor > 0:
        rows, cols = np.nonzero((np.abs(z_b) >= floor) | (np.abs(z_a) >= floor) | (np.abs(z_ba) >= floor))
    else:
        rows, cols = (v.ravel() for v in np.indices(shape))
    z_b, z_a, z_ba = z_b[rows, cols], z_a[rows, cols], z_ba[rows, cols]
    has_b, has_a = has_b[rows, cols], has_a[rows, cols]
    both = has_b & has_a & (np.sign(z_b) == np.sign(z_a))
    weaker = np.minimum(np.abs(z_b), np.abs(z_a))
    score = np.where(both, np.where(weaker >= 0.5 * np.abs(z_ba), np.abs(z_ba), weaker), 0.0)
    use_a = both & (np.abs(z_a) < np.abs(z_b))
    one_sided = widths[rows] < min_segment_days
    only_b, only_a = one_sided & has_b & ~has_a, one_sided & has_a & ~has_b
    score = np.where(only_b, np.abs(z_b), np.where(only_a, np.abs(z_a), score))
    use_a |= only_a
    sign, full, after = np.zeros(shape), np.zeros(shape), np.zeros(shape, bool)
    sign[rows, cols] = np.sign(np.where(use_a, z_a, z_b))
    full[rows, cols] = np.where(valid[rows, cols], np.nan_to_num(score), 0.0)
    after[rows, cols] = use_a
    return full, sign, after


def _scan_grid(rng, n: int = 300):
    """Cumulative baseline days, weights and weighted values of a series with excluded
    days (the first 40: flanks with no baseline at all, 0/0 and x/0 as numpy gives them),
    and a grid of windows (widths x starts) with their flank bounds."""
    excluded = rng.random(n) < 0.2
    excluded[:40] = True
    weight = rng.gamma(2.0, size=n) * ~excluded
    cum = lambda v: np.r_[0.0, np.cumsum(v)]  # noqa: E731
    k, kw, kwy = cum(~excluded * 1.0), cum(weight), cum(weight * rng.normal(size=n))
    w = np.array([1, 2, 5, 9, 30])[:, None]
    t = np.arange(n)[None, :]
    end = np.minimum(t + w, n)
    lo_b, hi_a = np.maximum(t - 2 * w, 0), np.minimum(end + 2 * w, n)
    return k, kw, kwy, w, t, end, lo_b, hi_a


def test_flank_days_are_the_numpy_counts():
    k, _, _, _, t, end, lo_b, hi_a = _scan_grid(np.random.default_rng(2))
    expected = _numpy_flank_z(k, k, k, t, end, lo_b, hi_a, np.zeros(end.shape), np.zeros(end.shape), 1.0)[3:]
    for a, b in zip(flank_days(k, t[0], end, lo_b, hi_a), expected):
        assert np.array_equal(a, b)
        assert 0 < b.sum() < b.size


def _scores(k, kw, kwy, w, t, end, lo_b, hi_a, m_w, v_w, valid, floor, counted=None, strong=None, counted_z=None):
    """`window_scores` and the numpy code it replaced (the flank z, the counted windows'
    z put in their place, the rule) on one grid."""
    no = np.zeros(end.shape, bool)
    counted = no if counted is None else counted
    strong = no if strong is None else strong
    counted_z = np.zeros((3, *end.shape)) if counted_z is None else counted_z
    has_b, has_a = flank_days(k, t[0], end, lo_b, hi_a)
    got = window_scores(kw, kwy, t[0], end, lo_b, hi_a, m_w, v_w, 1.7, has_b, has_a, counted, strong, counted_z, valid,
                        w[:, 0], 28, floor)
    z_b, z_a, z_ba, has_b, has_a = _numpy_flank_z(k, kw, kwy, t, end, lo_b, hi_a, m_w, v_w, 1.7)
    z_ba = np.where(counted, counted_z[2], z_ba)
    z_b, z_a = np.where(strong, counted_z[0], z_b), np.where(strong, counted_z[1], z_a)
    expected = _numpy_flank_rule(z_b, z_a, z_ba, has_b, has_a, valid, w[:, 0], 28, floor)
    return got, expected, (z_b, z_a, z_ba)


@pytest.mark.parametrize("floor", [4.5, 1.0, 0.0])
def test_window_scores_are_the_numpy_z_and_rule_bit_for_bit(floor):
    rng = np.random.default_rng(3)
    k, kw, kwy, w, t, end, lo_b, hi_a = _scan_grid(rng)
    m_w, v_w = rng.normal(scale=3.0, size=end.shape), rng.gamma(1.0, size=end.shape)
    valid = rng.random(end.shape) < 0.9
    got, expected, (z_b, _, _) = _scores(k, kw, kwy, w, t, end, lo_b, hi_a, m_w, v_w, valid, floor)
    assert not np.isfinite(z_b).all()  # the degenerate flanks are there
    assert 0 < np.count_nonzero(expected[0]) < expected[0].size
    for name, a, b in zip(("score", "sign", "use_a"), got, expected):
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), name


def test_window_scores_at_the_bar_are_the_numpy_ones():
    """Windows whose z is within rounding of the bar, above and below it, on a level far
    above the noise: no window the numpy code passes is skipped as clearly below."""
    rng = np.random.default_rng(4)
    k, kw, kwy, w, t, end, lo_b, hi_a = _scan_grid(rng)
    kwy = kwy + 1e6 * kw  # a level of 1e6 with noise ~1: the terms cancel to 6 digits
    v_w = rng.gamma(1.0, size=end.shape)
    floor = 4.5
    with np.errstate(invalid="ignore", divide="ignore"):
        kw_ba = kw[t] - kw.take(lo_b) + kw.take(hi_a) - kw.take(end)
        mean_ba = (kwy[t] - kwy.take(lo_b) + kwy.take(hi_a) - kwy.take(end)) / kw_ba
        # the pooled z at the bar, give or take a relative 1e-15 to 1e-3
        near = floor * (1 + rng.choice([-1, 1], end.shape) * 10.0 ** rng.uniform(-15, -3, end.shape))
        m_w = mean_ba + near * np.sqrt(v_w + 1.7 / kw_ba)
    m_w = np.where(np.isfinite(m_w), m_w, 1e6)
    valid = np.ones(end.shape, bool)
    got, expected, (_, _, z_ba) = _scores(k, kw, kwy, w, t, end, lo_b, hi_a, m_w, v_w, valid, floor)
    assert ((np.abs(z_ba) >= floor) & (np.abs(z_ba) < floor * (1 + 1e-12))).any()
    assert ((np.abs(z_ba) < floor) & (np.abs(z_ba) > floor * (1 - 1e-12))).any()
    for name, a, b in zip(("score", "sign", "use_a"), got, expected):
        assert np.array_equal(a, b, equal_nan=True), name


@pytest.mark.parametrize("floor", [4.5, 0.0])
def test_window_scores_take_the_counted_z_by_the_numpy_rule(floor):
    """Counted windows are scored on the z given (pooled; before and after where strong):
    the rule on z of both signs around the bar, with ties, zeros, NaN and infinities."""
    rng = np.random.default_rng(5)
    k, kw, kwy, w, t, end, lo_b, hi_a = _scan_grid(rng)
    m_w, v_w = rng.normal(size=end.shape), rng.gamma(1.0, size=end.shape)
    counted_z = np.round(rng.normal(scale=4.0, size=(3, *end.shape)), 1)
    counted_z.flat[rng.choice(counted_z.size, 300)] = rng.choice([0.0, -0.0, np.nan, np.inf, -np.inf], 300)
    counted = rng.random(end.shape) < 0.7
    strong = counted & (rng.random(end.shape) < 0.8)
    valid = rng.random(end.shape) < 0.9
    got, expected, _ = _scores(k, kw, kwy, w, t, end, lo_b, hi_a, m_w, v_w, valid, floor, counted, strong, counted_z)
    assert np.count_nonzero(expected[0][counted]) > 0
    for name, a, b in zip(("score", "sign", "use_a"), got, expected):
        assert np.array_equal(a, b, equal_nan=True), name


def _numpy_window_geometry(n, w, t, f, short, ramp, segment, seg_lo, seg_hi, wy_body, w_body, wy_tail, w_tail):
    """The numpy code `window_geometry` replaced (episodes._Scan._geometry before the kernel)."""
    end = np.minimum(t + w, n)
    weight = np.where(short, w_tail.take(end) - w_tail[t], w_body.take(end) - w_body[t])
    seg = segment[t]
    lo_b, hi_a = np.maximum(t - f, seg_lo[seg]), np.minimum(end + f, seg_hi[seg])
    valid = (t + w <= n) & (segment[np.maximum(end - 1, 0)] == seg)
    with np.errstate(invalid="ignore", divide="ignore"):
        m_w = np.where(short, wy_tail.take(end) - wy_tail[t], wy_body.take(end) - wy_body[t]) / weight
        v_w = ramp / weight
    return end, lo_b, hi_a, valid, m_w, v_w


@pytest.mark.parametrize("walls", [[], [90, 200], [1, 299]])
def test_window_geometry_is_the_numpy_formula_bit_for_bit(walls):
    rng = np.random.default_rng(len(walls) + 5)
    n = 300
    marks = np.zeros(n + 1, np.int64)
    marks[walls] = 1
    segment, bounds = np.cumsum(marks), np.r_[0, np.array(walls, np.int64), n]
    body, tail = rng.gamma(2.0, size=n), rng.gamma(2.0, size=n)
    body[50:60] = 0.0  # windows of no weight: 0/0 and x/0 as numpy gives them
    y = rng.normal(size=n)
    cum = lambda v: np.r_[0.0, np.cumsum(v)]  # noqa: E731
    weighted = cum(y * body), cum(body), cum(y * tail), cum(tail)
    w = np.array([1, 2, 3, 5, 9, 30, 100])[:, None]
    t = np.arange(n)[None, :]
    f = np.maximum(42, np.minimum(2 * w, 112))
    short, ramp = w <= 3, 1.0 + 0.7 * np.minimum(w - 1, 6) / 6
    got = window_geometry(n, w[:, 0], t[0], f[:, 0], short[:, 0], ramp[:, 0], segment, bounds[:-1], bounds[1:], *weighted)
    expected = _numpy_window_geometry(n, w, t, f, short, ramp, segment, bounds[:-1], bounds[1:], *weighted)
    assert not np.isfinite(expected[4]).all() and not expected[3].all()  # degenerate and invalid windows are there
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def _numpy_few_event_windows(t, end, lo_b, hi_a, where, factor, kx, kfactor, lowest_rate, few_events, few_a_day):
    """The numpy code `few_event_windows` replaced (episodes._count_z before the kernel)."""
    exposure = factor.take(end) - factor[t]
    least = np.where(where, exposure, np.inf).min(axis=1)
    with np.errstate(invalid="ignore"):
        maybe = np.flatnonzero((lowest_rate * least < few_events * (1 + 1e-9)) | (lowest_rate < few_a_day))
    few = np.zeros(exposure.shape, bool)
    if maybe.size:
        end, lo_b, hi_a = end[maybe], lo_b[maybe], hi_a[maybe]
        flank_x = kx[t] - kx.take(lo_b) + kx.take(hi_a) - kx.take(end)
        flank_f = kfactor[t] - kfactor.take(lo_b) + kfactor.take(hi_a) - kfactor.take(end)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = flank_x / flank_f
        few[maybe] = where[maybe] & ((rate * exposure[maybe] < few_events) | (rate < few_a_day))
    return few


@pytest.mark.parametrize("daily, lowest_rate", [(0.5, 0.0), (5.0, 0.0), (5.0, 4.0), (40.0, 30.0)])
def test_few_event_windows_is_the_numpy_rule(daily, lowest_rate):
    rng = np.random.default_rng(int(daily))
    n = 300
    excluded = rng.random(n) < 0.2
    excluded[:40] = True  # flanks with no baseline at all: 0/0 as numpy gives it
    factor = rng.uniform(0.5, 1.5, size=n)
    events = rng.poisson(daily * factor).astype(float)
    cum = lambda v: np.r_[0.0, np.cumsum(v)]  # noqa: E731
    w = np.array([1, 2, 5, 9, 30])[:, None]
    t = np.arange(n)[None, :]
    end = np.minimum(t + w, n)
    lo_b, hi_a = np.maximum(t - 2 * w, 0), np.minimum(end + 2 * w, n)
    where = rng.random(end.shape) < 0.7
    args = (cum(factor), cum(events * ~excluded), cum(factor * ~excluded), lowest_rate, 50.0, 3.0)
    got = few_event_windows(t[0], end, lo_b, hi_a, where, *args)
    expected = _numpy_few_event_windows(t, end, lo_b, hi_a, where, *args)
    assert np.array_equal(got, expected)
    assert 0 < expected.sum() < where.sum()  # windows on each side of the rule


def _numpy_baseline_sums(terms, excluded):
    """The numpy code `baseline_sums` replaced (episodes._Scan.exclude before the kernel)."""
    sums = np.zeros((len(terms), terms.shape[1] + 1))
    np.cumsum(terms * ~excluded, axis=1, out=sums[:, 1:])
    events, exposure = terms[5][~excluded], terms[6][~excluded]
    live = exposure > 0
    bounded = bool(live.any() and np.all(events >= 0) and np.all(live | ((exposure == 0) & (events == 0))))
    return sums, float(np.min(events[live] / exposure[live])) if bounded else 0.0


@pytest.mark.parametrize("case", ["counts", "dead weekday", "negative", "nan", "all excluded"])
def test_baseline_sums_are_the_numpy_sums_bit_for_bit(case):
    rng = np.random.default_rng(len(case))
    n = 400
    terms = rng.normal(scale=50.0, size=(7, n))
    terms[5] = 1 + rng.poisson(3.0, n)  # events
    terms[6] = rng.gamma(3.0, size=n)  # exposure
    excluded = rng.random(n) < 0.3
    terms[0, 0], excluded[0] = -0.0, False  # np.cumsum starts from the first term: -0.0 stays -0.0
    if case == "dead weekday":
        terms[5, ::7], terms[6, ::7] = 0.0, 0.0
    elif case == "negative":  # no lower bound on a flank's rate
        terms[5, 100] = -1.0
    elif case == "nan":
        terms[:, 50] = np.nan
        terms[1, 60] = np.inf
    elif case == "all excluded":
        excluded[:] = True
    got, expected = baseline_sums(terms, excluded), _numpy_baseline_sums(terms, excluded)
    assert np.array_equal(got[0], expected[0], equal_nan=True)
    assert np.array_equal(np.signbit(got[0]), np.signbit(expected[0]))
    assert got[1] == expected[1] or (np.isnan(got[1]) and np.isnan(expected[1]))
    assert (expected[1] > 0) == (case in ("counts", "dead weekday"))


def _numpy_count_z(few, t, end, lo_b, hi_a, w, short, x, factor, k, kx, kfactor, excess, excess_tail, excess_long, shape,
                   floor):
    """The numpy code `count_z` replaced (episodes._count_z with its _count_lr before the
    kernel): the pooled z of the `few` windows, and the z before and after where the
    pooled one reaches `floor`."""
    def lr(rows, t, end, spans):
        fx = sum(kx[hi] - kx[lo] for lo, hi in spans)
        ff = sum(kfactor[hi] - kfactor[lo] for lo, hi in spans)
        days = sum(k[hi] - k[lo] for lo, hi in spans)
        day_excess = np.where(short[rows], excess_tail, excess)
        beyond = np.sqrt(day_excess + (excess_long - day_excess) * np.minimum(w[rows] - 1, 6) / 6)
        return _two_rates_z(x[end] - x[t], factor[end] - factor[t], w[rows], fx, ff, days, shape) / beyond

    rows, cols = np.nonzero(few)
    t, end, lo_b, hi_a = t[cols], end[rows, cols], lo_b[rows, cols], hi_a[rows, cols]
    z, strong = np.full((3, *few.shape), np.nan), np.zeros(few.shape, bool)
    z[2, rows, cols] = pooled = lr(rows, t, end, ((lo_b, t), (end, hi_a)))
    keep = np.abs(pooled) >= floor
    rows, t, end, lo_b, hi_a, cols = rows[keep], t[keep], end[keep], lo_b[keep], hi_a[keep], cols[keep]
    strong[rows, cols] = True
    z[0, rows, cols] = lr(rows, t, end, ((lo_b, t),))
    z[1, rows, cols] = lr(rows, t, end, ((end, hi_a),))
    return strong, z


@pytest.mark.parametrize("rate", [0.3, 3.0, 40.0])
def test_count_z_is_the_numpy_likelihood_to_rounding(rate):
    """numba's logarithm is libm's, numpy's its own vectorised one: they differ in the
    last bit of ~1 value in 1,000, so the z agree to rounding, and so does which windows
    pass the bar."""
    rng = np.random.default_rng(int(rate * 10))
    n = 400
    excluded = rng.random(n) < 0.2
    excluded[:40] = True  # flanks with no baseline: no events expected, z 0
    factor = rng.gamma(5.0, 0.2, size=n)
    events = rng.poisson(rate * factor * np.where((np.arange(n) // 30) % 4 == 1, 0.3, 1.0)).astype(float)
    cum = lambda v: np.r_[0.0, np.cumsum(v)]  # noqa: E731
    x, cfactor = cum(events), cum(factor)
    k, kx, kfactor = cum(~excluded * 1.0), cum(events * ~excluded), cum(factor * ~excluded)
    widths = np.array([1, 2, 3, 5, 9, 30])
    t = np.arange(n)
    end = np.minimum(t[None, :] + widths[:, None], n)
    lo_b, hi_a = np.maximum(t[None, :] - 2 * widths[:, None], 0), np.minimum(end + 2 * widths[:, None], n)
    few = rng.random(end.shape) < 0.6
    args = (few, t, end, lo_b, hi_a, widths, widths <= 3, x, cfactor, k, kx, kfactor, 1.3, 1.6, 2.2, 4.0)
    pooled = _numpy_count_z(*args, np.inf)[1][2][few]
    # a bar that a fifth of the windows pass, halfway between two z (rounding cannot cross it)
    ranked = np.unique(np.abs(pooled))
    floor = float(ranked[int(0.8 * len(ranked)) - 1 : int(0.8 * len(ranked)) + 1].mean())
    strong, z = count_z(*args, floor)
    expected_strong, expected = _numpy_count_z(*args, floor)
    assert np.array_equal(strong, expected_strong)
    assert 0 < strong.sum() < few.sum()  # windows on each side of the bar
    pooled = expected[2][few]
    assert (pooled == 0).any() and np.isfinite(pooled).all()
    np.testing.assert_allclose(z[2][few], pooled, rtol=1e-12, atol=1e-300)
    for side in (0, 1):
        np.testing.assert_allclose(z[side][strong], expected[side][strong], rtol=1e-12, atol=1e-300)


def test_median_is_robust_median_bit_for_bit():
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 4, 101, 730):
        for v in (rng.normal(size=n), rng.integers(0, 4, size=n).astype(float)):  # ties among them
            assert _median(v) == median(v)
    assert np.isnan(_median(np.array([1.0, np.nan, 2.0])))


def test_select_finds_the_order_statistic_and_splits_around_it():
    """`_select` (the medians' quickselect, issue-9cc): a[k] is the k-th smallest of a[:n],
    none before it larger, none after it (within a[:n]) smaller, a[:n] the same values
    reordered and a[n:] untouched; on the inputs a quickselect's pivot choice goes wrong
    on (sorted, reversed, all equal, organ pipe) and on random ones with ties and infinities."""
    rng = np.random.default_rng(9)
    inputs = []
    for n in (1, 2, 3, 7, 64, 365, 730):
        ramp = np.arange(n, dtype=float)
        inputs += [ramp, ramp[::-1].copy(), np.zeros(n), np.minimum(ramp, ramp[::-1]),
                   rng.normal(size=n), rng.integers(0, 3, size=n).astype(float),
                   np.where(rng.random(n) < 0.1, np.inf, rng.normal(size=n)) * rng.choice([-1, 1], n)]
    for values in inputs:
        for n in {values.shape[0], max(values.shape[0] - 3, 1)}:  # all of a, or a[:n] of a longer one
            for k in {0, (n - 1) // 2, n // 2, n - 1}:
                a = values.copy()
                got = _select(a, n, k)
                assert got == a[k] == np.sort(values[:n])[k]
                assert (a[:k] <= got).all() and (a[k + 1 : n] >= got).all()
                assert np.array_equal(np.sort(a[:n]), np.sort(values[:n])) and np.array_equal(a[n:], values[n:])


def _numpy_trimmed_fit(y, design, ok):
    """The numpy loop `trimmed_fit` replaced (calendar._robust_fit before the kernel)."""
    use = ok.copy()
    for round_ in range(3):
        if use.sum() <= 2 * design.shape[1]:
            return None
        x = design[use]
        coef = np.linalg.pinv(x.T @ x) @ (x.T @ y[use])
        if round_ == 2:
            break
        resid = y - design @ coef
        kept = use
        center, spread = median_and_mad(resid[ok])
        use = ok & (np.abs(resid - center) <= 3.5 * max(spread, 1e-9))
        if np.array_equal(use, kept):
            break
    return coef


@pytest.mark.parametrize("steps", [0, 1, 4])
def test_trimmed_fit_is_the_numpy_loop_to_rounding(steps):
    rng = np.random.default_rng(steps)
    n = 730
    day = np.arange(n)
    for _ in range(40):
        ok = rng.random(n) > 0.05
        closes = (rng.random((n, 2)) < 0.1).astype(float)
        empty = np.zeros(n)  # a column with no day in it (the untrended fit's trend)
        starts = rng.choice(np.arange(30, n - 30), steps, replace=False)
        design = np.column_stack((np.ones(n), day / 365.25, closes, empty, *[day >= b for b in starts]))
        y = design[:, :4] @ rng.normal(size=4) + rng.normal(size=n)
        y[rng.choice(n, 15)] += rng.choice([-1, 1], 15) * rng.uniform(5, 50, 15)  # days to trim
        coef, fitted = trimmed_fit(y, design, ok)
        expected = _numpy_trimmed_fit(y, design, ok)
        assert fitted
        assert abs(coef[4]) < 1e-12 and abs(expected[4]) < 1e-12  # pinv: no weight on an empty column
        np.testing.assert_allclose(coef, expected, rtol=1e-9, atol=1e-12)


def test_trimmed_fit_refuses_too_few_days():
    design = np.column_stack((np.ones(10), np.arange(10.0)))
    ok = np.zeros(10, bool)
    ok[:4] = True  # 4 days for 2 columns: not more than twice as many
    assert not trimmed_fit(np.arange(10.0), design, ok)[1]
    assert _numpy_trimmed_fit(np.arange(10.0), design, ok) is None


def test_trimmed_cost_is_the_numpy_sum_to_rounding():
    rng = np.random.default_rng(11)
    for _ in range(100):
        n = int(rng.integers(1, 800))
        resid = rng.standard_t(2, size=n) * rng.uniform(0.1, 100)  # heavy tails: some capped
        ok = rng.random(n) > 0.1
        ok[0] = True
        r = resid[ok] - median(resid[ok])
        expected = float(np.sum(np.minimum(r**2, (3.5 * mad(r)) ** 2)))  # calendar._trimmed_cost before
        assert trimmed_cost(resid, ok) == pytest.approx(expected, rel=1e-12)


def _trimmed_cost_with_three_medians(resid, ok):
    """`kernels.trimmed_cost` before issue-9s24: the residuals' median about their median
    from a partition of its own."""
    with np.errstate(invalid="ignore"):  # inf - inf is NaN, as in the kernel
        r = resid[ok] - _median(resid[ok])
    cap = (3.5 * (1.4826 * _median(np.abs(r - _median(r))))) ** 2
    return sum(math.nan if math.isnan(cap) else min(x * x, cap) for x in r.tolist())


@pytest.mark.parametrize("special", [None, np.nan, np.inf, -np.inf])
def test_trimmed_cost_without_the_third_partition_is_the_same_to_the_bit(special):
    rng = np.random.default_rng(12)
    for _ in range(300):
        n = int(rng.integers(1, 60))  # odd and even counts of kept days
        resid = rng.integers(-3, 4, size=n) * rng.choice([1.0, 0.1, 1e-7]) + rng.choice([0.0, 1e6, -0.5])  # ties
        resid[: n // 3] += rng.standard_t(2, size=n // 3) * 100  # heavy tails: some capped
        if special is not None:
            resid[rng.integers(0, n)] = special
        ok = rng.random(n) > 0.2
        ok[0] = True
        expected = _trimmed_cost_with_three_medians(resid, ok)
        got = trimmed_cost(resid, ok)
        assert got == expected or (math.isnan(got) and math.isnan(expected))


@pytest.mark.parametrize("steps", [0, 1, 5])
def test_step_fit_cost_is_the_numpy_design_fit_and_cost(steps):
    """`calendar._fit_with_steps`' numpy code before the kernel: the design column-stacked,
    `trimmed_fit` with an intercept, the cost of y less the fit without it."""
    rng = np.random.default_rng(40 + steps)
    n = 730
    day = np.arange(n)
    for trended in (True, False):
        for _ in range(20):
            ok = rng.random(n) > 0.05
            calendar = np.column_stack((day / 365.25 if trended else np.zeros(n), rng.random((n, 2)) < 0.1))
            bounds = np.sort(rng.choice(np.arange(30, n - 30), steps, replace=False))
            design = np.column_stack((calendar, *[day >= b for b in bounds]))
            y = design @ rng.normal(size=design.shape[1]) + rng.normal(size=n)
            y[rng.choice(n, 15)] += rng.choice([-1, 1], 15) * rng.uniform(5, 50, 15)  # days to trim
            coef, fitted = trimmed_fit(y, np.column_stack((np.ones(n), design)), ok)
            full, made, cost = step_fit_cost(y, calendar, ok, bounds.astype(np.int64), np.full(2, np.nan))
            assert fitted and made
            assert np.array_equal(full, coef[1:])
            assert cost == trimmed_cost(y - design @ coef[1:], ok)
    few = np.zeros(n, bool)
    few[:5] = True  # 5 days for 4 columns: no fit, no cost
    full, made, cost = step_fit_cost(np.ones(n), np.zeros((n, 2)), few, np.array([100], dtype=np.int64), np.full(2, np.nan))
    assert not made and cost == np.inf

def test_kernels_run_where_no_cache_dir_is_writable():
    """A read-only install whose user has no writable cache dir either: numba finds no
    place for its cache (here: no locator at all), and the kernels are compiled afresh
    instead of failing."""
    import subprocess
    import sys

    code = (
        "import numba.core.caching as caching; caching.CacheImpl._locator_classes = []\n"
        "import numpy as np; from ctxmetrics.detect.kernels import kernel_cpd_l2\n"
        "y = np.r_[np.zeros(30), np.full(30, 5.0)]; print(kernel_cpd_l2(y, 1.0, 5))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[30, 60]"


def _numpy_refine(y, bounds, reach, size):
    """`shifts._refine` before `kernels.refine_bounds` (issue-9s24)."""
    cs = np.concatenate(([0.0], np.cumsum(y)))
    out = []
    for i, b in enumerate(bounds):
        lo = out[-1] if out else 0
        hi = bounds[i + 1] if i + 1 < len(bounds) else len(y)
        days = np.arange(max(b - reach, lo + size), min(b + reach, hi - size) + 1)
        if days.size == 0:
            out.append(b)
            continue
        with np.errstate(invalid="ignore"):
            gain = (cs[days] - cs[lo]) ** 2 / (days - lo) + (cs[hi] - cs[days]) ** 2 / (hi - days)
        out.append(int(days[np.argmax(gain)]))
    return out


@pytest.mark.parametrize("kind", ["noise", "steps", "ties", "constant", "nan"])
def test_refined_bounds_are_the_numpy_days(kind):
    rng = np.random.default_rng(13)
    for _ in range(200):
        n = int(rng.integers(20, 400))
        y = _signal("noise" if kind == "nan" else kind, n, rng)
        if kind == "nan":
            y[rng.integers(0, n)] = np.nan
        size, reach = int(rng.integers(1, 8)), int(rng.integers(1, 4))
        bounds = sorted(rng.choice(np.arange(size, n - size), size=int(rng.integers(0, 6)), replace=False).tolist())
        assert refine_bounds(y, np.array(bounds, dtype=np.int64), reach, size).tolist() == _numpy_refine(y, bounds, reach, size)


def _guesses(low, high, rng):
    """Brackets for `_middle_within` about the middle order statistics low and high: holding
    them (tight, wide, a single point), missing them below or above, and no guess (NaN)."""
    width = abs(high - low) + 1.0 if math.isfinite(high - low) else 1.0
    return [
        (low, high), (low - width, high + width), (low, low), (high, high), (-np.inf, np.inf),
        (low - 3 * width, low - 2 * width), (high + width, high + 2 * width), (high, low - width),
        (np.nan, np.nan), (low - rng.uniform(0, width), high + rng.uniform(0, width)),
    ]


@pytest.mark.parametrize("special", [None, np.nan, np.inf, -np.inf])
def test_middle_within_is_the_full_partition(special):
    """Any guess gives the order statistics of `_middle` and the median of `robust.median`:
    those it brackets from its band, the others from the fallback."""
    rng = np.random.default_rng(21)
    for _ in range(300):
        n = int(rng.choice([1, 2, 3, 4, int(rng.integers(5, 80)), 729, 730]))  # odd and even counts
        v = rng.integers(-3, 4, size=n) * rng.choice([1.0, 0.1]) + rng.choice([0.0, 1e6])  # ties
        v[: n // 3] += rng.standard_t(2, size=n // 3) * 10
        if special is not None:
            v[rng.integers(0, n, size=int(rng.integers(1, 3)))] = special
        expected = _middle(v)
        for lo, hi in _guesses(*expected, rng):
            got = _middle_within(v, lo, hi)
            if np.isnan(expected[0]):
                assert np.isnan(got).all()
                assert np.isnan(_median_within(v, lo, hi)) and np.isnan(median(v))
            else:
                assert got == expected
                assert _median_within(v, lo, hi) == median(v)


@pytest.mark.parametrize("special", [None, np.nan, np.inf, -np.inf])
def test_trimmed_cost_with_any_guess_is_trimmed_cost_to_the_bit(special):
    rng = np.random.default_rng(22)
    for _ in range(200):
        n = int(rng.integers(1, 120))
        resid = rng.integers(-3, 4, size=n) * rng.choice([1.0, 0.1]) + rng.choice([0.0, 1e6, -0.5])  # ties
        resid[: n // 3] += rng.standard_t(2, size=n // 3) * 100  # heavy tails: some capped
        if special is not None:
            resid[rng.integers(0, n)] = special
        ok = rng.random(n) > 0.2
        ok[0] = True
        expected = trimmed_cost(resid, ok)  # no guess: full partitions
        with np.errstate(invalid="ignore"):  # inf - inf
            center, spread = _middle(resid[ok])[0], float(mad(resid[ok])) / 1.4826
        for guess in ((center, spread), (center + 5 * spread + 1, spread), (center, 0.0), (center, 10 * spread), (np.inf, np.inf)):
            got = _trimmed_cost_near(resid, ok, *guess)
            assert got == expected or (math.isnan(got) and math.isnan(expected))


@njit
def _trimmed_fit_with_full_partitions(y, design, ok):
    """`kernels.trimmed_fit` before issue-9s25: each round's median and MAD from partitions
    of all the days (compiled, so that its products are the kernel's)."""
    n, p = design.shape
    use = ok.copy()
    coef = np.zeros(p)
    for round_ in range(3):
        if np.sum(use) <= 2 * p:
            return coef, False
        x = design[use]
        coef = np.linalg.pinv(x.T @ x) @ (x.T @ y[use])
        if round_ == 2:
            break
        resid = _residuals(y, design, coef)
        kept = resid[ok]
        center = _median(kept)
        spread = 1.4826 * _median(np.abs(kept - center))
        bar = 3.5 * (1e-9 if 1e-9 > spread else spread)  # NaN kept
        now = ok & (np.abs(resid - center) <= bar)
        if np.array_equal(now, use):
            break
        use = now
    return coef, True


@pytest.mark.parametrize("special", [None, np.nan, np.inf])
def test_trimmed_fit_with_guessed_medians_is_the_fit_with_full_partitions(special):
    """The rounds after the first look for the residuals' median and MAD near the round
    before's: the same coefficients, to the bit, whichever days the trim takes out; the
    scale returned is the last round's median and MAD."""
    rng = np.random.default_rng(23)
    day = np.arange(730)
    rounds = set()
    for _ in range(120):
        n = int(rng.choice([729, 730, int(rng.integers(40, 200))]))  # odd and even counts
        ok = rng.random(n) > 0.05
        starts = rng.choice(np.arange(10, n - 10), int(rng.integers(0, 4)), replace=False)
        design = np.column_stack((np.ones(n), day[:n] / 365.25, rng.random((n, 2)) < 0.1, *[day[:n] >= b for b in starts]))
        y = design @ rng.normal(size=design.shape[1]) + rng.normal(size=n)
        y = np.round(y) if rng.random() < 0.5 else y  # counts: ties among the residuals
        shocks = int(rng.integers(0, 40))
        y[rng.choice(n, shocks)] += rng.choice([-1, 1], shocks) * rng.uniform(3, 50, shocks)  # days to trim
        if special is not None:
            at = rng.integers(0, n)
            y[at], ok[at] = special, True
        design = np.ascontiguousarray(design, dtype=np.float64)
        expected, fitted = _trimmed_fit_with_full_partitions(y, design, ok)
        coef, made, center, spread = _trimmed_fit_and_scale(y, design, ok, np.full(2, np.nan))
        assert made == fitted and np.array_equal(coef, expected, equal_nan=True)
        assert np.array_equal(trimmed_fit(y, design, ok)[0], expected, equal_nan=True)
        if special is np.nan:  # a NaN residual: NaN scale, every day trimmed, no fit left
            assert not made and np.isnan(center) and np.isnan(spread)
        rounds.add(shocks > 0)
    assert rounds == {True, False}


def _numpy_long_run_var(y, ok, unit):
    """`noise._long_run_var` before `kernels.block_difference_mads` (issue-9s25)."""
    cs = np.concatenate(([0.0], np.cumsum(np.where(ok, y, 0.0))))
    ck = np.concatenate(([0], np.cumsum(ok)))
    estimates = []
    for block in (unit * k for k in _BLOCK_UNITS):
        if len(y) < 8 * block:
            continue
        t = np.arange(0, len(y) - 2 * block + 1, max(1, block // 4))
        n1, n2 = ck[t + block] - ck[t], ck[t + 2 * block] - ck[t + block]
        full = (n1 >= block / 2) & (n2 >= block / 2)
        t, n1, n2 = t[full], n1[full], n2[full]
        with np.errstate(invalid="ignore"):  # inf - inf
            diffs = (cs[t + 2 * block] - cs[t + block]) / n2 - (cs[t + block] - cs[t]) / n1
            if diffs.size >= 24:
                estimates.append(mad(diffs) ** 2 / 2 * block)
    return float(median(np.array(estimates))) if estimates else 0.0


@pytest.mark.parametrize("special", [None, np.nan, np.inf, -np.inf])
def test_long_run_var_is_the_numpy_loop_to_the_bit(special):
    """Series short and long (some blocks too long for them), with gaps (blocks with too
    few days), counts (ties among the differences), odd and even numbers of differences."""
    rng = np.random.default_rng(24)
    measured = 0
    for _ in range(300):
        n = int(rng.choice([0, 5, int(rng.integers(50, 800)), 730, 731]))
        unit = int(rng.choice([1, 4, 7, 12]))
        y = rng.poisson(rng.uniform(0.5, 50), size=n).astype(float) if rng.random() < 0.5 else rng.normal(size=n) * 100
        y += np.repeat(rng.normal(scale=20, size=n // 60 + 1), 60)[:n]  # shifts
        ok = rng.random(n) > rng.choice([0.0, 0.1, 0.6])
        if n and rng.random() < 0.3:
            ok[rng.integers(0, n) : rng.integers(0, n)] = False  # a long gap
        if special is not None and n:
            y[rng.integers(0, n, size=int(rng.integers(1, 3)))] = special
        expected = _numpy_long_run_var(y, ok, unit)
        with np.errstate(invalid="ignore"):
            got = _long_run_var(y, ok, unit)
        assert got == expected or (math.isnan(got) and math.isnan(expected))
        measured += expected != 0.0
    assert measured > 100
    read_only = np.frombuffer(np.arange(400.0).tobytes()), np.frombuffer(np.ones(400, bool).tobytes(), dtype=bool)
    mads, used = block_difference_mads(*read_only, np.array([7, 14, 28, 56]))
    assert used.tolist() == [True, True, True, False] and np.isnan(mads[3])
    assert _long_run_var(*read_only, 7) == _numpy_long_run_var(*read_only, 7)


def test_step_fit_costs_with_the_last_fits_guess_are_those_without():
    """`calendar._fit_with_steps` hands each fit the last one's first-round median and MAD:
    close for similar sets of steps, far off after a large step goes (`_middle_within`
    falls back then), misleading at will here: the same coefficients and costs, to the
    bit, as fits with no guess, and the guess is then the last fit's."""
    rng = np.random.default_rng(25)
    n = 730
    day = np.arange(n)
    for _ in range(30):
        ok = rng.random(n) > 0.05
        calendar = np.column_stack((day / 365.25, rng.random((n, 2)) < 0.1))
        bounds = np.sort(rng.choice(np.arange(30, n - 30), 4, replace=False))
        y = calendar @ rng.normal(size=3) + (day[:, None] >= bounds).astype(float) @ rng.normal(scale=5, size=4)
        y += rng.standard_t(3, size=n)
        y = np.round(y) if rng.random() < 0.5 else y  # counts: ties
        guess = np.array([rng.normal(scale=100), rng.uniform(0, 10)]) if rng.random() < 0.3 else np.full(2, np.nan)
        for steps in [bounds, bounds[1:], bounds[:2], bounds[:0], bounds[::2]]:
            steps = steps.astype(np.int64)
            expected = step_fit_cost(y, calendar, ok, steps, np.full(2, np.nan))
            got = step_fit_cost(y, calendar, ok, steps, guess)
            assert np.array_equal(got[0], expected[0]) and got[1:] == expected[1:]
            design = np.ascontiguousarray(np.column_stack((np.ones(n), calendar, *[day >= b for b in steps])), dtype=np.float64)
            coef, _ = _trimmed_fit_with_full_partitions(y, design, ok)
            assert np.array_equal(got[0], coef[1:])
            first = _residuals(y, design, _trimmed_fit_with_full_partitions_rounds(y, design, ok))  # the kernel's sums
            assert guess[0] == _median(first[ok]) and guess[1] == _median(np.abs(first[ok] - guess[0]))


@njit
def _trimmed_fit_with_full_partitions_rounds(y, design, ok):
    """The first-round coefficients of `_trimmed_fit_with_full_partitions`: least squares
    on all the `ok` days."""
    x = design[ok]
    return np.linalg.pinv(x.T @ x) @ (x.T @ y[ok])


@njit(error_model="numpy")
def _pelt_one_chain(signal, beta, min_size):
    """`kernels.pelt_l2` before issue-9s30: ruptures' C loop as it is written, one running
    cross-product sum at a time and each cost compared as it is computed."""
    n = signal.shape[0]
    d, s_sum, m_v, m_pruning = np.zeros(n + 1), np.zeros(n + 1), np.zeros(n + 1), np.zeros(n + 1)
    path = np.zeros(n + 1, np.int64)
    s_min = 0
    for t in range(1, n + 1):
        x = signal[t - 1]
        diag = 0.0 + x * x
        d[t] = d[t - 1] + diag
        c_r = 0.0
        for s in range(t - 1, s_min - 1, -1):
            c_r += 0.0 + signal[s] * x
            s_sum[s] += 2 * c_r - diag
        if t < 2 * min_size:
            m_v[t] = d[t] - d[0] - s_sum[0] / t + beta
            continue
        s = s_min
        cost_sum = m_v[s] + (d[t] - d[s] - s_sum[s] / (t - s))
        m_pruning[s] = cost_sum
        m_v[t] = cost_sum + beta
        path[t] = s
        for s in range(max(s_min + 1, min_size), t - min_size + 1):
            cost_sum = m_v[s] + (d[t] - d[s] - s_sum[s] / (t - s))
            m_pruning[s] = cost_sum
            cost_sum += beta
            if m_v[t] > cost_sum:
                m_v[t] = cost_sum
                path[t] = s
        while m_pruning[s_min] >= m_v[t] and s_min < t - min_size + 1:
            s_min += min_size if s_min == 0 else 1
    return path


@pytest.mark.parametrize("special", [None, np.nan, np.inf, -np.inf, 0.0])
def test_segmentation_path_is_the_one_chain_loop_to_the_bit(special):
    """The four steps' sums side by side and the costs' first minimum give the very path
    of the loop as written (every segment start, not only the breakpoints kept): lengths
    odd and even and around multiples of the four steps (the last block runs past the
    end), sizes 1-14, ties (equal costs: the first is kept), -0.0 and +0.0, NaN and
    infinities (NaN costs never taken), penalties tiny to large."""
    rng = np.random.default_rng(30)
    kinds = ["noise", "steps", "ties", "constant"]
    starts = set()
    for _ in range(400):
        min_size = int(rng.choice([1, 2, 3, 5, 14]))
        n = int(rng.choice([2 * min_size, 2 * min_size + int(rng.integers(1, 9)), int(rng.integers(2 * min_size, 400)), 365]))
        y = _signal(str(rng.choice(kinds)), n, rng)
        if rng.random() < 0.2:
            y = y * rng.choice([-0.0, 0.0], n)  # signed zeros only
        if special is not None:
            y[rng.choice(n, int(rng.integers(1, 3)))] = special * (-1.0 if special == 0.0 else 1.0)
        pen = float(rng.choice([1e-12, 1e-3, 0.5, 2.0, 10.0, 50.0, 1e6]))
        expected = _pelt_one_chain(y, pen, min_size)
        assert np.array_equal(pelt_l2(y, pen, min_size), expected)
        starts.update(expected[2 * min_size:].tolist())
    assert len(starts) > 100  # many segmentations, not all one segment


def _partition_rolling_median(y, half):
    """`noise._rolling_median` of all-`ok` rows before issue-9s30: reflected edges, then
    numpy's partition of every window."""
    n = y.shape[-1]
    half = min(half, n - 1)
    padded = np.concatenate((y[..., 1 : half + 1][..., ::-1], y, y[..., n - 1 - half : n - 1][..., ::-1]), axis=-1)
    return np.partition(sliding_window_view(padded, 2 * half + 1, axis=-1), half, axis=-1)[..., half]


@pytest.mark.parametrize("special", [None, np.nan, np.inf, -np.inf, -0.0])
def test_rolling_median_is_the_partition_to_the_bit(special):
    """The noise model's level (every day `ok`), compiled where it may be, is the partition's
    value day by day: rows and single series, odd and even lengths, windows wider than
    the series, ties (counts), +0.0; NaN, infinities and -0.0 keep the partition."""
    rng = np.random.default_rng(31)
    compiled = 0
    for _ in range(150):
        n = int(rng.choice([2, 3, int(rng.integers(4, 60)), 364, 365, 730, 731]))
        shape = (int(rng.integers(1, 6)), n) if rng.random() < 0.5 else (n,)
        y = rng.poisson(rng.choice([0.3, 3.0, 40.0]), shape).astype(float)  # ties, zeros
        if rng.random() < 0.5:
            y = y + rng.normal(size=shape)
        if special is not None:
            y.flat[int(rng.integers(0, y.size))] = special
        half = int(rng.choice([1, 7, 14, 28, 2 * n]))
        got = _rolling_median(y, np.ones(shape, bool), half)
        expected = _partition_rolling_median(y, half)
        assert got.shape == expected.shape and np.array_equal(got, expected, equal_nan=True)
        assert np.array_equal(np.signbit(got), np.signbit(expected))
        compiled += _slides(y)
    assert (compiled > 0) == (special is None)


_CONTIGUOUS_FIRST = ("window_geometry", "few_event_windows", "flank_days", "window_scores", "baseline_sums", "count_z")


def _strided(a):
    """The same values in an array that is not contiguous (every other element of one twice as long)."""
    if not isinstance(a, np.ndarray) or a.ndim == 0:
        return a
    return np.repeat(a, 2, axis=-1)[..., ::2]


def _written(name, args, out):
    """The outputs a caller reads: `count_z`'s z only where its windows were judged."""
    if name != "count_z":
        return out
    few, (strong, z) = args[0], out
    return strong, np.where(few, z[2], 0.0), np.where(strong, z[0], 0.0), np.where(strong, z[1], 0.0)


def test_contiguous_and_strided_arrays_give_the_same_numbers(monkeypatch):
    """The episode scan's kernels are compiled at import for contiguous arrays (all the
    detector passes: indexing without strides; a detection compiles no other version) and
    for any other layout at its first call: on every call of a detection (a low-count
    series: the count likelihood too), the arrays as passed and strided copies of them
    give the same outputs, bit for bit."""
    import ctxmetrics.detect.kernels as K
    from ctxmetrics.detect import find_changes

    calls = {name: [] for name in _CONTIGUOUS_FIRST}
    compiled = {name: list(getattr(K, name).signatures) for name in _CONTIGUOUS_FIRST}
    for name in _CONTIGUOUS_FIRST:
        def record(*args, _kernel=getattr(K, name), _calls=calls[name]):
            _calls.append(tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args))
            return _kernel(*args)
        monkeypatch.setattr(K, name, record)
    rng = np.random.default_rng(32)
    rate = np.full(730, 2.0) * np.tile([1, 1, 1, 1, 1, 0.4, 0.3], 105)[:730]
    rate[300:320] *= 3.0
    rate[500:] *= 1.6
    find_changes(rng.poisson(rate).astype(float), kind="count")
    monkeypatch.undo()
    for name, made in calls.items():
        kernel = getattr(K, name)
        assert made and kernel.signatures == compiled[name], name  # the version compiled at import
        for args in made:
            strided = tuple(_strided(a) for a in args)
            assert any(isinstance(a, np.ndarray) and a.ndim and not a.flags.c_contiguous for a in strided)
            contiguous = _written(name, args, kernel(*args))
            general = _written(name, args, kernel(*strided))
            for c, g in zip(contiguous if isinstance(contiguous, tuple) else (contiguous,),
                            general if isinstance(general, tuple) else (general,)):
                assert np.array_equal(c, g, equal_nan=True) and type(c) is type(g), name
        assert len(kernel.signatures) > len(compiled[name]), name  # the strided copies' own, compiled when called
