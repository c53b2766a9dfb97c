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


def repeated_key(text: str, loader) -> tuple[str, int] | None:
    """The first key given twice in one mapping of `text` and the 1-based line of its second
    use, or None. A YAML loader keeps the last silently: a `detection:` block appended at
    the end of a project file replaced the one above it, overrides and all."""
    import yaml

    seen_nodes: set[int] = set()
    pending = [yaml.compose(text, Loader=loader)]
    found: list[tuple[int, str]] = []
    while pending:
        node = pending.pop()
        if node is None or id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            pending += node.value
        elif isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value in keys:
                    found.append((key.start_mark.line + 1, key.value))
                keys.add(getattr(key, "value", None))
                pending.append(value)
    return (min(found)[1], min(found)[0]) if found else None
