"""The fast path of `ingest` for one long-format Parquet file: DuckDB reads and checks the
file itself, and the polars path runs only when it cannot vouch for every row."""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import duckdb
import numpy as np
import polars as pl

from ctxmetrics.errors import CtxError
from ctxmetrics.ingest.cells import _CONTROL, MAX_MAGNITUDE, MISSING_DIMENSION_VALUE, _all_differ
from ctxmetrics.ingest.columns import _date_column, _dimension_columns, _require
from ctxmetrics.ingest.cadence import Booking, agreeing, first_cadence_change, may_be_booked, metric_cadences, with_bookings
from ctxmetrics.ingest.dates import BadCell, check_plausible, granularity_of
from ctxmetrics.ingest.sources import _check_header, _Source
from ctxmetrics.store.database import Store

# The polars path (layouts.py, cells.py) is the reference: it defines what is accepted and every error
# message. The fast path only ever says "this file is certainly fine, and here is the SQL
# that yields exactly what the polars path would make of it" or "don't know" (None); on
# "don't know" the polars path runs and accepts the file or reports the precise error. So
# it never reports an error itself and accepts a subset of what the polars path accepts:
# typed columns (DATE day, numeric value, text labels), labels that need no cleaning
# (checked on their distinct values with the polars path's own stripping), keys that all
# differ, values that are finite and within range. The file is read three or four times
# (the labels; the keys and days, in one grouped pass or as key hashes and distinct days;
# then the insert, which checks the values as it reads them), which for columnar Parquet
# costs less than materialising it once in polars and handing it over. The keys are
# grouped by labels and 64-day block when the file has many rows per group, else every
# key is hashed: grouping costs per group, hashing per row.
# CSV stays on the polars path: measured, its multi-threaded parse plus Arrow hand-over
# beat DuckDB parsing twice (or parsing once into a temporary table) by ~20% CPU.
# From this many rows per (labels, 64-day block) group, grouping beats hashing every key.
# Measured (CPU, DuckDB 2.0, 2 shared cores): hashing costs ~0.05 s per 1M rows at any
# density; grouping 0.15 s per 1M rows at 1 row per group, 0.08 s at 6, 0.022 s at 61.
DENSE_ROWS_PER_GROUP = 16
_NUMERIC = {"DOUBLE", "FLOAT", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}


@dataclass(frozen=True)
class _Fast:
    sql: str
    params: list
    dims: list[str]
    rows: int
    span: tuple[dt.date, dt.date]
    metrics: list[str]
    granularity: str | None
    cadences: dict[str, str]  # each metric's granularity where its own dates show one
    bookings: dict[str, Booking]  # the counts booked once a month (`cadence.booking_of`)


def _fast_long(
    store: Store, src: _Source, dims: list[str], known: list[str], declared: Mapping[str, str] = MappingProxyType({}),
    not_counts: frozenset[str] = frozenset(),
) -> _Fast | None:
    """The fast path's SQL and what it found, or None; `declared`: the granularity the
    config declares, by metric (their dates may change cadence); `not_counts`: the
    metrics the config types otherwise than count (never read as booked)."""
    from ctxmetrics.store import parquet_file

    if src.kind != "parquet":
        return None
    try:
        columns = parquet_file.column_types(store, src.path)
        names = list(columns)
        if names != pl.read_parquet_schema(src.path).names():  # the polars path's names, or don't know
            return None
        _check_header(src, names)
        if not {"metric", "value"} <= set(names):
            return None  # other names, or missing ones: the careful path finds or names them
        date_col = _date_column(src, names, {})
        _require(src, names, (date_col, "metric", "value"), "long")
        dim_cols = _dimension_columns(src, [c for c in names if c not in (date_col, "metric", "value")], dims, known)
        labels = ["metric", *dim_cols]
        if columns[date_col] != "DATE" or columns["value"] not in _NUMERIC:
            return None
        if any(columns[c] != "VARCHAR" for c in labels):
            return None
        # Negative values (refused for counts) and absurd ones go to the polars path,
        # which decides and names the row: at once when the row-group statistics show
        # them, else when the insert meets one (observations_sql) and rolls back.
        nulls, least, most = parquet_file.value_statistics(store, src.path)
        if nulls or (least is not None and least < 0) or (most is not None and most > MAX_MAGNITUDE):
            return None
        found = parquet_file.labels(store, src.path, date_col, labels)
        if found.rows == 0 or found.null_dates or found.nulls[0]:
            return None
        metrics = found.distinct[0]
        if not _clean(metrics, blank_ok=False) or not all(_clean(v, blank_ok=True) for v in found.distinct[1:]):
            return None
        # An empty dimension cell is stored as MISSING_DIMENSION_VALUE; a column without
        # any is inserted as read, which keeps DuckDB's dictionary vectors (cheaper to store).
        stored_as = {
            d: MISSING_DIMENSION_VALUE if n or "" in values else None
            for d, n, values in zip(dim_cols, found.nulls[1:], found.distinct[1:])
        }
        several = len(metrics) > 1  # then each metric's own days are read too (`cadence`)
        if _many_rows_per_group(found, parquet_file.date_span(store, src.path, date_col)):
            repeated, blocks = parquet_file.repeats_and_day_blocks(store, src.path, date_col, stored_as, several)
            if repeated:
                return None
            days_of = _metric_days_of_blocks(blocks) if several else {metrics[0]: _days_of_blocks(blocks)}
        else:
            hashes = parquet_file.key_hashes(store, src.path, date_col, stored_as)
            if len(hashes) != found.rows or not _all_differ(hashes):  # a repeat, or a hash collision
                return None
            if several:
                days_of = {
                    metric: pl.Series(sorted(own), dtype=pl.Int32).cast(pl.Date)
                    for metric, own in parquet_file.metric_days(store, src.path, date_col)
                }
            else:
                days_of = {metrics[0]: pl.Series(parquet_file.distinct_days(store, src.path, date_col)).cast(pl.Date)}
        all_days = pl.concat(list(days_of.values())) if several else days_of[metrics[0]]
        distinct_days = check_plausible(all_days)  # BadCell: the polars path names the row
        sql, params = parquet_file.observations_sql(
            src.path, date_col, columns["value"] == "DOUBLE", stored_as, MAX_MAGNITUDE
        )
        if first_cadence_change(days_of, declared) is not None:
            return None  # the polars path decides, and names the row
        span = (distinct_days[0], distinct_days[-1])
        cadences = metric_cadences(days_of)
        counts = [m for m, c in cadences.items() if c == "daily" and m not in not_counts and may_be_booked(declared.get(m))]
        bookings: dict[str, Booking] = {}
        if counts and (least is None or least > 0):  # no zeros: a booked count's rows are its booking days
            cadences, bookings = with_bookings(cadences, days_of, counts)
        elif counts:  # a count booked on one day a month is monthly (`cadence.booking_of`)
            nonzero = {
                metric: pl.Series(sorted(own), dtype=pl.Int32).cast(pl.Date)
                for metric, own in parquet_file.nonzero_metric_days(store, src.path, date_col, counts)
            }
            cadences, bookings = with_bookings(cadences, nonzero, counts)
        bookings = agreeing(bookings, declared)
        if any(b.granularity in ("weekly", "fortnightly") for b in bookings.values()):
            return None  # its zeros off the booking weekday are dropped (`cells.on_booking_days`): the polars path
        return _Fast(sql, params, dim_cols, found.rows, span, metrics, granularity_of(distinct_days), cadences, bookings)
    except (CtxError, BadCell, duckdb.Error, pl.exceptions.PolarsError, OSError, ValueError):
        return None


def _clean(values: list, blank_ok: bool) -> bool:
    """Distinct labels need no cleaning (stripped already, not blank unless allowed) and
    hold no control characters."""
    series = pl.Series(values, dtype=pl.Utf8)
    if not series.str.strip_chars().equals(series, check_names=False, null_equal=True):
        return False
    if series.str.contains(_CONTROL).any():
        return False
    return blank_ok or not (series == "").any()


def _many_rows_per_group(found, span: tuple[int, int] | None) -> bool:
    """Whether the file has certainly at least DENSE_ROWS_PER_GROUP rows per label
    combination and 64-day block of its `span` (days since 1970-01-01; None: unknown),
    taking every combination of the distinct labels as present (an upper bound on the
    groups, so correlated labels make a dense file look sparse: it then costs what
    hashing every key costs, never more)."""
    if span is None:
        return False
    groups = math.prod(len(values) for values in found.distinct) * ((span[1] >> 6) - (span[0] >> 6) + 1)
    return found.rows >= DENSE_ROWS_PER_GROUP * groups


def _metric_days_of_blocks(blocks: list[tuple[str, int, int]]) -> dict[str, pl.Series]:
    """Each metric's days from (metric, block, mask) triples (`_days_of_blocks`)."""
    by_metric: dict[str, list[tuple[int, int]]] = {}
    for metric, block, mask in blocks:
        by_metric.setdefault(metric, []).append((block, mask))
    return {metric: _days_of_blocks(own) for metric, own in by_metric.items()}


def _days_of_blocks(blocks: list[tuple[int, int]]) -> pl.Series:
    """The days set in `parquet_file.repeats_and_day_blocks` bitmaps (bit i of block b's
    mask: day 64 * b + i since 1970-01-01), sorted."""
    block = np.array([b for b, _ in blocks], dtype=np.int64).reshape(-1, 1)
    mask = np.array([m for _, m in blocks], dtype="<u8").reshape(-1, 1)
    bits = np.unpackbits(mask.view(np.uint8), axis=1, bitorder="little").astype(bool)
    days = (block * 64 + np.arange(64))[bits]
    return pl.Series(np.sort(days)).cast(pl.Int32).cast(pl.Date)
