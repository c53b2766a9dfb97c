"""End-to-end profile: a generated funnel project through `ingest` and `scan`.

Each case is a 3 regions x 3 channels funnel from `ctxmetrics.synth.generate_funnel`
(730 days) with 4 effects drawn here, one per quarter of the series: a random stage, a
random scope (everything, one region or one channel), 1 day to 4 weeks or lasting, down
-50..-90% or up +60..+150%. The project uses the default ctxmetrics.yaml; the data is
ingested from Parquet and scanned as a user would.

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


def scan_funnel(seed: int, effects: list) -> list:
    """Anomalies of a scanned project holding the generated funnel."""
    from ctxmetrics.ingest.ingest import ingest_paths
    from ctxmetrics.project import Project, init_project
    from ctxmetrics.store.results import load_anomalies
    from ctxmetrics.scan.scan import scan_project
    from ctxmetrics.synth import generate_funnel

    with tempfile.TemporaryDirectory() as folder:
        project = Project(init_project(Path(folder) / "funnel"))
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


def evaluate_funnels(split_number: int, count: int) -> tuple[Tally, list[str]]:
    """The summed tally over `count` seeded funnels of a split, and the errors raised."""
    total, errors = Tally(), []
    for i in range(count):
        rng = funnel_rng(split_number, i)
        effects = draw_effects(rng)
        try:
            total.add(tally_funnel(effects, scan_funnel(int(rng.integers(2**31)), effects)))
        except Exception as exc:  # noqa: BLE001 - a crash is a result to report
            total.add(Tally(planted=len(effects), series=1, errors=1))
            errors.append(f"{type(exc).__name__}: {exc}")
    return total, errors
