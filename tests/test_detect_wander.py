"""Gauges whose noise wanders (AR(1): a weekly price, a yearly economic series) are judged
against the long-run variance of their own windows (`autocorrelation._window_long_run_var`),
so that their wander is not reported as episodes and shifts; white noise keeps its bar."""
from __future__ import annotations

import numpy as np

from ctxmetrics.detect import find_changes
from ctxmetrics.detect.autocorrelation import _window_long_run_var


def _ar1(rng, n: int, phi: float) -> np.ndarray:
    out = np.empty(n)
    out[0] = rng.normal()
    for i in range(1, n):
        out[i] = phi * out[i - 1] + rng.normal() * np.sqrt(1 - phi**2)
    return out  # unit marginal sd


def _window_truth(phi: float, width: int) -> float:
    """width / 2 times the variance of the difference of two adjacent width-means of
    unit-marginal AR(1) noise, summed exactly over its autocovariances."""
    lags = np.abs(np.subtract.outer(np.arange(2 * width), np.arange(2 * width)))
    weights = np.repeat([-1.0 / width, 1.0 / width], width)
    return float(width / 2 * weights @ phi**lags @ weights)


def _weeks(n: int) -> np.ndarray:
    return np.datetime64("2015-01-05") + 7 * np.arange(n)


def _years(n: int) -> np.ndarray:
    return (np.datetime64("1960", "Y") + np.arange(n)).astype("datetime64[D]")


def test_white_noise_is_not_read_as_wandering():
    # the AR coefficient must clear 3 of its white-noise sds (simulated: 0-1% of white
    # series of 30-730 values pass)
    passed = 0
    for seed in range(100):
        y = np.random.default_rng(seed).normal(size=200)
        passed += _window_long_run_var(y, np.arange(200), np.ones(200, bool), 12) > 0
    assert passed <= 2


def test_the_window_variance_of_ar1_noise_is_measured():
    # 200 weekly periods of AR(1) noise, windows of 12: the median estimate within 25% of
    # the exact value (phi 0.6: 3.07, 0.9: 4.37 times the marginal variance)
    for phi in (0.6, 0.9):
        estimates = []
        for seed in range(40):
            y = _ar1(np.random.default_rng(seed), 200, phi)
            estimates.append(_window_long_run_var(y, np.arange(200), np.ones(200, bool), 12))
        assert abs(np.median(estimates) / _window_truth(phi, 12) - 1) < 0.25


def test_gaps_pair_only_periods_the_lag_apart():
    # a gap (periods missing from the index) is not a difference of one period: a
    # random walk cut into two halves far apart reads the same as the halves joined
    rng = np.random.default_rng(3)
    y = _ar1(rng, 240, 0.8)
    joined = _window_long_run_var(y, np.arange(240), np.ones(240, bool), 12)
    index = np.concatenate((np.arange(120), 1000 + np.arange(120)))
    apart = _window_long_run_var(y, index, np.ones(240, bool), 12)
    assert joined > 0 and abs(apart / joined - 1) < 0.2


def test_a_step_in_white_noise_is_not_read_as_wandering():
    # a 3-sd step is k differences at lag k: their robust sd does not take it in
    passed = 0
    for seed in range(50):
        rng = np.random.default_rng(seed)
        y = rng.normal(size=60) + 3.0 * (np.arange(60) >= int(rng.integers(10, 50)))
        passed += _window_long_run_var(y, np.arange(60), np.ones(60, bool), 6) > 0
    assert passed <= 2


def test_clean_wandering_weekly_gauges_are_not_flagged():
    # 20 weekly prices, 3-5 years of AR(1) noise at phi 0.6 a week. Measured: 4 flagged
    # with 1-3 changes (main, ctxmetrics-episodes/23: all 20, with 1-3 changes each)
    flagged = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(156, 261))
        values = 300 + 5 * _ar1(rng, n, 0.6)
        flagged += bool(find_changes(values, kind="gauge", dates=_weeks(n)))
    assert flagged <= 7


def test_steps_of_wandering_and_white_gauges_are_still_found():
    # a lasting step of 3-6 long-run sds in 20 weekly AR(1) gauges and of 3-4 sds in
    # 20 white yearly ones (30-60 years). Measured: 20 and 18 found (main: 20 and 18)
    weekly = yearly = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        n, at = 200, int(rng.integers(40, 160))
        size = rng.uniform(3, 6) * np.sqrt(1.6 / 0.4) * rng.choice([-1, 1])
        values = 300 + 5 * (_ar1(rng, n, 0.6) + size * (np.arange(n) >= at))
        weekly += any(c.end is None and abs(c.start - at) <= 2 for c in find_changes(values, kind="gauge", dates=_weeks(n)))
        n = int(rng.integers(30, 61))
        at = int(rng.integers(n // 6, n - n // 6))
        values = 100 + 10 * rng.normal(size=n) + rng.uniform(30, 40) * rng.choice([-1, 1]) * (np.arange(n) >= at)
        yearly += any(c.end is None and abs(c.start - at) <= 2 for c in find_changes(values, kind="gauge", dates=_years(n)))
    assert weekly >= 19 and yearly >= 17
