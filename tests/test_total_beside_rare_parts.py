"""A total that moved, found on its own series, is reported on the total (issue-qad).

A payments cube where one status carries nearly all of the volume (Paid) beside a rare
one (Refunded: a refund's day now and then, none on most days): the refunds' days are
flagged as spikes of a flat series, scored far above any real change, dated apart from
the total's step. They are parts of the total moving its way over its days, but they do
not carry its change (a $299 day against a step of hundreds a day), so they do not
restate it (`scan.restatements`): the total's step is kept."""
from __future__ import annotations

import datetime as dt

import numpy as np

from ctxmetrics.project import Project
from ctxmetrics.store.results import load_anomalies
from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)
DAYS, RISE = 120, 80
# after the rise, a week or more from its start; the first the largest, so that it stays a change
# of its sparse segment (one matched later would be how its refunds come: scan.sparse_days)
REFUNDS = {86: 299, 97: 99, 108: 29}


def _payments_csv(path) -> None:
    rng = np.random.default_rng(5)
    lines = ["id,Created date (UTC),Amount,Currency,Status"]
    for day in range(DAYS):
        stamp = dt.datetime.combine(FIRST + dt.timedelta(days=day), dt.time(9))
        for k in range(rng.poisson(42 if day >= RISE else 30)):
            lines.append(f"ch_{day}_{k},{stamp + dt.timedelta(minutes=k):%Y-%m-%d %H:%M:%S},"
                         f"{int(rng.choice([29, 99, 299]))}.00,usd,Paid")
        if day in REFUNDS:
            lines.append(f"re_{day},{stamp:%Y-%m-%d %H:%M:%S},{REFUNDS[day]}.00,usd,Refunded")
    path.write_text("\n".join(lines) + "\n")


def test_a_total_step_is_kept_beside_rare_parts_flagged_on_other_days(tmp_path):
    data, root = tmp_path / "unified_payments.csv", tmp_path / "p"
    _payments_csv(data)
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    invoke("--project", root, "scan")
    with Project(root).store(read_only=True) as store:
        found = [a for a in load_anomalies(store) if a.metric == "Amount"]
    rise = FIRST + dt.timedelta(days=RISE)
    refunds = [a for a in found if a.segment == {"Status": "Refunded"} and a.direction == "up"]
    total = [a for a in found if a.segment == {} and a.direction == "up" and abs((a.start - rise).days) <= 2]
    # the shape this guards: a rare part flagged, stronger than the total, dated apart from it
    assert any(abs((r.start - rise).days) > 2 and r.score > 7 for r in refunds), found
    assert len(total) == 1 and total[0].change_pct > 20, found
    # its place in the cube: the cell holding nearly all the volume moved as the total did, so
    # no part explains more than its size predicts (contract: "uniform"), or the Paid cell
    paid = {"Status": "Paid"}
    assert total[0].uniform or [d["segment"] for d in total[0].drivers] == [paid], total
    assert any(c["segment"] == paid for c in total[0].correlated), total
    why = invoke("--project", root, "why", "Amount").output
    assert "Amount total +" in why and "No anomalies in Amount total" not in why, why
