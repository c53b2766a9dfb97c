"""`query`: inline and saved SQL, --param, the output formats and --parquet."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from ctxmetrics.errors import CtxError
from ctxmetrics.project import Project

DATA = "date,metric,value,region\n2026-03-01,leads,10,EMEA\n2026-03-02,leads,12,EMEA\n2026-03-01,mql,3,NA\n"


@pytest.fixture
def loaded(run, project_dir):
    data = project_dir / "data.csv"
    data.write_text(DATA)
    assert run("ingest", data).exit_code == 0
    return project_dir


def test_param_binds_a_value(run, loaded):
    result = run("query", "select sum(value) as total from observations where metric = $m", "--param", "m=leads", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"total": 22.0}]


def test_param_must_be_name_equals_value(run, loaded):
    result = run("query", "select $m", "--param", "m")
    assert result.exit_code == 2
    assert "'m' is not NAME=VALUE." in result.stderr


def test_a_param_the_sql_does_not_have_is_named(run, loaded):
    # Was DuckDB's "Parameter/argument count mismatch for prepared statement. Expected 0, got 1".
    result = run("query", "select count(*) as n from observations", "--param", "m=leads")
    assert (result.exit_code, result.stderr) == (1, "Error: query failed: a value is given for $m, but the SQL has no $m.\n")


def test_saved_query_with_param_as_csv(run, loaded):
    (loaded / "queries" / "by_region.sql").write_text(
        "-- Total of one metric per region\n"
        "select region, sum(value) as total from observations where metric = $metric group by 1 order by 1\n"
    )
    result = run("query", "by_region", "--param", "metric=leads", "--csv")
    assert result.exit_code == 0, result.output
    assert result.stdout == "region,total\nEMEA,22.0\n"


def test_unknown_saved_query_lists_the_known_ones(run, loaded):
    (loaded / "queries" / "weekly.sql").write_text("select 1\n")
    result = run("query", "weekly_typo")
    assert result.exit_code == 1
    assert result.stderr == f"Error: No query named 'weekly_typo' in {loaded / 'queries'}. Saved queries: weekly.\n"


@pytest.mark.parametrize("saved", ["", "  \n", "-- to do: count the leads\n"])
def test_an_empty_saved_query_is_one_clear_line(run, loaded, saved):
    # Was "internal error: AttributeError: 'NoneType' object has no attribute 'description'".
    (loaded / "queries" / "draft.sql").write_text(saved)
    result = run("query", "draft")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "Error: the query is empty: there is no SQL statement to run.\n"


def test_one_output_format_at_a_time(run, loaded, tmp_path):
    result = run("query", "select 1", "--json", "--parquet", tmp_path / "x.parquet")
    assert result.exit_code == 2
    assert "Use just one of --json, --csv or --parquet." in result.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_json_has_no_nan_or_infinity_tokens(run, loaded):
    result = run("query", "select 'nan'::double as a, 'inf'::double as b, -'inf'::double as c, 1.5 as d", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"a": None, "b": None, "c": None, "d": 1.5}]
    for token in ("NaN", "Infinity"):
        assert token not in result.stdout
    assert result.stderr == "note: 3 NaN or infinite values shown as null.\n"


def test_nested_nan_is_null_too(run, loaded):
    result = run("query", "select [1.0, 'nan'::double] as xs, {'y': 'inf'::double} as s", "--json")
    assert json.loads(result.stdout) == [{"xs": [1.0, None], "s": {"y": None}}]
    assert result.stderr == "note: 2 NaN or infinite values shown as null.\n"


def test_parquet_writes_the_named_file(run, loaded, tmp_path):
    target = tmp_path / "export" / "leads.parquet"
    target.parent.mkdir()
    result = run("query", "select metric, ts, value from observations where metric = $m order by ts",
                 "--param", "m=leads", "--parquet", target)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Wrote 2 rows to {target}.\n"
    table = pq.read_table(target)
    assert table.column_names == ["metric", "ts", "value"]
    assert table.column("value").to_pylist() == [10.0, 12.0]
    assert sorted(os.listdir(target.parent)) == ["leads.parquet"]  # no partial file left behind


def test_parquet_replaces_an_existing_file(run, loaded, tmp_path):
    target = tmp_path / "out.parquet"
    target.write_bytes(b"old")
    assert run("query", "select 1 as x", "--parquet", target).exit_code == 0
    assert pq.read_table(target).to_pylist() == [{"x": 1}]


def test_parquet_refuses_the_store_and_missing_folders(run, loaded, tmp_path):
    store = Project(loaded).store_path
    before = store.read_bytes()
    result = run("query", "select 1 as x", "--parquet", store)
    assert result.exit_code == 1
    assert result.stderr == f"Error: --parquet {store}: that is the project's store; name another file.\n"
    assert store.read_bytes() == before
    missing = tmp_path / "nowhere" / "x.parquet"
    result = run("query", "select 1 as x", "--parquet", missing)
    assert result.exit_code == 1
    assert result.stderr == f"Error: --parquet {missing}: folder {missing.parent} does not exist.\n"


def test_parquet_refuses_the_config_timeline_and_saved_queries(run, loaded):
    # `--parquet ctxmetrics.yaml` replaced the project's config with a Parquet file.
    for target in (loaded / "ctxmetrics.yaml", loaded / "annotations" / "x.yaml", loaded / "queries" / "q.sql"):
        before = target.read_bytes() if target.exists() else None
        result = run("query", "select 1 as x", "--parquet", target)
        assert (result.exit_code, result.stderr) == (
            1, f"Error: --parquet {target}: that is a file of the project; name another file.\n"
        )
        assert (target.read_bytes() if target.exists() else None) == before


def test_a_failing_query_writes_no_parquet_file(run, loaded, tmp_path):
    result = run("query", "select * from no_such_table", "--parquet", tmp_path / "x.parquet")
    assert result.exit_code == 1
    assert os.listdir(tmp_path) == ["proj"]


def test_store_connections_never_install_extensions(loaded):
    for read_only in (True, False):
        with Project(loaded).store(read_only=read_only) as store:
            assert store.con.execute("select current_setting('autoinstall_known_extensions')").fetchall() == [(False,)]


@pytest.mark.parametrize("args", [
    ["query", "select * from range(100000)"],
    ["query", "select * from range(100000)", "--json"],
    ["query", "select * from range(100000)", "--csv"],
])
def test_output_cut_short_by_head_exits_quietly(loaded, args):
    """`ctxmetrics query … | head -1`: no traceback, no 'internal error', just an exit."""
    # Buffered stdout, as for most users: unbuffered, CPython drops what a closed pipe
    # did not take without raising, and there would be nothing to test.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    reader = subprocess.Popen(["head", "-1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    writer = subprocess.run(
        [sys.executable, "-m", "ctxmetrics", "--project", str(loaded), *args],
        stdout=reader.stdin, stderr=subprocess.PIPE, text=True, timeout=120, env=env,
    )
    reader.stdin.close()
    reader.wait(timeout=30)
    assert writer.stderr == ""
    assert writer.returncode == 1


def test_python_api_query_binds_params(loaded):
    frame = Project(loaded).query("select sum(value) as total from observations where metric = $m", {"m": "mql"})
    assert frame["total"].to_list() == [3.0]


def test_several_statements_are_refused_not_cut_to_the_last_result(run, loaded):
    # Was: only the last statement's rows were printed, the first one's dropped without a word.
    result = run("query", "select 1 as a; select 2 as b")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "Error: the query holds 2 SQL statements; a query shows one result, so run one statement at a time.\n"
    )


def test_a_saved_query_of_several_statements_names_its_file(run, loaded):
    saved = loaded / "queries" / "two.sql"
    saved.write_text("select 1;\n-- then\nselect 2;\n")
    result = run("query", "two")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {saved} holds 2 SQL statements; a query shows one result, so run one statement at a time.\n"
    )


def test_one_statement_with_a_trailing_semicolon_and_comment_runs(run, loaded):
    result = run("query", "select 1 as a; -- done", "--csv")
    assert (result.exit_code, result.stdout) == (0, "a\n1\n")


def test_python_api_refuses_several_statements(loaded):
    with pytest.raises(CtxError, match="holds 2 SQL statements"):
        Project(loaded).query("select 1; select 2")
