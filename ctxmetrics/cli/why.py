"""`ctxmetrics why`: explain a metric's changes from the stored scan results."""
from __future__ import annotations

import click

from ctxmetrics.cli import DAY, cli, parse_segment_option, pass_project


@cli.command()
@click.argument("metric")
@click.option("--segment", "segment", multiple=True, callback=parse_segment_option, metavar="DIM=VALUE",
              help="Segment to explain (repeatable); default: the total.")
@click.option("--on", type=DAY, metavar="DATE", help="Changes covering this day.")
@click.option("--since", type=DAY, metavar="DATE", help="Changes covering any day from this one on.")
@click.option("--until", type=DAY, metavar="DATE", help="Changes that started by this day.")
@click.option("--json", "as_json", is_flag=True, help='Print {"anomalies": [...]} as JSON.')
@click.option("--confirm", metavar="ANNOTATION_ID", help="Record that this event caused the (one) anomaly.")
@click.option("--reject", metavar="ANNOTATION_ID", help="Record that this event did not cause the (one) anomaly.")
@pass_project
def why(ref, metric, segment, on, since, until, as_json, confirm, reject):
    """Explain why METRIC changed: each anomaly with its likely causes (ranked, with
    reasons), the segments that carry it, the funnel stage that moved first and what
    changed at the same time. Reads the results of the last 'ctxmetrics scan'.

    \b
    Example:
        ctxmetrics why leads --segment region=EMEA --on 2026-03-05
        ctxmetrics why mql --since 2026-01-01 --until 2026-03-31 --json
        ctxmetrics why leads --segment region=EMEA --on 2026-03-05 --confirm spring-promo-2026
    """
    if on is not None and (since is not None or until is not None):
        raise click.UsageError("use either --on or --since/--until, not both.")
    if confirm and reject:
        raise click.UsageError("use either --confirm or --reject, not both.")
    on, since, until = (d.date() if d is not None else None for d in (on, since, until))
    project = ref.get()
    if confirm or reject:
        from ctxmetrics.report.why import headline, record

        verdict = "confirmed" if confirm else "rejected"
        anomaly, title = record(project, metric, segment, confirm or reject, verdict, on, since, until)
        from ctxmetrics.wording import one_line

        click.echo(f"Recorded: '{one_line(title)}' {verdict} as the cause of {headline(anomaly)}.")
        click.echo("The next 'ctxmetrics scan' keeps this verdict.")
        return
    from ctxmetrics.report.why import format_answer
    from ctxmetrics.report.why import why as explain

    answer = explain(project, metric, segment, on, since, until)
    if as_json:
        from ctxmetrics.report.output import finite_json, null_note

        text, replaced = finite_json(answer.to_json())
        click.echo(text)
        if replaced:  # e.g. change_pct from a level of 0
            click.echo(null_note(replaced), err=True)
    else:
        click.echo(format_answer(answer))
