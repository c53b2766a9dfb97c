"""Reading data files into observations: long, wide and raw funnel-event formats.

Every file is read and validated completely before anything is written, and all files
of one call are stored in one transaction, so a bad row leaves the store untouched.
Errors name the file, the line (CSV/JSON lines, counting the header as line 1) or row
(Parquet), and the column.
"""
from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import duckdb
import numpy as np
import polars as pl

from ctxmetrics.errors import InputError
from ctxmetrics.store import BASE_COLUMNS, Store, check_dimension_name, quote_ident

FORMATS = ("long", "wide", "events")
READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
MISSING_DIMENSION_VALUE = "(none)"  # an empty dimension cell still needs a value rollups can name
EVENT_COLUMNS = ("entity_id", "stage")
ROW = "__row"


@dataclass(frozen=True)
class IngestResult:
    files: int
    rows: int
    added: int
    replaced: int


@dataclass(frozen=True)
class _Source:
    path: Path
    kind: str  # csv | parquet | jsonl

    def line(self, row: int) -> int:
        """1-based line (text files; CSV has its header on line 1) or row (Parquet)."""
        return row + 2 if self.kind == "csv" else row + 1

    def position(self, row: int) -> str:
        return f"row {self.line(row)}" if self.kind == "parquet" else f"line {self.line(row)}"

    def where(self, row: int | None = None, column: str | None = None) -> str:
        """`file:line` for text files, `file: row N` for Parquet, plus the column."""
        text = str(self.path)
        if row is not None:
            text += f": row {self.line(row)}" if self.kind == "parquet" else f":{self.line(row)}"
        if column is not None:
            text += f": column '{column}'"
        return text


def ingest_paths(
    store: Store,
    paths: Sequence[Path | str],
    *,
    fmt: str = "long",
    dims: Sequence[str] = (),
    known_dimensions: Sequence[str] = (),
) -> IngestResult:
    """Validate every file, then upsert all of them in one transaction.

    Args:
        store: an open, writable store.
        paths: CSV, Parquet or JSON-lines files.
        fmt: `long` (date, metric, value, dimensions…), `wide` (date plus one column per
            metric; dimension columns named in `dims`) or `events` (entity_id, stage, ts,
            dimensions…; counted into daily stage counts).
        dims: dimension columns (required for `wide`; allowed extra dimensions otherwise).
        known_dimensions: the project's declared dimensions; when non-empty, any other
            column is an error unless listed in `dims` (it is most often a typo).

    Raises:
        InputError: the first problem found, naming file, line/row and column.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}.")
    sources = [_source(Path(p)) for p in paths]
    if fmt == "long" and len(sources) == 1:
        fast = _fast_long(store.con, sources[0], list(dims), list(known_dimensions))
        if fast is not None:
            try:
                added, replaced = store.upsert_from(
                    fast.sql, fast.params, fast.dims, fast.rows, span=fast.span, metrics=fast.metrics
                )
            except duckdb.Error:
                pass  # rolled back (the file changed since it was checked?): take the careful path
            else:
                return IngestResult(files=1, rows=fast.rows, added=added, replaced=replaced)
    frames = [_read_one(src, fmt, list(dims), list(known_dimensions)) for src in sources]
    frame = _combine(frames)
    added, replaced = store.upsert_observations(frame)
    return IngestResult(files=len(frames), rows=frame.height, added=added, replaced=replaced)


def _source(path: Path) -> _Source:
    if not path.exists():
        raise InputError(f"{path}: no such file.")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; name the data files.")
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"{path}: unknown file type '{path.suffix or '(none)'}'; use .csv, .parquet or .jsonl/.ndjson."
        )
    return _Source(path, kind)


def _read_raw(src: _Source) -> pl.DataFrame:
    try:
        if src.kind == "csv":
            # Everything as text first, so a bad cell is reported with its line, not guessed at.
            frame = pl.read_csv(src.path, infer_schema=False, row_index_name=ROW)
        elif src.kind == "parquet":
            frame = pl.read_parquet(src.path, row_index_name=ROW)
        else:
            frame = pl.read_ndjson(src.path, infer_schema_length=None).with_row_index(ROW)
    except pl.exceptions.NoDataError:
        frame = pl.DataFrame()
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{src.path}: cannot be read as {src.kind} ({message}).") from None
    if frame.height == 0:
        raise InputError(f"{src.path}: the file has no data rows.")
    return frame


def _read_one(src: _Source, fmt: str, dims: list[str], known_dimensions: list[str]) -> pl.DataFrame:
    raw = _read_raw(src)
    _check_header(src, raw.columns)
    if fmt == "long":
        frame = _long(src, raw, dims, known_dimensions)
    elif fmt == "wide":
        frame = _wide(src, raw, dims)
    else:
        frame = _events(src, raw, dims, known_dimensions)
    return frame


def _check_header(src: _Source, columns: list[str]) -> None:
    for name in columns:
        # polars renames a repeated name `x` to `x_duplicated_0`, `x_duplicated_1`, ...
        base, marker, number = name.rpartition("_duplicated_")
        if name == "" or (marker and number.isdigit() and (base in columns or base == "")):
            raise InputError(f"{src.where()}: the header has an empty or repeated column name.")


def _date_column(src: _Source, columns: list[str], names=("date", "ts")) -> str:
    for name in names:
        if name in columns:
            return name
    raise InputError(f"{src.where()}: column 'date' is missing (or 'ts'); every row needs its day.")


def _require(src: _Source, columns: list[str], needed: Sequence[str], fmt: str) -> None:
    for name in needed:
        if name not in columns:
            raise InputError(f"{src.where()}: column '{name}' is missing; {fmt} format needs {', '.join(needed)}.")


def _dimension_columns(src: _Source, others: list[str], dims: list[str], known: list[str]) -> list[str]:
    allowed = set(known) | set(dims)
    for name in others:
        if known and name not in allowed:
            close = difflib.get_close_matches(name, sorted(allowed), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise InputError(
                f"{src.where(column=name)}: not a known dimension ({', '.join(sorted(allowed))}).{hint} "
                f"Add it to 'dimensions' in ctxmetrics.yaml or pass --dims {name}."
            )
        try:
            check_dimension_name(name)
        except Exception as exc:
            raise InputError(f"{src.where(column=name)}: {exc}") from None
    return others


def _long(src: _Source, raw: pl.DataFrame, dims: list[str], known: list[str]) -> pl.DataFrame:
    date_col = _date_column(src, raw.columns)
    _require(src, raw.columns, (date_col, "metric", "value"), "long")
    dim_cols = _dimension_columns(src, [c for c in raw.columns if c not in (ROW, date_col, "metric", "value")], dims, known)
    frame = raw.select(
        ROW,
        _parse_day(src, raw, date_col).alias("ts"),
        _text(src, raw, "metric", required=True).alias("metric"),
        _number(src, raw, "value").alias("value"),
        *(_dimension(raw, d) for d in dim_cols),
    )
    _check_duplicates(src, frame, ["metric", "ts", *dim_cols])
    return frame.select("metric", "ts", "value", *dim_cols)


def _wide(src: _Source, raw: pl.DataFrame, dims: list[str]) -> pl.DataFrame:
    date_col = _date_column(src, raw.columns)
    missing = [d for d in dims if d not in raw.columns]
    if missing:
        raise InputError(f"{src.where()}: column '{missing[0]}' named in --dims is missing.")
    metrics = [c for c in raw.columns if c not in (ROW, date_col, *dims)]
    if not metrics:
        raise InputError(f"{src.where()}: wide format needs at least one metric column besides the date and --dims.")
    for d in dims:
        try:
            check_dimension_name(d)
        except Exception as exc:
            raise InputError(f"{src.where(column=d)}: {exc}") from None
    typed = raw.select(
        ROW,
        _parse_day(src, raw, date_col).alias("ts"),
        *(_dimension(raw, d) for d in dims),
        # In a wide table an empty cell means "no value that day" for that metric.
        *(_number(src, raw, m, allow_empty=True).alias(m) for m in metrics),
    )
    _check_duplicates(src, typed, ["ts", *dims])
    long = typed.unpivot(index=[ROW, "ts", *dims], on=metrics, variable_name="metric", value_name="value")
    return long.filter(pl.col("value").is_not_null()).select("metric", "ts", "value", *dims)


def _events(src: _Source, raw: pl.DataFrame, dims: list[str], known: list[str]) -> pl.DataFrame:
    date_col = _date_column(src, raw.columns, names=("ts", "date"))
    _require(src, raw.columns, (*EVENT_COLUMNS, date_col), "events")
    dim_cols = _dimension_columns(src, [c for c in raw.columns if c not in (ROW, date_col, *EVENT_COLUMNS)], dims, known)
    frame = raw.select(
        _parse_day(src, raw, date_col, allow_time=True).alias("ts"),
        _text(src, raw, "entity_id", required=True).alias("entity_id"),
        _text(src, raw, "stage", required=True).alias("metric"),
        *(_dimension(raw, d) for d in dim_cols),
    )
    # An entity counts once per stage and day, however often the CRM logged it.
    return (
        frame.group_by(["metric", "ts", *dim_cols])
        .agg(pl.col("entity_id").n_unique().cast(pl.Float64).alias("value"))
        .select("metric", "ts", "value", *dim_cols)
    )


# --- fast path: DuckDB reads and checks a long-format Parquet file itself ------------
# The polars path above is the reference: it defines what is accepted and every error
# message. The fast path only ever says "this file is certainly fine, and here is the SQL
# that yields exactly what the polars path would make of it" or "don't know" (None); on
# "don't know" the polars path runs and accepts the file or reports the precise error. So
# it never reports an error itself and accepts a subset of what the polars path accepts:
# typed columns (DATE day, numeric value, text labels), labels that need no cleaning
# (checked on their distinct values with the polars path's own stripping), keys whose
# hashes all differ. The file is read three times (checks, key hashes, insert), which for
# columnar Parquet costs less than materialising it once in polars and handing it over.
# CSV stays on the polars path: measured, its multi-threaded parse plus Arrow hand-over
# beat DuckDB parsing twice (or parsing once into a temporary table) by ~20% CPU.
_NUMERIC = {"DOUBLE", "FLOAT", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}


@dataclass(frozen=True)
class _Fast:
    sql: str
    params: list
    dims: list[str]
    rows: int
    span: tuple[dt.date, dt.date]
    metrics: list[str]


def _fast_long(con: duckdb.DuckDBPyConnection, src: _Source, dims: list[str], known: list[str]) -> _Fast | None:
    if src.kind != "parquet":
        return None
    try:
        reader, params = "read_parquet(?)", [str(src.path)]
        columns = {r[0]: r[1] for r in con.execute(f"describe select * from {reader}", params).fetchall()}
        names = list(columns)
        if names != pl.read_parquet_schema(src.path).names():  # the polars path's names, or don't know
            return None
        _check_header(src, names)
        date_col = _date_column(src, names)
        _require(src, names, (date_col, "metric", "value"), "long")
        dim_cols = _dimension_columns(src, [c for c in names if c not in (date_col, "metric", "value")], dims, known)
        labels = ["metric", *dim_cols]
        if columns[date_col] != "DATE" or columns["value"] not in _NUMERIC:
            return None
        if any(columns[c] != "VARCHAR" for c in labels):
            return None
        q = {name: quote_ident(name) for name in names}
        found = con.execute(
            f"select count(*), count_if({q['value']} is null or not isfinite({q['value']})), "
            f"count_if({q[date_col]} is null), min({q[date_col]}), max({q[date_col]}), "
            + ", ".join(f"count_if({q[c]} is null)" for c in labels) + ", "
            + ", ".join(f"list(distinct {q[c]})" for c in labels)
            + f" from {reader}",
            params,
        ).fetchall()[0]
        rows, bad_values, null_dates, lo, hi = found[:5]
        nulls, distinct = found[5:5 + len(labels)], found[5 + len(labels):]
        if rows == 0 or bad_values or null_dates or nulls[0]:
            return None
        metrics = distinct[0]
        if not _clean(metrics, blank_ok=False) or not all(_clean(v, blank_ok=True) for v in distinct[1:]):
            return None
        # An empty dimension cell is stored as MISSING_DIMENSION_VALUE; a column without
        # any is inserted as read, which keeps DuckDB's dictionary vectors (cheaper to store).
        dim_exprs = [
            f"coalesce(nullif({q[d]}, ''), '{MISSING_DIMENSION_VALUE}')" if n or "" in values else q[d]
            for d, n, values in zip(dim_cols, nulls[1:], distinct[1:])
        ]
        if not _keys_unique(con, f"select hash({', '.join([q['metric'], q[date_col], *dim_exprs])}) from {reader}", params, rows):
            return None
        value = q["value"] if columns["value"] == "DOUBLE" else f"{q['value']}::double"
        select = ", ".join(
            [f"{q['metric']} as metric", f"{q[date_col]} as ts", f"{value} as value",
             *(f"{e} as {q[d]}" for e, d in zip(dim_exprs, dim_cols))]
        )
        return _Fast(f"select {select} from {reader}", params, dim_cols, rows, (lo, hi), metrics)
    except (InputError, duckdb.Error, pl.exceptions.PolarsError, OSError, ValueError):
        return None


def _clean(values: list, blank_ok: bool) -> bool:
    """Distinct labels need no cleaning: stripped already, and not blank unless allowed."""
    series = pl.Series(values, dtype=pl.Utf8)
    if not series.str.strip_chars().equals(series, check_names=False, null_equal=True):
        return False
    return blank_ok or not (series == "").any()


def _keys_unique(con: duckdb.DuckDBPyConnection, sql: str, params: list, rows: int) -> bool:
    """True when all key hashes differ (so all keys do); a repeat, real or a collision, is
    left to the polars path, which finds the duplicate rows exactly."""
    hashes = con.execute(sql, params).fetchnumpy()
    values = np.sort(next(iter(hashes.values())))
    return len(values) == rows and not bool((values[1:] == values[:-1]).any())


# --- column parsers: each reports the first bad cell with its line ---------------
def _first_bad(src: _Source, raw: pl.DataFrame, bad: pl.Series, column: str, what: str) -> None:
    if bad.any():
        index = int(bad.arg_true()[0])
        row = int(raw[ROW][index])
        cell = raw[column][index]
        raise InputError(f"{src.where(row, column)}: {cell!r} {what}.")


def _clean_labels(values: pl.Series, replace_blank: str | None) -> pl.Series:
    """Strip labels (metric names, dimension values). Labels repeat a lot, so the work is
    decided on the distinct values and the column is rewritten only when one needs it."""
    distinct = values.unique()
    cleaned = distinct.str.strip_chars()
    if replace_blank is not None:
        cleaned = cleaned.fill_null(replace_blank).replace("", replace_blank)
    if cleaned.equals(distinct, check_names=False, null_equal=True):
        return values
    return values.replace_strict(distinct, cleaned, return_dtype=pl.Utf8)


def _text(src: _Source, raw: pl.DataFrame, column: str, required: bool) -> pl.Series:
    values = raw[column].cast(pl.Utf8)
    if required:
        distinct = values.unique()
        if distinct.is_null().any() or (distinct.str.strip_chars() == "").any():
            blank = values.is_null() | (values.str.strip_chars() == "")
            row = int(raw[ROW][int(blank.arg_true()[0])])
            raise InputError(f"{src.where(row, column)}: the value is empty.")
    return _clean_labels(values, None)


def _dimension(raw: pl.DataFrame, column: str) -> pl.Series:
    return _clean_labels(raw[column].cast(pl.Utf8), MISSING_DIMENSION_VALUE).alias(column)


def _number(src: _Source, raw: pl.DataFrame, column: str, allow_empty: bool = False) -> pl.Series:
    series = raw[column]
    if series.dtype == pl.Utf8:
        parsed = series.cast(pl.Float64, strict=False)
        if parsed.null_count() > series.null_count():
            # Only then strip (allocating every cell again) and say which cell is bad.
            stripped = series.str.strip_chars()
            parsed = stripped.cast(pl.Float64, strict=False)
            _first_bad(src, raw, parsed.is_null() & stripped.is_not_null() & (stripped != ""), column, "is not a number")
        series = parsed
    elif series.dtype.is_numeric() or series.dtype == pl.Boolean:
        series = series.cast(pl.Float64)
    elif series.dtype != pl.Null:
        raise InputError(f"{src.where(column=column)}: has type {series.dtype}, not numbers.")
    series = series.cast(pl.Float64)
    _first_bad(src, raw, series.is_nan() | series.is_infinite(), column, "is not a finite number")
    if not allow_empty:
        _first_bad_null(src, raw, series, column)
    return series


def _first_bad_null(src: _Source, raw: pl.DataFrame, series: pl.Series, column: str) -> None:
    if series.null_count():
        row = int(raw[ROW][int(series.is_null().arg_true()[0])])
        raise InputError(f"{src.where(row, column)}: the value is empty.")


def _parse_day(src: _Source, raw: pl.DataFrame, column: str, allow_time: bool = False) -> pl.Series:
    """Days from ISO dates or datetimes. Observations are daily, so a time of day is an
    error unless counting raw events, where it is dropped."""
    series = raw[column]
    if series.dtype == pl.Date:
        days = series
    elif isinstance(series.dtype, pl.Datetime):
        days = _days_of(src, raw, series, column, allow_time)
    else:
        text = series.cast(pl.Utf8)
        days = text.str.to_date("%Y-%m-%d", strict=False)
        if days.null_count() > text.null_count():  # strip (a copy of every cell) only if needed
            text = text.str.strip_chars()
            days = text.str.to_date("%Y-%m-%d", strict=False)
        undated = days.is_null() & text.is_not_null()
        if undated.any():
            stamps = text.str.to_datetime(strict=False, time_zone="UTC")
            bad = undated & stamps.is_null()
            _first_bad(src, raw, bad, column, "is not a date (use YYYY-MM-DD)")
            days = pl.select(pl.when(undated).then(None).otherwise(days)).to_series()
            timed = _days_of(src, raw.filter(undated), stamps.filter(undated), column, allow_time)
            days = days.scatter(undated.arg_true(), timed)
    _first_bad_null(src, raw, days, column)
    return days


def _days_of(src: _Source, raw: pl.DataFrame, stamps: pl.Series, column: str, allow_time: bool) -> pl.Series:
    if not allow_time:
        has_time = stamps.dt.time() != dt.time(0, 0)
        _first_bad(
            src, raw, has_time.fill_null(False), column,
            "has a time of day; observations are daily (aggregate first, or use --format events)",
        )
    return stamps.dt.date()


def _check_duplicates(src: _Source, frame: pl.DataFrame, key: list[str]) -> None:
    # Distinct row hashes prove there are no duplicates at a fraction of the cost of an
    # exact check, which only runs when hashes collide or a duplicate really exists.
    # Sorting the hashes (numpy, ~0.1 s for 10M) is ~4x faster than counting distinct ones.
    hashes = np.sort(frame.select(key).hash_rows().to_numpy())
    if not (hashes[1:] == hashes[:-1]).any():
        return
    dup = frame.select(key).is_duplicated()
    if not dup.any():
        return
    rows = frame.filter(dup)
    first = rows.row(0, named=True)
    twin = rows.slice(1).filter(pl.all_horizontal(pl.col(k) == first[k] for k in key)).row(0, named=True)
    described = ", ".join(f"{k}={first[k]}" for k in key)
    raise InputError(
        f"{src.where(twin[ROW])}: duplicate of {src.position(first[ROW])} (same {described})."
    )


def _combine(frames: list[pl.DataFrame]) -> pl.DataFrame:
    if len(frames) == 1:
        return frames[0]
    combined = pl.concat(frames, how="diagonal_relaxed")
    dims = [c for c in combined.columns if c not in BASE_COLUMNS]
    # Across files of one call, a later file replaces an earlier one, as separate ingests would.
    return combined.unique(subset=["metric", "ts", *dims], keep="last", maintain_order=True)
