"""A CRM deals export (HubSpot/Salesforce-like: one row per deal, with its create date,
close date, amount, stage, owner and region) read as the metrics a sales team asks for:
deals created per day by create date, deals won per day by close date and the amount won,
by region. A deal on two rows (the same id) counts once; a deal without a close date is
not won; `init --from` says what it guessed and how to change it."""
from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pytest
import yaml

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)
DAYS = 150
REPEATED = 1007  # this deal's row is exported twice


def deals(seed=4):
    """(id, create day, close timestamp or '', amount, stage, region) of each deal."""
    rng = np.random.default_rng(seed)
    out, number = [], 1000
    for i in range(DAYS):
        for _ in range(int(rng.poisson(6 if i < 100 else 9))):
            created = FIRST + dt.timedelta(days=i)
            fate = rng.random()
            stage = "Closed Won" if fate < 0.35 else "Closed Lost" if fate < 0.6 else "Appointment Scheduled"
            closed = "" if stage == "Appointment Scheduled" else created + dt.timedelta(days=int(rng.integers(0, 20)))
            closed = "" if closed and closed >= FIRST + dt.timedelta(days=DAYS) else closed
            stage = "Appointment Scheduled" if not closed else stage
            amount = round(float(rng.integers(5, 60)) * 250 + (0.5 if fate < 0.1 else 0), 2)
            stamp = f"{closed} {int(rng.integers(8, 18)):02d}:{int(rng.integers(0, 60)):02d}" if closed else ""
            out.append((number, created, stamp, amount, stage, ["EMEA", "NA", "APAC"][int(rng.integers(0, 3))]))
            number += 1
    return out


@pytest.fixture(scope="module")
def deals_project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deals")
    data, root = tmp / "deals.csv", tmp / "p"
    rows = deals()
    lines = ["Record ID,Deal Name,Create Date,Close Date,Amount,Deal Stage,Deal owner,Region"]
    for n, created, closed, amount, stage, region in rows:
        line = f"{n},Deal {n},{created},{closed},{amount},{stage},{['Ana Ruiz', 'Ben Cole'][n % 2]},{region}"
        lines += [line] * (2 if n == REPEATED else 1)
    data.write_text("\n".join(lines) + "\n")
    said = invoke("init", root, "--from", data).output
    ingested = invoke("--project", root, "ingest", data).output
    return rows, data, root, said, ingested


def stored(root, metric, where=""):
    sql = f"select sum(value) as total from observations where metric = '{metric}' {where}"
    return json.loads(invoke("--project", root, "query", sql, "--json").output)[0]["total"]


def test_init_writes_one_metric_per_date_column_and_says_so(deals_project):
    _, data, root, said, _ = deals_project
    config = yaml.safe_load((root / "ctxmetrics.yaml").read_text())
    assert config["format"] == "records"
    assert config["records"] == {
        "id": "Record ID",
        "metrics": {
            "deals_created": {"date": "Create Date"},
            "deals_won": {"date": "Close Date", "where": {"Deal Stage": ["Closed Won"]}},
            "won_amount": {"date": "Close Date", "where": {"Deal Stage": ["Closed Won"]}, "sum": "Amount"},
        },
    }
    assert config["metrics"]["deals_created"]["type"] == "count"
    assert config["metrics"]["deals_won"]["type"] == "count"
    assert config["metrics"]["won_amount"]["type"] == "amount"
    assert config["dimensions"] == ["Region"]
    assert (
        f"{data} has one row per deal (Record ID): read as deals_created (rows counted by Create Date), deals_won "
        "(rows whose Deal Stage is Closed Won, counted by Close Date) and won_amount (their Amount summed by Close "
        "Date); a row without a Close Date is no won deal. Change or add metrics under 'records:' in ctxmetrics.yaml."
    ) in said


def test_each_deal_counts_once_and_open_deals_are_not_won(deals_project):
    rows, data, root, _, ingested = deals_project
    # deals created since Jan 1 only: the won deals' first days lack those created before (below)
    cut = re.search(r"deals_won and won_amount: their first \d+ days \(2026-01-01 to (\S+)\) are left out",
                    ingested).group(1)
    won = [r for r in rows if r[4] == "Closed Won" and r[2][:10] > cut]
    assert stored(root, "deals_created") == len(rows)  # the repeated row counted once
    assert stored(root, "deals_won") == len(won)
    assert stored(root, "won_amount") == pytest.approx(sum(r[3] for r in won))
    day = FIRST + dt.timedelta(days=30)
    emea = [r for r in won if r[2].startswith(str(day)) and r[5] == "EMEA"]
    assert stored(root, "won_amount", f"and ts = '{day}' and Region = 'EMEA'") == pytest.approx(sum(r[3] for r in emea) or None)
    assert f"{data}: Record ID {REPEATED} is on 2 rows (lines 9 and 10): counted once, as its last row says." in ingested
    open_deals = sum(1 for r in rows if not r[2])
    assert f"{data}: {open_deals} rows have no Close Date: not counted in deals_won, won_amount." in ingested


def test_a_deals_project_scans_and_reports(deals_project):
    _, _, root, _, _ = deals_project
    invoke("--project", root, "scan")
    why = json.loads(invoke("--project", root, "why", "deals_created", "--json").output)
    assert any(a["direction"] == "up" and a["start"] >= "2026-04-01" for a in why["anomalies"])
    invoke("--project", root, "digest")
    assert "deals_won" in invoke("--project", root, "status").output


# (header with the id, create date, close date, amount, stage and region columns; won and open stage values;
# the metrics' noun; the amount metric's name). Semicolons, dd.mm.yyyy dates and decimal commas, as
# European spreadsheets export them.
EXPORTS_BY_LANGUAGE = {
    "german": ("Deal-ID;Erstellt am;Abschlussdatum;Betrag;Phase;Region", ("Gewonnen", "Offen"), "deals", "won_betrag"),
    "french": ("ID;Date de création;Date de clôture;Montant;Étape;Région", ("Fermée gagnée", "Ouverte"), "records", "won_montant"),
    "spanish": ("ID;Fecha de creación;Fecha de cierre;Importe;Etapa;Región", ("Cerrado ganado", "Abierto"), "records", "won_importe"),
    "dutch": ("ID;Aanmaakdatum;Sluitingsdatum;Bedrag;Fase;Regio", ("Gewonnen", "Open"), "records", "won_bedrag"),
    "portuguese": ("ID;Data de criação;Data de fechamento;Valor;Estágio;Região", ("Fechado/Ganho", "Aberto"), "records", "won_valor"),
}


@pytest.mark.parametrize("language", sorted(EXPORTS_BY_LANGUAGE))
def test_deals_exports_in_other_languages_are_read_as_records(tmp_path, language):
    header, (won_stage, open_stage), noun, amount = EXPORTS_BY_LANGUAGE[language]
    data, root = tmp_path / "export.csv", tmp_path / "p"
    lines, won = [header], {}
    for n in range(200):
        created = FIRST + dt.timedelta(days=n // 4)
        closed = created + dt.timedelta(days=n % 5) if n % 3 == 0 else None
        lines.append(f"{n};{created:%d.%m.%Y};{closed.strftime('%d.%m.%Y') if closed else ''};"
                     f"{n % 9 + 1}.000,50;{won_stage if closed else open_stage};{['Norte', 'Sul'][n % 2]}")
        if closed:
            won[closed] = won.get(closed, 0) + (n % 9 + 1) * 1000 + 0.5
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    said = invoke("init", root, "--from", data).output
    config = yaml.safe_load((root / "ctxmetrics.yaml").read_text())
    stage, close = header.split(";")[4], header.split(";")[2]
    assert config["records"]["metrics"][f"{noun}_won"] == {"date": close, "where": {stage: [won_stage]}}, said
    assert config["date_format"] == "%d.%m.%Y" and config["decimal_comma"] is True
    ingested = invoke("--project", root, "ingest", data).output
    assert stored(root, f"{noun}_created") == 200
    # deals created since Jan 1 only: the won amounts' first days are left out (the warm-up), the rest to the cent
    cut = dt.date.fromisoformat(re.search(rf"and {amount}: their first \d+ days? \(\S+ to (\S+)\)", ingested).group(1))
    assert stored(root, amount) == pytest.approx(sum(v for day, v in won.items() if day > cut))


def test_a_pipedrive_export_counts_won_deals_by_their_won_time(tmp_path):
    data, root = tmp_path / "deals.csv", tmp_path / "p"
    lines, won = ["id,title,value,currency,status,add_time,won_time,lost_time,expected_close_date"], 0
    for n in range(200):
        added = dt.datetime(2026, 1, 1, 9) + dt.timedelta(hours=11 * n)
        status = ["won", "lost", "open"][n % 3]
        won_time = f"{added + dt.timedelta(days=3):%Y-%m-%d %H:%M:%S}" if status == "won" else ""
        lost_time = f"{added + dt.timedelta(days=2):%Y-%m-%d %H:%M:%S}" if status == "lost" else ""
        lines.append(f"{n},Deal {n},{100 * (n % 7 + 1)},EUR,{status},{added:%Y-%m-%d %H:%M:%S},{won_time},{lost_time},"
                     f"{added + dt.timedelta(days=30):%Y-%m-%d}")
        won += 100 * (n % 7 + 1) if status == "won" else 0
    data.write_text("\n".join(lines) + "\n")
    said = invoke("init", root, "--from", data).output
    config = yaml.safe_load((root / "ctxmetrics.yaml").read_text())
    assert config["records"]["metrics"]["deals_won"] == {"date": "won_time", "where": {"status": ["won"]}}, said
    invoke("--project", root, "ingest", data)
    assert stored(root, "deals_created") == 200
    assert stored(root, "deals_won") == 67
    assert stored(root, "won_value") == won
