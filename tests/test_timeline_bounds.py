"""Hand-typed dates and scopes that would make a timeline no scan can use: refused when
tagged, and reported by lint, naming the file and line."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "9999-12-31", "2201-01-01T09:00"])
def test_a_date_outside_any_data_is_refused_and_nothing_is_written(project_dir, run, day):
    result = run("annotate", "add", "Typo year", "--type", "campaign", "--start", day)
    assert result.exit_code == 1, result.output
    assert "'start'" in result.output and "1900" in result.output and "Traceback" not in result.output
    assert not list((project_dir / "annotations").rglob("*.yaml"))


def test_lint_names_the_line_of_a_date_outside_any_data(project_dir, run):
    (project_dir / "annotations" / "hand.yaml").write_text(
        "- id: far-future\n  title: Far\n  type: campaign\n  start: 2026-01-05\n  end: 9999-12-31\n", encoding="utf-8"
    )
    result = run("annotate", "lint")
    assert result.exit_code == 1
    assert "hand.yaml:5: 'end'" in result.output and "1900" in result.output, result.output


def test_the_edges_of_the_range_are_accepted(project_dir, run):
    assert run("annotate", "add", "Old", "--type", "other", "--start", "1900-01-01").exit_code == 0
    assert run("annotate", "add", "Late", "--type", "other", "--start", "2200-12-31").exit_code == 0


@pytest.fixture
def with_regions(project_dir, run):
    rows = "".join(f"2026-01-{day:02d},leads,{10 + day},{region},paid\n" for day in range(1, 29) for region in ("NA", "EMEA"))
    (project_dir / "leads.csv").write_text("date,metric,value,region,channel\n" + rows, encoding="utf-8")
    assert run("ingest", project_dir / "leads.csv").exit_code == 0
    return project_dir


def test_a_scope_value_no_data_has_is_refused_with_the_close_one(with_regions, run):
    result = run("annotate", "add", "Promo", "--type", "campaign", "--start", "2026-01-10", "--scope", "region=emea")
    assert result.exit_code == 1, result.output
    assert "Unknown region value 'emea' (did you mean 'EMEA'?)" in result.output and "Nothing was written" in result.output
    assert not list((with_regions / "annotations").rglob("*.yaml"))
    assert run("annotate", "add", "Promo", "--type", "campaign", "--start", "2026-01-10",
               "--scope", "region=EMEA").exit_code == 0


def test_lint_names_the_event_whose_scope_value_is_a_typo(with_regions, run):
    (with_regions / "annotations" / "hand.yaml").write_text(
        "- id: promo\n  title: Promo\n  type: campaign\n  start: 2026-01-05\n  scope: {region: [EMAE]}\n",
        encoding="utf-8",
    )
    result = run("annotate", "lint")
    assert result.exit_code == 1
    assert "hand.yaml:1: unknown region value 'EMAE' (did you mean 'EMEA'?); known: EMEA, NA." in result.output, result.output


def test_a_segment_the_data_does_not_have_yet_is_kept_with_a_note(with_regions, run):
    # a region being launched: no typo of a stored one, so tagging it ahead is allowed
    result = run("annotate", "add", "LATAM launch", "--type", "release", "--start", "2026-02-01",
                 "--scope", "region=LATAM")
    assert result.exit_code == 0, result.output
    assert "no stored data has region 'LATAM' yet" in result.output
    assert len(list((with_regions / "annotations").rglob("*.yaml"))) == 1
    assert run("annotate", "lint").exit_code == 0


def test_a_tab_and_a_list_for_a_date_are_named_for_what_they_are(project_dir, run):
    folder = project_dir / "annotations"
    (folder / "tab.yaml").write_text("- id: t\n  title: T\n\ttype: campaign\n  start: 2026-01-05\n", encoding="utf-8")
    (folder / "list.yaml").write_text("- id: l\n  title: L\n  type: campaign\n  start: [2026-01-05]\n", encoding="utf-8")
    result = run("annotate", "lint")
    assert "tab.yaml:3: not valid YAML: a tab character; YAML is indented with spaces" in result.output, result.output
    assert "list.yaml:4: 'start' must be a date or datetime, not a list: ['2026-01-05']" in result.output, result.output
