"""Dates of ingested rows: parsed without guessing, put on the project's calendar day,
checked for plausibility, and classified by granularity (daily, weekly, monthly, quarterly, yearly).

Functions here report a bad cell by raising `BadCell(index, what)`; the caller names the
file, line and column.
"""
from __future__ import annotations

import datetime as dt
import re

import numpy as np
import polars as pl

from ctxmetrics.ingest.date_orders import unread_dates
from ctxmetrics.models.periods import DAYS, MONTHS

GRANULARITIES = ("daily", "weekly", "fortnightly", "monthly", "quarterly", "yearly")
EARLIEST = dt.date(1900, 1, 1)
MAX_GAP_DAYS = 3 * 365  # a date this far from all the others is a typo, not a data point
# ISO 8601 day, optionally with a time of day and a UTC offset (Z, +HH, +HHMM, +HH:MM).
_ISO = (
    r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_YEAR_MONTH = re.compile(r"^\d{4}-\d{2}$")
_DAY_MONTH = re.compile(r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}")
_FORMAT_HINT = "--date-format %m/%d/%Y"
_ISO_WEEK = re.compile(r"^\d{4}-?W\d{2}$")
_MONTH_NAME_YEAR = re.compile(r"^[A-Za-z]{3,9}\.? \d{4}$")
_MONTH_NAME_DAY_YEAR = re.compile(r"^[A-Za-z]{3,9} \d{1,2}, \d{4}$")  # Nov 28, 2026 (Google Sheets)
_COMPACT_DAY = re.compile(r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$")  # 20260301 (Google Analytics)
_UNIX_SECONDS = re.compile(r"^\d{9,10}$")
_WEEK_NUMBER = "%V"
_WEEKDAY = re.compile(r"%[uwaA]")


class BadCell(Exception):
    """The cell at `index` of the column is not acceptable; `what` completes the sentence."""

    def __init__(self, index: int, what: str):
        super().__init__(what)
        self.index = index
        self.what = what


def latest_plausible(today: dt.date | None = None) -> dt.date:
    """The last day a row may carry: the end of next year."""
    return dt.date((today or dt.date.today()).year + 1, 12, 31)


def parse_days(
    series: pl.Series, timezone: str, date_format: str | None = None, iso: pl.Series | None = None
) -> tuple[pl.Series, bool]:
    """Calendar days in `timezone` of a date/time column, and whether it has times of day
    (`parse_stamps`, the times left out)."""
    stamps, timed = parse_stamps(series, timezone, date_format, iso)
    return (stamps.dt.date() if timed else stamps), timed


def parse_stamps(
    series: pl.Series, timezone: str, date_format: str | None = None, iso: pl.Series | None = None
) -> tuple[pl.Series, bool]:
    """The local times in `timezone` of a date/time column (naive datetimes) when it has
    times of day, else its calendar days; and whether it has times of day.

    Text is read as ISO 8601 unless `date_format` (strftime codes) is given; nothing is
    guessed. A time with a UTC offset is converted to `timezone`; a time without one is
    already local time there. A column whose every stamp is midnight on its own clock
    holds dates: each is the day written, whatever its offset.

    `iso`: the text already read with `%Y-%m-%d` (non-strict), when the caller has it.

    Raises:
        BadCell: the first value that is not a date, or is ambiguous.
    """
    if series.dtype == pl.Date:
        return series, False
    if isinstance(series.dtype, pl.Datetime):
        return _stamps_of_datetimes(series, timezone)
    if series.dtype != pl.Utf8:
        _fail_first(series.is_not_null(), f"is of type {series.dtype}, not a date")
        series = series.cast(pl.Utf8)  # all empty: reported as such by the caller
    if date_format is not None:
        return _parse_with_format(series.str.strip_chars(), date_format, timezone)
    text = series
    days = text.str.to_date("%Y-%m-%d", strict=False) if iso is None else iso
    plain = days.is_not_null() & (text.str.len_bytes() == 10)
    if plain.all():
        return days, False
    text = text.str.strip_chars()
    days = text.str.to_date("%Y-%m-%d", strict=False)
    plain = days.is_not_null() & (text.str.len_bytes() == 10)
    if plain.all():
        return days, False
    rest = ~plain & text.is_not_null()
    positions = rest.arg_true()
    try:
        timed, has_time = _parse_iso_times(text.filter(rest), timezone)
    except BadCell as bad:  # its index counts the filtered rows
        raise BadCell(int(positions[bad.index]), bad.what) from None
    days = pl.select(pl.when(plain).then(days).otherwise(None)).to_series().cast(timed.dtype)  # midnight, if timed
    return days.scatter(positions, timed), has_time


def _parse_iso_times(text: pl.Series, timezone: str) -> tuple[pl.Series, bool]:
    """Days of ISO 8601 date-times, and whether any has a time of day other than midnight
    (a monthly series written as `1949-01-01 00:00:00` is still monthly)."""
    parts = text.str.extract_groups(_ISO)
    day, hm, sec, offset = (parts.struct.field(f) for f in ("1", "2", "3", "4"))
    not_iso = day.is_null()
    if not_iso.any():
        index = int(not_iso.arg_true()[0])
        raise _not_iso(text, index)
    # Offsets in one shape (+HH:MM) so one strptime format reads them all.
    offset = (
        offset.str.replace("Z", "+00:00")
        .str.replace(r"^([+-]\d{2})$", "${1}:00")
        .str.replace(r"^([+-]\d{2})(\d{2})$", "${1}:${2}")
    )
    canonical = day + "T" + hm.fill_null("00:00") + ":" + sec.fill_null("00")
    naive = canonical.str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False)
    _fail_first(naive.is_null(), "is not a valid date")
    if _all_midnight(naive):  # dates written with their zone (2026-11-27T00:00:00+10:00): the day written
        return naive.dt.date(), False
    zoned = (canonical + offset.fill_null("+00:00")).str.to_datetime("%Y-%m-%dT%H:%M:%S%z", strict=False, time_zone="UTC")
    local = zoned.dt.convert_time_zone(timezone).dt.replace_time_zone(None)
    stamps = pl.select(pl.when(offset.is_null()).then(naive).otherwise(local)).to_series()
    has_time = bool((stamps.dt.time() != dt.time(0, 0)).any())
    return (stamps if has_time else stamps.dt.date()), has_time


def _not_iso(text: pl.Series, index: int) -> BadCell:
    value = text[index]
    if _YEAR_MONTH.match(value):
        return BadCell(index, "is a month, not a date; pass --date-format %Y-%m to read it as the month's first day")
    if _ISO_WEEK.match(value):
        return BadCell(index, "is an ISO week; pass --date-format %G-W%V to read it as the week's Monday")
    if _MONTH_NAME_YEAR.match(value):
        return BadCell(index, "is a month; pass --date-format '%B %Y' to read it as the month's first day")
    if _COMPACT_DAY.match(value):
        return BadCell(index, "is a date written without dashes; pass --date-format %Y%m%d")
    if _UNIX_SECONDS.match(value):
        return BadCell(index, "looks like a Unix time (seconds since 1970); pass --date-format %s")
    if _MONTH_NAME_DAY_YEAR.match(value):
        return BadCell(index, "is a date with the month by name, as Google Sheets writes it; pass --date-format '%B %d, %Y'")
    if _DAY_MONTH.match(value):
        mixed = unread_dates(text, None)
        if mixed is not None:  # day first above month first: no one format would read the column
            return BadCell(*mixed)
        return BadCell(index, f"is ambiguous (day/month order); dates are read as ISO 8601 (YYYY-MM-DD), "
                              f"or pass the format, e.g. {_FORMAT_HINT} or --date-format %d/%m/%Y")
    return BadCell(index, f"is not an ISO 8601 date (YYYY-MM-DD, optionally THH:MM:SS and a UTC offset); "
                          f"pass the format if it is another one, e.g. {_FORMAT_HINT}")


def _parse_with_format(text: pl.Series, fmt: str, timezone: str) -> tuple[pl.Series, bool]:
    has_time = any(code in fmt for code in ("%H", "%I", "%M", "%S", "%T", "%R", "%z", "%s"))
    if not has_time:
        days = _iso_weeks(text, fmt) if _WEEK_NUMBER in fmt and not _WEEKDAY.search(fmt) else text.str.to_date(fmt, strict=False)
        _fail_first(days.is_null() & text.is_not_null(), f"does not match --date-format {fmt}")
        return days, False
    zone = "UTC" if "%z" in fmt or "%s" in fmt else None  # an offset, or seconds since 1970 UTC: instants
    stamps = text.str.to_datetime(fmt, strict=False, time_zone=zone)
    _fail_first(stamps.is_null() & text.is_not_null(), f"does not match --date-format {fmt}")
    return _stamps_of_datetimes(stamps, timezone)


def _iso_weeks(text: pl.Series, fmt: str) -> pl.Series:
    """ISO weeks (`2026-W13` with `%G-W%V`) as each week's Monday: a week number alone
    names no day, so the reader is given the weekday too."""
    return (text + "-1").str.to_date(fmt + "-%u", strict=False)


def _stamps_of_datetimes(stamps: pl.Series, timezone: str) -> tuple[pl.Series, bool]:
    if stamps.dtype.time_zone is not None:
        if _all_midnight(stamps):  # dates stored with their zone (a pandas tz-aware date column)
            return stamps.dt.date(), False
        stamps = stamps.dt.convert_time_zone(timezone).dt.replace_time_zone(None)  # an instant: the project's day
    has_time = bool((stamps.dt.time() != dt.time(0, 0)).any())
    return (stamps if has_time else stamps.dt.date()), has_time


def _all_midnight(stamps: pl.Series) -> bool:
    """Whether every stamp is midnight on its own clock (in its zone, or as written): a
    column of dates that a tool wrote with a time zone, whose day is the one written, not
    the day that instant falls on in the project's zone (which would be the day before
    for every date east of it)."""
    present = stamps.drop_nulls()
    return present.len() > 0 and bool((present.dt.time() == dt.time(0, 0)).all())


def _fail_first(bad: pl.Series, what: str) -> None:
    if bad.any():
        index = int(bad.arg_true()[0])
        raise BadCell(index, what)


def check_plausible(days: pl.Series, today: dt.date | None = None) -> pl.Series:
    """Refuse days before 1900, after next year, or years away from all the others.

    Returns:
        The distinct days, sorted (for `granularity_of`).

    Raises:
        BadCell: the first such day.
    """
    last = latest_plausible(today)
    if days.min() < EARLIEST or days.max() > last:  # the row-wise mask only when needed
        _fail_first((days < EARLIEST) | (days > last), f"is outside the plausible range {EARLIEST}..{last}")
    distinct = _distinct_days(days.drop_nulls())
    if distinct.len() < 2:
        return distinct
    gaps = distinct.diff().dt.total_days().fill_null(0)
    if gaps.max() <= MAX_GAP_DAYS:
        return distinct
    # Split at the largest gap; the side with fewer distinct days is the outlier.
    cut = int(gaps.arg_max())
    before, after = distinct[:cut], distinct[cut:]
    outliers = before if before.len() <= after.len() else after
    main = after if outliers is before else before
    _fail_first(
        days.is_in(outliers.implode()),
        f"is more than {MAX_GAP_DAYS // 365} years away from the file's other dates "
        f"({main.min()}..{main.max()}); check it for a typo",
    )


def _distinct_days(days: pl.Series) -> pl.Series:
    """Sorted distinct days. Days span at most ~47k values here (1900 to next year), so
    counting them in a dense array is several times faster than hashing millions of rows."""
    if days.len() == 0:
        return days
    numbers = days.to_physical().to_numpy()
    low = int(numbers.min())
    present = np.flatnonzero(np.bincount(numbers - low)) + low
    return pl.Series(days.name, present, dtype=pl.Int32).cast(pl.Date)


def granularity_of(days: pl.Series) -> str | None:
    """`monthly` when every day is a month's first (or every one a month's last),
    `quarterly` or `yearly` when they are also a whole number of quarters or years apart,
    `fortnightly` when all fall a whole number of fortnights apart (every other Monday: a
    weekly reading would put a gap, or a zero, in every other week) or are irregularly
    spaced one a fortnight (`_fortnights_apart`), `weekly` when all fall
    on one weekday a whole number of weeks apart, `daily` otherwise;
    None with fewer than two days."""
    distinct = days.drop_nulls().unique().sort()
    if distinct.len() < 2:
        return None
    gaps = distinct.diff().drop_nulls().dt.total_days()
    month_marks = (distinct.dt.day() == 1).all() or (distinct == distinct.dt.month_end()).all()
    if month_marks and gaps.min() >= 28:
        months = distinct.dt.year().cast(pl.Int64) * 12 + distinct.dt.month().cast(pl.Int64)
        steps = months.diff().drop_nulls()
        return "yearly" if (steps % 12 == 0).all() else "quarterly" if (steps % 3 == 0).all() else "monthly"
    if (gaps % 14 == 0).all() or _fortnights_apart(distinct, gaps):
        return "fortnightly"
    if (gaps % 7 == 0).all():
        return "weekly"
    return "daily"


def _fortnights_apart(distinct: pl.Series, gaps: pl.Series) -> bool:
    """Whether irregularly spaced days (a price every 14-21 days, TCPD's brent_spot) are
    one point per fortnight: their median step is a fortnight's (over 10 days, the weekly
    limit, up to 20, the monthly one: `detect.frequency`) and no two fall in one fortnight
    counted from the first (the store's fortnights, `models.periods`). A fortnight with no
    point is a gap. Read as daily, such a file was hundreds of one-day gaps."""
    if not 10 < float(gaps.median()) <= 20:
        return False
    fortnights = (distinct - distinct[0]).dt.total_days() // 14
    return bool((fortnights.diff().drop_nulls() > 0).all())


# Steps of a coarser cadence in a row that make it a cadence, not a coincidence of gaps:
# a month of weekly dates, a quarter of monthly ones, a year of quarterly ones, three
# steps of yearly ones (a monthly or quarterly file does not lose 11 months, or 3
# quarters, of every year three years running by chance).
RUN_STEPS = {"weekly": 4, "fortnightly": 4, "monthly": 3, "quarterly": 4, "yearly": 3}
_STEP_WORDS = {"daily": "a day", "weekly": "a week", "fortnightly": "a fortnight", "monthly": "a month", "quarterly": "a quarter", "yearly": "a year"}


def cadence_change(distinct: pl.Series) -> tuple[int, str] | None:
    """Where sorted distinct days change from a day at a time to a week, month, quarter or
    year at a time (or back), or where one date of weekly, monthly, quarterly or yearly data
    is off their cadence: `granularity_of` would read either as daily data with gaps. Also
    where month marks change between a month, a quarter and a year at a time, which
    `granularity_of` would read as monthly or quarterly data with gaps.

    Returns:
        (i, what): `distinct[i]` is the first day off the first cadence; `what` says so
        in words ("the dates step a day at a time up to 2024-03-03, then a week at a
        time from this row on"). None when the days keep one cadence.
    """
    found = granularity_of(distinct)
    if found in ("monthly", "quarterly"):
        return _month_marks_change(distinct.to_list(), found)
    if found != "daily":
        return None
    days = distinct.to_list()
    steps = [(b - a).days for a, b in zip(days, days[1:])]
    coarse = [
        "weekly" if step == 7 else "fortnightly" if step == 14 else _month_step(a, b) if step >= 28 and _month_marks(a, b) else None
        for step, a, b in zip(steps, days, days[1:])
    ]
    cadence = None  # the coarse cadence of a long enough run the file starts with, if any
    run_start = 0
    for i, kind in enumerate([*coarse, None]):
        if i < len(coarse) and kind is not None and kind == coarse[run_start]:
            continue
        kind, length = coarse[run_start], i - run_start
        if kind is not None and length >= RUN_STEPS[kind]:
            if 1 in steps[:run_start]:  # daily before the run: it changes at the run's second day
                return run_start + 1, _cadence_words(days[run_start], "daily", kind) + " from this row on"
            if 1 in steps[i:]:  # the run comes first: it changes after its last day
                return i + 1, _cadence_words(days[i], kind, "daily") + " from this row on"
            if run_start == 0:  # the file starts on this cadence
                cadence = kind
        run_start = i
    if cadence is None or 1 in steps:
        return None
    # weekly or monthly data (no two dates a day apart) with a date off its cadence after
    # a start on it; a missing week or month is a gap, not off the cadence
    off = next(
        i for i, (step, a, b) in enumerate(zip(steps, days, days[1:]))
        if (step % DAYS[cadence] if cadence in DAYS else not _month_marks(a, b) or _months_apart(a, b) % MONTHS[cadence])
    )
    return off + 1, (
        f"the dates step {_STEP_WORDS[cadence]} at a time up to {days[off]}, then {steps[off]} days to this one"
    )


def _month_marks_change(days: list[dt.date], found: str) -> tuple[int, str] | None:
    """Where month marks change between a month, a quarter and a year at a time: the first
    run of `RUN_STEPS` steps of another cadence after one of the first; a missing month or
    two of monthly data (a missing quarter or three of quarterly data) is a gap, not a
    change. Also where one date is off the coarser cadence the days start on (yearly rows
    and one mid-year: `found`, their granularity as a whole, is then finer than that
    cadence, and the year would be read as months with gaps). None when there is no such
    change."""
    kinds = [_month_step(a, b) for a, b in zip(days, days[1:])]
    runs, run_start = [], 0  # (kind, first step) of each long enough run of one kind
    for i in range(1, len(kinds) + 1):
        if i == len(kinds) or kinds[i] != kinds[run_start]:
            kind = kinds[run_start]
            if kind is not None and i - run_start >= RUN_STEPS[kind]:
                runs.append((kind, run_start))
            run_start = i
    first = runs[0][0] if runs else None
    change = next(((kind, start) for kind, start in runs if kind != first), None)
    if change is not None:
        kind, start = change
        return start + 1, _cadence_words(days[start], first, kind) + " from this row on"
    if first is None or runs[0][1] != 0 or MONTHS[first] <= MONTHS[found]:
        return None
    off = next(i for i, (a, b) in enumerate(zip(days, days[1:])) if _months_apart(a, b) % MONTHS[first])
    return off + 1, (
        f"the dates step {_STEP_WORDS[first]} at a time up to {days[off]}, "
        f"then {(days[off + 1] - days[off]).days} days to this one"
    )


def _month_step(a: dt.date, b: dt.date) -> str | None:
    """`monthly`, `quarterly` or `yearly` when month marks a and b are 1, 3 or 12 months apart."""
    return {1: "monthly", 3: "quarterly", 12: "yearly"}.get(_months_apart(a, b))


def _months_apart(a: dt.date, b: dt.date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def _month_marks(*days: dt.date) -> bool:
    """All are months' first days, or all months' last days."""
    return all(day.day == 1 for day in days) or _month_ends(*days)


def _month_ends(*days: dt.date) -> bool:
    return all((day + dt.timedelta(days=1)).day == 1 for day in days)


def _cadence_words(last_day: dt.date, before: str, after: str) -> str:
    return (
        f"the dates step {_STEP_WORDS[before]} at a time up to {last_day}, "
        f"then {_STEP_WORDS[after]} at a time"
    )
