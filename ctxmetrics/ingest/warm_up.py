"""The first days of a records export's later stages, which the export covers only in part.

A contacts export of the contacts created since Jan 1 (or a deals export of the deals
created since then) holds no record whose first date falls before Jan 1. A later stage's
count on Jan 3 (MQLs: contacts that became leads a few days earlier) then lacks every
record that started before the export: it reads low until the usual time from the first
date to that stage has passed, a rise that is the export's, not the business's. Those days
are left out and said, as an event log's thin edge days are (`log_edges`).

The time to a stage is read off the file's own records that hold both dates; the days cut
are those before most (`SHARE_ARRIVED`) of a stage's records have had time to arrive.
"""
from __future__ import annotations

import datetime as dt
import math

import polars as pl

SHARE_ARRIVED = 0.9  # of a stage's records reached within the cut: the first kept day lacks at most the rest
MIN_RECORDS = 30  # records with both dates the time to a stage is read from
FOLLOWS_SHARE = 0.95  # of those, on or after the first date: the stage follows it (not a date before it)
MAX_SHARE_OF_SPAN = 1 / 3  # a longer warm-up is said, not cut: too much of the file would go


def warm_up_days(first_days: pl.Series, stage_days: pl.Series) -> int:
    """How many days from the export's start a stage's counts lack records that started before
    it: the time most records take from their first date (`first_days`) to the stage
    (`stage_days`, the same records, null where not reached); 0 when the stage does not
    follow the first date or too few records show it."""
    both = pl.DataFrame({"first": first_days, "stage": stage_days}).drop_nulls()
    if both.height < MIN_RECORDS:
        return 0
    lags = (both["stage"] - both["first"]).dt.total_days()
    if float((lags >= 0).mean()) < FOLLOWS_SHARE:
        return 0
    return max(0, math.ceil(float(lags.quantile(SHARE_ARRIVED, interpolation="higher"))))


def cut_warm_up(frame: pl.DataFrame, metrics: list[str], days: int, export_start: dt.date, first_metric: str,
                path) -> tuple[pl.DataFrame, str | None]:
    """`frame` (metric, ts, value, ...) without the first `days` days from `export_start`
    of `metrics` (stages whose records arrive alike: one cut, said once), and what to say;
    a warm-up over a third of the file is only said."""
    if days <= 0:
        return frame, None
    last = frame["ts"].max()
    span = (last - export_start).days + 1
    until = export_start + dt.timedelta(days=days - 1)
    named = metrics[0] if len(metrics) == 1 else ", ".join(metrics[:-1]) + f" and {metrics[-1]}"
    their = "its" if len(metrics) == 1 else "their"
    why = (f"the file holds no record whose {first_metric} date is before {export_start}, and "
           f"{SHARE_ARRIVED:.0%} of its records reach {named} within {days} day{'s' if days != 1 else ''} of theirs")
    if days > MAX_SHARE_OF_SPAN * span:
        return frame, (f"{path}: {named}: {their} first {days} days ({export_start} to {until}) read low: {why}; "
                       "an export that also holds the records started earlier counts them in full.")
    kept = frame.filter(~pl.col("metric").is_in(metrics) | (pl.col("ts") > until))
    return kept, (f"{path}: {named}: {their} first {days} day{'s' if days != 1 else ''} ({export_start} to {until}) "
                  f"are left out: {why}, so those days count too few and would read as a rise of their own.")
