"""Frequencies (daily ... yearly): inferred from dates, and values placed on their grid."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np

from ctxmetrics.config import DetectionSettings

@dataclass(frozen=True)
class Frequency:
    """How a series is sampled, and the detector's windows counted in its periods."""

    name: str  # daily | weekly | fortnightly | monthly | quarterly | yearly | irregular
    unit: str  # what one count is per: "day", "week", ...
    step_days: int  # nominal days between points (for placing points on a regular grid)
    season: int  # length of the season removed (7 weekdays; 12 months with >= 3 years; 1 none)


_FREQUENCIES = (  # (name, unit, nominal step, longest median step in days)
    ("daily", "day", 1, 1.5),
    ("weekly", "week", 7, 10),
    ("fortnightly", "fortnight", 14, 20),  # every other Monday, payroll every 14 days, a price every 14-21 days
    ("monthly", "month", 30, 35),
    ("quarterly", "quarter", 91, 100),
    ("yearly", "year", 365, 400),
)


def infer_frequency(dates, n: int) -> Frequency:
    """The frequency of a series from its dates (daily when there are none).

    The median step between dates names the frequency: up to 1.5 days daily, 10 weekly,
    20 fortnightly, 35 monthly, 100 quarterly, 400 yearly (each limit near the geometric
    mean of two neighbouring steps: 10 of 7 and 14, 20 of 14 and 30). A fortnightly file is its own
    frequency, not a weekly one with every other week missing. Points 14-21 days apart
    (TCPD's brent_spot) are fortnightly too: on a grid of 14 days from the first date, a
    21-day step leaves one fortnight with no point, an honest gap.

    Dates that increase but would still put two values in one period of that frequency
    (a monthly file dated Jan 2, Jan 30, Mar 3) are `irregular`: the points in order,
    with the day-based settings restated in their median step (`irregular_frequency`).
    Dates that do not increase stay an error.
    """
    if dates is None or len(dates) < 2:
        return Frequency("daily", "day", 1, 7)
    days = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    step = float(np.median(np.diff(days)))
    for name, unit, nominal, longest in _FREQUENCIES:
        if step <= longest:
            season = {"daily": 7, "monthly": 12 if n >= 36 else 1, "quarterly": 4 if n >= 12 else 1}.get(name, 1)
            freq = Frequency(name, unit, nominal, season)
            crowded = np.all(np.diff(days) > 0) and np.any(np.diff(_positions(dates, freq, n)) <= 0)
            return irregular_frequency(step) if crowded else freq
    return irregular_frequency(step)


def irregular_frequency(median_step_days: float) -> Frequency:
    """Points in order, on no calendar, whose day-based settings are restated in their
    median step (a point every ~30 days: months' bars and windows, not days')."""
    return Frequency("irregular", "point", max(1, round(median_step_days)), 1)


def settings_for(settings: DetectionSettings, freq: Frequency) -> DetectionSettings:
    """Day-based settings restated in the series' own periods (weeks, months, ...).

    A temporary episode may last at least three shortest segments: restated in months,
    90 days left one shortest segment (4 months) between a lasting shift and a
    temporary one, and a 6-month dip of a monthly series became a shift down and a
    false shift up (7 of the 11 false alarms of the monthly tune series; with 12
    months, none). Weekly series already had 12 weeks.

    `min_score` is restated too (`_same_alarms_a_year`): a weekly series held to a daily
    series' bar passed a seventh of its false alarms a year, and missed what it had the
    power to show (tune weekly recall 0.72 -> 0.79, precision 0.94; benchmarks/README.md,
    issue-9w3). Slower series get the weekly bar, no lower: at the monthly restatement
    (4.30) 2 of the 30 clean monthly tune series were flagged (at 4.61, none): series of
    months wander over the decades they span more than pure noise.
    """
    if freq.name == "daily":
        return settings
    per = max(freq.step_days, 1)
    min_segment = max(3, min(settings.min_segment_days, 4))
    return replace(
        settings,
        min_score=_same_alarms_a_year(settings.min_score, min(per, 7)),
        spike_max_days=max(1, min(settings.spike_max_days, 3 * 7 // per or 1)),
        min_segment_days=min_segment,
        max_temporary_days=max(3 * min_segment, settings.max_temporary_days // per),
        level_window_days=max(12, settings.level_window_days // per),
    )


def _same_alarms_a_year(min_score: float, per: int) -> float:
    """The bar of a series with one value every `per` days that passes as many values of
    pure noise a year as `min_score` passes of a daily series (two-sided normal tails):
    4.61 for a weekly series at `min_score` 5."""
    tail = min(0.5, per * math.erfc(min_score / math.sqrt(2.0)))
    return -NormalDist().inv_cdf(tail / 2.0)


def long_run_unit(step_days: int) -> int:
    """Periods per block unit of the long-run variance (blocks of 1, 2 and 4 units).

    Daily series: a week, so that blocks are whole weeks (1-4 weeks: the weekday season
    cancels, autocorrelation over days shows). Weekly series: one week, the same stretch
    of time. Counted as 7-28 periods, a weekly series' blocks spanned a quarter to half
    of its yearly season and as long as its 1-12-week effects: its long-run variance came
    out up to 13-20x the weekly one (median about 3, tune split), which hid most
    effects (recall 0.33). Monthly and slower series keep 7-28 periods: real ones wander
    slowly, which only long blocks measure (with 1-4 periods the TCPD benchmark fell
    0.738 -> 0.698: a monthly population series got 130 change points). Fortnightly
    series: one fortnight, as weekly ones (7-28 fortnights would span their season).
    """
    return 1 if step_days in (7, 14) else 7


def _date(dates, i: int):
    return np.asarray(dates, dtype="datetime64[D]")[i].astype(object)


def _grid_positions(dates, freq: Frequency, n: int) -> np.ndarray:
    """The position of each of `n` dated values on the regular grid of the frequency."""
    position = _positions(dates, freq, n)
    if np.any(np.diff(position) <= 0):
        raise ValueError("dates must be increasing, one value per period.")
    return position


def _positions(dates, freq: Frequency, n: int) -> np.ndarray:
    days = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    if freq.name == "daily":
        position = days - days[0]
    elif freq.name in ("monthly", "quarterly"):
        months = np.asarray(dates, dtype="datetime64[M]").astype(np.int64)
        position = (months - months[0]) // (3 if freq.name == "quarterly" else 1)
    elif freq.name == "yearly":
        years = np.asarray(dates, dtype="datetime64[Y]").astype(np.int64)
        position = years - years[0]
    elif freq.name == "fortnightly":  # halves rounded up: steps of 14 days or more never share a fortnight
        position = np.floor((days - days[0]) / freq.step_days + 0.5).astype(np.int64)
    elif freq.name != "irregular":
        position = np.round((days - days[0]) / freq.step_days).astype(np.int64)
    else:
        position = np.arange(n)
    return position


def _placed(position: np.ndarray, values, denominators, known_mask):
    """Values, denominators and known mask (each None or an array whose last axis runs
    over the dated values) placed on the regular grid of the frequency at `position`
    (`_grid_positions`): missing periods are NaN, with no denominator, not known."""
    size = int(position[-1]) + 1

    def grid(v, fill, dtype=float):
        if v is None:
            return None
        v = np.asarray(v, dtype=dtype)
        out = np.full(v.shape[:-1] + (size,), fill, dtype=dtype)
        out[..., position] = v
        return out

    return grid(values, np.nan), grid(denominators, 0.0), grid(known_mask, False, bool)
