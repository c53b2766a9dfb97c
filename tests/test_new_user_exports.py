"""Exports a new user brings, fourth round: a Google Sheets CSV (dates `Nov 28, 2026`,
quoted numbers), an Excel workbook (no reader: a clear error), a CRM deals export (one row
per deal: a name per row and column names with spaces)."""
from __future__ import annotations

import datetime as dt
import zipfile

import yaml

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)


def test_google_sheets_dates_are_read_with_their_format(tmp_path):
    data, root = tmp_path / "sheet.csv", tmp_path / "p"
    days = [FIRST + dt.timedelta(days=i) for i in range(60)]
    data.write_text("Date,Leads\n" + "".join(f'"{d:%b} {d.day}, {d.year}","{100 + i % 7}"\n' for i, d in enumerate(days)))
    invoke("init", root, "--from", data)
    assert yaml.safe_load((root / "ctxmetrics.yaml").read_text())["date_format"] == "%B %d, %Y"
    assert invoke("--project", root, "ingest", data).output.startswith("Ingested 60 rows from 1 file")
    plain = tmp_path / "plain"  # without init --from: ingest names the format to pass
    invoke("init", plain)
    out = invoke("--project", plain, "ingest", data, "--value-col", "Leads", code=1).output
    assert out == (f"Error: {data}:2: column 'Date': 'Jan 1, 2026' is a date with the month by name, as Google Sheets "
                   "writes it; pass --date-format '%B %d, %Y'.\n")
    invoke("--project", plain, "ingest", data, "--value-col", "Leads", "--date-format", "%B %d, %Y")


def test_a_broken_workbook_is_refused_saying_what_to_do(tmp_path):
    """Workbooks are read since issue-qa10 (tests/test_excel_files.py); one that is no
    workbook inside is refused in one line."""
    book = tmp_path / "leads.xlsx"
    with zipfile.ZipFile(book, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
    out = invoke("init", tmp_path / "p", "--from", book, code=1).output
    assert out.startswith(f"Error: {book}: cannot be read as an Excel workbook (")
    assert out.endswith("); save the sheet as CSV.\n") and out.count("\n") == 1


def test_a_deals_export_gets_a_project_file_that_ingest_takes(tmp_path):
    """Close dates with a time, as CRMs export them (two deals of a day closed at one time):
    the deals of a day are combined."""
    data, root = tmp_path / "deals.csv", tmp_path / "p"
    lines = ["Record ID,Deal Name,Amount,Close Date,Deal owner,Region"]
    for n in range(120):
        day = FIRST + dt.timedelta(days=n // 3)
        lines.append(f"{1000 + n},Deal {n},{250 * (n % 9 + 1)},{day} {9 + n % 3 // 2:02d}:15,{['Ana', 'Ben'][n % 2]},{['EMEA', 'NA'][n % 3 == 0]}")
    data.write_text("\n".join(lines) + "\n")
    said = invoke("init", root, "--from", data).output
    assert "'Deal Name' holds a different text on 100% of the rows (a name or id of each row, not a segment)" in said
    assert ("'Deal owner' cannot be a dimension name (letters, digits and underscores only): left out (ignore_columns); "
            "rename the column in the file (e.g. deal_owner) to read it as a segment.") in said
    config = yaml.safe_load((root / "ctxmetrics.yaml").read_text())
    assert config["dimensions"] == ["Region"] and set(config["ignore_columns"]) >= {"Deal Name", "Deal owner"}
    assert "Ingested" in invoke("--project", root, "ingest", data).output  # before: 'Deal Name' cannot be a dimension name
