"""Anomalies related to each other: the funnel stages that moved with an anomaly, and the
anomalies correlated with it (starting close by, related segments first)."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from ctxmetrics.config import Config
from ctxmetrics.explain.split_loop import with_forked_worker
from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.models.segments import rollup_keys

_MAX_CORRELATED = 5
# anomalies from which a forked worker shares the correlated search: ~0.1 ms each (a wide
# cube's 22k: ~2.5 s), against 20-40 ms to fork a pool of one; a 100k scan's ~5k are linked
# while its whole-cube windows are localized in a worker already (`drivers._whole_causes`)
_PARALLEL_MIN_ANOMALIES = 10_000
_PARTS = 16  # slices of the anomalies: the two processes meet within one slice


def _link_funnel(anomalies: list[Anomaly], config: Config) -> None:
    """Same-segment, same-direction anomalies of other funnel stages starting close by."""
    funnel = list(config.funnel)
    if len(funnel) < 2:
        return
    days = config.explain.funnel_lag_days
    by_segment: dict[tuple[str, str], list[Anomaly]] = {}
    for a in anomalies:
        if a.metric in funnel:
            by_segment.setdefault((a.segment_key, a.direction), []).append(a)
    for group in by_segment.values():
        for a in group:
            closest: dict[str, Anomaly] = {}
            for b in group:
                gap = abs((b.start - a.start).days)
                if gap <= days and (b.metric not in closest or gap < abs((closest[b.metric].start - a.start).days)):
                    closest[b.metric] = b
            closest[a.metric] = a
            if len(closest) < 2:
                a.funnel = []
                continue
            moved = sorted(closest.values(), key=lambda b: (b.start, funnel.index(b.metric)))
            a.funnel = [
                {"stage": b.metric, "start": b.start.isoformat(), "direction": b.direction,
                 "change_pct": round(b.change_pct, 1)}
                for b in moved
            ]


def _link_correlated(anomalies: list[Anomaly], config: Config) -> None:
    """Other anomalies starting within ±`correlated_days`: same segment first, then related
    segments of the same metric, then the rest; by business size within each group.

    Near-linear in the number of anomalies: per anomaly only the few best candidates of each
    group are read (`_Correlations`). Each anomaly's list reads only the indexes, so a wide
    cube's (`_PARALLEL_MIN_ANOMALIES`) are shared with a forked worker: on a scan's tail the
    second core otherwise idles.
    """
    import os

    links = _Correlations(anomalies, config.explain.correlated_days)
    if len(anomalies) >= _PARALLEL_MIN_ANOMALIES and (os.cpu_count() or 1) >= 2:
        chosen = with_forked_worker(links.chosen, len(anomalies), _PARTS)
    else:
        chosen = links.chosen(0, len(anomalies))
    entries: dict[int, dict[str, Any]] = {}  # one entry per anomaly, however often it is listed

    def entry(j: int) -> dict[str, Any]:
        if j not in entries:
            b = links.items[j]
            entries[j] = {"id": links.order[j][1], "metric": b.metric, "segment": dict(b.segment),
                          "start": b.start.isoformat(), "change_pct": round(b.change_pct, 1)}
        return entries[j]

    for a, best in zip(anomalies, chosen):
        a.correlated = [entry(j) for j in best]


class _Correlations:
    """The indexes `_link_correlated` reads: by segment (same segment and its rollups), by
    ancestor (its sub-segments) and by start day (the rest), each list by size. Anomalies
    are numbered once (by identity) and every index holds numbers, not objects: a wide
    cube's 22k anomalies read ~1M candidates, and per candidate a list lookup costs far
    less than hashing `id()` into dicts."""

    def __init__(self, anomalies: list[Anomaly], days: int):
        self.days = days
        number = {id(a): i for i, a in enumerate(anomalies)}  # one number per anomaly object
        self.ids = ids = [number[id(a)] for a in anomalies]
        self.items = items = list(anomalies)
        self.key = key = [a.segment_key for a in items]  # built once: a key is built from the segment
        self.order = order = [(-_size_of_change(a), a.id) for a in items]
        self.metric = metric = [a.metric for a in items]
        self.start = start = [a.start for a in items]
        self.day_number = [a.start.toordinal() for a in items]  # ints: a distance in days without timedeltas
        self.ancestors = ancestors = [rollup_keys(a.segment) for a in items]
        self.rollups = [set(keys) for keys in ancestors]
        self.by_day: defaultdict[dt.date, list[int]] = defaultdict(list)
        self.by_segment: defaultdict[str, list[int]] = defaultdict(list)
        self.by_ancestor: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        for i in ids:
            self.by_day[start[i]].append(i)
            self.by_segment[key[i]].append(i)
            for ancestor in ancestors[i]:
                self.by_ancestor[metric[i], ancestor].append(i)
        for group in (*self.by_segment.values(), *self.by_ancestor.values()):
            group.sort(key=order.__getitem__)
        self.windows: dict[dt.date, list[int]] = {}  # per start day: every anomaly near it, by size

    def chosen(self, lo: int, hi: int) -> list[list[int]]:
        """The numbers of the correlated anomalies of `anomalies[lo:hi]`, best first."""
        return [self._best(i) for i in self.ids[lo:hi]]

    def _best(self, i: int) -> list[int]:
        items, key, metric, order = self.items, self.key, self.metric, self.order
        day_number, rollups, days = self.day_number, self.rollups, self.days
        a = items[i]
        found: dict[int, tuple[int, int]] = {}
        day, day_i = self.start[i], day_number[i]

        def rank(j: int) -> int:
            if key[j] == key[i]:
                return 0
            related = key[j] in rollups[i] or key[i] in rollups[j]
            return 1 if metric[j] == metric[i] and related else 2

        def take(candidates, wanted_rank: int) -> None:
            count = 0
            for j in candidates:
                if count >= _MAX_CORRELATED:
                    break
                if items[j] is a or j in found or abs(day_number[j] - day_i) > days:
                    continue
                if (metric[j] != metric[i] or key[j] != key[i]) and rank(j) == wanted_rank:
                    found[j] = (wanted_rank, j)
                    count += 1

        by_segment = self.by_segment
        take(by_segment.get(key[i], ()), 0)
        # its rollups' anomalies as one list by size (a wide cube's anomaly has ~20 rollups
        # of one or two each): the five best that qualify are the answer's part of them, as
        # the five best of each list were (a sixth of a list ranks below its five)
        take(sorted([j for ancestor in self.ancestors[i] for j in by_segment.get(ancestor, ())], key=order.__getitem__), 1)
        take(self.by_ancestor.get((metric[i], key[i]), ()), 1)  # its sub-segments
        if day not in self.windows:
            near = [j for k in range(-days, days + 1) for j in self.by_day.get(day + dt.timedelta(days=k), ())]
            self.windows[day] = sorted(near, key=order.__getitem__)
        take(self.windows[day], 2)
        ranked = sorted(found.values(), key=lambda t: (t[0], order[t[1]]))
        return [j for _, j in ranked[:_MAX_CORRELATED]]


def _size_of_change(anomaly) -> float:
    """|change %| weighted by the volume's size (a refunds amount's is below 0); a change
    with no percentage (from a level at or below 0: a refund day) comes after the others."""
    pct = anomaly.change_pct
    return 0.0 if pct != pct else abs(pct) * max(abs(anomaly.volume), 1.0)
