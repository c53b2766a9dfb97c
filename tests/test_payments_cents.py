"""Payments exports (issue-qa10): amounts written in cents are stored in whole currency
units where the export says so (Stripe's whole numbers beside lowercase currency codes, a
header saying cents), and said at `init` and `ingest`; a CRM's whole-dollar amounts are
left alone. A lone refund on the day after an event log's last full day is left out and
said, so that the level shift before it is found."""
from __future__ import annotations

import calendar
import datetime as dt
import json

import numpy as np
import yaml

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)


def _config(root) -> dict:
    return yaml.safe_load((root / "ctxmetrics.yaml").read_text())


def _query(root, sql: str) -> list[dict]:
    return json.loads(invoke("--project", root, "query", sql, "--json").output)


def _stripe_rows(days: int, rise_from: int | None = None, seed: int = 3) -> list[str]:
    """Charges of $29-$99 at any time of day, about 14 a day (24 from `rise_from`), a refund now and then."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(days):
        midnight = calendar.timegm((FIRST + dt.timedelta(days=i)).timetuple())
        for k in range(rng.poisson(24 if rise_from is not None and i >= rise_from else 14)):
            price = int(rng.choice([2900, 4900, 9900]))
            rows.append(f"ch_{i}_{k},{midnight + int(rng.integers(0, 86_400))},{price},usd,succeeded,charge")
        if i % 9 == 4:
            rows.append(f"re_{i},{midnight + 50_000},-2900,usd,succeeded,refund")
    return rows


def test_stripe_amounts_in_cents_are_stored_in_dollars_and_said(tmp_path):
    data, root = tmp_path / "payments.csv", tmp_path / "p"
    rows = _stripe_rows(40)
    midnight = calendar.timegm(FIRST.timetuple())
    rows.append(f"ch_jpy,{midnight + 7200},5000,jpy,succeeded,charge")  # yen have no cents: 5000 is ¥5,000
    data.write_text("id,created,amount,currency,status,type\n" + "\n".join(rows) + "\n")
    said = invoke("init", root, "--from", data).output
    assert _config(root)["metrics"]["amount"] == {"type": "amount", "cents": True}
    assert "amount's values are cents (whole numbers (" in said and "lowercase currency codes ('usd')" in said
    out = invoke("--project", root, "ingest", data).output
    assert "amount: written in cents (cents: true in ctxmetrics.yaml), stored in whole currency units, divided by 100; " \
           "rows in jpy, a currency without cents, as written." in out
    cents = sum(int(r.split(",")[2]) for r in rows if ",usd," in r)
    got = _query(root, "select currency, sum(value) as total from observations group by 1 order by 1")
    assert got == [{"currency": "jpy", "total": 5000}, {"currency": "usd", "total": cents / 100}]


def test_a_header_saying_cents_is_read_as_cents(tmp_path):
    data, root = tmp_path / "revenue.csv", tmp_path / "p"
    data.write_text("date,revenue_cents\n" + "".join(f"{FIRST + dt.timedelta(days=i)},{123450 + 7 * i}\n" for i in range(30)))
    said = invoke("init", root, "--from", data).output
    assert _config(root)["metrics"]["revenue_cents"] == {"type": "amount", "cents": True}, said
    invoke("--project", root, "ingest", data)
    assert _query(root, "select min(value) as v from observations") == [{"v": 1234.5}]


def test_a_crm_export_of_whole_dollars_beside_a_currency_is_not_cents(tmp_path):
    data, root = tmp_path / "deals.csv", tmp_path / "p"
    lines = ["date,amount,currency"] + [f"{FIRST + dt.timedelta(days=i)},{12000 + 500 * (i % 5)},USD" for i in range(30)]
    data.write_text("\n".join(lines) + "\n")
    said = invoke("init", root, "--from", data).output
    assert "cents" not in _config(root)["metrics"]["amount"] and "cents" not in said


def test_cents_is_only_for_money(tmp_path):
    root = tmp_path / "p"
    invoke("init", root)
    (root / "ctxmetrics.yaml").write_text("metrics:\n  leads: {type: count, cents: true}\n")
    out = invoke("--project", root, "status", code=1).output
    assert "metric 'leads' has cents: true and type 'count'; cents are money: type amount (or gauge)." in out


def test_a_lone_refund_after_the_last_full_day_is_left_out_and_the_shift_found(tmp_path):
    data, root = tmp_path / "payments.csv", tmp_path / "p"
    rows = _stripe_rows(120, rise_from=90)
    after = calendar.timegm((FIRST + dt.timedelta(days=120)).timetuple())
    rows.append(f"re_last,{after + 11_567},-9900,usd,succeeded,refund")  # 03:12 on the day after the export's end
    data.write_text("id,created,amount,currency,status,type\n" + "\n".join(rows) + "\n")
    invoke("init", root, "--from", data)
    out = invoke("--project", root, "ingest", data).output
    last = FIRST + dt.timedelta(days=120)
    assert f"{last} has 1 row (03:12) against " in out and "left out, since a day the export covers only in part" in out
    assert _query(root, "select max(ts)::varchar as last from observations") == [{"last": str(last - dt.timedelta(days=1))}]
    invoke("--project", root, "scan")
    why = invoke("--project", root, "why", "amount", "--on", str(FIRST + dt.timedelta(days=95))).output
    assert "Amount total +" in why and f"since {FIRST + dt.timedelta(days=90):%b} " in why, why


def test_a_quiet_first_day_of_an_event_log_is_kept(tmp_path):
    """Half a usual day's rows on the edge is a quiet day or a late start, not an export's cut."""
    data, root = tmp_path / "payments.csv", tmp_path / "p"
    rows = _stripe_rows(30)
    first_day = [r for r in rows if r.startswith("ch_0_")]
    rows = [r for r in rows if r not in first_day[len(first_day) // 2:]]
    data.write_text("id,created,amount,currency,status,type\n" + "\n".join(rows) + "\n")
    invoke("init", root, "--from", data)
    out = invoke("--project", root, "ingest", data).output
    assert "left out" not in out
    assert _query(root, "select min(ts)::varchar as first from observations") == [{"first": str(FIRST)}]


def test_a_dashboard_export_of_whole_dollars_written_with_cents_is_an_amount(tmp_path):
    """Stripe's dashboard export (a BOM, CRLF, `Created date (UTC)`, `Amount` 29.00 beside
    `Currency` usd): every value whole, so the count rule typed `Amount` a count, judged by
    Poisson noise as if a day of $3,000 were 3,000 events; written with cents, it is money."""
    rng = np.random.default_rng(2)
    lines = ["id,Created date (UTC),Amount,Amount Refunded,Currency,Fee,Status"]
    for i in range(600):
        amount = int(rng.choice([29, 99, 299]))
        stamp = dt.datetime(2026, 1, 1) + dt.timedelta(minutes=int(i * 144 + rng.integers(0, 100)))
        lines.append(f"ch_{i},{stamp:%Y-%m-%d %H:%M:%S},{amount}.00,0.00,usd,{amount * 0.029 + 0.3:.2f},Paid")
    data, root = tmp_path / "unified_payments.csv", tmp_path / "p"
    data.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    said = invoke("init", root, "--from", data).output
    metrics = yaml.safe_load((root / "ctxmetrics.yaml").read_text())["metrics"]
    assert metrics["Amount"]["type"] == "amount" and "cents" not in metrics["Amount"], said
    assert metrics["Amount Refunded"]["type"] == "amount"
    assert ("Amount is typed amount (summed across segments and days): its name reads as money ('amount') and its "
            "values are written with cents ('") in said
