"""`ctxmetrics demo`: builds the demo organisation end to end (run once per module)."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from ctxmetrics.cli import cli

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "acme"
    result = CliRunner().invoke(cli, ["demo", str(root)])
    assert result.exit_code == 0, result.output
    report = CliRunner().invoke(cli, ["--project", str(root), "digest", "--format", "json"])
    assert report.exit_code == 0, report.output
    return root, result, json.loads(report.output)


def _find(anomalies, metric, segment, start, direction, slack=2):
    found = [
        a for a in anomalies
        if a["metric"] == metric and a["segment"] == segment and a["direction"] == direction
        and abs((date.fromisoformat(a["start"]) - start).days) <= slack
    ]
    assert found, f"no {direction} anomaly of {metric} {segment} near {start}"
    return found[0]


@pytest.mark.parametrize(
    "metric, segment, start, direction, event",
    [
        ("leads", {"region": "EMEA", "channel": "paid"}, date(2025, 4, 17), "up", "emea-paid-spring-push"),
        ("opportunities", {}, date(2025, 6, 10), "down", "sales-offsite-lisbon"),
        ("leads", {}, date(2025, 9, 3), "down", "signup-form-outage"),
        ("won", {}, date(2025, 11, 3), "down", "pricing-2025-11"),
        ("leads", {}, date(2025, 12, 24), "down", "christmas-2025"),
    ],
)
def test_tagged_effects_are_linked_to_their_events(demo, metric, segment, start, direction, event):
    anomaly = _find(demo[2]["anomalies"], metric, segment, start, direction)
    assert anomaly["causes"][0]["annotation_id"] == event


def test_the_untagged_effect_is_unexplained(demo):
    root, result, data = demo
    anomaly = _find(data["anomalies"], "leads", {"region": "APAC", "channel": "partner"}, date(2026, 1, 19), "down")
    assert anomaly["kind"] == "level_shift" and anomaly["causes"] == []
    assert anomaly["id"] in data["unexplained"]
    unexplained = result.output.split("## Needs action", 1)[1].split("### Expected effects not seen")[0]
    assert "Leads APAC/partner" in unexplained
    assert "ctxmetrics annotate add 'Leads APAC/partner drop' --type other --start 2026-01-" in unexplained


def test_the_uniform_outage_reads_everywhere_alike(demo):
    root, result, data = demo
    outage = _find(data["anomalies"], "leads", {}, date(2025, 9, 3), "down")
    assert outage["uniform"] is True and outage["drivers"] == []
    block = result.output.split("**Sign-up form outage** (outage)", 1)[1].split("\n\n", 1)[0]
    assert "   - where: everywhere alike" in block


def test_the_partner_migration_is_the_one_apac_partner_cell(demo):
    root, result, data = demo
    partner = _find(data["anomalies"], "leads", {"channel": "partner"}, date(2026, 1, 19), "down")
    assert [d["segment"] for d in partner["drivers"]] == [{"region": "APAC", "channel": "partner"}]
    assert partner["drivers"][0]["share"] >= 0.9 and partner["uniform"] is False
    why = CliRunner().invoke(cli, ["--project", str(root), "why", "leads", "--segment", "channel=partner",
                                   "--since", partner["start"]])
    assert why.exit_code == 0, why.output
    assert f"  Where: APAC × partner ({100 * partner['drivers'][0]['share']:.0f}% of the change)" in why.output


def test_the_flopped_campaign_is_an_expected_effect_not_seen(demo):
    assert "apac-webinar-series" in [m["annotation_id"] for m in demo[2]["missing_effects"]]


def test_prints_the_digest_and_writes_html(demo):
    root, result, data = demo
    assert result.output.startswith("Created the demo project in")  # CliRunner mixes stderr in
    assert "# ctxmetrics digest: 2024-09-02 to 2026-02-28" in result.output
    assert f"**{len(data['events'])} business events from" in result.output
    html = (root / "digest.html").read_text(encoding="utf-8")
    assert html.count('<svg class="chart"') >= 10


def test_saved_query_runs_on_the_demo(demo):
    result = CliRunner().invoke(cli, ["--project", str(demo[0]), "query", "weekly_conversion", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["region"] for r in rows} == {"NA", "EMEA", "APAC"}
    assert all(0 < r["lead_to_mql"] < 1.5 for r in rows if r["leads"])


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("folder", ["annotations", "queries"])
def test_repository_folders_are_the_demo_organisation(demo, folder):
    """The repository's annotations/ and queries/ are exactly what `demo` writes: regenerate
    them with `python -c "from ctxmetrics.demo import write_scenario; write_scenario('.')"`."""
    assert _tree(REPO / folder) == _tree(demo[0] / folder)


def test_demo_refuses_an_existing_project(demo):
    result = CliRunner().invoke(cli, ["demo", str(demo[0])])
    assert result.exit_code == 1
    assert "already a project" in result.output


def test_the_briefing_has_one_item_per_business_event(demo):
    root, result, data = demo
    digest = result.output[result.output.index("# ctxmetrics digest"):]
    # The sign-up outage moved leads, MQL, SQL and opportunities: one item, with its funnel line.
    items = [line for line in digest.splitlines() if line[:1].isdigit() and "Sign-up form outage" in line]
    assert len(items) == 1
    assert "   - funnel: leads -85% → MQL -84% → SQL -82% → opportunities -82%" in digest
    outage = next(e for e in data["events"] if e["cause"] == "signup-form-outage")
    assert {data_id.split("|")[0] for data_id in outage["members"]} >= {"leads", "mql", "sql", "opportunities"}
    # The headline counts business events, not flags.
    assert f"**{len(data['events'])} business events from" in digest and len(data["events"]) < len(data["anomalies"])


def test_needs_action_first_and_recurring_holidays_below_the_unexpected(demo):
    _, result, data = demo
    digest = result.output
    assert digest.index("## Needs action") < digest.index("## Explained")
    explained = [e for e in data["events"] if e["explained"]]
    recurring = [e["recurring"] for e in explained]
    assert recurring == sorted(recurring) and any(recurring) and not all(recurring)
    section = digest.split("## Explained", 1)[1]
    assert section.index("Sales offsite (Lisbon)") < section.index("Christmas 2024")
