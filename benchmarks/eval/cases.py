"""A series to evaluate on and the changes planted (or documented) in it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# A detection matches a planted change when its start is this many periods away at most.
TOLERANCE = {"D": 2, "W": 1, "M": 1}
PERIOD_DAYS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}


@dataclass(frozen=True)
class Planted:
    """One true change: first affected index, last (inclusive; None = lasting), direction."""

    start: int
    end: int | None
    direction: str  # "up" | "down"
    label: str = ""


@dataclass(frozen=True)
class Case:
    """One series with its truth.

    `values` are counts, gauge readings or (kind "ratio") numerator counts, NaN = unknown
    period; `dates` are numpy datetime64[D], one per value, at frequency `freq`
    ("D", "W" or "M").
    """

    name: str
    values: np.ndarray
    kind: str
    dates: np.ndarray
    freq: str = "D"
    denominators: np.ndarray | None = None
    planted: tuple[Planted, ...] = field(default_factory=tuple)
    match_periods: int | None = None  # overrides TOLERANCE[freq]

    @property
    def tolerance(self) -> int:
        return TOLERANCE[self.freq] if self.match_periods is None else self.match_periods

    @property
    def years(self) -> float:
        """Length of the series in years (for false alarms per series-year)."""
        return len(self.values) * PERIOD_DAYS[self.freq] / 365.25

    @property
    def gaps(self) -> np.ndarray:
        """Indexes of unknown periods (NaN)."""
        return np.flatnonzero(~np.isfinite(self.values))
