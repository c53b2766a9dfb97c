"""Scanning: every metric × segment through the detector, then linking to context.

Per metric: build the cube of daily series, fingerprint each series (values, known-day
mask, settings) and re-detect only the series whose fingerprint changed since the last
scan; a vectorised pre-screen picks the candidates worth the per-series detector.
All anomalies are then (re-)explained against the current timeline — annotations may
have changed even where data did not — and the results are stored in one transaction.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import threading
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Collection, Iterable, Iterator

import numpy as np

from ctxmetrics.config import DAYS_OFF_TYPES
from ctxmetrics.models import periods
from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.errors import CtxError, NothingToScan, UnknownName
from ctxmetrics.project import Project
from ctxmetrics.models.series import SeriesSet
from ctxmetrics.scan.conversion import FOUND_BY as CONVERSION
from ctxmetrics.scan.sparse_days import without_seen_before
from ctxmetrics.scan.tagged import family_bar, retest_tagged, tagged_windows, tags_changed
from ctxmetrics.store.series import build_series_set, incomplete_ratios, metric_names, reported_gaps
from ctxmetrics.store.results import load_anomalies, load_state, load_verdicts

BATCH_ROWS = 25  # candidate rows per unit of detector work (small: the workers finish within ~0.2 s of each other)
PARALLEL_MIN_ROWS = 300  # below this many candidates per worker, starting workers costs more than it saves
_IN_FLIGHT = 8  # batches queued per worker process
SCREEN_CHUNK_ROWS = 2048  # changed rows screened at a time: the pre-screen's own chunk, so one thread screens
# it (beside it the detector's libraries are imported, then the workers detect)

_RESTATED = ":restated"  # suffix of a restated series' fingerprint (restated_fingerprint)
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
    granularities: dict[str, str] = field(default_factory=dict)  # metric -> weekly | monthly (not listed: daily)
    not_scanned: dict[str, list[str]] = field(default_factory=dict)  # ratio metric -> its parts with no data
    # metric -> why ingest stored its daily rows weekly or monthly ("booked monthly: values fall on the 1st")
    bookings: dict[str, str] = field(default_factory=dict)


def scan_project(
    project: Project,
    metrics: Iterable[str] = (),
    progress: Progress | None = None,
    engine: str | None = None,
    output_parquet: str | None = None,
) -> ScanResult:
    """Detect anomalies in every series of the chosen metrics (all by default), link them
    to the timeline and store them, replacing the previous results of those metrics.

    `engine` ("local" or "spark"; default: the config's `engine`) says where the cube is
    built and the series are detected; linking and storing always run here.
    `output_parquet` (Spark only) also writes the stored results as Parquet there."""
    from ctxmetrics.waiting import default_lock_timeout
    from ctxmetrics.store.scan_lock import scan_lock

    engine = engine or project.config.engine
    if output_parquet and engine != "spark":
        raise CtxError("--output-parquet needs the Spark engine (--engine spark).")
    with scan_lock(project.store_path, default_lock_timeout()):  # a second scan waits, then is refused
        return _scan_locked(project, list(metrics), progress, engine, output_parquet)


def _scan_locked(project: Project, metrics: list[str], progress, engine: str, output_parquet: str | None) -> ScanResult:
    from ctxmetrics.timeline.read import load_timeline

    config = project.config
    if output_parquet:
        _make_parquet_folder(output_parquet)
    annotations = load_timeline(project.annotations_dir, config.timezone, config.event_types)
    if engine == "spark":
        from ctxmetrics.scan.engines.spark import SparkScan

        with SparkScan(project, annotations, progress) as spark_scan:  # linking may still read the cube through it
            return _finish(project, spark_scan.run(metrics, output_parquet), annotations)
    # the detector's libraries are imported once, before the workers fork (else every worker
    # pays ~1 s importing them), in a thread while the store is read
    libraries = threading.Thread(target=_import_detector_libraries)
    libraries.start()
    try:
        outcome = _scan_local(project, config, annotations, metrics, progress, libraries.join)
    finally:
        libraries.join()  # no thread may be left running when explaining forks its workers
    return _finish(project, outcome, annotations)


def _make_parquet_folder(target: str) -> None:
    """Create a local `--output-parquet` folder before the scan: one that cannot be written
    is refused at once, not after the whole Spark scan under a page of Java traces (a URL
    is the cluster's to check)."""
    if "://" in target and not target.startswith("file://"):
        return
    folder = Path(target.removeprefix("file://"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CtxError(f"--output-parquet {target}: the folder cannot be created ({exc.strerror}).") from None
    if not os.access(folder, os.W_OK):
        raise CtxError(f"--output-parquet {target}: the folder cannot be written.")


def _scan_local(project: Project, config, annotations, metrics: list[str], progress, imported: Callable[[], None]):
    """The local engine's `Outcome`: read the store, then detect each chosen metric;
    `imported()` waits for the detector's libraries (before forking workers)."""
    # Read everything, then let go of the store while detecting: other commands can read
    # meanwhile, and detector worker processes never inherit an open connection.
    with project.store(read_only=True) as store:
        if store.observation_span() is None:  # "0 series" read as a clean scan to a script
            raise NothingToScan(
                f"Nothing to scan: the store {project.store_path} holds no data yet; "
                "load some first with 'ctxmetrics ingest FILE'."
            )
        stored = store.metric_names()  # one scan of every observation, read once for all three uses
        known = metric_names(store, config, set(stored))
        incomplete = incomplete_ratios(config, set(stored))
        chosen = choose_metrics(metrics, known, incomplete, "the store has")
        previous = load_anomalies(store)
        state = load_state(store)
        verdicts = load_verdicts(store)
        sets: dict[str, SeriesSet] = {}
        for name in chosen:
            series_set = build_series_set(store, config, name, project.queries_dir)
            if series_set is not None:
                sets[name] = series_set
    outcome = Outcome(chosen, sets, previous, verdicts, not_scanned={} if metrics else incomplete, present=stored)
    outcome.gaps = {
        name: gap_days(ss.start, gaps, ss.granularity)
        for name, ss in sets.items() if (gaps := reported_gaps(ss)) is not None and gaps.any()
    }
    # stages top first: a lower stage's echoes of an upper one were dropped (scan.restatements),
    # so they are judged afresh when a stage above changed
    funnel = config.funnel_of(set(known))
    upper_changed = False
    for name in sorted(sets, key=lambda m: funnel.index(m) if m in funnel else len(funnel)):
        found, stats, fingerprints = _scan_metric(
            sets[name], config, annotations, state, [a for a in previous if a.metric == name], progress, upper_changed,
            beside=_linking_beside(outcome, sets[name], annotations, config.timezone, config.days_off_types), imported=imported,
        )
        upper_changed |= name in funnel and stats["rescanned"] > 0
        outcome.add(name, found, stats, fingerprints)
    return outcome


def _linking_beside(
    outcome: "Outcome", series_set: SeriesSet, annotations, tz: str, days_off: tuple[str, ...]
) -> Callable[[list[Anomaly], threading.Event, threading.Event], Callable[[], None]]:
    """What linking reads whatever is found, as work to run beside the workers while they
    detect (else it runs alone after them): the metric's cube of `explain_anomalies`, and
    the latest-days check's windows (`latest.latest_windows`) unless the anomalies found
    so far already make that check say nothing. Then, once every candidate is screened
    (`screened`: the rest is in flight), the cube's windows that explaining will localize
    are guessed from the anomalies found by then and computed until `detected` is set
    (`drivers.prepare_cube_days`)."""
    from ctxmetrics.explain.cube import linking_cube
    from ctxmetrics.explain.drivers import prepare_cube_days
    from ctxmetrics.scan.latest import latest_windows, total_flagged

    def work(found: list[Anomaly], screened: threading.Event, detected: threading.Event) -> Callable[[], None]:
        latest = not total_flagged(series_set, [a for a in found if a.found_by != "cube"])  # as `_finish` reads them

        def compute() -> None:
            cube = outcome.cubes[series_set.metric] = linking_cube(series_set)
            if latest:
                outcome.latest[series_set.metric] = latest_windows(series_set, annotations, tz, days_off)
            screened.wait()
            prepare_cube_days([a for a in list(found) if a.found_by != "cube"], cube, detected.is_set)

        return compute

    return work


def choose_metrics(asked: list[str], known: list[str], incomplete: dict[str, list[str]], where: str) -> list[str]:
    """The metrics to scan: those asked, else every `known` one. A ratio with a part that
    has no data (`incomplete`) is named as such, not as an unknown metric."""
    for name in asked:
        if name in incomplete:
            raise CtxError(f"Metric '{name}' cannot be scanned: no data for {' or '.join(incomplete[name])}.")
        if name not in known:
            from ctxmetrics.timeline.read import _closest

            raise UnknownName(f"Unknown metric '{name}'{_closest(name, known)}; {where}: {', '.join(known) or 'no metrics yet'}.")
    return list(asked) or list(known)


@dataclass
class Outcome:
    """What an engine hands back for linking and storing: the scanned metrics, their
    series for `explain_anomalies` (the rows it reads may be all an engine returns), the
    stored anomalies and verdicts it read, and the fresh detections and fingerprints."""

    chosen: list[str]
    sets: dict[str, SeriesSet]
    previous: list[Anomaly]
    verdicts: dict
    found: list[Anomaly] = field(default_factory=list)
    state: list[tuple[str, str, str]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=lambda: dict(series=0, rescanned=0, candidates=0, too_small=0))
    after_save: Callable[[list[Anomaly]], None] | None = None
    gaps: dict[str, list[dt.date]] = field(default_factory=dict)  # metric -> days without data
    latest: dict[str, tuple] = field(default_factory=dict)  # metric -> its `latest.latest_windows`, if computed already
    # (metric -> day ranges) -> {(metric, range): its total and every leaf over those days}, for an
    # engine whose `sets` hold only the series linking reads (`explain_anomalies`' `whole_cube`)
    whole_cube: Callable[[dict], dict] | None = None
    cubes: dict[str, object] = field(default_factory=dict)  # metric -> its `cube.linking_cube`, if built already
    not_scanned: dict[str, list[str]] = field(default_factory=dict)  # ratio metric -> its parts with no data
    # metric -> why ingest stored its daily rows weekly or monthly ("booked monthly: values fall on the 1st")
    bookings: dict[str, str] = field(default_factory=dict)
    whole_sets: bool = True  # `sets` hold every series of their metrics (not only those linking reads)
    conversions: list[Anomaly] | None = None  # `stage_conversions`, if an engine made them already
    present: list[str] | None = None  # the store's metric names as the engine read them (None: read them when storing)

    def add(self, metric: str, found: list[Anomaly], stats: dict[str, int], fingerprints: dict[str, str]) -> None:
        self.found += found
        self.state += [(metric, key, fp) for key, fp in fingerprints.items()]
        for key in self.totals:
            self.totals[key] += stats[key]


def _finish(project: Project, outcome: Outcome, annotations) -> ScanResult:
    """Link every anomaly to the timeline and store the results (any engine)."""
    from ctxmetrics.explain.explain import explain_anomalies, link_anomalies, linking_cubes
    from ctxmetrics.scan.effects import expected_effects
    from ctxmetrics.scan.latest import latest_changes
    from ctxmetrics.scan.log_values import underlying_changes
    from ctxmetrics.scan.one_record import count_records
    from ctxmetrics.scan.restatements import drop_restatements
    from ctxmetrics.store.results import save_annotation_mirror, save_effects, save_gaps, save_scan
    from ctxmetrics.timeline.read import mirror_row

    config = project.config
    # The cube check and the stages' conversions are redone on every scan: a new day or a
    # new detection changes them.
    found = [a for a in outcome.found if a.found_by not in ("cube", CONVERSION)]
    for name, series_set in outcome.sets.items():
        found += latest_changes(
            series_set, [a for a in found if a.metric == name], annotations, config.timezone, outcome.latest.get(name),
            config.days_off_types,
        )
    found += outcome.conversions if outcome.conversions is not None else stage_conversions(project, outcome, found, annotations)
    kept = [a for a in outcome.previous if a.metric not in outcome.chosen] + found
    underlying_changes(kept, config)  # a log-scale metric's changes as its underlying value's
    cubes = linking_cubes(outcome.sets, outcome.cubes)
    # links are judged among the anomalies that are kept, below: the fold reads causes only
    explain_anomalies(kept, annotations, outcome.sets, config, outcome.verdicts, cubes=cubes, links=False)
    funnel = config.funnel_of({a.metric for a in (*outcome.previous, *kept)} | set(outcome.sets))
    kept, restated = drop_restatements(kept, funnel, config.explain.funnel_lag_days, outcome.sets)
    if restated:  # causes and ranks too are judged again among the kept ones (their root causes stand)
        explain_anomalies(
            kept, annotations, outcome.sets, config, outcome.verdicts, root_causes=False, whole_cube=outcome.whole_cube,
            cubes=cubes,
        )
    else:
        link_anomalies(kept, cubes, config, outcome.whole_cube)
    restated_keys = {(a.metric, a.segment_key) for a in restated}
    state = [(m, k, restated_fingerprint(fp) if (m, k) in restated_keys else fp) for m, k, fp in outcome.state]
    gaps = outcome.gaps
    with project.store() as store:
        save_annotation_mirror(store, (mirror_row(e, config.timezone) for e in annotations))  # its own transaction
        count_records(kept, config, store)  # before ranking is read from them (notify, the digest)
        effects = expected_effects(project, store, annotations, kept, outcome.present)
        bookings = store.bookings(sorted(outcome.sets))
        with store.transaction():
            save_scan(store, kept, outcome.chosen, state, config)
            save_gaps(store, outcome.chosen, gaps)
            save_effects(store, effects)
    if outcome.after_save:
        outcome.after_save(kept)
    return ScanResult(
        metrics=len(outcome.sets),
        series=outcome.totals["series"],
        rescanned=outcome.totals["rescanned"],
        candidates=outcome.totals["candidates"],
        anomalies=len(kept),
        explained=sum(1 for a in kept if a.explained),
        gaps=gaps,
        too_small=outcome.totals["too_small"],
        granularities={n: s.granularity for n, s in outcome.sets.items() if s.granularity != "daily"},
        not_scanned=outcome.not_scanned,
        bookings=bookings,
    )


def stage_conversions(project: Project, outcome: "Outcome", found: list[Anomaly], annotations) -> list[Anomaly]:
    """The funnel stages' conversion anomalies (`scan.conversion`) beside `found` (the
    detector's and the latest days' anomalies), from every series of each stage: the
    engine's own when it holds them all, else read from the store."""
    from ctxmetrics.scan.conversion import conversion_anomalies

    config = project.config
    funnel = config.funnel_of({a.metric for a in outcome.previous} | set(outcome.chosen))
    stages = [m for m in funnel if m in outcome.chosen]
    if len(stages) < 2:
        return []
    sets = outcome.sets
    if not outcome.whole_sets:
        with project.store(read_only=True) as store:
            built = {name: build_series_set(store, config, name, project.queries_dir) for name in stages}
        sets = {name: s for name, s in built.items() if s is not None}
    return conversion_anomalies(
        sets, tuple(stages), found, config, lambda s: known_masks(s, annotations, config.timezone, config.days_off_types), annotations
    )


def _scan_metric(
    series_set, config, annotations, state, previous, progress, upper_changed=False,
    beside: Callable[..., Callable[[], None] | None] | None = None, imported: Callable[[], None] | None = None,
):
    """Anomalies of one metric: stored ones for unchanged series, fresh detections for the
    rest, and for restated ones when any series of the metric or (`upper_changed`) of a
    funnel stage above it changed. `beside(anomalies so far, screened, detected)` may give work to run in a
    thread while worker processes detect (see `_detect_batches`); `imported()` returns once the detector's
    libraries are imported (before the workers fork; by default it imports them)."""
    from ctxmetrics.detect import too_small

    settings = config.detection_for(series_set.metric)
    granularity = series_set.granularity
    masks = known_masks(series_set, annotations, config.timezone, config.days_off_types)
    tagged = tagged_windows(series_set, annotations, config.timezone)
    tests, bar = family_bar(tagged, settings)
    dens = series_set.denominators
    # What only the stored state and the counts read is computed once, first asked by the
    # thread beside the workers when they run (joined before it is read below), off the way
    # to them: `too_small`, and the fingerprints where none is stored for the metric (a new
    # store): every series is then detected whatever they say
    fingerprinted = functools.cache(lambda: dict(zip(
        series_set.keys, fingerprint_rows(series_set.kind, series_set.start, settings, series_set.values, dens, masks)
    )))
    small = functools.cache(lambda: int(too_small(
        series_set.detection_values(slice(None)) if series_set.kind == "count" else series_set.values,
        settings, series_set.kind, dens,
    ).sum()))
    later = [small]
    stored = [state.get((series_set.metric, k)) for k in series_set.keys]
    if all(s is None for s in stored):
        later.insert(0, fingerprinted)
        changed = np.ones(len(stored), dtype=bool)
    else:
        fingerprints = fingerprinted()
        restated = np.array([s == restated_fingerprint(fp) for s, fp in zip(stored, fingerprints.values())], dtype=bool)
        changed = np.array([s != fp for s, fp in zip(stored, fingerprints.values())], dtype=bool) & ~restated
        retagged = restated.any() and tags_changed(
            series_set.metric, fingerprints, {series_set.keys[row]: w for row, w in tagged.items()}, tests, state
        )
        if changed.any() or upper_changed or retagged:
            changed |= restated  # the anomaly it restated may have moved or gone: judge it afresh
        else:
            for key in [k for k, r in zip(fingerprints, restated) if r]:
                fingerprints[key] = restated_fingerprint(fingerprints[key])
    changed_keys = {k for k, c in zip(series_set.keys, changed) if c}
    found = [a for a in previous if a.segment_key not in changed_keys]
    rows = np.flatnonzero(changed)

    def alongside(screened: threading.Event, detected: threading.Event) -> Callable[[], None]:
        work = beside and beside(found, screened, detected)

        def run() -> None:
            for compute in later:
                compute()
            if work:
                work()

        return run

    def part(batch):
        den = None if dens is None else dens[batch]
        return series_set.detection_values(batch), den, masks[batch], settings, series_set.kind, series_set.start, granularity

    candidates = 0
    screened = _screened_batches(series_set, rows, settings)
    for batch, changes_per_row in _detect_batches(screened, part, len(rows), alongside, imported):
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-unknown row has no volume
            volumes = np.nanmean(series_set.values[batch], axis=1)  # one call per batch, not one per anomaly row
        for row, volume, changes in zip(batch, volumes, changes_per_row):
            segment = series_set.segments[row]
            found += [
                anomaly_from_change(
                    series_set.metric, segment, series_set.start, c, float(volume), granularity, series_set.days
                )
                for c in changes
            ]
        candidates += len(batch)
        if progress:
            progress(series_set.metric, int(np.searchsorted(rows, batch[-1], side="right")), len(rows))
    if progress and len(rows):
        progress(series_set.metric, len(rows), len(rows))
    fingerprints = fingerprinted()
    found = retest_tagged(series_set, tagged, tests, bar, found, fingerprints, state, set(rows.tolist()), masks, settings)
    stats = dict(series=len(series_set.keys), rescanned=len(rows), candidates=candidates, too_small=small())
    return found, stats, fingerprints


def restated_fingerprint(fingerprint: str) -> str:
    """The stored fingerprint of a series whose anomalies restated another series' and
    were dropped (scan.restatements): unchanged data keeps the verdict, but when any series
    of its metric or of a funnel stage above changes it is detected afresh, since the
    stronger anomaly may be gone."""
    return fingerprint if fingerprint.endswith(_RESTATED) else fingerprint + _RESTATED


def plain_fingerprint(fingerprint: str) -> str:
    """A stored fingerprint without the restated mark. The Spark engine compares these, and
    detects the restated series whose data did not change afresh in a second pass when
    their metric or a stage above changed (`engines.spark._restated_to_redo`)."""
    return fingerprint.removesuffix(_RESTATED)


def gap_days(start: dt.date, gaps: np.ndarray, granularity: str = "daily") -> list[dt.date]:
    """The first days of the True periods of a gap mask whose period 0 starts on `start`."""
    return [periods.first_day(start, i, granularity) for i in np.flatnonzero(gaps)]


def screen(values, denominators, settings, kind: str, start: dt.date, granularity: str = "daily") -> np.ndarray:
    """The pre-screen of a block of series whose period 0 starts on `start`, as every engine
    calls it: True where `detect_one` is worth running. The pre-screen judges windows of
    days; weekly and monthly series are short, so every one goes to the detector."""
    from ctxmetrics.detect import prescreen

    if granularity != "daily":
        return np.ones(len(values), dtype=bool)
    return prescreen(values, settings, kind=kind, denominators=denominators, start_date=start)


def detect_one(values, denominator, known_mask, settings, kind: str, start: dt.date, granularity: str = "daily") -> list:
    """The detector of one series (a value per day, week or month) whose period 0 starts on
    `start`, as every engine calls it: `detect.find_changes`, the public one-series API,
    which reads the frequency from the dates."""
    from ctxmetrics.detect import find_changes

    dates = periods.dates(start, len(values), granularity)
    changes = find_changes(
        values, kind=kind, denominators=denominator, settings=settings, known_mask=known_mask, dates=dates
    )
    return without_seen_before(values, changes)


def _screened_batches(series_set: SeriesSet, rows: np.ndarray, settings):
    """(candidates, rows screened so far): the candidates among `rows` (ascending) in
    batches of `BATCH_ROWS`, screened a block at a time so that detection can start on
    the first ones while the rest is screened."""
    step = SCREEN_CHUNK_ROWS
    pending = rows[:0]
    for lo in range(0, len(rows), step):
        block = rows[lo : lo + step]
        # a run of consecutive rows (a full scan) is read as a view, not a copy
        chosen = slice(block[0], block[-1] + 1) if block[-1] - block[0] == len(block) - 1 else block
        dens = None if series_set.denominators is None else series_set.denominators[chosen]
        kept = screen(
            series_set.detection_values(chosen), dens, settings, series_set.kind, series_set.start, series_set.granularity
        )
        pending = np.concatenate([pending, block[kept]])
        screened = lo + len(block)
        while len(pending) >= BATCH_ROWS:
            yield pending[:BATCH_ROWS], screened
            pending = pending[BATCH_ROWS:]
        if screened == len(rows) and len(pending):
            yield pending, screened


def _detect_rows(values, denominators, masks, settings, kind, start, granularity):
    """Run the detector over a block of rows (also in worker processes): the changes of
    each row, as `detect_one` finds them, with the work the rows share done once
    (`detect.find_changes_many`)."""
    from ctxmetrics.detect import find_changes_many

    dates = periods.dates(start, values.shape[1], granularity)
    found = find_changes_many(
        values, kind=kind, denominators=denominators, settings=settings, known_masks=masks, dates=dates
    )
    return [without_seen_before(row, changes) for row, changes in zip(values, found)]


def _detect_batches(
    batches: Iterator[tuple[np.ndarray, int]], part: Callable, screening: int,
    beside: Callable[[threading.Event, threading.Event], Callable[[], None] | None] | None = None,
    imported: Callable[[], None] | None = None,
):
    """Yield (rows, changes per row) for each batch of candidate rows, in order.

    `batches` gives (candidate rows, rows screened so far) of `screening` rows to screen;
    `part(rows)` a batch's arguments of `_detect_rows`. Once the candidates screened so
    far promise at least two workers' worth (`PARALLEL_MIN_ROWS` each), batches go to
    forked worker processes (spawned ones would re-import the caller's main module, which
    breaks unguarded scripts) once `imported()` has loaded the detector's libraries (by
    default here), while the rest is still being screened here; fewer run in this process.
    With workers, `beside(screened, detected)` is called here once the first batch's results
    are taken (the lowest rows: the total's, the cube's first row), and the work it gives
    runs in a thread while the workers detect (forked already, so no thread is copied into
    them); `screened` is set once every batch is sent, `detected` once all are back.
    scan_project holds no store connection while this runs.
    """
    parallel = (os.cpu_count() or 1) >= 2 and screening >= 2 * PARALLEL_MIN_ROWS
    held: list[np.ndarray] = []
    for rows, screened in batches:
        held.append(rows)
        promised = sum(map(len, held)) * screening // screened  # candidates expected in all
        if parallel and promised >= 2 * PARALLEL_MIN_ROWS:
            break
    else:
        for rows in held:
            yield rows, _detect_rows(*part(rows))
        return
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    (imported or _import_detector_libraries)()
    workers = min(os.cpu_count() or 1, promised // PARALLEL_MIN_ROWS)
    # the workers inherit `part` and the series it reads (fork): only row numbers are sent
    with ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork"), initializer=_share, initargs=(part,)
    ) as pool:
        queued = deque((rows, pool.submit(_detect_shared, rows)) for rows in held)
        thread: threading.Thread | None = None
        asked = False
        screened, detected = threading.Event(), threading.Event()

        def take():  # the oldest batch's results; after the first, `beside`'s work in a thread
            nonlocal thread, asked
            done_rows, future = queued.popleft()
            yield done_rows, future.result()
            if not asked:
                asked = True
                work = beside and beside(screened, detected)
                if work:
                    thread = threading.Thread(target=work)
                    thread.start()

        try:
            for rows, _ in batches:
                # a few batches per worker in flight: the screen waits for the workers
                while queued and (queued[0][1].done() or len(queued) >= _IN_FLIGHT * workers):
                    yield from take()
                queued.append((rows, pool.submit(_detect_shared, rows)))
            screened.set()
            while queued:
                yield from take()
        finally:
            screened.set()
            detected.set()
            if thread:
                thread.join()  # no thread may be left running when explaining forks its workers


_shared_part: Callable | None = None  # a worker's `part` of `_detect_batches`


def _share(part: Callable) -> None:
    global _shared_part
    _shared_part = part


def _detect_shared(rows: np.ndarray) -> list:
    return _detect_rows(*_shared_part(rows))


def _import_detector_libraries() -> None:
    # not ruptures: the detector runs its own compiled port of KernelCPD (`kernels.pelt_l2`)
    # and loads ruptures only to raise its exception for a series too short to segment
    import scipy.stats  # noqa: F401

    import ctxmetrics.detect.kernels  # noqa: F401  (compiled or loaded from numba's cache once, before forking)
    import ctxmetrics.detect.kernels_episodes  # noqa: F401  (likewise)


def known_masks(series_set: SeriesSet, annotations, tz: str, days_off: Collection[str] = DAYS_OFF_TYPES) -> np.ndarray:
    """(segments × periods) True where an event of a `days_off` type (an outage, holiday or
    offsite; the project's are `Config.days_off_types`) covering the segment means the
    period's normal pattern does not hold."""
    return segment_masks(
        series_set.segments, series_set.start, series_set.days, annotations, tz, series_set.granularity, days_off
    )


def segment_masks(
    segments: list[dict[str, str]], start: dt.date, days: int, annotations, tz: str, granularity: str = "daily",
    days_off: Collection[str] = DAYS_OFF_TYPES,
) -> np.ndarray:
    """`known_masks` for the given segments of a series set whose period 0 starts on
    `start`. A week or month is known when such events cover at least half its days (one
    public holiday does not make a month abnormal)."""
    if granularity != "daily":
        columns = periods.day_columns(start, days, granularity)
        daily = segment_masks(segments, start, len(columns), annotations, tz, days_off=days_off)
        covered = np.zeros((len(segments), days))
        np.add.at(covered.T, columns, daily.T)
        return 2 * covered >= np.bincount(columns, minlength=days)
    masks = np.zeros((len(segments), days), dtype=bool)
    for event in annotations:
        if event.type not in days_off:
            continue
        first = (event.first_day(tz) - start).days
        last_day = event.last_day(tz)
        last = days - 1 if last_day is None else (last_day - start).days
        lo, hi = max(first, 0), min(last, days - 1)
        if lo > hi:
            continue
        masks[_rows_in_scope(segments, event), lo : hi + 1] = True
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


def fingerprint_rows(kind: str, start: dt.date, settings, values: np.ndarray, denominators, masks: np.ndarray) -> list[str]:
    """One fingerprint per row: blake2b of the detector's name/version, kind, start, settings, values, denominators and
    known-day mask (the same digests as hashing each row on its own, so any block of rows
    gets the digests it would get within the whole cube).

    The common prefix is hashed once and copied; rows are hashed in two threads (hashlib
    releases the GIL on large updates); masks are bit-packed in one call.
    """
    from concurrent.futures import ThreadPoolExecutor

    from ctxmetrics.detect import DETECTOR

    head = hashlib.blake2b(digest_size=16)
    head.update(f"{DETECTOR}|{kind}|{start}|{asdict(settings)}".encode())
    values = np.ascontiguousarray(values)
    dens = None if denominators is None else np.ascontiguousarray(denominators)
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


def anomaly_from_change(
    metric: str, segment: dict[str, str], start: dt.date, change, volume: float, granularity: str = "daily",
    periods_total: int | None = None,
) -> Anomaly:
    """The stored form of one detected change of a series whose period 0 starts on `start`,
    at the precision it is stored with, so a fresh detection and one kept from the last
    scan rank and link identically. It starts on its first period's first day and ends on
    its last period's last day; given the series' length (`periods_total`), a lasting
    change that starts on its last period is marked so (`on_last_period`)."""
    return Anomaly(
        metric=metric,
        segment=dict(segment),
        kind=change.kind,
        direction=change.direction,
        start=periods.first_day(start, change.start, granularity),
        end=None if change.end is None else periods.last_day(start, change.end, granularity),
        before=round(float(change.before), 4),
        after=round(float(change.after), 4),
        change_pct=round(float(change.change_pct), 1),
        score=round(float(change.score), 2),
        volume=round(volume, 2),
        period=periods.unit(granularity),
        on_last_period=change.end is None and periods_total is not None and change.start == periods_total - 1,
    )
