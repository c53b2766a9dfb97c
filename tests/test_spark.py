"""The Spark engine stores what the local engine stores (Spark in local mode, local[2]).

One SparkSession for the module. Without PySpark or Java the module is skipped, except
in CI (CI=true), where .ci/run installs both and a skip would hide a broken engine.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil

import numpy as np
import polars as pl
import pytest
import yaml

from ctxmetrics.demo import build_demo
from ctxmetrics.project import Project, init_project
from ctxmetrics.store.results import load_anomalies
from ctxmetrics.scan.scan import scan_project
from ctxmetrics.synth import many_series


def _missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed (pip install '.[spark]')"
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        return "no Java runtime (apt-get install default-jre-headless)"
    return None


@pytest.fixture(scope="module")
def spark():
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Spark tests: {reason}")
        pytest.skip(reason)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("ctxmetrics tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    yield session
    session.stop()


def stored(project: Project) -> list[tuple]:
    """What both engines must agree on: ids, kinds, days, rounded figures, causes, drivers,
    how each was found (a tagged window's events, family size and bar too), cube drivers."""
    with project.store(read_only=True) as store:
        found = load_anomalies(store)
    return sorted(
        (
            a.id, a.kind, a.direction, a.start, a.end, round(a.score, 2),
            None if np.isnan(a.change_pct) else round(a.change_pct, 1),  # NaN: a level at or below 0 before
            tuple((c.annotation_id, round(c.score, 3)) for c in a.causes),
            tuple((tuple(d["segment"].items()), d["share"]) for d in a.drivers),
            a.found_by, repr(a.tagged),
            tuple((tuple(d["segment"].items()), d["share"]) for d in a.cube_drivers),
        )
        for a in found
    )


def scan_state(project: Project) -> list[tuple]:
    with project.store(read_only=True) as store:
        _, rows = store.query_rows("select metric, segment_key, fingerprint from scan_state")
    return sorted(map(tuple, rows))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo, scanned by the local engine (build_demo scans)."""
    return Project(build_demo(tmp_path_factory.mktemp("demo") / "acme").root)


def copy_of(project: Project, folder) -> Project:
    shutil.copytree(project.root, folder)
    return Project(folder)


def test_demo_from_parquet_same_anomalies_then_rescan_detects_nothing(spark, demo, tmp_path):
    """The demo's observations as Parquet (`observations: {parquet: ...}`, no store data),
    scanned through the CLI: the demo's anomalies, also written as Parquet; a second scan
    of the unchanged data re-detects nothing."""
    from click.testing import CliRunner

    from ctxmetrics.cli import cli

    demo.observations().write_parquet(tmp_path / "obs.parquet")
    root = init_project(tmp_path / "lake", (demo.root / "ctxmetrics.yaml").read_text())
    shutil.copytree(demo.annotations_dir, root / "annotations", dirs_exist_ok=True)
    config = yaml.safe_load((root / "ctxmetrics.yaml").read_text())
    config.update(engine="spark", observations={"parquet": str(tmp_path / "obs.parquet")})
    (root / "ctxmetrics.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "results"
    done = CliRunner().invoke(cli, ["--project", str(root), "scan", "--output-parquet", str(out)])
    assert done.exit_code == 0, done.output
    assert "Scanned 112 series of 7 metrics (112 changed since the last scan" in done.output
    lake = Project(root)
    expected = stored(demo)
    assert stored(lake) == expected
    written = pl.read_parquet(out / "anomalies" / "*.parquet")
    assert sorted(written["id"]) == sorted(a[0] for a in expected)
    causes = pl.read_parquet(out / "anomaly_causes" / "*.parquet")
    assert causes.height == sum(len(a[7]) for a in expected)
    again = scan_project(lake)
    assert (again.series, again.rescanned, again.candidates) == (112, 0, 0)
    assert stored(lake) == expected


SELLERS, PRODUCTS, DAYS = 39, 49, 365  # (39 + 1) x (49 + 1) = 2,000 series
FIRST_DAY = dt.date(2025, 1, 6)
GAP_DAYS = [dt.date(2025, 8, 12), dt.date(2025, 8, 13)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """2,000 series (sellers x products and their rollups) with injected effects, some of
    them annotated (scoped to their seller), one scoped outage and one global holiday."""
    matrix, truth = many_series(SELLERS * PRODUCTS, DAYS, 0.05, "white", seed=13)
    root = init_project(
        tmp_path_factory.mktemp("gen") / "shop",
        "dimensions: [seller, product]\nmetrics:\n  orders: {type: count}\n",
    )
    leaves, days = np.nonzero(np.ones_like(matrix, dtype=bool))
    frame = pl.DataFrame(
        {
            "metric": "orders",
            "ts": pl.Series([FIRST_DAY + dt.timedelta(days=int(d)) for d in range(DAYS)])[days],
            "value": matrix[leaves, days],
            "seller": pl.Series([f"s{r // PRODUCTS}" for r in range(len(matrix))])[leaves],
            "product": pl.Series([f"p{r % PRODUCTS}" for r in range(len(matrix))])[leaves],
        }
    )
    # two days missing from the export: data gaps, which both engines must leave out alike
    frame = frame.filter(~pl.col("ts").is_in(GAP_DAYS))
    project = Project(root)
    with project.store() as store:
        store.upsert_observations(frame)
    events = [
        {
            "id": f"promo-{t.row}", "title": f"Promo {t.row}", "type": "campaign",
            "start": (FIRST_DAY + dt.timedelta(days=t.start)).isoformat(),
            "scope": {"seller": [f"s{t.row // PRODUCTS}"]}, "metrics": ["orders"],
        }
        for t in truth[:8]
    ]
    events += [
        {"id": "checkout-outage", "title": "Checkout outage", "type": "outage", "start": "2025-05-06",
         "end": "2025-05-07", "scope": {"seller": ["s1", "s2"]}},
        {"id": "easter", "title": "Easter", "type": "holiday", "start": "2025-04-18", "end": "2025-04-21"},
    ]
    (root / "annotations" / "events.yaml").write_text(yaml.safe_dump(events, sort_keys=False))
    return project


def test_generated_store_same_anomalies_and_fingerprints(spark, generated, tmp_path):
    """2,000 series from the store: Spark stores what the local engine stores, and after a
    local scan a Spark scan re-detects nothing (both engines fingerprint alike)."""
    local = copy_of(generated, tmp_path / "local")
    on_spark = copy_of(generated, tmp_path / "spark")
    by_local = scan_project(local)
    reported: dict[str, tuple[int, int]] = {}
    by_spark = scan_project(on_spark, engine="spark", progress=lambda label, done, total: reported.update({label: (done, total)}))
    assert reported["all series"] == (2000, 2000)  # the stages and the series done, as the CLI shows them
    assert by_spark.series == by_local.series == 2000
    assert (by_spark.candidates, by_spark.anomalies, by_spark.explained) == (
        by_local.candidates, by_local.anomalies, by_local.explained,
    )
    assert by_spark.explained > 0  # the annotated effects are linked
    assert by_spark.gaps == by_local.gaps == {"orders": GAP_DAYS}
    assert by_spark.too_small == by_local.too_small
    assert stored(on_spark) == stored(local)
    after_local = scan_project(local, engine="spark")
    assert (after_local.series, after_local.rescanned) == (2000, 0)
    assert stored(local) == stored(on_spark)


def test_monthly_metrics_and_separate_rollups_scan_alike_on_both_engines(spark, tmp_path):
    """Spark leaves weekly/monthly metrics and separate rollups to the local engine: the
    same anomalies, at the same granularity, whichever engine the scan is asked for."""
    from ctxmetrics.ingest.ingest import ingest_paths

    rng = np.random.default_rng(21)
    root = init_project(tmp_path / "mixed", "dimensions: [region]\n")
    days = [FIRST_DAY + dt.timedelta(days=d) for d in range(200)]
    daily = pl.DataFrame({
        "date": days * 2, "metric": "orders", "region": ["EU"] * 200 + ["US"] * 200,
        "value": rng.poisson(np.r_[np.where(np.arange(200) >= 120, 160, 100), np.full(200, 100)]).astype(float),
    })
    daily.write_csv(root / "orders.csv")
    months = [dt.date(2015 + m // 12, m % 12 + 1, 1) for m in range(120)]
    pl.DataFrame({"date": months, "value": rng.poisson(np.where(np.arange(120) >= 72, 1200, 800)).astype(float)}).write_csv(
        root / "sales.csv"
    )
    pl.DataFrame({"date": days, "value": rng.poisson(np.where(np.arange(200) >= 120, 400, 250)).astype(float)}).write_csv(
        root / "orders_finance.csv"
    )
    project = Project(root)
    with project.store() as store:
        ingest_paths(store, [root / "orders.csv"], config=project.config)
        ingest_paths(store, [root / "sales.csv"], config=project.config)
        ingest_paths(store, [root / "orders_finance.csv"], config=project.config, metric="orders", as_rollup=True)
    local, on_spark = copy_of(project, tmp_path / "local"), copy_of(project, tmp_path / "spark")
    by_local, by_spark = scan_project(local), scan_project(on_spark, engine="spark")
    assert by_spark.granularities == by_local.granularities == {"sales": "monthly"}
    assert stored(on_spark) == stored(local)
    assert {a[0].split("|")[0] for a in stored(local)} == {"orders", "orders_total", "sales"}


def tagged_regions(tmp_path) -> Project:
    """Opportunities of regions A (a 3-day -65% dip the search misses, tagged as `other`)
    and B (a two-week +100% campaign the search finds, tagged), ~45 a day; decoy tags
    where nothing happened: a quiet week of B, a release on the total without an end (an
    instant: its day and a lasting step at it are tested), and an event naming another
    metric."""
    from test_find_changes import business_counts, episode

    from ctxmetrics.ingest.ingest import ingest_paths

    a = business_counts(2, 45, episode(302, 3, -0.65))
    b = business_counts(3, 45, episode(500, 14, 1.0))
    days = [(dt.date(2024, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(len(a))]
    root = init_project(tmp_path / "regions", "dimensions: [region]\n")
    frame = pl.DataFrame({"date": days * 2, "region": ["A"] * len(a) + ["B"] * len(b), "value": np.r_[a, b]})
    frame.write_csv(root / "opportunities.csv")
    events = [
        {"id": "offsite", "title": "Sales offsite", "type": "other", "start": "2024-10-29", "end": "2024-10-31",
         "scope": {"region": ["A"]}},
        {"id": "b-campaign", "title": "B campaign", "type": "campaign", "start": days[500], "end": days[513],
         "scope": {"region": ["B"]}},
        {"id": "b-quiet", "title": "B training week", "type": "other", "start": days[200], "end": days[206],
         "scope": {"region": ["B"]}},
        {"id": "new-crm", "title": "New CRM", "type": "release", "start": days[400]},
        {"id": "signup-form", "title": "Sign-up form", "type": "release", "start": days[350], "end": days[352],
         "metrics": ["signups"]},
    ]
    (root / "annotations" / "events.yaml").write_text(yaml.safe_dump(events, sort_keys=False))
    project = Project(root)
    with project.store() as store:
        ingest_paths(store, [root / "opportunities.csv"], config=project.config)
    return project


def test_tagged_windows_store_alike_on_both_engines(spark, tmp_path):
    """Spark tests the tagged windows as the local engine does: the same anomalies (the
    tagged window's too, decoys not; the campaign the search found is not stored twice),
    the same scan state; a new tag is tested without detecting any series again, and
    after a local scan a Spark scan finds nothing to do."""
    from ctxmetrics.detect.targeted import bar
    from ctxmetrics.scan.tagged import FAMILY_ALPHA, FOUND_BY
    from ctxmetrics.timeline.write import add_annotation

    project = tagged_regions(tmp_path)
    local, on_spark = copy_of(project, tmp_path / "local"), copy_of(project, tmp_path / "spark")
    by_local, by_spark = scan_project(local), scan_project(on_spark, engine="spark")
    assert (by_spark.series, by_spark.rescanned, by_spark.anomalies) == (by_local.series, by_local.rescanned,
                                                                         by_local.anomalies)
    assert stored(on_spark) == stored(local)
    assert scan_state(on_spark) == scan_state(local)
    found = {(a[0].split("|")[1], a[9]) for a in stored(local)}
    assert {key for key, how in found if how == FOUND_BY} == {"region=A"}  # the dip by its tag; no decoy
    assert ("region=B", "series") in found  # the campaign, by the search (its tagged window not stored again)
    assert sum(key.endswith("#tagged") for _, key, _ in scan_state(local)) == 3  # A, B, the total
    for copy in (local, on_spark):  # a second window on A: tested, nothing detected again
        add_annotation(copy.annotations_dir, title="A dip again", type="other", start=dt.date(2024, 10, 29),
                       end=dt.date(2024, 10, 30), scope={"region": ["A"]}, tz=copy.config.timezone)
    again_local, again_spark = scan_project(local), scan_project(on_spark, engine="spark")
    assert again_local.rescanned == again_spark.rescanned == 0
    assert stored(on_spark) == stored(local)
    assert scan_state(on_spark) == scan_state(local)
    # the family grew to 6 windows (the instant asked twice): the offsite's window was tested
    # again against its new bar
    six = round(bar(6, FAMILY_ALPHA, local.config.detection_for("opportunities").min_score), 2)
    assert [a[10] for a in stored(local) if a[9] == FOUND_BY] == [repr({"events": ["offsite"], "tests": 6, "bar": six})]
    before = scan_state(local)
    assert scan_project(local, engine="spark").rescanned == 0
    assert scan_state(local) == before and stored(local) == stored(on_spark)


def test_a_restated_echo_is_judged_afresh_alike_on_both_engines(spark, project_dir, tmp_path):
    """A lower stage's echo of an upper stage's change is not stored and its series is
    marked restated; when only an upper stage's data change later, both engines detect
    exactly those series again (Spark in a second, small pass) and store the same results."""
    from test_scan import ingest_frame

    from ctxmetrics.synth import Effect, generate_funnel

    project = Project(project_dir)
    cut = Effect("mql", {"channel": "paid"}, dt.date(2024, 8, 31), dt.date(2024, 9, 27), "spike", -0.6)
    frame = generate_funnel(1, start=dt.date(2024, 1, 1), days=365, effects=[cut]).frame
    ingest_frame(project, frame)
    local, on_spark = copy_of(project, tmp_path / "local"), copy_of(project, tmp_path / "spark")
    scan_project(local), scan_project(on_spark, engine="spark")
    assert stored(on_spark) == stored(local)
    assert scan_state(on_spark) == scan_state(local)
    restated = [(m, k) for m, k, fp in scan_state(local) if fp.endswith(":restated")]
    assert any(m == "won" for m, _ in restated)
    one_cell_day = (pl.col("metric") == "leads") & (pl.col("region") == "NA") & (pl.col("channel") == "organic")
    edited = frame.filter(one_cell_day & (pl.col("date") == dt.date(2024, 3, 5))).with_columns(pl.col("value") + 1)
    reported: dict[str, tuple[int, int]] = {}
    for copy in (local, on_spark):
        ingest_frame(copy, edited, "correction.csv")
    by_local = scan_project(local)
    by_spark = scan_project(on_spark, engine="spark", progress=lambda label, done, total: reported.update({label: (done, total)}))
    assert by_spark.rescanned == by_local.rescanned
    assert stored(on_spark) == stored(local)
    assert scan_state(on_spark) == scan_state(local)
    echoes = sum(m == "won" for m, _ in restated)  # their data did not change: detected again for leads'
    assert reported["restated series"][1] >= echoes > 0


def hidden_cells(tmp_path) -> Project:
    """A region x channel cube (test_scan_latest's cells) of two metrics: `leads`, where one
    cell falls by 70% over its last 20 days, too little for the total to be flagged; and
    `signups`, where two cells in different rows and columns rise by 40% over the last 3
    days, too little for their own series."""
    from test_scan_latest import CHANNELS, DAYS, REGIONS, START, cells

    root = init_project(tmp_path / "cube", "dimensions: [region, channel]\n")
    frames = []
    for metric, values in (("leads", cells(11, {(2, 3): 0.3}, days=20)), ("signups", cells(8, {(0, 1): 1.4, (4, 3): 1.4}))):
        r, c, d = np.nonzero(np.ones_like(values, dtype=bool))
        frames.append(pl.DataFrame({
            "metric": metric, "ts": [START + dt.timedelta(days=int(day)) for day in d], "value": values[r, c, d],
            "region": [REGIONS[i] for i in r], "channel": [CHANNELS[j] for j in c],
        }))
    assert DAYS >= 84  # the latest-days check reads 12 weeks
    project = Project(root)
    with project.store() as store:
        store.upsert_observations(pl.concat(frames))
    return project


def test_cube_drivers_and_the_latest_days_check_store_alike_on_both_engines(spark, tmp_path):
    """The checks of the whole cube, which read every leaf, give on Spark (from the leaves
    it sums over the days they read) what they give locally: the cube drivers of a cell's
    anomaly under an unflagged total, and the anomaly of cells that moved too little alone."""
    project = hidden_cells(tmp_path)
    local, on_spark = copy_of(project, tmp_path / "local"), copy_of(project, tmp_path / "spark")
    scan_project(local)
    reported: dict[str, tuple[int, int]] = {}
    scan_project(on_spark, engine="spark", progress=lambda label, done, total: reported.update({label: (done, total)}))
    with local.store(read_only=True) as store:
        found = load_anomalies(store)
    cell = {"region": "r2", "channel": "c3"}
    assert any(a.metric == "leads" and a.segment == cell and cell in [d["segment"] for d in a.cube_drivers] for a in found)
    assert [a.segment for a in found if a.found_by == "cube"] == [{}]  # signups: the cells in two rows and columns
    assert reported["latest days"] == (1, 1)
    assert stored(on_spark) == stored(local)
    again = scan_project(on_spark, engine="spark")  # nothing changed: the checks are redone alike
    assert again.rescanned == 0 and stored(on_spark) == stored(local)


def test_linking_rows_cover_children_leaves_and_scope_parents_only():
    """The rows Spark returns for linking: an anomaly's segment, its children, the leaves
    under it, and (for dimensions an annotation is scoped on) its parents and their narrowings."""
    from ctxmetrics.models.anomaly import Anomaly
    from ctxmetrics.scan.engines.linking_rows import leaf_under, needed, wanted_signatures

    anomaly = Anomaly("leads", {"region": "EMEA", "channel": "paid"}, "spike", "up", FIRST_DAY, FIRST_DAY, 1, 2, 100, 9)
    scoped = frozenset({"channel"})  # some annotation is scoped on channel
    wanted = wanted_signatures([anomaly], scoped)
    assert needed({"region": "EMEA", "channel": "paid"}, wanted, scoped)
    assert needed({"region": "EMEA", "channel": "paid", "plan": "pro"}, wanted, scoped)  # a child: drivers
    assert needed({"region": "EMEA"}, wanted, scoped)  # the parent without the scoped dimension
    assert needed({"region": "EMEA", "channel": "organic"}, wanted, scoped)  # its narrowing to another scope value
    assert not needed({"region": "NA", "channel": "paid"}, wanted, scoped)
    assert not needed({}, wanted, scoped)  # the total: linking never reads it for this anomaly
    assert not needed({"region": "EMEA", "plan": "pro", "country": "DE"}, wanted, scoped)  # a grandchild
    # drivers are localized over every leaf under the anomaly's segment (dimensions region, channel, plan)
    places = {anomaly.segment_key}
    assert leaf_under({"region": "EMEA", "channel": "paid", "plan": "pro"}, places, depth=3)
    assert not leaf_under({"region": "NA", "channel": "paid", "plan": "pro"}, places, depth=3)
    assert not leaf_under({"region": "EMEA", "channel": "paid"}, places, depth=3)  # not a leaf
    assert leaf_under({"region": "EMEA", "channel": "organic", "plan": "pro"}, {"region=EMEA"}, depth=3)


def test_config_rejects_a_bad_engine_or_spark_section(tmp_path):
    from ctxmetrics.config import load_config
    from ctxmetrics.errors import ConfigError

    path = tmp_path / "ctxmetrics.yaml"
    for text, message in (
        ("engine: dask\n", "engine 'dask' is not one of local, spark"),
        ("spark: local\n", "'spark' must be a mapping"),
        ("spark: {master: local, workers: 3}\n", "unknown key 'workers' in spark"),
        ("observations: {csv: x}\n", "'observations' must be a mapping like {parquet"),
    ):
        path.write_text(text)
        with pytest.raises(ConfigError, match=message.replace("{", r"\{")):
            load_config(path)
    path.write_text("engine: spark\nspark: {master: 'local[2]', conf: {spark.ui.enabled: false}}\n")
    config = load_config(path)
    assert (config.engine, config.spark.master, config.spark.conf) == ("spark", "local[2]", {"spark.ui.enabled": "false"})


def test_a_tag_that_dates_a_change_otherwise_stores_alike_on_both_engines(spark, project_dir, tmp_path):
    """The tagged window's dating replaces the detector's on both engines; the tag removed,
    both detect the restated series again and store the detector's dating once more."""
    from test_tagged import RISE_TAGGED, write_an_early_rise

    from ctxmetrics.ingest.ingest import ingest_paths
    from ctxmetrics.scan.tagged import FOUND_BY
    from ctxmetrics.timeline.write import add_annotation

    write_an_early_rise(project_dir)
    project = Project(project_dir)
    with project.store() as store:
        ingest_paths(store, [project_dir / "leads.csv"], dims=["region"], known_dimensions=project.config.dimensions)
    local, on_spark = copy_of(project, tmp_path / "local"), copy_of(project, tmp_path / "spark")
    events = [add_annotation(copy.annotations_dir, title="Spring push", type="campaign", start=RISE_TAGGED,
                             end=dt.date(2024, 11, 26), scope={"region": ["A"]}, tz=copy.config.timezone)
              for copy in (local, on_spark)]
    scan_project(local), scan_project(on_spark, engine="spark")
    assert stored(on_spark) == stored(local)
    assert scan_state(on_spark) == scan_state(local)
    assert [a[9] for a in stored(local) if "|region=A|" in a[0]] == [FOUND_BY]
    for event in events:
        event.path.unlink()
    scan_project(local), scan_project(on_spark, engine="spark")
    assert stored(on_spark) == stored(local)
    assert scan_state(on_spark) == scan_state(local)
    assert [a[9] for a in stored(local) if "|region=A|" in a[0]] == ["series"]


def test_a_gauges_missing_days_are_the_same_data_gaps_on_both_engines(spark, tmp_path):
    days = [FIRST_DAY + dt.timedelta(days=i) for i in range(90) if i not in (30, 31, 60)]
    frame = pl.DataFrame({"metric": "temp", "ts": days, "value": [20.0 + i % 5 for i in range(len(days))]})
    local = Project(init_project(tmp_path / "local", "metrics:\n  temp: {type: gauge}\n"))
    with local.store() as store:
        store.upsert_observations(frame)
    on_spark = copy_of(local, tmp_path / "spark")
    gaps = [FIRST_DAY + dt.timedelta(days=i) for i in (30, 31, 60)]
    assert scan_project(local).gaps == scan_project(on_spark, engine="spark").gaps == {"temp": gaps}


def test_an_amount_is_summed_judged_and_gapped_alike_on_both_engines(spark, tmp_path):
    """Revenue (`type: amount`: cents, a refund day below 0, a day without rows) rolls up as
    a sum on Spark as locally: the same anomalies, drivers, cube drivers and data gaps."""
    rng = np.random.default_rng(9)
    rows = []
    for i in range(140):
        if i == 50:  # no rows at all: unknown, not 0
            continue
        for region, level in (("A", 2200.0), ("B", 12400.0)):
            value = level * (1 + 0.04 * rng.standard_normal()) * (1.6 if region == "A" and 100 <= i < 107 else 1.0)
            rows.append((FIRST_DAY + dt.timedelta(days=i), region, -1893.07 if (region, i) == ("B", 30) else round(value, 2)))
    frame = pl.DataFrame(rows, schema=["ts", "region", "value"], orient="row").with_columns(metric=pl.lit("revenue"))
    local = Project(init_project(tmp_path / "local", "dimensions: [region]\nmetrics:\n  revenue: {type: amount}\n"))
    with local.store() as store:
        store.upsert_observations(frame)
    on_spark = copy_of(local, tmp_path / "spark")
    gap = [FIRST_DAY + dt.timedelta(days=50)]
    assert scan_project(local).gaps == scan_project(on_spark, engine="spark").gaps == {"revenue": gap}
    with local.store(read_only=True) as store:
        found = load_anomalies(store)
    week = [a for a in found if a.segment == {"region": "A"} and a.direction == "up"]
    assert week and week[0].start <= FIRST_DAY + dt.timedelta(days=101)
    # the total moved ~9%, too little alone: the cube (leaves summing to the total) places it
    assert {"region": "A"} in [d["segment"] for d in week[0].cube_drivers]
    assert stored(on_spark) == stored(local)
