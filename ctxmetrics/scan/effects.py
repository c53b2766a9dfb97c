"""Expected effects not seen, found at scan time and stored for every reader: events that
should have moved a metric (`explain.missing_effects`) with what the data did over each
(`explain.effect`): a change below the alert threshold, the opposite one, or nothing."""
from __future__ import annotations

import datetime as dt
from typing import Any

from ctxmetrics.models.segments import segment_label
from ctxmetrics.wording import metric_word


def expected_effects(project, store, annotations, anomalies, present: list[str] | None = None) -> list[dict[str, Any]]:
    """The events of the whole stored period whose expected effect no anomaly showed, each
    measured (docs/contract.md, `missing_effects`); [] for an empty store. `present`: the
    store's metric names when the scan has read them already (else read here: a whole scan
    of the observations)."""
    from ctxmetrics.explain import explain

    data_range = store.observation_span()
    if data_range is None:
        return []
    present = store.metric_names() if present is None else present
    entries = explain.missing_effects(annotations, anomalies, project.config, data_range, present=present)
    return measure_effects(project, store, entries) if entries else []


def _segments(entry: dict[str, Any]) -> list[dict[str, str]]:
    """The segments an event's scope covers (every combination of its values; {} = all)."""
    return list(entry.get("segments") or [{}])


def measure_effects(project, store, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Say what the data did over each event whose expected effect no anomaly showed.

    `finding`: `not_seen` (every measured change is consistent with none), `opposite` (a
    clear change against the expected direction), `below_threshold` (a clear change the
    expected way that the scan did not flag) or `unmeasured` (too little data before it).
    """
    from ctxmetrics.explain.effect import measure_window
    from ctxmetrics.store.series import load_series

    out = []
    for entry in entries:
        first, last = (dt.date.fromisoformat(d) for d in entry["window"])
        measured, clear = [], []
        for metric in entry["metrics"]:
            kind = project.config.metric(metric).type
            if kind == "query":
                continue
            for segment in _segments(entry):
                frame = load_series(store, project.config, metric, segment)
                m = measure_window(frame["ts"].to_list(), frame["value"].to_list(), first, last, count=kind == "count")
                if m is not None:
                    measured.append({"metric": metric, "segment": segment, "change_pct": round(m.change_pct, 1),
                                     "low_pct": round(m.low_pct, 1), "high_pct": round(m.high_pct, 1), "text": m.text()})
                    if not m.consistent_with_no_change:
                        clear.append(measured[-1])
        expect = entry.get("expect")
        same_way = [m for m in clear if expect is None or (m["change_pct"] < 0) == (expect == "down")]
        if not measured:
            finding = "unmeasured"
        elif same_way:
            finding = "below_threshold"
        elif clear:
            finding = "opposite"
        else:
            finding = "not_seen"
        out.append({**entry, "measured": measured, "finding": finding, "reason": _effect_reason(entry, measured, finding)})
    return out


def _effect_reason(entry: dict[str, Any], measured: list[dict[str, Any]], finding: str) -> str:
    metrics = " and ".join(metric_word(m) for m in entry["metrics"])
    expected = f"expected {metrics} {entry['expect']}" if entry.get("expect") else f"expected {metrics} to move"
    scope = ", ".join(segment_label(s) for s in _segments(entry) if s)
    expected += f" in {scope}" if scope else ""
    if finding == "unmeasured":
        return f"{expected}; no anomaly flagged, and too little data before it to measure the change"
    values = "; ".join(
        f"{metric_word(m['metric'])}{' ' + segment_label(m['segment']) if m['segment'] else ''} measured {m['text']}"
        for m in measured[:4]
    )
    verdict = {
        "not_seen": "consistent with no change",
        "opposite": "the opposite of what was expected",
        "below_threshold": "a real change, below the alert threshold",
    }[finding]
    return f"{expected}; {values}: {verdict}"
