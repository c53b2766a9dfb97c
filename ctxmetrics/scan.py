"""Scanning: every metric × segment through the detector, then linking to context.

Per metric: build the cube of daily series, fingerprint each series (values, known-day
mask, settings) and re-detect only the series whose fingerprint changed since the last
scan; a vectorised pre-screen picks the candidates worth the per-series detector.
All anomalies are then (re-)explained against the current timeline — annotations may
have changed even where data did not — and the results are stored in one transaction.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from typing import Callable, Iterable

import numpy as np

from ctxmetrics.anomaly import Anomaly
from ctxmetrics.config import EVENT_TABLE, Config
from ctxmetrics.errors import UnknownName
from ctxmetrics.project import Project
from ctxmetrics.series import SeriesSet, build_series_set, metric_names
from ctxmetrics.results import load_anomalies, load_state, load_verdicts
from ctxmetrics.store import Store

BATCH_ROWS = 100  # candidate rows per unit of detector work (and per progress update)
PARALLEL_MIN_ROWS = 300  # below this many candidates per worker, starting workers costs more than it saves

Progress = Callable[[str, int, int], None]  # (metric, series done, series total)


@dataclass(frozen=True)
class ScanResult:
    metrics: int
    series: int
    rescanned: int
    candidates: int
    anomalies: int
    explained: int
    gaps: dict[str, list[dt.date]]  # metric -> days with no data (unknown, never anomalies)
    too_small: int  # series too small to ever show a change (not detected; see detect.too_small)


def scan_project(project: Project, metrics: Iterable[str] = (), progress: Progress | None = None) -> ScanResult:
    """Detect anomalies in every series of the chosen metrics (all by default), link them
    to the timeline and store them, replacing the previous results of those metrics."""
    from ctxmetrics.explain import explain_anomalies
    from ctxmetrics.timeline import load_timeline, mirror_to_store

    config = project.config
    annotations = load_timeline(project.annotations_dir, config.timezone)
    # Read everything, then let go of the store while detecting: other commands can read
    # meanwhile, and detector worker processes never inherit an open connection.
    with project.store(read_only=True) as store:
        known = metric_names(store, config)
        chosen = list(metrics) or known
        for name in chosen:
            if name not in known:
                raise UnknownName(f"Unknown metric '{name}'; the store has: {', '.join(known) or 'no metrics yet'}.")
        previous = load_anomalies(store)
        state = load_state(store)
        verdicts = load_verdicts(store)
        sets: dict[str, SeriesSet] = {}
        for name in chosen:
            series_set = build_series_set(store, config, name, project.queries_dir)
            if series_set is not None:
                sets[name] = series_set
    kept = [a for a in previous if a.metric not in chosen]
    totals = dict(series=0, rescanned=0, candidates=0, too_small=0)
    new_state: list[tuple[str, str, str]] = []
    for name, series_set in sets.items():
        found, stats, fingerprints = _scan_metric(
            series_set, config, annotations, state, [a for a in previous if a.metric == name], progress
        )
        kept += found
        new_state += [(name, key, fp) for key, fp in fingerprints.items()]
        for key in totals:
            totals[key] += stats[key]
    explain_anomalies(kept, annotations, sets, config, verdicts)
    gaps = {name: [ss.day(i) for i in np.flatnonzero(ss.gaps)] for name, ss in sets.items() if ss.gaps is not None and ss.gaps.any()}
    with project.store() as store:
        mirror_to_store(store.con, annotations, config.timezone)  # its own transaction
        with store.transaction():
            _save(store, kept, chosen, new_state, config)
            _save_gaps(store, chosen, gaps)
    return ScanResult(
        metrics=len(sets),
        series=totals["series"],
        rescanned=totals["rescanned"],
        candidates=totals["candidates"],
        anomalies=len(kept),
        explained=sum(1 for a in kept if a.explained),
        gaps=gaps,
        too_small=totals["too_small"],
    )


def _scan_metric(series_set, config, annotations, state, previous, progress):
    """Anomalies of one metric: stored ones for unchanged series, fresh detections for the rest."""
    from ctxmetrics.detect import prescreen, too_small

    settings = config.detection_for(series_set.metric)
    masks = known_masks(series_set, annotations, config.timezone)
    fingerprints = dict(zip(series_set.keys, _fingerprint(series_set, masks, settings)))
    changed = np.array([state.get((series_set.metric, k)) != fp for k, fp in fingerprints.items()], dtype=bool)
    changed_keys = {k for k, c in zip(series_set.keys, changed) if c}
    found = [a for a in previous if a.segment_key not in changed_keys]
    rows = np.flatnonzero(changed)
    candidates = rows
    if len(rows):
        # a full scan screens the cube in place: row-indexing would copy all of it
        chosen = slice(None) if len(rows) == len(changed) else rows
        values = series_set.detection_values(chosen)
        picked = prescreen(
            values,
            settings,
            kind=series_set.kind,
            denominators=None if series_set.denominators is None else series_set.denominators[chosen],
            start_date=series_set.start,
        )
        candidates = rows[picked]
    dens = series_set.denominators
    small = int(too_small(
        series_set.detection_values(slice(None)) if series_set.kind == "count" else series_set.values,
        settings, series_set.kind, dens,
    ).sum())
    batches = _detect_batches(
        series_set.detection_values(candidates),
        None if dens is None else dens[candidates],
        masks[candidates],
        settings,
        series_set.kind,
        series_set.start,
    )
    done = 0
    for offset, changes_per_row in batches:
        for i, changes in enumerate(changes_per_row):
            row = candidates[offset + i]
            volume = float(np.nanmean(series_set.values[row]))
            found += [_anomaly(series_set, row, c, volume) for c in changes]
        done += len(changes_per_row)
        if progress:
            progress(series_set.metric, done, len(candidates))
    stats = dict(series=len(series_set.keys), rescanned=len(rows), candidates=len(candidates), too_small=small)
    return found, stats, fingerprints


def _detect_rows(values, denominators, masks, settings, kind, start):
    """Run the per-series detector over a block of rows (also in worker processes)."""
    from ctxmetrics.detect import find_changes

    dates = np.datetime64(start, "D") + np.arange(values.shape[1])

    return [
        find_changes(
            values[i],
            kind=kind,
            denominators=None if denominators is None else denominators[i],
            settings=settings,
            known_mask=masks[i],
            dates=dates,
        )
        for i in range(len(values))
    ]


def _detect_batches(values, denominators, masks, settings, kind, start):
    """Yield (first row, changes per row) for blocks of candidate rows.

    Many candidates are spread over forked worker processes (spawned ones would re-import
    the caller's main module, which breaks unguarded scripts). scan_project holds no
    store connection while this runs.
    """
    rows = len(values)
    workers = min(os.cpu_count() or 1, rows // PARALLEL_MIN_ROWS)
    blocks = range(0, rows, BATCH_ROWS)

    def part(lo):
        den = None if denominators is None else denominators[lo : lo + BATCH_ROWS]
        return values[lo : lo + BATCH_ROWS], den, masks[lo : lo + BATCH_ROWS], settings, kind, start

    if workers < 2:
        for lo in blocks:
            yield lo, _detect_rows(*part(lo))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # imported once here, before forking: otherwise every worker pays ~1 s importing them
    import ruptures  # noqa: F401
    import scipy.stats  # noqa: F401

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for lo, result in zip(blocks, pool.map(_detect_rows, *zip(*(part(lo) for lo in blocks)))):
            yield lo, result


def known_masks(series_set: SeriesSet, annotations, tz: str) -> np.ndarray:
    """(segments × days) True where an outage, holiday or offsite covering the segment
    means the day's normal pattern does not hold."""
    masks = np.zeros(series_set.values.shape, dtype=bool)
    for event in annotations:
        if not EVENT_TABLE[event.type].days_off:
            continue
        first = series_set.day_index(event.first_day(tz))
        last_day = event.last_day(tz)
        last = series_set.days - 1 if last_day is None else series_set.day_index(last_day)
        lo, hi = max(first, 0), min(last, series_set.days - 1)
        if lo > hi:
            continue
        masks[_rows_in_scope(series_set.segments, event), lo : hi + 1] = True
    return masks


def _rows_in_scope(segments: list[dict[str, str]], event) -> np.ndarray:
    """Rows whose segment the event may touch. Only the scoped dimensions matter, so the
    relation is judged once per distinct combination of them, not once per segment."""
    dims = tuple(event.scope)
    verdicts: dict[tuple, bool] = {}
    rows = np.empty(len(segments), dtype=bool)
    for row, segment in enumerate(segments):
        key = tuple(segment.get(d) for d in dims)
        if key not in verdicts:
            verdicts[key] = event.scope_relation({d: v for d, v in zip(dims, key) if v is not None}) != "disjoint"
        rows[row] = verdicts[key]
    return rows


def _fingerprint(series_set: SeriesSet, masks: np.ndarray, settings) -> list[str]:
    """One fingerprint per row: blake2b of the detector's name/version, kind, start,
    settings, values, denominators and known-day mask (the same digests as hashing each row on its own).

    The common prefix is hashed once and copied; rows are hashed in two threads (hashlib
    releases the GIL on large updates); masks are bit-packed in one call.
    """
    from concurrent.futures import ThreadPoolExecutor

    from ctxmetrics.detect import DETECTOR

    head = hashlib.blake2b(digest_size=16)
    head.update(f"{DETECTOR}|{series_set.kind}|{series_set.start}|{asdict(settings)}".encode())
    values = np.ascontiguousarray(series_set.values)
    dens = None if series_set.denominators is None else np.ascontiguousarray(series_set.denominators)
    packed = np.packbits(masks, axis=1)  # per row the same bytes as np.packbits(masks[row])

    def rows(lo: int, hi: int) -> list[str]:
        out = []
        for row in range(lo, hi):
            digest = head.copy()
            digest.update(values[row])
            if dens is not None:
                digest.update(dens[row])
            digest.update(packed[row])
            out.append(digest.hexdigest())
        return out

    n = len(values)
    step = max(1, -(-n // (2 * (os.cpu_count() or 1))))
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        parts = pool.map(rows, range(0, n, step), [min(lo + step, n) for lo in range(0, n, step)])
        return [fp for part in parts for fp in part]


def _anomaly(series_set: SeriesSet, row: int, change, volume: float) -> Anomaly:
    """An anomaly at the precision it is stored with, so that a fresh detection and one
    kept from the last scan rank and link identically."""
    return Anomaly(
        metric=series_set.metric,
        segment=dict(series_set.segments[row]),
        kind=change.kind,
        direction=change.direction,
        start=series_set.day(change.start),
        end=None if change.end is None else series_set.day(change.end),
        before=round(float(change.before), 4),
        after=round(float(change.after), 4),
        change_pct=round(float(change.change_pct), 1),
        score=round(float(change.score), 2),
        volume=round(volume, 2),
    )


# --- persistence ----------------------------------------------------------------
def _save_gaps(store: Store, metrics: list[str], gaps: dict[str, list[dt.date]]) -> None:
    """Replace the stored data gaps of the scanned metrics."""
    store.con.execute("delete from data_gaps where list_contains(?, metric)", [metrics])
    rows = [(metric, day) for metric, days in gaps.items() for day in days]
    if rows:
        store.con.executemany("insert into data_gaps values (?, ?)", rows)


def _save(store: Store, anomalies: list[Anomaly], metrics: list[str], state, config: Config) -> None:
    import polars as pl

    con = store.con
    con.execute("delete from anomalies")
    con.execute("delete from anomaly_causes")
    con.execute("delete from scan_state where list_contains(?, metric)", [metrics])
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    settings = {m: json.dumps(asdict(config.detection_for(m))) for m in {a.metric for a in anomalies}}
    anomaly_rows = pl.DataFrame(
        [
            (
                a.id, a.metric, a.segment_key, json.dumps(a.segment), a.kind, a.direction, a.start, a.end,
                a.before, a.after, a.change_pct, a.score, a.volume, a.explained, json.dumps(a.to_json()),
                settings[a.metric], now,
            )
            for a in anomalies
        ],
        schema=[
            ("id", pl.Utf8), ("metric", pl.Utf8), ("segment_key", pl.Utf8), ("segment", pl.Utf8), ("kind", pl.Utf8),
            ("direction", pl.Utf8), ("start_day", pl.Date), ("end_day", pl.Date), ("before", pl.Float64),
            ("after", pl.Float64), ("change_pct", pl.Float64), ("score", pl.Float64), ("volume", pl.Float64),
            ("explained", pl.Boolean), ("data", pl.Utf8), ("settings", pl.Utf8), ("scanned_at", pl.Datetime("us")),
        ],
        orient="row",
    )
    cause_rows = pl.DataFrame(
        [(a.id, rank, c.annotation_id, c.score, c.reason) for a in anomalies for rank, c in enumerate(a.causes, 1)],
        schema=[("anomaly_id", pl.Utf8), ("rank", pl.Int32), ("annotation_id", pl.Utf8), ("score", pl.Float64), ("reason", pl.Utf8)],
        orient="row",
    )
    state_rows = pl.DataFrame(state, schema=[("metric", pl.Utf8), ("segment_key", pl.Utf8), ("fingerprint", pl.Utf8)], orient="row")
    for table, frame in (("anomalies", anomaly_rows), ("anomaly_causes", cause_rows), ("scan_state", state_rows)):
        con.register("_rows", frame)
        con.execute(f"insert into {table} select * from _rows")
        con.unregister("_rows")
