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

_GZIPPED_TEXT = (".csv", ".tsv", ".txt")  # what a `.gz` may hold (sources._gzip_source)


def readable(path: Path) -> bool:
    """Whether `ingest` reads a file of this name (sources.READERS; `leads.csv.gz` too)."""
    from ctxmetrics.ingest.sources import READERS

    suffix = path.suffix.lower()
    return suffix in READERS or (suffix == ".gz" and Path(path.stem).suffix.lower() in _GZIPPED_TEXT)


@dataclass(frozen=True)
class Folder:
    path: Path
    format: str = "long"
    dims: tuple[str, ...] = ()
    name: str = ""  # as written in ctxmetrics.yaml


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
        out.append(Folder(path, fmt, tuple(dims), entry["folder"]))
    return out


def _signature(path: Path) -> tuple[str, int, float]:
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime


@dataclass(frozen=True)
class InboxResult:
    files: int
    rows: int
    folders: tuple[str, ...] = ()  # as written under `inbox:`
    ingested_before: int = 0  # data files of those folders ingested by an earlier run
    skipped: tuple[str, ...] = ()  # files there that are no data ctxmetrics reads

    def lines(self) -> list[str]:
        """What `run` says it ingested, and where it looked."""
        if not self.folders:
            return ["No inbox folder is set, so nothing was ingested; list the folders of new exports under "
                    "'inbox:' in ctxmetrics.yaml (inbox: [exports]) or ingest files with 'ctxmetrics ingest FILE'."]
        done = f"Ingested {self.files} new file{'s' if self.files != 1 else ''} ({self.rows:,} row{'s' if self.rows != 1 else ''})"
        if not self.files:
            before = self.ingested_before
            done += f" from {', '.join(self.folders)} ({before} file{'s' if before != 1 else ''} ingested before)"
        return [done + "."] + [f"{name}: not a data file ctxmetrics reads; left where it is." for name in self.skipped]


def ingest_new(project: "Project") -> InboxResult:
    """Ingest every new file of every inbox folder; each folder in one transaction.

    Raises:
        InputError: a bad file (nothing of its folder is ingested or remembered).
    """
    from ctxmetrics.ingest.ingest import ingest_paths

    folders = folders_of(project)
    files = rows = before = 0
    skipped: list[str] = []
    if not folders:
        return InboxResult(0, 0)
    with project.store() as store:
        seen = store.ingested_files()
        for folder in folders:
            present = sorted(p for p in folder.path.iterdir() if p.is_file() and not p.name.startswith("."))
            skipped += [_shown(project, p) for p in present if not readable(p)]
            data = [p for p in present if readable(p)]
            new = sorted((p for p in data if _signature(p) not in seen), key=lambda p: (p.stat().st_mtime, p.name))
            before += len(data) - len(new)
            if not new:
                continue
            signatures = [_signature(p) for p in new]  # before ingest: a file growing meanwhile is new next time
            result = ingest_paths(store, new, fmt=folder.format, dims=folder.dims,
                                  known_dimensions=project.config.dimensions)
            store.record_ingested(signatures, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
            files, rows = files + len(new), rows + result.rows
    return InboxResult(files, rows, tuple(f.name for f in folders), before, tuple(skipped))


def _shown(project: "Project", path: Path) -> str:
    """A path as the user would write it: relative to the project when inside it."""
    try:
        return str(path.relative_to(project.root.resolve()))
    except ValueError:
        return str(path)
