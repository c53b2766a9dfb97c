"""A wide file whose columns are segments of one metric (`date,NA,EMEA,APAC`, or
`leads_NA,leads_EMEA,...`): `init --from` writes a `melt:` block and says so, ingest reads
the columns as rows of a `region` dimension, and the scan's drivers name the region."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import yaml

from ctxmetrics.ingest.melt import segment_columns
from ctxmetrics.project import Project
from test_quarterly import invoke

FIRST = dt.date(2025, 1, 1)
DAYS = 300
BURST = range(200, 210)  # EMEA doubles on these days


def regions_by_day():
    rng = np.random.default_rng(11)
    for i in range(DAYS):
        emea = int(rng.poisson(100)) * (2 if i in BURST else 1)
        yield FIRST + dt.timedelta(days=i), int(rng.poisson(170)), emea, int(rng.poisson(50))


def one_metric_file(path):
    """`date,NA,EMEA,APAC`: a file of one metric (named after the file), a column per region."""
    path.write_text("date,NA,EMEA,APAC\n" + "".join(f"{d},{na},{emea},{apac}\n" for d, na, emea, apac in regions_by_day()))
    return path


def prefixed_file(path):
    """`leads_NA,...,mql_APAC` and a `leads_total` column of their sum."""
    lines = ["date,leads_NA,leads_EMEA,leads_APAC,mql_NA,mql_EMEA,mql_APAC,leads_total"]
    for d, na, emea, apac in regions_by_day():
        lines.append(f"{d},{na},{emea},{apac},{na // 3},{emea // 3},{apac // 3},{na + emea + apac}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_recognised_shapes_and_plain_metrics():
    melt, totals = segment_columns(["NA", "EMEA", "APAC"], "sales")
    assert (melt.dimension, melt.columns["EMEA"], totals) == ("region", ("sales", "EMEA"), [])
    melt, totals = segment_columns(["Leads paid", "Leads organic", "Leads total"], "x")
    assert (melt.dimension, melt.columns["Leads paid"], totals) == ("channel", ("Leads", "paid"), ["Leads total"])
    # plain metrics stay metrics: words that are no segment, or metrics over different segments
    assert segment_columns(["pipeline_value", "pipeline_count"], "x") is None
    assert segment_columns(["leads", "mql", "won"], "x") is None
    assert segment_columns(["MQL", "SQL"], "x") is None and segment_columns(["MRR", "ARR", "CAC"], "x") is None
    assert segment_columns(["leads_NA", "leads_EMEA", "mql_NA"], "x") is None


def test_one_column_per_region_is_one_metric_by_region(tmp_path):
    data, root = one_metric_file(tmp_path / "sales.csv"), tmp_path / "p"
    said = invoke("init", root, "--from", data).output
    assert (
        f"Columns {data}: NA, EMEA, APAC are regions of one metric (sales): read as its rows by region (APAC, EMEA, NA), "
        "so its total is their sum. To read each column as a metric of its own, delete 'melt:' and 'region' from "
        "dimensions in ctxmetrics.yaml." in said
    )
    config = yaml.safe_load((root / "ctxmetrics.yaml").read_text())
    assert config["dimensions"] == ["region"] and config["metrics"] == {"sales": {"type": "count"}}
    assert config["melt"] == {"dimension": "region", "columns": {"NA": ["sales", "NA"], "EMEA": ["sales", "EMEA"], "APAC": ["sales", "APAC"]}}
    invoke("--project", root, "ingest", data)
    rows = Project(root).query("select region, count(*) as n from observations where metric = 'sales' group by 1 order by 1")
    assert rows.rows() == [("APAC", DAYS), ("EMEA", DAYS), ("NA", DAYS)]
    invoke("--project", root, "scan")
    found = json.loads(invoke("--project", root, "why", "sales", "--on", str(FIRST + dt.timedelta(days=204)), "--json").output)
    total = [a for a in found["anomalies"] if a["segment"] == {}]
    assert total and total[0]["drivers"][0]["segment"] == {"region": "EMEA"}, total


def test_metric_and_region_in_the_header_and_a_total_column(tmp_path):
    data, root = prefixed_file(tmp_path / "funnel.csv"), tmp_path / "p"
    said = invoke("init", root, "--from", data).output
    assert "'leads_total' is the sum of the region columns beside it: left out (ignore_columns)" in said
    config = yaml.safe_load((root / "ctxmetrics.yaml").read_text())
    assert config["ignore_columns"] == ["leads_total"] and config["funnel"] == ["leads", "mql"]
    assert config["melt"]["columns"]["mql_EMEA"] == ["mql", "EMEA"]
    invoke("--project", root, "ingest", data)
    totals = Project(root).query("select metric, sum(value) as v from observations group by 1 order by 1").rows()
    leads = sum(na + emea + apac for _, na, emea, apac in regions_by_day())
    assert totals[0] == ("leads", leads)  # the total column was not counted on top


def test_undo_reads_each_column_as_a_metric_and_a_mixed_file_is_refused(tmp_path):
    data, root = one_metric_file(tmp_path / "sales.csv"), tmp_path / "p"
    invoke("init", root, "--from", data)
    config_path = root / "ctxmetrics.yaml"
    config = yaml.safe_load(config_path.read_text())
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("date,NA,EMEA,APAC,visits\n2025-01-01,1,2,3,4\n")
    result = invoke("--project", root, "ingest", mixed, code=1)
    assert result.output == (
        f"Error: {mixed}: column 'visits': not under melt.columns in ctxmetrics.yaml while 'NA', 'EMEA', 'APAC' are; "
        "add it there as [metric, segment], or to ignore_columns.\n"
    )
    del config["melt"]
    config["dimensions"] = []
    config_path.write_text(yaml.safe_dump(config))
    invoke("--project", root, "ingest", data)
    assert Project(root).query("select distinct metric from observations order by 1").rows() == [("APAC",), ("EMEA",), ("NA",)]


@pytest.mark.parametrize("melt, message", [
    ("[NA]", "'melt' must be a mapping like {dimension: region, columns: {leads_NA: [leads, NA]}}"),
    ("{dimension: region, columns: {NA: sales}}", "'melt.columns.NA' must be [metric, segment], got 'sales'."),
    ("{dimension: region, columns: {'NO': [sales, no]}}", "'melt.columns.NO' must be [metric, segment], got ['sales', False]."),
])
def test_a_bad_melt_block_is_one_line(tmp_path, melt, message):
    root = tmp_path / "p"
    invoke("init", root)
    (root / "ctxmetrics.yaml").write_text(f"format: wide\nmelt: {melt}\n")
    result = invoke("--project", root, "status", code=1)
    assert message in result.output and result.output.count("\n") == 1
