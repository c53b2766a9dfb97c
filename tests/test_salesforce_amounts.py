"""A Salesforce opportunity report writes `Amount` with thousands separators and cents
(`"26,000.00"`) beside an `Opportunity Currency` column. Such a column was not read as
numbers, so `init` made `Amount` a dimension of 56 values (225 series, no amount won
measured) without a word. A cell with both marks says which is the decimal one (issue-qab)."""
from __future__ import annotations

import datetime as dt
import json

import polars as pl
import yaml

from test_quarterly import invoke

from ctxmetrics.ingest.money import money_column

FIRST = dt.date(2026, 1, 1)


def _report(path) -> float:
    lines = ['"Opportunity Name","Opportunity Currency","Amount","Close Date","Stage","Region"']
    total = 0.0
    for i in range(60):
        for k in range(3):
            amount = 500.0 * (3 + (i * 7 + k * 5) % 40)
            total += amount
            lines.append(f'"Deal {i}-{k}","USD","{amount:,.2f}","{FIRST + dt.timedelta(days=i):%d.%m.%Y}","Closed Won","{["NA", "EMEA"][k % 2]}"')
    path.write_text("\n".join(lines) + "\n")
    return total


def test_a_salesforce_amount_with_thousands_separators_is_summed_not_a_segment(tmp_path):
    data, root = tmp_path / "opportunities.csv", tmp_path / "p"
    total = _report(data)
    invoke("init", root, "--from", data)
    config = yaml.safe_load((root / "ctxmetrics.yaml").read_text())
    assert "Amount" not in config.get("dimensions", [])
    assert config["records"]["metrics"]["won_amount"]["sum"] == "Amount"
    invoke("--project", root, "ingest", data)
    got = json.loads(invoke("--project", root, "query", "select sum(value) as s from observations where metric = 'won_amount'",
                            "--json").output)
    assert got[0]["s"] == total


def test_both_marks_in_a_cell_say_which_is_the_decimal_one():
    assert money_column(pl.Series(["26,000.00", "500.00", "1,500.50"]))[0].to_list() == [26000.0, 500.0, 1500.5]
    assert money_column(pl.Series(["1.234,5", "12,5"]))[0].to_list() == [1234.5, 12.5]
    assert money_column(pl.Series(["1,234", "500"])) is None  # one mark before three digits: not guessed


def test_amounts_of_several_currencies_summed_into_one_metric_are_said(tmp_path):
    data, root = tmp_path / "opportunities.csv", tmp_path / "p"
    _report(data)
    data.write_text(data.read_text().replace('"USD","', '"EUR","', 40))
    invoke("init", root, "--from", data)
    said = invoke("--project", root, "ingest", data).output
    assert ("won_amount adds up amounts in 2 currencies of the column 'Opportunity Currency' "
            "(USD on 140 rows, EUR on 40 rows) as if they were one") in said, said
