"""A ctxmetrics project: a folder with ctxmetrics.yaml, annotations/ and queries/."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ctxmetrics.config import CONFIG_NAME, DEFAULT_CONFIG_TEXT, Config, load_config
from ctxmetrics.errors import CtxError, ProjectNotFound

if TYPE_CHECKING:
    import polars as pl

    from ctxmetrics.store.database import Store


def find_project_root(start: Path | str | None = None) -> Path:
    """The nearest folder at or above `start` that holds ctxmetrics.yaml."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    raise ProjectNotFound(
        f"No {CONFIG_NAME} found in {here} or any parent folder; run 'ctxmetrics init' or pass --project DIR."
    )


def init_project(directory: Path | str, config_text: str = DEFAULT_CONFIG_TEXT) -> Path:
    """Create a project folder (it may exist, but must not already be a project)."""
    root = Path(directory)
    if (root / CONFIG_NAME).exists():
        raise CtxError(f"{root / CONFIG_NAME} already exists; this folder is already a project.")
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / "annotations").mkdir(exist_ok=True)
        (root / "queries").mkdir(exist_ok=True)
        (root / CONFIG_NAME).write_text(config_text, encoding="utf-8")
        gitignore = root / ".gitignore"
        if not gitignore.exists():
            # The store is derived data; the YAML timeline and queries are what belongs in git.
            gitignore.write_text("*.duckdb\n*.duckdb.wal\n*.duckdb.scan.lock\nannotations/.lock\n", encoding="utf-8")
    except OSError as exc:  # a parent that is a file, a read-only or virtual file system
        raise CtxError(f"{root}: cannot create the project there ({exc.strerror}).") from None
    return root


class Project:
    """Entry point of the Python API. Reads return polars DataFrames.

    Example:
        >>> import ctxmetrics
        >>> p = ctxmetrics.open("demo")
        >>> p.series("leads", {"region": "EMEA"})
    """

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()
        self.config: Config = load_config(self.root / CONFIG_NAME)

    @classmethod
    def find(cls, start: Path | str | None = None) -> "Project":
        return cls(find_project_root(start))

    @property
    def store_path(self) -> Path:
        return self.root / self.config.store

    @property
    def annotations_dir(self) -> Path:
        return self.root / "annotations"

    @property
    def queries_dir(self) -> Path:
        return self.root / "queries"

    def owns(self, path: Path | str) -> bool:
        """Whether `path` is one of the project's own files (the config, the store, the
        timeline, the saved queries), which a report or export must never replace."""
        target = Path(path).resolve()
        files = (self.root / CONFIG_NAME, self.store_path, Path(f"{self.store_path}.wal"))
        folders = (self.annotations_dir, self.queries_dir)
        return target in {f.resolve() for f in files} or any(f.resolve() in (target, *target.parents) for f in folders)

    def store(self, read_only: bool = False) -> "Store":
        """Open the project's DuckDB store (use as a context manager)."""
        from ctxmetrics.store.database import Store

        return Store(self.store_path, read_only=read_only)

    # --- reads for notebooks -------------------------------------------------
    def observations(self) -> "pl.DataFrame":
        """Every stored observation at leaf level: metric, ts, value, one column per dimension."""
        with self.store(read_only=True) as store:
            return store.observations_df()

    def series(self, metric: str, segment: Mapping[str, str] | None = None) -> "pl.DataFrame":
        """One series (ts, value) of a metric rolled up to a segment ({} = total): a row per day,
        or per week or month for a weekly or monthly metric."""
        from ctxmetrics.store.series import check_metric, check_segment_values, load_series

        if not isinstance(metric, str):
            raise ValueError(f"metric must be a metric's name, got {metric!r}.")
        _check_mapping("segment", segment, "{'region': 'EMEA'}")
        if segment and not all(isinstance(value, str) for value in segment.values()):
            raise ValueError(f"segment values must be strings, as stored: got {dict(segment)!r}.")
        with self.store(read_only=True) as store:
            check_metric(store, self.config, metric)
            frame = load_series(store, self.config, metric, dict(segment or {}))
            if frame.height == 0:  # no data, or a value the metric never had
                check_segment_values(store, self.config, metric, dict(segment or {}))
            return frame

    def query(self, sql_or_name: str, params: Mapping[str, Any] | None = None) -> "pl.DataFrame":
        """Run SQL, or the saved query queries/NAME.sql, against the store; read-only,
        like the `query` command. `params` binds $NAME in the SQL."""
        from ctxmetrics.store.queries import resolve_query

        _check_mapping("params", params, "{'m': 'leads'} for $m")
        with self.store(read_only=True) as store:
            frame = store.query_df(resolve_query(self.queries_dir, sql_or_name), dict(params or {}))
        if frame is None:  # DuckDB runs nothing for empty SQL (or only comments)
            raise CtxError("the query is empty: there is no SQL statement to run.")
        return frame


def _check_mapping(name: str, given, example: str) -> None:
    """Refuse an argument that is not a mapping (a string such as 'region=EMEA' failed
    inside dict() with "dictionary update sequence element #0 has length 1")."""
    if given is not None and not isinstance(given, Mapping):
        raise ValueError(f"{name} must be a mapping such as {example}, got {given!r}.")


def open(path: Path | str = ".") -> Project:  # noqa: A001 - mirrors the built-in on purpose
    """Open the project at or above `path`."""
    return Project.find(path)
