"""Two-row headers, as Excel and Sheets reports export them: a title row written with the
sheet's separators (`Leads report,,`) is skipped and said; a units row under the header, or
a group row above it, is refused in one line naming the row to delete."""
from __future__ import annotations

import datetime as dt

import pytest
import yaml

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)


def rows(n=60):
    return [f"{FIRST + dt.timedelta(days=i)},{100 + i % 7},{1000 + 10 * (i % 5)}.50" for i in range(n)]


def test_a_title_row_with_the_sheets_separators_is_skipped_and_said(tmp_path):
    data, root = tmp_path / "leads.csv", tmp_path / "p"
    data.write_text("\n".join(["Leads report Q1 2026,,", "date,leads,revenue", *rows()]) + "\n")
    said = invoke("init", root, "--from", data).output
    assert f"{data}: line 1 is above the header: a title, not data; skipped." in said
    assert yaml.safe_load((root / "ctxmetrics.yaml").read_text())["metrics"]["leads"] == {"type": "count"}
    assert "Ingested 120 rows from 1 file: 120 added" in invoke("--project", root, "ingest", data).output


@pytest.mark.parametrize("command", ["init", "ingest"])
def test_a_units_row_under_the_header_is_refused_naming_it(tmp_path, command):
    data, root = tmp_path / "leads.csv", tmp_path / "p"
    data.write_text("\n".join(["date,leads,revenue", "(day),count,EUR", *rows()]) + "\n")
    if command == "ingest":
        invoke("init", root)
        out = invoke("--project", root, "ingest", data, "--format", "wide", code=1).output
    else:
        out = invoke("init", root, "--from", data, code=1).output
    assert out == (
        f"Error: {data}:2: a second header row ('(day)', 'count', 'EUR': units or labels), not data; "
        "delete line 2, keeping the header on line 1.\n"
    )


def test_a_group_row_above_the_header_is_refused_naming_it(tmp_path):
    data, root = tmp_path / "leads.csv", tmp_path / "p"
    data.write_text("\n".join(["Daily figures,Leads,Revenue", "date,leads,revenue", *rows()]) + "\n")
    out = invoke("init", root, "--from", data, code=1).output
    assert out == (
        f"Error: {data}:2: the header ('date', 'leads', 'revenue') is below line 1 (a title or group row): "
        "delete line 1.\n"
    )
