"""A series that never varied before its change (a CTR at 2.70% for months, then 1.80%) is
said in words, `Was flat at 2.7 for 90 days, then 1.8`, never as `900000000.0× the usual
noise` (the detector's noise floor); the digest's details say it too (issue-qa10)."""
from __future__ import annotations

import datetime as dt
import random

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)


def _search_console(path, days: int = 120, step: int = 90) -> None:
    rng = random.Random(1)
    lines = ["Date,Clicks,CTR"]
    for i in range(days):
        lines.append(f"{FIRST + dt.timedelta(days=i)},{rng.randint(80, 120)},{'2.70%' if i < step else '1.80%'}")
    path.write_text("\n".join(lines) + "\n")


def test_a_series_flat_for_months_then_moving_is_said_in_words(tmp_path):
    data, root = tmp_path / "search.csv", tmp_path / "p"
    _search_console(data)
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    invoke("--project", root, "scan")
    why = invoke("--project", root, "why", "CTR").output
    assert "CTR total -33% since Apr 1, 2026 (level shift)" in why
    assert "Was flat at 2.7 for 90 days, then 1.8 (it had not varied at all before" in why
    assert "usual noise" not in why and "000000" not in why
    digest = invoke("--project", root, "digest").output
    assert "CTR total, level shift, no variation before it (a flat series)" in digest
    assert "score 900000000" not in digest
