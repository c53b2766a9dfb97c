"""`lint_timeline`: every rule, every problem with file:line, all of them at once."""
from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from ctxmetrics.timeline.read import Problem, lint_timeline

TODAY = date(2026, 5, 1)


@pytest.fixture
def adir(tmp_path):
    return tmp_path / "annotations"


def lint(adir: Path, files: dict[str, str], metrics=None, dimensions=None, tz="UTC") -> list[str]:
    for name, text in files.items():
        path = adir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return [str(p).replace(f"{adir}/", "") for p in lint_timeline(adir, tz, metrics, dimensions, TODAY)]


def test_clean_timeline_has_no_problems(adir):
    assert lint(adir, {"a.yaml": "id: a\ntitle: A\ntype: campaign\nstart: 2026-04-01\nmetrics: [leads]\n"},
                metrics={"leads"}, dimensions={"region"}) == []


def test_missing_folder_has_no_problems(tmp_path):
    assert lint_timeline(tmp_path / "nowhere", "UTC", today=TODAY) == []


def test_unknown_key_suggests_the_closest(adir):
    assert lint(adir, {"a.yaml": "id: a\ntitle: A\ntyep: campaign\nstart: 2026-04-01\nfoo: 1\n"}) == [
        "a.yaml:1: missing required key 'type'.",
        "a.yaml:3: unknown key 'tyep' (did you mean 'type'?).",
        "a.yaml:5: unknown key 'foo'.",
    ]


def test_bad_dates(adir):
    assert lint(adir, {"a.yaml": """\
        - {id: a, title: A, type: other, start: 2026-02-30}
        - {id: b, title: B, type: other, start: 2026-01-01, end: next week}
        """}) == [
        "a.yaml:1: 'start' is not a valid date or datetime: '2026-02-30' (day is out of range for month); "
        "use 2026-03-01 or 2026-03-01T09:30:00+01:00.",
        "a.yaml:2: 'end' is not a valid date or datetime: 'next week' (Invalid isoformat string: 'next week'); "
        "use 2026-03-01 or 2026-03-01T09:30:00+01:00.",
    ]


def test_end_before_start(adir):
    assert lint(adir, {"a.yaml": """\
        - id: a
          title: A
          type: other
          start: 2026-03-05T10:00:00+01:00
          end: 2026-03-05T09:00:00+01:00
        - {id: b, title: B, type: other, start: 2026-03-05, end: 2026-03-05}
        """}) == ["a.yaml:5: 'end' 2026-03-05T09:00:00+01:00 is before 'start' 2026-03-05T10:00:00+01:00."]


def test_duplicate_ids_across_files(adir):
    assert lint(adir, {
        "a.yaml": "id: promo\ntitle: A\ntype: campaign\nstart: 2026-04-01\n",
        "b/b.yaml": "- {title: B, type: other, start: 2026-04-02}\n- {id: promo, title: C, type: other, start: 2026-04-03}\n",
    }) == ["b/b.yaml:2: duplicate id 'promo'; it is also used at a.yaml:1."]


def test_duplicate_generated_ids(adir):
    problems = lint(adir, {"a.yaml": "- {title: Promo, type: campaign, start: 2026-04-01}\n"
                                     "- {title: Promo, type: campaign, start: 2026-04-09}\n"})
    assert problems == ["a.yaml:2: duplicate id 'promo'; it is also used at a.yaml:1."]


def test_unknown_metric_and_dimension_names(adir):
    text = "id: a\ntitle: A\ntype: campaign\nstart: 2026-04-01\nmetrics: [laeds]\nscope: {regoin: [EMEA]}\n"
    assert lint(adir, {"a.yaml": text}, metrics={"leads", "mql"}, dimensions={"region", "channel"}) == [
        "a.yaml:1: unknown dimension 'regoin' (did you mean 'region'?); known: channel, region.",
        "a.yaml:1: unknown metric 'laeds' (did you mean 'leads'?); known: leads, mql.",
    ]


def test_names_are_not_checked_when_unknown(adir):
    text = "id: a\ntitle: A\ntype: campaign\nstart: 2026-04-01\nmetrics: [anything]\nscope: {any: [x]}\n"
    assert lint(adir, {"a.yaml": text}) == []


def test_open_event_older_than_30_days(adir):
    assert lint(adir, {"a.yaml": """\
        - {id: forgotten, title: F, type: outage, start: 2026-03-31, end: null}
        - {id: recent, title: R, type: outage, start: 2026-04-01, end: null}
        - {id: closed, title: C, type: outage, start: 2026-01-01, end: 2026-01-02}
        """}) == [
        "a.yaml:1: event 'forgotten' has been open for 31 days (since 2026-03-31); "
        "add an 'end:' or run 'ctxmetrics annotate end forgotten'."
    ]


def test_bad_values_and_shapes(adir):
    assert lint(adir, {"a.yaml": """\
        - {id: Bad Id, title: '', type: campain, start: 2026-04-01, expect: sideways, scope: [EMEA], metrics: {a: 1}}
        - just text
        """}) == [
        "a.yaml:1: 'expect' is 'sideways'; use one of up, down.",
        "a.yaml:1: 'id' 'Bad Id' is not a valid id; use lowercase letters, digits, '-', '_' or '.' (at most 100).",
        "a.yaml:1: 'metrics' must be a list of non-empty names, got {'a': '1'}.",
        "a.yaml:1: 'scope' must map dimensions to values, like {region: [EMEA]}, got ['EMEA'].",
        "a.yaml:1: 'title' must be non-empty text, got ''.",
        "a.yaml:1: 'type' is 'campain' (did you mean 'campaign'?); use one of campaign, offsite, outage, "
        "pricing, release, holiday, other.",
        "a.yaml:2: an event must be a mapping with keys like 'title:', 'type:' and 'start:'.",
    ]


def test_yaml_syntax_error_and_duplicate_key(adir):
    assert lint(adir, {
        "a.yaml": "- id: a\n  title: [unclosed\n",
        "b.yaml": "id: b\ntitle: B\ntitle: C\ntype: other\nstart: 2026-04-01\n",
        "c.yaml": "just a string\n",
    }) == [
        "a.yaml:3: not valid YAML: expected ',' or ']', but got '<stream end>'.",
        "b.yaml:3: key 'title' is given twice in this event.",
        "c.yaml:1: a timeline file must hold one event (a mapping) or a list of events.",
    ]


def test_reports_all_problems_of_all_files_in_order(adir):
    problems = lint(adir, {
        "z.yaml": "id: z\ntitle: Z\ntype: other\nstart: bad\n",
        "a.yaml": "- {id: a, title: A, type: other, start: 2026-04-01, ownr: me}\n- {id: a2, title: A, type: x, start: 2026-04-01}\n",
    })
    assert [p.split(":")[:2] for p in problems] == [["a.yaml", "1"], ["a.yaml", "2"], ["z.yaml", "4"]]


def test_hidden_and_non_yaml_files_are_skipped(adir):
    assert lint(adir, {".git/x.yaml": "broken: [", "notes.txt": "broken: [", ".a.yaml.tmp": "x"}) == []


def test_problem_str():
    assert str(Problem(Path("a.yaml"), 3, "boom.")) == "a.yaml:3: boom."
    assert str(Problem(Path("a.yaml"), None, "boom.")) == "a.yaml: boom."
