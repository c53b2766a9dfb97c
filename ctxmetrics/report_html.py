"""The digest as one self-contained HTML file: inline CSS and inline SVG charts, no
scripts, no external fonts or images, so it opens offline and prints cleanly."""
from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path

from ctxmetrics.digest import (
    Digest,
    DigestItem,
    levels_text,
    also_text,
    missing_text,
)
from ctxmetrics.wording import where_text

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


def render_html(digest: Digest, charts: dict[str, str]) -> str:
    """The digest as an HTML document; `charts` maps an anomaly id to its inline `<svg>`."""
    explained, unexplained = digest.explained_items, digest.unexplained_items
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>ctxmetrics digest: {escape(digest.period)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>ctxmetrics digest</h1><p class=\"meta\">{escape(digest.period)} · generated "
        f"{dt.datetime.now().strftime('%Y-%m-%d %H:%M')}</p>",
        f'<p class="headline"><strong>{escape(digest.headline())}</strong></p>',
    ]
    if digest.top_events:
        parts.append('<table class="events"><tr><th>event</th><th>type</th><th>flags explained</th></tr>')
        parts += [
            f"<tr><td>{escape(e.title)}</td><td>{escape(e.type)}</td><td>{e.flags}</td></tr>"
            for e in digest.top_events[:8]
        ]
        parts.append("</table>")
    parts.append(f"<h2>Explained ({sum(i.flags for i in explained)} flags in {len(explained)} items)</h2>")
    if not explained:
        parts.append("<p>None.</p>")
    parts += [_item(i, charts, "explained", digest.ratio_metrics) for i in digest.shown(explained)]
    parts += _hidden(digest, explained)
    parts.append(f"<h2>Unexplained ({sum(i.flags for i in unexplained)} flags in {len(unexplained)} items): no known context</h2>")
    if not unexplained:
        parts.append("<p>Every anomaly of the period is linked to a known event.</p>")
    parts += [_item(i, charts, "unexplained", digest.ratio_metrics) for i in digest.shown(unexplained)]
    parts += _hidden(digest, unexplained)
    parts.append(f"<h2>Expected effects not seen ({len(digest.missing_effects)})</h2>")
    if digest.missing_effects:
        parts.append("<ul>" + "".join(f"<li>{escape(missing_text(m))}</li>" for m in digest.missing_effects) + "</ul>")
    else:
        parts.append("<p>Every tagged event with an expected effect showed it (or expected none).</p>")
    parts.append('<p class="meta">Ranking: importance = score × ln(1 + mean daily volume). Related flags (same metric, '
                 "direction and cause, starting within 3 days) are grouped. Shaded blue: the linked events; "
                 "shaded red/green: the anomaly; dashed: the level before, solid: the level after.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _hidden(digest: Digest, items: list[DigestItem]) -> list[str]:
    hidden = len(items) - len(digest.shown(items))
    return [f'<p class="meta">…and {hidden} less important items (see the JSON digest).</p>'] if hidden > 0 else []


def _item(item: DigestItem, charts: dict[str, str], css: str, ratios=frozenset()) -> str:
    a = item.anomaly
    lines = [f"<li>{escape(levels_text(a, a.metric in ratios))}; importance {item.importance:.1f}</li>"]
    for cause in a.causes[:3]:
        verdict = f" [{escape(cause.verdict)}]" if cause.verdict else ""
        lines.append(f"<li>cause: <strong>{escape(cause.title)}</strong> ({escape(cause.type)}, "
                     f"{cause.score:.2f}){verdict}: {escape(cause.reason)}</li>")
    if where_text(a):
        lines.append(f"<li>where: {escape(where_text(a))}</li>")
    if item.also:
        lines.append(f"<li>also in: {escape(also_text(item))}</li>")
    if item.tag_command:
        lines.append(f"<li>tag it: <code>{escape(item.tag_command)}</code></li>")
    chart = charts.get(a.id, "")
    return (f'<section class="item {css}" id="{escape(a.id, quote=True)}"><h3>{escape(item.summary)}</h3>'
            f"<ul>{''.join(lines)}</ul>{chart}</section>")


def build_charts(project, digest: Digest) -> dict[str, str]:
    """An inline SVG chart for every item the HTML shows (its lead anomaly)."""
    from ctxmetrics.charts import anomaly_chart_svg, chart_window
    from ctxmetrics.segments import segment_label
    from ctxmetrics.series import load_series
    from ctxmetrics.timeline import load_timeline
    from ctxmetrics.wording import metric_label

    tz = project.config.timezone
    events = {e.id: e for e in load_timeline(project.annotations_dir, tz)}
    shown = digest.shown(digest.explained_items) + digest.shown(digest.unexplained_items)
    charts: dict[str, str] = {}
    with project.store(read_only=True) as store:
        for item in shown:
            a = item.anomaly
            frame = load_series(store, project.config, a.metric, a.segment)
            if frame.height == 0:
                continue
            lo, hi = chart_window(a, frame["ts"].min(), frame["ts"].max())
            part = frame.filter((frame["ts"] >= lo) & (frame["ts"] <= hi))
            linked = [events[c.annotation_id] for c in a.causes[:3] if c.annotation_id in events]
            title = f"{metric_label(a.metric)} · {segment_label(a.segment)}"
            charts[a.id] = anomaly_chart_svg(part["ts"].to_list(), part["value"].to_list(), a, linked, tz, title)
    return charts


def write_html(project, digest: Digest, path: Path | str) -> Path:
    """Render the digest with its charts and write it to `path`."""
    path = Path(path)
    path.write_text(render_html(digest, build_charts(project, digest)), encoding="utf-8")
    return path
