"""`Annotation`: one business event of the timeline, as data (no YAML, no files)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Mapping
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class Annotation:
    """One business event. `end` is None while the event is open (still going on).

    `path` and `line` say where the event is written; they are not part of equality.
    """

    id: str
    title: str
    type: str
    start: date | datetime
    end: date | datetime | None = None
    scope: dict[str, tuple[str, ...]] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    expect: str | None = None
    owner: str | None = None
    links: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    notes: str | None = None
    path: Path | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)

    @property
    def is_open(self) -> bool:
        """True while the event has no end (started with `annotate start`, not yet ended)."""
        return self.end is None

    def first_day(self, tz: str) -> date:
        """The first calendar day the event covers in the zone `tz`."""
        return local_day(self.start, tz)

    def last_day(self, tz: str) -> date | None:
        """The last calendar day (inclusive) the event covers in `tz`; None while open.

        A datetime end at local midnight ends the event on the previous day.
        """
        if self.end is None:
            return None
        day = local_day(self.end, tz)
        if isinstance(self.end, datetime) and self.end.astimezone(ZoneInfo(tz)).time() == time(0):
            day = max(day - timedelta(days=1), self.first_day(tz))
        return day

    def to_dict(self) -> dict[str, Any]:
        """The YAML mapping of the event: dates as ISO strings, empty optional fields left out."""
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "type": self.type,
            "start": self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
        }
        optional = {
            "scope": {dim: list(values) for dim, values in self.scope.items()},
            "metrics": list(self.metrics),
            "expect": self.expect,
            "owner": self.owner,
            "links": list(self.links),
            "tags": list(self.tags),
            "notes": self.notes,
        }
        data.update((key, value) for key, value in optional.items() if value not in (None, [], {}))
        return data

    def scope_relation(self, segment: Mapping[str, str]) -> str:
        """How the event's scope relates to a segment (a dict dimension -> value).

        Returns:
            "global": the event has no scope (it affects everything);
            "disjoint": a scoped dimension is set in the segment to a value outside the scope;
            "exact": every scoped dimension is set in the segment, to a value in the scope
            (the segment lies inside the event's reach);
            "partial": otherwise (the segment is wider than the scope, e.g. the total).
        """
        if not self.scope:
            return "global"
        if any(dim in segment and segment[dim] not in values for dim, values in self.scope.items()):
            return "disjoint"
        return "exact" if all(dim in segment for dim in self.scope) else "partial"


def local_day(value: date | datetime, tz: str) -> date:
    """The calendar day of a date or an instant in the zone `tz`."""
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(tz)).date()
    return value
