"""`recurring`, a field of the event-type table: the digest lists events of a recurring type
(holidays, built in) after the unexpected explained ones; a project marks its own types so
in ctxmetrics.yaml, or unmarks holiday."""
from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml
from click.testing import CliRunner

from ctxmetrics.cli import cli
from ctxmetrics.config import DEMO_CONFIG_TEXT, EVENT_TABLE, parse_config
from ctxmetrics.ingest.ingest import ingest_paths
from ctxmetrics.project import Project, init_project
from ctxmetrics.scan.scan import scan_project
from ctxmetrics.synth import Effect, generate_funnel

D = dt.date
TYPES = "event_types:\n  webinar: {usual_direction: up, temporary: true{recurring}}\n"


def _config(text: str, tmp_path):
    return parse_config(yaml.safe_load(text), tmp_path / "ctxmetrics.yaml")


def _invoke(root, *args):
    result = CliRunner().invoke(cli, ["--project", str(root), *map(str, args)])
    assert result.exit_code == 0, result.output
    return result


def test_holiday_is_the_built_in_recurring_type_and_a_project_changes_it(tmp_path):
    assert [name for name, t in EVENT_TABLE.items() if t.recurring] == ["holiday"]
    assert _config("{}", tmp_path).recurring_types == {"holiday"}
    config = _config("event_types:\n  payday: {recurring: true}\n  holiday: {recurring: false}\n", tmp_path)
    assert config.recurring_types == {"payday"}
    assert config.event_type("holiday").days_off  # the other fields stay


def test_a_recurring_flag_that_is_not_true_or_false_is_refused(tmp_path):
    root = init_project(tmp_path / "proj", DEMO_CONFIG_TEXT + "event_types:\n  payday: {recurring: yearly}\n")
    result = CliRunner().invoke(cli, ["--project", str(root), "annotate", "list"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "'event_types.payday.recurring' must be true or false, got 'yearly'." in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def two_events(tmp_path_factory):
    """A scanned project with two explained events: an NA rise of leads under a webinar
    (Jul 6-8) and an EMEA drop under an outage (Aug 11-12)."""
    root = init_project(tmp_path_factory.mktemp("recurring") / "proj", DEMO_CONFIG_TEXT + TYPES.replace("{recurring}", ""))
    effects = (
        Effect("leads", {"region": "NA"}, D(2025, 7, 6), D(2025, 7, 8), "spike", 0.85),
        Effect("leads", {"region": "EMEA"}, D(2025, 8, 11), D(2025, 8, 12), "spike", -0.85),
    )
    generate_funnel(5, days=270, effects=effects).frame.write_parquet(root / "data.parquet")
    for title, kind, start, end, region in (("NA webinar", "webinar", "2025-07-06", "2025-07-08", "NA"),
                                            ("EMEA outage", "outage", "2025-08-11", "2025-08-12", "EMEA")):
        _invoke(root, "annotate", "add", title, "--type", kind, "--start", start, "--end", end, "--scope", f"region={region}")
    with Project(root).store() as store:
        ingest_paths(store, [root / "data.parquet"])
    scan_project(Project(root), ["leads"])
    return root


def _explained(root) -> list[tuple[str, bool]]:
    events = json.loads(_invoke(root, "digest", "--format", "json").output)["events"]
    return [(e["title"], e["recurring"]) for e in events if e["explained"]]


def test_a_projects_own_recurring_type_goes_after_the_unexpected_as_holidays_do(two_events):
    config = two_events / "ctxmetrics.yaml"
    plain = _explained(two_events)
    assert sorted(plain) == [("EMEA outage", False), ("NA webinar", False)]
    # the more important one first; marking its type recurring moves it below the other
    first = plain[0][0]
    if first == "NA webinar":
        config.write_text(DEMO_CONFIG_TEXT + TYPES.replace("{recurring}", ", recurring: true"))
    else:
        config.write_text(DEMO_CONFIG_TEXT + TYPES.replace("{recurring}", "") + "  outage: {recurring: true}\n")
    marked = _explained(two_events)
    assert marked == [plain[1], (first, True)]
    markdown = _invoke(two_events, "digest").output
    assert markdown.index(plain[1][0]) < markdown.index(first)
