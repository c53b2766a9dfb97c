"""The detector's shortcuts skip work, never a finding: each is checked against the work
it skips."""
from __future__ import annotations

import numpy as np
import pytest

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.calendar import _season_may_matter, _shared_columns
from ctxmetrics.detect.episodes import _FEW_A_DAY, _FEW_EVENTS, _episode_widths, _Scan, _window_scores
from ctxmetrics.detect.noise import _noise
from ctxmetrics.detect.prepare import _prepare

DAYS = 730
DATES = np.datetime64("2024-01-01") + np.arange(DAYS)  # a Monday


def counts(seed: int, level: float, season: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    day = np.arange(DAYS)
    rate = level * np.where(day % 7 >= 5, 0.4, 1.0) * (1 + season * np.sin(2 * np.pi * day / 365.25))
    return rng.poisson(rate * rng.gamma(30, 1 / 30, DAYS)).astype(float)


def prepared(values):
    settings = DetectionSettings()
    s = _prepare(values, settings, "count", None, None, 0, 7)
    return s, _noise(s, settings), settings


@pytest.mark.parametrize("level, quiet", [(2.0, 1.0), (15.0, 0.3), (60.0, 1.0), (60.0, 0.3), (400.0, 1.0)])
def test_few_event_windows_are_those_of_the_whole_grid(level, quiet):
    """The count likelihood judges exactly the windows that expect < `_FEW_EVENTS` events
    or < `_FEW_A_DAY` a day, though widths whose every window expects more at the lowest
    daily rate are skipped (at 60 a day, 14 of 18 widths)."""
    values = counts(1, level)
    values[300:340] *= quiet  # a quiet stretch lowers the lowest rate of the baseline
    s, noise, settings = prepared(values)
    excluded = np.zeros(len(s.y), bool)
    excluded[500:520] = True  # days of another episode: no baseline
    sc = _Scan(s, noise, _episode_widths(len(s.y), settings), settings).exclude(s.known | excluded)
    _window_scores(sc, settings)
    t, end, lo_b, hi_a = sc.t, sc.end, sc.lo_b, sc.hi_a
    flank_x = sc.kx[t] - sc.kx[lo_b] + sc.kx[hi_a] - sc.kx[end]
    flank_f = sc.kfactor[t] - sc.kfactor[lo_b] + sc.kfactor[hi_a] - sc.kfactor[end]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = flank_x / flank_f
    has_flanks = (sc.k[t] - sc.k[lo_b] >= 7) & (sc.k[hi_a] - sc.k[end] >= 7)
    few = (rate * (sc.factor[end] - sc.factor[t]) < _FEW_EVENTS) | (rate < _FEW_A_DAY)
    assert np.array_equal(sc.counted, has_flanks & few)
    assert sc.counted.any() == (level <= 60.0)  # busy series: no window has few events


def test_a_yearly_season_passes_the_quick_test():
    for seed in range(5):
        s, noise, _ = prepared(counts(seed, 50.0, season=0.3))
        columns, yearly = _shared_columns(DATES.tobytes(), DAYS, True)
        assert _season_may_matter(s, DATES, columns, yearly, noise.day_var)


def test_flat_series_mostly_skip_the_season_fits():
    skipped = 0
    for seed in range(20):
        s, noise, _ = prepared(counts(seed, 50.0))
        columns, yearly = _shared_columns(DATES.tobytes(), DAYS, True)
        skipped += not _season_may_matter(s, DATES, columns, yearly, noise.day_var)
    assert skipped >= 15  # measured: 20 of 20


def test_a_scan_reuses_sums_only_of_the_very_same_arrays():
    """`_Scan._sums` takes the last series' sums again only when every array it reads is
    the very one it read (a series' second episode pass); a series with new values or
    new noise scales gets its own."""
    s, noise, settings = prepared(counts(3, 20.0))
    widths = _episode_widths(len(s.y), settings)
    first = _Scan(s, noise, widths, settings)
    again = _Scan(s, noise, widths, settings, walls=[365])
    assert all(again.__dict__[k] is first.__dict__[k] for k in _Scan._SERIES_PARTS)
    other, other_noise, _ = prepared(counts(4, 20.0))
    for series, scales in ((other, other_noise), (s, other_noise)):
        fresh = _Scan(series, scales, widths, settings)
        assert fresh._weighted[0] is not first._weighted[0]
        body = 1.0 / scales.scale**2
        np.testing.assert_array_equal(fresh._weighted[0][1:], np.cumsum(series.y * body))
    s.y = s.y + 1.0  # the calendar fit replaces the values (never changes them in place)
    shifted = _Scan(s, noise, widths, settings)
    np.testing.assert_array_equal(shifted._weighted[0][1:], np.cumsum(s.y * (1.0 / noise.scale**2)))


def test_shift_windows_sum_only_what_they_measure():
    """`shifts._Windows` takes its cumulative sums when a window is first measured (a
    series whose segmentation finds no boundary measures none), from the series' arrays
    as they were when it was built, and measures what the sums over the days give."""
    from ctxmetrics.detect.shifts import _Windows

    s, noise, _ = prepared(counts(5, 30.0))
    excluded = np.zeros(len(s.y), bool)
    excluded[200:210] = True
    w = _Windows(s, s.y, excluded, noise)
    assert not {"_all", "_kept", "_events", "_beyond"} & set(w.__dict__)
    y, num, den = s.y, s.num, s.den
    s.y, s.num = s.y + 1.0, s.num * 2  # replaced after the windows were built: not what they measure
    weight = noise.day_var / noise.scale**2 * ~excluded
    level, pooled, used = w.measure(150, 250)
    assert used == pytest.approx(weight[150:250].sum(), rel=1e-12)
    assert level == pytest.approx((y * weight)[150:250].sum() / weight[150:250].sum(), rel=1e-12)
    assert pooled == pytest.approx((num * ~excluded)[150:250].sum() / (den * ~excluded)[150:250].sum(), rel=1e-12)
    assert "_all" not in w.__dict__  # no window mostly excluded: the sums over every day were not needed
    assert w.count_level(150, 250) > 0 and "_events" in w.__dict__


def test_boundaries_left_in_place_are_not_pruned_twice(monkeypatch):
    """`_lasting_steps` prunes a second time only when the count likelihood moved a
    boundary: pruning the same boundaries again returns the very steps of the first."""
    import ctxmetrics.detect.shifts as shifts

    values = counts(6, 40.0)
    values[400:] *= 1.6  # a clear lasting step
    s, noise, settings = prepared(values)
    calls = []
    real_prune, real_place = shifts._prune, shifts._place_by_likelihood
    monkeypatch.setattr(shifts, "_prune", lambda bounds, *a: calls.append(list(bounds)) or real_prune(bounds, *a))
    outlying = np.zeros(len(s.y), bool)
    steps, windows = shifts._lasting_steps(s, noise, outlying, settings)
    assert steps and len(calls) == 1
    at = [st.at for st in steps]
    assert real_place(s, noise, at, outlying, settings) == at  # the placement kept every boundary
    assert real_prune(at, windows, noise, len(s.y), settings) == steps
    # a boundary the placement moves is pruned again
    monkeypatch.setattr(shifts, "_place_by_likelihood", lambda s, noise, bounds, *a: [b + 1 for b in bounds])
    calls.clear()
    shifts._lasting_steps(s, noise, outlying, settings)
    assert len(calls) == 2 and calls[1] == [a + 1 for a in at]


def test_two_day_block_means_are_numpys_to_the_bit():
    """The segmentation's 2-day block means, (0.0 + first + second) / 2, are the floats of
    `reshape(blocks, 2).mean(axis=1)`: odd lengths, NaN, infinities, signed zeros, tiny
    and huge values."""
    from ctxmetrics.detect.shifts import _block_means

    rng = np.random.default_rng(3)
    special = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, -5e-324, 1.7e308, -1.7e308, 1.0, -1.0])
    for n in (200, 201, 365, 730, 731):
        pairs = np.array([(a, b) for a in special for b in special]).ravel()  # every pair of them, -0.0 + -0.0 too
        for y in (rng.normal(0, 1, n) * 10.0 ** rng.integers(-300, 300, n), rng.choice(special, n), pairs, counts(n, 20.0)[:n]):
            blocks = len(y) // 2
            with np.errstate(invalid="ignore", over="ignore"):
                expected = y[: blocks * 2].reshape(blocks, 2).mean(axis=1)
                got = _block_means(y, 2, blocks)
            assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()
    y = rng.normal(0, 1, 30)
    assert _block_means(y, 3, 10).tobytes() == y.reshape(10, 3).mean(axis=1).tobytes()


def test_a_pass_bars_are_computed_once_and_read_only():
    """An episode pass's bars are `_bars` of its widths and its lowest bar the settings'
    `min_score` for window levels, both shared by every pass of the same widths."""
    from dataclasses import replace

    from ctxmetrics.detect.episodes import _bars, _pass_bars

    settings = DetectionSettings()
    widths = _episode_widths(DAYS, settings)
    for long_bar in (1.0, 1.1):
        bars, lowest = _pass_bars(tuple(widths), settings, long_bar)
        expected = _bars(np.asarray(widths), settings, long_bar)
        assert bars.tobytes() == expected.tobytes() and not bars.flags.writeable
        assert lowest == replace(settings, min_score=float(expected.min()))
        assert _pass_bars(tuple(widths), settings, long_bar)[0] is bars


@pytest.mark.parametrize("walls", [(), (400,), (120, 600), (600, 120, 400)])
def test_a_scan_geometry_with_and_without_walls(walls):
    """The scan's segments of days between walls, built without `np.r_` (and without a
    cumulative sum when there is no wall), give the geometry of the bookkeeping before."""
    s, noise, settings = prepared(counts(4, 30.0))
    widths = _episode_widths(len(s.y), settings)
    sc = _Scan(s, noise, widths, settings, walls)
    n = len(s.y)
    marks = np.zeros(n + 1, np.int64)
    marks[np.asarray(walls, dtype=np.int64)] = 1
    bounds = np.r_[0, np.sort(np.asarray(walls, dtype=np.int64)), n]
    before = _Scan(s, noise, widths, settings, walls)
    before._geometry(noise, widths, settings, None, np.cumsum(marks), bounds[:-1], bounds[1:])
    for name in ("end", "lo_b", "hi_a", "valid", "m_w", "v_w"):
        assert getattr(sc, name).tobytes() == getattr(before, name).tobytes(), name
    if walls:
        assert not np.array_equal(sc.hi_a, _Scan(s, noise, widths, settings).hi_a)  # the walls do bound the flanks


def test_pruning_measures_each_window_once(monkeypatch):
    """`shifts._prune` drops the weakest failing boundary and judges the rest again; a
    dropped boundary changes only its neighbours' windows, so every other step is the one
    measured the round before. Each window is measured once, and the steps returned are
    those measured afresh on the windows of the boundaries kept."""
    import ctxmetrics.detect.shifts as shifts

    values = counts(7, 40.0)
    values[400:] *= 1.6  # a clear lasting step among boundaries of noise that fail
    s, noise, settings = prepared(values)
    windows = shifts._Windows(s, s.y, s.known, noise)
    measured = []
    real_measure = shifts._measure
    monkeypatch.setattr(shifts, "_measure", lambda w, noise, lo, at, hi: measured.append((lo, at, hi))
                        or real_measure(w, noise, lo, at, hi))
    bounds = [100, 180, 260, 400, 520, 640]
    steps = shifts._prune(bounds, windows, noise, len(s.y), settings)
    assert 0 < len(steps) < len(bounds) - 1  # several rounds: boundaries were dropped
    assert len(measured) == len(set(measured))
    edges = [0, *(st.at for st in steps), len(s.y)]
    width = settings.level_window_days
    assert steps == [real_measure(windows, noise, max(edges[i], b - width), b, min(edges[i + 2], b + width))
                     for i, b in enumerate(edges[1:-1])]
