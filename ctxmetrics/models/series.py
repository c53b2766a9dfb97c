"""`SeriesSet`: every series of one metric as a (segments × periods) matrix, no I/O."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ctxmetrics.models import periods
from ctxmetrics.models.segments import segment_key


@dataclass
class SeriesSet:
    """All series of one metric. Row i is segment `segments[i]`; column j is period j
    from `start` (a day, week or month: `granularity`; see `periods`). For ratios
    `values` holds numerators and `denominators` the denominators."""

    metric: str
    kind: str  # count | ratio | gauge
    start: dt.date
    segments: list[dict[str, str]]
    values: np.ndarray
    denominators: np.ndarray | None = None
    gaps: np.ndarray | None = None  # per period: True where the metric's data is missing (unknown, not 0)
    granularity: str = "daily"

    def __post_init__(self):
        self.keys = [segment_key(s) for s in self.segments]
        self._rows = {k: i for i, k in enumerate(self.keys)}

    @property
    def days(self) -> int:
        """The number of periods (columns)."""
        return self.values.shape[1]

    def day(self, index: int) -> dt.date:
        """The first day of column `index`."""
        return periods.first_day(self.start, index, self.granularity)

    def last_day(self, index: int) -> dt.date:
        """The last calendar day of column `index`."""
        return periods.last_day(self.start, index, self.granularity)

    def day_index(self, day: dt.date) -> int:
        """The column holding `day`."""
        return periods.index(day, self.start, self.granularity)

    def row(self, segment: Mapping[str, str]) -> int | None:
        return self._rows.get(segment_key(segment))

    def detection_values(self, rows) -> np.ndarray:
        """`values[rows]` as the detector reads them: NaN on data-gap days."""
        values = self.values[rows]
        if self.gaps is None or not self.gaps.any():
            return values
        values = np.array(values, dtype=float)
        values[..., self.gaps] = np.nan
        return values

    def level(self, row: int) -> np.ndarray:
        """The series as a person reads it: counts, or the rate for a ratio."""
        if self.denominators is None:
            return self.values[row]
        with np.errstate(divide="ignore", invalid="ignore"):
            den = self.denominators[row]
            return np.where(den > 0, self.values[row] / np.where(den > 0, den, 1), np.nan)
