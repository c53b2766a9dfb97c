"""End-to-end profile: a generated funnel project through `ingest` and `scan`.

Each case is a 3 regions x 3 channels funnel from `ctxmetrics.synth.generate_funnel`
(730 days) with 4 effects drawn here, one per quarter of the series: a random stage, a
random scope (everything, one region or one channel), 1 day to 4 weeks or lasting, down
-50..-90% or up +60..+150%. The project uses the default ctxmetrics.yaml; the data is
ingested from Parquet and scanned as a user would.

Tagged funnels (`evaluate_funnels(..., tagged=True)`): the same funnels and effects, with
a timeline as an analyst keeps it: each effect tagged with its own dates and scope with
probability `TAGGED_SHARE` (the rest left untagged), plus 2-3 decoy tags on windows where
nothing happened (at least `DECOY_CLEARANCE` days from every effect), each of a random
event type and naming no metric. Decoy false alarms: tagged-window anomalies that are
false alarms under the rule below.

Matching rule (the cube reports one change in many series, so it differs from the
single-series rule): an effect is found when an anomaly on its own stage and its own
scope starts within 2 days of it in the same direction. Anomalies that share leaf
segments with an effect and start within 2 days before to 12 days after its start or its
recovery (stage lags add up to 10 days down the funnel) are its echoes: neither found
effects nor false alarms. Every other anomaly is a false alarm.
"""
from __future__ import annotations

import datetime as dt
import tempfile
import zlib
from pathlib import Path

import numpy as np

from benchmarks.eval.scoring import Tally

START = dt.date(2024, 1, 1)
DAYS = 730
TOLERANCE_DAYS = 2
ECHO_DAYS = 12
LENGTHS = (1, 3, 7, 14, 28)


def draw_effects(rng) -> list:
    """Four effects, one per quarter of the series."""
    from ctxmetrics.synth import STAGES, Effect

    scopes = [{}, *({"region": r} for r in ("NA", "EMEA", "APAC")),
              *({"channel": c} for c in ("paid", "organic", "partner"))]
    effects = []
    for quarter in range(4):
        lasting = quarter == 3 and rng.random() < 0.5
        length = None if lasting else int(rng.choice(LENGTHS))
        first = quarter * DAYS // 4 + 30
        start = START + dt.timedelta(days=int(rng.integers(first, first + DAYS // 4 - 60)))
        end = None if length is None else start + dt.timedelta(days=length - 1)
        size = -rng.uniform(0.5, 0.9) if rng.random() < 0.5 else rng.uniform(0.6, 1.5)
        effects.append(Effect(str(rng.choice(STAGES)), dict(scopes[int(rng.integers(len(scopes)))]), start, end,
                              "level_shift" if length is None else "spike", float(size)))
    return effects


TAGGED_SHARE = 0.75
DECOY_CLEARANCE = 30
EVENT_TYPES = ("campaign", "offsite", "outage", "pricing", "release", "holiday", "other")


def draw_tags(rng, effects: list) -> tuple[list[dict], list[dict]]:
    """(tags of effects, decoy tags) as annotation mappings of the YAML timeline."""
    def tag(ident: str, start: dt.date, end: dt.date | None, scope: dict) -> dict:
        event = {"id": ident, "title": ident.replace("-", " "), "type": str(rng.choice(EVENT_TYPES)),
                 "start": start.isoformat(), "scope": {k: [v] for k, v in scope.items()}}
        return event | ({"end": end.isoformat()} if end else {})

    tags = [tag(f"effect-{i}", e.start, e.end, e.segment) for i, e in enumerate(effects) if rng.random() < TAGGED_SHARE]
    scopes = [{}, *({"region": r} for r in ("NA", "EMEA", "APAC")), *({"channel": c} for c in ("paid", "organic", "partner"))]
    edges = [d for e in effects for d in (e.start, e.end or e.start)]
    decoys: list[dict] = []
    while len(decoys) < 2 + int(rng.integers(2)):
        length = int(rng.choice(LENGTHS))
        start = START + dt.timedelta(days=int(rng.integers(60, DAYS - 60)))
        end = start + dt.timedelta(days=length - 1)
        if all((start - d).days > DECOY_CLEARANCE or (d - end).days > DECOY_CLEARANCE for d in edges):
            decoys.append(tag(f"decoy-{len(decoys)}", start, end, scopes[int(rng.integers(len(scopes)))]))
    return tags, decoys


def _overlaps(segment: dict, scope: dict) -> bool:
    return all(segment.get(key, value) == value for key, value in scope.items())


def _echo(anomaly, effect) -> bool:
    if not _overlaps(anomaly.segment, effect.segment):
        return False
    edges = [effect.start] + ([effect.end + dt.timedelta(days=1)] if effect.end else [])
    return any(-TOLERANCE_DAYS <= (anomaly.start - edge).days <= ECHO_DAYS for edge in edges)


def match_effects(effects: list, anomalies: list) -> tuple[list[bool], set[int]]:
    """(per effect: found, indexes of the anomalies that found one) under the matching rule."""
    hits, matched = [], set()
    for effect in effects:
        direction = "up" if effect.magnitude > 0 else "down"
        hit = False
        for j, a in enumerate(anomalies):
            if (j not in matched and a.metric == effect.metric and a.segment == effect.segment
                    and a.direction == direction and abs((a.start - effect.start).days) <= TOLERANCE_DAYS):
                matched.add(j)
                hit = True
                break
        hits.append(hit)
    return hits, matched


def false_alarms(effects: list, anomalies: list) -> list:
    """The anomalies that neither found an effect nor echo one."""
    matched = match_effects(effects, anomalies)[1]
    return [a for j, a in enumerate(anomalies) if j not in matched and not any(_echo(a, e) for e in effects)]


def tally_funnel(effects: list, anomalies: list) -> Tally:
    """Found effects and false alarms of one scanned funnel (see the module docstring)."""
    hits, _ = match_effects(effects, anomalies)
    found = sum(hits)
    # years stay 0: a funnel is a cube of series, so false alarms per series-year do not apply
    return Tally(planted=len(effects), found=found, detections=found + len(false_alarms(effects, anomalies)), series=1)


def scan_funnel(seed: int, effects: list, tags: list[dict] = ()) -> list:
    """Anomalies of a scanned project holding the generated funnel and the `tags` timeline."""
    import yaml

    from ctxmetrics.ingest.ingest import ingest_paths
    from ctxmetrics.project import Project, init_project
    from ctxmetrics.store.results import load_anomalies
    from ctxmetrics.scan.scan import scan_project
    from ctxmetrics.synth import generate_funnel

    with tempfile.TemporaryDirectory() as folder:
        project = Project(init_project(Path(folder) / "funnel"))
        if tags:
            (project.annotations_dir / "timeline.yaml").write_text(yaml.safe_dump(list(tags), sort_keys=False))
        data = Path(folder) / "funnel.parquet"
        generate_funnel(seed, start=START, days=DAYS, effects=tuple(effects)).frame.write_parquet(data)
        with project.store() as store:
            ingest_paths(store, [data], known_dimensions=project.config.dimensions)
        scan_project(project)
        with project.store(read_only=True) as store:
            return load_anomalies(store)


def funnel_rng(split_number: int, index: int) -> np.random.Generator:
    """The generator of funnel `index` of a split: it draws the effects, then the data seed."""
    return np.random.default_rng(np.random.SeedSequence([zlib.crc32(b"funnel_e2e"), split_number, index]))


def evaluate_funnels(split_number: int, count: int, tagged: bool = False) -> tuple[Tally, list[str], int]:
    """The summed tally over `count` seeded funnels of a split, the errors raised, and the
    decoy false alarms (false alarms a tagged window's test found, on a count or a
    conversion; 0 untagged).
    `tagged`: the same funnels with tags and decoys (`draw_tags`, from a generator of its
    own, so the funnels and effects are those of the untagged run)."""
    total, errors, decoy_alarms = Tally(), [], 0
    for i in range(count):
        rng = funnel_rng(split_number, i)
        effects = draw_effects(rng)
        seed = int(rng.integers(2**31))
        tags = []
        if tagged:
            effect_tags, decoys = draw_tags(np.random.default_rng([seed, 1]), effects)
            tags = effect_tags + decoys
        try:
            anomalies = scan_funnel(seed, effects, tags)
        except Exception as exc:  # noqa: BLE001 - a crash is a result to report
            total.add(Tally(planted=len(effects), series=1, errors=1))
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        total.add(tally_funnel(effects, anomalies))
        # a tagged window's test found them: on the count (`found_by` "tagged window") or on the conversion
        decoy_alarms += sum(a.tagged is not None for a in false_alarms(effects, anomalies))
    return total, errors, decoy_alarms
