"""`ctxmetrics digest` (the manager's report) and `ctxmetrics demo`."""
from __future__ import annotations

from pathlib import Path

import click

from ctxmetrics.cli import DAY, cli, pass_project
from ctxmetrics.errors import CtxError
from ctxmetrics.status import ExitStatus


@cli.command()
@click.option("--since", type=DAY, help="First day of the report (default: all scanned data).")
@click.option("--until", type=DAY, help="Last day of the report (default: the latest data).")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md", show_default=True,
              help="md: Markdown; html: one self-contained file with a chart per anomaly; json: for bots.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of the terminal.")
@click.option("--limit", type=click.IntRange(min=0), default=30, show_default=True,
              help="Items shown in full per section in md/html (0 = all); JSON always lists every anomaly.")
@click.option("--fail-on-unexplained", is_flag=True,
              help="Exit with code 3 when an anomaly of the period has no known cause (for cron and CI).")
@pass_project
@click.pass_context
def digest(ctx, ref, since, until, fmt, output, limit, fail_on_unexplained):
    """The manager's report: anomalies of a period, most important first, each with its
    causes and drivers; unexplained ones with the command that would tag them; events
    whose expected effect was not seen.

    Importance = score × ln(1 + mean volume per day, or per week or month for a series kept
    so). Read-only: run 'ctxmetrics scan' first.

    \b
    Example:
        ctxmetrics digest --since 2026-03-01
        ctxmetrics digest --format html -o digest.html
        ctxmetrics digest --format json --since 2026-03-09 --until 2026-03-15
        ctxmetrics digest --since 2026-03-09 --fail-on-unexplained || notify-team
    """
    from ctxmetrics.report.digest import build_digest, render_json, render_markdown
    from ctxmetrics.report.output import write_report

    project = ref.get()
    if output is not None and project.owns(output):  # '-o ctxmetrics.yaml' broke every later command
        raise CtxError(f"-o {output}: that is a file of the project; name another file.")
    report = build_digest(project, since.date() if since else None, until.date() if until else None,
                          limit=limit or None)
    if fmt == "html":
        from ctxmetrics.report.report_html import build_charts, render_html

        text = render_html(report, build_charts(project, report))
    elif fmt == "json":
        text = render_json(report) + "\n"
    else:
        text = render_markdown(report)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_report(output, text)
        click.echo(f"Wrote {output} ({len(report.anomalies)} anomalies, {report.coverage.get('explained', 0)} explained).")
    if fail_on_unexplained and any(not a.explained for a in report.anomalies):
        ctx.exit(ExitStatus.UNEXPLAINED)


@cli.command()
@click.argument("directory", default="ctxmetrics-demo", type=click.Path(file_okay=False, path_type=Path))
def demo(directory):
    """Build the demo organisation in DIRECTORY: 18 months of a daily funnel (3 regions ×
    3 channels), its timeline of campaigns, an offsite, an outage, a pricing change and
    holidays; then ingest, scan, write DIRECTORY/digest.html and print the digest.

    \b
    Example:
        ctxmetrics demo acme-demo
        ctxmetrics --project acme-demo why leads --segment region=EMEA --on 2025-04-20
    """
    from ctxmetrics.demo import build_demo

    result = build_demo(directory, progress=lambda line: click.echo(line, err=True))
    click.echo(f"Done in {result.seconds:.1f}s. Open {result.html_path} for the charts.\n", err=True)
    click.echo(result.markdown, nl=False)


@cli.command()
@pass_project
def status(ref):
    """What the project holds and what to run next: each metric's granularity, rows and
    days, the dimensions, the timeline's events and the last scan's anomalies and data
    gaps. Read-only.

    \b
    Example:
        ctxmetrics status
    """
    from ctxmetrics.report.overview import project_status

    click.echo("\n".join(project_status(ref.get())))
