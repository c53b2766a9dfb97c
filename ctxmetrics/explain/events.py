"""Timeline events as linking reads them: what each type of event usually does, and the
days an annotation can act on (its window with the type's `lead` and `lag`)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from ctxmetrics.config import EVENT_TABLE, Config, EventWindow
from ctxmetrics.models.anomaly import Anomaly

if TYPE_CHECKING:
    from ctxmetrics.models.series import SeriesSet
    from ctxmetrics.models.annotation import Annotation

# The effect an event type usually has on volumes when `expect` is not given.
USUAL_DIRECTION = {name: t.usual_direction for name, t in EVENT_TABLE.items() if t.usual_direction}
# Types whose effect should end with the event; a persistent shift outlasting them fits worse.
TEMPORARY_TYPES = tuple(name for name, t in EVENT_TABLE.items() if t.temporary)
# Events that only take days away: once over, the days after them are normal again.
DAYS_OFF_TYPES = tuple(name for name, t in EVENT_TABLE.items() if t.days_off)
# Events that are meant to move a metric even without an explicit `expect`.
EFFECT_TYPES = tuple(name for name, t in EVENT_TABLE.items() if t.intended)


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
        window = config.explain.windows.get(annotation.type, EventWindow(lead=2, lag=7))
        first, last = annotation.first_day(tz), annotation.last_day(tz)
        until = max(data_end, first) if last is None else last
        return cls(annotation, first, last, window, until)


def _data_end(sets: Mapping[str, "SeriesSet"], anomalies: list[Anomaly]) -> dt.date:
    ends = [s.day(s.days - 1) for s in sets.values()]
    ends += [a.end or a.start for a in anomalies]
    return max(ends) if ends else dt.date.today()

