"""Own files end to end: `init --from`, `ingest`, `scan` on raw half-hourly, `ds,y`,
weekly and monthly files with planted changes; each series is judged at its own
granularity (one point per day, week or month) and reported in its own unit."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ctxmetrics.models import periods
from ctxmetrics.cli import cli

REALDATA = Path("/work/shared/realdata/formats")


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def onboard(tmp_path: Path, data: Path) -> Path:
    """The new user's three commands: init --from, ingest, scan."""
    root = tmp_path / "p"
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    invoke("--project", root, "scan")
    return root


def anomalies(root: Path, metric: str, *segment: str) -> list[dict]:
    """`why --json` over all time for the total, or the segment given as `--segment k=v` args."""
    out = invoke("--project", root, "why", metric, *segment, "--since", "1900-01-01", "--until", "2100-01-01", "--json")
    return json.loads(out)["anomalies"]


def write(path: Path, header: str, rows) -> Path:
    path.write_text(header + "\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return path


def test_half_hourly_file_is_summed_per_day_and_its_shift_found(tmp_path):
    rng = np.random.default_rng(11)
    start, shift_day = dt.datetime(2025, 1, 1), 100
    slots = np.arange(150 * 48)
    counts = rng.poisson(10 * np.where(slots // 48 >= shift_day, 1.6, 1.0))
    data = write(tmp_path / "demand.csv", "timestamp,value",
                 [((start + dt.timedelta(minutes=30 * int(i))).isoformat(), c) for i, c in zip(slots, counts)])
    root = onboard(tmp_path, data)
    found = anomalies(root, "demand")
    shifts = [a for a in found if a["kind"] == "level_shift" and a["direction"] == "up"]
    assert len(shifts) == 1 and shifts[0]["period"] == "day"
    assert abs((dt.date.fromisoformat(shifts[0]["start"]) - (start.date() + dt.timedelta(days=shift_day))).days) <= 2


def test_monthly_file_judged_per_month_and_worded_per_month(tmp_path):
    rng = np.random.default_rng(13)
    months = np.arange(120)  # ten years from January 2015; +50% from January 2021
    values = rng.poisson(800 * np.where(months >= 72, 1.5, 1.0))
    data = write(tmp_path / "sales.csv", "date,value",
                 [(periods.first_day(dt.date(2015, 1, 1), int(m), "monthly"), v) for m, v in zip(months, values)])
    root = onboard(tmp_path, data)
    assert "sales is monthly data: judged one value per month." in invoke("--project", root, "scan")
    found = anomalies(root, "sales")
    shifts = [a for a in found if a["kind"] == "level_shift" and a["direction"] == "up"]
    assert len(shifts) == 1, found
    shift = shifts[0]
    assert shift["period"] == "month" and shift["start"] in ("2020-12-01", "2021-01-01", "2021-02-01")
    assert 1.3 < shift["after"] / shift["before"] < 1.7  # levels per month, not per day
    text = invoke("--project", root, "why", "sales", "--on", shift["start"])
    assert "/month before" in text and "/day" not in text
    assert " a month)" in invoke("--project", root, "digest", "--since", "2015-01-01")
    invoke("--project", root, "digest", "--since", "2015-01-01", "--format", "html", "-o", tmp_path / "d.html")
    html = (tmp_path / "d.html").read_text()
    assert "monthly value" in html and "12-month average" in html and "daily value" not in html


def test_monthly_change_links_to_an_event_late_in_the_month_before(tmp_path):
    """A monthly change is known only to its month: a price cut on Dec 20 explains a
    region's level shift from January, and the reason says so in months."""
    rng = np.random.default_rng(15)
    rows = [
        (periods.first_day(dt.date(2015, 1, 1), m, "monthly"), region, rng.poisson(400 * (1.5 if m >= 72 and region == "EU" else 1)))
        for m in range(120) for region in ("EU", "US")
    ]
    data = tmp_path / "sales.csv"
    data.write_text("date,metric,value,region\n" + "".join(f"{d},sales,{v},{r}\n" for d, r, v in rows))
    root = tmp_path / "p"
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    invoke("--project", root, "annotate", "add", "EU price cut", "--type", "pricing", "--start", "2020-12-20",
           "--scope", "region=EU", "--metric", "sales")
    invoke("--project", root, "scan")
    eu = anomalies(root, "sales", "--segment", "region=EU")
    assert [(a["kind"], a["start"]) for a in eu] == [("level_shift", "2021-01-01")]
    assert [c["annotation_id"] for c in eu[0]["causes"]] == ["eu-price-cut"]
    assert eu[0]["causes"][0]["reason"].startswith("starts within a month of the change;")


@pytest.mark.parametrize("granularity, first, points, dip", [
    ("daily", dt.date(2024, 3, 1), 200, (120, 127)), ("weekly", dt.date(2022, 1, 3), 104, (60, 64)),
])
def test_ds_y_file_dip_found_in_whole_periods(tmp_path, granularity, first, points, dip):
    rng = np.random.default_rng(14)
    index = np.arange(points)
    values = rng.poisson(300 * np.where((index >= dip[0]) & (index < dip[1]), 0.5, 1.0))
    data = write(tmp_path / "tickets.csv", "ds,y", [(periods.first_day(first, int(i), granularity), v) for i, v in zip(index, values)])
    found = [a for a in anomalies(onboard(tmp_path, data), "tickets") if a["direction"] == "down"]
    assert len(found) == 1 and found[0]["kind"] == "spike" and found[0]["period"] == periods.unit(granularity)
    start, end = (dt.date.fromisoformat(found[0][k]) for k in ("start", "end"))
    lo, hi = periods.index(start, first, granularity), periods.index(end, first, granularity)
    # whole periods, within one period of the planted dip
    assert (start, end) == (periods.first_day(first, lo, granularity), periods.last_day(first, hi, granularity))
    assert abs(lo - dip[0]) <= 1 and abs(hi - (dip[1] - 1)) <= 1


@pytest.mark.parametrize("name, kind", [
    ("example_air_passengers", "count"), ("example_retail_sales", "count"),
    ("example_air_passengers", "gauge"), ("example_retail_sales", "gauge"),
])
def test_real_monthly_files_are_scanned_as_find_changes_sees_them(tmp_path, name, kind):
    """The scan hands detection the file's monthly values with their dates, so it finds
    exactly what find_changes finds on the file (as the inferred count, or declared gauge)."""
    import polars as pl

    from ctxmetrics.detect import find_changes
    from ctxmetrics.project import Project
    from ctxmetrics.scan.scan import scan_project
    from ctxmetrics.store.series import build_series_set

    path = REALDATA / f"{name}.csv"
    if not path.exists():
        pytest.skip("shared real data not present")
    root = tmp_path / "p"
    invoke("init", root, "--from", path)
    config_file = root / "ctxmetrics.yaml"
    config_file.write_text(config_file.read_text().replace("{type: count,", f"{{type: {kind},"))
    invoke("--project", root, "ingest", path)
    result = scan_project(Project(root))
    assert result.granularities == {name: "monthly"}

    frame = pl.read_csv(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
    dates = np.array(frame["ds"].str.to_date().to_list(), dtype="datetime64[D]")
    values = frame["y"].to_numpy().astype(float)
    project = Project(root)
    with project.store(read_only=True) as store:
        series = build_series_set(store, project.config, name)
    assert series.days == len(values) and np.array_equal(series.values[0], values)
    expected = find_changes(values, kind=kind, dates=dates)
    if (name, kind) == ("example_retail_sales", "gauge"):  # the 2008 crash: a change to compare
        assert expected, "the comparison needs changes to compare"
    stored = sorted((a.start, a.kind, a.direction) for a in _stored(project))
    assert stored == sorted((c.start_date, c.kind, c.direction) for c in expected)


def _stored(project):
    from ctxmetrics.store.results import load_anomalies

    with project.store(read_only=True) as store:
        return load_anomalies(store)


@pytest.mark.parametrize("granularity", ["daily", "weekly", "monthly"])
def test_periods_round_trip(granularity):
    start = dt.date(2023, 1, 1) if granularity == "monthly" else dt.date(2023, 1, 4)
    firsts = periods.dates(start, 30, granularity).astype(object)
    for i, first in enumerate(firsts):
        last = periods.last_day(start, i, granularity)
        assert periods.first_day(start, i, granularity) == first
        assert periods.index(first, start, granularity) == periods.index(last, start, granularity) == i
        assert periods.index(last + dt.timedelta(days=1), start, granularity) == i + 1
    columns = periods.day_columns(start, 30, granularity)
    assert len(columns) == (periods.last_day(start, 29, granularity) - start).days + 1


def test_a_month_is_known_only_when_days_off_cover_half_of_it():
    from ctxmetrics.scan.scan import segment_masks
    from ctxmetrics.models.annotation import Annotation

    def event(kind, first, last):
        return Annotation(id=f"{kind}-{first}", title=kind, type=kind, start=first, end=last)

    events = [event("holiday", dt.date(2024, 2, 12), dt.date(2024, 2, 12)), event("offsite", dt.date(2024, 4, 3), dt.date(2024, 4, 20))]
    mask = segment_masks([{}], dt.date(2024, 1, 1), 6, events, "UTC", "monthly")[0]
    assert mask.tolist() == [False, False, False, True, False, False]
