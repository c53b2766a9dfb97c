"""`min_change_pct` is a size rule for counts and rates; gauges (and amounts, judged as
gauges) are reported on significance alone (README, "How detection and linking decide").
A CTR step of -11% is then flagged beside a 15% `min_change_pct`; a user who sets the
rule for the gauge itself is told it changes nothing, instead of silence."""
from __future__ import annotations

import datetime as dt

import numpy as np

from test_quarterly import invoke


def test_a_size_rule_set_for_a_gauge_is_said_to_change_nothing(tmp_path):
    rng = np.random.default_rng(1)
    rows = [f"{dt.date(2026, 1, 1) + dt.timedelta(days=i)},{int(rng.poisson(900))},"
            f"{(3.0 if i < 60 else 2.67) + rng.normal(0, 0.03):.2f}" for i in range(90)]
    data, root = tmp_path / "search.csv", tmp_path / "p"
    data.write_text("date,clicks,ctr\n" + "\n".join(rows) + "\n")
    invoke("init", root, "--from", data)
    config = root / "ctxmetrics.yaml"
    config.write_text(config.read_text() + "\ndetection:\n  overrides:\n    ctr: {min_change_pct: 15}\n"
                      "    clicks: {min_change_pct: 25}\n")
    invoke("--project", root, "ingest", data)
    said = invoke("--project", root, "scan").output
    assert ("Warning: detection.overrides.ctr.min_change_pct does not apply: ctr is a gauge, judged by significance "
            "alone (no size rule: a level's units vary); raise its min_score to see fewer of its changes.") in said
    assert "overrides.clicks" not in said
