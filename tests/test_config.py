"""ctxmetrics.yaml validation and project discovery."""
from __future__ import annotations

import pytest
import yaml

from ctxmetrics.config import DEMO_CONFIG_TEXT, load_config, parse_config
from ctxmetrics.errors import ConfigError, CtxError, ProjectNotFound
from ctxmetrics.project import Project, find_project_root, init_project


def test_demo_config_parses_with_overrides(tmp_path):
    config = parse_config(yaml.safe_load(DEMO_CONFIG_TEXT), tmp_path / "ctxmetrics.yaml")
    assert config.dimensions == ("region", "channel")
    assert config.metric("win_rate").numerator == "won"
    assert config.detection_for("won").min_change_pct == 25
    assert config.detection_for("leads").min_change_pct == 15
    assert config.metric("unlisted").type == "count"


@pytest.mark.parametrize(
    "text, message",
    [
        ("stor: x.duckdb\n", "unknown key 'stor' in the project file"),
        ("metrics:\n  r: {type: ratio, numerator: a}\n", "ratio metric 'r' needs both 'numerator' and 'denominator'"),
        ("metrics:\n  r: {type: sum}\n", "metric 'r' has type 'sum'"),
        ("detection:\n  min_score: high\n", "'detection.min_score' must be a number"),
        ("detection:\n  overrides:\n    won: {min_scor: 3}\n", "unknown key 'min_scor' in detection.overrides.won"),
        ("timezone: Mars/Olympus\n", "timezone 'Mars/Olympus' is not a known IANA zone"),
        ("explain:\n  windows:\n    party: {lead: 1, lag: 2}\n", "explain.windows has unknown event type 'party'"),
        ("dimensions: [a\n", "not valid YAML"),
        # Wrong shapes were read letter by letter ('region' -> r, e, g, ...) or crashed.
        ("dimensions: region\n", "'dimensions' must be a list of names like [region, channel], got 'region'"),
        ("funnel: leads\n", "'funnel' must be a list of names like [leads, mql, won], got 'leads'"),
        ("metrics: [leads]\n", "'metrics' must be a mapping like {leads: {type: count}}, got ['leads']"),
        ("detection: [1]\n", "'detection' must be a mapping like {min_score: 5}"),
        ("detection:\n  overrides: [won]\n", "'detection.overrides' must be a mapping"),
        ("explain:\n  windows: [campaign]\n", "'explain.windows' must be a mapping"),
        ("detection:\n  min_score: -1\n", "'detection.min_score' must not be negative, got -1"),
        ("date_format: dd/mm/yyyy\n", "'date_format' must be strftime codes like \"%m/%d/%Y\", got 'dd/mm/yyyy'"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path, text, message):
    path = tmp_path / "ctxmetrics.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_config_that_is_not_utf8_is_refused_with_its_path(tmp_path):
    path = tmp_path / "ctxmetrics.yaml"
    path.write_bytes("store: x.duckdb\n".encode("utf-16"))
    with pytest.raises(ConfigError, match=r"ctxmetrics.yaml: is not UTF-8 text \(byte 0\)\.$"):
        load_config(path)


def test_project_is_found_from_a_subfolder(tmp_path):
    root = init_project(tmp_path / "p")
    (root / "annotations" / "2026").mkdir()
    assert find_project_root(root / "annotations" / "2026") == root.resolve()
    assert Project.find(root / "queries").store_path == root.resolve() / "ctxmetrics.duckdb"


def test_outside_a_project_and_double_init(tmp_path):
    with pytest.raises(ProjectNotFound, match="No ctxmetrics.yaml found in"):
        find_project_root(tmp_path)
    init_project(tmp_path / "p")
    with pytest.raises(CtxError, match="already a project"):
        init_project(tmp_path / "p")


def test_cli_init_creates_layout(tmp_path):
    from click.testing import CliRunner

    from ctxmetrics.cli import cli

    result = CliRunner().invoke(cli, ["init", str(tmp_path / "new")])
    assert result.exit_code == 0
    assert {p.name for p in (tmp_path / "new").iterdir()} >= {"ctxmetrics.yaml", "annotations", "queries", ".gitignore"}


def test_cli_init_where_no_folder_can_be_made_is_one_line(tmp_path):
    from click.testing import CliRunner

    from ctxmetrics.cli import cli

    # Was "internal error: NotADirectoryError" when a parent is a file.
    (tmp_path / "afile").write_text("")
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "afile" / "p")])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: {tmp_path / 'afile' / 'p'}: cannot create the project there (Not a directory).\n"


def test_api_reads_return_polars(project_dir):
    import polars as pl

    (project_dir / "d.csv").write_text("date,metric,value,region\n2026-01-01,leads,3,NA\n2026-01-03,leads,4,NA\n")
    project = Project(project_dir)
    from ctxmetrics.ingest.ingest import ingest_paths

    with project.store() as store:
        ingest_paths(store, [project_dir / "d.csv"], known_dimensions=project.config.dimensions)
    assert isinstance(project.observations(), pl.DataFrame)
    series = project.series("leads", {"region": "NA"})
    assert series["value"].to_list() == [3.0, 0.0, 4.0]  # the missing day of a count is 0
    assert project.query("select count(*) as n from observations")["n"].to_list() == [2]


def test_api_series_of_an_unknown_metric_is_named(project_dir):
    from ctxmetrics.errors import UnknownName
    from ctxmetrics.ingest.ingest import ingest_paths

    (project_dir / "d.csv").write_text("date,metric,value,region\n2026-01-01,leads,3,NA\n")
    project = Project(project_dir)
    with project.store() as store:
        ingest_paths(store, [project_dir / "d.csv"], known_dimensions=project.config.dimensions)
    with pytest.raises(UnknownName, match="'lead' is not a metric.*Did you mean 'leads'"):
        project.series("lead")


def test_api_series_of_an_unknown_segment_value_is_named(project_dir):
    # Was an empty frame, which reads as "no data" rather than as a typo.
    from ctxmetrics.errors import UnknownName
    from ctxmetrics.ingest.ingest import ingest_paths

    (project_dir / "d.csv").write_text("date,metric,value,region\n2026-01-01,leads,3,NA\n2026-01-01,mql,1,EMEA\n")
    project = Project(project_dir)
    with project.store() as store:
        ingest_paths(store, [project_dir / "d.csv"], known_dimensions=project.config.dimensions)
    with pytest.raises(UnknownName, match=r"^leads has no series region=EMEAX; values of region: NA\.$"):
        project.series("leads", {"region": "EMEAX"})
    with pytest.raises(UnknownName, match=r"^leads has no series region=EMEA; values of region: NA\.$"):
        project.series("leads", {"region": "EMEA"})  # a value of another metric only
    with pytest.raises(UnknownName, match=r"^leads has no series region=na \(did you mean 'NA'\?\); values of region: NA\.$"):
        project.series("leads", {"region": "na"})  # difflib alone scores a case slip 0
    assert project.series("mql", {"region": "EMEA"})["value"].to_list() == [1.0]


def test_api_arguments_that_are_not_mappings_are_named(project_dir):
    # A string failed inside dict(): "dictionary update sequence element #0 has length 1".
    project = Project(project_dir)
    with pytest.raises(ValueError, match=r"^segment must be a mapping such as \{'region': 'EMEA'\}, got 'region=EMEA'\.$"):
        project.series("leads", "region=EMEA")
    with pytest.raises(ValueError, match=r"^params must be a mapping such as \{'m': 'leads'\} for \$m, got \['leads'\]\.$"):
        project.query("select $m", ["leads"])


def test_api_series_of_a_ratio_whose_part_has_no_data_says_so(project_dir):
    # Was "'r' is not a metric of the store or the config", though the config declares it.
    from ctxmetrics.errors import CtxError
    from ctxmetrics.ingest.ingest import ingest_paths

    config = project_dir / "ctxmetrics.yaml"
    config.write_text(config.read_text().replace("metrics:\n", "metrics:\n  r: {type: ratio, numerator: nosuch, denominator: leads}\n", 1))
    (project_dir / "d.csv").write_text("date,metric,value,region\n2026-01-01,leads,3,NA\n")
    project = Project(project_dir)
    with project.store() as store:
        ingest_paths(store, [project_dir / "d.csv"], known_dimensions=project.config.dimensions)
    with pytest.raises(CtxError, match=r"^Ratio metric 'r' cannot be read: no data for nosuch\.$"):
        project.series("r")


@pytest.mark.parametrize("sql", ["", "  -- only a comment\n"])
def test_api_query_of_empty_sql_says_so(project_dir, sql):
    # Returned None where a DataFrame is documented, failing later as "'NoneType' has no attribute".
    from ctxmetrics.errors import CtxError

    with pytest.raises(CtxError, match=r"^the query is empty: there is no SQL statement to run\.$"):
        Project(project_dir).query(sql)


def test_api_series_names_a_metric_or_segment_value_of_the_wrong_type(project_dir):
    # None was "'NoneType' object is not iterable"; {'region': 5} DuckDB's
    # "Could not convert string 'NA' to INT32 when casting from source column region".
    project = Project(project_dir)
    with pytest.raises(ValueError, match=r"^metric must be a metric's name, got None\.$"):
        project.series(None)
    with pytest.raises(ValueError, match=r"^segment values must be strings, as stored: got \{'region': 5\}\.$"):
        project.series("leads", {"region": 5})
