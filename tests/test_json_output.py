"""JSON output is always valid JSON: a number that is not finite prints as null, with a
note on stderr, never as Python's `NaN`/`Infinity` tokens that other parsers reject.
(`query --json` is tested in test_query.py.)"""
from __future__ import annotations

import datetime as dt
import json

from click.testing import CliRunner

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.cli import cli
from ctxmetrics.project import Project


def strict_json(text: str):
    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_why_json_prints_an_infinite_change_as_null(project_dir):
    """A series that rose from a level of 0 has an infinite change_pct (detect.py)."""
    rise = Anomaly("leads", {}, "level_shift", "up", dt.date(2026, 3, 2), None, 0.0, 40.0, float("inf"), 9.0, 20.0)
    with Project(project_dir).store() as store:
        store.con.execute(
            "insert into anomalies (id, metric, segment_key, segment, kind, direction, start_day, end_day, before,"
            " after, change_pct, score, volume, explained, data) values (?, ?, '', '{}', ?, ?, ?, null, ?, ?, ?, ?, ?,"
            " false, ?)",
            [rise.id, rise.metric, rise.kind, rise.direction, rise.start, rise.before, rise.after, rise.change_pct,
             rise.score, rise.volume, json.dumps(rise.to_json())],
        )
    result = CliRunner().invoke(cli, ["--project", str(project_dir), "why", "leads", "--json"])
    assert result.exit_code == 0, result.output
    (shown,) = strict_json(result.stdout)["anomalies"]
    assert shown["change_pct"] is None and shown["after"] == 40.0
    assert result.stderr == "note: 1 NaN or infinite value shown as null.\n"

