"""`ingest --sql --db postgresql://…` against a real PostgreSQL server started here.

The server runs from Debian's `postgresql` package (installed by .ci/run) in a temporary
data folder on a free port of 127.0.0.1; PostgreSQL refuses to run as root, so as root the
server runs as the `postgres` user. Outside CI the test is skipped when the binaries are
absent; in CI (CI set) it fails instead.
"""
from __future__ import annotations

import datetime as dt
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from ctxmetrics.cli import cli
from ctxmetrics.project import Project, init_project

CRM = """
create table opportunities (id integer primary key, region text not null);
create table stage_history (opportunity_id integer references opportunities, stage text not null,
                            changed_at timestamptz not null);
insert into opportunities values (1, 'EMEA'), (2, 'EMEA'), (3, 'NA');
insert into stage_history values
  (1, 'lead', '2025-06-01 09:00+00'), (1, 'mql', '2025-06-02 10:00+00'),
  (2, 'lead', '2025-06-01 23:30+00'), (2, 'lead', '2025-06-01 23:45+00'),
  (3, 'lead', '2025-06-02 01:00+00'), (3, 'mql', '2025-06-03 12:00+00');
"""
EVENTS_SQL = (
    "select h.opportunity_id as entity_id, h.stage, h.changed_at as ts, o.region "
    "from stage_history h join opportunities o on o.id = h.opportunity_id"
)


def _bin_dir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    bin_dir = _bin_dir()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries are missing in CI; .ci/run installs the 'postgresql' package.")
        pytest.skip("PostgreSQL is not installed (Debian package 'postgresql'); .ci/run installs it.")
    pytest.importorskip("adbc_driver_postgresql", reason="pip install 'ctxmetrics[postgres]'")
    # Not under pytest's tmp folder: that is private to root, and the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="ctxmetrics-pg-"))
    data, port = folder / "data", _free_port()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres")
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True)  # noqa: E731
    run(f"{bin_dir}/initdb", "-D", str(data), "-U", "ctx", "--auth=trust", "--no-sync")
    try:
        run(f"{bin_dir}/pg_ctl", "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        url = f"postgresql://ctx@127.0.0.1:{port}/postgres"
        import adbc_driver_postgresql.dbapi as dbapi

        with dbapi.connect(url) as con, con.cursor() as cur:
            for statement in filter(str.strip, CRM.split(";")):
                cur.execute(statement)
            con.commit()
        yield url
    finally:
        run(f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def _rows(root):
    with Project(root).store(read_only=True) as store:
        return store.query_rows("select metric, ts, value, region from observations order by all")[1]


def test_crm_stage_history_becomes_daily_stage_counts(tmp_path, postgres_url):
    root = init_project(tmp_path / "crm", "timezone: Europe/Berlin\ndimensions: [region]\n")
    args = ["--project", str(root), "ingest", "--db", postgres_url, "--format", "events", "--sql", EVENTS_SQL]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(cli, args)
    assert again.stdout == "Ingested 5 rows from 1 source: 0 added, 5 replaced, all with the same value.\n"
    # Berlin is UTC+2 in June: 23:30Z and 01:00Z on the nights around June 2 are June 2.
    assert _rows(root) == [
        ("lead", dt.date(2025, 6, 1), 1.0, "EMEA"),
        ("lead", dt.date(2025, 6, 2), 1.0, "EMEA"),
        ("lead", dt.date(2025, 6, 2), 1.0, "NA"),
        ("mql", dt.date(2025, 6, 2), 1.0, "EMEA"),
        ("mql", dt.date(2025, 6, 3), 1.0, "NA"),
    ]


def test_aggregating_query_in_long_format(tmp_path, postgres_url):
    root = init_project(tmp_path / "long")
    sql = ("select (changed_at at time zone 'UTC')::date as date, stage as metric, count(*) as value "
           "from stage_history group by 1, 2")
    result = CliRunner().invoke(cli, ["--project", str(root), "ingest", "--db", postgres_url, "--sql", sql])
    assert result.exit_code == 0, result.output
    with Project(root).store(read_only=True) as store:
        assert store.query_rows("select metric, sum(value) from observations group by 1 order by 1")[1] == [
            ("lead", 4.0), ("mql", 2.0)
        ]


def test_bad_query_and_bad_rows_are_one_line_and_store_unchanged(tmp_path, postgres_url):
    root = init_project(tmp_path / "bad")
    base = ["--project", str(root), "ingest", "--db", postgres_url, "--sql"]
    missing = CliRunner().invoke(cli, [*base, "select * from no_such_table"])
    assert missing.exit_code == 1
    assert missing.stderr.startswith("Error: query failed: ") and missing.stderr.count("\n") == 1
    assert "no_such_table" in missing.stderr
    negative = CliRunner().invoke(cli, [*base, "select date '2025-06-01' as date, 'lead' as metric, -1 as value"])
    assert (negative.exit_code, negative.stderr) == (
        1, "Error: query result: row 1: column 'value': -1 is negative, and 'lead' is a count; "
           "declare it in ctxmetrics.yaml as {type: amount} (money, refunds) or {type: gauge} (a level) "
           "if it can go below zero.\n"
    )
    with Project(root).store(read_only=True) as store:
        assert store.query_rows("select count(*) from obs")[1] == [(0,)]


def test_db_without_sql_is_a_usage_error(tmp_path):
    root = init_project(tmp_path / "u")
    result = CliRunner().invoke(cli, ["--project", str(root), "ingest", "--db", "postgresql://x/y"])
    assert result.exit_code == 2 and "--sql and --db go together." in result.output
