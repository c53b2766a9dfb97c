"""Scan: the cube of series, incremental re-scans, stored results, the CLI command."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from ctxmetrics.ingest.ingest import ingest_paths
from ctxmetrics.project import Project
from ctxmetrics.store.results import load_anomalies
from ctxmetrics.scan.scan import known_masks, scan_project
from ctxmetrics.store.series import build_series_set
from ctxmetrics.synth import Effect, generate_funnel
from ctxmetrics.timeline.read import load_timeline
from ctxmetrics.timeline.write import add_annotation

OUTAGE = Effect(
    metric="leads", segment={}, start=dt.date(2025, 9, 3), end=dt.date(2025, 9, 4), kind="spike", magnitude=-0.9, label="outage"
)


def ingest_frame(project: Project, frame, name="data.csv"):
    path = project.root / name
    frame.write_csv(path)
    with project.store() as store:
        ingest_paths(store, [path], known_dimensions=project.config.dimensions)


@pytest.fixture
def project(project_dir):
    p = Project(project_dir)
    ingest_frame(p, generate_funnel(7, days=365, effects=[OUTAGE]).frame)
    return p


def anomalies_of(project):
    with project.store(read_only=True) as store:
        return load_anomalies(store)


def test_cube_has_total_each_value_and_each_combination(project):
    with project.store(read_only=True) as store:
        leads = build_series_set(store, project.config, "leads")
    assert leads.values.shape == (16, 365)  # 1 total + 3 regions + 3 channels + 9 leaves
    total = leads.values[leads.row({})]
    leaves = [leads.values[leads.row({"region": r, "channel": c})] for r in ("NA", "EMEA", "APAC") for c in ("paid", "organic", "partner")]
    np.testing.assert_allclose(total, np.sum(leaves, axis=0))


def test_scan_finds_outage_in_total_and_rescan_is_incremental(project):
    first = scan_project(project)
    assert first.rescanned == first.series > 0
    stored = [a.to_json() for a in anomalies_of(project)]
    found = [a for a in anomalies_of(project) if a.metric == "leads" and a.segment == {}]
    assert any(a.direction == "down" and abs((a.start - OUTAGE.start).days) <= 1 for a in found)
    again = scan_project(project)
    assert again.rescanned == 0 and again.candidates == 0
    assert [a.to_json() for a in anomalies_of(project)] == stored


def test_new_data_in_one_leaf_rescans_only_its_series(project):
    scan_project(project)
    changed = generate_funnel(7, days=365, effects=[OUTAGE]).frame
    import polars as pl

    bumped = changed.filter(
        (pl.col("region") == "EMEA") & (pl.col("channel") == "paid") & (pl.col("metric") == "won")
    ).with_columns(pl.col("value") + 1)
    ingest_frame(project, bumped, "fix.csv")
    result = scan_project(project, ["won"])
    # the leaf itself, region=EMEA, channel=paid and the total
    assert result.rescanned == 4


def test_unknown_metric_is_a_clear_error(project):
    from ctxmetrics.errors import UnknownName

    with pytest.raises(UnknownName, match=r"^Unknown metric 'lead' \(did you mean 'leads'\?\); the store has: "):
        scan_project(project, ["lead"])


def test_cli_scan_of_an_unknown_metric_names_the_close_one(run, project):
    # listed the known names only, unlike why, annotate and mute
    result = run("scan", "--metric", "sqll")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith("Error: Unknown metric 'sqll' (did you mean 'sql'?); the store has: ")


def declare_ratio_without_data(project):
    config = project.root / "ctxmetrics.yaml"
    text = config.read_text()
    config.write_text(text.replace("metrics:\n", "metrics:\n  r: {type: ratio, numerator: nosuch, denominator: leads}\n", 1))
    return Project(project.root)


def test_a_ratio_whose_part_has_no_data_is_reported_not_scanned(run, project):
    # Was skipped without a word by `scan`, and "Unknown metric 'r'" when asked by name.
    declare_ratio_without_data(project)
    result = run("scan", "--metric", "leads", "--metric", "r")
    assert (result.exit_code, result.stderr) == (1, "Error: Metric 'r' cannot be scanned: no data for nosuch.\n")
    result = run("scan")
    assert result.exit_code == 0, result.output
    assert "Not scanned: r, no data for nosuch.\n" in result.stdout
    assert run("scan", "--metric", "leads").stdout.count("Not scanned") == 0  # asked only for what can be


def test_an_output_parquet_folder_that_cannot_be_made_is_refused_before_spark_starts(run, project_dir):
    # Was found only after the whole Spark scan, under ~300 lines of Java traces.
    blocker = project_dir / "results.txt"
    blocker.write_text("a file, not a folder")
    result = run("scan", "--engine", "spark", "--output-parquet", blocker / "out")
    assert (result.exit_code, result.stderr) == (
        1, f"Error: --output-parquet {blocker / 'out'}: the folder cannot be created (Not a directory).\n"
    )


def test_outage_annotation_masks_days_of_matching_segments_only(project):
    add_annotation(
        project.annotations_dir, title="EMEA signup outage", type="outage",
        start=dt.date(2025, 9, 3), end=dt.date(2025, 9, 4), scope={"region": ("EMEA",)},
    )
    events = load_timeline(project.annotations_dir, project.config.timezone)
    with project.store(read_only=True) as store:
        leads = build_series_set(store, project.config, "leads")
    masks = known_masks(leads, events, project.config.timezone)
    day = leads.day_index(dt.date(2025, 9, 3))
    assert masks[leads.row({"region": "EMEA"}), day]
    assert masks[leads.row({}), day]  # the total contains EMEA
    assert not masks[leads.row({"region": "NA"}), day]
    assert masks.sum() == 2 * sum(1 for s in leads.segments if s.get("region") in (None, "EMEA"))


def test_cli_scan_prints_summary(run, project):
    result = run("scan", "--metric", "leads")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Scanned 16 series of 1 metric (16 changed since the last scan")


def test_store_without_dimensions_has_one_series_per_metric(tmp_path):
    from ctxmetrics.project import init_project

    root = init_project(tmp_path / "flat", "store: s.duckdb\nmetrics:\n  visits: {type: count}\n")
    (root / "d.csv").write_text("date,metric,value\n" + "".join(f"2026-01-{d:02d},visits,{10 + d % 3}\n" for d in range(1, 29)))
    project = Project(root)
    with project.store() as store:
        ingest_paths(store, [root / "d.csv"])
        visits = build_series_set(store, project.config, "visits")
    assert visits.segments == [{}] and visits.values.shape == (1, 28)
    assert scan_project(project).series == 1


def test_cube_sums_repeated_rows_and_keeps_gauge_gaps(tmp_path):
    """Leaves are streamed and summed per cell: repeated rows of a day add up, a missing
    day of a count is 0, of a gauge unknown; NULL dimension values are their own leaf."""
    from ctxmetrics.project import init_project

    root = init_project(
        tmp_path / "g", "store: s.duckdb\ndimensions: [region]\nmetrics:\n  n: {type: count}\n  t: {type: gauge}\n"
    )
    rows = [
        ("n", "2026-01-01", 1.0, "EU"), ("n", "2026-01-01", 2.0, "EU"), ("n", "2026-01-03", 4.0, None),
        ("t", "2026-01-01", 10.0, "EU"), ("t", "2026-01-01", 20.0, "US"), ("t", "2026-01-03", 5.0, "US"),
    ]
    project = Project(root)
    with project.store() as store:
        store.add_dimensions(["region"])
        for metric, day, value, region in rows:
            store.con.execute("insert into obs values (?, ?::date, ?, ?)", [metric, day, value, region])
        counts = build_series_set(store, project.config, "n")
        gauge = build_series_set(store, project.config, "t")
    np.testing.assert_array_equal(counts.values[counts.row({"region": "EU"})], [3.0, 0.0, 0.0])
    np.testing.assert_array_equal(counts.values[counts.row({"region": "(none)"})], [0.0, 0.0, 4.0])
    np.testing.assert_array_equal(counts.values[counts.row({})], [3.0, 0.0, 4.0])
    np.testing.assert_array_equal(gauge.values[gauge.row({"region": "EU"})], [10.0, np.nan, np.nan])
    np.testing.assert_array_equal(gauge.values[gauge.row({})], [15.0, np.nan, 5.0])  # mean of the present leaves


def test_cube_spans_from_the_first_leafs_first_day_to_the_last_leafs_last(tmp_path):
    from ctxmetrics.project import init_project

    root = init_project(tmp_path / "r", "store: s.duckdb\ndimensions: [region]\nmetrics:\n  n: {type: count}\n")
    project = Project(root)
    with project.store() as store:
        store.add_dimensions(["region"])
        for day, value, region in [("2026-01-02", 1.0, "US"), ("2026-01-03", 2.0, "US"), ("2026-01-06", 4.0, "EU")]:
            store.con.execute("insert into obs values ('n', ?::date, ?, ?)", [day, value, region])
        counts = build_series_set(store, project.config, "n")
    assert counts.start == dt.date(2026, 1, 2) and counts.segments == [{}, {"region": "EU"}, {"region": "US"}]
    np.testing.assert_array_equal(counts.values, [[1, 2, 0, 0, 4], [0, 0, 0, 0, 4], [1, 2, 0, 0, 0]])


@pytest.mark.parametrize("size", [0, 3, 1 << 20])
def test_populated_zeros_are_writable_zeros(size):
    from ctxmetrics.store.series import _populated_zeros

    zeros = _populated_zeros(size)
    assert zeros.dtype == np.float64 and zeros.shape == (size,) and not zeros.any()
    zeros[size // 2 :] += 1.5
    assert zeros.sum() == 1.5 * (size - size // 2)


def test_fingerprints_match_hashing_each_row_alone(project):
    import hashlib
    from dataclasses import asdict

    from ctxmetrics.detect import DETECTOR
    from ctxmetrics.scan.scan import fingerprint_rows

    settings = project.config.detection_for("win_rate")
    with project.store(read_only=True) as store:
        rates = build_series_set(store, project.config, "win_rate")
    masks = np.zeros(rates.values.shape, bool)
    masks[1, 3:9] = True
    fingerprints = fingerprint_rows(rates.kind, rates.start, settings, rates.values, rates.denominators, masks)
    for row in (0, 1, len(rates.keys) - 1):
        digest = hashlib.blake2b(digest_size=16)
        digest.update(f"{DETECTOR}|{rates.kind}|{rates.start}|{asdict(settings)}".encode())
        for block in (rates.values[row], rates.denominators[row], np.packbits(masks[row])):
            digest.update(np.ascontiguousarray(block).tobytes())
        assert fingerprints[row] == digest.hexdigest()
    assert len(set(fingerprints)) == len(fingerprints)


def test_days_missing_from_the_export_are_gaps_not_anomalies(project_dir):
    import polars as pl

    from ctxmetrics.store.results import load_gaps
    from ctxmetrics.report.why import format_answer, why

    project = Project(project_dir)
    frame = generate_funnel(7, days=365, effects=[]).frame
    missing = [dt.date(2025, 6, 10), dt.date(2025, 6, 11)]
    ingest_frame(project, frame.filter(~pl.col("date").cast(pl.Date).is_in(missing)))
    result = scan_project(project)
    assert result.gaps and all(days == missing for days in result.gaps.values())
    assert not [a for a in anomalies_of(project) if a.start in missing]
    with project.store(read_only=True) as store:
        assert ("leads", missing[0]) in load_gaps(store)
    text = format_answer(why(project, "leads", on=missing[0]))
    assert "Data quality: no data for leads on 2025-06-10 (unknown days, not zeros)." in text


def test_forked_workers_detect_what_one_process_does(tmp_path, monkeypatch):
    """Screening block by block while forked workers detect the first candidates stores
    the same anomalies as screening everything and detecting in this process; the
    latest-days windows of each metric are then computed once, in a thread beside them."""
    import threading

    import ctxmetrics.scan.latest as latest_module
    import ctxmetrics.scan.scan as scan_module
    from ctxmetrics.config import DEMO_CONFIG_TEXT
    from ctxmetrics.project import init_project

    frame = generate_funnel(7, days=365, effects=[OUTAGE]).frame
    alone, forked = (Project(init_project(tmp_path / name, DEMO_CONFIG_TEXT)) for name in ("alone", "forked"))
    for p in (alone, forked):
        ingest_frame(p, frame)
    scan_project(alone)
    monkeypatch.setattr(scan_module, "PARALLEL_MIN_ROWS", 1)  # two candidates start the workers
    monkeypatch.setattr(scan_module, "BATCH_ROWS", 2)
    monkeypatch.setattr(scan_module, "SCREEN_CHUNK_ROWS", 3)  # several screened blocks per metric
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    computed_in = []
    windows = latest_module.latest_windows

    def recorded(series_set, *args):
        computed_in.append((series_set.metric, threading.current_thread() is threading.main_thread()))
        return windows(series_set, *args)

    monkeypatch.setattr(latest_module, "latest_windows", recorded)
    result = scan_project(forked)
    assert result.candidates >= 4  # more than one batch went to the workers
    assert [a.to_json() for a in anomalies_of(forked)] == [a.to_json() for a in anomalies_of(alone)]
    assert computed_in and all(not on_main for _, on_main in computed_in)
    assert len({metric for metric, _ in computed_in}) == len(computed_in)  # not again after detection


def _forked_scan_settings(monkeypatch):
    """Settings under which the demo funnel's candidates go to two forked workers."""
    import ctxmetrics.scan.scan as scan_module

    monkeypatch.setattr(scan_module, "PARALLEL_MIN_ROWS", 1)  # two candidates start the workers
    monkeypatch.setattr(scan_module, "BATCH_ROWS", 2)
    monkeypatch.setattr(scan_module, "SCREEN_CHUNK_ROWS", 3)
    monkeypatch.setattr("os.cpu_count", lambda: 2)


def test_a_new_store_is_fingerprinted_beside_the_workers(tmp_path, monkeypatch):
    """On a store with no stored fingerprints every series is detected whatever they say:
    the fingerprints are then computed in the thread beside the workers, not before them,
    and the scan stores the same state, counts and anomalies as one process does; a
    rescan of unchanged data (fingerprints stored) computes them before detecting, and
    detects nothing."""
    import threading

    import ctxmetrics.scan.scan as scan_module
    from ctxmetrics.config import DEMO_CONFIG_TEXT
    from ctxmetrics.project import init_project
    from ctxmetrics.store.results import load_state

    frame = generate_funnel(7, days=365, effects=[OUTAGE]).frame
    alone, forked = (Project(init_project(tmp_path / name, DEMO_CONFIG_TEXT)) for name in ("alone", "forked"))
    for p in (alone, forked):
        ingest_frame(p, frame)
    one_process = scan_project(alone)
    _forked_scan_settings(monkeypatch)
    on_main = []
    fingerprint_rows = scan_module.fingerprint_rows

    def recorded(*args):
        on_main.append(threading.current_thread() is threading.main_thread())
        return fingerprint_rows(*args)

    monkeypatch.setattr(scan_module, "fingerprint_rows", recorded)
    result = scan_project(forked)
    assert result == one_process
    assert result.too_small > 0  # the count is compared, not only zeros
    assert [a.to_json() for a in anomalies_of(forked)] == [a.to_json() for a in anomalies_of(alone)]
    states = []
    for p in (alone, forked):
        with p.store(read_only=True) as store:
            states.append(load_state(store))
    assert states[0] == states[1] and len(states[0]) >= result.series
    assert False in on_main  # the metrics detected by workers were fingerprinted beside them
    on_main.clear()
    again = scan_project(forked)
    assert again.rescanned == 0 and again.too_small == result.too_small
    assert on_main and all(on_main)  # compared with the stored ones before anything is detected


def test_a_failing_worker_gives_one_line_and_leaves_the_store_untouched(project_dir, run, monkeypatch):
    """A worker that fails after the first batch is back (the thread beside the workers,
    which fingerprints a new store, has started) ends the scan with a one-line error,
    exit 1, and nothing stored."""
    import os

    import ctxmetrics.scan.scan as scan_module
    from ctxmetrics.store.results import load_state

    ingest_frame(Project(project_dir), generate_funnel(7, days=365, effects=[OUTAGE]).frame)
    _forked_scan_settings(monkeypatch)
    detect_rows, parent, calls = scan_module._detect_rows, os.getpid(), []

    def failing_after_the_first(*args):  # in a forked worker, each counting its own calls
        if os.getpid() != parent:
            calls.append(os.getpid())
            if len(calls) > 1:
                raise RuntimeError("a worker failed")
        return detect_rows(*args)

    monkeypatch.setattr(scan_module, "_detect_rows", failing_after_the_first)
    result = run("scan")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: internal error: RuntimeError: a worker failed (set CTXMETRICS_DEBUG=1 for the traceback)"
    ]
    project = Project(project_dir)
    assert anomalies_of(project) == []
    with project.store(read_only=True) as store:
        assert load_state(store) == {}


def test_segment_keys_sort_by_name_unless_an_order_is_given():
    """The cube's keys (no order: by name, whatever the dict's order) and a key in a given
    dimension order, the dimensions it does not name after it by name."""
    from ctxmetrics.models.segments import segment_key

    segment = {"region": "EMEA", "channel": "paid", "app": "ios"}
    assert segment_key(segment) == segment_key(dict(reversed(segment.items()))) == "app=ios,channel=paid,region=EMEA"
    assert segment_key(segment, ["region"]) == "region=EMEA,app=ios,channel=paid"
    assert segment_key(segment, iter(["region", "channel"])) == "region=EMEA,channel=paid,app=ios"
    assert segment_key({}) == segment_key({}, ["region"]) == ""


def test_a_scan_of_an_empty_store_says_what_to_run_and_fails(run, project_dir):
    # Was "Scanned 0 series of 0 metrics ..." and exit 0: a script read it as a clean scan.
    result = run("scan")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: Nothing to scan: the store {project_dir / 'ctxmetrics.duckdb'} holds no data yet; "
        "load some first with 'ctxmetrics ingest FILE'.\n"
    )


HOLD_SCAN_LOCK = """
import sys, time
from pathlib import Path
from ctxmetrics.store.scan_lock import scan_lock
with scan_lock(Path(sys.argv[1]), 0):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_scan_lock(project, seconds):
    """Another process holding the project's scan lock, as a running scan does."""
    import os
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCAN_LOCK, str(project.store_path), str(seconds)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert holder.stdout.readline() == "held\n"
    return holder


def test_a_second_scan_is_refused_naming_the_running_one_and_a_killed_one_blocks_nothing(run, project, monkeypatch):
    # Was: two scans at once both stored their results, the later over the earlier.
    monkeypatch.setenv("CTXMETRICS_LOCK_TIMEOUT", "0.3")
    holder = hold_scan_lock(project, 600)
    try:
        refused = run("scan")
        assert (refused.exit_code, refused.stdout) == (1, "")
        assert refused.stderr.startswith(
            f"Error: {project.store_path}: another scan of this project is running (process {holder.pid}, started "
        )
        assert refused.stderr.endswith("; waited 0.3s. Try again when it has finished.\n")
        assert anomalies_of(project) == []  # it stored nothing
    finally:
        holder.kill()  # as a scan killed mid-way: its lock file stays behind
        holder.wait()
    assert run("scan").exit_code == 0
    assert anomalies_of(project)


def test_a_second_scan_waits_for_the_first_to_finish(run, project, monkeypatch):
    monkeypatch.setenv("CTXMETRICS_LOCK_TIMEOUT", "60")
    holder = hold_scan_lock(project, 1)
    result = run("scan")
    assert holder.wait() == 0
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Scanned ")


def test_a_count_with_fractional_values_is_warned_about(run, project_dir):
    # A 0-1 share not listed in ctxmetrics.yaml was judged by a count's likelihood without a word.
    rows = "".join(f"{dt.date(2025, 1, 1) + dt.timedelta(days=i)},{0.3 + (i % 7) / 100},{100 + i % 7}\n" for i in range(120))
    (project_dir / "site.csv").write_text("date,share,visits\n" + rows)
    assert run("ingest", project_dir / "site.csv", "--format", "wide").exit_code == 0
    result = run("scan")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "Warning: share has values that are not whole numbers but is judged as counts (metrics not listed in "
        "ctxmetrics.yaml are); declare money such as revenue 'type: amount' and levels such as a temperature or "
        "a share 'type: gauge'.\n"
    )
    config = project_dir / "ctxmetrics.yaml"
    config.write_text(config.read_text().replace("metrics:\n", "metrics:\n  share: {type: gauge}\n", 1))
    assert run("scan").stderr == ""


def test_a_gauge_without_any_change_prints_no_numpy_warning(run, project_dir):
    # Printed "episodes.py:408: RuntimeWarning: invalid value encountered in divide" and its source line.
    import warnings

    rows = "".join(f"{dt.date(2025, 1, 1) + dt.timedelta(days=i)},{0.3 + (i % 7) / 100}\n" for i in range(120))
    (project_dir / "share.csv").write_text("date,value\n" + rows)
    config = project_dir / "ctxmetrics.yaml"
    config.write_text(config.read_text().replace("metrics:\n", "metrics:\n  share: {type: gauge}\n", 1))
    assert run("ingest", project_dir / "share.csv").exit_code == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = run("scan")
    assert (result.exit_code, result.stderr) == (0, ""), result.output


def test_a_scan_reads_the_stored_metric_names_once_and_never_imports_ruptures(project, monkeypatch):
    """`select distinct metric` is a whole scan of the observations: a scan reads it once
    (the scannable metrics, the ratios missing a part and the missing effects' metrics
    all come from it) and stores the missing effects it stored before. The detector runs
    its own port of ruptures' segmentation, so nothing imported before the workers fork
    loads ruptures."""
    import json
    import subprocess
    import sys

    from ctxmetrics.store.database import Store

    reads = []
    names = Store.metric_names

    def counted(self):
        reads.append(1)
        return names(self)

    add_annotation(project.annotations_dir, title="Webinar", type="campaign", start="2025-05-12", end="2025-05-16",
                   metrics=["leads"], expect="up")  # no such lift in the data: a missing effect
    monkeypatch.setattr(Store, "metric_names", counted)
    scan_project(project)
    assert len(reads) == 1
    with project.store(read_only=True) as store:
        stored = store.query_rows("select data from missing_effects order by position")[1]
    monkeypatch.setattr(Store, "metric_names", names)
    from ctxmetrics.scan.effects import expected_effects

    anomalies = anomalies_of(project)
    with project.store() as store:  # what storing computed before, reading the names itself
        fresh = expected_effects(project, store, load_timeline(project.annotations_dir, project.config.timezone), anomalies)
    assert stored and [json.loads(row[0]) for row in stored] == [json.loads(json.dumps(e, default=str)) for e in fresh]
    probe = "from ctxmetrics.scan.scan import _import_detector_libraries as f; f(); import sys; print('ruptures' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "False"
