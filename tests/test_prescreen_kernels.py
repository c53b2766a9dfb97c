"""The pre-screen's compiled kernels give, bit for bit, what the numpy expressions they
replaced in `detect/prescreen_*.py` give (the screen's decisions depend on them)."""
from __future__ import annotations

import numpy as np
import pytest

from ctxmetrics.detect.episodes import _two_rates_z
from ctxmetrics.detect.kernels import (_largest_nonnegative, centered_mean, largest_deviation, neighbour_residuals, padded_row_cumsum, pooled_bound_max,
                                       pooled_contrast_max, pooled_count_log_args, pooled_count_z, rolling_median,
                                       step_differences)
from ctxmetrics.detect.prescreen_noise import _row_order_statistic
from ctxmetrics.detect.prescreen_rows import _PAD, _padded_cumsum, _row_cumsum, _row_median
from ctxmetrics.detect.prescreen_windows import _flank, _flank_days

N = 730


def _rows(rng: np.random.Generator, rows: int = 64) -> np.ndarray:
    """Stabilised-like rows: noise, a level shift, a short dip, a large level (float32)."""
    y = rng.normal(size=(rows, N)).astype(np.float32)
    y[1::4, 300:] += 3.0
    y[2::4, 100:104] -= 6.0
    y[3::4] += 1e4
    return y


def _numpy_interior(cs, width, flank, first, last):
    """`_episode_keep`'s pooled contrast before the kernel: its largest size per row."""
    inside = cs[:, first + width : last + width] - cs[:, first:last]
    around = cs[:, first + width + flank : last + width + flank] - cs[:, first - flank : last - flank]
    inside *= 1 / width + 1 / (2 * flank)
    around *= 1 / (2 * flank)
    return np.abs(np.subtract(inside, around, out=inside), out=inside).max(axis=1)


def _numpy_edge(cs, width, flank, cols, ramp, long_run):
    """`_window_bound`'s pooled bound before the kernel (before dividing by the scale)."""
    t = np.arange(N - width + 1)[cols]
    at = lambda offset: cs[:, _PAD + cols.start + offset : _PAD + cols.stop + offset]  # noqa: E731
    n_b, n_a = _flank_days(t, width, flank, N, cs.dtype)
    start, end = at(0), at(width)
    around = (start - at(-flank)) + (at(width + flank) - end)
    pooled = np.abs((end - start) / width - around / (n_b + n_a))
    return (pooled / np.sqrt((ramp / width)[:, None] + long_run[:, None] / (n_b + n_a))).max(axis=1)


@pytest.mark.parametrize("width", [2, 3, 8, 21, 55, 86])
def test_interior_contrast_equals_numpy(width):
    rng = np.random.default_rng(width)
    cs = _padded_cumsum(_rows(rng))
    flank = _flank(width)
    first, last = _PAD + flank, _PAD + N - width - flank + 1
    skip = np.zeros(len(cs), bool)
    skip[5] = True
    got = pooled_contrast_max(cs, first, last, width, flank, np.float32(1 / width + 1 / (2 * flank)),
                              np.float32(1 / (2 * flank)), skip)
    expected = _numpy_interior(cs, width, flank, first, last)
    assert got.dtype == np.float32
    assert np.array_equal(np.delete(got, 5), np.delete(expected, 5))
    assert got[5] == 0  # a row already kept is not scored


@pytest.mark.parametrize("width", [1, 3, 8, 21, 55, 86])
def test_edge_bound_equals_numpy(width):
    rng = np.random.default_rng(100 + width)
    cs = _padded_cumsum(_rows(rng))
    flank = _flank(width)
    long_run = rng.uniform(1.0, 3.0, len(cs))
    ramp = 1.0 + (long_run - 1.0) * min(width - 1, 6) / 6
    for cols in (slice(0, flank), slice(N - width - flank + 1, N - width + 1)):
        got = pooled_bound_max(cs, cols.start, cols.stop, width, flank, N, ramp, long_run)
        assert np.array_equal(got, _numpy_edge(cs, width, flank, cols, ramp, long_run))


def test_nan_propagates_as_numpy_max():
    cs = _padded_cumsum(_rows(np.random.default_rng(7), 4))
    cs[2, _PAD + 300] = np.nan
    width, flank = 5, _flank(5)
    first, last = _PAD + flank, _PAD + N - width - flank + 1
    got = pooled_contrast_max(cs, first, last, width, flank, np.float32(0.2), np.float32(0.01), np.zeros(4, bool))
    assert np.isnan(got[2]) and np.isfinite(got[[0, 1, 3]]).all()
    cs[1, _PAD + 10] = np.nan
    long_run = np.ones(4)
    assert np.isnan(pooled_bound_max(cs, 0, flank, width, flank, N, long_run, long_run)[1])


def test_largest_nonnegative_equals_numpy_max():
    rng = np.random.default_rng(3)
    tiny = np.float32(np.finfo(np.float32).smallest_subnormal)
    cases = [np.abs(rng.normal(size=n)).astype(np.float32) for n in (1, 7, 33, 730)]
    cases += [np.zeros(5, np.float32), np.array([0.0, tiny, 0.0], np.float32), np.array([3.0, np.inf, 1e38], np.float32)]
    for v in cases:
        assert _largest_nonnegative(v) == v.max()
    with np.errstate(invalid="ignore"):
        inf = np.full(4, np.inf, np.float32)
        v = np.abs(np.concatenate([[2.0, np.inf], inf - inf, [5.0]]).astype(np.float32))  # NaN from inf - inf, as abs leaves it
    assert np.isnan(_largest_nonnegative(v)) and np.isnan(v.max())


def _numpy_centered_mean(v, width):
    """`_row_centered_mean` before the kernel."""
    n = v.shape[1]
    cs = _row_cumsum(v)
    half = width // 2
    out = np.empty_like(v, dtype=cs.dtype)
    np.subtract(cs[:, width:], cs[:, : n + 1 - width], out=out[:, half : half + n + 1 - width])
    out[:, half : half + n + 1 - width] /= width
    out[:, :half] = out[:, half : half + 1]
    out[:, half + n + 1 - width :] = out[:, half + n - width : half + n + 1 - width]
    return out


@pytest.mark.parametrize("days", [28, 90, 730])
def test_centered_mean_equals_numpy(days):
    rng = np.random.default_rng(days)
    counts = rng.poisson(rng.lognormal(3, 1.5, (200, 1)), (200, days)).astype(np.float32)
    for v in (counts, counts / 7.3, rng.normal(size=(50, days)).astype(np.float32), counts[:, ::3], np.asfortranarray(counts)):
        for width in (1, 2, 7, 15)[: 3 + (v.shape[1] > 15)]:
            got = centered_mean(v, width)
            expected = _numpy_centered_mean(v, width)
            assert np.array_equal(got, expected) and np.array_equal(np.signbit(got), np.signbit(expected))


def _numpy_pooled_count_z(events, exposure, width, flank, n, shape):
    """`_count_best`'s pooled z before the kernels: `_two_rates_z` of the window's sums
    against both flanks' (slices of the padded cumulative sums)."""
    starts = n - width + 1
    t = np.arange(starts)

    def span(c, lo, hi):
        return c[:, _PAD + hi : _PAD + starts + hi] - c[:, _PAD + lo : _PAD + starts + lo]

    n_b = (t - np.maximum(t - flank, 0)).astype(np.float32)
    n_a = (np.minimum(t + width + flank, n) - t - width).astype(np.float32)
    return _two_rates_z(span(events, 0, width), span(exposure, 0, width), width,
                        span(events, -flank, 0) + span(events, width, width + flank),
                        span(exposure, -flank, 0) + span(exposure, width, width + flank), n_b + n_a, shape[:, None])


@pytest.mark.parametrize("days,width", [(730, 1), (730, 3), (730, 8), (730, 34), (730, 89), (90, 2), (90, 21)])
def test_pooled_count_z_equals_numpy(days, width):
    """Low-volume counts (many zero windows and flanks), dips and lifts, a dead row, a
    NaN day: the kernels with numpy's logarithm between them give `_two_rates_z`'s floats."""
    rng = np.random.default_rng(days + width)
    rate = rng.lognormal(-0.5, 1.5, (120, 1))
    x = rng.poisson(rate, (120, days)).astype(np.float32)
    x[1::5, days // 3 : days // 3 + width] = 0
    x[2::5, days // 2 : days // 2 + width] *= 3
    x[3] = 0
    x[4, 10] = np.nan
    factor = np.tile(rng.uniform(0.3, 1.6, 7).astype(np.float32), days // 7 + 1)[:days]
    events, exposure = _padded_cumsum(x), _padded_cumsum(np.broadcast_to(factor, x.shape).copy())
    shape = rng.uniform(1.0, 50.0, len(x)).astype(np.float32)
    flank = _flank(width)
    logs = np.empty((2, len(x), days - width + 1), np.float32)
    pooled_count_log_args(events, exposure, _PAD, width, flank, days, logs)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.log(logs, out=logs)
    got = np.empty((len(x), days - width + 1), np.float32)
    pooled_count_z(events, exposure, _PAD, width, flank, days, shape, logs, got)
    expected = _numpy_pooled_count_z(events, exposure, width, flank, days, shape)
    assert expected.dtype == np.float32 and np.array_equal(got, expected)
    assert np.count_nonzero(expected) > expected.size // 2  # not a test of zeros


def test_padded_row_cumsum_equals_numpy():
    """The sums of chosen rows, straight from the block (any layout), as `_padded_cumsum`
    of the gathered rows: float32 running sums, -0.0 and NaN included."""
    rng = np.random.default_rng(3)
    v = (rng.poisson(2.5, (300, 90)) * rng.uniform(0.2, 1.7, (300, 90))).astype(np.float32)
    v[5, 0], v[6, 40] = -0.0, np.nan
    for block in (v, np.asfortranarray(v), v[:, ::-1]):
        for rows in (np.arange(300), np.array([6, 5, 0, 299, 17]), np.zeros(0, np.int64)):
            got, expected = padded_row_cumsum(block, rows, _PAD), _padded_cumsum(block[rows])
            assert got.shape == expected.shape and np.array_equal(got, expected, equal_nan=True)
            assert np.array_equal(np.signbit(got), np.signbit(expected))


@pytest.mark.parametrize("days,half", [(28, 14), (90, 14), (90, 3), (730, 14)])
def test_rolling_median_equals_numpy(days, half):
    """The sliding sorted window gives numpy's partition of each reflected window: ties
    (small counts), a level shift, float32 and float64 rows."""
    rng = np.random.default_rng(days + half)
    ties = rng.poisson(1.5, (40, days)).astype(np.float32)
    smooth = rng.normal(size=(40, days)).astype(np.float32)
    smooth[::3, days // 2 :] += 4
    for v in (ties, smooth, smooth.astype(np.float64), np.asfortranarray(ties)):
        h = min(half, days - 1)
        padded = np.concatenate((v[:, 1 : h + 1][:, ::-1], v, v[:, days - 1 - h : days - 1][:, ::-1]), axis=1)
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * h + 1, axis=1)
        expected = np.partition(windows, h, axis=2)[:, :, h]
        rows = np.arange(0, len(v), 2)
        got = rolling_median(v, rows, h)
        assert got.dtype == v.dtype and np.array_equal(got, expected[rows])


@pytest.mark.parametrize("days", [90, 730])
def test_steps_and_residuals_equal_numpy(days):
    """`_step_stat`'s differences and largest deviation from the trend, and the daily
    scale's neighbour residuals, as the numpy expressions they replaced (NaN included)."""
    y = _rows(np.random.default_rng(days))[:, :days].copy()
    y[7, 40] = np.nan
    padded = _padded_cumsum(y)
    cs = padded[:, _PAD : _PAD + days + 1]
    for width in (7, 28):
        n = days
        diff = (cs[:, 2 * width : n + 1] - 2 * cs[:, width : n - width + 1] + cs[:, : n - 2 * width + 1]) / width
        got = step_differences(cs, width)
        assert np.array_equal(got, diff, equal_nan=True)
        trend = _row_median(diff[:, ::7])
        expected = np.abs(diff - trend[:, None]).max(axis=1)
        assert np.array_equal(largest_deviation(got, trend), expected, equal_nan=True)
        assert np.isnan(expected[7]) and np.isfinite(np.delete(expected, 7)).all()
    half = 7
    lo, hi = np.clip(np.arange(days) - half, 0, days), np.clip(np.arange(days) + half + 1, 0, days)
    expected = y - ((cs[:, hi] - cs[:, lo]) - y) / (hi - lo - 1).astype(np.float32)
    assert np.array_equal(neighbour_residuals(y, cs, half), expected, equal_nan=True)


def test_row_order_statistic_equals_sorted_rows():
    """The tail scale's per-row order statistic (rows grouped by their rank, one partition
    per group) is each sorted row's value at its rank, as the sort it replaced; ties,
    zeros and the infinities that stand for days outside the body included."""
    rng = np.random.default_rng(5)
    v = np.abs(_rows(rng, 200)[:, :365]).round(1)  # rounded: many ties
    v[rng.random(v.shape) < 0.02] = np.inf
    v[::9, :40] = 0.0
    at = rng.integers(300, 360, len(v))
    at[::5] = 0
    at[1::5] = 364
    expected = np.sort(v, axis=1)[np.arange(len(v)), at]
    got = _row_order_statistic(v.copy(), at)
    assert got.dtype == v.dtype and np.array_equal(got, expected)
    assert np.array_equal(_row_order_statistic(v, np.full(len(v), 100)), np.sort(v, axis=1)[:, 100])
