"""The Spark engine: the same scan as ctxmetrics.scan.scan with the cube and the per-series
detection on a Spark cluster (or Spark in local mode).

What runs where:
- Spark: reading the observations (the project's store handed over as Arrow, or Parquet
  from any path the cluster reads), the cube of segments (Spark SQL, see spark_cube),
  fingerprints, pre-screen and detection per bucket of series (`applyInArrow`, see
  bucket_detect) with the timeline broadcast.
- Here, on the driver: comparing nothing (the stored fingerprints are joined in Spark),
  then linking the anomalies to the timeline and storing them, exactly as a local scan
  does (`scan._finish`), on the returned anomalies and the few series linking reads.
- The checks of the whole cube run here too, with the local engine's functions, on the
  total and leaves Spark sums over the few days each reads (`_whole_cube`, one small job
  per request): the latest-days check (`scan.latest`, its last weeks, before the linking
  rows are chosen, so its anomaly's rows come back) and the cube drivers of days whose
  total was not flagged (`explain`'s `whole_cube`, the windows of those days' leads).

PySpark is imported only in this module, and only when the Spark engine is asked for.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import threading
import warnings
from dataclasses import replace
from itertools import combinations

import pyarrow.compute as pc

from ctxmetrics.errors import CtxError
from ctxmetrics.scan.engines.jvm_start import started_quietly
from ctxmetrics.models.series import SeriesSet
from ctxmetrics.scan.conversion import FOUND_BY as CONVERSION
from ctxmetrics.scan.scan import Outcome, anomaly_from_change, choose_metrics, gap_days, plain_fingerprint, stage_conversions
from ctxmetrics.store.results import result_frames
from ctxmetrics.store.series import incomplete_ratios, metric_granularity, metric_names

VIEW = "ctxmetrics_obs"
BUCKET_SERIES = 500  # series per applyInArrow group: enough rows for the vectorised pre-screen
POLL_SECONDS = 0.5


def spark_session(settings, timezone: str):
    """The SparkSession of `spark:` in the config (an active one is reused)."""
    # PySpark warns on every import that it "does not yet fully support pandas >= 3": the
    # scan hands it Arrow, not pandas, so the warning is noise above the scan's own lines
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise CtxError("The Spark engine needs PySpark: pip install 'ctxmetrics[spark]'.") from None
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise CtxError("The Spark engine needs Java 17 or newer (Debian: apt-get install default-jre-headless).")
    builder = SparkSession.builder.appName("ctxmetrics scan")
    if settings.master:
        builder = builder.master(settings.master)
    defaults = {
        "spark.sql.session.timeZone": timezone,  # days of the data are days in the project's zone
        "spark.ui.showConsoleProgress": "false",  # the scan shows its own progress
    }
    for key, value in {**defaults, **settings.conf}.items():
        builder = builder.config(key, value)
    try:
        session = started_quietly(builder.getOrCreate)
    except RuntimeError as exc:  # the JVM did not start: say so in one line, with what it said
        said = str(exc) or "its Java process exited before it answered"
        java = f" (JAVA_HOME={os.environ['JAVA_HOME']}: it must hold Java 17 or newer)" if "java" in said and os.environ.get("JAVA_HOME") else ""
        raise CtxError(f"Spark did not start: {said.rstrip('.')}{java}.") from None
    session.sparkContext.setLogLevel("ERROR")
    shuffle = "spark.sql.shuffle.partitions"
    if session.sparkContext.master.startswith("local") and shuffle not in settings.conf and session.conf.get(shuffle) == "200":
        # Spark's default of 200 shuffle partitions suits a cluster; on one machine each
        # is a task to schedule (a 2,000-series scan took 2x as long with them)
        session.conf.set(shuffle, str(2 * session.sparkContext.defaultParallelism))
    return session


class SparkScan:
    """One scan on Spark; `run` returns the Outcome that scan._finish links and stores."""

    def __init__(self, project, annotations, progress=None):
        self.project = project
        self.config = project.config
        self.annotations = annotations
        self.progress = progress or (lambda label, done, total: None)
        self.staged: list[str] = []  # temporary folders, removed when the scan is done (`__exit__`)
        self.fetched: dict[tuple[str, tuple[int, int]], SeriesSet] = {}  # `_whole_cube`'s answers

    def __enter__(self) -> "SparkScan":
        return self

    def __exit__(self, *exc) -> None:
        for folder in self.staged:
            shutil.rmtree(folder, ignore_errors=True)

    def run(self, metrics: list[str], output_parquet: str | None = None) -> Outcome:
        from ctxmetrics.store.results import load_anomalies, load_state, load_verdicts

        with self.project.store(read_only=True) as store:
            previous, state, verdicts = load_anomalies(store), load_state(store), load_verdicts(store)
            local_names = metric_names(store, self.config)
            # weekly and monthly metrics and separate rollups are a few short series or
            # a small cube of their own: the local engine scans them
            self.scanned_here = {
                m for m in local_names
                if metric_granularity(store, self.config, m) != "daily" or store.rollup_dimensions(m) is not None
            }
            staged = None
            if not self.config.observations_parquet:
                reader = store.observations_reader()
                staged = self._stage(reader)
        return self._run(metrics, output_parquet, staged, previous, state, verdicts, local_names)

    def _stage(self, reader) -> str:
        """Write an Arrow stream as Parquet into a new folder under `spark.staging` (default:
        the system's temporary folder) and return it: Spark reads it from there. Handing
        Spark a large Arrow table directly puts every row into the query plan."""
        import tempfile

        import pyarrow.parquet as pq

        folder = tempfile.mkdtemp(prefix="ctxmetrics-", dir=self.config.spark.staging)
        self.staged.append(folder)
        with pq.ParquetWriter(os.path.join(folder, "part.parquet"), reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
        return folder

    def _run(self, metrics, output_parquet, staged, previous, state, verdicts, local_names) -> Outcome:
        self.spark = spark_session(self.config.spark, self.config.timezone)
        self.progress("observations", 0, 1)
        frame = self._observations(staged)
        frame.createOrReplaceTempView(VIEW)
        self.dims = [c for c in frame.columns if c not in ("metric", "ts", "value")]
        spans = {r["metric"]: (r["first"], r["last"]) for r in self.spark.sql(_span_query()).collect()}
        self.daily = [(r["ts"], r["metric"], r["total"], r["rows"]) for r in self.spark.sql(_daily_query()).collect()]
        self.progress("observations", 1, 1)
        chosen, incomplete = self._chosen(metrics, spans, local_names)
        outcome = Outcome(chosen, {}, previous, verdicts, whole_cube=self._whole_cube, whole_sets=False, not_scanned={} if metrics else incomplete)
        self.changed: set[str] = set()  # metrics with a series whose data changed
        here = [m for m in chosen if self.config.metric(m).type == "query" or m in self.scanned_here]
        jobs = self.jobs = self._jobs([m for m in chosen if m not in here], spans)
        if jobs:
            self._scan(jobs, state, previous, outcome)
            outcome.gaps = {n: gap_days(j.start, gaps) for n, j in jobs.items() if (gaps := self._reported_gaps(j)).any()}
        if here:
            self._scan_locally(here, state, previous, outcome)
        if output_parquet:
            outcome.after_save = lambda kept: self._write_parquet(kept, output_parquet)
        return outcome

    # --- input ----------------------------------------------------------------
    def _observations(self, staged: str | None):
        """Observations as a Spark DataFrame: metric, ts (date), value (double), dimensions."""
        path = staged or self.config.observations_parquet
        try:
            raw = self.spark.read.parquet(path)
        except Exception as exc:
            raise CtxError(f"{path}: cannot read observations as Parquet ({str(exc).splitlines()[0]}).") from None
        missing = {"metric", "ts", "value"} - set(raw.columns)
        if missing:
            raise CtxError(f"{path}: observations need columns metric, ts and value (missing {', '.join(sorted(missing))}).")
        from pyspark.sql import functions as F

        dims = [c for c in raw.columns if c not in ("metric", "ts", "value")]
        return raw.select(
            F.col("metric").cast("string").alias("metric"),
            F.col("ts").cast("date").alias("ts"),
            F.col("value").cast("double").alias("value"),
            *(F.col(f"`{d}`").cast("string").alias(d) for d in dims),
        )

    def _chosen(self, metrics: list[str], spans, local_names: list[str]) -> tuple[list[str], dict[str, list[str]]]:
        """The metrics to scan and the ratios that cannot be (name -> parts with no data)."""
        incomplete = incomplete_ratios(self.config, set(spans))
        if self.config.observations_parquet:
            known = sorted(set(spans) | {n for n, m in self.config.metrics.items() if m.type == "ratio" and n not in incomplete})
        else:
            known = local_names
        self.known = known
        return choose_metrics(metrics, known, incomplete, "the observations have"), incomplete

    # --- the scan -------------------------------------------------------------------
    def _gaps(self, parts: list[str], start, days: int):
        """The local engine's data gaps of a metric, from the per-day totals Spark collected."""
        from ctxmetrics.store.series import gaps_from_days

        per_day: dict = {}
        for ts, metric, total, rows in self.daily:
            day = per_day.setdefault(ts, [0.0, 0])
            if metric in parts:
                day[0] += total or 0.0
                day[1] += rows
        return gaps_from_days([(ts, total, rows) for ts, (total, rows) in per_day.items()], start, days)

    def _reported_gaps(self, job):
        """The local engine's `reported_gaps` of a metric: its data gaps, or a gauge's days without a row."""
        from ctxmetrics.store.series import periods_without_rows

        return job.gaps if job.gaps is not None else periods_without_rows(self.daily, list(job.parts), job.start, job.days)

    def _jobs(self, names: list[str], spans) -> dict:
        """A MetricJob (kind, date range, settings) per metric with observations."""
        from ctxmetrics.scan.engines.bucket_detect import MetricJob

        jobs = {}
        for name in names:
            definition = self.config.metric(name)
            parts = [definition.numerator, definition.denominator] if definition.type == "ratio" else [name]
            known = [spans[p] for p in parts if p in spans]
            if not known:
                continue
            start, end = min(s for s, _ in known), max(e for _, e in known)
            days = (end - start).days + 1
            jobs[name] = MetricJob(
                definition.series_kind, start, days, tuple(self.dims), self.config.detection_for(name),
                self.config.timezone, tuple(parts), None if definition.averaged else self._gaps(parts, start, days),
                days_off=self.config.days_off_types, amount=definition.type == "amount",
            )
        return jobs

    def _cube(self, jobs: dict):
        """Every metric's segments in one DataFrame: metric, d_i, segment_key, cells."""
        from ctxmetrics.scan.engines.spark_cube import cube_sql

        metrics = [(name, job.rollup_kind, list(job.parts), job.start, job.days) for name, job in jobs.items()]
        sql, args = cube_sql(VIEW, self.dims, metrics)
        return self.spark.sql(sql, args=args)

    def _scan(self, jobs: dict, state, previous, outcome: Outcome) -> None:
        """Build the cube, detect every changed series, read the results back."""
        from pyspark.sql import functions as F

        from ctxmetrics.scan.engines.bucket_detect import RESULT_DDL

        self.progress("the cube", 0, 1)
        cube = self._cube(jobs).persist()
        total = cube.count()
        self.progress("the cube", 1, 1)
        jobs = self._with_tagged(cube, jobs, state)
        stored = self.spark.read.parquet(self._stage(_state_table(state, set(jobs)).to_reader()))
        buckets = max(1, math.ceil(total / BUCKET_SERIES))
        timeline = self.spark.sparkContext.broadcast(list(self.annotations))
        done = self.spark.sparkContext.accumulator(0)
        keyed = cube.join(stored, ["metric", "segment_key"], "left").withColumn(
            "bucket", F.pmod(F.xxhash64("metric", "segment_key"), F.lit(buckets))
        )
        detected = keyed.groupBy("metric", "bucket").applyInArrow(_bucket_function(jobs, timeline, done), RESULT_DDL)
        results = self._watch("all series", total, done, detected.toArrow)
        self.changed = set(pc.unique(results.filter(results["rescanned"])["metric"]).to_pylist())
        redo = _restated_to_redo(results, state, self.changed, self._upper_changed)
        if redo:
            results = self._redetect(cube, results, redo, jobs, timeline)
        timeline.unpersist()
        for name, job in jobs.items():
            mine = results.filter(pc.equal(results["metric"], name))
            found, fingerprints, stats = _read_results(mine, name, job, previous, state)
            outcome.add(name, found, stats, fingerprints)
        latest = self._latest(jobs, outcome)
        # made here, as `scan._finish` would, so that linking reads their series too
        detected = [a for a in outcome.found if a.found_by not in ("cube", CONVERSION)]
        outcome.conversions = stage_conversions(self.project, outcome, detected + latest, self.annotations)
        self.progress("series for linking", 0, 1)
        outcome.sets.update(self._linking_sets(cube, jobs, outcome.found + latest + outcome.conversions))
        self.progress("series for linking", 1, 1)
        cube.unpersist()

    def _upper_changed(self, metric: str) -> bool:
        """True when a funnel stage above `metric` (any stage, for a metric outside the
        funnel) had a series whose data changed, as `scan.scan_project` orders the metrics."""
        funnel = self.config.funnel_of(set(self.known))
        rank = {m: i for i, m in enumerate(funnel)}
        return any(m in rank and rank[m] < rank.get(metric, len(funnel)) for m in self.changed)

    def _redetect(self, cube, results, redo: set[tuple[str, str]], jobs: dict, timeline):
        """`results` with the series in `redo` (metric, segment key) detected afresh: a
        second, small pass over the cube, their stored fingerprints left out."""
        import pyarrow as pa
        from pyspark.sql import functions as F

        from ctxmetrics.scan.engines.bucket_detect import RESULT_DDL

        pairs = sorted(redo)
        chosen = pa.table({"metric": [m for m, _ in pairs], "segment_key": [k for _, k in pairs]})
        buckets = max(1, math.ceil(len(pairs) / BUCKET_SERIES))
        rows = (
            cube.join(self.spark.read.parquet(self._stage(chosen.to_reader())), ["metric", "segment_key"])
            .withColumn("previous", F.lit(None).cast("string"))
            .withColumn("bucket", F.pmod(F.xxhash64("metric", "segment_key"), F.lit(buckets)))
        )
        done = self.spark.sparkContext.accumulator(0)
        again = rows.groupBy("metric", "bucket").applyInArrow(_bucket_function(jobs, timeline, done), RESULT_DDL)
        again = self._watch("restated series", len(pairs), done, again.toArrow)
        keys = pc.binary_join_element_wise(results["metric"], results["segment_key"], "\x00")
        kept = pc.invert(pc.is_in(keys, pa.array([f"{m}\x00{k}" for m, k in pairs])))
        return pa.concat_tables([results.filter(kept), again.cast(results.schema)])

    def _with_tagged(self, cube, jobs: dict, state) -> dict:
        """`jobs` with their tagged series (`scan.tagged`): the family of a metric's windows
        counts the series of the cube its events tag, so those few rows are read first;
        the windows then travel with each job to the series' bucket."""
        from pyspark.sql import functions as F

        from ctxmetrics.models.segments import TAGGED_STATE_SUFFIX
        from ctxmetrics.scan.engines.bucket_detect import segments_of
        from ctxmetrics.scan.engines.spark_cube import dim_columns
        from ctxmetrics.scan.tagged import family_bar, tagged_keys, windows_by_row

        wanted = {name: tagged_keys(name, self.annotations) for name in jobs}
        keys = sorted(set().union(*wanted.values()))
        if not keys:
            return jobs
        rows = cube.where(F.col("segment_key").isin(keys)).select("metric", "segment_key", *dim_columns(self.dims)).toArrow()
        out = {}
        for name, job in jobs.items():
            mine = rows.filter(pc.equal(rows["metric"], name))
            segments, segment_keys = segments_of(mine, job.dims), mine["segment_key"].to_pylist()
            by_row = windows_by_row(name, segments, job.start, job.days, "daily", self.annotations, self.config.timezone)
            tagged = {segment_keys[row]: tuple(windows) for row, windows in by_row.items()}
            tests, bar = family_bar(tagged, job.settings)
            prints = {key: state.get((name, key + TAGGED_STATE_SUFFIX)) for key in tagged}
            out[name] = replace(job, tagged=tagged, tests=tests, bar=bar, tag_prints=prints)
        return out

    def _watch(self, label: str, total: int, done, action):
        """Run `action` while reporting the series done (the accumulator grows as tasks end)."""
        finished = threading.Event()

        def report():
            while not finished.wait(POLL_SECONDS):
                self.progress(label, done.value, total)

        watcher = threading.Thread(target=report, daemon=True)
        watcher.start()
        try:
            return action()
        finally:
            finished.set()
            watcher.join()
            self.progress(label, total, total)

    def _linking_sets(self, cube, jobs: dict, anomalies) -> dict[str, SeriesSet]:
        """Per metric the series linking reads for `anomalies`, in the local cube's row order."""
        from ctxmetrics.scan.engines.linking_rows import scope_dimensions, wanted_signatures

        scoped = scope_dimensions(self.annotations)
        wanted = {name: wanted_signatures([a for a in anomalies if a.metric == name], scoped) for name in jobs}
        places = {name: {a.segment_key for a in anomalies if a.metric == name} for name in jobs}
        dims = tuple(self.dims)
        rows = cube.mapInArrow(_linking_filter(dims, wanted, scoped, places), cube.schema).toArrow()
        return {name: _series_set(rows.filter(pc.equal(rows["metric"], name)), name, job) for name, job in jobs.items()}

    def _latest(self, jobs: dict, outcome: Outcome) -> list:
        """The latest-days check's anomalies (`scan.latest`) of the metrics Spark scanned,
        from their total and leaves over the last weeks, read here. Its windows are kept in
        `outcome.latest` for `scan._finish`, which makes the same anomalies again (then with
        the linking rows, for their volume); these only choose those rows."""
        from ctxmetrics.scan.latest import LATEST_DAYS, latest_changes, latest_windows, total_flagged

        found = [a for a in outcome.found if a.found_by not in ("cube", CONVERSION)]  # as `scan._finish` reads them
        mine = {name: [a for a in found if a.metric == name] for name in jobs}
        asked = {
            name: [(job.days - LATEST_DAYS, job.days - 1)]
            for name, job in jobs.items()
            if job.kind == "count" and job.days >= LATEST_DAYS and self.dims and not total_flagged(_days_of(job), mine[name])
        }
        if not asked:
            return []
        self.progress("latest days", 0, 1)
        recent = self._whole_cube(asked)
        self.progress("latest days", 1, 1)
        out = []
        for (name, _), series_set in recent.items():
            days_off = self.config.days_off_types
            outcome.latest[name] = latest_windows(series_set, self.annotations, self.config.timezone, days_off)
            out += latest_changes(series_set, mine[name], self.annotations, self.config.timezone, outcome.latest[name], days_off)
        return out

    def _whole_cube(self, asked: dict[str, list[tuple[int, int]]]) -> dict[tuple[str, tuple[int, int]], SeriesSet]:
        """The total and every leaf of each metric over each range of days asked (indexes of
        its series), as {(metric, range): a SeriesSet starting on the range's first day}:
        what the checks of the whole cube read, summed by one Spark job over those days
        only (overlapping ranges read once). Metrics Spark did not scan are left out."""
        from ctxmetrics.scan.engines.spark_cube import cube_sql

        todo = {(m, r) for m, ranges in asked.items() if m in self.jobs and self.dims for r in ranges} - set(self.fetched)
        spans = _merged(todo)
        if spans:
            entries = [
                (str(i), job.rollup_kind, list(job.parts), job.start + dt.timedelta(days=lo), hi - lo + 1)
                for i, (name, lo, hi) in enumerate(spans)
                for job in [self.jobs[name]]
            ]
            sql, args = cube_sql(VIEW, self.dims, entries, ends_only=True)
            rows = self.spark.sql(sql, args=args).toArrow()
            for i, (name, lo, hi) in enumerate(spans):
                job = self.jobs[name]
                gaps = None if job.gaps is None else job.gaps[lo : hi + 1]
                span = _series_set(rows.filter(pc.equal(rows["metric"], str(i))), name, replace(
                    job, start=job.start + dt.timedelta(days=lo), days=hi - lo + 1, gaps=gaps,
                ))
                for metric, (first, last) in todo:
                    if metric == name and lo <= first and last <= hi:
                        self.fetched[(metric, (first, last))] = _days_slice(span, first - lo, last - lo + 1)
        return {(m, r): self.fetched[(m, r)] for m, ranges in asked.items() for r in ranges if (m, r) in self.fetched}

    def _scan_locally(self, names, state, previous, outcome: Outcome) -> None:
        """Query metrics are SQL on the project's store, weekly or monthly metrics and
        separate rollups a few short series: scanned where the store is, by the local
        engine (`observations: {parquet: ...}` has no store to run queries on)."""
        from ctxmetrics.scan.scan import _scan_metric
        from ctxmetrics.store.series import build_series_set, reported_gaps

        with self.project.store(read_only=True) as store:
            sets = {n: build_series_set(store, self.config, n, self.project.queries_dir) for n in names}
        for name, series_set in sets.items():
            if series_set is None:
                continue
            found, stats, fingerprints = _scan_metric(
                series_set, self.config, self.annotations, state, [a for a in previous if a.metric == name], self.progress,
                self._upper_changed(name),
            )
            if stats["rescanned"]:
                self.changed.add(name)
            outcome.add(name, found, stats, fingerprints)
            outcome.sets[name] = series_set
            gaps = reported_gaps(series_set)
            if gaps is not None and gaps.any():
                outcome.gaps[name] = gap_days(series_set.start, gaps, series_set.granularity)

    # --- output -------------------------------------------------------------------
    def _write_parquet(self, anomalies, folder: str) -> None:
        """The stored tables `anomalies` and `anomaly_causes` as Parquet under `folder`."""
        import polars as pl

        for table, frame in result_frames(anomalies, self.config).items():
            arrow = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
            target = f"{folder.rstrip('/')}/{table}"
            try:
                self.spark.createDataFrame(arrow).write.mode("overwrite").parquet(target)
            except Exception as exc:  # the store already holds the results; only this copy failed
                raise CtxError(f"{target}: results stored, but not written as Parquet ({str(exc).splitlines()[0]}).") from None


def _series_set(rows, name: str, job) -> SeriesSet:
    """The SeriesSet of one metric's cube rows (metric, d_i, cells), in the local cube's row
    order (the total, each dimension's values, each pair's, ...)."""
    from ctxmetrics.scan.engines.bucket_detect import matrices, segments_of

    dims = job.dims
    rank = {group: i for i, group in enumerate(g for size in range(len(dims) + 1) for g in combinations(dims, size))}
    segments = segments_of(rows, dims)
    order = sorted(range(rows.num_rows), key=lambda i: (rank[tuple(segments[i])], tuple(segments[i].values())))
    values, dens = matrices(rows, job)
    return SeriesSet(
        name, job.kind, job.start, [segments[i] for i in order], values[order], None if dens is None else dens[order],
        job.gaps,
    )


def _days_slice(series_set: SeriesSet, lo: int, hi: int) -> SeriesSet:
    """Days lo..hi-1 of a SeriesSet."""
    return SeriesSet(
        series_set.metric, series_set.kind, series_set.day(lo), series_set.segments, series_set.values[:, lo:hi],
        None if series_set.denominators is None else series_set.denominators[:, lo:hi],
        None if series_set.gaps is None else series_set.gaps[lo:hi],
    )


def _merged(ranges: set[tuple[str, tuple[int, int]]]) -> list[tuple[str, int, int]]:
    """(metric, first, last) spans covering the (metric, (first, last)) ranges, overlapping
    or touching ones merged."""
    spans: list[list] = []
    for metric, (first, last) in sorted(ranges):
        if spans and spans[-1][0] == metric and first <= spans[-1][2] + 1:
            spans[-1][2] = max(spans[-1][2], last)
        else:
            spans.append([metric, first, last])
    return [tuple(s) for s in spans]


def _days_of(job) -> SeriesSet:
    """An empty SeriesSet with a metric's days (what `latest.total_flagged` reads)."""
    import numpy as np

    return SeriesSet("", job.kind, job.start, [], np.zeros((0, job.days)))


def _daily_query() -> str:
    """Per day and metric: the total and the row count (what the gap rule reads)."""
    return f"select cast(ts as date) as ts, metric, sum(value) as total, count(*) as rows from {VIEW} group by 1, 2"


def _span_query() -> str:
    from ctxmetrics.scan.engines.spark_cube import span_sql

    return span_sql(VIEW)


def _state_table(state, metrics: set[str]):
    """The stored fingerprints of `metrics`: metric, segment_key, previous."""
    import pyarrow as pa

    rows = [(m, k, plain_fingerprint(fp)) for (m, k), fp in state.items() if m in metrics]
    return pa.table(
        {"metric": [r[0] for r in rows], "segment_key": [r[1] for r in rows], "previous": [r[2] for r in rows]},
        schema=pa.schema([("metric", pa.string()), ("segment_key", pa.string()), ("previous", pa.string())]),
    )


def _bucket_function(jobs, timeline, done):
    """The applyInArrow function (a closure: Spark pickles it, and the jobs, to the workers)."""

    def detect(table):
        from ctxmetrics.scan.engines.bucket_detect import detect_bucket

        return detect_bucket(table, jobs, timeline.value, done)

    return detect


def _linking_filter(dims, wanted, scoped, places):
    def keep(batches):
        import pyarrow as pa

        from ctxmetrics.scan.engines.bucket_detect import segments_of
        from ctxmetrics.scan.engines.linking_rows import leaf_under, needed

        for batch in batches:
            table = pa.Table.from_batches([batch])
            metrics = table["metric"].to_pylist()
            segments = segments_of(table, dims)
            mask = pa.array(
                [needed(s, wanted[m], scoped) or leaf_under(s, places[m], len(dims)) for m, s in zip(metrics, segments)],
                type=pa.bool_(),
            )
            yield from pc.filter(table, mask).to_batches()

    return keep


def _restated_to_redo(results, state, changed: set[str], upper_changed) -> set[tuple[str, str]]:
    """(metric, segment key) of the series a local scan detects afresh although their data
    did not change: a restated series (`scan.restated_fingerprint`) of a metric where a
    series changed, whose tagged windows are tested otherwise (`tagged.tags_changed`), or
    below a funnel stage where one changed (`upper_changed(metric)`)."""
    from ctxmetrics.models.segments import TAGGED_STATE_SUFFIX
    from ctxmetrics.scan.scan import restated_fingerprint

    columns = ["metric", "segment_key", "fingerprint", "rescanned", "tag_print"]
    rows = results.select(columns).to_pylist()
    retagged = {r["metric"] for r in rows
                if r["tag_print"] != state.get((r["metric"], r["segment_key"] + TAGGED_STATE_SUFFIX))}
    marked = {(r["metric"], r["segment_key"]) for r in rows
              if not r["rescanned"] and state.get((r["metric"], r["segment_key"])) == restated_fingerprint(r["fingerprint"])}
    return {(m, k) for m, k in marked if m in changed or m in retagged or upper_changed(m)}


def _read_results(results, metric: str, job, previous, state):
    """(anomalies, fingerprints by segment key, stats) of one metric's detection output;
    the tagged windows' changes join the anomalies by `tagged.with_tagged`, as locally. A
    restated series not detected again keeps its mark, as locally."""
    import json

    from ctxmetrics.detect import Change
    from ctxmetrics.models.segments import TAGGED_STATE_SUFFIX
    from ctxmetrics.scan.scan import restated_fingerprint
    from ctxmetrics.scan.tagged import tagged_anomaly, with_tagged

    rows = results.to_pylist()
    rescanned = {r["segment_key"] for r in rows if r["rescanned"]}
    fingerprints = {r["segment_key"]: r["fingerprint"] for r in rows}
    for key, fp in fingerprints.items():
        if key not in rescanned and state.get((metric, key)) == restated_fingerprint(fp):
            fingerprints[key] = restated_fingerprint(fp)
    tag_prints = {r["segment_key"]: r["tag_print"] for r in rows if r["tag_print"] is not None}
    fingerprints.update({key + TAGGED_STATE_SUFFIX: fp for key, fp in tag_prints.items()})
    candidates = {r["segment_key"] for r in rows if r["candidate"]}
    small = {r["segment_key"] for r in rows if r["too_small"]}
    found = [a for a in previous if a.metric == metric and a.segment_key not in rescanned]
    fresh: dict[str, list] = {r["segment_key"]: [] for r in rows if r["retagged"]}
    for r in rows:
        if r["kind"] is None:
            continue
        change = Change(r["kind"], r["direction"], r["start"], r["end"], r["before"], r["after"], r["change_pct"], r["score"])
        segment = json.loads(r["segment"])
        if r["events"] is None:
            found.append(anomaly_from_change(metric, segment, job.start, change, r["volume"], periods_total=job.days))
        else:
            fresh[r["segment_key"]].append(
                tagged_anomaly(metric, segment, job.start, change, json.loads(r["events"]), r["volume"], "daily", job.tests,
                               job.bar)
            )
    # each series' tagged changes come in `tagged.passing_changes` order (the strongest first)
    found = with_tagged(found, fresh, set(tag_prints))
    series = {r["segment_key"] for r in rows}
    stats = dict(series=len(series), rescanned=len(rescanned), candidates=len(candidates), too_small=len(small))
    return found, fingerprints, stats
