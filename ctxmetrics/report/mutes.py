"""Mutes: silence one anomaly, one series (metric × segment) or a whole segment until a
date, in `notify` and the digest. Light (no numpy/polars): the digest reads them."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.errors import CtxError
from ctxmetrics.models.segments import is_within, segment_from_key, segment_key, segment_label
from ctxmetrics.wording import closest_name

if TYPE_CHECKING:
    from ctxmetrics.store.database import Store


@dataclass(frozen=True)
class Mute:
    kind: str  # anomaly | series | segment
    anomaly_id: str | None
    metric: str | None
    segment_key: str | None
    until: dt.date

    @classmethod
    def of(cls, anomaly_id: str | None, metric: str | None, segment: dict[str, str], until: dt.date,
           command: str = "mute") -> "Mute":
        """The mute a `ctxmetrics mute` (or `unmute`: `command`) call names; exactly one target kind."""
        if anomaly_id:
            if metric or segment:
                raise CtxError("mute either an anomaly (--anomaly) or a series/segment (--metric/--segment), not both.")
            if anomaly_id.count("|") != 2:
                raise CtxError(f"'{anomaly_id}' is not an anomaly id (metric|segment|start, as in 'digest --format json').")
            return cls("anomaly", anomaly_id, None, None, until)
        if metric:
            return cls("series", None, metric, segment_key(segment), until)
        if segment:
            return cls("segment", None, None, segment_key(segment), until)
        raise CtxError(f"say what to {command}: --anomaly ID, --metric M [--segment k=v]… or --segment k=v….")

    def same_target(self, other: "Mute") -> bool:
        return (self.kind, self.anomaly_id, self.metric, self.segment_key) == (
            other.kind, other.anomaly_id, other.metric, other.segment_key)

    def matches(self, anomaly: Anomaly) -> bool:
        if self.kind == "anomaly":
            return anomaly.id == self.anomaly_id
        if self.kind == "series":
            return anomaly.metric == self.metric and anomaly.segment_key == self.segment_key
        return is_within(anomaly.segment, segment_from_key(self.segment_key or ""))

    def describe(self) -> str:
        if self.kind == "anomaly":
            return f"anomaly {self.anomaly_id}"
        if self.kind == "series":
            return f"series {self.metric} {segment_label(segment_from_key(self.segment_key or ''))}"
        return f"segment {segment_label(segment_from_key(self.segment_key or ''))} (every metric)"


def active_mutes(store: "Store", today: dt.date | None = None) -> list[Mute]:
    """Mutes in force on `today` (default: the current date)."""
    return [Mute(*row) for row in store.mutes(today or dt.date.today())]


def is_muted(anomaly: Anomaly, mutes: Iterable[Mute]) -> bool:
    return any(m.matches(anomaly) for m in mutes)


def add_mute(store: "Store", mute: Mute) -> dt.date | None:
    """Store `mute`, replacing a mute of the same target (muting again changes its date).

    Returns:
        The replaced mute's last day, or None.
    """
    if mute.until < dt.date.today():
        raise CtxError(f"--until {mute.until} is in the past; a mute lasts until a future date.")
    _check_target(store, mute)
    with store.transaction():
        before = [row[4] for row in store.mutes(dt.date.today()) if Mute(*row).same_target(mute)]
        store.remove_mutes(mute.kind, mute.anomaly_id, mute.metric, mute.segment_key)
        store.add_mute(mute.kind, mute.anomaly_id, mute.metric, mute.segment_key, mute.until,
                       dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    return max(before) if before else None


def remove_mute(store: "Store", mute: Mute) -> int:
    removed = store.remove_mutes(mute.kind, mute.anomaly_id, mute.metric, mute.segment_key)
    if not removed:
        raise CtxError(f"no mute of {mute.describe()} to remove ('ctxmetrics mute --list' shows them).")
    return removed


def _check_target(store: "Store", mute: Mute) -> None:
    """Refuse a mute that could never match: a typo (regoin=APAC, an anomaly id from an old
    scan) would silence nothing while 'mute --list' shows it in force."""
    from ctxmetrics.store.results import load_anomaly, scanned_metrics

    if mute.kind == "anomaly":
        if load_anomaly(store, mute.anomaly_id) is None:
            raise CtxError(f"no stored anomaly '{mute.anomaly_id}'; 'why --json' and 'digest --format json' give the ids.")
        return
    if mute.metric is not None:
        _known("metric", mute.metric, set(store.metric_names()) | scanned_metrics(store))
    dimensions = store.dimension_names()
    for dim, value in segment_from_key(mute.segment_key or "").items():
        _known("dimension", dim, dimensions)
        if not store.has_dimension_value(dim, value):
            raise CtxError(f"no data has {dim}={value}; nothing was muted.")


def _known(what: str, name: str, known) -> None:
    if name not in known:
        close = closest_name(name, known)
        hint = f" (did you mean '{close}'?)" if close else ""
        raise CtxError(f"unknown {what} '{name}'{hint}; nothing was muted.")

