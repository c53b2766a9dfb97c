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
