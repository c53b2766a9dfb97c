"""DuckDB reading a long-format Parquet file for ingest's fast path: the column types, a
profile of the values, the distinct days, whether the keys are unique, and the SELECT
that yields the file's rows as observations (`ingest._fast_long` decides what to accept).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ctxmetrics.store.database import Store, quote_ident

_READER = "read_parquet(?)"


@dataclass(frozen=True)
class Profile:
    """What one pass over the file says: rows, rows with a bad value (null, not finite,
    negative or above `limit`), null dates, date span, and per label column its nulls and
    distinct values."""

    rows: int
    bad_values: int
    null_dates: int
    span: tuple
    nulls: list[int]
    distinct: list[list]


def column_types(store: Store, path: Path) -> dict[str, str]:
    """Column name -> DuckDB type, in file order."""
    return {r[0]: r[1] for r in store.query_rows(f"describe select * from {_READER}", [str(path)])[1]}


def profile(store: Store, path: Path, date_col: str, labels: list[str], limit: float) -> Profile:
    q = {name: quote_ident(name) for name in [date_col, "value", *labels]}
    found = store.query_rows(
        f"select count(*), count_if({q['value']} is null or not isfinite({q['value']}) "
        f"or {q['value']} < 0 or {q['value']} > ?), "
        f"count_if({q[date_col]} is null), min({q[date_col]}), max({q[date_col]}), "
        + ", ".join(f"count_if({q[c]} is null)" for c in labels) + ", "
        + ", ".join(f"list(distinct {q[c]})" for c in labels)
        + f" from {_READER}",
        [limit, str(path)],
    )[1][0]
    return Profile(found[0], found[1], found[2], (found[3], found[4]), list(found[5:5 + len(labels)]),
                   list(found[5 + len(labels):]))


def distinct_days(store: Store, path: Path, date_col: str):
    """The distinct values of the date column (numpy); a grouped distinct runs in parallel,
    `list(distinct)` in `profile` would not."""
    return store.query_numpy(f"select distinct {quote_ident(date_col)} from {_READER}", [str(path)])[date_col]


def _label_expr(column: str, missing: str | None) -> str:
    """A label column as stored: as read, or with empty cells as `missing` (a bound value)."""
    return quote_ident(column) if missing is None else f"coalesce(nullif({quote_ident(column)}, ''), ?)"


def key_hashes(store: Store, path: Path, date_col: str, dims: dict[str, str | None]):
    """The hash of every row's key (metric, day, dimensions as stored) as a numpy array;
    `dims` maps each dimension column to the value its empty cells get (None: as read)."""
    exprs = [quote_ident("metric"), quote_ident(date_col), *(_label_expr(d, m) for d, m in dims.items())]
    params = [m for m in dims.values() if m is not None]
    found = store.query_numpy(f"select hash({', '.join(exprs)}) as h from {_READER}", [*params, str(path)])
    return found["h"]


def observations_sql(path: Path, date_col: str, value_is_double: bool, dims: dict[str, str | None]) -> tuple[str, list]:
    """The SELECT (and parameters) yielding the file's rows as metric, ts, value and the
    dimension columns, for `Store.upsert_from`."""
    value = quote_ident("value") if value_is_double else f"{quote_ident('value')}::double"
    columns = [f"{quote_ident('metric')} as metric", f"{quote_ident(date_col)} as ts", f"{value} as value",
               *(f"{_label_expr(d, m)} as {quote_ident(d)}" for d, m in dims.items())]
    params = [m for m in dims.values() if m is not None]
    return f"select {', '.join(columns)} from {_READER}", [*params, str(path)]
