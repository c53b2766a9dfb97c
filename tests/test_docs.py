"""Every command explains itself: --help works, its text has an Example block, and the
README mentions it."""
from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ctxmetrics.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def all_commands(group: click.Group, prefix=()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, path)
        else:
            yield path


COMMANDS = list(all_commands(cli))


def test_the_contract_commands_exist():
    names = {" ".join(c) for c in COMMANDS}
    assert {"init", "ingest", "query", "scan", "why", "digest", "demo", "annotate add", "annotate start",
            "annotate end", "annotate list", "annotate lint"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_command_help_has_an_example_and_is_documented(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    name = " ".join(path)
    assert f"ctxmetrics {name}" in README or f"`{name} " in README


def test_every_command_module_is_in_the_lazy_table():
    """`cli.COMMANDS` names each command's module; a command missing there would not be listed."""
    import importlib
    import pkgutil

    import ctxmetrics.cli as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"ctxmetrics.cli.{module.name}")
    registered = {name: command.callback.__module__.rsplit(".", 1)[1] for name, command in cli.commands.items()}
    assert registered == package.COMMANDS
