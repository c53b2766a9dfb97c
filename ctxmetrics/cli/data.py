"""Commands that set up a project and move data in and out: init, ingest, query."""
from __future__ import annotations

from pathlib import Path

import click

from ctxmetrics.cli import cli, pass_project


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.argument("more_samples", nargs=-1, type=click.Path(path_type=Path), metavar="[FILE]...")
@click.option(
    "--from", "samples", multiple=True, type=click.Path(path_type=Path),
    help="Data files to fit the config to (--from a.csv b.csv): their columns, metrics, types and granularity.",
)
@click.option("--sheet", help="The sheet of the Excel workbooks to read (default: their first); written to ctxmetrics.yaml.")
@click.option("--date-format", help="strftime codes of the files' dates when they read two ways (01/05/2026): %m/%d/%Y or %d/%m/%Y.")
def init(directory, more_samples, samples, sheet, date_format):
    """Create a project: ctxmetrics.yaml, annotations/ and queries/.

    With --from, the config is written for those files (date and value columns,
    dimensions, each metric's type and granularity), commented; otherwise it is minimal.

    \b
    Example:
        ctxmetrics init acme-funnel
        ctxmetrics init demand --from demand.csv
        ctxmetrics init crm --from leads.csv stages.parquet
    """
    from ctxmetrics.project import init_project

    if more_samples and not samples:
        raise click.UsageError("Files after the folder are the --from files: ctxmetrics init DIR --from FILE…")
    samples = (*samples, *more_samples)
    granularities, said = {}, []
    if samples:
        from ctxmetrics.ingest.infer import infer_config

        text, granularities, said = infer_config(samples, sheet=sheet, date_format=date_format)
        root = init_project(directory, text)
    else:
        root = init_project(directory)
    click.echo(f"Created project in {root}: ctxmetrics.yaml, annotations/, queries/")
    if granularities:
        shown = ", ".join(f"{metric} {granularity or 'unknown (one date)'}" for metric, granularity in granularities.items())
        click.echo(f"Cadence of each metric, from its dates: {shown}.")
    for line in said:
        click.echo(line)


def _split_dims(ctx, param, value):
    return [d.strip() for d in value.split(",") if d.strip()] if value else []


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["long", "wide", "events", "records"]),
    default=None,
    help="long (the default): date, metric, value, dimensions… (no metric column: the file is one "
    "metric's series); wide: date + one column per metric; events: entity_id, stage, ts, dimensions… "
    "counted into daily stage counts; records: one row per deal, counted as 'records:' in ctxmetrics.yaml "
    "says. Default: 'format' in ctxmetrics.yaml, else long.",
)
@click.option("--dims", callback=_split_dims, help="Dimension columns, comma-separated (needed for --format wide).")
@click.option("--date-col", help="The date/time column (default: date, ts, timestamp, ds or day).")
@click.option("--value-col", help="The value column (default: value, y or count).")
@click.option("--metric-col", help="The column naming each row's metric (default: metric).")
@click.option("--hour-col", help="An hour-of-day column (0-23) beside the date column: hourly rows, combined per day.")
@click.option("--metric", "metric_name", help="The metric of a file without a metric column (default: the file's name).")
@click.option("--date-format", help="strftime codes of the dates, e.g. %m/%d/%Y (default: ISO 8601 only).")
@click.option(
    "--decimal-comma", is_flag=True,
    help="Numbers are written with a decimal comma and dots between thousands (1.234,5), as European "
    "spreadsheets export them (default: 'decimal_comma' in ctxmetrics.yaml, else 1234.5).",
)
@click.option("--sheet", help="The sheet of an Excel workbook to read (default: 'sheet' in ctxmetrics.yaml, else the first).")
@click.option("--strict", is_flag=True, help="A new metric name close to a known one is an error, not a warning.")
@click.option(
    "--as-rollup",
    is_flag=True,
    help="Store the rows as separate series named METRIC_by_DIMS (e.g. leads_by_region; METRIC_total without "
    "dimensions), never summed with METRIC: for totals next to a stored breakdown of the same days.",
)
@click.option("--sql", help="Load the result of this query instead of files (needs --db).")
@click.option("--db", help="Database URL for --sql, e.g. postgresql://user@host/crm.")
@pass_project
def ingest(ref, paths, fmt, dims, date_col, value_col, metric_col, hour_col, metric_name, date_format, decimal_comma,
           sheet, strict, as_rollup, sql, db):
    """Load CSV, Excel (.xlsx), Parquet or JSON-lines files (or a database query) into the store.

    Re-ingesting the same (metric, day, dimensions) replaces the value. All files are
    validated first and stored in one transaction: on any error nothing is written.
    Times of day are put on the project's day (its time zone) and combined per day.

    \b
    Example:
        ctxmetrics ingest data/funnel-2026-03.csv
        ctxmetrics ingest daily.parquet --format wide --dims region,channel
        ctxmetrics ingest crm-export.csv --format events
        ctxmetrics ingest finance-leads-by-region.csv --as-rollup
        ctxmetrics ingest --db postgresql://localhost/crm --format events \\
            --sql "SELECT opportunity_id AS entity_id, stage, changed_at AS ts FROM stage_history"
    """
    from ctxmetrics.ingest.ingest import check_files, ingest_frame, ingest_paths

    if bool(sql) != bool(db):
        raise click.UsageError("--sql and --db go together.")
    if sql and paths:
        raise click.UsageError("Give files or --sql, not both.")
    if not sql and not paths:
        raise click.UsageError("Name the files to ingest (or pass --sql and --db).")
    named = (("date", date_col), ("value", value_col), ("metric", metric_col), ("hour", hour_col))
    columns = {role: name for role, name in named if name}
    options = dict(
        fmt=fmt, dims=dims, columns=columns, metric=metric_name, date_format=date_format, decimal_comma=decimal_comma,
        sheet=sheet,
    )
    project = ref.get()
    if sql:
        from ctxmetrics.store.sql_source import read_query

        frame = read_query(db, sql)  # before the store's lock: a slow query must not hold it
        with project.store() as store:
            result = ingest_frame(
                store, frame, "query result", config=project.config, strict=strict, as_rollup=as_rollup, **options
            )
    else:
        # a FIFO or folder is refused before the store's lock is taken; a workbook is read once
        sources = check_files(paths, sheet or project.config.sheet)
        with project.store() as store:
            result = ingest_paths(store, sources, config=project.config, strict=strict, as_rollup=as_rollup, **options)
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)
    # Rows with a time of day are stored per day: say so, or 384 hourly rows read as 16 look lost.
    combined = f" ({result.timed_rows:,} values with a time of day, combined per day)" if result.timed_rows else ""
    click.echo(
        f"Ingested {result.rows:,} row{'s' if result.rows != 1 else ''} from {result.files} {'source' if sql else 'file'}{'s' if result.files != 1 else ''}"
        f"{combined}: {result.added:,} added, {result.replaced:,} replaced{_corrections(result)}."
    )
    if result.rollups:
        click.echo(f"Stored as separate rollups: {', '.join(result.rollups)}.")


def _corrections(result) -> str:
    """How many of the replaced values changed, and on which days: a newer export that
    corrects a few days says so, and re-ingesting the same file says nothing changed."""
    if not result.replaced:
        return ""
    fixed = result.corrected
    if not fixed.values:
        return ", all with the same value"
    days = ", ".join(str(day) for day in fixed.first_days)
    if fixed.days > len(fixed.first_days):
        days += f" and {fixed.days - len(fixed.first_days):,} more days"
    same = result.replaced - fixed.values
    share = "all" if not same else f"of which {fixed.values:,}"
    return f", {share} with a new value (on {days})" + (f" and {same:,} the same" if same else "")


# Seconds a `query` may run: DuckDB keeps the store's read lock meanwhile, so a runaway
# query (a cross join) would keep ingest, scan and cron's `run` out of the store for ever.
QUERY_TIME_LIMIT = 300.0


@cli.command()
@click.argument("sql_or_name")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of row objects.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header line.")
@click.option("--parquet", "parquet_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the result to this Parquet file (the only file query ever writes).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Bind $NAME in the SQL (repeatable).")
@click.option("--timeout", "time_limit", type=click.FloatRange(min=0, min_open=True), default=QUERY_TIME_LIMIT,
              show_default=True, metavar="SECONDS",
              help="Stop the query after this long (a running query keeps ingest and scan waiting).")
@pass_project
def query(ref, sql_or_name, as_json, as_csv, parquet_file, params, time_limit):
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
    from ctxmetrics.report import output
    from ctxmetrics.store.queries import resolve_query

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
    try:
        with project.store(read_only=True) as store:
            if parquet_file is not None:
                from ctxmetrics.config import CONFIG_NAME
                from ctxmetrics.store.queries import write_parquet

                own = (project.root / CONFIG_NAME, project.annotations_dir, project.queries_dir)
                rows = write_parquet(store, sql, bound or None, parquet_file, project_files=own, time_limit=time_limit)
                click.echo(f"Wrote {rows:,} row{'s' if rows != 1 else ''} to {parquet_file}.")
                return
            columns, rows = store.query_rows(sql, bound or None, time_limit=time_limit)
    except KeyboardInterrupt:
        raise click.ClickException("query interrupted (Ctrl-C); nothing was written.") from None
    if as_json:
        text, replaced = output.rows_to_json(columns, rows)
        click.echo(text)
        if replaced:
            click.echo(output.null_note(replaced), err=True)
    elif as_csv:
        click.echo(output.rows_to_csv(columns, rows), nl=False)
    else:
        click.echo(output.rows_to_table(columns, rows))
