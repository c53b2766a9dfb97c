"""PyYAML's parse errors in words, for every YAML file the tool reads (the project file,
the timeline): one problem and the line it is on."""
from __future__ import annotations


def yaml_problem(exc: Exception, text: str) -> tuple[str, int | None]:
    """(what is wrong, its 1-based line or None) of a `yaml.YAMLError` raised on `text`."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if "'\\t'" in problem or (mark is not None and _char_at(text, mark.line, mark.column) == "\t"):
        # pure PyYAML: "found character '\t' that cannot start any token"; libyaml omits the character
        problem = "a tab character; YAML is indented with spaces, replace the tab with spaces"
    return problem, (mark.line + 1 if mark else None)


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column:column + 1] if 0 <= line < len(lines) else ""
