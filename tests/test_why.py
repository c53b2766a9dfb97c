"""`ctxmetrics why` through click's CliRunner, on a small scanned synthetic project."""
from __future__ import annotations

import datetime as dt
import json
import shlex
import shutil

import pytest
from click.testing import CliRunner

from ctxmetrics.cli import cli
from ctxmetrics.ingest.ingest import ingest_paths
from ctxmetrics.config import DEMO_CONFIG_TEXT
from ctxmetrics.project import Project, init_project
from ctxmetrics.store.results import load_series_anomalies
from ctxmetrics.scan.scan import scan_project
from ctxmetrics.synth import Effect, generate_funnel
from ctxmetrics.timeline.write import add_annotation

D = dt.date


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """Tagged EMEA campaign (leads +80%, May 4-17), untagged drops in NA (Jul 6-8) and EMEA (Aug 11-12)."""
    root = init_project(tmp_path_factory.mktemp("why") / "proj", DEMO_CONFIG_TEXT)
    effects = (
        Effect("leads", {"region": "EMEA"}, D(2025, 5, 4), D(2025, 5, 17), "spike", 0.8),
        Effect("leads", {"region": "NA"}, D(2025, 7, 6), D(2025, 7, 8), "spike", -0.85),
        Effect("leads", {"region": "EMEA"}, D(2025, 8, 11), D(2025, 8, 12), "spike", -0.85),
    )
    generate_funnel(5, days=270, effects=effects).frame.write_parquet(root / "data.parquet")
    add_annotation(root / "annotations", id="emea-promo", title="EMEA spring promo", type="campaign",
                   start="2025-05-04", end="2025-05-17", scope={"region": ["EMEA"]}, metrics=["leads"])
    add_annotation(root / "annotations", id="emea-webinar", title="EMEA webinar", type="campaign",
                   start="2025-05-05", end="2025-05-17", scope={"region": ["EMEA"]})
    project = Project(root)
    with project.store() as store:
        ingest_paths(store, [root / "data.parquet"])
    scan_project(project)
    return root


@pytest.fixture
def project(scanned, tmp_path):
    """A private copy, so that verdicts and new annotations do not leak between tests."""
    return shutil.copytree(scanned, tmp_path / "proj")


def run(project, *args):
    return CliRunner().invoke(cli, ["--project", str(project), *map(str, args)], catch_exceptions=False)


def test_text_names_causes_reasons_drivers_and_funnel(project):
    result = run(project, "why", "leads", "--segment", "region=EMEA", "--on", "2025-05-10")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("Leads EMEA +")
    assert "from May 4 to May 17, 2025 (temporary shift)" in out.splitlines()[0]
    assert "Likely causes:\n    1. EMEA spring promo (campaign, emea-promo)" in out
    assert "scope region=EMEA matches exactly; lists leads; expected up, went up" in out
    assert "  Where: " in out
    assert "Funnel: leads moved first" in out
    assert "No known context." not in out


def test_unexplained_prints_the_command_that_tags_it_and_it_works(project):
    result = run(project, "why", "leads", "--segment", "region=NA", "--on", "2025-07-07")
    assert result.exit_code == 0, result.output
    assert "No known context." in result.output
    command = result.output.strip().splitlines()[-1].strip()
    assert command.startswith("ctxmetrics annotate add 'Leads NA drop' --type other --start 2025-07-06")
    assert "--scope region=NA --metric leads --expect down" in command
    tagged = run(project, *shlex.split(command)[1:])
    assert tagged.exit_code == 0, tagged.output
    scan_project(Project(project))
    after = run(project, "why", "leads", "--segment", "region=NA", "--on", "2025-07-07")
    assert "No known context." not in after.output and "Leads NA drop (other" in after.output


def test_json_prints_the_anomaly_objects(project):
    result = run(project, "why", "leads", "--segment", "region=EMEA", "--since", "2025-05-01", "--until", "2025-05-31", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == ["anomalies"] and data["anomalies"]
    first = data["anomalies"][0]
    assert first["id"] == f"leads|region=EMEA|{first['start']}"
    assert {"causes", "drivers", "correlated", "funnel", "change_pct", "kind"} <= set(first)
    assert first["causes"][0]["annotation_id"] == "emea-promo" and 0 < first["causes"][0]["score"] <= 1


def test_no_anomaly_in_the_window_says_so_and_points_elsewhere(project):
    result = run(project, "why", "leads", "--segment", "region=APAC", "--on", "2025-05-10")
    assert result.exit_code == 0
    assert result.output.startswith("No anomalies in leads APAC on 2025-05-10.")
    # the total, EMEA and its cells were all flagged: one change, in one place
    assert "\nWhere leads changed then: EMEA (" in result.output and "," not in result.output.splitlines()[1]


def test_json_with_no_anomaly_lists_where_the_changes_are(project):
    result = run(project, "why", "leads", "--segment", "region=APAC", "--on", "2025-05-10", "--json")
    data = json.loads(result.output)
    assert data["anomalies"] == [] and [p["segment"] for p in data["elsewhere"]] == [{"region": "EMEA"}]
    assert data["elsewhere"][0]["anomalies"] > 1


def test_the_emea_campaign_sits_in_emea_and_the_total_says_so(project):
    result = run(project, "why", "leads", "--on", "2025-05-10", "--json")
    total = json.loads(result.output)["anomalies"][0]
    assert total["segment"] == {} and total["uniform"] is False
    assert total["drivers"][0]["segment"] == {"region": "EMEA"} and total["drivers"][0]["share"] >= 0.8
    assert f"  Where: EMEA ({100 * total['drivers'][0]['share']:.0f}% of the change)" in run(
        project, "why", "leads", "--on", "2025-05-10").output


def test_names_in_another_letter_case_are_the_stored_ones(project):
    """The digest writes `Leads EMEA`; a user types `why Leads`: the one name that differs only
    in case is meant (it was refused with "did you mean 'leads'?")."""
    asked = run(project, "why", "Leads", "--segment", "Region=emea", "--on", "2025-05-10", "--json")
    assert asked.exit_code == 0, asked.output
    assert asked.output == run(project, "why", "leads", "--segment", "region=EMEA", "--on", "2025-05-10", "--json").output
    assert json.loads(asked.output)["anomalies"][0]["segment"] == {"region": "EMEA"}
    assert run(project, "why", "LEADS", "--on", "2025-05-10").output.startswith("Leads total")


@pytest.mark.parametrize("args, code, message", [
    # each named the known names but not the one meant
    (["why", "leadz"], 1, "Error: Unknown metric 'leadz' (did you mean 'leads'?); known metrics: lead_to_mql, leads, mql"),
    (["why", "leads", "--segment", "regoin=NA"], 1,
     "Error: 'regoin' is not a dimension of the store (did you mean 'region'?); dimensions: region, channel."),
    (["why", "leads", "--segment", "region=EMAE"], 1,
     "Error: leads has no series region=EMAE (did you mean 'EMEA'?); values of region: APAC, EMEA, NA."),
    (["why", "leads", "--segment", "region=Mars"], 1, "Error: leads has no series region=Mars; values of region: APAC, EMEA, NA."),
    (["why", "Leadz"], 1, "Error: Unknown metric 'Leadz' (did you mean 'leads'?)"),
    (["why", "leads", "--segment", "region"], 2, "'region' is not of the form dimension=value"),
    (["why", "leads", "--on", "2025-05-10", "--since", "2025-05-01"], 2, "use either --on or --since/--until"),
    (["why", "leads", "--on", "10/05/2025"], 2, "Invalid value for '--on'"),
    (["why", "leads", "--confirm", "a", "--reject", "b"], 2, "use either --confirm or --reject"),
    # a day outside the data said "No anomalies ... on 2030-01-01. Where leads changed then: ..."
    (["why", "leads", "--on", "2030-01-01"], 1, "Error: --on 2030-01-01 is after the last day of data (2025-"),
    (["why", "leads", "--until", "2001-01-31"], 1, "Error: --until 2001-01-31 is before the first day of data (2025-"),
])
def test_errors(project, args, code, message):
    result = run(project, *args)
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output


def test_before_any_scan_it_says_to_run_scan(tmp_path):
    root = init_project(tmp_path / "fresh", DEMO_CONFIG_TEXT)
    result = run(root, "why", "leads")
    assert result.exit_code == 1
    assert result.output == "Error: No scan results yet in ctxmetrics.duckdb; run 'ctxmetrics scan' first.\n"


def _stored(project, segment_key):
    with Project(project).store(read_only=True) as store:
        return load_series_anomalies(store, "leads", segment_key)


def test_reject_and_confirm_are_honoured_by_the_next_scan(project):
    day = D(2025, 5, 10)
    before = [a for a in _stored(project, "region=EMEA") if a.start <= day and (a.end is None or day <= a.end)][0]
    assert [c.annotation_id for c in before.causes][:1] == ["emea-promo"]

    rejected = run(project, "why", "leads", "--segment", "region=EMEA", "--on", "2025-05-10", "--reject", "emea-promo")
    assert rejected.exit_code == 0, rejected.output
    assert rejected.output.startswith("Recorded: 'EMEA spring promo' rejected as the cause of Leads EMEA")
    confirmed = run(project, "why", "leads", "--segment", "region=EMEA", "--on", "2025-05-10", "--confirm", "emea-webinar")
    assert confirmed.exit_code == 0, confirmed.output
    shown = run(project, "why", "leads", "--segment", "region=EMEA", "--on", "2025-05-10").output
    assert "1. EMEA webinar (campaign, emea-webinar) — 1.00 [confirmed]" in shown
    assert "emea-promo" not in shown

    scan_project(Project(project))
    after = [a for a in _stored(project, "region=EMEA") if a.id == before.id][0]
    assert after.causes[0].annotation_id == "emea-webinar" and after.causes[0].verdict == "confirmed"
    assert "emea-promo" not in [c.annotation_id for c in after.causes]


def test_verdict_needs_exactly_one_anomaly_and_a_known_event(project):
    wide = run(project, "why", "leads", "--segment", "region=EMEA", "--confirm", "emea-promo")
    assert wide.exit_code == 1 and "2 anomalies of leads EMEA (starting 2025-05-04, 2025-08-11)" in wide.output and "narrow it to one with --on DAY" in wide.output
    none = run(project, "why", "leads", "--segment", "region=APAC", "--on", "2025-05-10", "--confirm", "emea-promo")
    assert none.exit_code == 1 and "No anomaly of leads APAC on 2025-05-10" in none.output
    unknown = run(project, "why", "leads", "--segment", "region=EMEA", "--on", "2025-05-10", "--confirm", "nope")
    assert unknown.exit_code == 1 and "Error: No annotation with id 'nope'" in unknown.output


def test_why_never_imports_the_detector():
    import subprocess
    import sys

    code = (
        "import sys; from ctxmetrics.cli import cli; import ctxmetrics.report.why; "
        "bad = [m for m in ('ruptures', 'scipy', 'numpy', 'polars', 'ctxmetrics.scan.scan', 'ctxmetrics.store.series', "
        "'ctxmetrics.detect', 'ctxmetrics.timeline.read') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_read_only_commands_never_load_the_compiled_kernels(project):
    """`why`, `query` and `annotate list` answer from stored results: numba (the detector's
    compiled kernels, seconds to import and load) stays out of their process."""
    import subprocess
    import sys

    code = (
        "import sys; from ctxmetrics.cli import cli\n"
        f"for args in (['why', 'leads', '--segment', 'region=EMEA', '--on', '2025-05-10'], ['annotate', 'list'],\n"
        "             ['query', 'select count(*) from observations']):\n"
        f"    cli.main(['--project', {str(project)!r}, *args], standalone_mode=False)\n"
        "print([m for m in ('numba', 'llvmlite', 'ctxmetrics.detect.kernels') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "[]"


def test_a_gauge_without_a_percentage_reads_up_and_has_no_per_day_unit(log_gauge_project):
    # Was "Logvals total +nan% from Jun 1 ..." and "-1.5/day before": a level of log values
    # has no percentage change and is not an amount per day.
    result = run(log_gauge_project, "why", "logvals", "--on", "2025-06-02")
    assert result.exit_code == 0
    head, levels = result.stdout.splitlines()[:2]
    assert head == "Logvals total up from Jun 1 to Jun 4, 2025 (spike)"
    assert levels.startswith("  -1.5 before, 1.5 during; ")
    assert "nan" not in result.stdout and "/day" not in result.stdout



def test_a_declared_metric_without_data_is_not_reported_as_checked(project):
    # Was "No anomalies in r total.": a ratio whose numerator never came in was never scanned.
    config = project / "ctxmetrics.yaml"
    text = config.read_text()
    config.write_text(text.replace("metrics:\n", "metrics:\n  r: {type: ratio, numerator: nosuch, denominator: leads}\n", 1))
    result = run(project, "why", "r")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "Error: Metric 'r' was not scanned: no data for nosuch.\n"
