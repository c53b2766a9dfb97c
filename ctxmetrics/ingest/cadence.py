"""Each metric's cadence, read from its own dates: one file may hold a daily metric beside
a weekly, monthly, quarterly or yearly one, each stored and scanned at its own frequency.

Leads every day, pipeline value every Monday, quota attainment on each month's first: the
weekly metric is no daily series whose days between the weekly rows are zeros or gaps.

The long and wide layouts (`layouts.py`) and the Parquet fast path (`fast_parquet.py`)
all judge a file's metrics with these functions, so they agree.
"""
from __future__ import annotations

from typing import Sequence

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


def booked_monthly(nonzero_days: pl.Series) -> bool | None:
    """Whether a count's non-zero values fall on one day a month (sorted distinct days):
    all on the same day of the month, or all on months' last days. Invoices booked on the
    1st, renewals on the 15th: zero, or no row, on every other day, so the metric is a
    monthly series, not a daily one of a spike a month. A sparse daily count (0.5 events a
    day) has its non-zero days on many days of the month.

    Returns:
        True over at least a quarter of months (`RUN_STEPS`: four such days); None when
        fewer such days cannot tell (a month's file of a metric booked monthly holds one);
        False otherwise.
    """
    days = nonzero_days.drop_nulls()
    one_day = days.len() == 0 or days.dt.day().n_unique() == 1 or bool((days == days.dt.month_end()).all())
    if not one_day:
        return False
    return True if days.len() >= RUN_STEPS["monthly"] + 1 else None


def booking_words(nonzero_days: pl.Series) -> str:
    """The day a count `booked_monthly` falls on, in words: "the 15th", "the last day"."""
    if nonzero_days.len() == 0:
        return "one day"
    day = int(nonzero_days[0].day)
    if day != 1 and bool((nonzero_days == nonzero_days.dt.month_end()).all()):
        return "the last day"
    return f"the {day}{'th' if 10 <= day % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th')}"


def with_monthly_bookings(
    cadences: dict[str, str], nonzero_days_of: dict[str, pl.Series], candidates: Sequence[str]
) -> dict[str, str]:
    """`cadences` with each of `candidates` (count metrics whose own dates read daily) that
    is `booked_monthly` by its non-zero days (`nonzero_days_of`) made monthly, and those
    too few to tell left out (the store's or the file's granularity decides)."""
    judged = {name: booked_monthly(nonzero_days_of.get(name, pl.Series([], dtype=pl.Date))) for name in candidates}
    kept = {name: cadence for name, cadence in cadences.items() if judged.get(name, False) is False}
    return kept | {name: "monthly" for name, verdict in judged.items() if verdict}
