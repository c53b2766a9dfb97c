"""Scoring: the matching rule for planted changes, and the TCPD F1 of van den Burg & Williams.

Matching rule (planted effects): a detected change matches a planted one when its start
is within the case's tolerance of the planted start (2 periods for daily series, 1 for
weekly and monthly) and their directions agree. Each planted change is matched at most
once and each detection matches at most one planted change; pairs are taken closest
first. Unmatched detections are false alarms, unmatched planted changes are misses.
"""
from __future__ import annotations

from dataclasses import dataclass

from benchmarks.eval.cases import Planted


@dataclass
class Tally:
    """Counts behind recall, precision and the false-alarm rate of one profile."""

    planted: int = 0
    found: int = 0  # planted changes matched by a detection (one-to-one: also the matched detections)
    detections: int = 0
    series: int = 0
    years: float = 0.0
    gap_alarms: int = 0  # detections that start on an unknown period
    errors: int = 0  # series on which the detector raised

    def add(self, other: "Tally") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def recall(self) -> float | None:
        return self.found / self.planted if self.planted else None

    @property
    def precision(self) -> float | None:
        return self.found / self.detections if self.detections else None

    @property
    def false_alarms(self) -> int:
        return self.detections - self.found

    @property
    def alarms_per_100_years(self) -> float | None:
        return 100.0 * self.false_alarms / self.years if self.years else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0


def match(planted: list[Planted], detected: list[tuple[int, str]], tolerance: int) -> list[tuple[int, int]]:
    """Pairs (planted index, detection index) under the matching rule, closest first.

    Args:
        planted: The true changes.
        detected: (start index, direction) of each detection.
        tolerance: Largest |detected start - planted start| that still matches.
    """
    candidates = sorted(
        (abs(start - p.start), i, j)
        for i, p in enumerate(planted)
        for j, (start, direction) in enumerate(detected)
        if abs(start - p.start) <= tolerance and direction == p.direction
    )
    used_p, used_d, pairs = set(), set(), []
    for _, i, j in candidates:
        if i not in used_p and j not in used_d:
            used_p.add(i)
            used_d.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def tally_case(planted: list[Planted], detected: list[tuple[int, str]], tolerance: int,
               years: float, gaps: set[int]) -> Tally:
    """The `Tally` of one series."""
    pairs = match(planted, detected, tolerance)
    return Tally(
        planted=len(planted), found=len(pairs), detections=len(detected),
        series=1, years=years, gap_alarms=sum(start in gaps for start, _ in detected),
    )


# ------------------------------------------------------------------------ TCPD F1 (margin)


def true_positives(truth: set[int], predicted: set[int], margin: int) -> set[int]:
    """True change points that have a prediction within `margin`; each prediction is used
    for one true point only (the closest prediction first, true points in ascending order)."""
    free = set(predicted)
    hits = set()
    for t in sorted(truth):
        close = sorted((abs(t - x), x) for x in free if abs(t - x) <= margin)
        if close:
            hits.add(t)
            free.remove(close[0][1])
    return hits


def tcpd_f1(annotations: dict[str, list[int]], predicted: list[int], margin: int = 5) -> float:
    """F1 of van den Burg & Williams (2020), "An evaluation of change point detection
    algorithms": index 0 is a change point of every annotator and of the prediction;
    precision is against the union of all annotators' points, recall is averaged over
    annotators; F1 is their harmonic mean.

    Args:
        annotations: Change point indexes per annotator.
        predicted: Change point indexes of the method (the first index of a new segment).
        margin: Largest distance at which a prediction counts for a true point.
    """
    sets = [set(points) | {0} for points in annotations.values()]
    if not sets:
        raise ValueError("tcpd_f1 needs at least one annotator.")
    union = set().union(*sets)
    x = set(predicted) | {0}
    precision = len(true_positives(union, x, margin)) / len(x)
    recall = sum(len(true_positives(t, x, margin)) / len(t) for t in sets) / len(sets)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
