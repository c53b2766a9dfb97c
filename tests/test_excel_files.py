"""Excel workbooks (`.xlsx`) are read like the CSV that saving their sheet would give:
the first sheet or a named one, dates stored as date cells or as serial numbers, a title
above the header, blank rows and a merged 'Total' row at the bottom; a bad cell is named by
file, sheet, row and column (issue-qa10)."""
from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from test_quarterly import invoke

openpyxl = pytest.importorskip("openpyxl")

FIRST = dt.date(2026, 1, 1)
DAYS = 60


def _leads(i: int) -> int:
    return 40 + (i * 7) % 11


def _sales_workbook(path, *, serial_dates: bool = False, sheet: str = "Leads", extra_sheet: str | None = None):
    """A sales team's sheet: a title on row 1, a blank row, the header on row 3, a row per
    day by region, two blank rows and a merged 'Total' row at the bottom."""
    book = openpyxl.Workbook()
    if extra_sheet:
        book.active.title = extra_sheet
        book.active["A1"] = "Notes about this workbook"
        sheet_ = book.create_sheet(sheet)
    else:
        sheet_ = book.active
        sheet_.title = sheet
    sheet_["A1"] = "Leads by region, exported 2026-03-02"
    sheet_.append([])
    sheet_.append(["Date", "Region", "Leads", "Conversion"])
    for i in range(DAYS):
        day = FIRST + dt.timedelta(days=i)
        for region in ("EMEA", "NA"):
            cell_day = (day - dt.date(1899, 12, 30)).days if serial_dates else day
            sheet_.append([cell_day, region, _leads(i), 0.125])
            if not serial_dates:
                sheet_.cell(sheet_.max_row, 1).number_format = "yyyy-mm-dd"
            sheet_.cell(sheet_.max_row, 4).number_format = "0.0%"
    sheet_.append([])
    sheet_.append([])
    sheet_.append(["Total", None, 2 * sum(_leads(i) for i in range(DAYS)), None])
    sheet_.merge_cells(start_row=sheet_.max_row, start_column=1, end_row=sheet_.max_row, end_column=2)
    book.save(path)
    return 3 + 2 * DAYS + 3  # the Total row's number


@pytest.mark.parametrize("serial_dates", [False, True], ids=["date cells", "serial numbers"])
def test_a_workbook_goes_through_init_and_ingest_like_its_csv(tmp_path, serial_dates):
    data, root = tmp_path / "leads.xlsx", tmp_path / "p"
    total_row = _sales_workbook(data, serial_dates=serial_dates)
    said = invoke("init", root, "--from", data).output
    config = yaml.safe_load((root / "ctxmetrics.yaml").read_text())
    assert config["dimensions"] == ["Region"]
    assert config["metrics"]["Leads"]["type"] == "count"
    assert config["metrics"]["Conversion"]["type"] == "gauge"  # a percent cell, as '12.5%' in a CSV
    assert "rows 1-2 are above the header: a title" in said
    assert f"sheet 'Leads': row {total_row}: 'Total' is a totals row" in said
    assert ("holds Excel serial day numbers (46023 = 2026-01-01): read as dates" in said) == serial_dates
    out = invoke("--project", root, "ingest", data).output
    assert "240 added" in out
    sql = "select count(distinct ts) as days, sum(value) as total, min(ts)::varchar as first from observations where metric = 'Leads'"
    got = json.loads(invoke("--project", root, "query", sql, "--json").output)[0]
    assert got == {"days": DAYS, "total": 2 * sum(_leads(i) for i in range(DAYS)), "first": "2026-01-01"}
    rate = json.loads(invoke("--project", root, "query", "select avg(value) as v from observations where metric = 'Conversion'", "--json").output)
    assert rate[0]["v"] == pytest.approx(12.5)


def test_a_named_sheet_is_read_from_the_option_or_the_project_file(tmp_path):
    data, root = tmp_path / "leads.xlsx", tmp_path / "p"
    _sales_workbook(data, extra_sheet="About")
    invoke("init", root, "--from", data, "--sheet", "Leads")
    assert yaml.safe_load((root / "ctxmetrics.yaml").read_text())["sheet"] == "Leads"
    assert "240 added" in invoke("--project", root, "ingest", data).output
    missing = invoke("--project", root, "ingest", data, "--sheet", "Laeds", code=1).output
    assert "leads.xlsx: no sheet named 'Laeds'; its sheets: About, Leads." in missing


def test_a_bad_cell_is_named_by_sheet_row_and_column(tmp_path):
    data, root = tmp_path / "leads.xlsx", tmp_path / "p"
    _sales_workbook(data)
    invoke("init", root, "--from", data)
    book = openpyxl.load_workbook(data)
    book["Leads"]["C10"] = "n/a"
    book.save(data)
    out = invoke("--project", root, "ingest", data, code=1).output
    assert "leads.xlsx: sheet 'Leads': row 10: column 'Leads': 'n/a'" in out
    assert "Traceback" not in out


def test_an_old_binary_workbook_is_refused_with_what_to_do(tmp_path):
    data = tmp_path / "leads.xls"
    data.write_bytes(b"\xd0\xcf\x11\xe0 not really a workbook")
    out = invoke("init", tmp_path / "p", "--from", data, code=1).output
    assert "a .xls workbook, which ctxmetrics does not read: save the sheet as .xlsx or as CSV" in out
