"""`ctxmetrics notify`, `mute`/`unmute` and `run` (ingest + scan + notify for cron)."""
from __future__ import annotations

import click

from ctxmetrics.cli import DAY, cli, parse_segment_option, pass_project
from ctxmetrics.status import ExitStatus


@cli.command()
@click.option("--dry-run", is_flag=True, help="Print each channel's payload; send and record nothing.")
@pass_project
@click.pass_context
def notify(ctx, ref, dry_run):
    """Send what is new since the last notify to the channels under 'notify:' in
    ctxmetrics.yaml (Slack, webhook, e-mail): one message per channel, grouped by
    business event. Each anomaly reaches each channel once; a lasting shift again only
    when it ends or its explanation changes. A failed send exits 4 and is retried next time.

    \b
    Example:
        ctxmetrics notify --dry-run
        ctxmetrics notify
    """
    from ctxmetrics.report.notify import notify as send, report_lines

    report = send(ref.get(), dry_run=dry_run)
    for result in report.results:
        if result.preview is not None:
            click.echo(f"--- {result.channel.name}")
            click.echo(result.preview)
    for line in report_lines(report):
        click.echo(line, err=bool(report.failed))
    if report.failed:
        ctx.exit(ExitStatus.SEND_FAILED)


@cli.command()
@click.option("--anomaly", "anomaly_id", metavar="ID", help="One anomaly (its id: metric|segment|start).")
@click.option("--metric", help="A series: this metric (in --segment, default the total).")
@click.option("--segment", multiple=True, callback=parse_segment_option, metavar="DIM=VALUE",
              help="A segment (repeatable); alone it mutes every metric inside it.")
@click.option("--until", type=DAY, help="Last day of the mute (required to add one).")
@click.option("--list", "show", is_flag=True, help="List the mutes still in force.")
@pass_project
def mute(ref, anomaly_id, metric, segment, until, show):
    """Silence an anomaly, a series or a segment in 'notify' and the digest until a date.

    \b
    Example:
        ctxmetrics mute --metric leads --segment region=APAC --until 2026-04-30
        ctxmetrics mute --segment channel=partner --until 2026-03-31
        ctxmetrics mute --list
    """
    from ctxmetrics.report.mutes import Mute, active_mutes, add_mute

    project = ref.get()
    if show:
        with project.store(read_only=True) as store:
            mutes = active_mutes(store)
        for m in mutes:
            click.echo(f"{m.describe()} until {m.until}")
        if not mutes:
            click.echo("No mutes in force.")
        return
    if until is None:
        raise click.UsageError("say until when with --until DATE (or --list to see the mutes).")
    wanted = Mute.of(anomaly_id, metric, segment, until.date())
    with project.store() as store:
        replaced = add_mute(store, wanted)
    was = f" (was until {replaced})" if replaced is not None and replaced != wanted.until else ""
    click.echo(f"Muted {wanted.describe()} until {wanted.until}{was}.")


@cli.command()
@click.option("--anomaly", "anomaly_id", metavar="ID", help="The anomaly id given to 'mute'.")
@click.option("--metric", help="The metric given to 'mute'.")
@click.option("--segment", multiple=True, callback=parse_segment_option, metavar="DIM=VALUE", help="The segment given to 'mute'.")
@pass_project
def unmute(ref, anomaly_id, metric, segment):
    """Lift a mute (the same target as given to 'mute').

    \b
    Example:
        ctxmetrics unmute --metric leads --segment region=APAC
    """
    import datetime as dt

    from ctxmetrics.report.mutes import Mute, remove_mute

    target = Mute.of(anomaly_id, metric, segment, dt.date.max, command="unmute")
    with ref.get().store() as store:
        remove_mute(store, target)
    click.echo(f"Unmuted {target.describe()}.")


@cli.command()
@pass_project
@click.pass_context
def run(ctx, ref):
    """One command for cron: ingest the new files of the 'inbox:' folders, scan, then
    notify the 'notify:' channels.

    Exit codes: 0 nothing needs attention; 1 failed (bad file or config, locked store);
    3 unexplained anomalies that no earlier run reported; 4 a channel did not take its
    message (retried next run).

    \b
    Example:
        ctxmetrics run
        0 7 * * * cd /srv/metrics && ctxmetrics run
    """
    from ctxmetrics.ingest.inbox import ingest_new
    from ctxmetrics.report.notify import RUN_CHANNEL, channels_of, notify as send, report_lines
    from ctxmetrics.scan.scan import scan_project

    project = ref.get()
    channels = channels_of(project)  # a bad notify: entry fails before any work
    added = ingest_new(project)
    for line in added.lines():
        click.echo(line)
    result = scan_project(project)
    click.echo(f"Scanned: {result.anomalies} {'anomaly' if result.anomalies == 1 else 'anomalies'}, {result.explained} linked to context.")
    failed = False
    if channels:
        report = send(project, channels=channels)
        for line in report_lines(report):
            click.echo(line)
        failed = bool(report.failed)
    new = send(project, channels=[RUN_CHANNEL]).results[0]
    if new.unexplained:
        click.echo(f"{new.unexplained} new unexplained business event{'s' if new.unexplained != 1 else ''}.")
    if failed:
        ctx.exit(ExitStatus.SEND_FAILED)
    if new.unexplained:
        ctx.exit(ExitStatus.UNEXPLAINED)
