"""`find_changes`, the single entry point of detection for one series."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ctxmetrics.config import DetectionSettings
from ctxmetrics.detect.calendar import _remove_calendar
from ctxmetrics.detect.episodes import _LONG_BAR, _episode_widths, _episodes, _judged_beside_shifts, _peaks_within
from ctxmetrics.detect.frequency import (
    Frequency, _date, _grid_positions, _placed, infer_frequency, long_run_unit, settings_for,
)
from ctxmetrics.detect.log_scale import _on_log_scale
from ctxmetrics.detect.materiality import _material
from ctxmetrics.detect.noise import _exact_tails, _noise, _Noise, _noises
from ctxmetrics.detect.noiseless import _noiseless_changes
from ctxmetrics.detect.prepare import _prepare, _prepare_many, _Series
from ctxmetrics.detect.shifts import _shift_changes, _steps_as_shifts
from ctxmetrics.detect.slow_steps import _growth_out, _steps_beside_trend
from ctxmetrics.detect.smooth import _breaks_only
from ctxmetrics.models.change import Change

DETECTOR = "ctxmetrics-episodes/30"  # name/version: part of the scan fingerprint


def find_changes(
    values,
    *,
    kind: str = "count",
    dates=None,
    denominators=None,
    settings: DetectionSettings | None = None,
    known_mask=None,
    start_weekday: int = 0,
) -> list[Change]:
    """Find episodes (one day to months, temporary) and lasting level shifts in one series.

    The one-series entry point of detection; `scan` calls `find_changes_many`, which
    returns for each of its rows exactly what this returns.

    Args:
        values: One value per period. NaN marks an unknown period (a data gap), never an
            anomaly. Counts: events per period; ratios: the numerator counts; gauges:
            levels (prices, rates, log values), reported in their own units.
        kind: "count", "ratio" or "gauge".
        dates: Optional dates of the values; the frequency (daily, weekly, monthly,
            quarterly, yearly) is inferred from them, and missing dates are unknown
            periods. Without dates the series is daily.
        denominators: Ratios only: the denominator count per period.
        settings: Thresholds; `DetectionSettings()` when None. Day-based lengths are
            restated in the series' own periods.
        known_mask: True on periods where the normal pattern is known not to hold
            (annotated days off): left out of baseline, season and noise, yet anomalies on
            them are still reported. Which event made a day known never changes how
            sensitive the detector is.
        start_weekday: Weekday of value 0 (0=Monday) when `dates` is None.

    Returns:
        Changes sorted by start; `start`/`end` index `values`.

    Raises:
        ValueError: unknown kind, arrays of different lengths, values that are not one
            series of finite numbers (NaN allowed), negative counts or denominators,
            dates that are not dates, or a start_weekday outside 0-6.
    """
    settings = settings or DetectionSettings()
    values = _checked_input(values, kind, dates, denominators, start_weekday)
    ready = _ready(values, kind, dates, denominators, known_mask, settings, start_weekday)
    if ready is None:
        return []
    layout, values, s, noise, steps = ready
    return _changes(s, noise, steps, layout, kind, values, dates)


def _checked_input(values, kind: str, dates, denominators, start_weekday: int) -> np.ndarray:
    """`values` as a float array, after a ValueError naming the argument for input the
    detector would otherwise fail on deep inside numpy or read silently wrong (an inf
    taken for a gap, a negative count reported as a -100% spike)."""
    arrays = {"values": values} if denominators is None else {"values": values, "denominators": denominators}
    for name, given in arrays.items():
        try:
            array = np.asarray(given, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numbers (NaN for an unknown period): {exc}.") from None
        if array.ndim != 1:
            hint = " (find_changes_many takes a matrix)" if array.ndim == 2 else ""
            raise ValueError(f"{name} must be one series, a 1-D sequence of numbers; got {array.ndim} dimensions{hint}.")
        infinite = np.flatnonzero(np.isinf(array))
        if infinite.size:
            raise ValueError(f"{name}[{infinite[0]}] is {array[infinite[0]]}: values must be finite (NaN for an unknown period).")
        negative = np.flatnonzero(array < 0) if kind != "gauge" else []
        if len(negative):
            raise ValueError(f"{name}[{negative[0]}] is {array[negative[0]]:g}, and counts cannot be negative"
                             " (kind='gauge' for a level that can).")
        arrays[name] = array
    if not 0 <= start_weekday <= 6:
        raise ValueError(f"start_weekday must be 0 (Monday) to 6 (Sunday), got {start_weekday!r}.")
    if dates is not None:
        try:
            days = np.asarray(dates, dtype="datetime64[D]")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"dates must be dates (datetime64, date or 'YYYY-MM-DD'): {exc}.") from None
        missing = np.flatnonzero(np.isnat(days))
        if missing.size:  # was "dates must be increasing"
            raise ValueError(f"dates[{missing[0]}] is missing (NaT): every value needs its date (NaN marks an unknown value).")
    return arrays["values"]


def _ready(values: np.ndarray, kind: str, dates, denominators, known_mask, settings: DetectionSettings, start_weekday: int):
    """One series made ready for the detector: (layout, values on its grid, the prepared
    series with its calendar out, its noise, the lasting steps of the calendar fit), or
    None when it cannot be prepared."""
    layout = _layout(dates, len(values), settings, start_weekday)
    if dates is not None:
        values, denominators, known_mask = _placed(layout.position, values, denominators, known_mask)
    s = _prepare(values, layout.local, kind, denominators, known_mask, layout.phase, layout.season)
    if s is None:
        return None
    def noise() -> _Noise:
        return _noise(s, layout.local, exact_tails=False, unit=layout.unit, wander_width=layout.wander_width)

    steps, scales = _without_calendar(s, noise(), layout, dates)
    if scales is None:  # a calendar was taken out: the noise is that of the new values
        scales = noise()
    return layout, values, s, _exact_tails(s, scales, layout.local), steps


def find_changes_many(
    values,
    *,
    kind: str = "count",
    dates=None,
    denominators=None,
    settings: DetectionSettings | None = None,
    known_masks=None,
    start_weekday: int = 0,
) -> list[list[Change]]:
    """`find_changes` of each row of `values`, series that share their dates (the rows of
    a scan), with the same changes as row by row.

    What the rows share (frequency, grid, calendar) is worked out once, and the rows'
    preparation and noise scales (before and after the calendar fit) are taken as
    matrices where their days allow (`prepare._prepare_many`, `noise._noises`); the
    calendar fit and the episode and boundary search run row by row.

    Args:
        values: A matrix, one row per series (NaN = unknown period).
        kind, dates, settings, start_weekday: as `find_changes`, for every row.
        denominators: Ratios only: a matrix of denominators like `values`.
        known_masks: None, or a boolean matrix like `values` (`find_changes`' `known_mask`).

    Returns:
        One list of changes per row, as `find_changes` returns it.

    Raises:
        ValueError: unknown kind, or arrays of different shapes.
    """
    settings = settings or DetectionSettings()
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError("values must be a matrix, one row per series.")
    layout = _layout(dates, values.shape[1], settings, start_weekday)
    if dates is not None:
        values, denominators, known_masks = _placed(layout.position, values, denominators, known_masks)
    prepared = _prepare_many(values, layout.local, kind, denominators, known_masks, layout.phase, layout.season)
    kept = [s for s in prepared if s is not None]
    noises = _noises(kept, layout.local, layout.unit, layout.wander_width)
    fitted = [_without_calendar(s, scales, layout, dates) for s, scales in zip(kept, noises)]
    # the noise of the series whose calendar was taken out, measured again (each as its turn comes)
    again = _noises([s for s, (_, scales) in zip(kept, fitted) if scales is None], layout.local, layout.unit,
                    layout.wander_width)
    out, fits = [], iter(fitted)
    for s, row in zip(prepared, values):
        if s is None:
            out.append([])
            continue
        steps, scales = next(fits)
        noise = _exact_tails(s, next(again) if scales is None else scales, layout.local)
        out.append(_changes(s, noise, steps, layout, kind, row, dates))
    return out


@dataclass(frozen=True)
class _Layout:
    """What the series of one calendar share: frequency, grid and settings in its periods."""

    freq: Frequency
    position: np.ndarray  # grid position of each input value
    local: DetectionSettings  # day-based settings in the series' own periods
    season: int  # length of the season removed (1: none)
    phase: int  # the season's phase of period 0
    unit: int  # periods per block unit of the long-run variance

    @property
    def calendar(self) -> bool:
        """Whether the normal calendar (closes, yearly season, trend) is fitted."""
        return self.freq.name in ("daily", "weekly", "fortnightly", "monthly")

    @property
    def wander_width(self) -> int:
        """Periods of the windows on which a gauge's wander is measured (`noise._with_wander`):
        its level windows. 0 for daily series, whose long-run blocks of 1-4 weeks measure it
        already (clean daily AR(1) gauges, phi 0.3-0.9: 2 of 60 flagged) and where the
        variogram's 111 lags would triple a gauge's cost."""
        return 0 if self.freq.name == "daily" else self.local.level_window_days


def _layout(dates, n: int, settings: DetectionSettings, start_weekday: int) -> _Layout:
    """The `_Layout` of `n` values at `dates` (daily from weekday `start_weekday` when None)."""
    freq = infer_frequency(dates, n)
    position = np.arange(n)
    if dates is not None:
        if len(dates) != n:
            raise ValueError("dates must have the same length as values.")
        position = _grid_positions(dates, freq, n)
        start_weekday = int((np.datetime64(np.asarray(dates, dtype="datetime64[D]")[0], "D").astype(np.int64) + 3) % 7)
    size = int(position[-1]) + 1 if n else 0
    season = freq.season if size >= 3 * freq.season else 1
    return _Layout(freq, position, settings_for(settings, freq), season, start_weekday % season if season == 7 else 0,
                   long_run_unit(freq.step_days))


def _without_calendar(s: _Series, scales: _Noise, layout: _Layout, dates) -> tuple[list[int], _Noise | None]:
    """Take the normal calendar out of `s` (in place) where its frequency has one; `scales`
    are its noise scales (before the exact count tails; the fit reads only those, for its
    steps' penalty). Returns the lasting steps fitted alongside (`_remove_calendar`) and
    the scales, None when a calendar was taken out (they are no longer those of `s`)."""
    if dates is not None and layout.freq.name == "yearly":  # no calendar: steps beside a trend
        steps = _steps_beside_trend(s, scales, layout.local)
        grown = _on_log_scale(s) and _growth_out(s, steps, layout.unit)
        return steps, (None if grown else scales)
    if dates is None or not layout.calendar:
        return [], scales
    y = s.y
    steps = _remove_calendar(s, scales, layout.local, np.asarray(dates, dtype="datetime64[D]")[0], layout.freq.step_days)
    return steps, (None if s.y is not y else scales)


def _changes(s: _Series, noise: _Noise, steps: list[int], layout: _Layout, kind: str, values: np.ndarray, dates) -> list[Change]:
    """The changes of prepared series `s` (`values` on the grid, its calendar out) with
    its `noise` and the lasting `steps` of its calendar fit."""
    freq = layout.freq
    exact = _noiseless_changes(s, values, layout.season, layout.local, kind) if kind != "ratio" else None
    # no noise at all: the values' own changes (the fits below would read a zero scale)
    episodes, shifts = (exact, []) if exact is not None else _episodes_and_shifts(s, noise, steps, layout)
    if exact is None:  # a smooth gauge's bends are no level shifts
        shifts = _breaks_only(s, noise, shifts, layout.local)
    found = episodes + shifts if kind == "ratio" else _material(episodes + shifts, values)  # a ratio's levels are rates
    unit = {"count": f"per {freq.unit}", "ratio": "rate", "gauge": ""}[kind]
    out = []
    for c in sorted(found, key=lambda c: (c.start, c.kind)):
        pct = c.change_pct
        if kind == "gauge" and (c.before <= 0 or np.nanmin(values) <= 0):
            pct = float("nan")  # a percentage of a level that can be <= 0 means nothing
        first = int(np.searchsorted(layout.position, c.start))
        last = None if c.end is None else int(np.searchsorted(layout.position, c.end, side="right")) - 1
        out.append(replace(
            c, start=first, end=last, change_pct=pct, unit=unit, frequency=freq.name,
            start_date=None if dates is None else _date(dates, first),
            end_date=None if dates is None or last is None else _date(dates, last),
        ))
    return out


def _episodes_and_shifts(s: _Series, noise: _Noise, steps: list[int], layout: _Layout) -> tuple[list, list]:
    """The episodes and lasting shifts of prepared series `s`, in its grid's periods."""
    freq, local = layout.freq, layout.local
    # short episodes first (they would bend the boundary search; a short peak of a longer
    # episode is set aside, not reported), then boundaries (lasting shifts and long
    # temporary ones), then every episode the boundaries missed
    widths = _episode_widths(len(s.y), local)
    long_bar = 1.0 if freq.name in ("weekly", "fortnightly", "monthly") else _LONG_BAR  # the width bars alone
    short, taken, aside = _episodes(s, noise, local, widths, np.zeros(len(s.y), bool), accept=local.min_segment_days - 1,
                                    long_bar=long_bar)
    shifts, temporary = _shift_changes(s, noise, taken, local)
    shifts += _steps_as_shifts(s, noise, steps, shifts, taken | temporary, local)
    rest = []
    if aside.any() or temporary.any() or shifts:  # else the same scan again would find nothing
        walls = np.searchsorted(s.index, [c.start for c in shifts if c.end is None])
        short = _judged_beside_shifts(s, noise, local, short, walls, taken | temporary)
        rest, _, _ = _episodes(s, noise, local, widths, taken | temporary, accept=len(s.y), walls=walls, long_bar=long_bar)
    episodes = _not_absorbed(short + rest, shifts)
    # last, the short peaks inside the long episodes, each against its own episode's days
    episodes += _peaks_within(s, noise, local, episodes + [c for c in shifts if c.end is not None])
    return episodes, shifts


def _not_absorbed(episodes: list[Change], shifts: list[Change]) -> list[Change]:
    """The episodes that are not part of a lasting shift.

    An episode touching a lasting shift's first period, in the shift's direction, is the
    shift's own edge (a transition period, or the first period of the new level landing
    low by chance), not a second anomaly, unless it goes beyond the new level by more
    than the step itself: then it is an event of its own (an outage on the day a price
    change took effect).
    """
    def absorbed(e: Change, shift: Change) -> bool:
        touches = e.start <= shift.start and e.end is not None and e.end >= shift.start - 1
        step = shift.after - shift.before
        beyond = (e.after - shift.after) * np.sign(step)
        return touches and e.direction == shift.direction and beyond <= abs(step)

    lasting = [c for c in shifts if c.end is None]
    return [e for e in episodes if not any(absorbed(e, shift) for shift in lasting)]
