"""A timeline event whose scope names a segment the data lacks by a typo (`region: [EMAE]`)
links nothing. `annotate lint` refuses it; `scan` (often run from cron) read it without a
word. It now says it, naming the file and line, and still scans; a value like no stored one
(a region being launched) is no typo and is not said."""
from __future__ import annotations

import datetime as dt

import numpy as np

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)


def project(tmp_path, scope_value):
    rng = np.random.default_rng(2)
    data, root = tmp_path / "leads.csv", tmp_path / "p"
    rows = [f"{FIRST + dt.timedelta(days=i)},{r},{rng.poisson(50)}" for i in range(90) for r in ("EMEA", "NA")]
    data.write_text("date,region,leads\n" + "\n".join(rows) + "\n")
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    (root / "annotations" / "promo.yaml").write_text(
        "- id: spring-promo\n  title: Spring promo\n  type: campaign\n  start: 2026-02-10\n  end: 2026-02-20\n"
        f"  scope: {{region: [{scope_value}]}}\n"
    )
    return root


def test_scan_says_a_scope_value_that_is_a_typo_of_a_segment(tmp_path):
    root = project(tmp_path, "EMAE")
    scanned = invoke("--project", root, "scan")
    assert "Scanned 3 series" in scanned.output
    assert (f"Warning: {root / 'annotations' / 'promo.yaml'}:1: unknown region value 'EMAE' (did you mean 'EMEA'?); "
            "known: EMEA, NA. The event links nothing there") in scanned.output


def test_scan_is_silent_on_a_segment_the_data_does_not_have_yet(tmp_path):
    scanned = invoke("--project", project(tmp_path, "LATAM"), "scan")
    assert "Warning" not in scanned.output
