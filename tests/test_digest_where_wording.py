"""The digest's "where" beside the segments flagged on their own (issue-qad): "where:
everywhere alike" followed by "segments hit: partner" read as a contradiction to a manager.
The root cause of the lead's change comes first; the segments flagged on their own series
follow as such, in the Markdown and HTML digest and in notifications alike."""
from __future__ import annotations

import dataclasses

from click.testing import CliRunner

from ctxmetrics.cli import cli
from test_digest import OUTAGE, make_project

UNIFORM_TOTAL = dataclasses.replace(OUTAGE, uniform=True)
PARTNER = dataclasses.replace(OUTAGE, segment={"channel": "partner"}, score=9.0, volume=120.0, before=120.0, after=20.0)
LINES = ("where: everywhere alike", "also flagged on their own: partner")


def _run(root, *args) -> str:
    result = CliRunner().invoke(cli, ["--project", str(root), *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_root_cause_line_comes_first_and_the_segments_flagged_are_said_as_such(tmp_path):
    project = make_project(tmp_path / "p", anomalies=(UNIFORM_TOTAL, PARTNER))
    text = _run(project.root, "digest")
    item = text.split("**Sign-up outage**", 1)[1].split("\n2. ", 1)[0]
    assert f"   - {LINES[0]}\n   - {LINES[1]}\n" in item and "segments hit" not in item, item
    html = _run(project.root, "digest", "--format", "html")
    assert f"<li>{LINES[0]}</li><li>{LINES[1]}</li>" in html.replace("\n", "") and "segments hit" not in html
    (project.root / "ctxmetrics.yaml").write_text(
        (project.root / "ctxmetrics.yaml").read_text() + "\nnotify:\n  - webhook: http://127.0.0.1:9/never\n")
    sent = _run(project.root, "notify", "--dry-run")
    assert all(line in sent for line in LINES) and "segments hit" not in sent, sent


def test_without_a_where_line_the_segments_hit_keep_their_name(tmp_path):
    leaf = dataclasses.replace(PARTNER, segment={"channel": "partner", "region": "EMEA"})
    project = make_project(tmp_path / "p", anomalies=(leaf, PARTNER))
    text = _run(project.root, "digest")
    assert "segments hit: partner" in text and "also flagged" not in text, text
