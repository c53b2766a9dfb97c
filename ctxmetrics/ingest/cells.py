"""Cells parsed and checked column by column: days, numbers, labels and dimension values,
the hour of the day, negative counts, repeated keys and the cadence of the dates; each
error names the first bad cell."""
from __future__ import annotations

import re

import polars as pl

from ctxmetrics.config import Config
from ctxmetrics.errors import InputError
from ctxmetrics.ingest.cadence import (
    Booking, agreeing, days_by_metric, first_cadence_change, may_be_booked, metric_cadences, with_bookings,
)
from ctxmetrics.ingest.dates import BadCell, check_plausible, parse_stamps
from ctxmetrics.ingest.money import money_column
from ctxmetrics.ingest.numbers import ambiguous_thousands, no_data_as_empty, read_decimal_comma, without_percent_signs
from ctxmetrics.ingest.settings import _Settings
from ctxmetrics.ingest.sources import ROW, _Source

MISSING_DIMENSION_VALUE = "(none)"  # an empty dimension cell still needs a value rollups can name
MAX_MAGNITUDE = 1e15  # larger values are export errors (and overflow sums and charts)
_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f]"  # control characters (tab allowed); NUL, ESC, ...


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


def _days(
    src: _Source, raw: pl.DataFrame, column: str, settings: _Settings, iso: pl.Series | None = None
) -> tuple[pl.Series, bool, pl.Series, pl.Series | None]:
    """The project-zone day of every row, whether the column has times of day, the
    distinct days, and the rows' local times (None without times of day); `iso`: the
    column already read as plain ISO days (`_first_pass`)."""
    series = raw[column]
    if series.dtype.is_nested():
        raise InputError(f"{src.where(column=column)}: has nested values (lists or objects), not dates.")
    try:
        stamps, timed = parse_stamps(series, settings.config.timezone, settings.date_format, iso=iso)
        days = stamps.dt.date() if timed else stamps
        _first_bad_null(src, raw, days, column)
        distinct = check_plausible(days)
    except BadCell as bad:
        row = int(raw[ROW][bad.index])
        raise InputError(f"{src.where(row, column)}: {series[bad.index]!r} {bad.what}.") from None
    return days, timed, distinct, (stamps if timed else None)


def _cadences(
    src: _Source, frame: pl.DataFrame, distinct: pl.Series | None, column: str, config: Config,
    metrics: list[str] | None = None,
) -> tuple[dict[str, str], dict[str, Booking]]:
    """Each metric's granularity as its own dates show it (`cadence.metric_cadences`) from
    the rows' ROW, metric and ts (`distinct`: their distinct days, `metrics`: their
    distinct metrics, if known); refused when a metric's dates change from a day at a
    time to a week or month at a time, or back: weekly totals would be read as days of a
    daily series with gaps. A metric whose granularity the config declares is judged per
    period whatever its rows' dates, so it is let through. A count whose non-zero values
    fall on one day a month or one weekday is monthly or weekly (`cadence.booking_of`):
    the bookings found are returned beside the granularities."""
    days_of = days_by_metric(frame["metric"], frame["ts"], distinct, metrics)
    declared = {m for m in days_of if config.metric(m).granularity}
    change = first_cadence_change(days_of, declared)
    if change is None:
        return _with_bookings(frame, days_of, metric_cadences(days_of), config)
    name, index, what = change
    day = days_of[name][index]
    row = int(frame.filter((pl.col("metric") == name) & (pl.col("ts") == day))[ROW].min())
    raise InputError(
        f"{src.where(row, column)}: {day}: {what}; a metric keeps one cadence: ingest the parts as "
        f"separate metrics (--metric NAME), or declare metrics.{name}.granularity in ctxmetrics.yaml."
    )


def _with_bookings(
    frame: pl.DataFrame, days_of: dict[str, pl.Series], cadences: dict[str, str], config: Config
) -> tuple[dict[str, str], dict[str, Booking]]:
    """`cadences` with the daily counts booked once a month or once a week made monthly or
    weekly, and those bookings.

    Their non-zero days are read from the rows only when the file has zeros enough for one
    of them to be zero on most of its days (a count booked on the 1st with a row every
    day); otherwise a booked count's rows are its booking days, and its days (`days_of`)
    tell. Reading them costs ~0.7 s CPU per 10M rows at load 12, the zero count ~0.01 s."""
    declared = {m: config.metric(m).granularity for m in cadences}
    candidates = [
        m for m, c in cadences.items() if c == "daily" and config.metric(m).type == "count" and may_be_booked(declared[m])
    ]
    if not candidates:
        return cadences, {}
    zeros = int((frame["value"] == 0).sum())
    if 2 * zeros < min(days_of[m].len() for m in candidates):
        cadences, bookings = with_bookings(cadences, days_of, candidates)
    else:
        nonzero = frame.select("metric", "ts").filter(frame["value"] != 0)
        nonzero_days = days_by_metric(nonzero["metric"], nonzero["ts"], None, list(days_of))
        cadences, bookings = with_bookings(cadences, nonzero_days, candidates)
    return cadences, agreeing(bookings, declared)


def on_booking_days(frame: pl.DataFrame, bookings: dict[str, Booking]) -> pl.DataFrame:
    """The rows without the zeros of a weekly booked count on its other weekdays: what is
    left is the weekly file of its weekday (a weekly series' weeks run from its first
    stored day, so each week is dated to its booking day as a weekly file's are).
    A fortnightly booking keeps only the days of its own weeks (its zeros of the other
    weeks would start its fortnights a week early).
    A monthly booking keeps its daily rows: months are calendar months, whatever the day."""
    weekly = {m: b.weekday for m, b in bookings.items() if b.granularity in ("weekly", "fortnightly")}
    if not weekly:
        return frame
    off_day = pl.col("metric").replace_strict(weekly, default=None, return_dtype=pl.Int8)
    frame = frame.filter(off_day.is_null() | (pl.col("ts").dt.weekday() - 1 == off_day))
    return _in_booked_fortnights(frame, {m: b.first for m, b in bookings.items() if b.granularity == "fortnightly"})


def _in_booked_fortnights(frame: pl.DataFrame, first_of: dict) -> pl.DataFrame:
    """The rows without those of a fortnightly booked count in the weeks between its bookings."""
    if not first_of:
        return frame
    first = pl.col("metric").replace_strict(first_of, default=None, return_dtype=pl.Date)
    return frame.filter(first.is_null() | ((pl.col("ts") - first).dt.total_days() % 14 == 0))


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
            f"declare it in ctxmetrics.yaml as {{type: amount}} (money, refunds) or {{type: gauge}} (a level) "
            "if it can go below zero."
        )


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
_DECIMAL_COMMA_HINT = " or, if the file writes decimal commas (12,5 or 1.234,5), pass --decimal-comma"
_THOUSANDS_HINT = (
    "is ambiguous in a semicolon-separated file: a dot between thousands or a decimal point? "
    "Pass --decimal-comma if dots separate thousands (decimal_comma: true in ctxmetrics.yaml), "
    "or export the numbers without thousands separators"
)


def _number(
    src: _Source, raw: pl.DataFrame, column: str, allow_empty: bool = False, parsed: pl.Series | None = None,
    *, decimal_comma: bool = False, semicolon: bool = False,
) -> pl.Series:
    """Finite numbers of sane size; with `allow_empty`, an empty cell or NaN is no value;
    `parsed`: the text column already read as floats (`_first_pass`); `decimal_comma`:
    text written 1.234,5; `semicolon`: the file is semicolon-separated, where dots may
    separate thousands."""
    series = raw[column]
    if series.dtype == pl.Utf8 and decimal_comma:
        stripped = _percents_read(no_data_as_empty(series.str.strip_chars()))
        series = _money_read(src, raw, column, stripped, decimal_comma=True)
        if series is None:
            series, bad = read_decimal_comma(stripped)
            _first_bad(src, raw, bad, column, "is not a number written with a decimal comma (12,5 or 1.234,5)")
    elif series.dtype == pl.Utf8:
        if parsed is None:
            parsed = series.cast(pl.Float64, strict=False)
        if parsed.null_count() > series.null_count():
            # Only then strip (allocating every cell again) and say which cell is bad.
            stripped = _percents_read(no_data_as_empty(series.str.strip_chars()))
            parsed = _money_read(src, raw, column, stripped)
            if parsed is None:
                parsed = stripped.cast(pl.Float64, strict=False)
            bad = parsed.is_null() & stripped.is_not_null() & (stripped != "")
            if bad.any() and _COMMA_NUMBER.match(stripped[int(bad.arg_true()[0])]):
                _first_bad(src, raw, bad, column, _COMMA_HINT + (_DECIMAL_COMMA_HINT if semicolon else ""))
            _first_bad(src, raw, bad, column, "is not a number")
        if semicolon and (grouped := ambiguous_thousands(series.str.strip_chars())) is not None:
            _first_bad(src, raw, grouped, column, _THOUSANDS_HINT)
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


def _percents_read(text: pl.Series) -> pl.Series:
    """A column of percentages (`12.5%`) as the numbers of percent they say; other text as it is."""
    percents = without_percent_signs(text)
    return text if percents is None else percents


def _money_read(
    src: _Source, raw: pl.DataFrame, column: str, text: pl.Series, decimal_comma: bool = False
) -> pl.Series | None:
    """A column of amounts written as money (`$1,234.50`, `(1.234,50 €)`) as numbers; None
    when it is not written so. A second currency or a cell written otherwise is refused."""
    try:
        found = money_column(text, decimal_comma)
    except BadCell as bad:
        raise InputError(f"{src.where(int(raw[ROW][bad.index]), column)}: {text[bad.index]!r} {bad.what}.") from None
    return None if found is None else found[0]


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
