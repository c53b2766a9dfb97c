"""DuckDB reading a long-format Parquet file for ingest's fast path: the column types, the
value column's statistics, a profile of the keys (with the distinct days and whether the
keys are unique), and the SELECT that yields the file's rows as observations, checking
the values (`ingest._fast_long` decides what to accept).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ctxmetrics.store.database import Store, quote_ident

_READER = "read_parquet(?)"


@dataclass(frozen=True)
class Profile:
    """What one pass over the file says: rows, null dates, per label column its nulls and
    distinct values, how many keys come more than once (as stored: an empty or null
    dimension cell is stored as the same value), and the distinct days as bitmaps:
    (block, mask) pairs where bit i of block b's mask is day 64 * b + i since 1970-01-01."""

    rows: int
    null_dates: int
    nulls: list[int]
    distinct: list[list]
    repeated_keys: int
    day_blocks: list[tuple[int, int]]


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


def profile(store: Store, path: Path, date_col: str, labels: list[str], missing: str) -> Profile:
    """One pass over the file, grouped by its labels and by 64-day block of its dates: the
    per-row work is one group-by, and everything else (nulls, distinct labels, distinct
    days, repeated keys) is found from the few groups. A key comes twice exactly when a
    (labels as stored, block) group has more rows than distinct days in its mask.
    `missing` is the value an empty or null dimension cell is stored as. The values are
    checked as they are inserted (`observations_sql`)."""
    q = {name: quote_ident(name) for name in [date_col, *labels]}
    day = f"({q[date_col]} - DATE '1970-01-01')"
    # the key as stored: metric as read, an empty dimension cell as `missing`
    stored = ", ".join([q[labels[0]], *(_label_expr(c, missing) for c in labels[1:])])
    found = store.query_rows(
        f"""with g as materialized (
              select {", ".join(q[c] for c in labels)}, {day} >> 6 as blk, count(*) as n,
                bit_or(1::ubigint << ({day} & 63)) as mask
              from {_READER} group by all)
            select coalesce(sum(n), 0), coalesce(sum(n) filter (where blk is null), 0),
              {", ".join(f"coalesce(sum(n) filter (where {q[c]} is null), 0)" for c in labels)},
              {", ".join(f"list(distinct {q[c]})" for c in labels)},
              (select count(*) from (select 1 from g group by {stored}, blk having sum(n) <> bit_count(bit_or(mask)))),
              (select list((blk, mask)) from (select blk, bit_or(mask) as mask from g where blk is not null group by blk))
            from g""",
        [str(path), *([missing] * (len(labels) - 1))],
    )[1][0]
    n = len(labels)
    return Profile(found[0], found[1], list(found[2:2 + n]), list(found[2 + n:2 + 2 * n]), found[2 + 2 * n],
                   [tuple(b) for b in found[3 + 2 * n] or []])


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
