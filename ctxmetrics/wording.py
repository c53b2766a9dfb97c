"""How metrics and anomalies are named for people, shared by `why` and the digest.
Light on purpose: both read paths import it."""
from __future__ import annotations

import shlex

from ctxmetrics.anomaly import Anomaly
from ctxmetrics.segments import segment_label

_ACRONYMS = {"mql": "MQL", "sql": "SQL", "crm": "CRM", "arr": "ARR", "mrr": "MRR"}


def metric_label(metric: str) -> str:
    """'leads' -> 'Leads', 'lead_to_mql' -> 'Lead to MQL'."""
    words = [_ACRONYMS.get(w.lower(), w) for w in metric.replace("-", "_").split("_") if w]
    text = " ".join(words) or metric
    return text[0].upper() + text[1:]


def where_text(anomaly: Anomaly) -> str | None:
    """Where in the cube the change sits, in one line: 'APAC/partner (92% of the change)',
    'everywhere alike', or None when nothing was localized."""
    if anomaly.uniform:
        return "everywhere alike"
    if not anomaly.drivers:
        return None
    parts = [f"{' x '.join(d['segment'].values())} ({d['share'] * 100:.0f}% of the change)" for d in anomaly.drivers]
    return "; ".join(parts)


def tag_command(anomaly: Anomaly) -> str:
    """The `ctxmetrics annotate add` command that would tag the event behind an anomaly."""
    title = f"{metric_label(anomaly.metric)} {segment_label(anomaly.segment)} {'drop' if anomaly.direction == 'down' else 'rise'}"
    parts = ["ctxmetrics", "annotate", "add", title, "--type", "other", "--start", anomaly.start.isoformat()]
    if anomaly.end is not None:
        parts += ["--end", anomaly.end.isoformat()]
    for dim, value in anomaly.segment.items():
        parts += ["--scope", f"{dim}={value}"]
    parts += ["--metric", anomaly.metric, "--expect", anomaly.direction]
    return " ".join(shlex.quote(p) for p in parts)
