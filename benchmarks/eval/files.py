"""Reading the real and external series' files: CSV columns and daily aggregation."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def read_columns(path: Path, date_column: str, value_column: str) -> tuple[list[str], np.ndarray]:
    """Dates (text) and values of a CSV, any line ending; empty or "NaN" values are NaN.

    Raises:
        ValueError: naming the file, row and column that cannot be read.
    """
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for column in (date_column, value_column):
        if rows and column not in rows[0]:
            raise ValueError(f"{path}: no column '{column}' (has {', '.join(rows[0])}).")
    values = np.empty(len(rows))
    for i, row in enumerate(rows):
        text = row[value_column]
        try:
            values[i] = np.nan if text in ("", "NaN") else float(text)
        except ValueError:
            raise ValueError(f"{path}, row {i + 2}: '{value_column}' is not a number: {text!r}.") from None
    return [r[date_column] for r in rows], values


def per_day(stamps: list[str], values: np.ndarray, *, total: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Every calendar day from the first to the last stamp, with the mean (or, with
    `total`, the sum) of its readings; days without a reading are NaN (unknown)."""
    days = np.array([s[:10] for s in stamps], dtype="datetime64[D]")
    calendar = np.arange(days.min(), days.max() + 1)
    at = (days - calendar[0]).astype(int)
    ok = np.isfinite(values)
    sums = np.bincount(at[ok], values[ok], len(calendar))
    counts = np.bincount(at[ok], minlength=len(calendar))
    per = sums if total else np.divide(sums, counts, out=np.zeros(len(calendar)), where=counts > 0)
    return calendar, np.where(counts > 0, per, np.nan)
