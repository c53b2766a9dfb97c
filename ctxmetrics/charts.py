"""Small anomaly charts as inline SVG (matplotlib, no pyplot, no external fonts).

Each chart shows the daily series around the anomaly (±60 days), its 7-day mean, the
change marked (the anomaly window shaded, the level before and after drawn), and the
windows of the linked causes shaded and labelled. Text stays text (`svg.fonttype: none`)
with a generic font-family stack, so the SVG is small, searchable and needs no font file.
"""
from __future__ import annotations

import datetime as dt
import io
import re
from typing import Sequence

CONTEXT_DAYS = 60
FIGSIZE = (7.0, 2.4)  # inches: fits a laptop screen and an A4/Letter page width
UP, DOWN, EVENT, LINE, MEAN = "#1a7f37", "#c62828", "#3b6fb6", "#9aa4b1", "#1f2d3d"
_RC = {
    "svg.fonttype": "none",
    "font.family": ["sans-serif"],
    "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial", "Liberation Sans"],
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#6b7280",
    "xtick.color": "#374151",
    "ytick.color": "#374151",
}


def chart_window(anomaly, first: dt.date | None = None, last: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The days a chart shows: 60 before the anomaly's start to 60 after its end."""
    lo = anomaly.start - dt.timedelta(days=CONTEXT_DAYS)
    hi = (anomaly.end or anomaly.start) + dt.timedelta(days=CONTEXT_DAYS)
    if first is not None:
        lo = max(lo, first)
    if last is not None:
        hi = min(hi, last)
    return lo, hi


def _rolling_mean(values: Sequence[float | None], width: int = 7) -> list[float | None]:
    out: list[float | None] = []
    for i in range(len(values)):
        window = [v for v in values[max(0, i - width + 1) : i + 1] if v is not None and v == v]
        out.append(sum(window) / len(window) if len(window) >= max(1, width // 2) else None)
    return out


def _short(text: str, size: int = 32) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def anomaly_chart_svg(days: Sequence[dt.date], values: Sequence[float | None], anomaly, events=(),
                      tz: str = "UTC", title: str | None = None, salt: str = "") -> str:
    """One anomaly's chart as an `<svg>` element (no XML prolog), ready to inline in HTML.

    Args:
        days, values: the daily series (values may hold None/NaN for unknown days).
        anomaly: the `Anomaly` to mark.
        events: `Annotation`s to shade and label (the anomaly's causes, best first).
        tz: the project timezone (for the events' calendar days).
        title: text drawn above the plot.
        salt: makes the SVG's internal ids unique when many charts share a page.
    """
    import matplotlib
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    one = dt.timedelta(days=1)
    with matplotlib.rc_context({**_RC, "svg.hashsalt": salt or anomaly.id}):
        fig = Figure(figsize=FIGSIZE, dpi=100)
        ax = fig.add_axes((0.075, 0.14, 0.9, 0.7 if title else 0.8))
        ys = [float("nan") if v is None else float(v) for v in values]
        color = UP if anomaly.direction == "up" else DOWN
        last_day = days[-1] if days else anomaly.start
        end = anomaly.end or last_day
        ax.axvspan(anomaly.start, end + one, color=color, alpha=0.12, lw=0, zorder=0)
        if anomaly.end is None:
            ax.axvline(anomaly.start, color=color, lw=1.2, zorder=3)
        ax.plot(days, ys, color=LINE, lw=0.8, zorder=2)
        ax.plot(days, _rolling_mean(ys), color=MEAN, lw=1.3, zorder=4, label="7-day mean")
        first_day = days[0] if days else anomaly.start
        ax.hlines(anomaly.before, max(first_day, anomaly.start - dt.timedelta(days=56)), anomaly.start,
                  colors=color, linestyles="--", lw=1.0, zorder=5)
        ax.hlines(anomaly.after, anomaly.start, min(end + one, anomaly.start + dt.timedelta(days=56)),
                  colors=color, linestyles="-", lw=1.6, zorder=5)
        _events(ax, events, tz, first_day, last_day)
        ax.set_xlim(first_day, last_day + one)
        ymax = max([v for v in ys if v == v] + [anomaly.before, anomaly.after, 0.0])
        ax.set_ylim(0, ymax * 1.22 or 1.0)
        locator = AutoDateLocator(minticks=4, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.grid(axis="y", color="#e5e7eb", lw=0.6)
        if title:
            fig.text(0.075, 0.93, title, fontsize=9, fontweight="bold", color="#111827", va="center")
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return _inline(buffer.getvalue(), anomaly.id)


def _events(ax, events, tz: str, first: dt.date, last: dt.date) -> None:
    one = dt.timedelta(days=1)
    for rank, event in enumerate(events):
        start = event.first_day(tz)
        stop = event.last_day(tz) or last
        if stop < first or start > last:
            continue
        x = max(start, first)
        if stop == start:
            ax.axvline(start, color=EVENT, lw=1.0, ls=":", zorder=1)
        else:
            ax.axvspan(start, stop + one, color=EVENT, alpha=0.14, lw=0, zorder=1)
        ax.annotate(_short(event.title), (x, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -2 - 10 * rank),
                    textcoords="offset points", fontsize=7, color=EVENT, va="top", ha="left", zorder=6)


_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)


def _inline(svg: str, anomaly_id: str) -> str:
    """Strip the XML prolog/doctype; make the root scale to its container."""
    svg = _PROLOG.sub("", svg, count=1)
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.S)  # RDF boilerplate
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1', svg, count=1)
    label = anomaly_id.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return svg.replace("<svg", f'<svg class="chart" role="img" aria-label="{label}"', 1)
