"""Series without noise: values exactly constant between their changes.

Every robust scale of such a series is zero (floored at 1e-9), so any split scores as
near infinite: only the real changes may be reported. The detector's fits read that zero
scale (a calendar's trend and season taken out of a pure step, the short windows' bridged
runs leaving a second "0.0%" shift), so a gauge or count whose consecutive values are
mostly equal has its changes read off the values (`detect/noiseless.py`)."""
from __future__ import annotations

import numpy as np
import pytest

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect import find_changes
from ctxmetrics.detect.noiseless import _noiseless_changes
from ctxmetrics.detect.prepare import _prepare

DAY = np.datetime64("2022-01-03")


def _dates(n: int, freq: str):
    if freq == "Y":
        return (np.datetime64("1950", "Y") + np.arange(n)).astype("datetime64[D]")
    if freq == "M":
        return np.arange(np.datetime64("2020-01"), np.datetime64("2020-01") + n).astype("datetime64[D]")
    return DAY + np.arange(n) * (7 if freq == "W" else 1) if freq else None


@pytest.mark.parametrize("kind", ["gauge", "count", "ratio"])
@pytest.mark.parametrize("freq,n", [(None, 60), ("D", 400), ("W", 104), ("M", 60), ("Y", 80)])
def test_a_constant_series_has_no_changes(kind, freq, n):
    for level in (0.0, 1000.0):
        denominators = np.full(n, 2000.0) if kind == "ratio" else None
        assert find_changes(np.full(n, level), kind=kind, dates=_dates(n, freq), denominators=denominators) == []


@pytest.mark.parametrize("n", [60, 400])
def test_a_noiseless_daily_gauge_step_is_reported_once_on_its_day(n):
    for with_dates in (False, True):
        for fraction in (0.3, 0.7):
            for before, after in ((100.0, 140.0), (5.0, 3.0), (-1.0, 1.0)):
                at = int(n * fraction)
                values = np.where(np.arange(n) >= at, after, before)
                changes = find_changes(values, kind="gauge", dates=_dates(n, "D") if with_dates else None)
                assert [(c.kind, c.start, c.direction) for c in changes] == [
                    ("level_shift", at, "up" if after > before else "down")]


_FREQS = [("D", (60, 400, 800)), ("W", (24, 30, 60, 156)), ("M", (24, 30, 60, 100)), ("Y", (30, 120))]


@pytest.mark.parametrize("kind", ["gauge", "count"])
@pytest.mark.parametrize("freq,lengths", _FREQS)
def test_a_noiseless_step_is_reported_once_on_its_period(kind, freq, lengths):
    # before, weekly and monthly gauges got a second ~0.0% shift beside the real one (24-30
    # periods), and with two years of periods strings of 1-4% shifts (a trend and season
    # taken out at zero scale); a count of 5 held exactly, then 3, was not found at all
    for n in lengths:
        for fraction in (0.25, 0.5, 0.7):
            for before, after in ((100.0, 140.0), (5.0, 3.0), (2000.0, 2800.0)):
                at = int(n * fraction)
                values = np.where(np.arange(n) >= at, after, before)
                changes = find_changes(values, kind=kind, dates=_dates(n, freq))
                assert [(c.kind, c.start, c.end, c.direction) for c in changes] == [
                    ("level_shift", at, None, "up" if after > before else "down")], (n, fraction, before)
                assert changes[0].change_pct == pytest.approx(100 * (after - before) / before)


@pytest.mark.parametrize("kind", ["gauge", "count"])
@pytest.mark.parametrize("freq,lengths", _FREQS)
def test_a_noiseless_spike_and_step_are_reported_exactly(kind, freq, lengths):
    # a 1- or 3-period spike or dip, then a +30% step at 0.8 of the series; before, counts
    # dated 1-period spikes over 2 periods and lost the step of short series
    for n in lengths[-2:]:
        for fraction in (0.3, 0.6):
            for factor, width in ((3.0, 1), (0.2, 1), (2.0, 3)):
                at, step = int(n * fraction), int(n * 0.8)
                values = np.full(n, 1000.0)
                values[at:at + width] *= factor
                values[step:] *= 1.3
                changes = find_changes(values, kind=kind, dates=_dates(n, freq))
                assert [(c.kind, c.start, c.end, c.direction) for c in changes] == [
                    ("spike", at, at + width - 1, "up" if factor > 1 else "down"),
                    ("level_shift", step, None, "up")], (n, fraction, factor)


@pytest.mark.parametrize("freq,n", [("D", 400), ("W", 104)])
def test_integer_rounded_series_with_a_season_report_only_their_step(freq, n):
    # a gauge rounded to whole units (its noise below the rounding), with a weekday
    # pattern when daily, stepping up 20% at 0.6 of the series. (A monthly season is not
    # taken out exactly: `prepare._additive_profile`'s 13-month mean counts one month twice.)
    season = np.array([0.0, 3, 5, 2, -4, -3, -3])[np.arange(n) % 7] if freq == "D" else 0.0
    rng = np.random.default_rng(1)
    at = int(n * 0.6)
    values = np.round(500 + season + 0.2 * rng.uniform(-1, 1, n) + 100 * (np.arange(n) >= at))
    changes = find_changes(values, kind="gauge", dates=_dates(n, freq))
    assert [(c.kind, c.start, c.direction) for c in changes] == [("level_shift", at, "up")]


@pytest.mark.parametrize("mean", [0.3, 3.0, 30.0])
def test_counting_noise_is_never_read_as_a_noiseless_series(mean):
    # sparse counts (mostly 0) tie with their neighbours by chance: they keep the
    # detector's count likelihood and are not cut at every event
    for seed in range(5):
        rng = np.random.default_rng(seed)
        values = rng.poisson(mean, 365).astype(float)
        s = _prepare(values, DetectionSettings(), "count", None, None, 0)
        assert _noiseless_changes(s, values, 7, DetectionSettings(), "count") is None


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_a_weekday_pattern_held_exactly_reports_its_step_not_its_weekends(factor):
    # weekdays 10, weekends 2, held exactly, then all of it doubled (or halved): most days
    # equal the day before, so the values were read as they are and every weekend was a
    # spike (60 of them); with the weekday pattern out, the one step remains
    week = np.array([10.0, 10, 10, 10, 10, 2, 2])
    values = np.r_[np.tile(week, 30), np.tile(week * factor, 30)]
    for kind in ("count", "gauge"):
        changes = find_changes(values, kind=kind, dates=_dates(len(values), "D"))
        assert [(c.kind, c.start, c.direction) for c in changes] == [
            ("level_shift", 210, "up" if factor > 1 else "down")], kind


def test_a_count_held_exactly_then_moved_passes_the_pre_screen():
    # a count of 10 every day for a year, then 12: counting noise would hide +20% from the
    # screen's 7- to 56-day checks, but the series has no noise and the detector reports it
    from ctxmetrics.detect import prescreen
    from ctxmetrics.detect.noiseless import held_count_rows

    held = np.r_[np.full(365, 10.0), np.full(365, 12.0)]
    rng = np.random.default_rng(3)
    rows = np.array([held, np.full(730, 10.0), rng.poisson(10.0, 730).astype(float), rng.poisson(0.3, 730).astype(float)])
    assert held_count_rows(rows, DetectionSettings()).tolist() == [True, False, False, False]
    assert prescreen(rows[:1], DetectionSettings(), kind="count", start_date="2024-01-01").tolist() == [True]
    assert [(c.kind, c.start) for c in find_changes(held, dates=_dates(730, "D"))] == [("level_shift", 365)]
