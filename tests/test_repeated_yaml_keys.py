"""A key given twice in one mapping of a hand-edited YAML file. YAML keeps the last one
without a word: an event's `scope: {region: [EMEA], region: [NA]}` lost EMEA, and a
`detection:` block appended at the end of ctxmetrics.yaml replaced the one above it,
its overrides too. Both are refused naming file and line, exit 1, nothing written."""
from __future__ import annotations

import datetime as dt

import pytest

from test_quarterly import invoke


@pytest.fixture
def project(tmp_path):
    data, root = tmp_path / "leads.csv", tmp_path / "p"
    data.write_text("date,region,leads\n" + "".join(
        f"{dt.date(2026, 1, 1) + dt.timedelta(days=i)},{region},{30 + i % 5}\n"
        for i in range(60) for region in ("EMEA", "NA")))
    invoke("init", root, "--from", data)
    invoke("--project", root, "ingest", data)
    return root


@pytest.mark.parametrize("scope", [
    "  scope: {region: [EMEA], region: [NA]}\n",
    "  scope:\n    region: [EMEA]\n    region: [NA]\n",
])
def test_a_key_twice_inside_an_events_field_is_named_with_its_line(project, scope):
    event = project / "annotations" / "promo.yaml"
    event.write_text("- id: spring-promo\n  title: Spring promo\n  type: campaign\n  start: 2026-02-02\n" + scope)
    line = 5 if "{" in scope else 7
    out = invoke("--project", project, "annotate", "lint", code=1).output
    assert f"promo.yaml:{line}: key 'region' is given twice in one mapping; keep one." in out
    scanned = invoke("--project", project, "scan", code=1).output
    assert f"promo.yaml:{line}: key 'region' is given twice" in scanned and "Traceback" not in scanned
    assert "No scan results yet" in invoke("--project", project, "why", "leads", code=1).output  # nothing scanned


def test_a_block_given_twice_in_the_project_file_is_refused_with_its_line(project):
    config = project / "ctxmetrics.yaml"
    text = config.read_text() + "\ndetection:\n  overrides:\n    leads: {min_change_pct: 30}\n"
    config.write_text(text + "\ndetection:\n  min_score: 6\n")
    line = len(text.splitlines()) + 2
    out = invoke("--project", project, "status", code=1).output
    assert out.strip() == (f"Error: {config}:{line}: 'detection' is given twice in one mapping (YAML would keep only "
                           "the last); merge the two into one.")
