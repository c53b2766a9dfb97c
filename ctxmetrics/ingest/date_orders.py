"""Why no one date format reads a column, said with the cells that show it.

A file assembled from two exports can hold `28/11/2026` (day first) above `11/29/2026`
(month first): no format reads every date, and naming the first cell as "ambiguous"
sends the user to pass a format that fails on the other half. A format the user named
that does not read a cell is said with that cell, not as an ambiguity.
"""
from __future__ import annotations

import polars as pl

# (day first, month first) of each separator, with and without a time of day as Excel writes it
_ORDERS = tuple(
    (f"%d{sep}%m{sep}%Y{time}", f"%m{sep}%d{sep}%Y{time}") for time in ("", " %H:%M", " %H:%M:%S") for sep in "/.-"
)


def _read(text: pl.Series, date_format: str) -> pl.Series:
    return text.str.strptime(pl.Datetime, date_format, strict=False).is_not_null()


def unread_dates(text: pl.Series, given: str | None) -> tuple[int, str] | None:
    """(index of a cell, what is wrong with it: the words after the cell as written) for a
    column of dates no one format reads: the first cell the `given` format does not read,
    or, with none given, the later of a day-first and a month-first cell of a column that
    mixes both orders; None when neither shows."""
    text = text.cast(pl.Utf8).str.strip_chars()
    filled = text.is_not_null() & (text != "")
    if given is not None:
        try:
            unread = filled & ~_read(text, given)
        except pl.exceptions.PolarsError:
            return None
        return (int(unread.arg_true()[0]), f"does not match --date-format {given}") if unread.any() else None
    for day_first, month_first in _ORDERS:
        days, months = _read(text, day_first), _read(text, month_first)
        only_day, only_month = days & ~months, months & ~days
        if not (filled & ~(days | months)).any() and only_day.any() and only_month.any():
            a, b = int(only_day.arg_true()[0]), int(only_month.arg_true()[0])
            later, earlier = (b, a) if b > a else (a, b)
            orders = {a: f"day first ({day_first})", b: f"month first ({month_first})"}
            return later, (
                f"is {orders[later]}, and {text[earlier]!r} above it {orders[earlier]}: the dates mix two orders, so no "
                "one format reads them all; export them again in one order (or as YYYY-MM-DD)"
            )
    return None
