"""Timeline events as linking reads them: the days an annotation can act on (its window
with the type's `lead` and `lag`). What each type usually does is the project's event
type table, `Config.event_type`."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from ctxmetrics.config import Config, EventWindow
from ctxmetrics.models.anomaly import Anomaly

if TYPE_CHECKING:
    from ctxmetrics.models.series import SeriesSet
    from ctxmetrics.models.annotation import Annotation


@dataclass(frozen=True)
class _Event:
    annotation: "Annotation"
    first: dt.date
    last: dt.date | None  # None while open
    window: EventWindow
    until: dt.date  # last day it can act on (open events: the data end)

    @classmethod
    def of(cls, annotation: "Annotation", config: Config, data_end: dt.date) -> "_Event":
        tz = config.timezone
        window = config.event_type(annotation.type).window
        first, last = annotation.first_day(tz), annotation.last_day(tz)
        until = max(data_end, first) if last is None else last
        return cls(annotation, first, last, window, until)


def _data_end(sets: Mapping[str, "SeriesSet"], anomalies: list[Anomaly]) -> dt.date:
    ends = [s.day(s.days - 1) for s in sets.values()]
    ends += [a.end or a.start for a in anomalies]
    return max(ends) if ends else dt.date.today()

