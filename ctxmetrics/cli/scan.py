"""The `scan` command: detection over every metric × segment, with a progress bar."""
from __future__ import annotations

import sys

import click

from ctxmetrics.cli import cli, pass_project


@cli.command()
@click.option("--metric", "metrics", multiple=True, help="Scan only this metric (repeatable).")
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    help="Where to build the cube and detect (default: `engine` in ctxmetrics.yaml, else local).",
)
@click.option(
    "--output-parquet",
    metavar="DIR",
    help="Spark engine: also write the stored results as Parquet under DIR (any path the cluster writes).",
)
@pass_project
def scan(ref, metrics, engine, output_parquet):
    """Detect spikes and level shifts in every metric × segment, link them to the
    timeline and store the results. Series unchanged since the last scan are not
    re-detected, but every anomaly is re-linked to the current timeline.

    \b
    Example:
        ctxmetrics scan
        ctxmetrics scan --metric leads --metric won
        ctxmetrics scan --engine spark --output-parquet results/
    """
    from ctxmetrics.scan.scan import scan_project

    project = ref.get()
    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            tasks: dict[str, int] = {}

            def progress(metric, done, total):
                if metric not in tasks:
                    tasks[metric] = bar.add_task(f"scanning {metric}", total=total)
                bar.update(tasks[metric], completed=done)

            result = scan_project(project, metrics, progress=progress, engine=engine, output_parquet=output_parquet)
    else:  # piped or in CI: no bar
        result = scan_project(project, metrics, engine=engine, output_parquet=output_parquet)
    click.echo(
        f"Scanned {result.series:,} series of {result.metrics} metric{'s' if result.metrics != 1 else ''} "
        f"({result.rescanned:,} changed since the last scan, {result.candidates:,} passed the pre-screen): "
        f"{result.anomalies} {'anomaly' if result.anomalies == 1 else 'anomalies'}, {result.explained} linked to context."
    )
    from ctxmetrics.models.periods import unit

    for metric, granularity in sorted(result.granularities.items()):
        click.echo(f"{metric} is {granularity} data: judged one value per {unit(granularity)}.")
    for metric, reason in sorted(result.bookings.items()):  # recorded by ingest
        per = unit(result.granularities[metric])
        click.echo(f"{metric} is {reason} (one value per {per}, not a daily series of a spike a {per}).")
    if result.too_small:
        click.echo(
            f"{result.too_small:,} series too small to ever show a change "
            "(too few events for even a drop to zero to be significant) were not judged."
        )
    for metric, parts in sorted(result.not_scanned.items()):
        click.echo(f"Not scanned: {metric}, no data for {' or '.join(parts)}.")
    from ctxmetrics.store.series import fractional_counts

    with project.store(read_only=True) as store:
        fractional = fractional_counts(store, project.config, metrics)
    if fractional:  # judged by a count's likelihood without a word, a 0-1 share looked "too small"
        names = ", ".join(fractional)
        click.echo(
            f"Warning: {names} {'has' if len(fractional) == 1 else 'have'} values that are not whole numbers but "
            f"{'is' if len(fractional) == 1 else 'are'} judged as counts (metrics not listed in ctxmetrics.yaml are); "
            "declare money such as revenue 'type: amount' and levels such as a temperature or a share 'type: gauge'.",
            err=True,
        )
    for metric in project.config.size_rule_unused():
        click.echo(
            f"Warning: detection.overrides.{metric}.min_change_pct does not apply: {metric} is a "
            f"{project.config.metric(metric).type}, judged by significance alone (no size rule: a level's units vary); "
            f"raise its min_score to see fewer of its changes.",
            err=True,
        )
    _warn_timeline_names(project)
    from ctxmetrics.store.results import gap_text

    for metric, days in result.gaps.items():
        click.echo(f"Data gap: {gap_text(metric, days)} (unknown days, not zeros).")


def _warn_timeline_names(project) -> None:
    """Say the timeline's events that name a metric, dimension or segment the data lacks
    by a typo (`region: [EMAE]`): the scan read them, and they can link nothing there.
    `annotate lint` refuses them; a scan, often run from cron, still runs."""
    from ctxmetrics.cli.annotate import known_names
    from ctxmetrics.timeline.read import load_timeline, name_problems

    metrics, dimensions, values = known_names(project)
    events = load_timeline(project.annotations_dir, project.config.timezone, project.config.event_types)
    for problem in sorted(p for event in events for p in name_problems(event, metrics, dimensions, values)):
        click.echo(f"Warning: {problem} The event links nothing there; fix it ('ctxmetrics annotate lint' lists all).",
                   err=True)
