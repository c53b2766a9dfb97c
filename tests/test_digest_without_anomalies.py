"""A period without a single anomaly: the digest's "Needs action" said "Nothing: every anomaly
of the period is linked to a known event", of no anomalies at all; it now says there were none,
in the Markdown and the HTML digest."""
from __future__ import annotations

import datetime as dt

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)


def test_a_period_without_anomalies_says_so(tmp_path):
    data, root = tmp_path / "leads.csv", tmp_path / "p"
    data.write_text("date,leads\n" + "\n".join(f"{FIRST + dt.timedelta(days=i)},{40 + i % 3}" for i in range(90)) + "\n")
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    invoke("--project", root, "scan")
    said = "Nothing: no anomalies in the period, and every expected effect showed."
    assert said in invoke("--project", root, "digest").output
    html = tmp_path / "digest.html"
    invoke("--project", root, "digest", "--format", "html", "--output", html)
    assert said in html.read_text()
