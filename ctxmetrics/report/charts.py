"""Small anomaly charts: inline SVG for the HTML digest, PNG for e-mail (matplotlib, no
pyplot, no external fonts).

Each chart shows the daily values around the anomaly (±60 days) as they are — a one-day
outage is one low point — with their 7-day average for the trend (weekly and monthly
series: ±26 weeks or ±24 months, a 4-week or 12-month average), the anomaly's window
shaded, the usual level before it and its level during/after it, and the linked events
shaded. A legend inside the figure names every mark, so no caption has to describe
colours. Text stays text in SVG (`svg.fonttype: none`); titles are never parsed as
mathtext, so a `$` in an event title is just a dollar sign.
"""
from __future__ import annotations

import datetime as dt
import io
import re
from typing import Sequence

CONTEXT_DAYS = 60
# per period of the series (the anomaly's `period`): days of context each side, the
# width of the moving average, and the word for one value
_PERIOD = {
    "day": (CONTEXT_DAYS, 7, "daily"), "week": (182, 4, "weekly"), "fortnight": (364, 4, "fortnightly"), "month": (730, 12, "monthly"),
    "quarter": (1461, 4, "quarterly"), "year": (3653, 3, "yearly"),
}
FIGSIZE = (7.0, 3.0)  # inches: fits a laptop screen, an A4/Letter page and a mail pane
UP, DOWN, EVENT, DAILY, MEAN = "#1a7f37", "#c62828", "#7c5cbf", "#374151", "#9aa4b1"
_RC = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": ["sans-serif"],
    "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial", "Liberation Sans"],
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#6b7280",
    "xtick.color": "#374151",
    "ytick.color": "#374151",
    "legend.fontsize": 7,
}


def chart_window(anomaly, first: dt.date | None = None, last: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The days a chart shows: 60 before the anomaly's start to 60 after its end (more for
    weekly and monthly series)."""
    context = _PERIOD[anomaly.period][0]
    lo = anomaly.start - dt.timedelta(days=context)
    hi = (anomaly.end or anomaly.start) + dt.timedelta(days=context)
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


def _short(text: str, size: int = 40) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= size else text[: size - 1] + "…"


def _value_label(value: float, ratio: bool) -> str:
    """Axis numbers people read: '1.2M', '950k', '40', '12.5%' — never '1e6'."""
    if ratio:
        return f"{value * 100:.0f}%" if value >= 0.1 or value == 0 else f"{value * 100:.1f}%"
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def anomaly_figure(days: Sequence[dt.date], values: Sequence[float | None], anomaly, events=(),
                   tz: str = "UTC", title: str | None = None, ratio: bool = False):
    """The chart of one anomaly as a matplotlib `Figure` (constrained layout).

    Args:
        days, values: the daily series (values may hold None/NaN for unknown days).
        anomaly: the `Anomaly` to mark.
        events: `Annotation`s to shade (the anomaly's causes, best first).
        tz: the project timezone (for the events' calendar days).
        title: text drawn above the plot (plain text, never mathtext).
        ratio: the values are rates (axis in percent).
    """
    import matplotlib
    from matplotlib.dates import AutoDateLocator, DateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    one = dt.timedelta(days=1)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=FIGSIZE, dpi=100, layout="constrained")
        ax = fig.add_subplot()
        ys = [float("nan") if v is None else float(v) for v in values]
        color = UP if anomaly.direction == "up" else DOWN
        first_day = days[0] if days else anomaly.start
        last_day = days[-1] if days else anomaly.start
        end = anomaly.end or last_day
        ax.axvspan(anomaly.start, end + one, color=color, alpha=0.12, lw=0, zorder=0,
                   label="the anomaly" if anomaly.end is not None else "since the change")
        _events(ax, events, tz, first_day, last_day)
        _, width, word = _PERIOD[anomaly.period]
        ax.plot(days, _rolling_mean(ys, width), color=MEAN, lw=2.2, zorder=2, alpha=0.8,
                label=f"{width}-{anomaly.period} average")
        ax.plot(days, ys, color=DAILY, lw=0.8, marker="o", markersize=1.6, zorder=3, label=f"{word} value")
        ax.hlines(anomaly.before, max(first_day, anomaly.start - dt.timedelta(days=56)), anomaly.start,
                  colors=color, linestyles="--", lw=1.2, zorder=5, label="usual level before")
        ax.hlines(anomaly.after, anomaly.start, min(end + one, anomaly.start + dt.timedelta(days=56)),
                  colors=color, linestyles="-", lw=1.8, zorder=5,
                  label="level during" if anomaly.end is not None else "level since")
        ax.set_xlim(first_day, last_day + one)
        ymax = max([v for v in ys if v == v] + [anomaly.before, anomaly.after, 0.0])
        ax.set_ylim(0, ymax * 1.08 or 1.0)
        locator = AutoDateLocator(minticks=3, maxticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(DateFormatter("%b %-d, %Y"))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _value_label(v, ratio)))
        ax.grid(axis="y", color="#e5e7eb", lw=0.6)
        if title:
            # An axes title (not a figure title) sits `pad` points above the axes, clear of
            # the top y tick label, which reaches half a line above the axes' edge.
            ax.set_title(_short(title, 90), loc="left", pad=10, fontsize=9, fontweight="bold", color="#111827")
        fig.legend(loc="outside lower left", ncols=3, frameon=False, handlelength=1.6, columnspacing=1.2)
    return fig


def _events(ax, events, tz: str, first: dt.date, last: dt.date) -> None:
    one = dt.timedelta(days=1)
    for event in events:
        start = event.first_day(tz)
        stop = event.last_day(tz) or last
        if stop < first or start > last:
            continue
        ax.axvspan(max(start, first), min(stop, last) + one, color=EVENT, alpha=0.16, lw=0, zorder=1,
                   label=f"event: {_short(event.title)}")


def anomaly_chart_svg(days, values, anomaly, events=(), tz: str = "UTC", title: str | None = None,
                      salt: str = "", ratio: bool = False) -> str:
    """One anomaly's chart as an `<svg>` element (no XML prolog), ready to inline in HTML;
    `salt` makes the SVG's internal ids unique when many charts share a page."""
    import matplotlib

    fig = anomaly_figure(days, values, anomaly, events, tz, title, ratio)
    buffer = io.StringIO()
    with matplotlib.rc_context({**_RC, "svg.hashsalt": salt or anomaly.id}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return _inline(buffer.getvalue(), anomaly.id)


def anomaly_chart_png(days, values, anomaly, events=(), tz: str = "UTC", title: str | None = None,
                      ratio: bool = False) -> bytes:
    """The same chart as PNG bytes: what mail clients show (many drop inline SVG)."""
    import matplotlib

    fig = anomaly_figure(days, values, anomaly, events, tz, title, ratio)
    buffer = io.BytesIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()


_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)


def _inline(svg: str, anomaly_id: str) -> str:
    """Strip the XML prolog/doctype; make the root scale to its container."""
    svg = _PROLOG.sub("", svg, count=1)
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.S)  # RDF boilerplate
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1', svg, count=1)
    label = anomaly_id.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return svg.replace("<svg", f'<svg class="chart" role="img" aria-label="{label}"', 1)
