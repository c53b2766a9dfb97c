"""Each metric's cadence, read from its own dates: one file may hold a daily metric beside
a weekly, monthly, quarterly or yearly one, each stored and scanned at its own frequency.

Leads every day, pipeline value every Monday, quota attainment on each month's first: the
weekly metric is no daily series whose days between the weekly rows are zeros or gaps.

The long and wide layouts (`layouts.py`) and the Parquet fast path (`fast_parquet.py`)
all judge a file's metrics with these functions, so they agree.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import polars as pl

from ctxmetrics.ingest.dates import RUN_STEPS, cadence_change, granularity_of

DENSE_CELLS = 1 << 22  # (metric, day) cells up to which a bitmap finds each metric's days


def days_by_metric(
    metrics: pl.Series, days: pl.Series, file_days: pl.Series | None, names: Sequence[str] | None = None
) -> dict[str, pl.Series]:
    """Each metric's sorted distinct days, from the rows' metric and day columns.

    `file_days`: the sorted distinct days of these rows, which a file of one metric uses
    as they are (most files: no extra pass over the rows); None when not known. `names`:
    the distinct metrics, when the caller has them (finding them costs ~0.15 s per 10M rows)."""
    names = metrics.unique().sort() if names is None else pl.Series(sorted(names), dtype=pl.Utf8)
    if names.len() == 1 and file_days is not None:
        return {names[0]: file_days}
    if days.len() == 0:
        return {}
    found = _dense_days(metrics, days, names)
    if found is None:
        pairs = pl.DataFrame({"metric": metrics, "ts": days}).unique()
        found = {name: group["ts"].sort() for (name,), group in pairs.group_by("metric")}
    return found


def _dense_days(metrics: pl.Series, days: pl.Series, names: pl.Series) -> dict[str, pl.Series] | None:
    """`days_by_metric` as one (metric, day) bitmap, or None when it would be too large.

    Each row's metric is told by its hash modulo the smallest number that keeps the names'
    hashes apart; each row's hash is then checked against its name's, so the result is
    exact. Measured on 10M rows of 5 metrics (2 loaded cores): ~0.3 s CPU, where casting
    the metric column to an Enum for the same bitmap took ~1 s."""
    hashes = names.hash().to_numpy()
    modulus = next((p for p in range(len(hashes), 8 * len(hashes) + 64) if len(np.unique(hashes % p)) == len(hashes)), None)
    numbers = days.to_physical()
    low, span = numbers.min(), numbers.max() - numbers.min() + 1
    if modulus is None or modulus * span > DENSE_CELLS:
        return None
    row_hashes = metrics.hash()
    slots = (row_hashes % modulus).cast(pl.Int32).to_numpy()
    by_slot = np.zeros(modulus, dtype=np.uint64)
    by_slot[hashes % modulus] = hashes
    if not np.array_equal(by_slot[slots], row_hashes.to_numpy()):
        return None
    present = np.bincount(slots * span + (numbers - low).to_numpy(), minlength=modulus * span).reshape(-1, span) > 0
    return {
        name: pl.Series("ts", np.flatnonzero(present[int(h % modulus)]) + low, dtype=pl.Int32).cast(pl.Date)
        for name, h in zip(names.to_list(), hashes)
    }


def evident_granularity(days: pl.Series) -> str | None:
    """The granularity a metric's sorted distinct days show clearly: `daily`, or `weekly`,
    `monthly`, `quarterly` or `yearly` over at least a month of weeks, a quarter of months,
    a year of quarters or three steps of years (`RUN_STEPS`);
    None when they are too few to tell (two readings a week apart may be a sparse daily
    count as well as a weekly one)."""
    found = granularity_of(days)
    if found in (None, "daily"):
        return found
    return found if days.len() - 1 >= RUN_STEPS[found] else None


def first_cadence_change(days_of: dict[str, pl.Series], declared: set[str]) -> tuple[str, int, str] | None:
    """(metric, index into its days, words) of the first metric, by name, whose own dates
    change cadence (`cadence_change`); metrics whose granularity is `declared` are judged
    per period whatever their dates, so they are let through."""
    for name in sorted(days_of):
        if name in declared:
            continue
        change = cadence_change(days_of[name])
        if change is not None:
            return name, *change
    return None


def metric_cadences(days_of: dict[str, pl.Series]) -> dict[str, str]:
    """Each metric's evident granularity, for the metrics whose dates show one."""
    found = {name: evident_granularity(days) for name, days in days_of.items()}
    return {name: cadence for name, cadence in found.items() if cadence is not None}


WEEKLY_BOOKINGS = 8  # non-zero days all on one weekday that make a weekly booking (a sparse daily count: 7 / 7**8 by chance)
BOOKING_WINDOW_DAYS = 7  # a moving booking day stays this close to one place in the month (the last business day)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Booking:
    """A daily count booked once a period: `granularity` (monthly, weekly or fortnightly)
    and the day its non-zero values fall on, in words ("the 1st", "the last business day",
    "Fridays", "every other Friday")."""

    granularity: str
    day: str
    weekday: int | None = None  # weekly, fortnightly: the weekday (0 = Monday) of its rows
    first: dt.date | None = None  # fortnightly: its first booking day (which weeks are its own)

    @property
    def reason(self) -> str:
        """Why ingest read the count at this granularity: "booked monthly: values fall on the 1st"."""
        return f"booked {self.granularity}: values fall on {self.day}"


def booking_of(nonzero_days: pl.Series) -> Booking | None | bool:
    """How a count's non-zero values fall (its sorted distinct non-zero days): on one day
    of each calendar month, or on one weekday. Invoices on the 1st, renewals on the 15th,
    closes on the last business day, payroll on Fridays: zero, or no row, on every other
    day, so the metric is a monthly or weekly series, not a daily one of a spike a period.

    Monthly: the same day of the month, or months' last days, on at least four days (a
    quarter of months, `RUN_STEPS`); or at most one non-zero day in each calendar month
    and one in at least three months of four from the first to the last, on at least four
    days, all within `BOOKING_WINDOW_DAYS` of one place counted from the month's start or
    its end (the first or last business day, the second Tuesday). Weekly: one weekday on at least `WEEKLY_BOOKINGS` days;
    fortnightly when those days are also a whole number of fortnights apart (payroll
    every other Friday: read weekly, every other week was a zero). A sparse daily
    count has months with two non-zero days and months with none, and days on every
    weekday: measured in `benchmarks/booking_days.py`.

    Returns:
        The Booking; None when too few such days cannot tell (a month's file of a count
        booked monthly holds one); False otherwise.
    """
    days = nonzero_days.drop_nulls()
    if days.len() == 0:
        return None
    monthly = _monthly_booking(days)
    if monthly is not None:
        return monthly if days.len() >= RUN_STEPS["monthly"] + 1 else None
    if days.dt.weekday().n_unique() == 1:
        if days.len() < WEEKLY_BOOKINGS:
            return None
        weekday = int(days[0].weekday())
        if bool((days.diff().drop_nulls().dt.total_days() % 14 == 0).all()):
            return Booking("fortnightly", f"every other {_WEEKDAYS[weekday]}", weekday, days[0])
        return Booking("weekly", f"{_WEEKDAYS[weekday]}s", weekday)
    return False


def _monthly_booking(days: pl.Series) -> Booking | None:
    """The monthly Booking these non-zero days fit, however few they are; None when they fit none."""
    if days.dt.day().n_unique() == 1:
        return Booking("monthly", _ordinal(int(days[0].day)))
    month_ends = days.dt.month_end()
    if bool((days == month_ends).all()):
        return Booking("monthly", "the last day")
    months = days.dt.year().cast(pl.Int32) * 12 + days.dt.month().cast(pl.Int32)
    if not bool((months.diff().drop_nulls() > 0).all()):  # two in a month
        return None
    if 4 * days.len() < 3 * (months[-1] - months[0] + 1):  # a booking a month, not one in a few of them
        return None
    business = _business_days(days)
    if bool((days == business["first"]).all()):
        return Booking("monthly", "the first business day")
    if bool((days == business["last"]).all()):
        return Booking("monthly", "the last business day")
    from_start, to_end = days.dt.day(), (month_ends - days).dt.total_days()
    spread_start, spread_end = from_start.max() - from_start.min(), to_end.max() - to_end.min()
    if min(spread_start, spread_end) >= BOOKING_WINDOW_DAYS:
        return None
    if spread_start <= spread_end:  # counted from the month's start, or from its end: the closer fit
        return Booking("monthly", f"one day from {_ordinal(from_start.min())} to {_ordinal(from_start.max())}")
    return Booking("monthly", f"one of the last {to_end.max() + 1} days")


def _business_days(days: pl.Series) -> pl.DataFrame:
    """The first and the last Monday-to-Friday day of each day's month (public holidays
    are not known here: a close moved by one reads as a day within a week of the end)."""
    month = pl.DataFrame({"start": days.dt.month_start(), "end": days.dt.month_end()})
    start_day, end_day = pl.col("start").dt.weekday(), pl.col("end").dt.weekday()  # 1 = Monday .. 7 = Sunday
    return month.select(
        first=pl.col("start") + pl.duration(days=pl.when(start_day >= 6).then(8 - start_day).otherwise(0)),
        last=pl.col("end") - pl.duration(days=(end_day - 5).clip(0, 2)),
    )


def _ordinal(day: int) -> str:
    """"the 1st", "the 22nd"."""
    return f"the {day}{'th' if 10 <= day % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th')}"


def may_be_booked(declared: str | None) -> bool:
    """Whether a count whose config declares `declared` (None: nothing) may be read as
    booked: a declared weekly or monthly granularity is then dated as its booking says."""
    return declared in (None, "weekly", "fortnightly", "monthly")


def agreeing(bookings: dict[str, Booking], declared: Mapping[str, str | None]) -> dict[str, Booking]:
    """The bookings whose granularity is the one the config declares for their metric, if any."""
    return {m: b for m, b in bookings.items() if declared.get(m) in (None, b.granularity)}


def with_bookings(
    cadences: dict[str, str], nonzero_days_of: dict[str, pl.Series], candidates: Sequence[str]
) -> tuple[dict[str, str], dict[str, Booking]]:
    """`cadences` with each of `candidates` (count metrics whose own dates read daily)
    that is booked once a period (`booking_of`, by its non-zero days `nonzero_days_of`)
    made monthly or weekly, and those too few to tell left out (the store's or the file's
    granularity decides); and the bookings found, by metric."""
    judged = {name: booking_of(nonzero_days_of.get(name, pl.Series([], dtype=pl.Date))) for name in candidates}
    bookings = {name: verdict for name, verdict in judged.items() if isinstance(verdict, Booking)}
    kept = {name: cadence for name, cadence in cadences.items() if judged.get(name, False) is False}
    return kept | {name: booking.granularity for name, booking in bookings.items()}, bookings
