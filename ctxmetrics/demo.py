"""The bundled demo organisation ("Acme"): 18 months of a daily sales funnel, its timeline
of business events, and saved queries.

One scenario definition drives everything: each `DemoEvent` is an annotation of the
timeline *and* the effects it had on the generated data (`synth.Effect`). Untagged effects
are effects with no annotation (something happened that nobody wrote down), and an event
without effects is a tagged expectation the data never showed. The repository's own
`annotations/` and `queries/` folders are exactly what `write_scenario` writes (a test
checks it), so the installed package needs no data files.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

import yaml

from ctxmetrics.synth import Effect

SEED = 20240901
START = date(2024, 9, 2)  # a Monday: synth puts day 0 of its weekly profile on a Monday
END = date(2026, 2, 28)  # 18 months of daily data
REGIONS = ("NA", "EMEA", "APAC")
CHANNELS = ("paid", "organic", "partner")
DEFAULT_DIR = "ctxmetrics-demo"
BURN_IN_DAYS = 7


@dataclass(frozen=True)
class DemoEvent:
    """One event of the demo timeline and the effects it really had on the data."""

    file: str  # annotations/<file>.yaml
    id: str
    title: str
    type: str
    start: date
    end: date | None = None
    scope: dict[str, tuple[str, ...]] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    expect: str | None = None
    owner: str | None = None
    links: tuple[str, ...] = ()
    notes: str | None = None
    effects: tuple[Effect, ...] = ()

    def yaml_fields(self) -> dict:
        data: dict = {"id": self.id, "title": self.title, "type": self.type, "start": self.start}
        if self.end is not None:
            data["end"] = self.end
        optional = {
            "scope": {k: list(v) for k, v in self.scope.items()},
            "metrics": list(self.metrics),
            "expect": self.expect,
            "owner": self.owner,
            "links": list(self.links),
            "notes": self.notes,
        }
        data.update((k, v) for k, v in optional.items() if v not in (None, [], {}))
        return data


def _holiday(day: date, last: date, name: str, magnitude: float = -0.4) -> DemoEvent:
    """A company-wide holiday: about 40% fewer leads on its days."""
    return DemoEvent(
        file="holidays", id=f"{name.lower().replace(' ', '-')}-{day.year}", title=f"{name} {day.year}",
        type="holiday", start=day, end=last,
        effects=(Effect("leads", {}, day, last, "spike", magnitude, name),),
    )


EVENTS: tuple[DemoEvent, ...] = (
    _holiday(date(2024, 12, 24), date(2024, 12, 26), "Christmas"),
    _holiday(date(2024, 12, 31), date(2025, 1, 1), "New Year"),
    DemoEvent(
        file="campaigns", id="emea-paid-spring-push", title="EMEA paid spring push", type="campaign",
        start=date(2025, 4, 17), end=date(2025, 4, 30),
        scope={"region": ("EMEA",), "channel": ("paid",)}, metrics=("leads",), expect="up", owner="marta",
        links=("https://wiki.acme.example/marketing/emea-spring-push",),
        notes="Paid search and LinkedIn ads, 20% off the first year of annual plans.",
        effects=(Effect("leads", {"region": "EMEA", "channel": "paid"}, date(2025, 4, 17), date(2025, 4, 30),
                        "spike", 0.7, "EMEA paid spring push"),),
    ),
    DemoEvent(
        file="company", id="sales-offsite-lisbon", title="Sales offsite (Lisbon)", type="offsite",
        start=date(2025, 6, 10), end=date(2025, 6, 12),
        metrics=("opportunities", "won"), expect="down", owner="sam",
        notes="Whole sales team away; no discovery calls, no closing.",
        effects=(
            Effect("opportunities", {}, date(2025, 6, 10), date(2025, 6, 12), "spike", -0.8, "offsite"),
            Effect("won", {}, date(2025, 6, 10), date(2025, 6, 12), "spike", -0.8, "offsite"),
        ),
    ),
    DemoEvent(
        file="campaigns", id="apac-webinar-series", title="APAC webinar series", type="campaign",
        start=date(2025, 7, 8), end=date(2025, 7, 24),
        scope={"region": ("APAC",)}, metrics=("leads",), expect="up", owner="kenji",
        notes="Four webinars with partners; attendance was low.",
    ),
    DemoEvent(
        file="company", id="release-4-2", title="Release 4.2 (new sign-up flow)", type="release",
        start=date(2025, 9, 2), owner="dev-team",
        links=("https://status.acme.example/releases/4.2",),
    ),
    DemoEvent(
        file="incidents", id="signup-form-outage", title="Sign-up form outage", type="outage",
        start=date(2025, 9, 3), end=date(2025, 9, 4), metrics=("leads",), expect="down", owner="ops",
        links=("https://status.acme.example/incidents/2025-09-03",),
        notes="The new sign-up form rejected most company e-mail domains for two days.",
        effects=(Effect("leads", {}, date(2025, 9, 3), date(2025, 9, 4), "spike", -0.85, "outage"),),
    ),
    DemoEvent(
        file="company", id="pricing-2025-11", title="New pricing: annual plans +15%", type="pricing",
        start=date(2025, 11, 3), end=date(2025, 11, 3), metrics=("won", "win_rate"), expect="down", owner="cfo",
        links=("https://wiki.acme.example/pricing/2025-11",),
        effects=(Effect("won", {}, date(2025, 11, 3), None, "level_shift", -0.35, "pricing"),),
    ),
    _holiday(date(2025, 12, 24), date(2025, 12, 26), "Christmas"),
    _holiday(date(2025, 12, 31), date(2026, 1, 1), "New Year"),
)

# What happened but was never tagged: the partner portal's single sign-on broke for APAC
# partners, and their referrals more than halved. The digest must call it unexplained.
UNTAGGED: tuple[Effect, ...] = (
    Effect("leads", {"region": "APAC", "channel": "partner"}, date(2026, 1, 19), None, "level_shift", -0.6,
           "APAC partner portal SSO broken (untagged)"),
)

FILE_HEADERS = {
    "campaigns": "Marketing campaigns. Owner: marketing ops.",
    "company": "Company events: offsites, releases, pricing changes.",
    "incidents": "Incidents that touched the funnel (from the status page).",
    "holidays": "Public holidays observed company-wide.",
}

QUERIES = {
    "weekly_conversion": """\
-- Weekly funnel and stage-to-stage conversion per region.
-- Run: ctxmetrics query weekly_conversion   (add --csv or --json for a file)
select
    date_trunc('week', ts)::date as week,
    region,
    sum(value) filter (where metric = 'leads') as leads,
    sum(value) filter (where metric = 'mql') as mql,
    sum(value) filter (where metric = 'sql') as sql,
    sum(value) filter (where metric = 'opportunities') as opportunities,
    sum(value) filter (where metric = 'won') as won,
    round(sum(value) filter (where metric = 'mql')
          / nullif(sum(value) filter (where metric = 'leads'), 0), 3) as lead_to_mql,
    round(sum(value) filter (where metric = 'won')
          / nullif(sum(value) filter (where metric = 'opportunities'), 0), 3) as win_rate
from observations
group by all
order by week, region
""",
}


def effects() -> tuple[Effect, ...]:
    """Every effect injected into the demo data: the tagged events' and the untagged ones."""
    return tuple(e for event in EVENTS for e in event.effects) + UNTAGGED


def _scalar(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000, sort_keys=False).strip()
    return text[: -len("...")].strip() if text.endswith("...") else text


def timeline_files() -> dict[str, str]:
    """The demo's annotation files: relative path -> YAML text (one list of events per file)."""
    out: dict[str, str] = {}
    for name, header in FILE_HEADERS.items():
        lines = [f"# {header}", "# One event per list item: id, title, type, start, end, scope, metrics, expect, owner, links.", ""]
        for event in (e for e in EVENTS if e.file == name):
            for i, (key, value) in enumerate(event.yaml_fields().items()):
                lines.append(f"{'- ' if i == 0 else '  '}{key}: {_scalar(value)}")
        out[f"{name}.yaml"] = "\n".join(lines) + "\n"
    return out


def write_scenario(root: Path | str) -> None:
    """Write the demo timeline to `root/annotations/` and the saved queries to `root/queries/`."""
    root = Path(root)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "queries").mkdir(parents=True, exist_ok=True)
    for name, text in timeline_files().items():
        (root / "annotations" / name).write_text(text, encoding="utf-8")
    for name, sql in QUERIES.items():
        (root / "queries" / f"{name}.sql").write_text(sql, encoding="utf-8")


def funnel_frame():
    """The demo's daily funnel (polars, long format: date, metric, value, region, channel)."""
    import polars as pl

    from ctxmetrics.synth import generate_funnel

    # Generated from a week earlier and cut: later stages trail leads by days, so their
    # first days would otherwise be made of leads that never existed.
    first = START - timedelta(days=BURN_IN_DAYS)
    frame = generate_funnel(
        SEED, start=first, days=(END - first).days + 1, regions=REGIONS, channels=CHANNELS,
        effects=effects(), low_volume_segment=False,
    ).frame
    return frame.filter(pl.col("date") >= START)


@dataclass(frozen=True)
class DemoResult:
    root: Path
    html_path: Path
    markdown: str
    anomalies: int
    explained: int
    seconds: float


def build_demo(directory: Path | str = DEFAULT_DIR, progress: Callable[[str], None] | None = None) -> DemoResult:
    """Create the demo project in `directory`, ingest its data, scan it and write `digest.html`.

    Args:
        directory: A new or empty folder (it must not already be a ctxmetrics project).
        progress: Called with one line of text per step.

    Returns:
        Where it was built, the digest as Markdown, and counts.

    Raises:
        CtxError: `directory` is already a project.
    """
    from ctxmetrics.config import DEMO_CONFIG_TEXT
    from ctxmetrics.report.digest import build_digest, render_markdown
    from ctxmetrics.ingest.ingest import ingest_paths
    from ctxmetrics.project import Project, init_project
    from ctxmetrics.report.report_html import write_html
    from ctxmetrics.scan.scan import scan_project

    say = progress or (lambda _line: None)
    began = time.perf_counter()
    root = init_project(directory, DEMO_CONFIG_TEXT)
    write_scenario(root)
    say(f"Created the demo project in {root}: ctxmetrics.yaml, annotations/ ({len(EVENTS)} events), queries/")
    data = root / "data" / "funnel.parquet"
    data.parent.mkdir(exist_ok=True)
    funnel_frame().write_parquet(data)
    project = Project(root)
    with project.store() as store:
        ingested = ingest_paths(store, [data], known_dimensions=project.config.dimensions)
    say(f"Ingested {ingested.rows:,} rows: {START} to {END}, {len(REGIONS)} regions x {len(CHANNELS)} channels")
    result = scan_project(project)
    say(f"Scanned {result.series} series: {result.anomalies} anomalies, {result.explained} explained")
    digest = build_digest(project)
    html_path = write_html(project, digest, root / "digest.html")
    say(f"Wrote {html_path}")
    return DemoResult(
        root=root, html_path=html_path, markdown=render_markdown(digest),
        anomalies=result.anomalies, explained=result.explained, seconds=time.perf_counter() - began,
    )
