"""`ctxmetrics init --from FILE…`: a project file written for the user's own data files.

It looks at the columns and values: which column holds the date (and whether rows have a
time of day), whether the file is long (a metric column), one series (date + value) or
wide (one numeric column per metric), which columns are dimensions, each metric's type
(non-negative integers are counts; anything else an amount or a gauge, `amounts`) and its
granularity.
"""
from __future__ import annotations

import datetime as dt
from functools import partial
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import polars as pl
import yaml

from ctxmetrics.config import Config, RecordsLayout, WideMelt
from ctxmetrics.ingest.cadence import Booking, days_by_metric, evident_granularity, with_bookings
from ctxmetrics.ingest.melt import melted, segment_columns
from ctxmetrics.ingest.money import money_column
from ctxmetrics.ingest.dates import BadCell, granularity_of, latest_plausible, parse_days
from ctxmetrics.errors import CtxError, InputError
from ctxmetrics.ingest.date_orders import unread_dates
from ctxmetrics.ingest.amounts import TypeGuess, _words, amount_or_gauge, written_as_money, written_with_cents
from ctxmetrics.store.database import check_dimension_name
from ctxmetrics.ingest.cells import _COMMA_HINT
from ctxmetrics.ingest.columns import DATE_NAMES, HOUR_NAMES, VALUE_NAMES, usual_column
from ctxmetrics.ingest.numbers import ambiguous_thousands, no_data_as_empty, read_decimal_comma, without_percent_signs
from ctxmetrics.ingest.cents import cents_reason, currency_column
from ctxmetrics.ingest.sources import ROW, check_files, read_table, semicolon_separated
from ctxmetrics.ingest.records import counted_records, used_columns
from ctxmetrics.ingest.lifecycle import current_stage_columns, lifecycle_layout
from ctxmetrics.ingest.one_value import (
    kept_note, kept_where_files_differ, left_out_note, names_a_segment, one_value_columns,
)
from ctxmetrics.ingest.records_guess import describe, records_layout
from ctxmetrics.ingest.settings import _settings
from ctxmetrics.ingest.zones import zone_of_stamps

SAMPLE_ROWS = 100_000  # enough rows to see every column's kind; large files are not read whole
# Calendar fields that exports carry beside the date (bike sharing's day.csv has most):
# derived from the date, so measuring them would flag every new year or month.
CALENDAR_NAMES = {
    "year", "yr", "month", "mnth", "quarter", "season", "week", "weekday", "day_of_week", "dayofweek",
    "holiday", "workingday", "working_day", "weekend",
}


@dataclass
class _Found:
    """What one file shows."""

    fmt: str
    date: str
    value: str | None
    dims: list[str]
    metrics: dict[str, pl.Series] = field(default_factory=dict)  # name -> values
    metric: str | None = None  # the metric column of a long file
    hour: str | None = None  # an hour-of-day column beside a date column
    ignored: list[str] = field(default_factory=list)  # row numbers and calendar fields
    left_out: dict[str, str] = field(default_factory=dict)  # other columns not read, and why (for the user)
    timed: bool = False
    granularities: dict[str, str | None] = field(default_factory=dict)  # each metric's, as its dates show
    bookings: dict[str, Booking] = field(default_factory=dict)  # the counts booked once a month or week
    decimal_comma: bool = False  # numbers written 1.234,5
    date_format: str | None = None  # strftime codes of dates that are not ISO 8601, when their values settle them
    keys: dict[str, str] = field(default_factory=dict)  # columns read as dimensions for a reason said, and it
    rows: dict[str, pl.Series] = field(default_factory=dict)  # name -> the file row of each of its values
    melt: WideMelt | None = None  # wide columns that are segments of one metric
    scales: dict[str, str] = field(default_factory=dict)  # gauges whose values look like logarithms: their scale
    cents: dict[str, str] = field(default_factory=dict)  # amounts written in cents, and what says so
    records: RecordsLayout | None = None  # a file of one row per record (deals): its metrics are counted rows
    types: dict[str, TypeGuess] = field(default_factory=dict)  # types known from the layout, not guessed from values
    zone: tuple[str, list[str]] | None = None  # the zone whose clocks the times' UTC offsets follow, and those offsets
    renames: dict[str, str] = field(default_factory=dict)  # columns read under a dimension's name (`rename_columns`)
    one_value: dict[str, str] = field(default_factory=dict)  # text columns left out for their one value, and it


def infer_config(
    paths: Sequence[Path | str], sheet: str | None = None, date_format: str | None = None
) -> tuple[str, dict[str, str | None], list[str]]:
    """The commented text of a ctxmetrics.yaml fitted to `paths`, each metric's
    granularity as its own dates show it (None: too few dates to tell), and the lines
    `init` says: a column left out of both metrics and dimensions and why, a column of
    numbers read as the rows' key (a dimension), a count's stray negative values.

    Raises:
        InputError: a file cannot be read, or has no date column or no numbers.
    """
    sources = check_files(paths, sheet)
    notes: list[str] = []
    found = [_look_at(src, notes, date_format) for src in sources]
    kept_where_files_differ(found)
    said = notes + [
        f"Column {src}: '{name}' {why}" for src, f in zip(paths, found) for name, why in {**f.left_out, **f.keys}.items()
    ]
    said += [note for src, f in zip(sources, found) for note in _stray_negatives(src, f)]
    said += [f"{name} is {booking.reason}." for f in found for name, booking in sorted(f.bookings.items())]
    said += [_melt_note(src, f.melt) for src, f in zip(paths, found) if f.melt]
    said += [
        f"{name}'s values look like natural logarithms ({_range(f.metrics[name])}): scale: log, so its changes are "
        "said as the underlying value's (a factor such as ×6.4), never as a percentage of a log; delete 'scale: log' if they are not logs."
        for f in found for name in f.scales
    ]
    said += [
        f"{name}'s values are cents ({why}): cents: true, so ingest stores them divided by 100 (whole dollars, euros); "
        "delete 'cents: true' if they are whole currency units already."
        for f in found for name, why in f.cents.items()
    ]
    said += [describe(src.path, f.records) for src, f in zip(sources, found) if f.records]
    said += [
        f"Column {src.path}: '{old}' is a segment of the records, and a dimension needs a name of letters, digits and "
        f"underscores: read as '{new}' (rename_columns)."
        for src, f in zip(sources, found) if f.records for old, new in f.renames.items()
    ]
    zone = _one_zone(found)
    said += [_zone_note(src, f.zone[1], zone) for src, f in zip(sources, found) if f.zone]
    said += _type_notes(found)
    return (
        _render(found, [Path(p).name for p in paths], sheet),
        {m: g for f in found for m, g in f.granularities.items()},
        said,
    )


def _one_zone(found: list[_Found]) -> str | None:
    """The zone the files' offsets name, when they name one and no file names another."""
    zones = {f.zone[0] for f in found if f.zone}
    return zones.pop() if len(zones) == 1 and None not in zones else None


def _zone_note(src, offsets: list[str], zone: str | None) -> str:
    """What `init` says of times written with UTC offsets: the zone taken, or the one to set."""
    if zone is not None:
        return (
            f"{src.path}: its times carry the UTC offsets {' and '.join(offsets)} of {zone}'s clocks on their dates: "
            f"timezone: {zone}, so each row counts on its local day; write your own zone there if it is another with "
            "the same clocks."
        )
    return (
        f"{src.path}: its times carry the UTC offset{'s' if len(offsets) > 1 else ''} {' and '.join(offsets)}; the "
        "project counts days in UTC (timezone: UTC): write your zone there (an IANA name such as Europe/Berlin) to "
        "count each row on its local day."
    )


def _melt_note(src, melt: WideMelt) -> str:
    """What `init` says of a melted wide file: what it guessed and how to undo it."""
    metrics = sorted({m for m, _ in melt.columns.values()})
    segments = sorted({s for _, s in melt.columns.values()})
    return (
        f"Columns {src}: {', '.join(melt.columns)} are {melt.dimension}s of "
        f"{'one metric' if len(metrics) == 1 else 'each metric'} ({', '.join(metrics)}): read as its rows by "
        f"{melt.dimension} ({', '.join(segments)}), so its total is their sum. To read each column as a metric of "
        f"its own, delete 'melt:' and '{melt.dimension}' from dimensions in ctxmetrics.yaml."
    )


def _look_at(src, notes: list[str], given_format: str | None = None) -> _Found:
    """What one file holds; `given_format`: the dates' format named by the user (dates that
    read both day first and month first: 01/05/2026 in a file of the first twelve days)."""
    settle = partial(_settled_format, given=given_format)
    table = read_table(src, notes)
    whole = table.height <= SAMPLE_ROWS  # a column's one value is judged only when every row is seen
    raw = table.head(SAMPLE_ROWS)
    columns = [c for c in raw.columns if c != ROW]
    raw = raw.with_columns(no_data_as_empty(raw[c].str.strip_chars()) for c in columns if raw[c].dtype == pl.Utf8)
    percents = _percent_columns(raw, columns)  # column -> its first cell, as written
    raw = raw.with_columns(without_percent_signs(raw[c].str.strip_chars()).alias(c) for c in percents)
    # A semicolon file's `1.234,50` is its decimal comma (said as such) before it is money.
    comma_numbers = _decimal_comma_columns(raw, columns) if semicolon_separated(src) else {}
    raw = raw.with_columns(comma_numbers.values())
    money = _money_columns(src, raw, [c for c in columns if c not in comma_numbers])  # column -> first cell, values
    raw = raw.with_columns(values.cast(pl.Utf8).alias(c) for c, (_, values) in money.items())
    lifecycle = lifecycle_layout(raw, columns)
    records = (lifecycle, None) if lifecycle is not None else records_layout(raw, columns, src.path.stem, settle)
    if records is not None:
        return _records_found(src, raw, columns, *records, bool(comma_numbers), contacts=lifecycle is not None,
                              whole=whole)
    date = usual_column(columns, DATE_NAMES) or _date_like(raw, columns, given_format)
    years = None if date is not None else _year_column(raw, columns)
    if years is not None:  # a yearly file, `year,gdp` with 1960, ...: each year's Jan 1
        date = years
        raw = raw.with_columns(pl.col(date).cast(pl.Int64).cast(pl.Utf8))
    if date is None:
        _refuse_ambiguous_dates(src, raw, columns)
        raise InputError(f"{src.path}: no date column found (looked for {', '.join(DATE_NAMES)} and ISO dates).")
    date_format = "%Y" if years is not None else None
    try:
        days, timed = parse_days(raw[date], Config.timezone, date_format)
    except BadCell as bad:
        date_format = _date_format_of(raw[date], given_format)
        unread = unread_dates(raw[date], given_format) if date_format is None else None
        if unread is not None:
            index, what = unread
            raise InputError(f"{src.where(int(raw[ROW][index]), date)}: {raw[date][index]!r} {what}.") from None
        if date_format is None:
            raise InputError(
                f"{src.where(int(raw[ROW][bad.index]), date)}: {raw[date][bad.index]!r} {bad.what}; "
                "write the project file by hand with date_format."
            ) from None
        days, timed = parse_days(raw[date], Config.timezone, date_format)
    hour = None if timed else _hour_of_day(raw, columns)
    zone = zone_of_stamps(raw[date]) if timed and raw[date].dtype == pl.Utf8 else None
    roles = (date, hour, usual_column(columns, ("metric",)), usual_column(columns, VALUE_NAMES))
    _refuse_comma_numbers(src, raw, [c for c in columns if c not in roles])
    ignored = [c for c in columns if c not in roles and _not_a_measurement(raw[c])]
    left_out = _not_segments_nor_measurements(
        raw, [c for c in columns if c not in (*roles, *ignored)], date, hour, days if timed else None
    )
    kept_one_value: dict[str, str] = {}
    one_value = _one_value_left_out(raw, [c for c in columns if c not in (*roles, *ignored)], left_out, whole,
                                    kept_one_value)
    renames = {} if timed else _renames_telling_rows_apart(raw, [date, *([hour] if hour else [])], columns, left_out)
    if renames:  # read under a name a dimension can have, and said
        raw, columns = raw.rename(renames), [renames.get(c, c) for c in columns]
        notes += [
            f"Column {src.path}: '{old}' tells the rows of each {date} apart, and a dimension needs a name of letters, "
            f"digits and underscores: read as '{new}' (rename_columns)." for old, new in renames.items()
        ]
    ignored += list(left_out)
    others = [c for c in columns if c not in (date, hour, *ignored)]
    metric = usual_column(others, ("metric",))
    keys: dict[str, str] = {}
    if metric is not None:
        value = usual_column(others, VALUE_NAMES)
        if value is None:
            raise InputError(f"{src.path}: a metric column but no value column ({', '.join(VALUE_NAMES)}).")
        values = _numbers(raw[value])
        names = raw[metric].cast(pl.Utf8)
        metrics = {str(m): values.filter(names == m) for m in names.unique().drop_nulls().sort()}
        found = _Found("long", date, value, [c for c in others if c not in (metric, value)], metrics, metric)
    else:
        numeric = [c for c in others if _is_numeric(raw[c])]
        keys = _numeric_keys(raw, [date] + ([hour] if hour else []) + [c for c in others if c not in numeric], numeric)
        numeric = [c for c in numeric if c not in keys]
        value = usual_column(numeric, VALUE_NAMES)
        if value is not None and len(numeric) == 1:
            found = _Found("long", date, value, [c for c in others if c != value], {src.path.stem: _numbers(raw[value])})
        elif numeric and _segments_of(src, numeric, [c for c in others if c not in numeric]) is not None:
            melt, totals = _segments_of(src, numeric, [c for c in others if c not in numeric])
            left_out.update({c: f"is the sum of the {melt.dimension} columns beside it: left out (ignore_columns), or "
                                "the total would count them twice." for c in totals})
            ignored += totals
            raw, days = _melted_raw(raw, days, [c for c in others if c not in (*numeric, *totals)], melt)
            names = raw["metric"]
            found = _Found("wide", date, "value", [c for c in others if c not in numeric] + [melt.dimension],
                           {str(m): raw["value"].filter(names == m) for m in names.unique().sort()}, "metric")
            found.melt = melt
        elif numeric:
            found = _Found("wide", date, None, [c for c in others if c not in numeric], {c: _numbers(raw[c]) for c in numeric})
        else:
            raise InputError(f"{src.path}: no column of numbers besides '{date}'; nothing to measure.")
    found.hour = hour
    found.keys = keys | {c: why for c, why in kept_one_value.items() if c in found.dims}
    found.renames = renames
    found.one_value = one_value
    names = raw[found.metric].cast(pl.Utf8) if found.metric is not None else None
    found.rows = {m: raw[ROW] if names is None else raw[ROW].filter(names == m) for m in found.metrics}
    found.ignored = ignored
    found.left_out = left_out
    found.decimal_comma = bool(comma_numbers)
    found.date_format = date_format
    found.timed = timed or hour is not None
    found.zone = zone
    column_of = {m: m if found.fmt == "wide" and found.value is None else found.value for m in found.metrics}
    found.types = {  # a percentage is a level: a region's 12% and another's 14% do not add up
        m: TypeGuess("gauge", f"its values are percentages ({percents[c]!r})")
        for m, c in column_of.items() if c in percents
    } | {m: written_as_money(m, money[c][0]) for m, c in column_of.items() if c in money}
    found.types |= {m: guess for m, c in column_of.items() if c is not None and m not in found.types
                    and (guess := written_with_cents(m, raw[c])) is not None}
    currency = currency_column(columns)
    found.cents = {
        m: reason for m, c in column_of.items() if c is not None and c not in money and c not in percents
        and (reason := cents_reason(c, raw[c], raw[currency] if currency is not None else None)) is not None
    }
    found.types |= {m: TypeGuess("amount", f"its values are money written in cents: {why}") for m, why in found.cents.items()}
    found.scales = {m: "log" for m, values in found.metrics.items() if _looks_like_logs(m, found.value, values)}
    if timed:
        found.granularities = {m: "daily" for m in found.metrics}
    else:
        found.granularities, found.bookings = _granularities(found, raw, days)
    return found


def _records_found(
    src, raw: pl.DataFrame, columns: list[str], layout: RecordsLayout, date_format: str | None, decimal_comma: bool,
    contacts: bool = False, whole: bool = True,
) -> _Found:
    """A file of one row per record, counted as `layout` says (by the ingest code itself,
    so the types and days `init` reads are those ingest will store). Of the other
    columns, text ones are dimensions unless `_not_segments_nor_measurements` leaves them
    out; numbers are left out (a number per record is measured only when summed)."""
    used = used_columns(layout)
    date = next(iter(layout.metrics.values())).date
    stages = current_stage_columns([c for c in columns if c not in used])
    others = [c for c in columns if c not in used and c not in stages]
    left_out = _not_segments_nor_measurements(raw, others, date, None)
    left_out.update({  # Pipedrive's expected_close_date, lost_time: a segment per date is no segment
        c: "holds dates (another date of each record): no segment; left out (ignore_columns). Add a metric with "
        f"'date: {c}' under 'records:' to count the records by it." for c in others
        if c not in left_out and not _is_numeric(raw[c]) and _date_like(raw, [c]) is not None
    })
    kept_one_value: dict[str, str] = {}
    one_value = _one_value_left_out(raw, others, left_out, whole, kept_one_value)
    # A contact's text fields are its segments (`Original Source`, `Country/Region`): one whose
    # name a dimension cannot have is read under one it can (rename_columns), and said. A deals
    # export keeps qa7's rule (`Deal owner` left out, with the rename to make).
    renames = {c: _identifier(c) for c in _left_out_for_their_names(raw, left_out)} if contacts else {}
    for old in renames:
        del left_out[old]
    left_out.update({
        c: "is each record's stage at export time, which changes as it moves on: no segment of the days it reached "
        "a stage; left out (ignore_columns)." for c in stages
    })
    left_out.update({
        c: "is a number on each record: left out (ignore_columns); add a metric with 'sum: " + c + "' under "
        "'records:' to measure it." for c in others if c not in left_out and _is_numeric(raw[c])
    })
    dims = [renames.get(c, c) for c in others if c not in left_out]
    config = Config(records=layout, ignore_columns=tuple(left_out), date_format=date_format)
    counted, _ = counted_records(src, raw.rename(renames), _settings(config, fmt="records", dims=dims, known=dims))
    names = counted["metric"]
    found = _Found("records", date, None, dims, {m: counted["value"].filter(names == m) for m in layout.metrics})
    found.records, found.ignored, found.left_out, found.decimal_comma = layout, list(left_out), left_out, decimal_comma
    found.date_format, found.renames, found.one_value = date_format, renames, one_value
    found.keys = {renames.get(c, c): why for c, why in kept_one_value.items() if renames.get(c, c) in dims}
    found.types = {
        m: amount_or_gauge(m, found.metrics[m]) if spec.sum else TypeGuess("count", "records counted")
        for m, spec in layout.metrics.items()
    }
    found.granularities = {m: "daily" for m in layout.metrics}
    return found


def _one_value_left_out(
    raw: pl.DataFrame, columns: list[str], left_out: dict[str, str], whole: bool, said: dict[str, str]
) -> dict[str, str]:
    """The text columns of `columns` not yet left out that hold one value on every row
    (`one_value`), added to `left_out` with the reason, each with its value; those named as
    a segment (`Region`) stay dimensions, said in `said`."""
    if not whole:
        return {}
    found = one_value_columns(raw, [c for c in columns if c not in left_out and not _is_numeric(raw[c])])
    said.update({c: kept_note(v) for c, v in found.items() if names_a_segment(c)})
    found = {c: v for c, v in found.items() if not names_a_segment(c)}
    left_out.update({c: left_out_note(v) for c, v in found.items()})
    return found


def _segments_of(src, numeric: list[str], dims: list[str]) -> tuple[WideMelt, list[str]] | None:
    """The melt of a wide file's numeric columns when they are segments of one metric
    (`melt.segment_columns`), whose dimension is not a column of the file already."""
    found = segment_columns(numeric, src.path.stem)
    return None if found is None or found[0].dimension in dims else found


def _melted_raw(raw: pl.DataFrame, days: pl.Series, dims: list[str], melt: WideMelt) -> tuple[pl.DataFrame, pl.Series]:
    """The file's rows as a long table (metric, the melt's dimension, value; the file's
    row and day kept), and the day of each of its rows."""
    long = raw.with_columns(days.alias(_DAY)).unpivot(
        index=[ROW, _DAY, *dims], on=list(melt.columns), variable_name="metric", value_name="value"
    )
    long = melted(long.with_columns(_numbers(long["value"])), melt)
    return long.drop(_DAY), long[_DAY]


_DAY = "__ctxmetrics_day"  # the parsed day carried through the melt


def _refuse_comma_numbers(src, raw: pl.DataFrame, columns: list[str]) -> None:
    """A column of numbers written with commas (`"1,234"`, `12,5`) is refused naming its
    first such cell, as ingest refuses it: neither left out as a label of the day nor
    reported as no numbers at all."""
    for name in columns:
        if raw[name].dtype != pl.Utf8:
            continue
        text = raw[name].str.strip_chars()
        commas = text.str.contains(r"^[-+]?[\d.]*\d,\d[\d,.]*$").fill_null(False)
        if commas.any() and _is_numeric(text.str.replace_all(",", "", literal=True)):
            index = int(commas.arg_true()[0])
            raise InputError(f"{src.where(int(raw[ROW][index]), name)}: {text[index]!r} {_COMMA_HINT}.")


def _granularities(
    found: _Found, raw: pl.DataFrame, days: pl.Series
) -> tuple[dict[str, str | None], dict[str, Booking]]:
    """Each metric's granularity from the days it has a value on: clear from its own dates
    (a weekly column beside daily ones), else what all the file's dates show; a count whose
    non-zero values fall on one day a month or one weekday is monthly or weekly
    (`cadence.booking_of`): those bookings beside."""
    own, bookings = _days_with_values(found, raw, days, lambda values: values.is_not_null()), {}
    cadences = {name: evident_granularity(own[name]) for name in own}
    counts = [m for m, c in cadences.items() if c == "daily" and _type_guess(found.metrics[m], m).type == "count"]
    if counts:
        nonzero = _days_with_values(found, raw, days, lambda values: values.is_not_null() & (values != 0))
        cadences, bookings = with_bookings(cadences, nonzero, counts)
    file_granularity = granularity_of(days)
    return {name: cadences.get(name) or file_granularity for name in found.metrics}, bookings


def _days_with_values(found: _Found, raw: pl.DataFrame, days: pl.Series, keep) -> dict[str, pl.Series]:
    """Each metric's sorted distinct days on which `keep(values)` holds."""
    if found.metric is None:  # a column per metric: its days are those with a value
        return {name: days.filter(keep(values)).drop_nulls().unique().sort() for name, values in found.metrics.items()}
    names = raw[found.metric].cast(pl.Utf8)
    rows = names.is_not_null() & days.is_not_null() & keep(_numbers(raw[found.value]))
    return days_by_metric(names.filter(rows), days.filter(rows), None) if rows.any() else {}


def _percent_columns(raw: pl.DataFrame, columns: list[str]) -> dict[str, str]:
    """The text columns whose every filled cell is a percentage (`12.5%`), each with its
    first filled cell as written."""
    found = {}
    for name in columns:
        if raw[name].dtype == pl.Utf8 and without_percent_signs(text := raw[name].str.strip_chars()) is not None:
            found[name] = text.filter(text.is_not_null() & (text != ""))[0]
    return found


def _money_columns(src, raw: pl.DataFrame, columns: list[str]) -> dict[str, tuple[str, pl.Series]]:
    """The text columns written as money (`$1,234.50`, `1 234,50 €`), each with its first
    filled cell as written and its values read as ingest reads them; a column mixing two
    currencies is refused naming the row, as ingest refuses it."""
    found = {}
    for name in columns:
        if raw[name].dtype != pl.Utf8:
            continue
        text = raw[name].str.strip_chars()
        try:
            read = money_column(text)
        except BadCell as bad:
            raise InputError(f"{src.where(int(raw[ROW][bad.index]), name)}: {text[bad.index]!r} {bad.what}.") from None
        if read is not None:
            found[name] = (text.filter(text.is_not_null() & (text != ""))[0], read[0])
    return found


def _decimal_comma_columns(raw: pl.DataFrame, columns: list[str]) -> dict[str, pl.Series]:
    """The text columns of a semicolon-separated file that are numbers only when read with a
    decimal comma (12,5, or 39.230 where every dot sits between thousands), read so."""
    found = {}
    for name in columns:
        if raw[name].dtype != pl.Utf8:
            continue
        text = raw[name].str.strip_chars()
        values, bad = read_decimal_comma(text)
        commas = text.str.contains(",", literal=True).fill_null(False).any()
        if values.is_not_null().any() and not bad.any() and (commas or ambiguous_thousands(text) is not None):
            found[name] = values.cast(pl.Utf8).alias(name)
    return found


def _hour_of_day(raw: pl.DataFrame, columns: list[str]) -> str | None:
    """A column named like an hour (hour, hr) holding whole numbers 0-23 only."""
    name = usual_column(columns, HOUR_NAMES)
    if name is None or not _is_numeric(raw[name]):
        return None
    hours = _numbers(raw[name])
    return name if bool(hours.is_not_null().all() and hours.is_between(0, 23).all() and (hours == hours.floor()).all()) else None


def _not_a_measurement(column: pl.Series) -> bool:
    """Whole numbers that are a calendar field by name, or a running row number (1, 2, 3…)."""
    if not _is_numeric(column):
        return False
    values = _numbers(column)
    if values.is_null().any() or not (values == values.floor()).all():
        return False
    if column.name.lower() in CALENDAR_NAMES:
        return True
    steps = values.diff().drop_nulls()
    return steps.len() >= 2 and bool((steps == 1).all())


# A column of whole numbers 1..CODE_MAX_VALUE taking at most CODE_MAX_DISTINCT values, each
# seen CODE_MIN_ROWS_PER_VALUE times on average, is a category code (bike sharing's
# `weathersit`, 1-4), not a count: a count that small would be 0 on some days.
CODE_MAX_DISTINCT, CODE_MAX_VALUE, CODE_MIN_ROWS_PER_VALUE = 6, 12, 20


def _renames_telling_rows_apart(
    raw: pl.DataFrame, key: list[str], columns: list[str], left_out: dict[str, str]
) -> dict[str, str]:
    """The text columns left out only for their names (`Campaign name`) that the rows of a
    date need to be told apart (an ads export of one row per day and campaign), each with
    a name a dimension can have; left out, ingest would refuse every such row as a
    duplicate. Taken from `left_out`."""
    unnamed = _left_out_for_their_names(raw, left_out)
    kept = key + [c for c in columns if c not in left_out and c not in key and not _is_numeric(raw[c])]
    if not unnamed or not raw.select(kept).is_duplicated().any() or raw.select(kept + unnamed).is_duplicated().any():
        return {}
    for name in unnamed:
        del left_out[name]
    return {name: _identifier(name) for name in unnamed}


def _left_out_for_their_names(raw: pl.DataFrame, left_out: dict[str, str]) -> list[str]:
    """The text columns of `left_out` that would be segments but for their names (`Original
    Source`, `Country/Region`). A second column of dates (Meta's `Reporting ends`) is a date
    of each row, and a name on most rows no segment."""
    return [
        c for c in left_out
        if not _dimension_name_ok(c) and not _is_numeric(raw[c]) and _date_like(raw, [c]) is None
        and not _names_rows(raw[c].cast(pl.Utf8).str.strip_chars())
    ]


def _not_segments_nor_measurements(
    raw: pl.DataFrame, columns: list[str], date: str, hour: str | None, days: pl.Series | None = None
) -> dict[str, str]:
    """Columns that are neither a metric nor a dimension, each with the reason said to the
    user: empty ones, and labels or category codes of a file with one row per date (the
    weather of the day: splitting the one series by it would make segments that exist
    on some days only). Where rows repeat a date, labels stay dimensions and small whole
    numbers measurements: a store number cannot be told from a count of 1-6 orders there.
    `days`: the day of each row of a file with times of day, whose rows are combined per
    day: a text is then a label of the day only when the file has one row per day (a
    payment's `type`, charge or refund, is a segment of each day's rows)."""
    one_row_per_date = not raw.select([date] + ([hour] if hour else [])).is_duplicated().any()
    one_row_per_day = one_row_per_date if days is None else not days.is_duplicated().any()
    per = f"one row per {date}" + (f" and {hour}" if hour else "")
    # a file whose only column of numbers holds small whole ones (5-7 sign-ups an hour) measures it
    numeric = [c for c in columns if _is_numeric(raw[c])]
    sole_number = numeric[0] if len(numeric) == 1 else None
    left_out = {}
    for name in columns:
        column = raw[name]
        text = column.cast(pl.Utf8).str.strip_chars()
        if (text.is_null() | (text == "") | (text.str.to_lowercase() == "nan")).all():
            left_out[name] = "is empty: left out (ignore_columns)."
        elif _is_code(column) and one_row_per_date and name != sole_number:
            shown = ", ".join(f"{v:g}" for v in _numbers(column).unique().sort().to_list())
            left_out[name] = (
                f"holds only the whole numbers {shown}: a category code, not a count; {per}, so no "
                "segment either: left out (ignore_columns). Move it to metrics or dimensions if that is wrong."
            )
        elif not _is_numeric(column) and _names_rows(text):
            left_out[name] = (
                f"holds a different text on {text.n_unique() / text.len():.0%} of the rows (a name or id of each "
                "row, not a segment): left out (ignore_columns)."
            )
        elif not _is_numeric(column) and not _dimension_name_ok(name):
            left_out[name] = (
                f"cannot be a dimension name (letters, digits and underscores only): left out (ignore_columns); "
                f"rename the column in the file (e.g. {_identifier(name)}) to read it as a segment."
            )
        elif not _is_numeric(column) and one_row_per_day and (text.n_unique() > 1 or text.is_null().any()):
            # (one value on every row is judged apart, over all the files read: `one_value`)
            left_out[name] = (
                f"is a label of each date ({per}), not a segment: left out (ignore_columns). "
                "Move it to dimensions if that is wrong."
            )
    return left_out


# A text column with a distinct value on more than this share of at least ID_MIN_ROWS rows
# names the rows (a deal's name, an e-mail): a segment per row would be no segment.
ID_SHARE, ID_MIN_ROWS = 0.5, 50


def _names_rows(text: pl.Series) -> bool:
    return text.len() >= ID_MIN_ROWS and text.n_unique() > ID_SHARE * text.len()


def _dimension_name_ok(name: str) -> bool:
    try:
        check_dimension_name(name)
    except CtxError:
        return False
    return True


def _identifier(name: str) -> str:
    """`Deal owner` -> `deal_owner`: a name a dimension may have."""
    return re.sub(r"\W+", "_", name.strip().lower()).strip("_") or "segment"


def _numeric_keys(raw: pl.DataFrame, keys: list[str], numeric: list[str]) -> dict[str, str]:
    """Columns of whole numbers that tell apart the rows sharing a date (store 1001, 1002,
    ... in a file of several rows per date and no text column doing so), each with the
    reason said to the user. A key takes few values, each on many dates, at most twice
    as many as a date has rows; a count beside it takes many more. Candidates are taken
    fewest values first until the rows of each date are told apart, or none is."""
    if not raw.select(keys).is_duplicated().any():
        return {}
    widest = raw.group_by(keys).len()["len"].max()
    distinct = {c: _numbers(raw[c]).n_unique() for c in numeric if _whole(raw[c])}
    taken: list[str] = []
    for name in sorted((c for c, n in distinct.items() if 1 < n <= 2 * widest), key=distinct.get):
        taken.append(name)
        if not raw.select(keys + taken).is_duplicated().any():
            return {
                c: f"holds {distinct[c]} whole numbers that tell apart the rows of one date: a dimension "
                "(a store or region id), not a count. Move it to metrics if that is wrong."
                for c in taken
            }
    return {}


def _whole(column: pl.Series) -> bool:
    values = _numbers(column)
    return bool(values.is_not_null().all() and (values == values.floor()).all())


# Whole numbers with negatives on at most this share of the values (one in 50) are a count
# with bad rows (a refund keyed as -3 orders), not a level that goes below zero.
STRAY_NEGATIVE_SHARE = 0.02


def _stray(values: pl.Series) -> pl.Series | None:
    """The mask of a metric's negative values when they are strays among whole numbers."""
    present = values.is_not_null()
    whole = values.filter(present)
    negative = (values < 0).fill_null(False)
    few = 0 < negative.sum() <= STRAY_NEGATIVE_SHARE * whole.len()
    return negative if few and bool((whole == whole.floor()).all()) else None


def _stray_negatives(src, found: _Found) -> list[str]:
    """`file:line: column 'c': -3 ...` for each stray negative of a metric typed a count."""
    notes = []
    for name, values in found.metrics.items():
        stray = None if name in found.types else _stray(values)  # counted rows, not a column's values
        if stray is None:
            continue
        column = found.value or name
        for row, value in zip(found.rows[name].filter(stray).to_list(), values.filter(stray).to_list()):
            notes.append(
                f"{src.where(row, column)}: {value:g} is a negative among whole numbers: '{name}' is typed "
                "a count, and ingest refuses this row until it is fixed (type: amount or gauge if values below 0 are real)."
            )
    return notes


def _is_code(column: pl.Series) -> bool:
    if not _is_numeric(column):
        return False
    values = _numbers(column).drop_nulls()
    distinct = values.n_unique()
    return (
        values.len() >= CODE_MIN_ROWS_PER_VALUE * distinct and distinct <= CODE_MAX_DISTINCT
        and bool((values == values.floor()).all()) and values.min() >= 1 and values.max() <= CODE_MAX_VALUE
    )


def _year_column(raw: pl.DataFrame, columns: list[str]) -> str | None:
    """A column named `year` (or `yr`) of whole numbers from 1900 to next year, in a file
    without a date column: the rows are years (the date column of a yearly file)."""
    name = usual_column(columns, ("year", "yr"))
    if name is None:
        return None
    values = _numbers(raw[name])
    last = latest_plausible().year
    if values.len() < 2 or values.null_count() or not ((values == values.floor()) & values.is_between(1900, last)).all():
        return None
    return name


def _date_like(raw: pl.DataFrame, columns: list[str], given: str | None = None) -> str | None:
    for name in columns:
        if raw[name].dtype in (pl.Utf8, pl.Date) or isinstance(raw[name].dtype, pl.Datetime):
            try:
                parse_days(raw[name].drop_nulls().head(100), Config.timezone)
            except (BadCell, pl.exceptions.PolarsError):
                if raw[name].dtype == pl.Utf8 and _date_format_of(raw[name], given) is not None:
                    return name  # e.g. a `month` column of 2017-07, a `created` of Unix times
                continue
            return name
    return None


# Date formats that exports write instead of ISO 8601: day and month in either order (with a
# time of day, as Excel writes it), months, ISO weeks.
_DATE_FORMATS = tuple(
    f"{a}{sep}{b}{sep}%Y{time}" for time in ("", " %H:%M", " %H:%M:%S")
    for sep in "/.-" for a, b in (("%d", "%m"), ("%m", "%d"))
) + ("%Y-%m", "%Y/%m", "%B %Y", "%G-W%V", "%B %d, %Y", "%Y%m%d")  # %B reads Mar and March; Nov 28, 2026: Google
# Sheets; 20260301: Google Analytics


def _refuse_ambiguous_dates(src, raw: pl.DataFrame, columns: list[str]) -> None:
    """A column named as a date whose every cell reads both day first and month first
    (01/05/2026, in a file of the first twelve days of each month): refused naming both
    readings, since a guess would put every row on a wrong day."""
    for name in columns:
        if raw[name].dtype != pl.Utf8 or not set(_words(name)) & TIME_WORDS:
            continue
        text = raw[name].drop_nulls().str.strip_chars()
        fitting = [f for f in _DATE_FORMATS if _fits(text, f)] if text.len() else []
        if len(fitting) > 1:
            raise InputError(
                f"{src.path}: column '{name}': every date reads both as {fitting[0]} and as {fitting[1]} (no day "
                f"above 12, e.g. {text[0]!r}), so which is the day cannot be told; name the format: ctxmetrics init "
                f"DIR --from {src.path} --date-format '%m/%d/%Y' (month first, as in the US) or '%d/%m/%Y'."
            )


def _settled_format(column: pl.Series, given: str | None = None) -> str | None:
    """The one format of `_DATE_FORMATS` that reads every date of the column, when only one
    does: 27/11/2026 settles day first; a file whose days are all 12 or less does not.
    `given`: the format the user named, taken when it reads every date."""
    text = column.drop_nulls().str.strip_chars()
    if text.len() == 0:
        return None
    if given is not None:
        return given if _fits(text, given) else None
    fitting = [f for f in _DATE_FORMATS if _fits(text, f)]
    return fitting[0] if len(fitting) == 1 else None


def _date_format_of(column: pl.Series, given: str | None = None) -> str | None:
    """`_settled_format`, or `%s` for a column named as a time (Stripe's `created`) whose
    every cell is a Unix time: whole seconds since 1970, from 2000 to next year. Only the
    name tells such a column from a count or an id of that size."""
    settled = _settled_format(column, given)
    if settled is not None or not set(_words(column.name)) & TIME_WORDS:
        return settled
    text = column.drop_nulls().cast(pl.Utf8).str.strip_chars()
    return "%s" if text.len() and _unix_seconds(text) else None


TIME_WORDS = frozenset({"date", "time", "ts", "timestamp", "datetime", "created", "updated", "at", "day"})


def _unix_seconds(text: pl.Series) -> bool:
    if not text.str.contains(r"^\d{9,10}$").all():
        return False
    seconds = text.cast(pl.Int64)
    last = dt.datetime.combine(latest_plausible(), dt.time(23, 59, 59), tzinfo=dt.timezone.utc).timestamp()
    return bool(seconds.min() >= UNIX_2000 and seconds.max() <= last)


UNIX_2000 = 946_684_800  # 2000-01-01 in seconds since 1970


def _fits(text: pl.Series, date_format: str) -> bool:
    try:
        parse_days(text, Config.timezone, date_format)
    except BadCell:
        return False
    return True


def _numbers(series: pl.Series) -> pl.Series:
    """Values as floats; an unparseable cell, an empty one or NaN is null."""
    return series.cast(pl.Utf8).str.strip_chars().cast(pl.Float64, strict=False).fill_nan(None)


def _is_numeric(series: pl.Series) -> bool:
    if series.dtype.is_numeric():
        return True
    if series.dtype != pl.Utf8:
        return False
    text = series.str.strip_chars()
    present = text.is_not_null() & (text != "")
    parsed = text.cast(pl.Float64, strict=False)
    return bool(present.any()) and bool((parsed.is_not_null() | ~present).all())


# A gauge named `y` (Prophet's name, often a log) whose values, not whole numbers, lie in this
# range reads as natural logs: e^1 to e^25, a few to 10^10 of something counted.
LOG_LIKE_RANGE = (1.0, 25.0)


def _looks_like_logs(metric: str, value_column: str | None, values: pl.Series) -> bool:
    """A gauge whose metric or value column is named with `log` (`log_views`, a file
    `..._log_...`), or a `y` of values in `LOG_LIKE_RANGE` that are not all whole."""
    if _type_guess(values, metric).type != "gauge":
        return False
    words = {w for name in (metric, value_column or "") for w in re.split(r"[^a-z0-9]+", name.lower()) if w}
    if "log" in words or "ln" in words:
        return True
    present = values.drop_nulls()
    return (
        "y" in words and present.len() > 0 and bool((present != present.floor()).any())
        and LOG_LIKE_RANGE[0] <= present.min() and present.max() <= LOG_LIKE_RANGE[1]
    )


def _range(values: pl.Series) -> str:
    return f"from {values.min():.3g} to {values.max():.3g}"


def _type_guess(values: pl.Series, name: str) -> TypeGuess:
    """A count (non-negative whole numbers, a few stray negatives aside), else an amount or
    a gauge as `amounts.amount_or_gauge` guesses from the name and the values."""
    stray = _stray(values)
    kept = (values if stray is None else values.filter(~stray)).drop_nulls()
    if kept.len() > 0 and bool(((kept >= 0) & (kept == kept.floor())).all()):
        return TypeGuess("count", "non-negative whole numbers")
    return amount_or_gauge(name, values)


# What each guessed type does, and the type to write instead when the guess is wrong
_TYPE_EFFECTS = {
    "amount": ("summed across segments and days", "gauge", "its segments do not add up to the total (a price, a rate)"),
    "gauge": ("averaged across segments", "amount", "its segments add up to the total (money, volumes)"),
}


def _type_notes(found: list[_Found]) -> list[str]:
    """What `init` says of each metric typed an amount or a gauge: why, and how to change it."""
    notes = []
    for f in found:
        for name, values in f.metrics.items():
            guess = f.types.get(name) or _type_guess(values, name)
            if guess.type in _TYPE_EFFECTS:
                effect, other, when = _TYPE_EFFECTS[guess.type]
                notes.append(
                    f"{name} is typed {guess.type} ({effect}): {guess.reason}. If {when}, "
                    f"write type: {other} for it in ctxmetrics.yaml."
                )
    return notes


def _render(found: list[_Found], names: list[str], sheet: str | None = None) -> str:
    first = found[0]
    dims = sorted({d for f in found for d in f.dims})
    lines = [
        f"# ctxmetrics project file, written by `ctxmetrics init --from {' '.join(names)}`.",
        "# README.md (\"The project file\") describes every field; check the guesses below.",
        "store: ctxmetrics.duckdb          # DuckDB file, relative to this folder",
        f"timezone: {_one_zone(found) or 'UTC'}" + " " * (24 - len(_one_zone(found) or "UTC"))
        + "# rows are put on days in this zone; times with a UTC offset are converted",
        "",
        "# How the files are laid out: long (a metric column, or one series: date + value)",
        "# or wide (one column per metric)" + (", or records (one row per deal, counted as 'records:' says)." if first.fmt == "records" else "."),
        f"format: {first.fmt}",
    ]
    columns = {"date": first.date}
    if first.metric and not first.melt:  # a melted file's metric and value columns are made by the melt
        columns["metric"] = first.metric
    if first.value and not first.melt:
        columns["value"] = first.value
    if first.hour:
        columns["hour"] = first.hour
    alike = all(f.date == first.date and f.metric == first.metric and f.value == first.value and f.hour == first.hour
                for f in found)
    if alike and first.fmt != "records" and (
        first.date not in DATE_NAMES or first.metric not in (None, "metric")
        or (first.value and first.value not in VALUE_NAMES) or first.hour
    ):
        lines += ["columns: " + _flow(columns) + "   # the columns of each role"]
    renames = {old: new for f in found for old, new in f.renames.items()}
    if renames:
        lines += [f"rename_columns: {_flow(renames)}   # read under names a dimension can have"]
    if first.date_format and all(f.date_format == first.date_format for f in found):
        lines += [f"date_format: {_scalar(first.date_format)}   # the dates are not ISO 8601; every one fits this"]
    if sheet is not None:
        lines += [f"sheet: {_scalar(sheet)}   # the sheet of the Excel workbooks read"]
    if any(f.decimal_comma for f in found):
        lines += ["decimal_comma: true              # numbers are written 1.234,5 (a decimal comma, dots between thousands)"]
    ignored = sorted({c for f in found for c in f.ignored})
    if ignored:
        lines += [
            "",
            "# Row numbers and calendar fields (derived from the date, not measurements): ingest skips them.",
            *(f"# '{name}' {why}" for f in found for name, why in f.left_out.items()),
            f"ignore_columns: {_flow(ignored)}",
        ]
    lines += [
        "",
        "# Dimension columns (segments); a file with another column is refused unless ingest gets --dims.",
        f"dimensions: {_flow(dims)}",
    ]
    melts = [f.melt for f in found if f.melt]
    if melts:
        lines += [
            "",
            f"# Columns that are segments of one metric, read as its rows by {melts[0].dimension} (column: [metric,",
            f"# segment]); the total is their sum. Delete this block and '{melts[0].dimension}' from dimensions to",
            "# read each column as a metric of its own.",
            "melt:",
            f"  dimension: {_scalar(melts[0].dimension)}",
            "  columns:",
            *(f"    {_scalar(c)}: {_flow(list(pair))}" for m in melts for c, pair in m.columns.items()),
        ]
    layouts = [f.records for f in found if f.records]
    if layouts:
        lines += [
            "",
            "# One row per record: each metric counts the rows whose date column is filled (and whose 'where'",
            "# columns hold a listed value) per day of that date, or sums its 'sum' column over them. A record",
            "# on several rows (the same id) counts once, as its last row says.",
            "records:",
            *([f"  id: {_scalar(layouts[0].id)}"] if layouts[0].id else []),
            "  metrics:",
            *(f"    {_scalar(name)}: {_flow(_record_spec(spec))}" for name, spec in layouts[0].metrics.items()),
        ]
    metrics: dict[str, tuple[TypeGuess, str | None, bool]] = {}
    for f in found:
        for name, values in f.metrics.items():
            metrics[name] = (f.types.get(name) or _type_guess(values, name), f.granularities.get(name), f.timed)
    funnel = Config().funnel_of(metrics)
    if funnel:
        lines += ["", "# Funnel stages, top to bottom (the metric names are funnel stages).", f"funnel: {_flow(list(funnel))}"]
    lines += [
        "",
        "# Each metric's type: count (non-negative whole numbers; summed), amount (money: summed across",
        "# segments and days, may hold cents and negatives) or gauge (a level: a price, a rate; averaged).",
        "# granularity: the period of one row; rows with a time of day are combined per day",
        "# (aggregate: sum for counts and amounts, mean for gauges).",
        "metrics:",
    ]
    scales = {name: scale for f in found for name, scale in f.scales.items()}
    cents = {name for f in found for name in f.cents}
    for name, (guess, granularity, timed) in metrics.items():
        spec = {"type": guess.type} | ({"scale": scales[name]} if name in scales else {}) | (
            {"cents": True} if name in cents else {})
        if granularity and granularity != "daily":
            spec["granularity"] = granularity
        notes = [f"{_TYPE_EFFECTS[guess.type][0]}: {guess.reason}"] if guess.type in _TYPE_EFFECTS else []
        notes += ["sub-daily rows, combined per day"] if timed else []
        note = f"  # {'; '.join(notes)}" if notes else ""
        lines.append(f"  {_scalar(name)}: {_flow(spec)}{note}")
    return "\n".join(lines) + "\n"


def _record_spec(spec) -> dict:
    return {"date": spec.date} | ({"where": {c: list(v) for c, v in spec.where.items()}} if spec.where else {}) | (
        {"sum": spec.sum} if spec.sum else {})


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1_000).strip()


def _scalar(value: str) -> str:
    return yaml.safe_dump(value, default_style=None).strip().removesuffix("\n...").strip()
