"""Regenerate the module table of docs/architecture.md from the tree: one row per package
and module, described by the first sentence of its docstring.

    python scripts/module_table.py          # rewrite the table in docs/architecture.md
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ctxmetrics"
DOC = ROOT / "docs" / "architecture.md"
START, END = "<!-- module table: start (python scripts/module_table.py) -->", "<!-- module table: end -->"


def first_sentence(path: Path) -> str:
    """The first sentence of a module's docstring, on one line ('' without a docstring)."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    paragraph = " ".join(doc.split("\n\n")[0].split())
    sentence = re.split(r"(?<=[^.][.!?])\s", paragraph, maxsplit=1)[0]
    return sentence.replace("|", "\\|")


# The folders in the order data flows through them (a new folder must be placed here).
PIPELINE = ("models", "store", "timeline", "ingest", "detect", "explain", "scan", "report", "cli")


def module_paths() -> list[Path]:
    """Every module: the top-level ones, then each folder in pipeline order, its __init__ first."""
    def key(path: Path):
        folders = path.parent.relative_to(PACKAGE).parts
        stage = PIPELINE.index(folders[0]) + 1 if folders else 0  # ValueError: a folder missing from PIPELINE
        return stage, folders, path.name != "__init__.py", path.name

    return sorted(PACKAGE.rglob("*.py"), key=key)


def table() -> str:
    rows = ["| module | what it does |", "|---|---|"]
    for path in module_paths():
        name = path.relative_to(PACKAGE).as_posix()
        if path.name == "__init__.py" and path.parent != PACKAGE:
            name = path.parent.relative_to(PACKAGE).as_posix() + "/"
        rows.append(f"| `{name}` | {first_sentence(path)} |")
    return "\n".join(rows)


def with_table(text: str) -> str:
    """`text` (docs/architecture.md) with its module table regenerated."""
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main() -> None:
    DOC.write_text(with_table(DOC.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
