"""Gauges that compound (a GDP, a revenue growing a few percent a period) are read on the
log scale (`log_scale._grows_multiplicatively`): their growth is normal, not a staircase
of level shifts, and their changes are still reported in their own units. A gauge whose
noise is of one size at every level (a rise from near zero) is not
(`log_scale._evens_the_spread`)."""
from __future__ import annotations

import numpy as np

from ctxmetrics.detect import find_changes
from ctxmetrics.detect.log_scale import _evens_the_spread, _grows_multiplicatively, _log_scale_fits, _positive


def _ar1(rng, n: int, phi: float = 0.6) -> np.ndarray:
    out = np.zeros(n)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + rng.normal() * np.sqrt(1 - phi**2)
    return out


def _years(n: int) -> np.ndarray:
    return (np.datetime64("1900", "Y") + np.arange(n)).astype("datetime64[D]")


def _months(n: int) -> np.ndarray:
    return (np.datetime64("2015-01", "M") + np.arange(n)).astype("datetime64[D]")


def test_the_scale_is_chosen_by_which_trend_fits():
    rng = np.random.default_rng(0)
    t = np.arange(120)
    use = np.ones(120, bool)
    growth = 100 * np.exp(0.04 * t + 0.03 * rng.normal(size=120))
    linear = 100 + 2.0 * t + 5 * rng.normal(size=120)
    flat = 100 + 5 * rng.normal(size=120)
    assert _grows_multiplicatively(growth, np.log(growth), use)
    assert not _grows_multiplicatively(linear, np.log(linear), use)
    assert not _grows_multiplicatively(flat, np.log(flat), use)
    assert not _grows_multiplicatively(np.full(120, 7.0), np.full(120, np.log(7.0)), use)  # no variation at all
    assert not _positive(np.where(t == 50, 0.0, growth), use)


def test_clean_compounding_yearly_gauges_are_not_cut_into_steps():
    # 40 GDP-like series, 40-150 years growing 2-6% a year with AR(1) noise of 3% in the
    # log. Measured: 6 series with any change (main, a linear trend on the values: 38,
    # with up to 8 changes each)
    flagged = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(40, 151))
        values = 100 * np.exp(rng.uniform(0.02, 0.06) * np.arange(n) + 0.03 * _ar1(rng, n))
        flagged += bool(find_changes(values, kind="gauge", dates=_years(n)))
    assert flagged <= 8


def test_clean_compounding_monthly_and_daily_gauges_are_not_cut_into_steps():
    # a revenue compounding 1-4% a month for 4-8 years, and a daily one doubling to
    # quadrupling over two years with a weekday pattern: 20 of each. Measured: 3 and 0
    # with any change (main: 16 and 17)
    weekdays = np.array([1.1, 1.15, 1.1, 1.05, 1.0, 0.8, 0.8])
    monthly = daily = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(48, 97))
        values = 100 * np.exp(rng.uniform(0.01, 0.04) * np.arange(n) + 0.03 * _ar1(rng, n))
        monthly += bool(find_changes(values, kind="gauge", dates=_months(n)))
        rate = rng.uniform(np.log(2), np.log(4)) / 730
        values = 100 * weekdays[np.arange(730) % 7] * np.exp(rate * np.arange(730) + 0.03 * _ar1(rng, 730))
        daily += bool(find_changes(values, kind="gauge", dates=np.datetime64("2018-01-01") + np.arange(730)))
    assert monthly <= 5
    assert daily <= 2


def test_a_crash_in_compounding_yearly_growth_is_found_and_sized_in_the_gauges_units():
    # a -30% fall for good in a GDP growing 2-5% a year, 60-120 years. Measured: 15 of 20
    # found within 2 years, sized -22% to -29% (the segments' means with the growth
    # out), 14 other changes (main: none found, 38 other changes)
    found = others = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(60, 121))
        at = int(rng.integers(n // 4, 3 * n // 4))
        values = 100 * np.exp(rng.uniform(0.02, 0.05) * np.arange(n) + np.log(0.7) * (np.arange(n) >= at)
                              + 0.03 * _ar1(rng, n))
        got = find_changes(values, kind="gauge", dates=_years(n))
        hit = [c for c in got if c.end is None and abs(c.start - at) <= 2 and c.direction == "down"]
        found += bool(hit)
        others += len(got) - len(hit[:1])
        for c in hit:
            assert -35 < c.change_pct < -15
            assert c.before > c.after > 0
    assert found >= 13
    assert others <= 20


def test_a_rise_from_near_zero_with_noise_of_one_size_stays_on_its_own_scale():
    # 40 levels rising from 3-6 noise sds to 30-150, linearly to accelerating (an adoption
    # curve), with AR(1) noise of one size; 40 gauges compounding x2-x30 with
    # AR(1) noise of 3% in the log. Measured: Box-Cox's comparison alone takes the log
    # scale for 35 of the rises and 40 of the compounding gauges; with the spread test for
    # 2 and 40
    rises = compounding = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(40, 201))
        t = np.arange(n) / (n - 1)
        use = np.ones(n, bool)
        bend = rng.uniform(1, 4)
        rise = rng.uniform(3, 6) + rng.uniform(30, 150) * np.expm1(bend * t) / np.expm1(bend) + _ar1(rng, n)
        if np.all(rise > 0):
            rises += _log_scale_fits(rise, np.log(rise), use)
        growth = 100 * np.exp(rng.uniform(np.log(2), np.log(30)) * t + 0.03 * _ar1(rng, n))
        compounding += _log_scale_fits(growth, np.log(growth), use)
    assert rises <= 5
    assert compounding >= 38


def test_a_gauge_whose_lower_levels_do_not_move_gives_no_evidence_for_the_log_scale():
    # held at 5 for 30 periods, then compounding 4% a period: the lower half's steps are
    # all 0, so how its spread compares cannot be read
    rng = np.random.default_rng(1)
    values = np.concatenate([np.full(30, 5.0), 5 * np.exp(0.04 * np.arange(1, 41) + 0.03 * rng.normal(size=40))])
    use = np.ones(70, bool)
    assert not _evens_the_spread(values, np.log(values), use)
