"""Chart layout, checked on matplotlib's own text boxes: every label inside the figure,
none overlapping another, a legend naming every mark; readable numbers and dates."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from ctxmetrics.report import charts
from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.report.charts import anomaly_chart_svg, anomaly_figure
from ctxmetrics.models.annotation import Annotation

START = dt.date(2025, 9, 1)
OUTAGE_DAY = dt.date(2025, 11, 3)


def series(level: float, days: int = 150):
    dates = [START + dt.timedelta(days=i) for i in range(days)]
    values = [level * (1.2 if d.weekday() < 5 else 0.6) for d in dates]
    values[(OUTAGE_DAY - START).days] = level * 0.1  # a one-day outage
    return dates, values


def outage(level: float, **extra) -> Anomaly:
    return Anomaly("leads", {}, "spike", "down", OUTAGE_DAY, OUTAGE_DAY, level, level * 0.1, -90.0, 20.0, level, **extra)


def event(title: str, start: dt.date, end: dt.date) -> Annotation:
    return Annotation(id="e", title=title, type="outage", start=start, end=end)


def drawn(fig):
    """Lay the figure out as `savefig` does: an Agg canvas, under the charts' rc settings."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    with matplotlib.rc_context(charts._RC):
        canvas.draw()
    return canvas.get_renderer()


def texts(fig):
    renderer = drawn(fig)
    from matplotlib.text import Text

    found = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return [(t.get_text(), t.get_window_extent(renderer)) for t in found], fig.bbox


@pytest.mark.parametrize("level", [12.0, 4_500.0, 2_300_000.0])
def test_labels_inside_the_figure_and_never_overlapping(level):
    days, values = series(level)
    events = [event("Sign-up form outage — a long title that goes on and on", OUTAGE_DAY, OUTAGE_DAY),
              event("Release 4.2 (new sign-up flow)", OUTAGE_DAY - dt.timedelta(days=2), OUTAGE_DAY + dt.timedelta(days=3))]
    fig = anomaly_figure(days, values, outage(level), events, title="Leads · total")
    boxes, figure = texts(fig)
    legend = fig.legends[0]
    labels = [t.get_text() for t in legend.get_texts()]
    assert {"7-day average", "daily value", "usual level before", "level during", "the anomaly"} <= set(labels)
    assert any(label.startswith("event: Sign-up form outage") for label in labels)
    for text, box in boxes:
        assert box.x0 >= figure.x0 - 0.5 and box.x1 <= figure.x1 + 0.5, f"{text!r} sticks out sideways"
        assert box.y0 >= figure.y0 - 0.5 and box.y1 <= figure.y1 + 0.5, f"{text!r} sticks out vertically"
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            assert not box_a.overlaps(box_b), f"{a!r} overlaps {b!r}"


def test_axes_read_as_numbers_and_dates():
    days, values = series(2_300_000.0)
    fig = anomaly_figure(days, values, outage(2_300_000.0))
    drawn(fig)
    ax = fig.axes[0]
    y_labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    x_labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ax.yaxis.get_offset_text().get_text() == "" and not any("e" in y for y in y_labels)
    assert any(y.endswith("M") for y in y_labels)
    assert x_labels and all(re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}", x) for x in x_labels), x_labels


def test_a_one_day_outage_is_drawn_as_one_day():
    days, values = series(1000.0)
    fig = anomaly_figure(days, values, outage(1000.0))
    daily = next(line for line in fig.axes[0].get_lines() if line.get_label() == "daily value")
    ys = list(daily.get_ydata())
    low = [i for i, y in enumerate(ys) if y < 500]
    assert low == [(OUTAGE_DAY - START).days]  # one low point, not a week of low average


def test_dollar_signs_are_text_not_mathtext():
    days, values = series(1000.0)
    svg = anomaly_chart_svg(days, values, outage(1000.0), [event(r"Promo $\foo$ and $5 off", OUTAGE_DAY, OUTAGE_DAY)],
                            title=r"Leads $\foo$")
    assert r"Leads $\foo$" in svg and r"Promo $\foo$ and $5 off" in svg
