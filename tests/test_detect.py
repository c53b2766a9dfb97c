"""Detector tests on seeded synthetic series with known truth.

Matching rule: a detection matches a truth when kinds agree and starts differ by at most
2 days for 1-3 day spikes, 7 days for level shifts and longer episodes (the location of
a shift of one daily noise sd is itself uncertain by a few days).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect import Change, find_changes, prescreen
from ctxmetrics.synth import many_series

SETTINGS = DetectionSettings()
SEEDS = (0, 1, 2)


def clean_series(seed: int, *, level: float = 80.0, growth: float = 0.5, shape: float = 20.0, days: int = 730):
    """Weekly seasonality, `growth` per year, gamma-Poisson noise; day 0 is a Monday."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    weekday = t % 7
    profile = np.where(weekday >= 5, 0.45, 1.0) * (1 + 0.1 * np.sin(2 * np.pi * weekday / 5))
    rate = level * profile * (1 + growth) ** (t / 365) * rng.gamma(shape, 1 / shape, days)
    return rng.poisson(rate).astype(float)


def matches(change: Change, kind: str, start: int, end: int | None) -> bool:
    short = end is not None and end - start < 3
    return change.kind == kind and abs(change.start - start) <= (2 if short else 7)


def recall_precision(matrix, truth):
    found = [find_changes(row, settings=SETTINGS) for row in matrix]
    hits = sum(any(matches(c, t.kind, t.start, t.end) for c in found[t.row]) for t in truth)
    detections = sum(len(f) for f in found)
    good = sum(
        any(matches(c, t.kind, t.start, t.end) for t in truth if t.row == row)
        for row, f in enumerate(found) for c in f
    )
    return hits / len(truth), good / max(detections, 1)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("noise", ["white", "ar1"])
def test_recall_and_precision_on_injected_effects(seed, noise):
    matrix, truth = many_series(60, shift_fraction=1.0, noise=noise, seed=seed)
    assert {t.kind for t in truth} == {"spike", "level_shift"}
    recall, precision = recall_precision(matrix, truth)
    assert recall >= 0.9
    assert precision >= 0.9


@pytest.mark.parametrize("seed", range(40))
def test_clean_series_with_trend_yields_nothing(seed):
    level = (8.0, 30.0, 80.0, 300.0)[seed % 4]
    assert find_changes(clean_series(seed, level=level), settings=SETTINGS) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_autocorrelated_clean_series_rarely_flagged(seed):
    # AR(1) noise (rho up to 0.7) is where a day-to-day noise estimate fails; measured
    # rate here is ~0.5% of series, so allow at most 1 in 60
    matrix, _ = many_series(60, shift_fraction=0.0, noise="ar1", seed=100 + seed)
    assert sum(bool(find_changes(row, settings=SETTINGS)) for row in matrix) <= 1


@pytest.mark.parametrize("seed", SEEDS)
def test_level_shift_spike_and_lift_reported_with_fields(seed):
    values = clean_series(seed, level=120.0, growth=0.2)
    values[200:] *= 1.6
    values[400] *= 6.0
    values[500:540] *= 0.5
    found = find_changes(values, settings=SETTINGS)
    assert len(found) == 3
    shift, spike, lift = found
    assert matches(shift, "level_shift", 200, None) and shift.end is None and shift.direction == "up"
    assert 40 < shift.change_pct < 90 and shift.score >= SETTINGS.min_score
    assert shift.before > 0 and shift.after > shift.before
    assert spike.kind == "spike" and spike.start == spike.end == 400 and spike.direction == "up"
    assert lift.kind == "spike" and matches(lift, "spike", 500, 539) and abs(lift.end - 539) <= 7
    assert lift.direction == "down" and -65 < lift.change_pct < -35


@pytest.mark.parametrize("seed", SEEDS)
def test_low_volume_series_is_judged_not_skipped(seed):
    values = clean_series(seed, level=3.0, growth=0.0)
    assert find_changes(values, settings=SETTINGS) == []
    # the same Poisson noise at three times the rate (multiplying the counts would triple their sd too)
    values[600:] = clean_series(seed + 50, level=9.0, growth=0.0)[600:]
    found = find_changes(values, settings=SETTINGS)
    assert len(found) == 1 and matches(found[0], "level_shift", 600, None)


@pytest.mark.parametrize("seed", SEEDS)
def test_ratio_with_tiny_denominators_yields_nothing(seed):
    rng = np.random.default_rng(seed)
    den = rng.poisson(3.0, 730).astype(float)
    rate = np.where(np.arange(730) < 365, 0.2, 0.6)
    num = rng.binomial(den.astype(int), rate).astype(float)
    assert find_changes(num, settings=SETTINGS, kind="ratio", denominators=den) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_ratio_with_big_denominators_finds_real_change(seed):
    rng = np.random.default_rng(seed)
    den = rng.poisson(400.0, 730).astype(float)
    clean_num = rng.binomial(den.astype(int), 0.2).astype(float)
    assert find_changes(clean_num, settings=SETTINGS, kind="ratio", denominators=den) == []
    num = rng.binomial(den.astype(int), np.where(np.arange(730) < 365, 0.2, 0.26)).astype(float)
    found = find_changes(num, settings=SETTINGS, kind="ratio", denominators=den)
    assert len(found) == 1 and matches(found[0], "level_shift", 365, None)
    assert found[0].before == pytest.approx(0.2, abs=0.01)
    assert found[0].after == pytest.approx(0.26, abs=0.01)


@pytest.mark.parametrize("seed", SEEDS)
def test_ratio_days_with_small_denominators_do_not_create_anomalies(seed):
    rng = np.random.default_rng(seed)
    den = rng.poisson(400.0, 730).astype(float)
    num = rng.binomial(den.astype(int), 0.2).astype(float)
    den[100:103], num[100:103] = 3.0, 3.0  # 3 of 3 on three days
    assert find_changes(num, settings=SETTINGS, kind="ratio", denominators=den) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_known_mask_outage_is_reported_and_does_not_inflate_noise(seed):
    values = clean_series(seed, level=150.0, growth=0.1)
    values[300:310] *= 0.05  # a 10-day outage, annotated
    values[450:] *= 1.3  # a later moderate shift
    mask = np.zeros(730, bool)
    mask[300:310] = True
    found = find_changes(values, settings=SETTINGS, known_mask=mask)
    outage = [c for c in found if c.start <= 309 and (c.end or 729) >= 300]
    assert outage and outage[0].direction == "down" and outage[0].kind == "spike"
    assert any(matches(c, "level_shift", 450, None) for c in found)


def test_gauge_with_unknown_days():
    rng = np.random.default_rng(5)
    values = 50 + rng.normal(0, 2, 730)
    values[400:] += 10
    values[rng.choice(730, 40, replace=False)] = np.nan
    found = find_changes(values, settings=SETTINGS, kind="gauge")
    assert len(found) == 1 and matches(found[0], "level_shift", 400, None)


def test_bad_arguments():
    with pytest.raises(ValueError):
        find_changes(np.ones(100), settings=SETTINGS, kind="nope")
    with pytest.raises(ValueError):
        find_changes(np.ones(100), settings=SETTINGS, kind="ratio")
    with pytest.raises(ValueError):
        find_changes(np.ones(100), settings=SETTINGS, known_mask=np.zeros(99, bool))


@pytest.mark.parametrize("noise", ["white", "ar1"])
def test_prescreen_keeps_real_effects_and_drops_most_clean(noise):
    matrix, truth = many_series(3000, shift_fraction=0.1, noise=noise, seed=7)
    keep = prescreen(matrix, SETTINGS)
    rows = {t.row for t in truth}
    assert np.mean([keep[r] for r in rows]) >= 0.98
    clean = np.setdiff1d(np.arange(len(matrix)), list(rows))
    assert keep[clean].mean() <= 0.4


def test_prescreen_ratio_and_small_rows():
    rng = np.random.default_rng(3)
    den = rng.poisson(300.0, (4, 730)).astype(float)
    rate = np.full((4, 730), 0.2)
    rate[1, 365:] = 0.3
    num = rng.binomial(den.astype(int), rate).astype(float)
    den[3] = 2.0
    keep = prescreen(num, SETTINGS, kind="ratio", denominators=den)
    assert keep[1] and not keep[3]
    counts = np.full((2, 730), 2.0)
    assert not prescreen(counts, SETTINGS).any()


def test_fast_median_equals_numpy():
    from ctxmetrics.detect.robust import median

    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 4, 7, 104, 105, 730):
        v = rng.normal(size=n)
        assert median(v) == np.median(v)
        v[rng.integers(n)] = np.nan
        assert np.isnan(median(v))
    assert median(np.array([5.0, 1.0, 1.0, 5.0])) == 3.0


def test_compiled_quantile_equals_numpy():
    from ctxmetrics.detect.kernels import _quantile

    rng = np.random.default_rng(4)
    for n in (1, 2, 3, 20, 100, 101, 399, 730):
        for q in (0.0, 0.05, 0.5, 0.95, 0.99, 1.0):
            v = np.abs(rng.standard_t(3, size=n + 5))
            assert _quantile(v.copy(), n, q) == np.quantile(v[:n], q)  # of the first n values only
    assert _quantile(np.array([0.0, 10.0]), 2, 0.95) == 9.5


def test_rolling_median_reflects_edges_like_numpy_pad():
    from numpy.lib.stride_tricks import sliding_window_view

    from ctxmetrics.detect.noise import _rolling_median

    rng = np.random.default_rng(5)
    for n in (1, 2, 3, 15, 29, 30, 90, 730):
        y = rng.poisson(5.0, n).astype(float)
        half = min(14, n - 1)
        reference = np.median(sliding_window_view(np.pad(y, half, mode="reflect"), 2 * half + 1), axis=1)
        assert np.array_equal(_rolling_median(y, np.ones(n, bool), 14), reference)
        ok = rng.random(n) > 0.2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-unknown windows
            masked = np.pad(np.where(ok, y, np.nan), half, mode="reflect")
            expected = np.nanmedian(sliding_window_view(masked, 2 * half + 1), axis=1)
        have = np.isfinite(expected)
        if have.any():
            expected = np.interp(np.arange(n), np.flatnonzero(have), expected[have])
            assert np.array_equal(_rolling_median(y, ok, 14), expected)


def test_prescreen_takes_quarter_end_closes_as_normal_when_dates_are_known():
    # 20 a day, x2.5 in the last week of every quarter, nothing else: without the start
    # date every row looks anomalous; with it the screen drops nearly all of them
    days = np.datetime64("2024-01-01") + np.arange(730)
    quarter_close = (days.astype("datetime64[M]").astype(int) % 3 == 2) & (
        (days.astype("datetime64[M]") + 1).astype("datetime64[D]") - days <= np.timedelta64(7, "D")
    )
    matrix = np.random.default_rng(5).poisson(np.where(quarter_close, 50.0, 20.0), (300, 730)).astype(float)
    assert prescreen(matrix, SETTINGS, start_weekday=0).mean() >= 0.9
    assert prescreen(matrix, SETTINGS, start_date=days[0]).mean() <= 0.1


def test_prescreen_window_needs_both_flanks_to_differ():
    # as the detector's episode scan: a 3-day dip differs from the days before and after
    # it; a window just past a lasting step differs only from the days before it
    from ctxmetrics.detect.prescreen_rows import _padded_cumsum
    from ctxmetrics.detect.prescreen_windows import _episode_keep

    dip, step = np.zeros(730, np.float32), np.zeros(730, np.float32)
    dip[400:403] = -10.0
    step[365:] = 10.0  # against both flanks pooled, the window after it would be 8.5 se off
    cs = _padded_cumsum(np.vstack([dip, step]))
    ones = np.ones(2, np.float32)
    keep = _episode_keep(cs, 3, ones, ones, one_sided=True, bar=SETTINGS.min_score)
    assert keep.tolist() == [True, False]
