"""A newer export that overlaps the stored days with some values corrected: ingest says how
many stored values changed and on which days, not only that rows were replaced; a refused
newer file leaves every stored value as it was."""
from __future__ import annotations

import datetime as dt

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)
CORRECTED = {60: 7, 75: 9, 76: 11, 90: 13}  # day number -> the corrected count


def write(path, days, corrected=(), bad_line=None):
    rows = ["date,region,orders"]
    for i in days:
        for region in ("EMEA", "NA"):
            orders = CORRECTED[i] if i in corrected and region == "NA" else 100 + i % 7
            rows.append(f"{FIRST + dt.timedelta(days=i)},{region},{orders}")
    if bad_line is not None:
        rows.insert(bad_line, f"{FIRST + dt.timedelta(days=200)},NA,twelve")
    path.write_text("\n".join(rows) + "\n")


def test_a_newer_export_says_which_stored_values_it_corrected(tmp_path):
    old, new, root = tmp_path / "orders.csv", tmp_path / "orders_new.csv", tmp_path / "p"
    write(old, range(0, 100))
    write(new, range(50, 110), corrected=CORRECTED)
    invoke("init", root, "--from", old)
    invoke("--project", root, "ingest", old)
    out = invoke("--project", root, "ingest", new).output
    assert out == (
        "Ingested 120 rows from 1 file: 20 added, 100 replaced, of which 4 with a new value (on 2026-03-02, "
        "2026-03-17, 2026-03-18, 2026-04-01) and 96 the same.\n"
    )
    again = invoke("--project", root, "ingest", new).output
    assert again == "Ingested 120 rows from 1 file: 0 added, 120 replaced, all with the same value.\n"


def test_a_refused_newer_export_changes_nothing_stored(tmp_path):
    old, new, root = tmp_path / "orders.csv", tmp_path / "orders_new.csv", tmp_path / "p"
    write(old, range(0, 100))
    write(new, range(50, 110), corrected=CORRECTED, bad_line=30)
    invoke("init", root, "--from", old)
    invoke("--project", root, "ingest", old)
    query = ("select count(*) as n, sum(value) as total, max(ts) as last from observations", "--csv")
    before = invoke("--project", root, "query", *query).output
    out = invoke("--project", root, "ingest", new, code=1).output
    assert out.startswith(f"Error: {new}:31: column 'orders': 'twelve' is not a number")
    assert invoke("--project", root, "query", *query).output == before
