"""Days that a timed file on a regular grid (a reading every 30 minutes, every hour) covers
only in part: the first or last day of an export cut at 14:00, or of UTC stamps read in
a local zone, and a day with an hour missing in the middle (an export hiccup).

Summed over the hours it has, an edge day cut short reads as a drop of its own (-88% on a
day of three hours), so it is left out and said; a day short in the middle of the file is
kept (its other hours are real) and said. Event logs (one row per lead at any time) have
no grid, and every day of them is kept: a quiet day there is a real one.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import polars as pl

DAY_SECONDS = 86_400
REGULAR_SHARE = 0.9  # of the steps between consecutive times equal to the grid's step
MIN_DAYS = 3  # an edge day is judged against whole days between the edges
MAX_DAYS_NAMED = 3  # short days named in a note; the rest counted
_UNITS = {60: "minutes", 900: "quarter-hours", 1800: "half-hours", 3600: "hours"}


def cut_short_days(stamps: pl.Series, timezone: str) -> tuple[list[dt.date], list[str]]:
    """The edge days to leave out of local times `stamps` (naive, in `timezone`), and what
    to say of them and of days short of readings in between. Nothing when the times are
    not on a regular grid of steps that divide a day."""
    times = stamps.drop_nulls().unique().sort()
    step = _grid_step(times)
    if step is None:
        return [], []
    per_day = Counter(times.dt.date().to_list())
    days = sorted(per_day)
    if len(days) < MIN_DAYS:
        return [], []
    whole = DAY_SECONDS // step
    slots = {day: min(whole, _day_seconds(day, timezone) // step) for day in days}
    short = [day for day in days if per_day[day] < slots[day]]
    edges = [day for day in short if day in (days[0], days[-1])]
    notes = [
        f"{day} has {per_day[day]} of {slots[day]} {_unit(step)}: left out, since a day cut short at the "
        f"file's {'start' if day == days[0] else 'end'} would read as a drop."
        for day in edges
    ]
    inside = [day for day in short if day not in edges]
    if inside:
        named = [
            f"{day} has {per_day[day]} of {slots[day]} {_unit(step)} ({_first_hole(times, day, step)})"
            for day in inside[:MAX_DAYS_NAMED]
        ]
        more = f", and {len(inside) - MAX_DAYS_NAMED} more days" if len(inside) > MAX_DAYS_NAMED else ""
        notes.append(
            f"{'; '.join(named)}{more}: kept, summed over the readings it has, so it may read as a drop; "
            "re-export it whole if the readings exist."
        )
    return edges, notes


def _grid_step(times: pl.Series) -> int | None:
    """The step in seconds between most consecutive times, when it divides a day and
    most steps are it; None for irregular times (an event log)."""
    if times.len() < 3:
        return None
    steps = times.diff().drop_nulls().dt.total_seconds()
    step = int(steps.mode().min())
    regular = float((steps == step).mean())
    if not 0 < step < DAY_SECONDS or DAY_SECONDS % step or regular < REGULAR_SHARE:
        return None
    # seconds after midnight (the time parts are small integer types: widened before multiplying)
    offsets = (times - times.dt.truncate("1d")).dt.total_seconds() % step
    return step if offsets.n_unique() == 1 else None


def _day_seconds(day: dt.date, timezone: str) -> int:
    """The length of `day` in `timezone`: 23 or 25 hours on a daylight-saving change."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.timezone.utc)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone).astimezone(dt.timezone.utc)
    return int((end - start).total_seconds())


def _first_hole(times: pl.Series, day: dt.date, step: int) -> str:
    """The first run of missing readings of `day`, as 'none from 10:00 to 10:30'."""
    present = set(times.filter(times.dt.date() == day).to_list())
    offset = int((times[0] - dt.datetime.combine(times[0].date(), dt.time())).total_seconds()) % step
    slots = [dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=offset + k * step) for k in range(DAY_SECONDS // step)]
    missing = [i for i, slot in enumerate(slots) if slot not in present]  # not empty: the day is short
    last = missing[0]
    while last + 1 < len(slots) and slots[last + 1] not in present:
        last += 1
    return f"none from {slots[missing[0]]:%H:%M} to {slots[last]:%H:%M}"


def _unit(step: int) -> str:
    if step in _UNITS:
        return _UNITS[step]
    if step % 3600 == 0:
        return f"{step // 3600}-hour readings"
    return f"{step // 60}-minute readings" if step % 60 == 0 else f"{step}-second readings"
