"""Event types declared or overridden under `event_types:` in ctxmetrics.yaml: the project's
table, the commands that read it, linking by a declared type and the scan's known days."""
from __future__ import annotations

import datetime as dt
import re
import shutil

import pytest
import yaml
from click.testing import CliRunner

from ctxmetrics.cli import cli
from ctxmetrics.config import DEMO_CONFIG_TEXT, EVENT_TABLE, EventWindow, parse_config
from ctxmetrics.ingest.ingest import ingest_paths
from ctxmetrics.project import Project, init_project
from ctxmetrics.scan.scan import scan_project
from ctxmetrics.store.results import load_series_anomalies
from ctxmetrics.synth import Effect, generate_funnel

D = dt.date
WEBINAR = "event_types:\n  webinar: {lead: 1, lag: 7, usual_direction: up, temporary: true, days_off: false, intended: true}\n"


def _config(text: str, tmp_path):
    return parse_config(yaml.safe_load(text), tmp_path / "ctxmetrics.yaml")


def _invoke(root, *args):
    return CliRunner().invoke(cli, ["--project", str(root), *map(str, args)])


def test_a_new_type_takes_other_s_values_for_the_fields_it_leaves_out(tmp_path):
    config = _config("event_types:\n  conference: {lag: 10, usual_direction: up}\n", tmp_path)
    other = EVENT_TABLE["other"]
    conference = config.event_type("conference")
    assert conference.window == EventWindow(lead=other.window.lead, lag=10)
    assert conference.usual_direction == "up"
    assert (conference.temporary, conference.days_off, conference.intended) == (other.temporary, other.days_off, other.intended)


def test_a_built_in_override_changes_only_the_fields_given(tmp_path):
    config = _config("event_types:\n  holiday: {lag: 2, days_off: false}\n", tmp_path)
    holiday, default = config.event_type("holiday"), EVENT_TABLE["holiday"]
    assert holiday.window == EventWindow(lead=default.window.lead, lag=2)
    assert (holiday.usual_direction, holiday.temporary) == (default.usual_direction, default.temporary)
    assert not holiday.days_off
    assert "holiday" not in config.days_off_types and "outage" in config.days_off_types


def test_explain_windows_still_sets_a_built_in_window(tmp_path):
    config = _config("explain:\n  windows:\n    campaign: {lead: 5, lag: 30}\n", tmp_path)
    assert config.event_type("campaign").window == EventWindow(lead=5, lag=30)
    assert config.event_type("campaign").usual_direction == "up"


@pytest.mark.parametrize("text, message", [
    ("event_types: [webinar]\n", "'event_types' must be a mapping"),
    ("event_types:\n  webinar: {lagg: 3}\n", "unknown key 'lagg' in 'event_types.webinar'; allowed: days_off, intended, lag, lead"),
    ("event_types:\n  webinar: {lead: -1}\n", "'event_types.webinar.lead' must be a whole number of days, 0 or more, got -1."),
    ("event_types:\n  webinar: {lag: 1.5}\n", "'event_types.webinar.lag' must be a whole number of days, 0 or more, got 1.5."),
    ("event_types:\n  webinar: {lag: true}\n", "'event_types.webinar.lag' must be a whole number of days, 0 or more, got True."),
    ("event_types:\n  webinar: {usual_direction: sideways}\n", "'event_types.webinar.usual_direction' must be up, down or null, got 'sideways'."),
    ("event_types:\n  webinar: {days_off: maybe}\n", "'event_types.webinar.days_off' must be true or false, got 'maybe'."),
    ("event_types:\n  webinar: 7\n", "'event_types.webinar' must be a mapping"),
    ("event_types:\n  Webinar: {}\n", "'event_types.Webinar': an event type name must be a lowercase slug"),
    ("event_types:\n  2day: {}\n", "'event_types.2day': an event type name must be a lowercase slug"),
    ("event_types:\n  team offsite: {}\n", "'event_types.team offsite': an event type name must be a lowercase slug"),
    ("event_types:\n  holiday: {days_off: false}\nexplain:\n  windows:\n    holiday: {lead: 0, lag: 2}\n",
     "event type 'holiday' is set both in 'event_types' and in 'explain.windows'"),
    ("event_types:\n  webinar: {}\nexplain:\n  windows:\n    webinar: {lead: 0, lag: 2}\n",
     "event type 'webinar' is set both in 'event_types' and in 'explain.windows'"),
])
def test_bad_event_types_are_refused_in_one_line_naming_the_file_and_key(project_dir, text, message):
    config = project_dir / "ctxmetrics.yaml"
    # the demo's own explain: block gives way to the case's (a key given twice is refused on its own)
    base = re.sub(r"\nexplain:\n(?:[ #].*\n|\n)*", "\n", DEMO_CONFIG_TEXT) if "explain:" in text else DEMO_CONFIG_TEXT
    config.write_text(base + text)
    result = _invoke(project_dir, "annotate", "list")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {config}: ")
    assert result.output.count("\n") == 1 and "Traceback" not in result.output  # one line
    assert message in result.output


def test_annotate_add_takes_a_declared_type_in_any_case(run, project_dir):
    (project_dir / "ctxmetrics.yaml").write_text(DEMO_CONFIG_TEXT + WEBINAR)
    added = run("annotate", "add", "Growth webinar", "--type", "WEBINAR", "--start", "2025-03-04")
    assert added.exit_code == 0, added.output
    listed = run("annotate", "list", "--type", "Webinar", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(e["id"], e["type"]) for e in yaml.safe_load(listed.output)] == [("growth-webinar", "webinar")]


def test_annotate_refuses_a_type_the_project_does_not_declare(run, project_dir):
    (project_dir / "ctxmetrics.yaml").write_text(DEMO_CONFIG_TEXT + WEBINAR)
    result = run("annotate", "add", "Kick-off", "--type", "conference", "--start", "2025-03-04")
    assert result.exit_code == 2
    assert "Invalid value for '--type': 'conference' is not one of 'campaign', 'offsite'" in result.output
    assert "'other', 'webinar'." in result.output
    assert not list((project_dir / "annotations").rglob("*.yaml"))
    assert "declared under event_types in ctxmetrics.yaml" in " ".join(run("annotate", "add", "--help").output.split())


def test_a_yaml_event_of_an_undeclared_type_is_refused_with_file_and_line(run, project_dir):
    (project_dir / "ctxmetrics.yaml").write_text(DEMO_CONFIG_TEXT + WEBINAR)
    path = project_dir / "annotations" / "events.yaml"
    path.write_text("- {title: Talk, type: webinar, start: 2025-03-04}\n- {title: Expo, type: conference, start: 2025-03-05}\n")
    result = run("annotate", "list")
    assert result.exit_code == 1
    assert f"{path}:2: 'type' is 'conference'" in result.output
    assert "use one of campaign, offsite, outage, pricing, release, holiday, other, webinar." in result.output


@pytest.fixture(scope="module")
def webinars(tmp_path_factory):
    """A scanned project declaring `webinar` (usual direction up): an NA webinar during an
    NA rise of leads (Jul 6-8) and an EMEA webinar around an EMEA drop (Aug 11-12)."""
    root = init_project(tmp_path_factory.mktemp("evt") / "proj", DEMO_CONFIG_TEXT + WEBINAR)
    effects = (
        Effect("leads", {"region": "NA"}, D(2025, 7, 6), D(2025, 7, 8), "spike", 0.85),
        Effect("leads", {"region": "EMEA"}, D(2025, 8, 11), D(2025, 8, 12), "spike", -0.85),
    )
    generate_funnel(5, days=270, effects=effects).frame.write_parquet(root / "data.parquet")
    for title, start, end, region in (("NA webinar", "2025-07-06", "2025-07-08", "NA"),
                                      ("EMEA webinar", "2025-08-10", "2025-08-13", "EMEA")):
        added = _invoke(root, "annotate", "add", title, "--type", "webinar", "--start", start, "--end", end,
                        "--scope", f"region={region}")
        assert added.exit_code == 0, added.output
    project = Project(root)
    with project.store() as store:
        ingest_paths(store, [root / "data.parquet"])
    scan_project(project, ["leads"])
    return root


def test_why_links_a_declared_type_in_its_usual_direction_only(webinars):
    rise = _invoke(webinars, "why", "leads", "--segment", "region=NA", "--on", "2025-07-07")
    assert rise.exit_code == 0, rise.output
    assert "1. NA webinar (webinar, na-webinar)" in rise.output
    assert "expected up, went up" in rise.output
    drop = _invoke(webinars, "why", "leads", "--segment", "region=EMEA", "--on", "2025-08-11")
    assert drop.exit_code == 0, drop.output
    assert drop.output.startswith("Leads EMEA -")
    assert "EMEA webinar" not in drop.output and "No known context." in drop.output


def test_a_declared_window_bounds_what_the_type_explains(webinars, tmp_path):
    """A one-day webinar two days before the rise explains it while its lag reaches the
    rise's start (7 days), and not once the lag is 1 day."""
    root = shutil.copytree(webinars, tmp_path / "proj")
    moved = _invoke(root, "annotate", "edit", "na-webinar", "--start", "2025-07-04", "--end", "2025-07-04")
    assert moved.exit_code == 0, moved.output
    scan_project(Project(root), ["leads"])
    within = _invoke(root, "why", "leads", "--segment", "region=NA", "--on", "2025-07-07")
    assert "1. NA webinar (webinar, na-webinar)" in within.output
    config = root / "ctxmetrics.yaml"
    config.write_text(config.read_text().replace("lag: 7", "lag: 1"))
    scan_project(Project(root), ["leads"])
    beyond = _invoke(root, "why", "leads", "--segment", "region=NA", "--on", "2025-07-07")
    assert beyond.exit_code == 0, beyond.output
    assert "NA webinar" not in beyond.output and "No known context." in beyond.output


def _emea_drop(project: Project):
    with project.store(read_only=True) as store:
        found = load_series_anomalies(store, "leads", "region=EMEA", D(2025, 8, 11), D(2025, 8, 12))
    assert len(found) == 1
    return found[0]


def test_overriding_days_off_changes_what_the_scan_leaves_out_of_the_baseline(tmp_path):
    """A holiday's days are left out of the baseline and noise: scored against the rest, the
    EMEA drop it covers stands out more than when `holiday: {days_off: false}` counts them."""
    root = init_project(tmp_path / "proj", DEMO_CONFIG_TEXT)
    effect = Effect("leads", {"region": "EMEA"}, D(2025, 8, 11), D(2025, 8, 12), "spike", -0.85)
    generate_funnel(5, days=270, effects=(effect,)).frame.write_parquet(root / "data.parquet")
    added = _invoke(root, "annotate", "add", "EMEA closure", "--type", "holiday", "--start", "2025-08-11",
                    "--end", "2025-08-12", "--scope", "region=EMEA")
    assert added.exit_code == 0, added.output
    with Project(root).store() as store:
        ingest_paths(store, [root / "data.parquet"])
    first = scan_project(Project(root), ["leads"])
    left_out = _emea_drop(Project(root))
    assert scan_project(Project(root), ["leads"]).rescanned == 0

    (root / "ctxmetrics.yaml").write_text(DEMO_CONFIG_TEXT + "event_types:\n  holiday: {days_off: false}\n")
    again = scan_project(Project(root), ["leads"])
    counted = _emea_drop(Project(root))
    assert 0 < again.rescanned < first.series  # the series the holiday covers, not NA's or APAC's
    assert counted.score < left_out.score
