"""Dates no one format reads. A file assembled from two exports holds `13/11/2026` (day
first) above `11/15/2026` (month first); each message named the first row's `01/11/2026`
as "ambiguous" and told the user to pass a format, which then failed on the other half.
A format the user named that misses a cell was said the same way. Each is now one line
naming the cells that show it; nothing is written."""
from __future__ import annotations

import datetime as dt

from test_quarterly import invoke

FIRST = dt.date(2026, 11, 1)


def _leads(path, orders):
    path.write_text("Date,Leads\n" + "".join(
        f"{(FIRST + dt.timedelta(days=i)).strftime(order)},{40 + i % 5}\n" for i, order in enumerate(orders)))


def test_a_file_mixing_day_first_and_month_first_dates_says_so_with_both_cells(tmp_path):
    data = tmp_path / "leads.csv"
    _leads(data, ["%d/%m/%Y"] * 14 + ["%m/%d/%Y"] * 14)
    said = (f"{data}:16: column 'Date': '11/15/2026' is month first (%m/%d/%Y), and '13/11/2026' above it day first "
            "(%d/%m/%Y): the dates mix two orders, so no one format reads them all; export them again in one order "
            "(or as YYYY-MM-DD).")
    assert invoke("init", tmp_path / "p", "--from", data, code=1).output == f"Error: {said}\n"
    assert not (tmp_path / "p").exists()
    invoke("init", tmp_path / "q")
    assert invoke("--project", tmp_path / "q", "ingest", data, "--format", "wide", code=1).output == f"Error: {said}\n"


def test_a_named_format_that_misses_a_date_names_that_date(tmp_path):
    data = tmp_path / "leads.csv"
    _leads(data, ["%m/%d/%Y"] * 28)
    out = invoke("init", tmp_path / "p", "--from", data, "--date-format", "%d/%m/%Y", code=1).output
    assert out == f"Error: {data}:14: column 'Date': '11/13/2026' does not match --date-format %d/%m/%Y.\n"
    assert not (tmp_path / "p").exists()
