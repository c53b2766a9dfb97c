"""The calendar fit's backward elimination and the noise model's day scales, each compiled in
one call (issue-9cb), against the numpy/Python code they replace: the same numbers to the bit."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ctxmetrics.detect.kernels import day_scales, step_fit_cost, steps_worth_their_price
from ctxmetrics.detect.robust import mad, median, median_and_mad

N = 730


def _python_elimination(y, calendar, ok, bounds, penalty):
    """The Python loop before the kernel: a dict of the costs of every set less one step,
    min() of it, the fits by `step_fit_cost` with a shared guess, failures at inf."""
    guess = np.full(2, np.nan)

    def cost_of(steps: set[int]) -> float:
        try:
            full, fitted, cost = step_fit_cost(y, calendar, ok, np.array(sorted(steps), dtype=np.int64), guess)
        except (ValueError, np.linalg.LinAlgError):
            return math.inf
        return cost

    bounds = set(bounds)
    cost = cost_of(bounds)
    while bounds:
        costs = {b: cost_of(bounds - {b}) for b in sorted(bounds)}
        weakest = min(costs, key=costs.get)
        if costs[weakest] - cost >= penalty:
            break
        bounds.discard(weakest)
        cost = costs[weakest]
    return sorted(bounds), cost


@pytest.mark.parametrize("seed", range(6))
def test_the_compiled_elimination_keeps_the_python_loops_steps_fit_and_cost(seed):
    rng = np.random.default_rng(900 + seed)
    day = np.arange(N)
    dropped = kept_all = 0
    for _ in range(8):
        ok = rng.random(N) > 0.05
        calendar = np.ascontiguousarray(np.column_stack((day / 365.25 - 1, rng.random((N, 2)) < 0.1)), dtype=np.float64)
        bounds = np.sort(rng.choice(np.arange(30, N - 30), rng.integers(0, 7), replace=False)).astype(np.int64)
        real = bounds[rng.random(len(bounds)) < 0.5]  # the others are no step: the elimination drops them
        y = calendar @ rng.normal(size=3) + (day[:, None] >= real).astype(float) @ rng.normal(scale=4, size=len(real))
        y = y + rng.standard_t(4, size=N)
        y = np.round(y) if rng.random() < 0.5 else y  # counts: tied costs
        penalty = rng.uniform(1, 40)
        steps, cost = _python_elimination(y, calendar, ok, bounds, penalty)
        start = step_fit_cost(y, calendar, ok, bounds, np.full(2, np.nan))[2]
        kept, full, fitted, got = steps_worth_their_price(y, calendar, ok, bounds, np.full(2, np.nan), start, penalty)
        assert kept.tolist() == steps and got == cost
        if len(kept) < len(bounds):
            dropped += 1
            expected = step_fit_cost(y, calendar, ok, kept, np.full(2, np.nan))
            assert fitted == expected[1] and np.array_equal(full, expected[0])
        else:  # nothing dropped: the caller's fit of `bounds` stands
            kept_all += 1
            assert full.size == 0 and not fitted
    assert dropped and kept_all  # both outcomes were exercised


def test_sets_too_wide_for_their_days_cost_inf_and_are_dropped_as_in_python():
    few = np.zeros(N, bool)
    few[:6] = True  # 6 days: a fit needs more than twice its columns (intercept, calendar, steps)
    y, calendar, bounds = np.ones(N), np.zeros((N, 1)), np.array([100, 200], dtype=np.int64)
    steps, cost = _python_elimination(y, calendar, few, bounds, 1.0)
    kept, full, fitted, got = steps_worth_their_price(y, calendar, few, bounds, np.full(2, np.nan), math.inf, 1.0)
    # inf less inf is NaN, never above the price: the steps go until a fit is made
    assert steps == [] and kept.tolist() == [] and got == cost and math.isfinite(got) and fitted


def _numpy_scales_from(resid, weekday, ok, floor_var, rel, center, pooled, day_mad):
    """`noise._scales_from` before the kernel (numpy's quantile in place of robust's: the same)."""
    def quieter_tail(body, deviation):
        size = np.abs(body)
        q = np.quantile(size, 0.95)

        def runs(mask):
            return int(np.count_nonzero(mask[1:] & ~mask[:-1]) + (mask.size > 0 and mask[0]))

        low, high = runs(deviation < -q), runs(deviation > q)
        if abs(low - high) < 2.0 * np.sqrt(low + high):
            return q
        quieter = size[body > 0] if low > high else size[body < 0]
        return np.quantile(quieter, 0.95) if quieter.size >= 50 else q

    pooled_tails = pooled
    if ok.sum() >= 100:
        deviation = resid[ok] - center
        body = deviation[np.abs(deviation) <= 5 * pooled]
        if body.size >= 100:
            pooled_tails = max(pooled, quieter_tail(body, deviation) / 1.96)

    def scale(floor):
        day_sd = np.maximum(day_mad, floor)
        return np.sqrt(np.maximum((day_sd[weekday] * rel) ** 2, floor_var))

    return scale(pooled), scale(pooled_tails)


@pytest.mark.parametrize("seed", range(5))
def test_the_compiled_day_scales_are_the_numpy_codes(seed):
    rng = np.random.default_rng(950 + seed)
    sides = {"both": 0, "one": 0}
    for case in range(40):
        n = int(rng.choice([60, 120, 365, N]))
        weekday = (np.arange(n) + rng.integers(7)) % 7
        ok = rng.random(n) > rng.choice([0.0, 0.1, 0.6])
        floor_var = rng.gamma(2.0, 0.05, n) * (rng.random(n) > 0.05)  # some days without sampling variance
        rel = np.sqrt(floor_var / median(floor_var[floor_var > 0]))
        rel = np.where(rel > 0, rel, 1.0)
        resid = rng.standard_t(3, n) * 0.3
        if case % 2:  # one-sided events: the quieter side sets the tail
            resid[rng.choice(n, n // 15, replace=False)] -= rng.uniform(1.0, 1.5, n // 15)
        if case % 5 == 0:
            resid = np.round(resid, 1)  # ties
        resid = resid / rel
        center, pooled = median_and_mad(resid[ok]) if ok.any() else (0.0, 0.0)
        day_mad = np.array([mad(resid[ok & (weekday == d)]) for d in range(7)])
        if case % 7 == 3:
            day_mad[2] = np.nan  # a weekday's MAD unknown: np.maximum keeps it
        args = (resid, weekday.astype(np.int64), ok, floor_var, rel, float(center), float(pooled), day_mad)
        expected = _numpy_scales_from(*args)
        got = day_scales(*args)
        for e, g in zip(expected, got):
            assert np.array_equal(e, g, equal_nan=True)
        sides["one" if not np.array_equal(expected[0], expected[1]) and case % 2 else "both"] += 1
    assert sides["one"] and sides["both"]
