"""`format: records`: a file of one row per record (a CRM export's deals, with a create
date, a close date, an amount and a stage) read as the metrics the `records:` block of
ctxmetrics.yaml lists: for each, the rows whose date cell is filled and whose `where`
columns hold a listed value, counted per day of that date, or their `sum` column summed.
A record on several rows (the same id) counts once, as its last row says; every other
column not ignored is a dimension."""
from __future__ import annotations

import polars as pl

from ctxmetrics.config import RecordMetric, RecordsLayout
from ctxmetrics.errors import InputError
from ctxmetrics.ingest.amounts import _words
from ctxmetrics.ingest.cells import _days, _dimension, _number
from ctxmetrics.ingest.columns import _dimension_columns
from ctxmetrics.ingest.settings import _Settings
from ctxmetrics.ingest.sources import ROW, _Source, semicolon_separated
from ctxmetrics.ingest.warm_up import cut_warm_up, warm_up_days


def counted_records(src: _Source, raw: pl.DataFrame, settings: _Settings) -> tuple[pl.DataFrame, list[str]]:
    """The records' metrics per day and segment (metric, ts, value, dimensions), every day
    from the first to the last of them filled (a day without a won deal won none), and
    what the user is told: records on several rows, rows without a metric's date."""
    layout = settings.config.records
    if layout is None:
        raise InputError(
            f"{src.where()}: --format records needs a 'records:' block in ctxmetrics.yaml naming each metric's "
            "date column (ctxmetrics init DIR --from FILE writes one for a deals export)."
        )
    columns = [c for c in raw.columns if c != ROW]
    used = used_columns(layout)
    missing = [c for c in used if c not in columns]
    if missing:
        raise InputError(f"{src.where()}: no column '{missing[0]}', which 'records:' in ctxmetrics.yaml names.")
    notes: list[str] = []
    raw = _one_row_per_record(src, raw, layout.id, notes)
    others = [c for c in columns if c not in used and c not in settings.config.ignore_columns]
    dims = _dimension_columns(src, others, settings.dims, settings.known)
    record_days = {name: _record_days(src, raw, spec, settings) for name, spec in layout.metrics.items()}
    parts = [_one_metric(src, raw, days, spec, name, dims, settings) for (name, spec), days in
             zip(layout.metrics.items(), record_days.values())]
    notes += _undated(src, raw, layout)
    notes += _mixed_currencies(src, raw, layout, record_days)
    frame = pl.concat([p for p in parts if p.height], how="vertical_relaxed") if any(p.height for p in parts) else None
    if frame is None:
        raise InputError(f"{src.where()}: no row has a date for any metric under 'records:'; there is nothing to count.")
    return _without_warm_up(src, _every_day(frame, list(layout.metrics), dims), layout, record_days, notes), notes


def _without_warm_up(src: _Source, frame: pl.DataFrame, layout: RecordsLayout, record_days: dict[str, pl.Series],
                     notes: list[str]) -> pl.DataFrame:
    """`frame` without the later stages' first days that lack the records started before
    the export (`warm_up`): they follow the metric whose dates start first. Won deals and
    their amounts too: a deals export of the deals created since Jan 1 holds none of the
    deals won in January that were created before, so those days hold no team's total
    either, and read as a rise of won deals a month in (a metric dated as the first one
    has no warm-up)."""
    starts = {name: days.min() for name, days in record_days.items() if days.drop_nulls().len()}
    if len(starts) < 2:
        return frame
    first_metric = min(starts, key=starts.get)
    # stages dated by one column (deals won and their value) arrive alike: one cut, one note
    stages: dict[tuple[str, int], list[str]] = {}
    for name, days in record_days.items():
        if name != first_metric and name in starts:
            warm = warm_up_days(record_days[first_metric], days)
            stages.setdefault((layout.metrics[name].date, warm), []).append(name)
    for (_, warm), names in stages.items():
        frame, note = cut_warm_up(frame, names, warm, starts[first_metric], first_metric, src.path)
        notes += [note] if note else []
    return frame


def used_columns(layout: RecordsLayout) -> list[str]:
    """The columns the layout reads (its id, dates, filters and sums), in order, once each."""
    named = [layout.id] + [c for spec in layout.metrics.values() for c in (spec.date, *spec.where, spec.sum)]
    return list(dict.fromkeys(c for c in named if c is not None))


def _one_row_per_record(src: _Source, raw: pl.DataFrame, id_column: str | None, notes: list[str]) -> pl.DataFrame:
    """The rows with each id once (its last row: a later line of an export is the later
    state), saying which ids were on several rows."""
    if id_column is None:
        return raw
    ids = raw[id_column].cast(pl.Utf8).str.strip_chars()
    repeated = ids.is_duplicated() & ids.is_not_null() & (ids != "")
    if not repeated.any():
        return raw
    first = ids.filter(repeated)[0]
    lines = [src.line(int(r)) for r in raw[ROW].filter(ids == first)]
    where = f"lines {', '.join(map(str, lines[:-1]))} and {lines[-1]}"
    count = ids.filter(repeated).n_unique()
    notes.append(
        f"{src.path}: {id_column} {first} is on {len(lines)} rows ({where}): counted once, as its last row says."
        if count == 1 else
        f"{src.path}: {count} values of {id_column} are on more than one row ({first} on {where}, ...): "
        "each counted once, as its last row says."
    )
    return raw.with_columns(ids.alias("__id")).unique(subset="__id", keep="last", maintain_order=True).drop("__id")


def _filled(raw: pl.DataFrame, column: str) -> pl.Series:
    text = raw[column].cast(pl.Utf8).str.strip_chars()
    return text.is_not_null() & (text != "")


def _record_days(src: _Source, raw: pl.DataFrame, spec: RecordMetric, settings: _Settings) -> pl.Series:
    """Each record's day of a metric (null where its date is empty or its `where` not met)."""
    keep = _filled(raw, spec.date)
    for column, values in spec.where.items():
        keep &= raw[column].cast(pl.Utf8).str.strip_chars().is_in(list(values)).fill_null(False)
    days = pl.Series("ts", [None] * raw.height, dtype=pl.Date)
    if keep.any():
        days = days.scatter(keep.arg_true(), _days(src, raw.filter(keep), spec.date, settings)[0].cast(pl.Date))
    return days


def _one_metric(src: _Source, raw: pl.DataFrame, days: pl.Series, spec: RecordMetric, name: str, dims: list[str],
                settings: _Settings) -> pl.DataFrame:
    keep = days.is_not_null()
    rows = raw.filter(keep)
    if rows.height == 0:
        return pl.DataFrame()
    if spec.sum is None:
        values = pl.Series("value", [1.0] * rows.height)
    else:
        values = _number(
            src, rows, spec.sum, allow_empty=True, decimal_comma=settings.decimal_comma, semicolon=semicolon_separated(src)
        ).cast(pl.Float64)
    return (
        pl.DataFrame([days.filter(keep).alias("ts"), values.alias("value"), *(_dimension(src, rows, d) for d in dims)])
        .group_by(["ts", *dims]).agg(pl.col("value").sum())
        .select(pl.lit(name).alias("metric"), "ts", "value", *dims)
    )


def _mixed_currencies(src: _Source, raw: pl.DataFrame, layout: RecordsLayout, record_days: dict[str, pl.Series]) -> list[str]:
    """What to say of a summed metric whose records are in several currencies (a CRM report's
    `Opportunity Currency`): their sum adds dollars to euros."""
    currency = next((c for c in raw.columns if "currency" in _words(c) or "currencies" in _words(c)), None)
    if currency is None:
        return []
    notes = []
    for name, spec in layout.metrics.items():
        if spec.sum is None:
            continue
        codes = raw[currency].filter(record_days[name].is_not_null()).cast(pl.Utf8).str.strip_chars().drop_nulls()
        counts = codes.filter(codes != "").value_counts(sort=True)
        if counts.height > 1:
            listed = ", ".join(f"{code} on {n} rows" for code, n in counts.iter_rows())
            notes.append(
                f"{src.path}: {name} adds up amounts in {counts.height} currencies of the column '{currency}' ({listed}) "
                "as if they were one; export the amounts converted to one currency (a report's converted amount "
                "column) and name that column under 'records:' as the metric's sum."
            )
    return notes


def _undated(src: _Source, raw: pl.DataFrame, layout: RecordsLayout) -> list[str]:
    """`N rows have no Close Date: not counted in deals_won, won_amount.`, per date column."""
    notes = []
    for column in dict.fromkeys(spec.date for spec in layout.metrics.values()):
        empty = int((~_filled(raw, column)).sum())
        if empty:
            names = ", ".join(m for m, spec in layout.metrics.items() if spec.date == column)
            rows = "1 row has" if empty == 1 else f"{empty} rows have"
            notes.append(f"{src.path}: {rows} no {column}: not counted in {names}.")
    return notes


def _every_day(frame: pl.DataFrame, metrics: list[str], dims: list[str]) -> pl.DataFrame:
    """Each metric with a row on every day from the file's first to its last: a day
    without a record of a metric is 0 of it (put on the first segment, which it leaves
    as it is), not a day without data."""
    first, last = frame["ts"].min(), frame["ts"].max()
    days = pl.date_range(first, last, "1d", eager=True).alias("ts")
    segment = frame.sort(["ts", *dims]).select(dims).head(1)
    grid = pl.DataFrame({"metric": metrics}).join(days.to_frame(), how="cross")
    have = frame.select("metric", "ts").unique()
    zeros = grid.join(have, on=["metric", "ts"], how="anti").with_columns(pl.lit(0.0).alias("value"))
    if dims:
        zeros = zeros.join(segment, how="cross")
    zeros = zeros.select(frame.columns)
    return pl.concat([frame, zeros.cast(frame.schema)]).sort(["metric", "ts", *dims])
