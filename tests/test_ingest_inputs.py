"""Ingest of files as users bring them: raw sub-daily series, time zones, column names,
and every kind of bad input refused with one exact line, exit 1 and the store unchanged."""
from __future__ import annotations

import codecs
import datetime as dt
import os
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from ctxmetrics.cli import cli
from ctxmetrics.project import Project, init_project
from ctxmetrics.store.database import Store

REALDATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata" / "formats"
GOOD = "date,metric,value,region,channel\n2026-03-01,leads,10,EMEA,paid\n2026-03-01,leads,5,EMEA,organic\n"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def snapshot(root):
    with Project(root).store(read_only=True) as store:
        return store.query_rows("select * from obs order by all"), store.query_rows("select * from meta order by all")


def stored(root, sql="select metric, ts, value from observations order by all"):
    with Project(root).store(read_only=True) as store:
        return store.query_rows(sql)[1]


@pytest.fixture
def project(tmp_path):
    root = init_project(tmp_path / "p", "timezone: America/New_York\nmetrics:\n  temp: {type: gauge}\n")
    (root / "good.csv").write_text(GOOD)
    assert invoke("--project", root, "ingest", root / "good.csv").exit_code == 0
    return root


def test_sub_daily_counts_summed_on_the_project_day(project):
    (project / "s.csv").write_text(
        "timestamp,value\n2025-06-01T21:00:00-04:00,3\n2025-06-01T23:30:00-04:00,4\n"
        "2025-06-02T01:00:00Z,5\n2025-06-02 08:00,6\n"
    )
    result = invoke("--project", project, "ingest", project / "s.csv", "--metric", "orders")
    assert result.exit_code == 0, result.output
    # 01:00Z on June 2 is 21:00 on June 1 in New York; naive times are New York time.
    assert stored(project, "select ts, value from observations where metric = 'orders' order by ts") == [
        (dt.date(2025, 6, 1), 12.0), (dt.date(2025, 6, 2), 6.0)
    ]


def test_sub_daily_gauge_averaged_and_aggregate_settable(tmp_path):
    root = init_project(tmp_path / "g", "metrics:\n  temp: {type: gauge}\n  load: {type: gauge, aggregate: sum}\n")
    (root / "w.csv").write_text("ts,temp,load\n2025-06-01 00:00,10,1\n2025-06-01 12:00,20,2\n2025-06-02 06:00,NaN,4\n")
    result = invoke("--project", root, "ingest", root / "w.csv", "--format", "wide")
    assert result.exit_code == 0, result.output
    assert stored(root) == [
        ("load", dt.date(2025, 6, 1), 3.0), ("load", dt.date(2025, 6, 2), 4.0), ("temp", dt.date(2025, 6, 1), 15.0)
    ]


def test_ds_y_file_and_column_mapping(tmp_path):
    root = init_project(tmp_path / "m")
    (root / "sales.csv").write_text("ds,y\n2025-01-01,5\n2025-01-02,7\n")
    (root / "other.csv").write_text("when,amount\n2025-01-01,1\n2025-01-02,2\n")
    assert invoke("--project", root, "ingest", root / "sales.csv").exit_code == 0
    mapped = invoke("--project", root, "ingest", root / "other.csv", "--date-col", "when", "--value-col", "amount", "--metric", "refunds")
    assert mapped.exit_code == 0, mapped.output
    assert stored(root, "select metric, sum(value) from observations group by 1 order by 1") == [("refunds", 3.0), ("sales", 12.0)]


@pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/realdata is not present")
@pytest.mark.parametrize("name, granularity", [
    ("example_air_passengers", "monthly"), ("example_retail_sales", "monthly"), ("example_yosemite_temps", "daily"),
])
def test_real_files_via_init_from(tmp_path, name, granularity):
    path = REALDATA / f"{name}.csv"
    root = tmp_path / name
    assert invoke("init", root, "--from", path).exit_code == 0
    result = invoke("--project", root, "ingest", path)
    assert result.exit_code == 0, result.output
    raw = pl.read_csv(path.read_bytes().replace(b"\r", b"\n"))
    days = raw.with_columns(pl.col("ds").str.to_datetime().dt.date().alias("day"), pl.col("y").fill_nan(None))
    agg = pl.col("y").mean() if granularity == "daily" else pl.col("y").sum()  # the 5-minute file is a gauge
    expected = days.group_by("day").agg(agg).drop_nulls().sort("day")
    if granularity == "daily":  # the 5-minute file ends on 2017-07-05 00:00: that day's one reading is left out
        readings = days.group_by("day").len()
        partial = readings.filter(pl.col("len") < readings["len"].max())["day"]
        expected = expected.filter(~pl.col("day").is_in([d for d in partial if d in (expected["day"][0], expected["day"][-1])]))
        assert "2017-07-05 has 1 of 288 5-minute readings: left out" in result.output
    got = stored(root, "select ts, value from observations order by ts")
    assert [d for d, _ in got] == expected["day"].to_list()
    assert [v for _, v in got] == pytest.approx(expected["y"].to_list())
    with Store(root / "ctxmetrics.duckdb", read_only=True) as store:
        assert store.granularity(name) == granularity


BAD = {
    "us date": ("date,metric,value\n06/01/2025,leads,1\n",
                "x.csv:2: column 'date': '06/01/2025' is ambiguous (day/month order); dates are read as ISO 8601 "
                "(YYYY-MM-DD), or pass the format, e.g. --date-format %m/%d/%Y or --date-format %d/%m/%Y."),
    "slashed iso": ("date,metric,value\n2025-06-01,leads,1\n2025/06/02,leads,1\n",
                    "x.csv:3: column 'date': '2025/06/02' is not an ISO 8601 date (YYYY-MM-DD, optionally THH:MM:SS "
                    "and a UTC offset); pass the format if it is another one, e.g. --date-format %m/%d/%Y."),
    "unpadded": ("date,metric,value\n2025-6-1,leads,1\n",
                 "x.csv:2: column 'date': '2025-6-1' is not an ISO 8601 date (YYYY-MM-DD, optionally THH:MM:SS "
                 "and a UTC offset); pass the format if it is another one, e.g. --date-format %m/%d/%Y."),
    "year one": ("date,metric,value\n0001-01-01,leads,1\n",
                 f"x.csv:2: column 'date': '0001-01-01' is outside the plausible range 1900-01-01..{dt.date.today().year + 1}-12-31."),
    "far future": ("date,metric,value\n9999-12-31,leads,1\n",
                   f"x.csv:2: column 'date': '9999-12-31' is outside the plausible range 1900-01-01..{dt.date.today().year + 1}-12-31."),
    "far from the rest": ("date,metric,value\n2025-01-01,leads,1\n2025-01-02,leads,1\n2015-01-03,leads,1\n",
                          "x.csv:4: column 'date': '2015-01-03' is more than 3 years away from the file's other dates "
                          "(2025-01-01..2025-01-02); check it for a typo."),
    "huge": ("date,metric,value\n2025-01-01,leads,1e308\n",
             "x.csv:2: column 'value': '1e308' is implausibly large (beyond ±1e+15)."),
    "minus huge": ("date,metric,value\n2025-01-01,temp,-1e308\n",
                   "x.csv:2: column 'value': '-1e308' is implausibly large (beyond ±1e+15)."),
    "negative count": ("date,metric,value\n2025-01-01,leads,-3\n",
                       "x.csv:2: column 'value': -3 is negative, and 'leads' is a count; declare it in ctxmetrics.yaml "
                       "as {type: amount} (money, refunds) or {type: gauge} (a level) if it can go below zero."),
    "nul in label": ("date,metric,value\n2025-01-01,le\x00ads,1\n",
                     "x.csv:2: column 'metric': 'le\\x00ads' has a control character; labels must be plain text."),
    "esc in dimension": ("date,metric,value,region\n2025-01-01,leads,1,\x1b[31mEMEA\n",
                         "x.csv:2: column 'region': '\\x1b[31mEMEA' has a control character; labels must be plain text."),
    "missing dimension": ("date,metric,value,region\n2026-03-01,leads,4,EMEA\n",
                          "x.csv: the stored rows of leads on 2026-03-01 are broken down by channel, which these rows "
                          "lack; storing both would count that day twice. Ingest the file with the same dimension "
                          "columns as the stored rows, or with --as-rollup to keep it as a separate series."),
}
JSON_BAD = {
    "json boolean": ('{"date": "2025-01-01", "metric": "leads", "value": true}\n',
                     "x.jsonl: column 'value': holds true/false values, not numbers."),
    "json mixed boolean": ('{"date": "2025-01-01", "metric": "leads", "value": 1}\n{"date": "2025-01-02", "metric": "leads", "value": false}\n',
                           "x.jsonl:2: column 'value': false is true/false, not a number or label."),
    "json nested": ('{"date": "2025-01-01", "metric": "leads", "value": [1, 2]}\n',
                    "x.jsonl: column 'value': has nested values (lists or objects); flatten the file first."),
    "json nested label": ('{"date": "2025-01-01", "metric": {"name": "leads"}, "value": 1}\n',
                          "x.jsonl: column 'metric': has nested values (lists or objects); flatten the file first."),
}


@pytest.mark.parametrize("case", sorted(BAD) + sorted(JSON_BAD))
def test_bad_input_exact_message_exit_1_store_unchanged(project, case):
    text, expected = BAD[case] if case in BAD else JSON_BAD[case]
    bad = project / ("x.csv" if case in BAD else "x.jsonl")
    bad.write_text(text)
    before = snapshot(project)
    result = invoke("--project", project, "ingest", bad)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: {expected.replace(bad.name, str(bad), 1)}\n"
    assert snapshot(project) == before


# Spreadsheet exports as they come: each was refused as "no date column" (the header read
# as one column) although it holds the same rows as GOOD.
EXPORTS = {
    "spaces around the header's names": GOOD.replace(",", " , ", 4).encode(),
    "capitalised role names": GOOD.replace("date,metric,value", "Date,Metric,VALUE").encode(),
    "blank lines": GOOD.replace("\n", "\n\n", 2).encode() + b"\n",
    "semicolons": GOOD.replace(",", ";").encode(),
    "tabs": GOOD.replace(",", "\t").encode(),
    "utf-16 with BOM": GOOD.encode("utf-16"),
    "utf-16 semicolons, CRLF": GOOD.replace(",", ";").replace("\n", "\r\n").encode("utf-16"),
}


@pytest.mark.parametrize("case", sorted(EXPORTS))
def test_spreadsheet_exports_store_the_same_rows_as_a_plain_csv(project, case):
    before = snapshot(project)
    (project / "x.csv").write_bytes(EXPORTS[case])
    result = invoke("--project", project, "ingest", project / "x.csv")
    assert result.exit_code == 0, result.output
    assert "0 added, 2 replaced" in result.stdout
    assert snapshot(project)[0] == before[0]


def test_json_lines_with_a_byte_order_mark_are_read(project):
    # Was "x.jsonl:1: not valid JSON" for a valid line behind the BOM PowerShell writes.
    before = snapshot(project)
    lines = [f'{{"date": "2026-03-01", "metric": "leads", "value": {v}, "region": "EMEA", "channel": "{c}"}}'
             for v, c in ((10, "paid"), (5, "organic"))]
    (project / "x.jsonl").write_bytes(codecs.BOM_UTF8 + "\n".join(lines).encode() + b"\n")
    result = invoke("--project", project, "ingest", project / "x.jsonl")
    assert result.exit_code == 0, result.output
    assert snapshot(project)[0] == before[0]


@pytest.mark.parametrize("content, expected", [
    (b"date,metric,value\n2025-01-01,leads,1\n2025-01-02,leads,2,7\n", "x.csv:3: has 4 fields, the header 3."),
    (b"date,metric,value\n2025-01-01,leads,1\n2025-01-02,l\xe9ads,2\n",
     "x.csv:3: is not UTF-8 text (byte 13 of the line); save the file as UTF-8."),
    (b'date,metric,value\n2025-01-01,leads,1\n2025-01-02,"leads,2\n2025-01-03,leads,3\n',
     "x.csv:3: not valid CSV (unexpected end of data; is a quote opened on this line never closed?)."),
    (b"\xff\xfed\x00a", "x.csv: starts as UTF-16 text but is not (byte 5); save it as UTF-8."),
])
def test_unreadable_csv_line_is_named(project, content, expected):
    bad = project / "x.csv"
    bad.write_bytes(content)
    before = snapshot(project)
    result = invoke("--project", project, "ingest", bad)
    assert (result.exit_code, result.stderr) == (1, f"Error: {expected.replace('x.csv', str(bad), 1)}\n")
    assert snapshot(project) == before


def test_metric_option_on_a_file_with_a_metric_column_is_refused(project):
    # Was ignored without a word: the rows went in as 'leads', not the 'signups' asked for.
    before = snapshot(project)
    result = invoke("--project", project, "ingest", project / "good.csv", "--metric", "signups")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: {project / 'good.csv'}: column 'metric': the file names its metrics in this column, so --metric "
        "signups does not apply; --metric names the series of a file without one.\n")
    assert snapshot(project) == before


def test_us_dates_with_format_land_on_the_right_days(project):
    (project / "us.csv").write_text("date,metric,value,region,channel\n06/01/2025,leads,1,EMEA,paid\n12/31/2025,leads,2,EMEA,paid\n")
    result = invoke("--project", project, "ingest", project / "us.csv", "--date-format", "%m/%d/%Y")
    assert result.exit_code == 0, result.output
    assert stored(project, "select ts from observations where ts > '2025-01-01' and ts < '2026-01-01' order by 1") == [
        (dt.date(2025, 6, 1),), (dt.date(2025, 12, 31),)
    ]


def test_near_metric_name_warns_and_strict_refuses(project):
    (project / "typo.csv").write_text("date,metric,value,region,channel\n2026-03-02,laeds,1,EMEA,paid\n")
    before = snapshot(project)
    strict = invoke("--project", project, "ingest", project / "typo.csv", "--strict")
    assert (strict.exit_code, strict.stderr) == (
        1, f"Error: {project / 'typo.csv'}: metric 'laeds' is new; did you mean 'leads'? "
           "(--strict refuses new names close to known ones.)\n"
    )
    assert snapshot(project) == before
    loose = invoke("--project", project, "ingest", project / "typo.csv")
    assert loose.exit_code == 0
    assert loose.stderr == f"Warning: {project / 'typo.csv'}: metric 'laeds' is new; did you mean 'leads'?\n"


def test_weekly_and_monthly_granularity_stored_and_kept(tmp_path):
    root = init_project(tmp_path / "w")
    (root / "weekly.csv").write_text("date,metric,value\n2025-01-06,signups,5\n2025-01-13,signups,6\n2025-01-27,signups,7\n")
    (root / "daily.csv").write_text("date,metric,value\n2025-02-04,signups,1\n2025-02-05,signups,1\n")
    assert invoke("--project", root, "ingest", root / "weekly.csv").exit_code == 0
    with Store(root / "ctxmetrics.duckdb", read_only=True) as store:
        assert (store.granularity("signups"), store.granularity("unknown")) == ("weekly", "daily")
    before = snapshot(root)
    mixed = invoke("--project", root, "ingest", root / "daily.csv")
    assert (mixed.exit_code, mixed.stderr) == (
        1, f"Error: {root / 'daily.csv'}: metric 'signups' is stored as weekly data and these rows are daily; "
           "ingest them under another metric name.\n"
    )
    assert snapshot(root) == before


def test_fifo_and_folder_refused_before_the_lock(project):
    fifo = project / "pipe.csv"
    os.mkfifo(fifo)
    # Holding the write lock proves the refusal comes first (otherwise: StoreLocked after waiting).
    with duckdb.connect(str(project / "ctxmetrics.duckdb")):
        result = invoke("--project", project, "ingest", fifo)
        folder = invoke("--project", project, "ingest", project / "annotations")
    assert (result.exit_code, result.stderr) == (
        1, f"Error: {fifo}: is not a regular file (a pipe, device or socket); name a data file.\n"
    )
    assert (folder.exit_code, folder.stderr) == (1, f"Error: {project / 'annotations'}: is a folder; name the data files.\n")


def test_unreadable_file_one_line_exit_1(project, monkeypatch):
    path = project / "secret.csv"
    path.write_text(GOOD)
    path.chmod(0)
    if os.geteuid() == 0:  # root reads anything: make the open fail as it would for a user
        real_open = Path.open

        def denied(self, *args, **kwargs):
            if self == path:
                raise PermissionError(13, "Permission denied")
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", denied)
    result = invoke("--project", project, "ingest", path)
    assert (result.exit_code, result.stderr) == (1, f"Error: {path}: cannot be read (Permission denied).\n")


def test_disk_full_is_one_plain_line_and_nothing_changes(project, monkeypatch):
    (project / "more.csv").write_text("date,metric,value,region,channel\n2026-03-05,leads,1,EMEA,paid\n")
    before = snapshot(project)
    real = Store._insert_new_keys

    def full(self, *args):
        real(self, *args)
        raise duckdb.IOException("Could not write file \"x.duckdb.wal\": No space left on device")

    monkeypatch.setattr(Store, "_insert_new_keys", full)
    result = invoke("--project", project, "ingest", project / "more.csv")
    assert (result.exit_code, result.stderr) == (1, "Error: disk full while writing the store; nothing was changed.\n")
    assert snapshot(project) == before


def test_midnight_timestamps_keep_a_monthly_series_monthly(tmp_path):
    root = init_project(tmp_path / "m")
    (root / "sales.csv").write_text("ds,y\n2024-01-01 00:00:00,5\n2024-02-01 00:00:00,7\n2024-03-01 00:00:00,6\n")
    assert invoke("--project", root, "ingest", root / "sales.csv").exit_code == 0
    with Store(root / "ctxmetrics.duckdb", read_only=True) as store:
        assert store.granularity("sales") == "monthly"


def test_as_rollup_keeps_a_total_next_to_the_breakdown_without_double_counting(project):
    from ctxmetrics.store.series import build_series_set

    totals = project / "finance.csv"
    totals.write_text("date,metric,value,region\n2026-03-01,leads,20,EMEA\n2026-03-02,leads,22,EMEA\n")
    result = invoke("--project", project, "ingest", totals, "--as-rollup")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "Stored as separate rollups: leads_by_region."
    again = invoke("--project", project, "ingest", totals, "--as-rollup")
    assert "0 added, 2 replaced" in again.output
    assert stored(project, "select metric, sum(value) from observations group by 1 order by 1") == [
        ("leads", 15.0), ("leads_by_region", 42.0)
    ]
    config = Project(project).config
    with Project(project).store(read_only=True) as store:
        breakdown = build_series_set(store, config, "leads")
        rollup = build_series_set(store, config, "leads_by_region")
    assert breakdown.values[breakdown.row({})].tolist() == [15.0]  # the breakdown alone
    assert rollup.segments == [{}, {"region": "EMEA"}]  # its own dimension only: no channel=(none) twins
    assert rollup.values[rollup.row({"region": "EMEA"})].tolist() == [20.0, 22.0]
