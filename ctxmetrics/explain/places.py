"""Where the changes of a window sit: one place per root cause, from stored anomalies.

A change in one cell is often flagged three times: on the cell's own series and on the
rollups above it (its region, its channel), whose drivers name the cell. Read together they
are one place, the cell. Likewise a region that changed alike throughout is one place, even
when some of its cells were flagged on their own series too. And the places read together
are one answer: where the whole cube was localized over an anomaly's window (its
`cube_drivers`), what that anomaly points at must agree with it (`_agrees`).
"""
from __future__ import annotations

from typing import Iterable

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.models.segments import Segment, is_within, segment_key

__all__ = ["change_places"]


def change_places(anomalies: Iterable[Anomaly], limit: int = 5) -> list[tuple[Segment, int]]:
    """[(place, number of anomalies it accounts for)], in the order of the anomalies given
    (most important first), at most `limit`.

    An anomaly points at its root-cause set (its drivers), at its own segment when its
    change is alike throughout, and otherwise (a leaf, or a rollup where nothing was
    localized) at its own segment as a plain, unlocalized place. Its `cube_drivers` are
    places too, with no anomaly of their own unless one points at them, and what the
    anomaly points at is dropped where they contradict it. A place inside a localized
    place is part of that one change; an unlocalized rollup that holds a more specific
    place is that place seen from above.
    """
    places: dict[str, list] = {}  # key -> [segment, anomalies, localized]
    for anomaly in anomalies:
        if anomaly.drivers:
            points = [(d["segment"], True) for d in anomaly.drivers]
        else:
            points = [(anomaly.segment, anomaly.uniform)]
        if anomaly.cube_drivers:
            points = [p for p in points if _agrees(p[0], anomaly.cube_drivers, bool(anomaly.drivers))]
        for segment, localized in points:
            entry = places.setdefault(segment_key(segment), [dict(segment), 0, localized])
            entry[1] += 1
            entry[2] = entry[2] or localized
        for driver in anomaly.cube_drivers:  # found in the whole cube, not flagged on its own
            places.setdefault(segment_key(driver["segment"]), [dict(driver["segment"]), 0, True])[2] = True
    kept = {}
    for key, (segment, count, localized) in places.items():
        outer = [p for p in places.values() if p[2] and _strictly_within(segment, p[0])]
        inner = [p for p in places.values() if _strictly_within(p[0], segment)]
        if outer:  # part of a change of a whole segment: counted there
            min(outer, key=lambda p: len(p[0]))[1] += count
        elif inner and not localized:  # an unlocalized rollup above a more specific place
            inner[0][1] += count
        else:
            kept[key] = places[key]
    return [(segment, count) for segment, count, _ in kept.values()][:limit]


def _agrees(place: Segment, cube_drivers: list[dict], named_by_drivers: bool) -> bool:
    """Whether a place an anomaly points at fits the whole cube's root-cause set of its
    window: it lies in or holds one of its elements. A rollup's or leaf's own segment that
    does not is dropped: the cube's search weighed it too and put the change elsewhere. A cell that a
    rollup's localization named outside them is kept while the cube's set is no coarser
    than it (cells too): the rollup searched fewer cells, so sees a smaller one the cube's
    search missed; beside a whole region or channel it is that value's change leaking into
    the rollup's sum with noise."""
    elements = [d["segment"] for d in cube_drivers]
    if any(is_within(place, e) or is_within(e, place) for e in elements):
        return True
    return named_by_drivers and all(len(e) >= len(place) for e in elements)


def _strictly_within(child: Segment, parent: Segment) -> bool:
    return len(child) > len(parent) and is_within(child, parent)
