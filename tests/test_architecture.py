"""The import graph, read from the source (ast): models at the bottom with no I/O,
machinery above them, commands on top; nothing imports upwards."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ctxmetrics"

# Each unit (a top-level module or folder of ctxmetrics) may import units of lower layers
# only; units of one layer never import each other.
LAYERS = [
    {"models", "errors", "yaml_errors", "status"},
    {"config", "wording", "waiting"},
    {"store", "timeline", "detect", "explain", "synth"},
    {"project"},
    {"ingest", "scan", "report"},
    {"demo"},
    {"cli"},
    {"__init__", "__main__"},
]
# What a model may not import: storage, formats and the file system.
MODEL_FORBIDDEN = {"duckdb", "polars", "pyarrow", "yaml", "os", "pathlib", "io", "shutil", "tempfile", "glob",
                   "subprocess", "socket", "urllib", "sqlite3", "pickle"}


def _unit(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _layer(unit: str) -> int:
    for level, units in enumerate(LAYERS):
        if unit in units:
            return level
    raise AssertionError(f"ctxmetrics/{unit} is in no layer of tests/test_architecture.py; add it to LAYERS")


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Lines of `if TYPE_CHECKING:` blocks (imports there are for annotations only)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports(source: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, only for type checking) of every import in `source`."""
    tree = ast.parse(source)
    typing_only = _type_checking_lines(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, node.lineno in typing_only) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "ctxmetrics":  # from ctxmetrics import x
                found += [(f"ctxmetrics.{a.name}", node.lineno, node.lineno in typing_only) for a in node.names]
            else:
                found.append((node.module, node.lineno, node.lineno in typing_only))
    return found


def model_problems(source: str, name: str) -> list[str]:
    """What makes a models/ module more than plain data: I/O imports, `open()`, machinery."""
    problems = []
    for module, line, typing_only in imports(source):
        top = module.split(".")[0]
        if top in MODEL_FORBIDDEN and not typing_only:
            problems.append(f"{name}:{line} imports {module}")
        if top == "ctxmetrics" and not module.startswith("ctxmetrics.models"):
            problems.append(f"{name}:{line} imports machinery ({module})")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
            problems.append(f"{name}:{node.lineno} opens a file")
    return problems


def upward_imports(path: Path, source: str) -> list[str]:
    unit = _unit(path)
    problems = []
    for module, line, _ in imports(source):
        parts = module.split(".")
        if parts[0] != "ctxmetrics" or len(parts) < 2:
            continue
        target = parts[1]
        if target != unit and _layer(target) >= _layer(unit):
            problems.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {unit} (layer {_layer(unit)}) imports "
                            f"{module} (layer {_layer(target)})")
    return problems


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_models_do_no_io():
    problems = []
    for path in (PACKAGE / "models").glob("*.py"):
        problems += model_problems(path.read_text(encoding="utf-8"), f"models/{path.name}")
    assert problems == []


def test_imports_point_down_the_layers():
    problems = []
    for path in SOURCES:
        problems += upward_imports(path, path.read_text(encoding="utf-8"))
    assert problems == []


@pytest.mark.parametrize("source, expected", [
    ("import duckdb\n", ["models/x.py:1 imports duckdb"]),
    ("from pathlib import Path\n", ["models/x.py:1 imports pathlib"]),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pathlib import Path\n", []),
    ("from ctxmetrics.store.database import Store\n", ["models/x.py:1 imports machinery (ctxmetrics.store.database)"]),
    ("def f(p):\n    return open(p).read()\n", ["models/x.py:2 opens a file"]),
    ("import numpy as np\nfrom ctxmetrics.models.segments import segment_key\n", []),
])
def test_model_check_finds_io(source, expected):
    assert model_problems(source, "models/x.py") == expected


def test_layer_check_finds_an_upward_import():
    found = upward_imports(PACKAGE / "explain" / "x.py", "from ctxmetrics.store.results import load_anomalies\n")
    assert found == ["ctxmetrics/explain/x.py:1: explain (layer 2) imports ctxmetrics.store.results (layer 2)"]
    assert upward_imports(PACKAGE / "report" / "x.py", "from ctxmetrics.store.results import load_anomalies\n") == []


def _module_table():
    import importlib.util

    spec = importlib.util.spec_from_file_location("module_table", PACKAGE.parent / "scripts" / "module_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_architecture_doc_lists_every_module_as_the_tree_has_it():
    """docs/architecture.md's table is the one `python scripts/module_table.py` writes."""
    script = _module_table()
    doc = script.DOC.read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([^`]+)` \|", doc, flags=re.M))
    expected = {p.relative_to(PACKAGE).as_posix() if p.name != "__init__.py" or p.parent == PACKAGE
                else p.parent.relative_to(PACKAGE).as_posix() + "/" for p in SOURCES}
    assert sorted(expected - listed) == [], "modules missing from docs/architecture.md"
    assert sorted(listed - expected) == [], "docs/architecture.md lists modules that do not exist"
    assert script.with_table(doc) == doc, "run python scripts/module_table.py"


def test_every_module_says_what_it_does():
    script = _module_table()
    assert [p.relative_to(PACKAGE).as_posix() for p in SOURCES if not script.first_sentence(p)] == []
