"""The check of a cube's latest days (scan.latest): a change that hides in a cell is found
and stored with its place, noise alone is not, and what the detector flagged is left to it."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.models.series import SeriesSet
from ctxmetrics.scan.latest import latest_changes

REGIONS = [f"r{i}" for i in range(6)]
CHANNELS = [f"c{j}" for j in range(5)]
START = dt.date(2026, 1, 1)
DAYS = 90


def cells(seed: int, changed: dict[tuple[int, int], float] | None = None, days: int = 3) -> np.ndarray:
    """(regions x channels x days) Poisson counts around 80 a day with a weekly cycle; the
    `changed` cells scaled by their factor over the last `days`."""
    rng = np.random.default_rng(seed)
    level = rng.lognormal(np.log(80), 0.5, (len(REGIONS), len(CHANNELS)))
    weekly = 1 + 0.2 * np.sin(2 * np.pi * np.arange(DAYS) / 7)
    mean = level[:, :, None] * weekly[None, None, :]
    for (r, c), factor in (changed or {}).items():
        mean[r, c, -days:] *= factor
    return rng.poisson(mean).astype(float)


def cube(values: np.ndarray) -> SeriesSet:
    """Every rollup of a region x channel cube, as `scan` builds it."""
    segments, rows = [{}], [values.sum(axis=(0, 1))]
    for r, region in enumerate(REGIONS):
        segments.append({"region": region})
        rows.append(values[r].sum(axis=0))
    for c, channel in enumerate(CHANNELS):
        segments.append({"channel": channel})
        rows.append(values[:, c].sum(axis=0))
    for r, region in enumerate(REGIONS):
        for c, channel in enumerate(CHANNELS):
            segments.append({"region": region, "channel": channel})
            rows.append(values[r, c])
    return SeriesSet("leads", "count", START, segments, np.array(rows))


def test_a_cell_that_moved_in_the_last_days_is_found_with_its_place():
    found = latest_changes(cube(cells(1, {(2, 3): 0.5})), [])
    assert [(a.segment, a.direction, a.found_by, a.end) for a in found] == [
        ({"region": "r2", "channel": "c3"}, "down", "cube", None)
    ]
    assert found[0].start == START + dt.timedelta(days=DAYS - 3)
    assert -60 < found[0].change_pct < -40


def test_cells_in_different_rows_and_columns_are_one_anomaly_on_the_smallest_rollup_holding_them():
    found = latest_changes(cube(cells(2, {(0, 1): 1.6, (4, 3): 1.6})), [])
    assert [(a.segment, a.direction) for a in found] == [({}, "up")]
    found = latest_changes(cube(cells(3, {(1, 0): 1.6, (1, 4): 1.6})), [])
    assert [(a.segment, a.direction) for a in found] == [({"region": "r1"}, "up")]


def test_noise_alone_gives_no_anomaly():
    assert sum(len(latest_changes(cube(cells(seed)), [])) for seed in range(100, 140)) <= 1


def growing_cells(seed: int) -> np.ndarray:
    """Clean cells that grow (up to doubling a year), with quiet weekends and overdispersed
    counts (gamma-Poisson, 16% a day): what 8-week weekday medians lag behind and what a
    single spread over all weekdays understates."""
    rng = np.random.default_rng(seed)
    level = rng.lognormal(np.log(300), 0.5, (len(REGIONS), len(CHANNELS)))
    growth = rng.uniform(0.0, 1.0, level.shape)[:, :, None]
    days = np.arange(DAYS)
    weekly = np.where(days % 7 >= 5, 0.4, 1.0)
    mean = level[:, :, None] * weekly * (1 + growth) ** (days / 365) * rng.gamma(40, 1 / 40, (*level.shape, DAYS))
    return rng.poisson(mean).astype(float)


def test_growth_and_overdispersion_alone_give_no_anomaly():
    # the check's noise is measured on the cube's past weeks (26 of these 40 cubes had an
    # anomaly when it was taken from the model alone)
    assert sum(len(latest_changes(cube(growing_cells(seed)), [])) for seed in range(200, 240)) <= 1


def test_what_the_detector_flagged_in_the_window_is_left_to_it():
    series = cube(cells(4, {(2, 3): 0.5}))
    flagged = Anomaly("leads", {"region": "r2"}, "level_shift", "down", START + dt.timedelta(days=DAYS - 3), None,
                      100.0, 60.0, -40.0, 5.0)
    assert latest_changes(series, [flagged]) == []
    earlier = Anomaly("leads", {"region": "r2"}, "spike", "down", START + dt.timedelta(days=30),
                      START + dt.timedelta(days=32), 100.0, 60.0, -40.0, 5.0)
    assert [a.segment for a in latest_changes(series, [earlier])] == [{"region": "r2", "channel": "c3"}]


def test_a_last_day_without_data_is_unknown_not_a_drop():
    values = cells(9, {(2, 3): 0.5})
    values[:, :, -1] = 0  # the export has no rows yet for the last day
    series = cube(values)
    series.gaps = np.arange(DAYS) == DAYS - 1
    found = latest_changes(series, [])
    assert [a.segment for a in found] == [{"region": "r2", "channel": "c3"}]
    week = values[2, 3, -10:-3].mean()
    assert abs(found[0].before - week) < 0.25 * week  # per known day, not spread over the unknown one


def test_only_whole_cubes_of_daily_counts_are_checked():
    series = cube(cells(5, {(2, 3): 0.5}))
    partial = SeriesSet("leads", "count", START, series.segments[1:], series.values[1:])  # no total row
    assert latest_changes(partial, []) == []
    gauge = SeriesSet("leads", "gauge", START, series.segments, series.values)
    assert latest_changes(gauge, []) == []


def ingest(run, project_dir, values: np.ndarray) -> None:
    rows = ["date,metric,value,region,channel"]
    for r, region in enumerate(REGIONS):
        for c, channel in enumerate(CHANNELS):
            rows += [f"{START + dt.timedelta(days=d)},leads,{int(values[r, c, d])},{region},{channel}" for d in range(DAYS)]
    (project_dir / "cube.csv").write_text("\n".join(rows) + "\n")
    assert run("ingest", project_dir / "cube.csv").exit_code == 0


def test_why_on_the_total_names_a_hidden_cell_and_a_rescan_keeps_one_anomaly(run, project_dir):
    ingest(run, project_dir, cells(6, {(2, 3): 0.65}))  # -35% for 3 days: below the bar of the cell's own series
    since = str(START + dt.timedelta(days=DAYS - 3))
    answers = []
    for _ in range(2):  # the second scan re-detects nothing and must not keep a stale copy
        assert run("scan").exit_code == 0
        answers.append(json.loads(run("why", "leads", "--since", since, "--json").stdout))
    assert answers[0] == answers[1]
    assert {"segment": {"region": "r2", "channel": "c3"}, "anomalies": 1} in answers[0]["elsewhere"]
    cell = json.loads(run("why", "leads", "--segment", "region=r2", "--segment", "channel=c3", "--since", since,
                          "--json").stdout)
    assert [a["found_by"] for a in cell["anomalies"]] == ["cube"]


def test_a_total_flagged_up_to_the_last_day_leaves_the_cube_to_its_drivers():
    series = cube(cells(7, {(2, 3): 0.5}))
    total = Anomaly("leads", {}, "level_shift", "down", START + dt.timedelta(days=DAYS - 3), None, 100.0, 95.0, -5.0, 4.0)
    assert latest_changes(series, [total]) == []


def test_hidden_cells_in_different_rows_and_columns_are_the_total_anomalys_drivers(run, project_dir):
    ingest(run, project_dir, cells(8, {(0, 1): 1.4, (4, 3): 1.4}))  # +40%: neither cell's own series is flagged
    assert run("scan").exit_code == 0
    answer = json.loads(run("why", "leads", "--since", str(START + dt.timedelta(days=DAYS - 3)), "--json").stdout)
    assert [a["found_by"] for a in answer["anomalies"]] == ["cube"]
    drivers = answer["anomalies"][0]["drivers"]
    assert sorted(d["segment"]["region"] + d["segment"]["channel"] for d in drivers) == ["r0c1", "r4c3"]
    text = run("why", "leads", "--since", str(START + dt.timedelta(days=DAYS - 3))).output
    assert "Where: r4 × c3" in text and "r0 × c1" in text
    assert "Found by checking the cube's latest days as a whole" in text


def outage(scope: dict[str, str], days: int = 3):
    from ctxmetrics.models.annotation import Annotation

    return Annotation(id="outage", title="Outage", type="outage", start=START + dt.timedelta(days=DAYS - days),
                      end=START + dt.timedelta(days=DAYS - 1), scope={k: (v,) for k, v in scope.items()})


def test_a_known_outage_over_the_last_days_is_not_found_again():
    series = cube(cells(1, {(2, 3): 0.5}))  # the cell of the first test, found there without the outage
    assert latest_changes(series, [], [outage({"region": "r2", "channel": "c3"})]) == []
    assert latest_changes(series, [], [outage({"region": "r2"})]) == []
    # an outage elsewhere does not hide it
    elsewhere = latest_changes(series, [], [outage({"region": "r4"})])
    assert [a.segment for a in elsewhere] == [{"region": "r2", "channel": "c3"}]
