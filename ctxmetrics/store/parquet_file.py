"""DuckDB reading a long-format Parquet file for ingest's fast path: the column types, the
value and date columns' statistics, the labels, whether the keys are unique (grouped, or
by key hashes) and the distinct days, and the SELECT that yields the file's rows as
observations, checking the values (`ingest/fast_parquet.py` decides what to accept).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ctxmetrics.store.database import Store, quote_ident

_READER = "read_parquet(?)"


@dataclass(frozen=True)
class Labels:
    """What one ungrouped pass over the file says: rows, null dates, and per label column
    its nulls and distinct values (null among them when there is one)."""

    rows: int
    null_dates: int
    nulls: list[int]
    distinct: list[list]


def column_types(store: Store, path: Path) -> dict[str, str]:
    """Column name -> DuckDB type, in file order."""
    return {r[0]: r[1] for r in store.query_rows(f"describe select * from {_READER}", [str(path)])[1]}


def value_statistics(store: Store, path: Path) -> tuple:
    """(nulls, min, max) of the value column by the file's row-group statistics, without
    reading the values; min or max is None when a row group lacks it (NaN never counts)."""
    return store.query_rows(
        "select sum(stats_null_count), min(try_cast(stats_min_value as double)), max(try_cast(stats_max_value as double)) "
        "from parquet_metadata(?) where path_in_schema = 'value'",
        [str(path)],
    )[1][0]


def date_span(store: Store, path: Path, date_col: str) -> tuple[int, int] | None:
    """The first and last day (days since 1970-01-01) by the file's row-group statistics,
    without reading the dates; None when a row group lacks them."""
    found = store.query_rows(
        "select min(try_cast(stats_min_value as date) - DATE '1970-01-01'), "
        "max(try_cast(stats_max_value as date) - DATE '1970-01-01'), "
        "count(*) filter (where try_cast(stats_min_value as date) is null or try_cast(stats_max_value as date) is null) "
        "from parquet_metadata(?) where path_in_schema = ?",
        [str(path), date_col],
    )[1][0]
    return None if found[2] or found[0] is None else (found[0], found[1])


def labels(store: Store, path: Path, date_col: str, labels: list[str]) -> Labels:
    """One pass without grouping (cheap: no hash table): rows, null dates and each label
    column's nulls and distinct values."""
    q = {name: quote_ident(name) for name in [date_col, *labels]}
    found = store.query_rows(
        f"select count(*), count(*) - count({q[date_col]}), "
        + ", ".join(f"count(*) - count({q[c]})" for c in labels) + ", "
        + ", ".join(f"list(distinct {q[c]})" for c in labels)
        + f" from {_READER}",
        [str(path)],
    )[1][0]
    n = len(labels)
    return Labels(found[0], found[1], list(found[2:2 + n]), list(found[2 + n:2 + 2 * n]))


def repeats_and_day_blocks(
    store: Store, path: Path, date_col: str, dims: dict[str, str | None], by_metric: bool = False
) -> tuple[int, list[tuple]]:
    """One pass grouped by the hash of the labels as stored and by 64-day block of the
    dates: how many groups have more rows than distinct days in their day bitmap (a key
    that comes twice always makes one; two label combinations with the same hash could
    too, which only sends the file to the careful path), and the distinct days as
    (block, mask) pairs where bit i of block b's mask is day 64 * b + i since 1970-01-01.
    Grouping by one hash rather than by the label columns themselves costs ~35% less.
    `dims` maps each dimension column to the value its empty cells are stored as (None: as
    read). Its cost grows with the groups: for files with many rows per group.
    `by_metric`: the masks are per metric, (metric, block, mask) triples: each metric's
    own days (the metric is then a group key of its own, exact where the hash is not)."""
    day = f"({quote_ident(date_col)} - DATE '1970-01-01')"
    stored = ", ".join([quote_ident("metric"), *(_label_expr(d, m) for d, m in dims.items())])
    metric, key = (f"{quote_ident('metric')} as m, ", "m, ") if by_metric else ("", "")
    found = store.query_rows(
        f"""with g as materialized (
              select {metric}hash({stored}) as h, {day} >> 6 as blk, count(*) as n,
                bit_or(1::ubigint << ({day} & 63)) as mask
              from {_READER} group by all)
            select count(*) filter (where n <> bit_count(mask)),
              (select list(({key}blk, mask)) from
                (select {key}blk, bit_or(mask) as mask from g where blk is not null group by all))
            from g""",
        [*(m for m in dims.values() if m is not None), str(path)],
    )[1][0]
    return found[0], [tuple(b) for b in found[1] or []]


def key_hashes(store: Store, path: Path, date_col: str, dims: dict[str, str | None]):
    """The hash of every row's key (metric, day, dimensions as stored) as a numpy array,
    for files with few rows per label combination and 64-day block, where hashing every
    key costs less than grouping (`repeats_and_day_blocks`); `dims` as there."""
    exprs = [quote_ident("metric"), quote_ident(date_col), *(_label_expr(d, m) for d, m in dims.items())]
    params = [m for m in dims.values() if m is not None]
    return store.query_numpy(f"select hash({', '.join(exprs)}) as h from {_READER}", [*params, str(path)])["h"]


def distinct_days(store: Store, path: Path, date_col: str):
    """The distinct values of the date column (numpy)."""
    return store.query_numpy(f"select distinct {quote_ident(date_col)} from {_READER}", [str(path)])[date_col]


def metric_days(store: Store, path: Path, date_col: str) -> list[tuple[str, list[int]]]:
    """Each metric's distinct days (days since 1970-01-01, unsorted)."""
    day = f"({quote_ident(date_col)} - DATE '1970-01-01')"
    return store.query_rows(
        f"select {quote_ident('metric')}, list(distinct {day}) from {_READER} group by all", [str(path)]
    )[1]


def nonzero_metric_days(store: Store, path: Path, date_col: str, metrics: list[str]) -> list[tuple[str, list[int]]]:
    """Each of `metrics`' distinct days with a non-zero value (days since 1970-01-01, unsorted)."""
    day = f"({quote_ident(date_col)} - DATE '1970-01-01')"
    in_metrics = ", ".join("?" for _ in metrics)
    return store.query_rows(
        f"select {quote_ident('metric')}, list(distinct {day}) from {_READER} "
        f"where {quote_ident('value')} != 0 and {quote_ident('metric')} in ({in_metrics}) group by all",
        [str(path), *metrics],
    )[1]


def _label_expr(column: str, missing: str | None) -> str:
    """A label column as stored: as read, or with empty cells as `missing` (a bound value)."""
    return quote_ident(column) if missing is None else f"coalesce(nullif({quote_ident(column)}, ''), ?)"


def observations_sql(
    path: Path, date_col: str, value_is_double: bool, dims: dict[str, str | None], limit: float
) -> tuple[str, list]:
    """The SELECT (and parameters) yielding the file's rows as metric, ts, value and the
    dimension columns, for `Store.upsert_from`. A value that is null, not finite, negative
    or above `limit` fails the statement (so the upsert rolls back): checked while the
    insert reads the values anyway, rather than in a pass of its own."""
    value = quote_ident("value") if value_is_double else f"{quote_ident('value')}::double"
    checked = (f"case when {value} is null or not isfinite({value}) or {value} < 0 or {value} > ? "
               f"then error('a value the fast path does not take') else {value} end")
    columns = [f"{quote_ident('metric')} as metric", f"{quote_ident(date_col)} as ts", f"{checked} as value",
               *(f"{_label_expr(d, m)} as {quote_ident(d)}" for d, m in dims.items())]
    params = [m for m in dims.values() if m is not None]
    return f"select {', '.join(columns)} from {_READER}", [limit, *params, str(path)]
