"""Judging detections on a real background with planted changes.

Each detection of the planted run is, in this order:
- `hit`: matches a planted change (`scoring.match`: start within the tolerance, same direction);
- `documented`: starts (or ends) within the background's documented margin of one of its
  documented changes: the background's own, neither hit nor false alarm;
- `background`: the unplanted background has a detection of the same direction starting
  within the tolerance: the background's own unexplained change, reported per series-year
  from the unplanted run, not charged to the planted run;
- `near`: starts within the spacing of a planted change's span without matching it
  (misplaced, wrong direction, or a second piece of one effect): costs precision;
- `added`: anything else: a false alarm that planting added.
Precision = hits / (hits + near + added).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from benchmarks.eval.cases import Planted
from benchmarks.eval.scoring import Tally, match

VERDICTS = ("hit", "documented", "background", "near", "added")


@dataclass
class RealTally(Tally):
    """`Tally` of a group of planted runs (a background, an effect class, a split): `found`
    counts hits, `detections` the judged ones (hits + near + added), `years` the planted
    runs' series-years; the unplanted backgrounds' unexplained detections beside them."""

    near: int = 0
    added: int = 0
    own: int = 0  # the unplanted backgrounds' unexplained detections
    own_years: float = 0.0

    @classmethod
    def of_run(cls, planted: int, hits: int, near: int, added: int, years: float) -> "RealTally":
        return cls(planted=planted, found=hits, detections=hits + near + added, series=1, years=years,
                   near=near, added=added)

    @property
    def added_per_100_years(self) -> float | None:
        return 100 * self.added / self.years if self.years else None

    @property
    def own_per_100_years(self) -> float | None:
        return 100 * self.own / self.own_years if self.own_years else None


@dataclass
class Judged:
    """The verdict of each detection of a planted run, and which planted changes were found."""

    verdicts: list[str] = field(default_factory=list)
    found: set[int] = field(default_factory=set)  # indexes into the planted list

    @property
    def counts(self) -> Counter:
        return Counter(self.verdicts)


def _near_documented(detection, documented: tuple[int, ...], margin: int) -> bool:
    points = [int(detection.start)] + ([int(detection.end) + 1] if detection.end is not None else [])
    return any(abs(p - d) <= margin for p in points for d in documented)


def own_detections(detections: list, documented: tuple[int, ...], margin: int) -> list:
    """A background's unexplained detections: those not near a documented change."""
    return [d for d in detections if not _near_documented(d, documented, margin)]


def judge(planted: list[Planted], detections: list, background_detections: list, *, tolerance: int,
          spacing: int, documented: tuple[int, ...], margin: int) -> Judged:
    """The verdict of each detection of a planted run (see the module's order)."""
    starts = [(int(d.start), str(d.direction)) for d in detections]
    pairs = match(planted, starts, tolerance)
    matched = {j: i for i, j in pairs}
    judged = Judged(found={i for i, _ in pairs})
    own = [(int(d.start), str(d.direction)) for d in background_detections]
    for j, d in enumerate(detections):
        start = int(d.start)
        if j in matched:
            verdict = "hit"
        elif _near_documented(d, documented, margin):
            verdict = "documented"
        elif any(abs(start - s) <= tolerance and str(d.direction) == direction for s, direction in own):
            verdict = "background"
        elif any(p.start - spacing <= start <= (p.start if p.end is None else p.end) + spacing for p in planted):
            verdict = "near"
        else:
            verdict = "added"
        judged.verdicts.append(verdict)
    return judged
