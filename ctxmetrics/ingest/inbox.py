"""The inbox of `ctxmetrics run`: folders listed under `inbox:` in ctxmetrics.yaml whose new
data files are ingested. A file is new when its (path, size, mtime) is not yet in the
store, so a re-exported file with the same name is ingested again (ingest is idempotent).

```yaml
inbox:
  - exports/daily                                   # long format, the project's dimensions
  - {folder: exports/wide, format: wide, dims: [region]}
```
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctxmetrics.config import CONFIG_NAME, FILE_FORMATS
from ctxmetrics.errors import ConfigError

if TYPE_CHECKING:
    from ctxmetrics.project import Project

SUFFIXES = (".csv", ".xlsx", ".xlsm", ".parquet", ".json", ".jsonl", ".ndjson")


@dataclass(frozen=True)
class Folder:
    path: Path
    format: str = "long"
    dims: tuple[str, ...] = ()


def folders_of(project: "Project") -> list[Folder]:
    """The validated `inbox:` list; relative folders are relative to the project."""
    raw: Any = project.config.inbox
    where = project.root / CONFIG_NAME
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: 'inbox' must be a list of folders.")
    out = []
    for i, entry in enumerate(raw):
        if isinstance(entry, str):
            entry = {"folder": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("folder"), str):
            raise ConfigError(f"{where}: inbox[{i}] must be a folder or {{folder: DIR, format: long|wide|events|records, dims: [...]}}.")
        unknown = sorted(set(entry) - {"folder", "format", "dims"})
        if unknown:
            raise ConfigError(f"{where}: inbox[{i}] has unknown key '{unknown[0]}'; allowed: folder, format, dims.")
        path = (project.root / entry["folder"]).resolve()
        if not path.is_dir():
            raise ConfigError(f"{where}: inbox[{i}] folder '{entry['folder']}' does not exist.")
        fmt, dims = entry.get("format", "long"), entry.get("dims") or []
        if fmt not in FILE_FORMATS:
            raise ConfigError(f"{where}: inbox[{i}].format '{fmt}' is not one of {', '.join(FILE_FORMATS)}.")
        if not isinstance(dims, list) or not all(isinstance(d, str) and d for d in dims):
            # a bare string would be read letter by letter
            raise ConfigError(f"{where}: inbox[{i}].dims must be a list of column names like [region], got {dims!r}.")
        out.append(Folder(path, fmt, tuple(dims)))
    return out


def _signature(path: Path) -> tuple[str, int, float]:
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime


@dataclass(frozen=True)
class InboxResult:
    files: int
    rows: int


def ingest_new(project: "Project") -> InboxResult:
    """Ingest every new file of every inbox folder; each folder in one transaction.

    Raises:
        InputError: a bad file (nothing of its folder is ingested or remembered).
    """
    from ctxmetrics.ingest.ingest import ingest_paths

    folders = folders_of(project)
    files = rows = 0
    if not folders:
        return InboxResult(0, 0)
    with project.store() as store:
        seen = store.ingested_files()
        for folder in folders:
            new = sorted((p for p in folder.path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES
                          and _signature(p) not in seen), key=lambda p: (p.stat().st_mtime, p.name))
            if not new:
                continue
            signatures = [_signature(p) for p in new]  # before ingest: a file growing meanwhile is new next time
            result = ingest_paths(store, new, fmt=folder.format, dims=folder.dims,
                                  known_dimensions=project.config.dimensions)
            store.record_ingested(signatures, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
            files, rows = files + len(new), rows + result.rows
    return InboxResult(files, rows)
