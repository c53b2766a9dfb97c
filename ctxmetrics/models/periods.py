"""The periods of a stored series: days, weeks, months, quarters or years counted from its first period.

A series' column j is period j after `start` (the first stored date): the day
`start + j`, the week of seven days from `start + 7j`, the fortnight of fourteen days
from `start + 14j`, the calendar month j months
after `start`'s, the calendar quarter (Jan-Mar, Apr-Jun, ...) j quarters after
`start`'s, or the calendar year j years after `start`'s. Every place that turns a column
into dates, or dates into a column, goes through here, so a weekly, monthly, quarterly or
yearly metric is one point per period.
"""
from __future__ import annotations

import datetime as dt

import numpy as np

UNITS = {"daily": "day", "weekly": "week", "fortnightly": "fortnight", "monthly": "month", "quarterly": "quarter", "yearly": "year"}
DAYS = {"daily": 1, "weekly": 7, "fortnightly": 14}  # days per period of the day-based granularities
MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}  # calendar months per period of the month-based granularities


def unit(granularity: str) -> str:
    """What one value is per: `day`, `week`, `fortnight`, `month`, `quarter` or `year`."""
    return UNITS[granularity]


def index(day: dt.date, start: dt.date, granularity: str) -> int:
    """The period (column) that holds `day`; negative before `start`."""
    if granularity in MONTHS:
        return _month_number(day) // MONTHS[granularity] - _month_number(start) // MONTHS[granularity]
    return (day - start).days // DAYS[granularity]


def first_day(start: dt.date, i: int, granularity: str) -> dt.date:
    """The date of column `i` (the first day of its period)."""
    if granularity in MONTHS:
        step = MONTHS[granularity]
        months = (_month_number(start) // step + int(i)) * step
        return dt.date(months // 12, months % 12 + 1, 1)
    return start + dt.timedelta(days=int(i) * DAYS[granularity])


def last_day(start: dt.date, i: int, granularity: str) -> dt.date:
    """The last calendar day of column `i`'s period."""
    if granularity == "daily":
        return first_day(start, i, granularity)
    return first_day(start, int(i) + 1, granularity) - dt.timedelta(days=1)


def count(start: dt.date, end: dt.date, granularity: str) -> int:
    """How many periods run from `start`'s to `end`'s, both included."""
    return index(end, start, granularity) + 1


def dates(start: dt.date, n: int, granularity: str) -> np.ndarray:
    """The first days of columns 0..n-1 (datetime64[D]), as `find_changes` takes them."""
    if granularity in MONTHS:
        first = np.datetime64(first_day(start, 0, granularity), "M")
        return (first + MONTHS[granularity] * np.arange(n)).astype("datetime64[D]")
    return np.datetime64(start, "D") + DAYS[granularity] * np.arange(n)


def day_columns(start: dt.date, n: int, granularity: str) -> np.ndarray:
    """For every calendar day of the n periods from `start`, the column it falls in."""
    if granularity == "daily":
        return np.arange(n)
    firsts = dates(start, n + 1, granularity).astype(np.int64)
    return np.repeat(np.arange(n), np.diff(firsts))


def sql_index(column: str, granularity: str) -> str:
    """SQL for the column of the date `column`; its one parameter is the start date."""
    if granularity == "monthly":
        return f"date_diff('month', ?::date, {column})"
    if granularity == "quarterly":  # calendar quarters, as `index` counts them
        return f"date_diff('quarter', ?::date, {column})"
    if granularity == "yearly":  # calendar years, as `index` counts them
        return f"date_diff('year', ?::date, {column})"
    if granularity in ("weekly", "fortnightly"):
        return f"(({column} - ?::date) // {DAYS[granularity]})"
    return f"({column} - ?::date)"


def _month_number(day: dt.date) -> int:
    """Months since year 0, January: calendar months, quarters and years count from it."""
    return day.year * 12 + day.month - 1
