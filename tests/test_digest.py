"""The manager's digest: Markdown, JSON and HTML from stored anomalies (hand-built here)."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import date

import pytest
from click.testing import CliRunner

from ctxmetrics.models.anomaly import Anomaly, Cause
from ctxmetrics.cli import cli
from ctxmetrics.wording import kind_text, summary_line, tag_command
from ctxmetrics.config import DEMO_CONFIG_TEXT
from ctxmetrics.project import Project, init_project

TIMELINE = """\
- id: emea-spring-push
  title: EMEA spring push
  type: campaign
  start: 2025-04-17
  end: 2025-04-30
  scope: {region: [EMEA], channel: [paid]}
  metrics: [leads]
  expect: up
- id: signup-outage
  title: Sign-up outage
  type: outage
  start: 2025-05-20
  end: 2025-05-21
  metrics: [leads]
  expect: down
- id: apac-webinars
  title: APAC webinars
  type: campaign
  start: 2025-03-03
  end: 2025-03-14
  scope: {region: [APAC]}
  metrics: [leads]
  expect: up
"""

CAMPAIGN = Anomaly(
    metric="leads", segment={"region": "EMEA", "channel": "paid"}, kind="spike", direction="up",
    start=date(2025, 4, 17), end=date(2025, 4, 30), before=50.0, after=84.0, change_pct=68.0, score=8.0,
    volume=50.0,
    causes=[Cause("emea-spring-push", "EMEA spring push", "campaign", 0.92, "starts the day the change starts")],
    drivers=[{"segment": {"region": "EMEA", "channel": "paid"}, "share": 1.0}],
)
OUTAGE = Anomaly(
    metric="leads", segment={}, kind="spike", direction="down", start=date(2025, 5, 20), end=date(2025, 5, 21),
    before=500.0, after=80.0, change_pct=-84.0, score=20.0, volume=500.0,
    causes=[Cause("signup-outage", "Sign-up outage", "outage", 0.8, "starts the day the change starts")],
)
UNTAGGED = Anomaly(
    metric="leads", segment={"region": "APAC", "channel": "partner"}, kind="level_shift", direction="down",
    start=date(2025, 6, 2), end=None, before=70.0, after=30.0, change_pct=-57.0, score=15.0, volume=60.0,
)


def test_the_shape_of_a_change_in_words():
    # a two-day -84% outage read "spike"; why and the digest each had their own wording
    assert [kind_text(a) for a in (CAMPAIGN, OUTAGE, UNTAGGED)] == ["temporary shift", "dip", "level shift"]
    assert kind_text(dataclasses.replace(OUTAGE, direction="up", change_pct=84.0)) == "spike"


def make_project(root, anomalies=(CAMPAIGN, OUTAGE, UNTAGGED)) -> Project:
    """A project with ~5 months of generated funnel data, a timeline and stored anomalies."""
    from ctxmetrics.ingest.ingest import ingest_paths
    from ctxmetrics.scan.effects import expected_effects
    from ctxmetrics.store.results import save_effects, save_scan
    from ctxmetrics.timeline.read import load_timeline
    from ctxmetrics.synth import generate_funnel

    root = init_project(root, DEMO_CONFIG_TEXT)
    (root / "annotations" / "events.yaml").write_text(TIMELINE, encoding="utf-8")
    data = root / "funnel.parquet"
    generate_funnel(7, start=date(2025, 2, 3), days=150, low_volume_segment=False).frame.write_parquet(data)
    project = Project(root)
    with project.store() as store:
        ingest_paths(store, [data], known_dimensions=project.config.dimensions)
        effects = expected_effects(project, store, load_timeline(project.annotations_dir, project.config.timezone), list(anomalies))
        with store.transaction():
            save_scan(store, list(anomalies), ["leads"], [("leads", "", "x")], project.config)
            save_effects(store, effects)
    return project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("digest") / "proj")


def digest(project, *args):
    result = CliRunner().invoke(cli, ["--project", str(project.root), "digest", *map(str, args)])
    return result


def test_ranking_is_score_times_log_volume():
    assert OUTAGE.importance > UNTAGGED.importance > CAMPAIGN.importance
    assert CAMPAIGN.importance == pytest.approx(8.0 * 3.9318, rel=1e-3)


def test_summary_line_names_the_change_and_its_top_cause():
    assert summary_line(CAMPAIGN) == "Leads EMEA/paid +68% from Apr 17 to Apr 30 — EMEA spring push (campaign)"
    assert summary_line(UNTAGGED) == "Leads APAC/partner -57% since Jun 2 — no known context"


def test_tag_command_scopes_the_segment_and_metric():
    assert tag_command(UNTAGGED) == (
        "ctxmetrics annotate add 'Leads APAC/partner drop' --type other --start 2025-06-02 "
        "--scope region=APAC --scope channel=partner --metric leads --expect down"
    )


def test_markdown_headline_sections_and_order(project):
    result = digest(project)
    assert result.exit_code == 0, result.output
    out = result.output
    # The headline counts business events, not flags.
    assert "**3 business events from 2025-02-03 to 2025-07-02: 2 need action (1 unexplained, " \
           "1 expected effect not seen); 2 explained.**" in out
    action, explained = out.split("## Explained", 1)
    assert "**Leads APAC/partner drop** — no known context: leads in APAC/partner -57% (70.0 → 30.0 a day) since Jun 2" in action
    assert f"tag it: `{tag_command(UNTAGGED)}`" in action
    missing = action.split("### Expected effects not seen", 1)[1]
    assert "APAC webinars (campaign)" in missing and "EMEA spring push" not in missing
    assert "measured" in missing and "consistent with no change" in missing
    assert explained.index("Sign-up outage") < explained.index("EMEA spring push")
    # Scores are details, not the sentence a manager reads first.
    first_line = next(line for line in explained.splitlines() if "Sign-up outage" in line)
    assert "score" not in first_line and "importance" not in first_line


def test_json_has_the_design_shape_and_coverage(project):
    result = digest(project, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["coverage"]["total"] == 3 and data["coverage"]["explained"] == 2
    assert [a["id"] for a in data["anomalies"]] == [OUTAGE.id, UNTAGGED.id, CAMPAIGN.id]
    first = data["anomalies"][0]
    for key in ("id", "metric", "segment", "kind", "direction", "start", "end", "before", "after",
                "change_pct", "score", "causes", "drivers"):
        assert key in first
    assert first["causes"][0]["annotation_id"] == "signup-outage"
    assert data["unexplained"] == [UNTAGGED.id]
    assert data["anomalies"][1]["tag_command"] == tag_command(UNTAGGED)
    assert [m["annotation_id"] for m in data["missing_effects"]] == ["apac-webinars"]
    assert data["missing_effects"][0]["finding"] == "not_seen"
    assert [e["id"] for e in data["events"]] == [UNTAGGED.id, OUTAGE.id, CAMPAIGN.id]


def test_window_filter(project):
    data = json.loads(digest(project, "--format", "json", "--since", "2025-05-01", "--until", "2025-05-31").output)
    assert [a["id"] for a in data["anomalies"]] == [OUTAGE.id]
    assert data["coverage"] == {**data["coverage"], "total": 1, "explained": 1}
    assert data["missing_effects"] == []
    # A level shift belongs to the digest of the period it starts in, not every later one.
    later = json.loads(digest(project, "--format", "json", "--since", "2025-06-20").output)
    assert later["anomalies"] == []


def test_output_file_and_html(project, tmp_path):
    target = tmp_path / "digest.html"
    result = digest(project, "--format", "html", "-o", target)
    assert result.exit_code == 0, result.output
    assert f"Wrote {target}" in result.output
    html = target.read_text(encoding="utf-8")
    assert html.count('<svg class="chart"') == 3
    assert "7-day average" in html and "daily value" in html  # each chart's legend
    # Self-contained: no scripts, no external fonts, stylesheets or images.
    for external in ("<script", 'src="http', 'href="http', "@import", "@font-face", "url(http"):
        assert external not in html
    assert "@media print" in html
    assert "EMEA spring push" in html and "no known context" in html


def test_md_to_file(project, tmp_path):
    target = tmp_path / "d.md"
    assert digest(project, "-o", target).exit_code == 0
    assert target.read_text(encoding="utf-8").startswith("# ctxmetrics digest")


def test_output_into_a_missing_folder_is_one_line(project, tmp_path):
    # Was "internal error: FileNotFoundError".
    target = tmp_path / "no-such-folder" / "d.md"
    result = digest(project, "-o", target)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: {target}: cannot write the report there (No such file or directory).\n"


def test_a_failed_write_leaves_the_old_report_whole(project, tmp_path, monkeypatch):
    import errno
    import os

    target = tmp_path / "d.md"
    target.write_text("last week's digest\n", encoding="utf-8")

    def disk_full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("ctxmetrics.report.output.os.replace", disk_full)
    result = digest(project, "-o", target)
    assert result.exit_code == 1 and "cannot write the report there (No space left on device)" in result.stderr
    assert target.read_text(encoding="utf-8") == "last week's digest\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.md"]


def test_bad_format_is_a_usage_error(project):
    result = digest(project, "--format", "pdf")
    assert result.exit_code == 2
    assert "Invalid value for '--format'" in result.output


def test_since_after_until_is_a_user_error(project):
    result = digest(project, "--since", "2025-06-01", "--until", "2025-05-01")
    assert result.exit_code == 1
    assert "Error: --since 2025-06-01 is after --until 2025-05-01; swap them." in result.output


def test_empty_store_says_to_ingest_then_scan(tmp_path):
    # Before any scan the digest must not claim that everything is explained (cron would pass);
    # with no data either, "run 'ctxmetrics scan' first" sent the user to a scan that refuses.
    root = init_project(tmp_path / "empty")
    for args in ([], ["--fail-on-unexplained"]):
        result = CliRunner().invoke(cli, ["--project", str(root), "digest", *args])
        assert result.exit_code == 1, result.output
        assert result.output == "Error: No data yet: load some with 'ctxmetrics ingest FILE', then run 'ctxmetrics scan'.\n"


def test_data_not_yet_scanned_says_to_scan(tmp_path):
    root = init_project(tmp_path / "unscanned")
    (root / "leads.csv").write_text("date,value\n2026-01-01,3\n2026-01-02,4\n")
    assert CliRunner().invoke(cli, ["--project", str(root), "ingest", str(root / "leads.csv")]).exit_code == 0
    result = CliRunner().invoke(cli, ["--project", str(root), "digest"])
    assert (result.exit_code, result.output) == (1, "Error: No scan results yet: run 'ctxmetrics scan' first.\n")


def test_since_after_the_data_is_a_clear_message(project):
    result = digest(project, "--since", "2030-01-01")
    assert result.exit_code == 1
    assert result.output == "Error: --since 2030-01-01 is after the last day of data (2025-07-02); nothing to report.\n"


def test_digest_is_read_only_and_light(project):
    code = (
        "import sys\n"
        "from ctxmetrics.cli import cli\n"
        f"cli.main(['--project', {str(project.root)!r}, 'digest'], standalone_mode=False)\n"
        "heavy = [m for m in ('ruptures', 'scipy', 'matplotlib', 'numba') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_fail_on_unexplained_exit_code_for_scripts(project):
    # May holds only the explained outage; the whole period holds the untagged drop too.
    assert digest(project, "--since", "2025-05-01", "--until", "2025-05-31", "--fail-on-unexplained").exit_code == 0
    assert digest(project, "--fail-on-unexplained").exit_code == 3
    assert digest(project).exit_code == 0


def test_a_gauge_without_a_percentage_reads_up_with_its_levels(log_gauge_project):
    # Was "logvals +nan% (-1.5 → 1.5 a day)": no percentage of a level below 0, no "a day" for a gauge.
    result = CliRunner().invoke(cli, ["--project", str(log_gauge_project), "digest"])
    assert result.exit_code == 0
    assert "no known context: logvals up (-1.5 → 1.5) from Jun 1 to Jun 4" in result.stdout
    assert "nan" not in result.stdout



def test_metrics_moving_together_outside_the_funnel_are_not_called_a_funnel():
    # "funnel: revenue (EUR) +99% → visits [count] +198%" read as one feeding the other.
    from ctxmetrics.report.digest import group_events

    def rise(metric, pct):
        return Anomaly(metric=metric, segment={}, kind="spike", direction="up", start=date(2025, 6, 2),
                       end=date(2025, 6, 9), before=100.0, after=100.0 + pct, change_pct=pct, score=9.0, volume=100.0)

    outside = group_events([rise("visits", 198.0), rise("revenue", 99.0)], funnel=("leads", "mql"))
    assert len(outside) == 1
    assert [(f.label, f.text) for f in outside[0].facts() if f.label in ("funnel", "metrics")] == [
        ("metrics", "revenue +99%, visits +198%")]
    down = group_events([rise("mql", 50.0), rise("leads", 60.0)], funnel=("leads", "mql"))
    assert [(f.label, f.text) for f in down[0].facts() if f.label in ("funnel", "metrics")] == [
        ("funnel", "leads +60% → MQL +50%")]
    # The demo's outage: the stages go down the funnel, the win rate that moved with them beside it.
    mixed = group_events([rise("leads", 60.0), rise("win_rate", 300.0), rise("mql", 50.0)], funnel=("leads", "mql"))
    assert [(f.label, f.text) for f in mixed[0].facts() if f.label in ("funnel", "metrics")] == [
        ("funnel", "leads +60% → MQL +50%"), ("metrics", "win rate +300%")]
    one_stage = group_events([rise("leads", 60.0), rise("win_rate", 300.0)], funnel=("leads", "mql"))
    assert [(f.label, f.text) for f in one_stage[0].facts() if f.label in ("funnel", "metrics")] == [
        ("metrics", "leads +60%, win rate +300%")]


@pytest.mark.parametrize("name", ["ctxmetrics.yaml", "ctxmetrics.duckdb", "annotations/campaigns.yaml", "queries/new.md"])
def test_output_onto_a_file_of_the_project_is_refused(project, name):
    # '-o ctxmetrics.yaml' replaced the config with the Markdown and broke every later command.
    target = project.root / name
    before = {p: p.read_bytes() for p in project.root.rglob("*") if p.is_file()}
    result = digest(project, "-o", target)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: -o {target}: that is a file of the project; name another file.\n"
    assert {p: p.read_bytes() for p in project.root.rglob("*") if p.is_file()} == before
