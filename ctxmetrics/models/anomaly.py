"""Anomaly records and their JSON form (the contract in docs/contract.md)."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
import math
from typing import Any

from ctxmetrics.models.segments import segment_key


# A score this high means the noise it was measured against was the detector's floor: the
# series held one value before the change (noisy series score in the tens at most).
NOISELESS_SCORE = 1e6
# Such a change is ranked by its size against its level instead: a change of the smallest
# size a manager is shown (the default `min_change_pct`, 15%) ranks like one that just
# passed the default noise bar (`min_score`, 5), a 60% one like a score of 20.
_FLAT_SCORE_PER_PCT = 5.0 / 15.0
_FLAT_PCT_CAP = 1000.0  # a lasting change from zero (no %, or a huge one: a launch) ranks like +1000%
# A temporary change from zero that comes back (a refund's day in a segment that has none on
# most days) has no size to rank by either, and is the commonest in sparse segments: it ranks
# like the smallest change a manager is shown, below every change measured against noise.
_FLAT_BLIP_PCT = 15.0
_ONE_RECORD_SCORE = 5.0  # the default `min_score`: a one-deal day ranks like a change just past the bar


def ranking_score(score: float, change_pct: float | None, temporary: bool = False) -> float:
    """The score lists rank by: the detector's own, or, for a series that never varied
    before its change (its score is the change over a zero noise, ~10^9), its relative size."""
    score = float(score)
    if score < NOISELESS_SCORE:
        return score
    pct = abs(float(change_pct)) if change_pct is not None else math.nan  # None: the level before was 0
    if math.isnan(pct):
        return _FLAT_SCORE_PER_PCT * (_FLAT_BLIP_PCT if temporary else _FLAT_PCT_CAP)
    return _FLAT_SCORE_PER_PCT * min(pct, _FLAT_PCT_CAP)


def importance(score: float, volume: float, change_pct: float | None = None, temporary: bool = False,
               one_record: bool = False) -> float:
    """How much an anomaly matters, the one ranking of every list: score × ln(1 + mean
    daily volume), the score of a never-varying series read from its `change_pct`
    (`ranking_score`; `temporary`: the change ended). The volume's size: a refunds amount
    of -800 a day moves as much money as sales of 800 (a count's volume is never below 0).
    A change of a sum made of one record (one deal's size: `one_record`) ranks like one
    that just passed the default bar."""
    score = ranking_score(score, change_pct, temporary)
    return (min(score, _ONE_RECORD_SCORE) if one_record else score) * math.log1p(abs(float(volume)))


@dataclass
class Cause:
    annotation_id: str
    title: str
    type: str
    score: float  # in [0, 1]
    reason: str
    verdict: str | None = None  # "confirmed" | "rejected" | None


@dataclass
class Anomaly:
    metric: str
    segment: dict[str, str]
    kind: str  # "level_shift" | "spike"
    direction: str  # "up" | "down"
    start: dt.date
    end: dt.date | None  # last affected day; None for a persistent level shift
    before: float
    after: float
    change_pct: float
    score: float
    volume: float = 0.0  # mean level per period of the series: how much business it carries
    period: str = "day"  # what before/after/volume are per: day, week, month, quarter or year (the series' granularity)
    causes: list[Cause] = field(default_factory=list)
    # The root-cause set in the cube: [{"segment": {...}, "share": 0.81}], best first.
    drivers: list[dict[str, Any]] = field(default_factory=list)
    uniform: bool = False  # the change is everywhere alike: no part of the cube carries it
    # When the metric's total was not flagged then: the root-cause set of the whole cube over
    # this anomaly's window, same form as `drivers` (changes too small for their own series).
    cube_drivers: list[dict[str, Any]] = field(default_factory=list)
    correlated: list[dict[str, Any]] = field(default_factory=list)
    # Funnel stages of the same segment that moved together, earliest first:
    # [{"stage": "leads", "start": "2026-03-02", "direction": "up", "change_pct": 48.0}, ...]
    funnel: list[dict[str, Any]] = field(default_factory=list)
    # "series": the detector flagged the segment's own series; "cube": the check of the
    # cube's latest days found a change there that no series showed (scan.latest);
    # "tagged window": the test of a tagged event's own window found it (scan.tagged);
    # "conversion": the stage's conversion from the stage above showed it (scan.conversion).
    found_by: str = "series"
    # "tagged window" only: {"events": [ids], "tests": windows tested for the metric, "bar": score needed}
    tagged: dict[str, Any] | None = None
    # A lasting change first seen on the series' last period: one period cannot yet tell a
    # launch from a blip, so it ranks like a change that came back (`importance`)
    on_last_period: bool = False
    # A records export's summed change (won value): the records on its days where the export
    # counts them too (scan.one_record); None otherwise. 1: one deal's size
    records: int | None = None

    @property
    def segment_key(self) -> str:
        return segment_key(self.segment)

    @property
    def id(self) -> str:
        return f"{self.metric}|{self.segment_key}|{self.start.isoformat()}"

    @property
    def explained(self) -> bool:
        return bool(self.causes)

    @property
    def importance(self) -> float:
        return importance(
            self.score, self.volume, self.change_pct, self.end is not None or self.on_last_period, self.records == 1
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object of one anomaly, as `why --json` and `digest --format json` print it."""
        return {
            "id": self.id,
            "metric": self.metric,
            "segment": dict(self.segment),
            "kind": self.kind,
            "direction": self.direction,
            "start": self.start.isoformat(),
            "end": self.end.isoformat() if self.end else None,
            "before": round(self.before, 4),
            "after": round(self.after, 4),
            "change_pct": round(self.change_pct, 1),
            "score": round(self.score, 2),
            "volume": round(self.volume, 2),
            "period": self.period,
            "causes": [asdict(c) for c in self.causes],
            "drivers": self.drivers,
            "uniform": self.uniform,
            "cube_drivers": self.cube_drivers,
            "correlated": self.correlated,
            "funnel": self.funnel,
            "found_by": self.found_by,
            **({"tagged": self.tagged} if self.tagged is not None else {}),
            **({"on_last_period": True} if self.on_last_period else {}),
            **({"records": self.records} if self.records is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Anomaly":
        return cls(
            metric=data["metric"],
            segment=dict(data["segment"]),
            kind=data["kind"],
            direction=data["direction"],
            start=dt.date.fromisoformat(data["start"]),
            end=dt.date.fromisoformat(data["end"]) if data.get("end") else None,
            before=data["before"],
            after=data["after"],
            change_pct=data["change_pct"],
            score=data["score"],
            volume=data.get("volume", 0.0),
            period=data.get("period", "day"),
            causes=[Cause(**c) for c in data.get("causes", [])],
            drivers=list(data.get("drivers", [])),
            uniform=bool(data.get("uniform", False)),
            cube_drivers=list(data.get("cube_drivers", [])),
            correlated=list(data.get("correlated", [])),
            funnel=list(data.get("funnel", [])),
            found_by=data.get("found_by", "series"),
            tagged=data.get("tagged"),
            on_last_period=bool(data.get("on_last_period", False)),
            records=data.get("records"),
        )
