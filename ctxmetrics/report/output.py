"""Formatting results for the terminal: tables, JSON and CSV. No business logic here."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
from decimal import Decimal
from typing import Any, Sequence


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def finite_json(data: Any) -> tuple[str, int]:
    """JSON text of `data` with every NaN or ±infinite number written as null (JSON has
    no such values; Python's `NaN`/`Infinity` tokens break other parsers), and how many
    numbers were so replaced."""
    replaced = 0

    def finite(value: Any) -> Any:
        nonlocal replaced
        if isinstance(value, float) and not math.isfinite(value):
            replaced += 1
            return None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [finite(v) for v in value]
        return value

    options = dict(default=_plain, ensure_ascii=False, indent=2, allow_nan=False)
    try:  # almost always all finite: no copy of the data is needed
        return json.dumps(data, **options), 0
    except ValueError:  # allow_nan=False refused a NaN or infinity: write those as null
        return json.dumps(finite(data), **options), replaced


def to_json(data: Any) -> str:
    return finite_json(data)[0]


def null_note(replaced: int) -> str:
    """The stderr note for JSON in which `replaced` NaN/infinite numbers became null."""
    return f"note: {replaced} NaN or infinite value{'s' if replaced != 1 else ''} shown as null."


def rows_to_json(columns: Sequence[str], rows: Sequence[tuple]) -> tuple[str, int]:
    """A JSON array of row objects, and how many NaN/infinite values it shows as null."""
    return finite_json([dict(zip(columns, row)) for row in rows])


def rows_to_csv(columns: Sequence[str], rows: Sequence[tuple]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[_plain(v) for v in row] for row in rows])
    return buffer.getvalue()


def format_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(_plain(value))


def rows_to_table(columns: Sequence[str], rows: Sequence[tuple]) -> str:
    """A plain aligned text table (rich is used only where colour pays for its import)."""
    cells = [[format_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r[i], (int, float, Decimal)) or r[i] is None for r in rows) for i in range(len(columns))]

    def line(values):
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

    out = [line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def write_report(path: os.PathLike, text: str) -> None:
    """Write a report file whole or not at all: through a temporary file beside it,
    renamed into place (an interrupted or failed write leaves any old file as it was).

    Raises:
        CtxError: the file cannot be written (a missing folder, no permission, a full disk).
    """
    import tempfile

    from ctxmetrics.errors import CtxError

    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # what a plain open() gives, not mkstemp's private 0600
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise CtxError(f"{path}: cannot write the report there ({exc.strerror or exc}).") from None

