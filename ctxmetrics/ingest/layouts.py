"""The file layouts read into observations: long (a row per metric, day and segment),
wide (a column per metric) and funnel events (entities counted per stage and day)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import polars as pl

from ctxmetrics.config import Config, WideMelt
from ctxmetrics.errors import InputError
from ctxmetrics.ingest.cadence import Booking
from ctxmetrics.ingest.cells import (
    _check_counts,
    _check_duplicates,
    _check_labels,
    _days,
    _dimension,
    _hour_column,
    _cadences,
    _number,
    on_booking_days,
    _text,
)
from ctxmetrics.ingest.columns import (
    DATE_NAMES,
    EVENT_COLUMNS,
    VALUE_NAMES,
    _date_column,
    _dimension_columns,
    _require,
    _role_column,
)
from ctxmetrics.ingest.dates import granularity_of
from ctxmetrics.ingest.cents import in_currency_units
from ctxmetrics.ingest.grid import cut_short_days
from ctxmetrics.ingest.log_edges import thin_edge_days
from ctxmetrics.ingest.melt import melted
from ctxmetrics.ingest.records import counted_records
from ctxmetrics.ingest.settings import _Settings
from ctxmetrics.ingest.sources import ROW, _check_header, _Source, read_table, semicolon_separated
from ctxmetrics.store.database import check_dimension_name


@dataclass(frozen=True)
class _Read:
    """One source's observations and the period of its rows (None: too few days to tell)."""

    frame: pl.DataFrame
    granularity: str | None
    metrics: list[str] | None = None  # the frame's distinct metrics, when found already
    # Each metric's granularity where its own dates show one (`cadence.metric_cadences`);
    # None: every metric has the file's.
    cadences: dict[str, str] | None = None
    notes: tuple[str, ...] = ()  # what reading the file left out (a title line, a totals row), for the user
    timed_rows: int = 0  # values of rows with a time of day, combined per day into `frame`
    # The counts booked once a month or week (`cadence.booking_of`), by metric.
    bookings: dict[str, Booking] = field(default_factory=dict)
    # (metric, ts, ROW) of each row read: the file line of a day the store refuses.
    lines: pl.DataFrame | None = None


def _read_one(src: _Source, settings: _Settings) -> _Read:
    notes: list[str] = []
    raw = read_table(src, notes)
    _check_header(src, raw.columns)
    read = _parse(src, raw, settings)
    frame, scaled = in_currency_units(read.frame, settings.config)
    return dataclasses.replace(read, frame=frame, notes=tuple(notes) + read.notes + tuple(f"{src.path}: {n}" for n in scaled))


def _parse(src: _Source, raw: pl.DataFrame, settings: _Settings) -> _Read:
    renames = {old: new for old, new in settings.config.rename_columns.items() if old in raw.columns}
    if renames:
        raw = raw.rename(renames)
    if settings.fmt == "wide":
        return _wide(src, raw, settings)
    if settings.fmt == "events":
        return _events(src, raw, settings)
    if settings.fmt == "records":
        frame, notes = counted_records(src, raw, settings)
        return _Read(frame, "daily", notes=tuple(notes))
    return _long(src, raw, settings)


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
    days, timed, distinct, stamps = _days(src, raw, date_col, settings, iso=pre.get(_ISO_DAYS))
    timed = timed or hour_col is not None
    # A series file writes a missing reading as an empty cell or NaN; a long file must not.
    values = _number(
        src, raw, value_col, allow_empty=metric_col is None, parsed=None if settings.decimal_comma else pre.get(_FLOATS),
        decimal_comma=settings.decimal_comma, semicolon=semicolon_separated(src),
    )
    if values.null_count() == values.len():  # else "Ingested 0 rows" would pass for success
        raise InputError(f"{src.where(column=value_col)}: every cell is empty or NaN; there is no value to ingest.")
    frame = raw.select(
        ROW, days.alias("ts"), metric, values.alias("value"),
        *(_dimension(src, raw, d, distinct=pre.get(d)) for d in dim_cols),
    )
    if values.null_count():  # filtering copies every column (~0.1 s per 10M rows): only when needed
        frame = frame.filter(pl.col("value").is_not_null())
    _check_counts(src, frame, settings.config, value_col)
    if timed:
        return _timed(src, frame, _local_times(raw, days, stamps, hour_col), dim_cols, settings.config)
    _check_duplicates(src, frame, ["metric", "ts", *dim_cols])
    # The metrics as stored: the distinct names (none is blank) stripped, as _text does.
    metrics = pre[metric_col].str.strip_chars().unique().to_list() if metric_col in pre else None
    # empty readings were dropped above, and with them maybe days of the file
    known = None if values.null_count() else distinct
    cadences, bookings = _cadences(src, frame, known, date_col, settings.config, metrics if metric_col else [name])
    lines = frame.select("metric", "ts", ROW)
    frame = on_booking_days(frame.select("metric", "ts", "value", *dim_cols), bookings)
    return _Read(frame, granularity_of(distinct), metrics, cadences, bookings=bookings, lines=lines)


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
    days, timed, distinct, stamps = _days(src, raw, date_col, settings)
    timed = timed or hour_col is not None
    semicolon = semicolon_separated(src)
    typed = raw.select(
        ROW,
        days.alias("ts"),
        *(_dimension(src, raw, d) for d in dims),
        # In a wide table an empty cell means "no value that day" for that metric.
        *(
            _number(src, raw, m, allow_empty=True, decimal_comma=settings.decimal_comma, semicolon=semicolon).alias(m)
            for m in metrics
        ),
    )
    long = typed.unpivot(index=[ROW, "ts", *dims], on=metrics, variable_name="metric", value_name="value")
    long = long.filter(pl.col("value").is_not_null())
    if long.height == 0:
        raise InputError(f"{src.where()}: every cell of the metric columns ({', '.join(metrics)}) is empty or NaN; there is no value to ingest.")
    melt, stored_dims = _melt_of(src, metrics, settings), dims
    if melt is not None:  # columns that are segments of one metric: rows of its dimension
        long, stored_dims = melted(long, melt), [*dims, melt.dimension]
        metrics = sorted({melt.columns[m][0] for m in metrics})
    _check_counts(src, long, settings.config, None)
    if timed:
        return _timed(src, long, _local_times(raw, days, stamps, hour_col), stored_dims, settings.config)
    _check_duplicates(src, typed, ["ts", *dims])
    # a column's own days are those it has a value on (a weekly column beside daily ones)
    cadences, bookings = _cadences(src, long, None, date_col, settings.config, metrics)
    frame = on_booking_days(long.select("metric", "ts", "value", *stored_dims), bookings)
    return _Read(frame, granularity_of(distinct), cadences=cadences, bookings=bookings, lines=long.select("metric", "ts", ROW))


def _melt_of(src: _Source, metrics: list[str], settings: _Settings) -> WideMelt | None:
    """The project's `melt:` when this file's metric columns are its columns; None when
    none is (a wide file of plain metrics). A file mixing both is refused: the plain
    columns' rows would lack the dimension the melted ones have."""
    melt = settings.config.melt
    inside = [m for m in metrics if melt is not None and m in melt.columns]
    if not inside:
        return None
    outside = [m for m in metrics if m not in melt.columns]
    if outside:
        raise InputError(
            f"{src.where(column=outside[0])}: not under melt.columns in ctxmetrics.yaml while "
            f"{', '.join(repr(m) for m in inside)} are; add it there as [metric, segment], or to ignore_columns."
        )
    return melt


def _events(src: _Source, raw: pl.DataFrame, settings: _Settings) -> _Read:
    columns = [c for c in raw.columns if c != ROW]
    date_col = _date_column(src, columns, settings.columns, names=("ts", *DATE_NAMES))
    _require(src, columns, (*EVENT_COLUMNS, date_col), "events")
    others = [c for c in columns if c not in (date_col, *EVENT_COLUMNS, *settings.config.ignore_columns)]
    dim_cols = _dimension_columns(src, others, settings.dims, settings.known)
    days = _days(src, raw, date_col, settings)[0]
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


def _local_times(raw: pl.DataFrame, days: pl.Series, stamps: pl.Series | None, hour_col: str | None) -> pl.Series:
    """Each row's local time: its stamp, or its day and its hour-of-day column."""
    if stamps is not None:
        return stamps
    hours = raw[hour_col].cast(pl.Utf8).str.strip_chars().cast(pl.Float64).cast(pl.Int64)
    return pl.select(days.cast(pl.Datetime("us")) + pl.duration(hours=hours)).to_series()


def _timed(src: _Source, frame: pl.DataFrame, times: pl.Series, dims: list[str], config: Config) -> _Read:
    """Rows with a time of day combined per day, without the edge days a regular grid of
    readings (`grid.cut_short_days`) or an event log (`log_edges.thin_edge_days`) covers
    only in part, which are said."""
    cut, notes = cut_short_days(times, config.timezone)
    if not cut and not notes:
        cut, notes = thin_edge_days(times)
    kept = frame.filter(~pl.col("ts").is_in(cut)) if cut else frame
    return _Read(
        _per_day(kept, dims, config), "daily", timed_rows=frame.height, notes=tuple(f"{src.path}: {n}" for n in notes)
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
