"""The `ctxmetrics` command. Each command parses options, calls one library function
and formats its result; heavy libraries are imported inside commands so that read-only
commands start fast."""
from __future__ import annotations

import importlib
import os
from pathlib import Path

import click

from ctxmetrics.errors import CtxError


class ProjectRef:
    """The --project option, resolved to a Project only when a command needs one."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self._project = None

    def get(self):
        if self._project is None:
            from ctxmetrics.project import Project

            self._project = Project.find(self.directory)
        return self._project


# Command name -> the module under ctxmetrics/cli that defines it. A command's module is
# imported only when that command runs (or help lists it), so `why` loads no other command.
COMMANDS = {
    "init": "data", "ingest": "data", "query": "data", "scan": "scan", "annotate": "annotate",
    "digest": "report", "demo": "report", "status": "report", "why": "why",
    "notify": "notify", "mute": "notify", "unmute": "notify", "run": "notify",
}


class CtxGroup(click.Group):
    """Loads each command's module on first use; turns library errors into one-line
    messages with exit code 1, never a traceback."""

    def list_commands(self, ctx):
        return sorted(set(self.commands) | set(COMMANDS))

    def get_command(self, ctx, name):
        if name not in self.commands and name in COMMANDS:
            importlib.import_module(f"ctxmetrics.cli.{COMMANDS[name]}")  # registers itself on `cli`
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CtxError as exc:
            raise click.ClickException(str(exc)) from None
        # BrokenPipeError: the reader went away (`… | head`); click's main then exits quietly.
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt,
                BrokenPipeError):
            raise
        except Exception as exc:  # a bug: still one line, unless the user asks for the traceback
            if os.environ.get("CTXMETRICS_DEBUG"):
                raise
            first_line = (str(exc).strip().splitlines() or [""])[0]
            raise click.ClickException(
                f"internal error: {type(exc).__name__}: {first_line} (set CTXMETRICS_DEBUG=1 for the traceback)"
            ) from None


pass_project = click.make_pass_decorator(ProjectRef)
DAY = click.DateTime(formats=["%Y-%m-%d"])  # a date option: YYYY-MM-DD


def parse_segment_option(ctx, param, pairs):
    """Click callback of a repeated `--segment DIM=VALUE`: the segment as a dict."""
    from ctxmetrics.models.segments import parse_segment

    try:
        return parse_segment(pairs)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(cls=CtxGroup)
@click.version_option(package_name="ctxmetrics")
@click.option(
    "--project",
    "project_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Project folder (default: the nearest folder upwards holding ctxmetrics.yaml).",
)
@click.pass_context
def cli(ctx, project_dir):
    """Tell why a funnel metric moved: metrics in DuckDB, a YAML timeline of business
    events, change-point detection that links each anomaly to its context."""
    ctx.obj = ProjectRef(project_dir)


def main():
    cli.main(prog_name="ctxmetrics")  # standalone mode: click exits with the command's code

