"""The detector under test: `ctxmetrics.detect.find_changes`, the public one-series API.
The checkout it was imported from is printed with every result (`Detector.name`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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


def load_detector() -> Detector:
    """`find_changes` of the importable ctxmetrics; the name says which checkout that is."""
    from pathlib import Path

    from ctxmetrics import detect

    where = Path(detect.__file__).resolve().parents[2]
    return Detector(f"ctxmetrics.detect.find_changes from {where}", _find_changes(detect.find_changes))


def change_points(changes: list, n: int) -> list[int]:
    """Change points (first index of a new segment) of detections: the start of each, and
    for an episode that ends before the series does, the day after its end."""
    points = set()
    for c in changes:
        points.add(int(c.start))
        if c.end is not None and c.end + 1 < n:
            points.add(int(c.end) + 1)
    return sorted(points)
