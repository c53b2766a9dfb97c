"""`query` and saved queries read the store and nothing else.

Every statement below is refused with exit code 1 and one line naming what is not
allowed, and leaves every file as it was: the project, a folder outside it and DuckDB's
own folder in the home directory (extensions, secrets). The refusing is DuckDB's own
settings on the read-only connection, checked here without the CLI's wording too.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from ctxmetrics.cli import cli
from ctxmetrics.errors import QueryRefused
from ctxmetrics.project import Project

ANNOTATION = textwrap.dedent(
    """\
    - id: spring-promo
      title: Spring promo
      type: campaign
      start: 2026-03-02
      end: 2026-03-08
    """
)

WRITES = "query is read-only: "
READS = "query reads only the store: "

# (SQL, the start of the error line); {outside} is a folder beside the project.
REFUSED = [
    ("copy (select 1 as x) to '{outside}/out.csv'", WRITES + "COPY … TO writes a file ({outside}/out.csv)"),
    ("copy (select 1 as x) to 'ctxmetrics.yaml' (format csv)", WRITES + "COPY … TO writes a file (ctxmetrics.yaml)"),
    ("copy (select 'x' as title) to 'annotations/campaigns.yaml' (format csv)",
     WRITES + "COPY … TO writes a file (annotations/campaigns.yaml)"),
    ("copy obs from '{outside}/secret.csv'", WRITES + "COPY … FROM reads a file ({outside}/secret.csv)"),
    ("export database '{outside}/dump'", WRITES + "EXPORT DATABASE writes files ({outside}/dump/"),
    ("attach '{outside}/new.duckdb' as fresh", WRITES + "ATTACH opens another database ({outside}/new.duckdb)"),
    ("attach '{outside}/other.duckdb' as other", WRITES + "ATTACH opens another database ({outside}/other.duckdb)"),
    ("select * from read_csv('{outside}/secret.csv')", READS + "{outside}/secret.csv is outside it"),
    ("select * from read_text('/etc/hostname')", READS + "/etc/hostname is outside it"),
    ("select * from read_blob('ctxmetrics.yaml')", READS + "ctxmetrics.yaml is outside it"),
    ("select * from glob('{outside}/*')", READS + "{outside}/* is outside it"),
    ("select * from read_csv('https://example.com/leads.csv')", READS + "it cannot fetch https://example.com/leads.csv"),
    ("select * from 'http://example.com/leads.parquet'", READS + "it cannot fetch http://example.com/leads.parquet"),
    ("install httpfs", WRITES + "INSTALL and LOAD add extensions"),
    ("load httpfs", WRITES + "INSTALL and LOAD add extensions"),
    ("set enable_external_access = true", WRITES + "it cannot change the setting enable_external_access"),
    ("pragma enable_external_access = true", WRITES + "it cannot change the setting enable_external_access"),
    ("reset lock_configuration", WRITES + "it cannot change the setting lock_configuration"),
    ("set allowed_directories = ['/']", WRITES + "it cannot change the setting allowed_directories"),
    ("set autoinstall_known_extensions = true", WRITES + "it cannot change the setting autoinstall_known_extensions"),
    ("call enable_logging(storage = 'file', storage_path = '{outside}/log')",
     WRITES + "it cannot change the setting enable_logging"),
    ("create persistent secret leak (type http, bearer_token 'x')", WRITES + "a persistent secret is written to disk"),
    ("delete from obs", WRITES + "DELETE changes the store"),
    # the observations view: was "query failed: Binder Error: Can only delete from base table"
    ("delete from observations", WRITES + "DELETE changes the store"),
    ("update observations set value = 0", WRITES + "UPDATE changes the store"),
    ("insert into observations select * from observations", WRITES + "INSERT changes the store"),
    ("create table copied as select * from obs", WRITES + "CREATE changes the store"),
]
IDS = [sql.split("(")[0].split("'")[0].strip()[:40] for sql, _ in REFUSED]
# A refused statement behind a harmless one: the CLI refuses several statements before
# running any (see test_query.py), and the connection itself refuses each one anyway.
SMUGGLED = [
    "select 1; copy (select 1 as x) to '{outside}/two.csv'",
    "select 1; set enable_external_access = true; copy (select 1) to '{outside}/three.csv'",
]


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A project with data, an annotation file and a folder outside it holding a file
    and another DuckDB database; the current folder is the project, as for a user."""
    root = tmp_path / "proj"
    result = CliRunner().invoke(cli, ["init", str(root)])
    assert result.exit_code == 0, result.output
    (root / "annotations" / "campaigns.yaml").write_text(ANNOTATION, encoding="utf-8")
    data = tmp_path / "data.csv"
    data.write_text("date,metric,value,region\n2026-03-01,leads,10,EMEA\n2026-03-02,leads,12,EMEA\n")
    result = CliRunner().invoke(cli, ["--project", str(root), "ingest", str(data)])
    assert result.exit_code == 0, result.output
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("user,password\nroot,hunter2\n")
    duckdb.connect(str(outside / "other.duckdb")).close()
    monkeypatch.chdir(root)
    return root, outside


def snapshot(*folders: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folders` with its bytes and mtime; folders as empty entries."""
    state = {}
    for folder in folders:
        if not folder.exists():
            continue
        for path in sorted(folder.rglob("*")):
            stat = path.stat()
            state[str(path)] = (b"" if path.is_dir() else path.read_bytes(), stat.st_mtime_ns)
    return state


def watched(world) -> tuple[Path, ...]:
    root, outside = world
    return root, outside, Path.home() / ".duckdb"


def query(*args):
    return CliRunner().invoke(cli, ["query", *args])


@pytest.mark.parametrize("sql, error", REFUSED, ids=IDS)
def test_inline_query_is_refused_and_changes_nothing(world, sql, error):
    outside = world[1]
    before = snapshot(*watched(world))
    result = query(sql.format(outside=outside))
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Error: " + error.format(outside=outside)), result.stderr
    assert result.stderr.count("\n") == 1
    assert snapshot(*watched(world)) == before


@pytest.mark.parametrize("sql, error", REFUSED, ids=IDS)
def test_saved_query_is_refused_and_changes_nothing(world, sql, error):
    root, outside = world
    (root / "queries" / "shared.sql").write_text(f"-- from the team wiki\n{sql.format(outside=outside)}\n")
    before = snapshot(*watched(world))
    result = query("shared", "--json")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: " + error.format(outside=outside)), result.stderr
    assert snapshot(*watched(world)) == before


@pytest.mark.parametrize("sql", SMUGGLED, ids=["copy", "set"])
def test_a_refused_statement_behind_a_select_is_refused_and_changes_nothing(world, sql):
    root, outside = world
    before = snapshot(*watched(world))
    result = query(sql.format(outside=outside))
    assert (result.exit_code, result.stdout) == (1, "")
    assert "SQL statements; a query shows one result" in result.stderr
    assert snapshot(*watched(world)) == before


@pytest.mark.parametrize("sql", [sql for sql, _ in REFUSED] + SMUGGLED, ids=IDS + ["smuggled copy", "smuggled set"])
def test_the_store_connection_itself_refuses(world, sql):
    """DuckDB's settings refuse, not the CLI's wording: the raw read-only connection
    fails on each statement, and its settings are the same afterwards."""
    root, outside = world
    before = snapshot(*watched(world))
    with Project(root).store(read_only=True) as store:
        with pytest.raises(duckdb.Error):
            store.con.execute(sql.format(outside=outside))
        assert store.con.execute(
            "select current_setting('enable_external_access'), current_setting('lock_configuration')"
        ).fetchall() == [(False, True)]
    assert snapshot(*watched(world)) == before


def test_parquet_export_cannot_be_steered_by_the_sql(world):
    """--parquet writes only the file named on the command line: a saved query's COPY
    inside it is still refused, and no file appears."""
    root, outside = world
    (root / "queries" / "sneaky.sql").write_text(f"copy (select 1 as x) to '{outside}/x.csv'\n")
    before = snapshot(*watched(world))
    result = query("sneaky", "--parquet", str(outside / "wanted.parquet"))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: query is read-only: COPY … TO writes a file")
    assert snapshot(*watched(world)) == before


def test_python_api_reads_are_read_only(world):
    root, outside = world
    before = snapshot(*watched(world))
    with pytest.raises(QueryRefused, match="^query is read-only: COPY … TO writes a file"):
        Project(root).query(f"copy (select 1) to '{outside}/api.csv'")
    with pytest.raises(QueryRefused, match="^query reads only the store: "):
        Project(root).query(f"select * from read_csv('{outside}/secret.csv')")
    assert snapshot(*watched(world)) == before


def test_python_variables_are_not_scanned(world):
    """The caller's variables are not tables: SQL on a read-only connection cannot read
    what the program holds (DuckDB's replacement scans are off)."""
    root = world[0]
    with Project(root).store(read_only=True) as store:
        secrets = duckdb.connect().sql("select 'hunter2' as password")  # noqa: F841 - the bait
        with pytest.raises(duckdb.CatalogException, match="Table with name secrets does not exist"):
            store.con.sql("select * from secrets")


def test_ordinary_errors_are_not_called_refusals(world):
    result = query("select * from no_such_table")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: query failed: Catalog Error: Table with name no_such_table")


def test_every_read_opens_the_store_locked(world, monkeypatch):
    """why, digest, query and the Python API's reads open the store only with the
    read-only settings; a writer (ingest) at least never auto-installs extensions."""
    from ctxmetrics.store.database import READ_ONLY_SETTINGS

    root = world[0]
    opened = []
    connect = duckdb.connect

    def spy(database, read_only=False, config=None):
        opened.append((read_only, dict(config or {})))
        return connect(database, read_only=read_only, config=config)

    monkeypatch.setattr(duckdb, "connect", spy)
    reads = {
        "why": lambda: CliRunner().invoke(cli, ["--project", str(root), "why", "leads"]),
        "digest": lambda: CliRunner().invoke(cli, ["--project", str(root), "digest"]),
        "query": lambda: CliRunner().invoke(cli, ["--project", str(root), "query", "select 1"]),
        "observations()": lambda: Project(root).observations(),
        "series()": lambda: Project(root).series("leads", {"region": "EMEA"}),
    }
    for name, read in reads.items():
        opened.clear()
        read()
        assert opened, f"{name} opened no connection"
        for read_only, config in opened:
            assert read_only and config == READ_ONLY_SETTINGS, name
            assert config["enable_external_access"] is False and config["lock_configuration"] is True, name
    opened.clear()
    assert CliRunner().invoke(cli, ["--project", str(root), "ingest", str(root.parent / "data.csv")]).exit_code == 0
    assert opened == [(False, {"autoinstall_known_extensions": False})]
