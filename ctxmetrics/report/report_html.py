"""The digest as one self-contained HTML file: inline CSS and inline SVG charts, no
scripts, no external fonts or images, so it opens offline and prints cleanly."""
from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path

from ctxmetrics.report.digest import BusinessEvent, Digest, effect_line
from ctxmetrics.wording import EXPLAINED_HEADING, cause_note, flags_note, nothing_needs_action, one_line

CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #111827; background: #fff; margin: 0 auto; max-width: 1100px; padding: 24px 32px; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; border-bottom: 1px solid #e5e7eb; padding-bottom: .2rem; }
.headline { font-size: 1.05rem; background: #f3f4f6; border-left: 4px solid #3b6fb6; padding: .6rem .9rem; }
.meta { color: #6b7280; font-size: .85rem; }
.item { margin: 0 0 1.4rem; padding: .6rem .8rem; border: 1px solid #e5e7eb; border-radius: 6px; }
.item h3 { font-size: 1rem; margin: 0 0 .3rem; }
.item.unexplained { border-left: 4px solid #c62828; }
.item.explained { border-left: 4px solid #1a7f37; }
.item .details { color: #6b7280; }
.item ul { margin: .2rem 0 .4rem 1.1rem; padding: 0; font-size: .9rem; }
code { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; font-size: .82rem;
       background: #f3f4f6; padding: .1rem .3rem; border-radius: 3px; word-break: break-all; }
svg.chart { display: block; width: 100%; height: auto; max-width: 860px; }
table.events { border-collapse: collapse; font-size: .9rem; }
table.events td, table.events th { border-bottom: 1px solid #e5e7eb; padding: .2rem .8rem .2rem 0; text-align: left; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  .item { break-inside: avoid; page-break-inside: avoid; border-color: #999; }
  h2 { break-after: avoid; page-break-after: avoid; }
  svg.chart { max-width: 100%; }
  code { background: none; }
  @page { margin: 14mm; }
}
"""


def _text(value: str) -> str:
    return escape(one_line(value))


def render_html(digest: Digest, charts: dict[str, str]) -> str:
    """The digest as an HTML document; `charts` maps an event's lead anomaly id to its chart
    (an inline `<svg>` or an `<img>`). Every piece of user text is escaped."""
    y = digest.with_year
    unexplained, not_seen, explained = digest.unexplained_events, digest.effects_not_seen, digest.explained_events
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>ctxmetrics digest: {escape(digest.period)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>ctxmetrics digest</h1><p class=\"meta\">{escape(digest.period)} · generated "
        f"{dt.datetime.now().strftime('%Y-%m-%d %H:%M')}</p>",
        f'<p class="headline"><strong>{_text(digest.headline())}</strong></p>',
        f"<h2>Needs action ({len(unexplained) + len(not_seen)})</h2>",
    ]
    if not unexplained and not not_seen:
        parts.append(f"<p>{nothing_needs_action(len(digest.anomalies) + digest.muted)}</p>")
    parts += [event_html(e, charts, y) for e in digest.shown(unexplained)]
    parts += _hidden(digest, unexplained)
    if not_seen:
        parts.append("<h3>Expected effects not seen</h3>")
        parts.append("<ul>" + "".join(f"<li>{effect_line(e, y, _text)}</li>" for e in not_seen) + "</ul>")
    if explained:
        parts.append(f"<h2>{EXPLAINED_HEADING.format(n=len(explained))}</h2>")
        parts += [event_html(e, charts, y) for e in digest.shown(explained)]
        parts += _hidden(digest, explained)
    if digest.effects_other:
        parts.append("<h2>Tagged events without a flag</h2>")
        parts.append("<ul>" + "".join(f"<li>{effect_line(e, y, _text)}</li>" for e in digest.effects_other) + "</ul>")
    parts += [f'<p class="meta">{_text(metric)} is {_text(reason)}.</p>' for metric, reason in sorted(digest.bookings.items())]
    parts.append(f'<p class="meta">{flags_note(len(digest.anomalies), len(digest.events), digest.muted)} {digest.ranking} '
                 "Each chart's legend names its marks.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _hidden(digest: Digest, items: list) -> list[str]:
    hidden = len(items) - len(digest.shown(items))
    return [f'<p class="meta">…and {hidden} less important events (see the JSON digest).</p>'] if hidden > 0 else []


def event_html(event: BusinessEvent, charts: dict[str, str], with_year: bool) -> str:
    """One business event as an HTML section: how big, since when, where, why, what to do."""
    kind = cause_note(event.cause.type if event.cause else None, _text)
    lines = []
    for fact in event.facts():
        css_class = ' class="details"' if fact.label == "details" else ""
        command = f" <code>{_text(fact.command)}</code>" if fact.command else ""
        lines.append(f"<li{css_class}>{fact.label}: {_text(fact.text)}{command}</li>")
    css = "explained" if event.explained else "unexplained"
    return (f'<section class="item {css}" id="{escape(event.id, quote=True)}">'
            f"<h3>{_text(event.title)}{kind}: {_text(event.size_text(with_year))}</h3>"
            f"<ul>{''.join(lines)}</ul>{charts.get(event.id, '')}</section>")


def chart_inputs(project, store, anomaly, events: dict) -> tuple | None:
    """(days, values, linked events, title, is ratio) for one anomaly's chart; None without data."""
    from ctxmetrics.report.charts import chart_window
    from ctxmetrics.models.segments import segment_label
    from ctxmetrics.store.series import load_series
    from ctxmetrics.wording import metric_label

    frame = load_series(store, project.config, anomaly.metric, anomaly.segment)
    if frame.height == 0:
        return None
    lo, hi = chart_window(anomaly, frame["ts"].min(), frame["ts"].max())
    part = frame.filter((frame["ts"] >= lo) & (frame["ts"] <= hi))
    linked = [events[c.annotation_id] for c in anomaly.causes[:3] if c.annotation_id in events]
    title = one_line(f"{metric_label(anomaly.metric)} · {segment_label(anomaly.segment)}")
    ratio = project.config.metric(anomaly.metric).type == "ratio"
    return part["ts"].to_list(), part["value"].to_list(), linked, title, ratio


def build_charts(project, digest: Digest) -> dict[str, str]:
    """An inline SVG chart for every event the HTML shows (its biggest flag)."""
    from ctxmetrics.report.charts import anomaly_chart_svg
    from ctxmetrics.timeline.read import load_timeline

    tz = project.config.timezone
    events = {e.id: e for e in load_timeline(project.annotations_dir, tz, project.config.event_types)}
    shown = digest.shown(digest.unexplained_events) + digest.shown(digest.explained_events)
    charts: dict[str, str] = {}
    with project.store(read_only=True) as store:
        for event in shown:
            inputs = chart_inputs(project, store, event.lead, events)
            if inputs is not None:
                days, values, linked, title, ratio = inputs
                charts[event.id] = anomaly_chart_svg(days, values, event.lead, linked, tz, title, ratio=ratio)
    return charts


def write_html(project, digest: Digest, path: Path | str) -> Path:
    """Render the digest with its charts and write it to `path`."""
    path = Path(path)
    path.write_text(render_html(digest, build_charts(project, digest)), encoding="utf-8")
    return path
