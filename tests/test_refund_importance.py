"""An amount that is mostly negative (a refunds metric) ranks by the size of the money it
moves: its importance is score × ln(1 + |mean volume|), not 0 (issue-9am left it 0)."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np

from ctxmetrics.models.anomaly import importance
from test_quarterly import invoke

FIRST = dt.date(2025, 1, 1)


def test_importance_reads_the_size_of_a_negative_volume():
    assert importance(5.0, -500.0) == importance(5.0, 500.0) > 0
    assert importance(5.0, 0.0) == 0.0


def test_a_refunds_week_ranks_in_the_digest_by_the_money_it_moves(tmp_path):
    """Refunds of ~-800 a day, tripled for a week, beside a count of ~3 a day with a spike:
    the refunds' event is the digest's first, with an importance above 0."""
    rng = np.random.default_rng(3)
    data, root = tmp_path / "money.csv", tmp_path / "p"
    lines = ["date,metric,value"]
    for i in range(240):
        day = FIRST + dt.timedelta(days=i)
        refunds = -800 * (3 if 150 <= i < 157 else 1) + rng.normal(0, 40)
        lines.append(f"{day},refunds,{refunds:.2f}")
        lines.append(f"{day},signups,{int(rng.poisson(3)) + (25 if i == 100 else 0)}")
    data.write_text("\n".join(lines) + "\n")
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    invoke("--project", root, "scan")
    digest = json.loads(invoke("--project", root, "digest", "--format", "json", "--since", str(FIRST)).output)
    refunds = [a for a in digest["anomalies"] if a["metric"] == "refunds"]
    assert refunds and all(a["importance"] > 0 for a in refunds)
    assert digest["anomalies"][0]["metric"] == "refunds"


def test_the_digest_counts_one_business_event_in_the_singular():
    from ctxmetrics.wording import flags_note

    assert flags_note(1, 1, 0) == "1 flag in 1 business event."
    assert flags_note(17, 3, 2) == "17 flags in 3 business events; 2 muted flags left out."
