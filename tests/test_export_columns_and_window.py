"""What `init --from` makes of an export's other columns, and the first days of a deals
export cut by its create date.

A Pipedrive deals export carries `expected_close_date` and `lost_time` (dates of each
deal) and a `currency` of one value: none of them is a segment, and as dimensions they
made 36,728 series of 3 metrics out of 2,766 deals. A text column of one value on every
row splits nothing and is left out, said, unless the files read hold different values
of it. An export of the deals created since Jan 1 holds none of the deals won in January
that were created before: its won deals' first weeks read low, then "rise"."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import yaml

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)
DAYS = 150


def pipedrive_export(path, days=DAYS, seed=3):
    """Deals added since FIRST (~12 a day), a third won after a cycle of ~20 days (lognormal),
    a third lost; won and lost only before the export's day, as the CRM shows them then."""
    rng = np.random.default_rng(seed)
    export_day = FIRST + dt.timedelta(days=days)
    lines = ["id,title,value,currency,status,add_time,won_time,lost_time,expected_close_date,owner_name,Region"]
    for number in range(12 * days):
        added = dt.datetime.combine(FIRST + dt.timedelta(days=number // 12), dt.time(9 + number % 9, 15))
        closed = added + dt.timedelta(days=float(rng.lognormal(3.0, 0.5)))
        fate = ["won", "lost", "open"][number % 3] if closed.date() < export_day else "open"
        won, lost = (f"{closed:%Y-%m-%d %H:%M:%S}" if fate == kind else "" for kind in ("won", "lost"))
        lines.append(
            f"{number},Deal {number},{100 * (number % 40 + 5)},USD,{fate},{added:%Y-%m-%d %H:%M:%S},{won},{lost},"
            f"{added.date() + dt.timedelta(days=30)},{['Anna', 'Ben', 'Chen'][number // 3 % 3]},{['EMEA', 'NA', 'APAC'][number % 7 % 3]}"
        )
    path.write_text("\n".join(lines) + "\n")


def first_day(root, metric):
    sql = f"select min(ts)::date as first from observations where metric = '{metric}'"
    return json.loads(invoke("--project", root, "query", sql, "--json").output)[0]["first"]


def test_a_deals_exports_other_dates_and_its_one_currency_are_no_segments(tmp_path):
    data, root = tmp_path / "pipedrive_deals.csv", tmp_path / "p"
    pipedrive_export(data)
    said = invoke("init", root, "--from", data).output
    config = yaml.safe_load((root / "ctxmetrics.yaml").read_text())
    assert config["dimensions"] == ["Region", "owner_name"], said
    assert {"expected_close_date", "lost_time", "currency"} <= set(config["ignore_columns"])
    assert ("'expected_close_date' holds dates (another date of each record): no segment; left out "
            "(ignore_columns). Add a metric with 'date: expected_close_date' under 'records:'") in said
    assert "'currency' holds one value on every row ('USD'): no segment to compare, left out (ignore_columns)." in said


def test_won_deals_first_days_of_an_export_cut_by_create_date_are_left_out_and_said(tmp_path):
    data, root = tmp_path / "pipedrive_deals.csv", tmp_path / "p"
    pipedrive_export(data)
    invoke("init", root, "--from", data)
    ingested = invoke("--project", root, "ingest", data).output
    # the won deals and their value are dated by one column: one cut, said once
    assert (f"{data}: deals_won and won_value: their first " in ingested
            and "are left out: the file holds no record whose deals_created date is before 2026-01-01" in ingested)
    assert ingested.count("are left out: the file holds no record") == 1
    # ~90% of the cycles (lognormal, median 20 days) end within 38 days
    assert "2026-02-01" < first_day(root, "deals_won") < "2026-02-20"
    assert first_day(root, "deals_created") == "2026-01-01"


def test_a_text_column_of_one_value_is_left_out_and_said(tmp_path):
    data, root = tmp_path / "leads.csv", tmp_path / "p"
    rows = [f"{FIRST + dt.timedelta(days=i)},Acme Inc,{region},{40 + i % 7}"
            for i in range(60) for region in ("EMEA", "NA")]
    data.write_text("date,account,region,leads\n" + "\n".join(rows) + "\n")
    said = invoke("init", root, "--from", data).output
    config = yaml.safe_load((root / "ctxmetrics.yaml").read_text())
    assert config["dimensions"] == ["region"] and config["ignore_columns"] == ["account"]
    assert (f"Column {data}: 'account' holds one value on every row ('Acme Inc'): no segment to compare, left out "
            "(ignore_columns). If files to come hold other values of it") in said
    invoke("--project", root, "ingest", data)
    assert json.loads(invoke("--project", root, "query", "select sum(value) as n from observations", "--json")
                      .output)[0]["n"] == sum(40 + i % 7 for i in range(60)) * 2


def test_a_column_of_one_value_per_file_is_a_dimension_when_the_files_differ(tmp_path):
    """An export per account, each of one account: the account splits them."""
    files = []
    for account in ("Acme", "Globex"):
        path = tmp_path / f"leads_{account}.csv"
        path.write_text("date,account,leads\n" + "".join(
            f"{FIRST + dt.timedelta(days=i)},{account},{30 + i % 5}\n" for i in range(60)))
        files.append(path)
    root = tmp_path / "p"
    said = invoke("init", root, "--from", *files).output
    config = yaml.safe_load((root / "ctxmetrics.yaml").read_text())
    assert config["dimensions"] == ["account"], said
    assert "ignore_columns" not in config and "one value" not in said


def test_a_segment_of_one_value_stays_a_dimension_and_is_said(tmp_path):
    """A team's export of its own region: left out, the next region's file would be read
    without it and replace these rows."""
    data, root = tmp_path / "emea.csv", tmp_path / "p"
    data.write_text("date,Region,leads\n" + "".join(f"{FIRST + dt.timedelta(days=i)},EMEA,{30 + i % 5}\n"
                                                    for i in range(60)))
    said = invoke("init", root, "--from", data).output
    assert yaml.safe_load((root / "ctxmetrics.yaml").read_text())["dimensions"] == ["Region"]
    assert (f"Column {data}: 'Region' holds one value on every row ('EMEA'): kept as a dimension, since files of its "
            "other values would add to these rows; list it under ignore_columns if it never varies.") in said
