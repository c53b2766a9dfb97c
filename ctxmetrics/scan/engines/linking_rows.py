"""Which series linking needs, so an engine that keeps the cube elsewhere returns only
those rows to the driver instead of every series.

`explain_anomalies` reads, for an anomaly on segment S: S itself; S's direct children;
every leaf under S (its drivers are localized over them); S narrowed to the values of an
annotation's scope; S's parent without the scope dimensions and that parent narrowed to the
scope (the scope rule). Apart from the leaves, every one of them agrees with S on S's
dimensions outside every annotation scope, and adds at most one dimension outside the
scopes. These rules keep every segment of those forms: a superset of what linking reads,
never less. (If explain starts reading other rows, widen it here; tests/test_spark.py
compares both engines' stored causes and drivers.)
"""
from __future__ import annotations

from typing import Iterable, Mapping

from ctxmetrics.models.segments import rollup_keys, segment_key

Signature = tuple[tuple[str, str], ...]


def scope_dimensions(annotations) -> frozenset[str]:
    """Every dimension any annotation is scoped on."""
    return frozenset(d for a in annotations for d in a.scope)


def signature(segment: Mapping[str, str], scoped: frozenset[str]) -> Signature:
    """The segment without its scoped dimensions, in a comparable form."""
    return tuple(sorted((d, v) for d, v in segment.items() if d not in scoped))


def wanted_signatures(anomalies: Iterable, scoped: frozenset[str]) -> set[Signature]:
    return {signature(a.segment, scoped) for a in anomalies}


def needed(segment: Mapping[str, str], wanted: set[Signature], scoped: frozenset[str]) -> bool:
    """True when linking some anomaly with a signature in `wanted` may read this segment."""
    own = signature(segment, scoped)
    if own in wanted:
        return True
    return any(own[:i] + own[i + 1 :] in wanted for i in range(len(own)))


def leaf_under(segment: Mapping[str, str], places: set[str], depth: int) -> bool:
    """True when `segment` is a leaf (every one of the `depth` dimensions fixed) inside the
    segment of some anomaly (`places`: their segment keys)."""
    return len(segment) == depth and (segment_key(segment) in places or any(k in places for k in rollup_keys(segment)))
