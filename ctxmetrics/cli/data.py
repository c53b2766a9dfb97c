"""Commands that set up a project and move data in and out: init, ingest, query."""
from __future__ import annotations

from pathlib import Path

import click

from ctxmetrics.cli import cli, pass_project


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
def init(directory):
    """Create a project: ctxmetrics.yaml, annotations/ and queries/.

    \b
    Example:
        ctxmetrics init acme-funnel
    """
    from ctxmetrics.project import init_project

    root = init_project(directory)
    click.echo(f"Created project in {root}: ctxmetrics.yaml, annotations/, queries/")


def _split_dims(ctx, param, value):
    return [d.strip() for d in value.split(",") if d.strip()] if value else []


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["long", "wide", "events"]),
    default="long",
    show_default=True,
    help="long: date, metric, value, dimensions…; wide: date + one column per metric; "
    "events: entity_id, stage, ts, dimensions… counted into daily stage counts.",
)
@click.option("--dims", callback=_split_dims, help="Dimension columns, comma-separated (needed for --format wide).")
@pass_project
def ingest(ref, paths, fmt, dims):
    """Load CSV, Parquet or JSON-lines files into the store.

    Re-ingesting the same (metric, day, dimensions) replaces the value. All files are
    validated first and stored in one transaction: on any error nothing is written.

    \b
    Example:
        ctxmetrics ingest data/funnel-2026-03.csv
        ctxmetrics ingest daily.parquet --format wide --dims region,channel
        ctxmetrics ingest crm-export.csv --format events
    """
    from ctxmetrics.ingest import ingest_paths

    project = ref.get()
    with project.store() as store:
        result = ingest_paths(store, paths, fmt=fmt, dims=dims, known_dimensions=project.config.dimensions)
    click.echo(
        f"Ingested {result.rows:,} rows from {result.files} file{'s' if result.files != 1 else ''}: "
        f"{result.added:,} added, {result.replaced:,} replaced."
    )


@cli.command()
@click.argument("sql_or_name")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of row objects.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header line.")
@click.option("--parquet", "parquet_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the result to this Parquet file (the only file query ever writes).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Bind $NAME in the SQL (repeatable).")
@pass_project
def query(ref, sql_or_name, as_json, as_csv, parquet_file, params):
    """Run SQL against the store, or the saved query queries/NAME.sql.

    The view `observations(metric, ts, value, <dimensions>)` holds the data as ingested;
    `annotations` and `anomalies` hold the timeline and the scan results.

    Queries are read-only: they can read the store and nothing else. Writing to it,
    reading or writing other files (COPY, EXPORT, ATTACH, read_csv…), URLs, extensions
    and settings are refused with exit code 1. In JSON, a NaN or infinite value is null
    (a note on stderr says how many).

    \b
    Example:
        ctxmetrics query "select metric, sum(value) from observations group by all"
        ctxmetrics query weekly_conversion --csv > weekly.csv
        ctxmetrics query weekly_conversion --parquet weekly.parquet
        ctxmetrics query "select * from observations where metric = $m" --param m=leads
    """
    from ctxmetrics import output
    from ctxmetrics.queries import resolve_query

    if sum(map(bool, (as_json, as_csv, parquet_file))) > 1:
        raise click.UsageError("Use just one of --json, --csv or --parquet.")
    bound = {}
    for pair in params:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{pair}' is not NAME=VALUE.", param_hint="--param")
        bound[name] = value
    project = ref.get()
    sql = resolve_query(project.queries_dir, sql_or_name)
    with project.store(read_only=True) as store:
        if parquet_file is not None:
            from ctxmetrics.queries import write_parquet

            rows = write_parquet(store, sql, bound or None, parquet_file)
            click.echo(f"Wrote {rows:,} row{'s' if rows != 1 else ''} to {parquet_file}.")
            return
        columns, rows = store.query_rows(sql, bound or None)
    if as_json:
        text, replaced = output.rows_to_json(columns, rows)
        click.echo(text)
        if replaced:
            click.echo(output.null_note(replaced), err=True)
    elif as_csv:
        click.echo(output.rows_to_csv(columns, rows), nl=False)
    else:
        click.echo(output.rows_to_table(columns, rows))
