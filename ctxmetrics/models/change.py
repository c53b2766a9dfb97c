"""`Change`: one anomaly found in one series (the detector's output; no I/O)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    """One detected anomaly in a daily series.

    `start`/`end` are day indexes into the input array; `end` is inclusive and None for a
    persistent level shift. `before`/`after` are typical daily levels in the metric's units
    (a count per day, or a rate); `score` is the effect in robust noise units.
    """

    kind: str
    direction: str
    start: int
    end: int | None
    before: float
    after: float
    change_pct: float
    score: float
    unit: str = "per day"  # "per day"/"per week"/... for counts, "rate", or "" (a gauge's own units)
    frequency: str = "daily"
    start_date: object = None  # datetime.date of `start` when dates were given
    end_date: object = None
