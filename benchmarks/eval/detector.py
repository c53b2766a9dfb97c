"""The detector under test: `ctxmetrics.detect.find_changes`, the public one-series API.

FALLBACK ADAPTER: until `find_changes` exists (issue 9), the evaluation calls today's
`detect_series(values, DetectionSettings(), kind=..., denominator=...)` instead, with the
weekday of the first date. It knows nothing of dates otherwise: weekly and monthly
series are read as if they were days, and unknown counts (NaN) become 0, as `scan` does
today. The detector used is printed with every result (`Detector.name`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from benchmarks.eval.cases import Case


@dataclass(frozen=True)
class Detector:
    """A named function from a case to its detections."""

    name: str
    run: Callable[[Case], list]  # Change-like records: start, end, direction, ...


def _find_changes(find_changes) -> Callable[[Case], list]:
    def run(case: Case) -> list:
        return find_changes(case.values, kind=case.kind, dates=case.dates, denominators=case.denominators)

    return run


def _detect_series_fallback() -> Callable[[Case], list]:
    from ctxmetrics.config import DetectionSettings
    from ctxmetrics.detect import detect_series

    settings = DetectionSettings()

    def run(case: Case) -> list:
        values = case.values if case.kind == "gauge" else np.nan_to_num(case.values)
        weekday = int((case.dates[0].astype("datetime64[D]").astype(int) + 3) % 7)  # 1970-01-01 was a Thursday
        return detect_series(values, settings, kind=case.kind, denominator=case.denominators, start_weekday=weekday)

    return run


def load_detector() -> Detector:
    """`find_changes` when the importable ctxmetrics has it, else the labelled fallback.
    The name says which checkout's ctxmetrics was imported."""
    from pathlib import Path

    from ctxmetrics import detect

    where = Path(detect.__file__).resolve().parents[1]
    if hasattr(detect, "find_changes"):
        return Detector(f"ctxmetrics.detect.find_changes from {where}", _find_changes(detect.find_changes))
    return Detector(f"FALLBACK detect_series(DetectionSettings()) from {where} — find_changes not found",
                    _detect_series_fallback())


def change_points(changes: list, n: int) -> list[int]:
    """Change points (first index of a new segment) of detections: the start of each, and
    for an episode that ends before the series does, the day after its end."""
    points = set()
    for c in changes:
        points.add(int(c.start))
        if c.end is not None and c.end + 1 < n:
            points.add(int(c.end) + 1)
    return sorted(points)
