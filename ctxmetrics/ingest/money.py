"""Amounts written as money: a currency sign or code (`$1,234.50`, `€1.234,50`,
`1 234,50 €`, `USD 1,234.50`), accounting negatives (`(1,234.50)`), and thousands and cents
without a currency (`26,000.00`, a CRM report's amount beside a currency column).

A column is read so only when some cell carries a currency, accounting brackets or both
marks (which tell the decimal one), and only after the plain reading failed, so plain
numbers cost nothing. One currency per
column: a second one is refused naming its cell, since amounts in dollars and euros do
not add up. Which of `,` and `.` is the decimal mark is read off the column's cells (a
cell with both, or a mark followed by one or two digits: cents); when no cell tells, a
mark followed by groups of three digits separates thousands (`$1,234`, `€1.234`), since
money is written with cents, not thousandths.
"""
from __future__ import annotations

import re

import polars as pl

from ctxmetrics.ingest.dates import BadCell

_SYMBOLS = "$€£¥₹₽₩₺₪₫฿₴₦"
_CODE = r"[A-Z]{3}"
_SPACES = "\u00a0\u202f\u2009' "  # thousands written with (no-break, thin) spaces or apostrophes (1'234.50)
# sign, currency, number, currency; the number's marks are read apart (`_number_of`)
_CELL = re.compile(
    rf"^(?P<neg>-)?\s*(?P<pre>(?:[A-Z]{{0,3}}[{_SYMBOLS}])|{_CODE})?\s*(?P<neg2>-)?\s*"
    rf"(?P<num>\d[\d.,{_SPACES}]*)\s*(?P<post>[{_SYMBOLS}]|{_CODE})?\s*(?P<neg3>-)?$"
)


def money_column(text: pl.Series, decimal_comma: bool = False) -> tuple[pl.Series, str] | None:
    """Stripped text read as amounts of money, and the currency written (`$`, `EUR`; ''
    for accounting brackets alone); None when no filled cell carries a currency or
    brackets, or a cell is no amount at all (left to the caller's "is not a number").
    `decimal_comma`: the project says the decimal mark is a comma.

    Raises:
        BadCell: a second currency in the column, or marks that do not fit the column's.
    """
    present = text.is_not_null() & (text != "")
    cells = text.filter(present).to_list()
    positions = present.arg_true().to_list()
    if not cells or not any(_marked(cell) or _both_marks(cell) for cell in cells):
        return None
    parts = []
    for cell in cells:
        bracketed = cell.startswith("(") and cell.endswith(")")
        match = _CELL.match(cell[1:-1].strip() if bracketed else cell)
        if match is None:
            return None
        parts.append((match, bracketed))
    currency = _one_currency(parts, positions)
    decimal = "," if decimal_comma else _decimal_mark(parts, positions)
    values: list[float | None] = [None] * text.len()
    for (match, bracketed), at in zip(parts, positions):
        number = _number_of(match["num"], decimal)
        if number is None:
            raise BadCell(at, f"is not an amount written as the column's others are (decimal mark '{decimal}')")
        negative = bracketed or any(match[g] for g in ("neg", "neg2", "neg3"))
        values[at] = -number if negative else number
    return pl.Series(text.name, values, dtype=pl.Float64), currency


def _both_marks(cell: str) -> bool:
    """A number written with both `,` and `.` (`26,000.00`, as a CRM's report writes amounts
    without a currency of their own): the later one is the decimal mark, so the cell, and with
    it the column's other cells, reads one way only."""
    return "," in cell and "." in cell


def _marked(cell: str) -> bool:
    """A currency sign or code, or accounting brackets, in the cell."""
    return bool(re.search(rf"[{_SYMBOLS}]|\b{_CODE}\b", cell)) or (cell.startswith("(") and cell.endswith(")"))


def _one_currency(parts: list, positions: list[int]) -> str:
    """The column's currency; a cell with another one is refused."""
    currency = ""
    for (match, _), at in zip(parts, positions):
        written = (match["pre"] or match["post"] or "").strip()
        if not written:
            continue
        if currency and written != currency:
            raise BadCell(
                at, f"is in another currency than the rows above ({currency}); one column holds one currency: "
                    "put each currency in a column of its own"
            )
        currency = written
    return currency


def _decimal_mark(parts: list, positions: list[int]) -> str:
    """`,` or `.`: the mark the cells use before their cents. A cell with both marks uses
    the later one; a single mark followed by one or two digits is the decimal mark; when
    no cell says, `.` (the other mark then only separates thousands)."""
    seen: dict[str, int] = {}
    for (match, _), at in zip(parts, positions):
        number = match["num"].rstrip(_SPACES)
        marks = [c for c in number if c in ",."]
        if not marks:
            continue
        last = marks[-1]
        tail = number.rsplit(last, 1)[1]
        if (len(set(marks)) == 2 or (len(marks) == 1 and len(tail) in (1, 2))) and last not in seen:
            seen[last] = at
    if len(seen) == 2:
        at = max(seen.values())
        raise BadCell(at, "writes its decimal mark otherwise than the rows above (a comma in one, a point in another)")
    if seen:
        return next(iter(seen))
    # Every mark is followed by three digits: thousands. A column of `€1.234` and `€12,5`
    # never reaches here (the comma with one digit is its decimal mark).
    return "."


def _number_of(text: str, decimal: str) -> float | None:
    """The number written with `decimal` as its decimal mark and the other mark or spaces
    between groups of three digits; None when written otherwise."""
    digits = re.sub(f"[{_SPACES}]", "", text)
    thousands = "." if decimal == "," else ","
    whole, _, fraction = digits.partition(decimal)
    if decimal in fraction or thousands in fraction:
        return None
    groups = whole.split(thousands)
    if len(groups) > 1 and (not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])):
        return None
    if not all(g.isdigit() for g in groups) or (fraction and not fraction.isdigit()):
        return None
    return float("".join(groups) + ("." + fraction if fraction else ""))
