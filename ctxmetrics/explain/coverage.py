"""Coverage: how many anomalies have at least one cause, overall and per metric (the
digest's explained share; apart from linking, so the digest loads nothing of it)."""
from __future__ import annotations

from typing import Any, Iterable

from ctxmetrics.models.anomaly import Anomaly


def coverage(anomalies: Iterable[Anomaly]) -> dict[str, Any]:
    """How many anomalies have at least one cause, overall and per metric."""
    total = explained = 0
    per_metric: dict[str, dict[str, Any]] = {}
    for a in anomalies:
        entry = per_metric.setdefault(a.metric, {"total": 0, "explained": 0})
        entry["total"] += 1
        total += 1
        if a.explained:
            entry["explained"] += 1
            explained += 1
    for entry in per_metric.values():
        entry["share"] = round(entry["explained"] / entry["total"], 4)
    return {
        "total": total,
        "explained": explained,
        "share": round(explained / total, 4) if total else 0.0,
        "per_metric": dict(sorted(per_metric.items())),
    }
