"""DuckDB reading a long-format Parquet file for ingest's fast path: the column types, a
profile of the values (with the distinct days and whether the keys are unique), and the
SELECT that yields the file's rows as observations (`ingest._fast_long` decides what to
accept).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ctxmetrics.store.database import Store, quote_ident

_READER = "read_parquet(?)"


@dataclass(frozen=True)
class Profile:
    """What one pass over the file says: rows, rows with a bad value (null, not finite,
    negative or above `limit`), null dates, date span, per label column its nulls and
    distinct values, how many keys come more than once (as stored: an empty or null
    dimension cell is stored as the same value), and the distinct days as bitmaps:
    (block, mask) pairs where bit i of block b's mask is day 64 * b + i since 1970-01-01."""

    rows: int
    bad_values: int
    null_dates: int
    span: tuple
    nulls: list[int]
    distinct: list[list]
    repeated_keys: int
    day_blocks: list[tuple[int, int]]


def column_types(store: Store, path: Path) -> dict[str, str]:
    """Column name -> DuckDB type, in file order."""
    return {r[0]: r[1] for r in store.query_rows(f"describe select * from {_READER}", [str(path)])[1]}


def profile(store: Store, path: Path, date_col: str, labels: list[str], limit: float, missing: str) -> Profile:
    """One pass over the file, grouped by its labels and by 64-day block of its dates: the
    per-row work is one cheap group-by, and everything else (nulls, distinct labels,
    distinct days, repeated keys) is found from the few groups. A key comes twice exactly
    when a (labels as stored, block) group has more rows than distinct days in its mask.
    `missing` is the value an empty or null dimension cell is stored as."""
    q = {name: quote_ident(name) for name in [date_col, "value", *labels]}
    day = f"({q[date_col]} - DATE '1970-01-01')"
    grouped = ", ".join(q[c] for c in labels)
    # the key as stored: metric as read, an empty dimension cell as `missing`
    stored = ", ".join([q[labels[0]], *(_label_expr(c, missing) for c in labels[1:])])
    found = store.query_rows(
        f"""with g as materialized (
              select {grouped}, {day} >> 6 as blk, count(*) as n,
                count_if({q['value']} is null or not isfinite({q['value']}) or {q['value']} < 0 or {q['value']} > ?) as bad,
                count_if({q[date_col]} is null) as null_dates, min({q[date_col]}) as lo, max({q[date_col]}) as hi,
                bit_or(1::ubigint << ({day} & 63)) as days
              from {_READER} group by all)
            select sum(n), sum(bad), sum(null_dates), min(lo), max(hi),
              {", ".join(f"coalesce(sum(n) filter (where {q[c]} is null), 0)" for c in labels)},
              {", ".join(f"list(distinct {q[c]})" for c in labels)},
              (select count(*) from (select 1 from g group by {stored}, blk having sum(n) <> bit_count(bit_or(days)))),
              (select list((blk, days)) from (select blk, bit_or(days) as days from g where blk is not null group by blk))
            from g""",
        [limit, str(path), *([missing] * (len(labels) - 1))],
    )[1][0]
    n = len(labels)
    return Profile(found[0], found[1], found[2], (found[3], found[4]), list(found[5:5 + n]),
                   list(found[5 + n:5 + 2 * n]), found[5 + 2 * n], [tuple(b) for b in found[6 + 2 * n] or []])


def _label_expr(column: str, missing: str | None) -> str:
    """A label column as stored: as read, or with empty cells as `missing` (a bound value)."""
    return quote_ident(column) if missing is None else f"coalesce(nullif({quote_ident(column)}, ''), ?)"


def observations_sql(path: Path, date_col: str, value_is_double: bool, dims: dict[str, str | None]) -> tuple[str, list]:
    """The SELECT (and parameters) yielding the file's rows as metric, ts, value and the
    dimension columns, for `Store.upsert_from`."""
    value = quote_ident("value") if value_is_double else f"{quote_ident('value')}::double"
    columns = [f"{quote_ident('metric')} as metric", f"{quote_ident(date_col)} as ts", f"{value} as value",
               *(f"{_label_expr(d, m)} as {quote_ident(d)}" for d, m in dims.items())]
    params = [m for m in dims.values() if m is not None]
    return f"select {', '.join(columns)} from {_READER}", [*params, str(path)]
