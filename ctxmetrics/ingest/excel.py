"""Reading an Excel workbook's sheet (`.xlsx`, `.xlsm`) as the CSV text that saving it as
CSV would give, so that everything the CSV path knows (a title above the header, a totals
row, subtotal and group rows, money and percentages, the column inference) applies to it
unchanged, and a cell keeps the line number of its sheet row.

openpyxl (pure Python) is imported here only, when a workbook is read."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ctxmetrics.errors import InputError

WORKBOOKS = (".xlsx", ".xlsm")
EXCEL_EPOCH = dt.datetime(1899, 12, 30)  # day 0 of Excel's serial dates (its 1900 leap-year bug folded in)
# Serial day numbers a date column of a business's data holds: 1954-08-30 to 2119-01-05.
SERIAL_DAYS = (20_000, 80_000)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class SheetText:
    name: str  # the sheet read
    text: bytes  # its rows as CSV, one line per sheet row from row 1
    header: int  # the rows above the header (a title, blank rows): the first row of two or more filled cells
    notes: list[str]  # what was done on the way (dates stored as serial numbers read as dates)


def sheet_text(path: Path, sheet: str | None) -> SheetText:
    """The chosen sheet (`sheet`, else the workbook's first) as CSV text.

    Raises:
        InputError: openpyxl is missing, the file is no workbook, or the sheet does not exist.
    """
    try:
        import openpyxl
    except ImportError:
        raise InputError(
            f"{path}: reading an Excel workbook needs openpyxl, which ctxmetrics depends on: "
            "pip install 'openpyxl>=3.1' (or save the sheet as CSV)."
        ) from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot be read as an Excel workbook ({exc}); save the sheet as CSV.") from None
    try:
        name = _chosen_sheet(path, book.sheetnames, sheet)
        worksheet = book[name]
        worksheet.reset_dimensions()  # some writers store a wrong sheet size; read every row there is
        rows = [[_cell_text(cell) for cell in row] for row in worksheet.iter_rows(min_row=1)]
    finally:
        book.close()
    header = next((i for i, row in enumerate(rows) if sum(1 for c in row if c != "") >= 2), 0)
    notes = _serial_dates(path, name, rows, header)
    return SheetText(name, _as_csv(rows), header, notes)


def _chosen_sheet(path: Path, names: list[str], wanted: str | None) -> str:
    if wanted is None:
        if not names:
            raise InputError(f"{path}: the workbook has no sheet.")
        return names[0]
    if wanted in names:
        return wanted
    raise InputError(f"{path}: no sheet named '{wanted}'; its sheets: {', '.join(names)}.")


def _cell_text(cell) -> str | float | int:
    """A cell as the text Excel's CSV export writes, or, for a plain number, the number
    (so that a date column of serial numbers can still be told from one of text)."""
    value = cell.value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (int, float)):
        if "%" in (getattr(cell, "number_format", "") or ""):  # 0.125 shown as 12.5%: read as percent, as in a CSV
            return f"{value * 100:.10g}%"
        return value
    return str(value)


def _serial_dates(path: Path, sheet: str, rows: list[list], header: int) -> list[str]:
    """Date columns stored as Excel's serial day numbers (46023 for 2026-01-01, a date
    cell whose format was lost) rewritten as ISO dates, in place: a column named as a date
    (`Date`, `Close Date`) whose every filled cell below its header is such a number."""
    if not rows:
        return []
    notes = []
    for j, name in enumerate(rows[header]):
        if not isinstance(name, str) or not re.search(r"date|^day$|^ds$|datum|fecha", name, re.IGNORECASE):
            continue
        cells = [row[j] for row in rows[header + 1:] if j < len(row) and row[j] != ""]
        numbers = [c for c in cells if isinstance(c, (int, float))]
        # Date cells (already ISO text) may sit among the numbers; one other label (a Total
        # row's) is no reason to leave the column alone.
        others = [c for c in cells if isinstance(c, str) and not _ISO_DATE.match(c)]
        if not numbers or len(others) > 1 or not all(SERIAL_DAYS[0] <= c < SERIAL_DAYS[1] for c in numbers):
            continue
        for row in rows[header + 1:]:
            if j < len(row) and isinstance(row[j], (int, float)):
                row[j] = _serial_as_text(row[j])
        first = numbers[0]
        notes.append(
            f"{path}: sheet '{sheet}': column '{name}' holds Excel serial day numbers ({first:g} = "
            f"{_serial_as_text(first)}): read as dates."
        )
    return notes


def _serial_as_text(serial: float) -> str:
    moment = EXCEL_EPOCH + dt.timedelta(days=float(serial))
    moment = moment.replace(microsecond=0)
    return moment.date().isoformat() if moment.time() == dt.time(0) else moment.isoformat(sep=" ")


def _as_csv(rows: list[list]) -> bytes:
    """Rows as CSV text. A row of one filled cell or none (a title, a blank row) is written
    without its trailing empty cells, as a title line; the others keep the sheet's width."""
    width = max((len(row) for row in rows), default=0)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        cells = [_number_text(c) if isinstance(c, (int, float)) else c for c in row]
        if sum(1 for c in cells if c != "") <= 1:
            while cells and cells[-1] == "":
                cells.pop()
            if not cells:  # a blank row: an empty line, so the next row keeps its number
                out.write("\n")
                continue
        else:
            cells += [""] * (width - len(cells))
        writer.writerow(cells)
    return out.getvalue().encode("utf-8")


def _number_text(value: float | int) -> str:
    """12.0 as `12` (a count stays whole), others as the shortest text that reads back the same."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
