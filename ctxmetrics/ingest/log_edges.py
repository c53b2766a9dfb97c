"""The first or last day of an event log (one row per payment or lead, at any time) that
the export covers only in part: a payments export of April that carries one refund of
May 1 at 03:12, or starts at 22:00 on its first day.

Such a day holds a handful of rows against the dozens of a usual day, and its sum reads as
a drop of its own (a lone refund: a negative day) that can hide a real change before it.
It is left out and said. A quiet day is kept: the rule asks for fewer than a quarter of the
median day's rows where the median day has at least `MIN_MEDIAN_ROWS`, which a day of
Poisson arrivals at that rate has with odds of about 3 in 1,000 (at 8 a day; far less at
more), and only at the file's two edges, where an export's cut falls.
"""
from __future__ import annotations

import datetime as dt
from statistics import median

import polars as pl

MIN_DAYS = 7  # days a usual day is measured on
MIN_MEDIAN_ROWS = 8
EDGE_SHARE = 0.25  # of the median day's rows, below which an edge day is cut short


def thin_edge_days(stamps: pl.Series) -> tuple[list[dt.date], list[str]]:
    """The edge days of local times `stamps` (one per row) to leave out, and what to say."""
    times = stamps.drop_nulls()
    per_day = times.dt.date().value_counts(sort=False)
    if per_day.height < MIN_DAYS:
        return [], []
    counts = dict(zip(per_day[per_day.columns[0]].to_list(), per_day["count"].to_list()))
    days = sorted(counts)
    usual = median(counts[d] for d in days[1:-1])
    if usual < MIN_MEDIAN_ROWS:
        return [], []
    cut, notes = [], []
    for day, edge in ((days[0], "start"), (days[-1], "end")):
        if counts[day] < EDGE_SHARE * usual:
            on_day = times.filter(times.dt.date() == day)
            span = f"{on_day.min():%H:%M}" if counts[day] == 1 else f"{on_day.min():%H:%M} to {on_day.max():%H:%M}"
            cut.append(day)
            notes.append(
                f"{day} has {counts[day]} row{'s' if counts[day] != 1 else ''} ({span}) against {usual:g} on the median "
                f"day: left out, since a day the export covers only in part at its {edge} would read as a change of "
                "its own; ingest a later export that holds the whole day."
            )
    return cut, notes
