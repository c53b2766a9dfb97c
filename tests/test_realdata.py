"""Real series with causes documented by others (../shared/realdata, see its README).

Each data set's `events` list is converted into annotations (policy -> other with expect
down, outage -> outage, anything else -> other), the daily series is ingested (wide; one
constant `site` dimension column, as a sensor or city id would be), scanned, and each
documented event must have an anomaly linked to it. Run with `pytest -s` to see every
flagged anomaly and whether it was explained.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
TYPES = {"policy": "other", "outage": "outage"}

pytestmark = pytest.mark.skipif(
    not REALDATA.is_dir(), reason=f"real data sets not found at {REALDATA} (they live beside the project in CI)"
)


def _project(tmp_path: Path, name: str, tz: str, frame, metric: str, events: list[dict]):
    import polars as pl

    from ctxmetrics.ingest.ingest import ingest_paths
    from ctxmetrics.project import Project, init_project
    from ctxmetrics.scan.scan import scan_project
    from ctxmetrics.timeline.write import add_annotation

    root = init_project(tmp_path / name, f"timezone: {tz}\ndimensions: [site]\nmetrics:\n  {metric}: {{type: count}}\n")
    frame.with_columns(pl.lit(name).alias("site")).write_csv(root / "data.csv")
    for event in events:
        kind = TYPES.get(event["type"], "other")
        add_annotation(
            root / "annotations", id=event["id"].replace("_", "-"), title=event["name"], type=kind,
            start=str(event["start"]), end=str(event["end"]), expect="down" if event["type"] == "policy" else None, tz=tz,
        )
    project = Project(root)
    with project.store() as store:
        ingest_paths(store, [root / "data.csv"], fmt="wide", dims=["site"])
    scan_project(project)
    from ctxmetrics.store.results import load_anomalies

    with project.store(read_only=True) as store:
        return [a for a in load_anomalies(store) if not a.segment]  # the total; site=<name> is the same series


def _report(title: str, anomalies) -> None:
    print(f"\n{title}: {len(anomalies)} anomalies, {sum(a.explained for a in anomalies)} explained")
    for a in anomalies:
        cause = f"{a.causes[0].annotation_id} ({a.causes[0].score:.2f}: {a.causes[0].reason})" if a.causes else "unexplained"
        end = "open" if a.end is None else a.end.isoformat()
        print(f"  {a.kind:11} {a.direction:4} {a.start} .. {end:10} {a.change_pct:+6.0f}%  -> {cause}")


def _linked(anomalies, event_id: str, first: dt.date, last: dt.date) -> list:
    """Anomalies covering a day of the event, or starting the day after its last day (the
    level its end brings back: Melbourne's lockdown 2 ended on 2020-10-27, and the counts
    rose from 6,773 that day to 14,647 on the 28th), whose top cause is the event."""
    return [
        a for a in anomalies
        if a.causes and a.causes[0].annotation_id == event_id and a.start <= last + dt.timedelta(days=1)
        and (a.end is None or a.end >= first)
    ]


@pytest.fixture(scope="module")
def bike(tmp_path_factory):
    import polars as pl
    import yaml

    folder = REALDATA / "bike_sharing_dc"
    frame = pl.read_csv(folder / "day.csv").select(pl.col("dteday").alias("date"), "cnt")
    events = yaml.safe_load((folder / "events.yaml").read_text())["events"]
    anomalies = _project(tmp_path_factory.mktemp("real"), "bike", "America/New_York", frame, "cnt", events)
    _report("bike_sharing_dc day.csv cnt", anomalies)
    return anomalies


@pytest.fixture(scope="module")
def pedestrians(tmp_path_factory):
    import polars as pl
    import yaml

    folder = REALDATA / "melbourne_pedestrians"
    frame = pl.read_csv(folder / "example_pedestrians_covid.csv").select(
        pl.col("ds").alias("date"), pl.col("y").alias("pedestrians")
    )
    events = yaml.safe_load((folder / "events.yaml").read_text())["events"]
    anomalies = _project(tmp_path_factory.mktemp("real"), "ped", "Australia/Melbourne", frame, "pedestrians", events)
    _report("melbourne_pedestrians", anomalies)
    return anomalies


def test_lockdowns_are_found_and_linked(pedestrians):
    lockdowns = {
        "lockdown-1": (dt.date(2020, 3, 21), dt.date(2020, 6, 6)),
        "lockdown-2": (dt.date(2020, 7, 9), dt.date(2020, 10, 27)),
        "lockdown-3": (dt.date(2021, 2, 13), dt.date(2021, 2, 17)),
        "lockdown-4": (dt.date(2021, 5, 28), dt.date(2021, 6, 10)),
    }
    for event_id, (first, last) in lockdowns.items():
        assert _linked(pedestrians, event_id, first, last), f"{event_id}: no anomaly linked to it"


def test_sandy_closure_is_found_and_linked(bike):
    assert _linked(bike, "cabi-closed-hurricane-sandy-2012", dt.date(2012, 10, 29), dt.date(2012, 10, 30))


# In daily totals these closures sit at robust z -1.9..-2.7 against the day-to-day
# weather noise (Irene, a Saturday: 1115 vs ~4500; snowstorm: 506/431 vs ~1700). Judged
# as episodes against their flanks, with a noise scale the weather extremes cannot
# inflate, they are found.
@pytest.mark.parametrize("event_id, first, last", [
    ("cabi-closed-hurricane-irene-2011", dt.date(2011, 8, 27), dt.date(2011, 8, 28)),
    ("cabi-closed-snowstorm-2011-01-26", dt.date(2011, 1, 26), dt.date(2011, 1, 27)),
])
def test_other_closures_are_found_and_linked(bike, event_id, first, last):
    assert _linked(bike, event_id, first, last)


def test_links_sit_at_their_event(bike, pedestrians):
    """Every link points to an event whose days (with a week's margin) hold the anomaly's start."""
    import yaml

    windows = {}
    for name in ("bike_sharing_dc", "melbourne_pedestrians"):
        for e in yaml.safe_load((REALDATA / name / "events.yaml").read_text())["events"]:
            first, last = (dt.date.fromisoformat(str(e[k])[:10]) for k in ("start", "end"))
            windows[e["id"].replace("_", "-")] = (first - dt.timedelta(days=7), last + dt.timedelta(days=7))
    for a in bike + pedestrians:
        for cause in a.causes:
            lo, hi = windows[cause.annotation_id]
            assert lo <= a.start <= hi, f"{a.id} linked to {cause.annotation_id}"
    earthquake = [a for a in bike if any(c.annotation_id == "dc-earthquake-2011-08-23" for c in a.causes)]
    print(f"\nearthquake (2011-08-23 14:00-16:00): {len(earthquake)} anomaly linked; a 2-hour rush is small in a daily total")
