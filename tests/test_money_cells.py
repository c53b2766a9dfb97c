"""Amounts written as money (`$1,234.50`, `€1.234,50`, `1 234,50 €`, `(1,234.50)`,
`USD 1,234.50`) are read as numbers by `init --from` and `ingest`, typed amounts; a column
mixing two currencies is refused in one line naming its row (issue-qa9)."""
from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
import yaml

from ctxmetrics.ingest.dates import BadCell
from ctxmetrics.ingest.money import money_column
from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)


def _us(value: float) -> str:
    return f"{value:,.2f}"


def _eu(value: float) -> str:
    return f"{value:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")


WRITERS = {  # how a spreadsheet writes the amount, and the file's separator
    "dollars": (lambda v: f'"${_us(v)}"' if v >= 0 else f'"(${_us(-v)})"', ","),
    "euros_before": (lambda v: f"€{_eu(v)}" if v >= 0 else f"-€{_eu(-v)}", ";"),
    "euros_after_spaced": (lambda v: f'"{_eu(v).replace(".", " ")} €"', ","),
    "code_before": (lambda v: f'"USD {_us(v)}"', ","),
}


def _amounts() -> list[float]:
    return [1234.5 + 17.25 * (i % 9) - (2500 if i == 40 else 0) for i in range(60)]


@pytest.mark.parametrize("style", sorted(WRITERS))
def test_money_cells_are_read_as_amounts_by_init_and_ingest(tmp_path, style):
    write, sep = WRITERS[style]
    data, root = tmp_path / "revenue.csv", tmp_path / "p"
    amounts = _amounts() if style != "euros_after_spaced" and style != "code_before" else [abs(a) for a in _amounts()]
    lines = [f"date{sep}revenue"] + [f"{FIRST + dt.timedelta(days=i)}{sep}{write(a)}" for i, a in enumerate(amounts)]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    said = invoke("init", root, "--from", data).output
    assert yaml.safe_load((root / "ctxmetrics.yaml").read_text())["metrics"]["revenue"]["type"] == "amount"
    assert "revenue is typed amount" in said
    invoke("--project", root, "ingest", data)
    sql = "select sum(value) as total, count(*) as n from observations"
    got = json.loads(invoke("--project", root, "query", sql, "--json").output)[0]
    assert got["n"] == 60 and got["total"] == pytest.approx(sum(amounts))


def test_a_column_of_two_currencies_is_refused_naming_the_row(tmp_path):
    data, root = tmp_path / "revenue.csv", tmp_path / "p"
    cells = [f'"${_us(1000 + i)}"' for i in range(30)]
    cells[12] = '"€1.012,00"'
    data.write_text("date,revenue\n" + "".join(f"{FIRST + dt.timedelta(days=i)},{c}\n" for i, c in enumerate(cells)))
    refused = invoke("init", root, "--from", data, code=1).output
    assert f"{data}:14: column 'revenue': '€1.012,00' is in another currency than the rows above ($)" in refused
    (root / "ctxmetrics.yaml").unlink(missing_ok=True)
    invoke("init", root)
    refused = invoke("--project", root, "ingest", data, "--value-col", "revenue", code=1).output
    assert "revenue.csv:14: column 'revenue': '€1.012,00' is in another currency" in refused
    assert "Traceback" not in refused


def test_the_decimal_mark_is_read_off_the_column_and_a_cell_written_otherwise_refused():
    values, currency = money_column(pl.Series(["$1,234", "$500", "($2,000)"]))
    assert values.to_list() == [1234.0, 500.0, -2000.0] and currency == "$"
    values, _ = money_column(pl.Series(["1.234,50 €", "", None, "7,00 €"]))
    assert values.to_list() == [1234.5, None, None, 7.0]
    with pytest.raises(BadCell) as bad:
        money_column(pl.Series(["$1,234.50", "$1.234,50"]))
    assert bad.value.index == 1
    assert money_column(pl.Series(["1234.5", "12"])) is None  # plain numbers: not money
    assert money_column(pl.Series(["$12", "soon"])) is None  # not an amount: the caller's "is not a number"
