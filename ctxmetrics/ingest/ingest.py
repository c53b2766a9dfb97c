"""Reading data files into observations: long, wide and raw funnel-event formats.

Every file is read and validated completely before anything is written, and all files
of one call are stored in one transaction, so a bad row leaves the store untouched.
Errors name the file, the line (CSV/JSON lines, counting the header as line 1) or row
(Parquet), and the column.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import math
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import duckdb
import numpy as np
import polars as pl

from ctxmetrics.config import Config
from ctxmetrics.ingest.dates import BadCell, cadence_change, check_plausible, granularity_of, parse_days
from ctxmetrics.errors import CtxError, InputError
from ctxmetrics.store.database import BASE_COLUMNS, Store, check_dimension_name
from ctxmetrics.wording import closest_name

FORMATS = ("long", "wide", "events")
READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
MISSING_DIMENSION_VALUE = "(none)"  # an empty dimension cell still needs a value rollups can name
EVENT_COLUMNS = ("entity_id", "stage")
ROW = "__row"
# Usual names of each column role, in order of preference (`columns:` in the config wins).
DATE_NAMES = ("date", "ts", "timestamp", "ds", "day")
VALUE_NAMES = ("value", "y", "count")
HOUR_NAMES = ("hour", "hr", "hour_of_day")  # what `init --from` takes for an hour-of-day column
MAX_MAGNITUDE = 1e15  # larger values are export errors (and overflow sums and charts)
_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f]"  # control characters (tab allowed); NUL, ESC, ...
NEAR_NAME_CUTOFF = 0.8  # difflib ratio from which a new metric name looks like a typo


@dataclass(frozen=True)
class IngestResult:
    files: int
    rows: int
    added: int
    replaced: int
    warnings: tuple[str, ...] = ()
    rollups: tuple[str, ...] = ()  # metrics stored as separate rollups (`as_rollup`)


@dataclass(frozen=True)
class _Source:
    path: Path
    kind: str  # csv | parquet | jsonl | sql

    def line(self, row: int) -> int:
        """1-based line (text files; CSV has its header on line 1) or row (Parquet, SQL)."""
        return row + 2 if self.kind == "csv" else row + 1

    def position(self, row: int) -> str:
        return f"line {self.line(row)}" if self.kind in ("csv", "jsonl") else f"row {self.line(row)}"

    def where(self, row: int | None = None, column: str | None = None) -> str:
        """`file:line` for text files, `file: row N` for Parquet, plus the column."""
        text = str(self.path)
        if row is not None:
            text += f":{self.line(row)}" if self.kind in ("csv", "jsonl") else f": row {self.line(row)}"
        if column is not None:
            text += f": column '{column}'"
        return text


@dataclass(frozen=True)
class _Settings:
    """How rows are read, from the CLI options and the project file."""

    fmt: str
    dims: list[str]
    known: list[str]
    columns: dict[str, str]
    metric: str | None
    date_format: str | None
    config: Config


@dataclass(frozen=True)
class _Read:
    """One source's observations and the period of its rows (None: too few days to tell)."""

    frame: pl.DataFrame
    granularity: str | None
    metrics: list[str] | None = None  # the frame's distinct metrics, when found already


def ingest_paths(
    store: Store,
    paths: Sequence[Path | str],
    *,
    fmt: str | None = None,
    dims: Sequence[str] = (),
    known_dimensions: Sequence[str] | None = None,
    config: Config | None = None,
    columns: Mapping[str, str] | None = None,
    metric: str | None = None,
    date_format: str | None = None,
    strict: bool = False,
    as_rollup: bool = False,
) -> IngestResult:
    """Validate every file, then upsert all of them in one transaction.

    Args:
        store: an open, writable store.
        paths: CSV, Parquet or JSON-lines files.
        fmt: `long` (date, metric, value, dimensions…; without a metric column the file is
            one metric's series), `wide` (date plus one column per metric; dimension columns
            named in `dims`) or `events` (entity_id, stage, ts, dimensions…; counted into
            daily stage counts). Default: the config's `format`, else long.
        dims: dimension columns (required for `wide`; allowed extra dimensions otherwise).
        known_dimensions: the project's declared dimensions (default: the config's); when
            non-empty, any other column is an error unless listed in `dims`.
        config: the project's settings: time zone, metric types, `columns`, `date_format`.
        columns: the date, metric and value columns by role (overrides the config's).
        metric: the metric name of a file without a metric column (default: the file's name).
        date_format: strftime codes of the date column (default: ISO 8601 only).
        strict: a new metric name close to a known one is an error, not a warning.
        as_rollup: store each file's rows as separate rollups (`rollup_metric`), never
            summed with the metric's own rows: for totals next to a stored breakdown.

    Raises:
        InputError: the first problem found, naming file, line/row and column.
    """
    settings = _settings(
        config, fmt=fmt, dims=dims, known=known_dimensions, columns=columns, metric=metric, date_format=date_format
    )
    sources = check_files(paths)
    if (settings.fmt == "long" and len(sources) == 1 and not settings.columns and not settings.config.ignore_columns
            and settings.metric is None and not as_rollup):
        fast = _fast_long(store, sources[0], settings.dims, settings.known)
        if fast is not None:
            warnings = _near_names(store, settings.config, [(sources[0], fast.metrics)], strict)
            try:
                added, replaced = _located(sources, lambda: store.upsert_from(
                    fast.sql, fast.params, fast.dims, fast.rows, span=fast.span, metrics=fast.metrics,
                    granularities=_granularities(settings.config, fast.metrics, fast.granularity),
                ))
            except duckdb.Error:
                pass  # rolled back (a value it does not take, or the file changed since checked): the careful path
            else:
                return IngestResult(files=1, rows=fast.rows, added=added, replaced=replaced, warnings=warnings)
    reads = [_read_one(src, settings) for src in sources]
    rollups: dict[str, list[str]] = {}
    if as_rollup:
        reads = [_as_rollup(read, rollups) for read in reads]
    # Each file's metrics, found once (a distinct pass over 10M rows costs ~0.07 s).
    found = [r.frame["metric"].unique().to_list() if r.metrics is None else r.metrics for r in reads]
    warnings = _near_names(store, settings.config, list(zip(sources, found)), strict)
    granularities: dict[str, str] = {}
    for read, metrics in zip(reads, found):
        granularities.update(_granularities(settings.config, metrics, read.granularity))
    frame = _combine([r.frame for r in reads])
    added, replaced = _located(
        sources, lambda: store.upsert_observations(frame, granularities, rollups, metrics=sorted(set().union(*found)))
    )
    return IngestResult(
        files=len(reads), rows=frame.height, added=added, replaced=replaced, warnings=warnings, rollups=tuple(sorted(rollups))
    )


def ingest_frame(
    store: Store, frame: pl.DataFrame, label: str, *, config: Config | None = None, strict: bool = False,
    as_rollup: bool = False, **options
) -> IngestResult:
    """Validate and upsert an in-memory table (a database query's result) like a file.

    Args:
        label: how errors name the source (rows are numbered from 1).
        options: `fmt`, `dims`, `columns`, `metric`, `date_format`, as for `ingest_paths`.
    """
    settings = _settings(config, **options)
    src = _Source(Path(label), "sql")
    if frame.height == 0:
        raise InputError(f"{label}: the query returned no rows.")
    read = _parse(src, frame.with_row_index(ROW), settings)
    rollups: dict[str, list[str]] = {}
    if as_rollup:
        read = _as_rollup(read, rollups)
    metrics = read.frame["metric"].unique().to_list()
    warnings = _near_names(store, settings.config, [(src, metrics)], strict)
    granularities = _granularities(settings.config, metrics, read.granularity)
    added, replaced = _located([src], lambda: store.upsert_observations(read.frame, granularities, rollups, metrics=metrics))
    return IngestResult(
        files=1, rows=read.frame.height, added=added, replaced=replaced, warnings=warnings, rollups=tuple(sorted(rollups))
    )


def rollup_metric(metric: str, dims: Sequence[str]) -> str:
    """The metric under which `--as-rollup` stores rows of `metric` broken down by `dims`:
    `leads_by_region` (`leads_total` without dimensions). It is a series of its own, so
    it is never summed with the rows of `metric`."""
    return f"{metric}_by_{'_'.join(sorted(dims))}" if dims else f"{metric}_total"


def _as_rollup(read: _Read, rollups: dict[str, list[str]]) -> _Read:
    """The rows renamed to their rollup metrics; `rollups` gains each one's dimensions."""
    dims = sorted(c for c in read.frame.columns if c not in BASE_COLUMNS)
    names = {m: rollup_metric(m, dims) for m in read.frame["metric"].unique().to_list()}
    rollups.update({name: dims for name in names.values()})
    frame = read.frame.with_columns(pl.col("metric").replace_strict(names, return_dtype=pl.Utf8))
    return _Read(frame, read.granularity)


def _settings(
    config: Config | None,
    *,
    fmt: str | None = None,
    dims: Sequence[str] = (),
    known: Sequence[str] | None = None,
    columns: Mapping[str, str] | None = None,
    metric: str | None = None,
    date_format: str | None = None,
) -> _Settings:
    config = config or Config()
    fmt = fmt or config.file_format
    if fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}.")
    return _Settings(
        fmt=fmt,
        dims=list(dims),
        known=list(config.dimensions if known is None else known),
        columns={**config.columns, **(columns or {})},
        metric=metric,
        date_format=date_format or config.date_format,
        config=config,
    )


def _located(sources: list[_Source], write):
    """Run a store write; the store's refusal of the rows names the source when there is one."""
    try:
        return write()
    except InputError as exc:
        if len(sources) != 1:
            raise
        raise InputError(f"{sources[0].path}: {exc}") from None


def _granularities(config: Config, metrics: Sequence[str], found: str | None) -> dict[str, str]:
    """Each metric's period: declared in the config, else what the dates show, else daily."""
    return {m: config.metric(m).granularity or found or "daily" for m in metrics}


def _near_names(store: Store, config: Config, found: list[tuple[_Source, Sequence[str]]], strict: bool) -> tuple[str, ...]:
    """Warnings for new metric names that look like typos of known ones (errors if strict)."""
    known = set(store.metric_names()) | set(config.metrics)
    warnings = []
    for src, metrics in found:
        for name in sorted(set(metrics) - known):
            close = closest_name(name, known, cutoff=NEAR_NAME_CUTOFF)
            if close:
                message = f"{src.path}: metric '{name}' is new; did you mean '{close}'?"
                if strict:
                    raise InputError(f"{message} (--strict refuses new names close to known ones.)")
                warnings.append(message)
    return tuple(warnings)


def check_files(paths: Sequence[Path | str]) -> list[_Source]:
    """Check that every path is a readable regular file of a known type, without reading it
    (a FIFO would block): done before the store's write lock is taken.

    Raises:
        InputError: the first path that is not.
    """
    return [_source(Path(p)) for p in paths]


def _source(path: Path) -> _Source:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file.") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}).") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path}: is a folder; name the data files.")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path}: is not a regular file (a pipe, device or socket); name a data file.")
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"{path}: unknown file type '{path.suffix or '(none)'}'; use .csv, .parquet or .jsonl/.ndjson."
        )
    try:
        path.open("rb").close()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}).") from None
    return _Source(path, kind)


def read_table(src: _Source) -> pl.DataFrame:
    """A checked file's rows (CSV as text), with the row number in column ROW.

    Raises:
        InputError: the file cannot be read or has no data rows.
    """
    try:
        if src.kind == "csv":
            # Everything as text first, so a bad cell is reported with its line, not guessed at.
            text, separator = _csv_input(src.path)
            frame = pl.read_csv(text, separator=separator, infer_schema=False, row_index_name=ROW)
            # 'date , metric , value': spaces around a header's names are not part of them
            frame = frame.rename({c: c.strip() for c in frame.columns if c != c.strip()})
            if frame.width > 1:  # blank lines (an export's last line, a paragraph break) are no rows
                blank = frame.select(pl.all_horizontal(pl.exclude(ROW).is_null())).to_series()
                if blank.any():  # filtering copies every column: only when needed
                    frame = frame.filter(~blank)
        elif src.kind == "parquet":
            frame = pl.read_parquet(src.path, row_index_name=ROW)
        else:
            frame = pl.read_ndjson(_jsonl_input(src.path), infer_schema_length=None).with_row_index(ROW)
    except pl.exceptions.NoDataError:
        frame = pl.DataFrame()
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        if src.kind == "jsonl":
            _explain_jsonl(src)
        if src.kind == "csv":
            _explain_csv(src)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{src.path}: cannot be read as {src.kind} ({message}).") from None
    if frame.height == 0:
        raise InputError(f"{src.path}: the file has no data rows.")
    return frame


def _csv_input(path: Path):
    """The file for the CSV reader and its separator. Spreadsheet exports come as they are:
    UTF-16 ("Unicode text") is re-encoded as UTF-8, old Mac line endings (CR only, which
    the reader would take for one long line) become newlines, and a header with no comma
    but semicolons or tabs (European-locale and tab-separated exports) sets the separator."""
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    source: Path | io.BytesIO = path
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            head = path.read_text(encoding="utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: starts as UTF-16 text but is not (byte {exc.start + 1}); save it as UTF-8.") from None
        source = io.BytesIO(head)
    if b"\r" in head and b"\n" not in head:
        head = (head if isinstance(source, io.BytesIO) else path.read_bytes()).replace(b"\r", b"\n")
        source = io.BytesIO(head)
    return source, _separator(head.split(b"\n", 1)[0])


def _separator(header: bytes) -> str:
    if b"," not in header:
        for candidate in (";", "\t"):
            if candidate.encode() in header:
                return candidate
    return ","


def _explain_csv(src: _Source) -> None:
    """Find the line the CSV reader choked on (not UTF-8, or more fields than the header)
    and say so with its number."""
    data, separator = _csv_input(src.path)
    raw = data.getvalue() if isinstance(data, io.BytesIO) else src.path.read_bytes()
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{src.path}:{number}: is not UTF-8 text (byte {exc.start + 1} of the line); save the file as UTF-8."
            ) from None
    rows = csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=separator, strict=True)
    width, start = None, 1  # start: the line the record being read begins on
    try:
        for fields in rows:
            if width is None:
                width = len(fields)
            elif len(fields) > width:
                raise InputError(f"{src.path}:{start}: has {len(fields)} fields, the header {width}.")
            start = rows.line_num + 1
    except csv.Error as exc:  # most often a quote opened and never closed: it runs to the end of the file
        raise InputError(f"{src.path}:{start}: not valid CSV ({exc}; is a quote opened on this line never closed?).") from None


def _jsonl_input(path: Path):
    """The path, or its bytes without the UTF-8 byte order mark that Windows tools
    (PowerShell, Notepad) write first, which the JSON reader takes for bad JSON."""
    with path.open("rb") as fh:
        if fh.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:
            return path
        return io.BytesIO(fh.read())


def _explain_jsonl(src: _Source) -> None:
    """Find the JSON line the reader choked on and say what is wrong with it in plain words."""
    empty = True
    with src.path.open(encoding="utf-8-sig", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            empty = False
            try:
                record = json.loads(line)
            except ValueError:
                raise InputError(f"{src.path}:{number}: not valid JSON.") from None
            if not isinstance(record, dict):
                raise InputError(f"{src.path}:{number}: not a JSON object.")
            for key, value in record.items():
                if isinstance(value, bool):
                    raise InputError(f"{src.path}:{number}: column '{key}': {json.dumps(value)} is true/false, not a number or label.")
                if isinstance(value, (dict, list)):
                    raise InputError(f"{src.path}:{number}: column '{key}': has a nested value (a list or object); flatten the file first.")
    if empty:  # the reader's "Cannot infer NDJSON types on empty reader" said it in its own terms
        raise InputError(f"{src.path}: the file has no data rows.")


def _read_one(src: _Source, settings: _Settings) -> _Read:
    raw = read_table(src)
    _check_header(src, raw.columns)
    return _parse(src, raw, settings)


def _parse(src: _Source, raw: pl.DataFrame, settings: _Settings) -> _Read:
    if settings.fmt == "wide":
        return _wide(src, raw, settings)
    if settings.fmt == "events":
        return _events(src, raw, settings)
    return _long(src, raw, settings)


def _check_header(src: _Source, columns: list[str]) -> None:
    for name in columns:
        # polars renames a repeated name `x` to `x_duplicated_0`, `x_duplicated_1`, ...
        base, marker, number = name.rpartition("_duplicated_")
        if name == "" or (marker and number.isdigit() and (base in columns or base == "")):
            raise InputError(f"{src.where()}: the header has an empty or repeated column name.")


def _role_column(src: _Source, columns: list[str], mapping: dict[str, str], role: str, names: Sequence[str]) -> str | None:
    """The column playing `role`: the one mapped to it, else the first usual name present."""
    if role in mapping:
        if mapping[role] not in columns:
            raise InputError(f"{src.where()}: column '{mapping[role]}' (the {role} column) is missing.")
        return mapping[role]
    return usual_column(columns, names)


def usual_column(columns: Sequence[str], names: Sequence[str]) -> str | None:
    """The column with the first of the usual `names`, in any case ('Date' from a
    spreadsheet export): the exact name first."""
    lowered = {c.lower(): c for c in reversed(columns)}  # the first of names differing only in case
    for name in names:
        if name in columns:
            return name
        if name in lowered:
            return lowered[name]
    return None


def _date_column(src: _Source, columns: list[str], mapping: dict[str, str], names=DATE_NAMES) -> str:
    found = _role_column(src, columns, mapping, "date", names)
    if found is None:
        raise InputError(
            f"{src.where()}: no date column ({', '.join(names)}); every row needs its day. "
            "Name it with --date-col."
        )
    return found


def _require(src: _Source, columns: list[str], needed: Sequence[str], fmt: str) -> None:
    for name in needed:
        if name not in columns:
            raise InputError(f"{src.where()}: column '{name}' is missing; {fmt} format needs {', '.join(needed)}.")


def _dimension_columns(src: _Source, others: list[str], dims: list[str], known: list[str]) -> list[str]:
    allowed = set(known) | set(dims)
    for name in others:
        if known and name not in allowed:
            close = closest_name(name, allowed)
            hint = f" Did you mean '{close}'?" if close else ""
            raise InputError(
                f"{src.where(column=name)}: not a known dimension ({', '.join(sorted(allowed))}).{hint} "
                f"Add it to 'dimensions' in ctxmetrics.yaml or pass --dims {name}."
            )
        try:
            check_dimension_name(name)
        except Exception as exc:
            raise InputError(f"{src.where(column=name)}: {exc}") from None
    return others


def _long(src: _Source, raw: pl.DataFrame, settings: _Settings) -> _Read:
    columns = [c for c in raw.columns if c != ROW]
    date_col = _date_column(src, columns, settings.columns)
    metric_col = _role_column(src, columns, settings.columns, "metric", ("metric",))
    value_col = _role_column(src, columns, settings.columns, "value", VALUE_NAMES)
    if value_col is None:
        if metric_col is not None:
            _require(src, columns, (date_col, "metric", "value"), "long")
        raise InputError(
            f"{src.where()}: no value column ({', '.join(VALUE_NAMES)}); name it with --value-col, "
            "or use --format wide for one column per metric."
        )
    if metric_col is not None and settings.metric is not None:  # it would be ignored without a word
        raise InputError(
            f"{src.where(column=metric_col)}: the file names its metrics in this column, so --metric "
            f"{settings.metric} does not apply; --metric names the series of a file without one."
        )
    hour_col = _hour_column(src, raw, settings)
    roles = (date_col, value_col) if metric_col is None else (date_col, metric_col, value_col)
    others = [c for c in columns if c not in (*roles, hour_col, *settings.config.ignore_columns)]
    pre = _first_pass(raw, [c for c in (metric_col, *others) if c is not None], date_col, value_col, settings)
    if metric_col is None:  # one metric's series, e.g. `ds,y` or `timestamp,value`
        name = settings.metric or src.path.stem
        metric = pl.Series("metric", [name] * raw.height, dtype=pl.Utf8)
        _check_labels(src, raw.with_columns(metric), "metric")
    else:
        metric = _text(src, raw, metric_col, required=True, distinct=pre.get(metric_col)).alias("metric")
    dim_cols = _dimension_columns(src, others, settings.dims, settings.known)
    days, timed, distinct = _days(src, raw, date_col, settings, iso=pre.get(_ISO_DAYS))
    timed = timed or hour_col is not None
    # A series file writes a missing reading as an empty cell or NaN; a long file must not.
    values = _number(src, raw, value_col, allow_empty=metric_col is None, parsed=pre.get(_FLOATS))
    frame = raw.select(
        ROW, days.alias("ts"), metric, values.alias("value"),
        *(_dimension(src, raw, d, distinct=pre.get(d)) for d in dim_cols),
    )
    if values.null_count():  # filtering copies every column (~0.1 s per 10M rows): only when needed
        frame = frame.filter(pl.col("value").is_not_null())
    _check_counts(src, frame, settings.config, value_col)
    if timed:
        return _Read(_per_day(frame, dim_cols, settings.config), "daily")
    _check_duplicates(src, frame, ["metric", "ts", *dim_cols])
    # The metrics as stored: the distinct names (none is blank) stripped, as _text does.
    metrics = pre[metric_col].str.strip_chars().unique().to_list() if metric_col in pre else None
    granularity = _one_cadence(src, raw, days, distinct, date_col, settings.config, lambda: frame["metric"].unique().to_list())
    return _Read(frame.select("metric", "ts", "value", *dim_cols), granularity, metrics)


def _wide(src: _Source, raw: pl.DataFrame, settings: _Settings) -> _Read:
    columns = [c for c in raw.columns if c != ROW]
    date_col = _date_column(src, columns, settings.columns)
    dims = settings.dims or [d for d in settings.known if d in columns]
    missing = [d for d in dims if d not in columns]
    if missing:
        raise InputError(f"{src.where()}: column '{missing[0]}' named in --dims is missing.")
    hour_col = _hour_column(src, raw, settings)
    metrics = [c for c in columns if c not in (date_col, *dims, hour_col, *settings.config.ignore_columns)]
    if not metrics:
        raise InputError(f"{src.where()}: wide format needs at least one metric column besides the date and --dims.")
    for d in dims:
        try:
            check_dimension_name(d)
        except Exception as exc:
            raise InputError(f"{src.where(column=d)}: {exc}") from None
    for m in metrics:
        _check_labels(src, pl.DataFrame({"metric": [m], ROW: [0]}), "metric", header=True)
    days, timed, distinct = _days(src, raw, date_col, settings)
    timed = timed or hour_col is not None
    typed = raw.select(
        ROW,
        days.alias("ts"),
        *(_dimension(src, raw, d) for d in dims),
        # In a wide table an empty cell means "no value that day" for that metric.
        *(_number(src, raw, m, allow_empty=True).alias(m) for m in metrics),
    )
    long = typed.unpivot(index=[ROW, "ts", *dims], on=metrics, variable_name="metric", value_name="value")
    long = long.filter(pl.col("value").is_not_null())
    _check_counts(src, long, settings.config, None)
    if timed:
        return _Read(_per_day(long, dims, settings.config), "daily")
    _check_duplicates(src, typed, ["ts", *dims])
    granularity = _one_cadence(src, raw, days, distinct, date_col, settings.config, lambda: metrics)
    return _Read(long.select("metric", "ts", "value", *dims), granularity)


def _events(src: _Source, raw: pl.DataFrame, settings: _Settings) -> _Read:
    columns = [c for c in raw.columns if c != ROW]
    date_col = _date_column(src, columns, settings.columns, names=("ts", *DATE_NAMES))
    _require(src, columns, (*EVENT_COLUMNS, date_col), "events")
    others = [c for c in columns if c not in (date_col, *EVENT_COLUMNS)]
    dim_cols = _dimension_columns(src, others, settings.dims, settings.known)
    days, _, _ = _days(src, raw, date_col, settings)
    frame = raw.select(
        days.alias("ts"),
        _text(src, raw, "entity_id", required=True).alias("entity_id"),
        _text(src, raw, "stage", required=True).alias("metric"),
        *(_dimension(src, raw, d) for d in dim_cols),
    )
    # An entity counts once per stage and day, however often the CRM logged it.
    counted = (
        frame.group_by(["metric", "ts", *dim_cols])
        .agg(pl.col("entity_id").n_unique().cast(pl.Float64).alias("value"))
        .select("metric", "ts", "value", *dim_cols)
    )
    return _Read(counted, "daily")


# Keys of `_first_pass` results that are not a label column's name.
_ISO_DAYS, _FLOATS = ("iso days",), ("floats",)


def _hour_column(src: _Source, raw: pl.DataFrame, settings: _Settings) -> str | None:
    """The column of the `hour` role, checked: an hour of the day (0-23) beside a date
    column, as in hourly exports that keep the two apart (bike sharing's `dteday` and `hr`).
    Its rows are combined per day, like rows with a time of day."""
    name = settings.columns.get("hour")
    if name is None:
        return None
    if name not in raw.columns:
        raise InputError(f"{src.where()}: column '{name}' (the hour of the day, columns.hour) is missing.")
    hours = raw[name].cast(pl.Utf8).str.strip_chars().cast(pl.Float64, strict=False)
    bad = (hours.is_null() | (hours != hours.floor()) | (hours < 0) | (hours > 23)).arg_true()
    if bad.len():
        index = int(bad[0])
        raise InputError(
            f"{src.where(int(raw[ROW][index]), name)}: {raw[name][index]!r} is not an hour of the day (0-23)."
        )
    return name


def _first_pass(raw: pl.DataFrame, labels: list[str], date_col: str, value_col: str, settings: _Settings) -> dict:
    """The work every text file needs, in one polars select, which runs its expressions side
    by side (one by one they took ~0.2 s more per 10M rows on 2 cores): each text label
    column's distinct values (by name), the date column read as plain ISO days (_ISO_DAYS)
    and the value column read as floats (_FLOATS). Columns of other types are left to the
    checks that follow; nothing here raises."""
    exprs = {}
    if raw[date_col].dtype == pl.Utf8 and settings.date_format is None:
        exprs[_ISO_DAYS] = pl.col(date_col).str.to_date("%Y-%m-%d", strict=False)
    if raw[value_col].dtype == pl.Utf8:
        exprs[_FLOATS] = pl.col(value_col).cast(pl.Float64, strict=False)
    for column in labels:
        if raw[column].dtype == pl.Utf8:
            exprs[column] = pl.col(column).unique().implode()
    if len(exprs) < 2:
        return {}
    names = [f"_{i}" for i in range(len(exprs))]
    found = raw.select(expr.alias(name) for expr, name in zip(exprs.values(), names))
    # A one-row result (a list) is broadcast to every row: read it from the first row only,
    # as taking the whole column would materialise it (~1 s per 10M rows).
    first = found.head(1)
    return {
        key: found[name] if isinstance(key, tuple) else first[name][0].rename(key)
        for key, name in zip(exprs, names)
    }


def _days(
    src: _Source, raw: pl.DataFrame, column: str, settings: _Settings, iso: pl.Series | None = None
) -> tuple[pl.Series, bool, pl.Series]:
    """The project-zone day of every row, whether the column has times of day, and the
    distinct days; `iso`: the column already read as plain ISO days (`_first_pass`)."""
    series = raw[column]
    if series.dtype.is_nested():
        raise InputError(f"{src.where(column=column)}: has nested values (lists or objects), not dates.")
    try:
        days, timed = parse_days(series, settings.config.timezone, settings.date_format, iso=iso)
        _first_bad_null(src, raw, days, column)
        distinct = check_plausible(days)
    except BadCell as bad:
        row = int(raw[ROW][bad.index])
        raise InputError(f"{src.where(row, column)}: {series[bad.index]!r} {bad.what}.") from None
    return days, timed, distinct


def _one_cadence(
    src: _Source, raw: pl.DataFrame, days: pl.Series, distinct: pl.Series, column: str, config: Config,
    metrics: Callable[[], list[str]],
) -> str | None:
    """The file's granularity (`granularity_of`), refused when its dates change from a day
    at a time to a week or month at a time, or back: weekly totals would be read as days of
    a daily series with gaps. A metric whose granularity the config declares is judged per
    period whatever its rows' dates, so it is let through."""
    change = cadence_change(distinct)
    if change is None:
        return granularity_of(distinct)
    names = metrics()
    if all(config.metric(m).granularity for m in names):
        return granularity_of(distinct)
    index, what = change
    row = int(raw[ROW][int((days == distinct[index]).arg_true()[0])])
    field = f"metrics.{names[0]}.granularity" if len(names) == 1 else "each metric's granularity"
    raise InputError(
        f"{src.where(row, column)}: {distinct[index]}: {what}; a file keeps one cadence: "
        f"ingest the parts as separate metrics (--metric NAME), or declare {field} in ctxmetrics.yaml."
    )


def _per_day(frame: pl.DataFrame, dims: list[str], config: Config) -> pl.DataFrame:
    """Rows of one metric, day and segment combined: summed, or averaged for gauges."""
    means = [m for m in frame["metric"].unique().to_list() if config.metric(m).aggregation == "mean"]
    key = ["metric", "ts", *dims]
    return (
        frame.group_by(key)
        .agg(
            pl.when(pl.col("metric").first().is_in(means))
            .then(pl.col("value").mean())
            .otherwise(pl.col("value").sum())
            .alias("value")
        )
        .sort(key)
        .select("metric", "ts", "value", *dims)
    )


def _check_counts(src: _Source, frame: pl.DataFrame, config: Config, column: str | None) -> None:
    """Counts cannot go below zero; a metric not declared in the config is a count."""
    negative = frame.filter(pl.col("value") < 0)
    if negative.height == 0:
        return
    counts = negative.filter(
        pl.col("metric").is_in([m for m in negative["metric"].unique().to_list() if config.metric(m).type == "count"])
    )
    if counts.height:
        first = counts.sort(ROW).row(0, named=True)
        where = src.where(first[ROW], column or first["metric"])
        raise InputError(
            f"{where}: {first['value']:g} is negative, and '{first['metric']}' is a count; "
            f"declare it in ctxmetrics.yaml as {{type: gauge}} if it can go below zero."
        )


# --- fast path: DuckDB reads and checks a long-format Parquet file itself ------------
# The polars path above is the reference: it defines what is accepted and every error
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


def _fast_long(store: Store, src: _Source, dims: list[str], known: list[str]) -> _Fast | None:
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
        if _many_rows_per_group(found, parquet_file.date_span(store, src.path, date_col)):
            repeated, blocks = parquet_file.repeats_and_day_blocks(store, src.path, date_col, stored_as)
            if repeated:
                return None
            days = _days_of_blocks(blocks)
        else:
            hashes = parquet_file.key_hashes(store, src.path, date_col, stored_as)
            if len(hashes) != found.rows or not _all_differ(hashes):  # a repeat, or a hash collision
                return None
            days = pl.Series(parquet_file.distinct_days(store, src.path, date_col)).cast(pl.Date)
        distinct_days = check_plausible(days)  # BadCell: the polars path names the row
        sql, params = parquet_file.observations_sql(
            src.path, date_col, columns["value"] == "DOUBLE", stored_as, MAX_MAGNITUDE
        )
        if cadence_change(distinct_days) is not None:
            return None  # the polars path decides, and names the row
        span = (distinct_days[0], distinct_days[-1])
        return _Fast(sql, params, dim_cols, found.rows, span, metrics, granularity_of(distinct_days))
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


def _days_of_blocks(blocks: list[tuple[int, int]]) -> pl.Series:
    """The days set in `parquet_file.repeats_and_day_blocks` bitmaps (bit i of block b's
    mask: day 64 * b + i since 1970-01-01), sorted."""
    block = np.array([b for b, _ in blocks], dtype=np.int64).reshape(-1, 1)
    mask = np.array([m for _, m in blocks], dtype="<u8").reshape(-1, 1)
    bits = np.unpackbits(mask.view(np.uint8), axis=1, bitorder="little").astype(bool)
    days = (block * 64 + np.arange(64))[bits]
    return pl.Series(np.sort(days)).cast(pl.Int32).cast(pl.Date)


def _all_differ(hashes) -> bool:
    """True when no two of the (uint64) hashes are equal. Polars' parallel distinct count
    takes ~0.2 s for 10M on 2 cores; sorting them with numpy took ~0.7 s."""
    return pl.Series(hashes).n_unique() == len(hashes)


# --- column parsers: each reports the first bad cell with its line ---------------
def _first_bad(src: _Source, raw: pl.DataFrame, bad: pl.Series, column: str, what: str) -> None:
    if bad.any():
        index = int(bad.arg_true()[0])
        row = int(raw[ROW][index])
        cell = raw[column][index]
        raise InputError(f"{src.where(row, column)}: {cell!r} {what}.")


def _clean_labels(values: pl.Series, replace_blank: str | None, distinct: pl.Series | None = None) -> pl.Series:
    """Strip labels (metric names, dimension values). Labels repeat a lot, so the work is
    decided on the distinct values (`distinct`, when already known) and the column is
    rewritten only when one needs it."""
    distinct = values.unique() if distinct is None else distinct
    cleaned = distinct.str.strip_chars()
    if replace_blank is not None:
        cleaned = cleaned.fill_null(replace_blank).replace("", replace_blank)
    if cleaned.equals(distinct, check_names=False, null_equal=True):
        return values
    return values.replace_strict(distinct, cleaned, return_dtype=pl.Utf8)


def _check_labels(
    src: _Source, raw: pl.DataFrame, column: str, header: bool = False, distinct: pl.Series | None = None
) -> None:
    """Labels with control characters (NUL, ESC, ...) would corrupt terminals and reports;
    checked on the distinct values (`distinct`, when already known)."""
    values = raw[column]
    if not (values.unique() if distinct is None else distinct).str.contains(_CONTROL).any():
        return
    index = int(values.str.contains(_CONTROL).fill_null(False).arg_true()[0])
    where = src.where(column=values[index]) if header else src.where(int(raw[ROW][index]), column)
    raise InputError(f"{where}: {values[index]!r} has a control character; labels must be plain text.")


def _labels_column(
    src: _Source, raw: pl.DataFrame, column: str, distinct: pl.Series | None = None
) -> tuple[pl.Series, pl.Series]:
    """A label column as text, checked, and its distinct values (a distinct pass over 10M
    labels costs ~0.07 s, so every check of the column shares this one; `distinct`: found
    already by `_first_pass`)."""
    values = raw[column]
    if values.dtype.is_nested():
        raise InputError(f"{src.where(column=column)}: has nested values (lists or objects); flatten the file first.")
    if values.dtype == pl.Boolean:
        raise InputError(f"{src.where(column=column)}: holds true/false values, not labels.")
    values = values.cast(pl.Utf8)
    if distinct is None:
        distinct = values.unique()
    _check_labels(src, raw.with_columns(values), column, distinct=distinct)
    return values, distinct


def _text(src: _Source, raw: pl.DataFrame, column: str, required: bool, distinct: pl.Series | None = None) -> pl.Series:
    values, distinct = _labels_column(src, raw, column, distinct)
    if required:
        if distinct.is_null().any() or (distinct.str.strip_chars() == "").any():
            blank = values.is_null() | (values.str.strip_chars() == "")
            row = int(raw[ROW][int(blank.arg_true()[0])])
            raise InputError(f"{src.where(row, column)}: the value is empty.")
    return _clean_labels(values, None, distinct)


def _dimension(src: _Source, raw: pl.DataFrame, column: str, distinct: pl.Series | None = None) -> pl.Series:
    values, distinct = _labels_column(src, raw, column, distinct)
    return _clean_labels(values, MISSING_DIMENSION_VALUE, distinct).alias(column)


# '12,5' or '1.234,5' (a decimal comma, as in semicolon-separated exports) or '1,234'
# (a thousands separator): which one cannot be told, so neither is guessed.
_COMMA_NUMBER = re.compile(r"^[-+]?[\d.]*\d,\d[\d,]*$")
_COMMA_HINT = (
    "is not a number: a comma is read neither as a decimal point nor as a thousands separator; "
    "export the numbers with a decimal point and no separators (12.5, 1234)"
)


def _number(
    src: _Source, raw: pl.DataFrame, column: str, allow_empty: bool = False, parsed: pl.Series | None = None
) -> pl.Series:
    """Finite numbers of sane size; with `allow_empty`, an empty cell or NaN is no value;
    `parsed`: the text column already read as floats (`_first_pass`)."""
    series = raw[column]
    if series.dtype == pl.Utf8:
        if parsed is None:
            parsed = series.cast(pl.Float64, strict=False)
        if parsed.null_count() > series.null_count():
            # Only then strip (allocating every cell again) and say which cell is bad.
            stripped = series.str.strip_chars()
            parsed = stripped.cast(pl.Float64, strict=False)
            bad = parsed.is_null() & stripped.is_not_null() & (stripped != "")
            if bad.any() and _COMMA_NUMBER.match(stripped[int(bad.arg_true()[0])]):
                _first_bad(src, raw, bad, column, _COMMA_HINT)
            _first_bad(src, raw, bad, column, "is not a number")
        series = parsed
    elif series.dtype == pl.Boolean:
        raise InputError(f"{src.where(column=column)}: holds true/false values, not numbers.")
    elif series.dtype.is_nested():
        raise InputError(f"{src.where(column=column)}: has nested values (lists or objects); flatten the file first.")
    elif not (series.dtype.is_numeric() or series.dtype == pl.Null):
        raise InputError(f"{src.where(column=column)}: has type {series.dtype}, not numbers.")
    series = series.cast(pl.Float64)
    if allow_empty:
        series = series.fill_nan(None)
    _first_bad(src, raw, series.is_nan() | series.is_infinite(), column, "is not a finite number")
    _first_bad(src, raw, series.abs() > MAX_MAGNITUDE, column, f"is implausibly large (beyond ±{MAX_MAGNITUDE:g})")
    if not allow_empty:
        _first_bad_null(src, raw, series, column)
    return series


def _first_bad_null(src: _Source, raw: pl.DataFrame, series: pl.Series, column: str) -> None:
    if series.null_count():
        row = int(raw[ROW][int(series.is_null().arg_true()[0])])
        raise InputError(f"{src.where(row, column)}: the value is empty.")


def _check_duplicates(src: _Source, frame: pl.DataFrame, key: list[str]) -> None:
    # Distinct row hashes prove there are no duplicates at a fraction of the cost of an
    # exact check, which only runs when hashes collide or a duplicate really exists.
    if _all_differ(frame.select(key).hash_rows()):
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
