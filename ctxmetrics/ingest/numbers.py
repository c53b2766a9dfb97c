"""Numbers as European spreadsheets write them: a decimal comma and dots between
thousands (1.234,5). Read only when the user says so (`--decimal-comma`); in a
semicolon-separated file without it, a column whose dots all sit between groups of
three digits (39.230) is refused, since 39230 and 39.23 cannot be told apart."""
from __future__ import annotations

import polars as pl

_DECIMAL_COMMA = r"^[-+]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$"
_THOUSANDS_DOTS = r"^[-+]?[1-9]\d{0,2}(\.\d{3})+$"
_PERCENT = r"^[-+]?[\d.,]*\d\s*%$"
_NO_DATA = r"^(--+|—|–)$"  # ad platforms' "no data" (Google Ads writes `--` for a cost per click without clicks)
_NOT_FINITE = ["nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"]


def read_decimal_comma(text: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Stripped text read as numbers written 1.234,5, and where a cell is written otherwise
    (True: a dot not between thousands, letters). Empty cells are null, as in the
    default reading; NaN and infinities are left to the finite check."""
    present = text.is_not_null() & (text != "")
    well_formed = text.str.contains(_DECIMAL_COMMA) | text.str.to_lowercase().is_in(_NOT_FINITE)
    plain = text.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    return plain.cast(pl.Float64, strict=False), (present & ~well_formed).fill_null(False)


def ambiguous_thousands(text: pl.Series) -> pl.Series | None:
    """Where the cells of a semicolon-separated file's number column could be thousands
    (39.230): every cell with a dot looks like that; None when none does, or when one
    dot is plainly a decimal point (9.59, 0.125), which settles the column."""
    dotted = text.str.contains(".", literal=True).fill_null(False)
    if not dotted.any():
        return None
    grouped = text.str.contains(_THOUSANDS_DOTS).fill_null(False)
    return grouped if bool(grouped.any()) and bool((grouped | ~dotted).all()) else None


def without_percent_signs(text: pl.Series) -> pl.Series | None:
    """Stripped text whose every filled cell is a percentage (`12.5%`, `12,5 %`), without
    the sign: the number of percent it says. None when a filled cell is written otherwise."""
    present = text.is_not_null() & (text != "")
    if not present.any() or not text.filter(present).str.contains(_PERCENT).all():
        return None
    return text.str.replace(r"\s*%$", "")


def no_data_as_empty(text: pl.Series) -> pl.Series:
    """Stripped text with the cells that say "no data" (`--`) empty, as a missing value is."""
    marked = text.str.contains(_NO_DATA).fill_null(False)
    return text if not marked.any() else text.set(marked, None)
