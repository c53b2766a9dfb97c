"""A metric renamed in the export between two ingests (`leads`, then `new_leads` from the
day after): the second file was stored as a new metric without a word, and scan judged two
half series. It is now said, naming the file and both names, with the two ways on
(`rename_columns` for a rename, listing the new metric for a new one); `--strict` refuses it
and writes nothing."""
from __future__ import annotations

import datetime as dt

from test_quarterly import invoke

FIRST = dt.date(2026, 1, 1)


def export(path, column, days):
    rows = [f"{FIRST + dt.timedelta(days=i)},{r},{40 + i % 5}" for i in days for r in ("EMEA", "NA")]
    path.write_text(f"date,region,{column}\n" + "\n".join(rows) + "\n")


def said(second):
    return (
        f"{second}: metric 'new_leads' is new and starts the day after 'leads', which the file does not hold, ends "
        "(2026-03-01): if it is leads renamed in the export, name it leads again (a column: rename_columns: "
        "{new_leads: leads} in ctxmetrics.yaml), or scan judges two half series; if it is a new metric, list it "
        "under 'metrics:' there."
    )


def renamed_project(tmp_path):
    """A project holding `leads` until Mar 1, and the export of the days after, where it is `new_leads`."""
    first, second, root = tmp_path / "part1.csv", tmp_path / "part2.csv", tmp_path / "p"
    export(first, "leads", range(60))
    export(second, "new_leads", range(60, 120))
    invoke("init", root, "--from", first)
    invoke("--project", root, "ingest", first)
    return root, second


def test_a_metric_renamed_between_two_ingests_is_said_and_strict_refuses_it(tmp_path):
    root, second = renamed_project(tmp_path)
    refused = invoke("--project", root, "ingest", second, "--strict", code=1).output
    assert refused == f"Error: {said(second)} (--strict refuses it.)\n"
    assert "new_leads" not in invoke("--project", root, "status").output
    config = root / "ctxmetrics.yaml"
    config.write_text(config.read_text() + "rename_columns: {new_leads: leads}\n")
    invoke("--project", root, "ingest", second, "--strict")
    assert "leads: daily, 240 rows, 2026-01-01 to 2026-04-30" in invoke("--project", root, "status").output


def test_the_rename_is_said_without_strict(tmp_path):
    root, second = renamed_project(tmp_path)
    assert f"Warning: {said(second)}\n" in invoke("--project", root, "ingest", second).output


def test_a_new_metric_listed_in_the_config_or_beside_a_known_one_is_read_without_a_word(tmp_path):
    first, second, both, root = tmp_path / "part1.csv", tmp_path / "part2.csv", tmp_path / "both.csv", tmp_path / "p"
    export(first, "leads", range(60))
    export(second, "trials", range(60, 120))
    invoke("init", root, "--from", first)
    invoke("--project", root, "ingest", first)
    config = root / "ctxmetrics.yaml"
    config.write_text(config.read_text().replace("metrics:\n", "metrics:\n  trials: {type: count}\n", 1))
    assert "Warning" not in invoke("--project", root, "ingest", second, "--strict").output
    export(both, "won", range(0, 120))  # a metric over days the stored ones have too: no rename
    assert "Warning" not in invoke("--project", root, "ingest", both, "--strict").output
