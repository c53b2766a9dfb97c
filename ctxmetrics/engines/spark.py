"""The Spark engine: the same scan as ctxmetrics.scan with the cube and the per-series
detection on a Spark cluster (or Spark in local mode).

What runs where:
- Spark: reading the observations (the project's store handed over as Arrow, or Parquet
  from any path the cluster reads), the cube of segments (Spark SQL, see spark_cube),
  fingerprints, pre-screen and detection per bucket of series (`applyInArrow`, see
  bucket_detect) with the timeline broadcast.
- Here, on the driver: comparing nothing (the stored fingerprints are joined in Spark),
  then linking the anomalies to the timeline and storing them, exactly as a local scan
  does (`scan._finish`), on the returned anomalies and the few series linking reads.

PySpark is imported only in this module, and only when the Spark engine is asked for.
"""
from __future__ import annotations

import math
import os
import shutil
import threading
from itertools import combinations

from ctxmetrics.errors import CtxError, UnknownName
from ctxmetrics.scan import Outcome, anomaly_from_change, result_frames
from ctxmetrics.series import SeriesSet, metric_names

VIEW = "ctxmetrics_obs"
BUCKET_SERIES = 500  # series per applyInArrow group: enough rows for the vectorised pre-screen
POLL_SECONDS = 0.5


def spark_session(settings, timezone: str):
    """The SparkSession of `spark:` in the config (an active one is reused)."""
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
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: say so in one line
        raise CtxError(f"Spark did not start ({str(exc).splitlines()[0]}).") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkScan:
    """One scan on Spark; `run` returns the Outcome that scan._finish links and stores."""

    def __init__(self, project, annotations, progress=None):
        self.project = project
        self.config = project.config
        self.annotations = annotations
        self.progress = progress or (lambda label, done, total: None)

    def run(self, metrics: list[str], output_parquet: str | None = None) -> Outcome:
        from ctxmetrics.results import load_anomalies, load_state, load_verdicts

        with self.project.store(read_only=True) as store:
            previous, state, verdicts = load_anomalies(store), load_state(store), load_verdicts(store)
            stored = None if self.config.observations_parquet else _stored_observations(store)
            local_names = metric_names(store, self.config)
        self.spark = spark_session(self.config.spark, self.config.timezone)
        self.progress("reading observations", 0, 1)
        frame = self._observations(stored)
        frame.createOrReplaceTempView(VIEW)
        self.dims = [c for c in frame.columns if c not in ("metric", "ts", "value")]
        spans = {r["metric"]: (r["first"], r["last"]) for r in self.spark.sql(_span_query()).collect()}
        self.progress("reading observations", 1, 1)
        chosen = self._chosen(metrics, spans, local_names)
        outcome = Outcome(chosen, {}, previous, verdicts)
        query_metrics = [m for m in chosen if self.config.metric(m).type == "query"]
        for name in chosen:
            if name in query_metrics:
                continue
            parts = self._parts(name)
            known = [spans[p] for p in parts if p in spans]
            if not known:
                continue
            start, end = min(s for s, _ in known), max(e for _, e in known)
            self._scan_metric(name, start, (end - start).days + 1, state, previous, outcome)
        if query_metrics:
            self._scan_query_metrics(query_metrics, state, previous, outcome)
        if output_parquet:
            outcome.after_save = lambda kept: self._write_parquet(kept, output_parquet)
        return outcome

    # --- input ----------------------------------------------------------------
    def _observations(self, stored):
        """Observations as a Spark DataFrame: metric, ts (date), value (double), dimensions."""
        if stored is not None:
            return self.spark.createDataFrame(stored)
        path = self.config.observations_parquet
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

    def _chosen(self, metrics: list[str], spans, local_names: list[str]) -> list[str]:
        if self.config.observations_parquet:
            present = set(spans)
            known = set(present)
            for name, metric in self.config.metrics.items():
                if metric.type == "ratio" and {metric.numerator, metric.denominator} <= present:
                    known.add(name)
            known = sorted(known)
        else:
            known = local_names
        for name in metrics:
            if name not in known:
                raise UnknownName(f"Unknown metric '{name}'; the observations have: {', '.join(known) or 'no metrics yet'}.")
        return list(metrics) or known

    def _parts(self, name: str) -> list[str]:
        definition = self.config.metric(name)
        return [definition.numerator, definition.denominator] if definition.type == "ratio" else [name]

    # --- one metric -------------------------------------------------------------
    def _scan_metric(self, name: str, start, days: int, state, previous, outcome: Outcome) -> None:
        from pyspark.sql import functions as F

        from ctxmetrics.engines.bucket_detect import RESULT_DDL, MetricJob
        from ctxmetrics.engines.spark_cube import cube_sql

        definition = self.config.metric(name)
        kind = {"ratio": "ratio", "gauge": "gauge"}.get(definition.type, "count")
        args = {"num": definition.numerator, "den": definition.denominator} if kind == "ratio" else {"num": name}
        label = f"{name}: cube"
        self.progress(label, 0, 1)
        cube = self.spark.sql(cube_sql(VIEW, self.dims, kind, start, days), args=args).persist()
        total = cube.count()
        self.progress(label, 1, 1)

        stored = self.spark.createDataFrame(_state_table(state, name))
        buckets = max(1, math.ceil(total / BUCKET_SERIES))
        job = MetricJob(kind, start, days, tuple(self.dims), self.config.detection_for(name), self.config.timezone)
        timeline = self.spark.sparkContext.broadcast(list(self.annotations))
        done = self.spark.sparkContext.accumulator(0)
        keyed = cube.join(stored, "segment_key", "left").withColumn(
            "bucket", F.pmod(F.xxhash64("segment_key"), F.lit(buckets))
        )
        detected = keyed.groupBy("bucket").applyInArrow(_bucket_function(job, timeline, done), RESULT_DDL)
        results = self._watch(f"{name}: detecting", total, done, detected.toArrow)
        timeline.unpersist()

        found, fingerprints, stats = _read_results(results, name, start, previous)
        outcome.add(name, found, stats, fingerprints)
        outcome.sets[name] = self._linking_set(cube, name, kind, start, days, found)
        cube.unpersist()

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

    def _linking_set(self, cube, name: str, kind: str, start, days: int, anomalies) -> SeriesSet:
        """The series linking reads for `anomalies`, in the local cube's row order."""
        import numpy as np

        from ctxmetrics.engines.bucket_detect import dense, segments_of
        from ctxmetrics.engines.linking_rows import scope_dimensions, wanted_signatures

        scoped = scope_dimensions(self.annotations)
        wanted = wanted_signatures(anomalies, scoped)
        dims = tuple(self.dims)
        if not wanted:
            empty = np.zeros((0, days))
            return SeriesSet(name, kind, start, [], empty, empty if kind == "ratio" else None)
        rows = cube.mapInArrow(_linking_filter(dims, wanted, scoped), cube.schema).toArrow()
        n = rows.num_rows
        segments = segments_of(rows, dims)
        rank = {group: i for i, group in enumerate(g for size in range(len(dims) + 1) for g in combinations(dims, size))}
        order = sorted(range(n), key=lambda i: (rank[tuple(segments[i])], tuple(segments[i].values())))
        values = dense(rows["values"], n, days)[order]
        dens = dense(rows["denominators"], n, days)[order] if kind == "ratio" else None
        return SeriesSet(name, kind, start, [segments[i] for i in order], values, dens)

    def _scan_query_metrics(self, names, state, previous, outcome: Outcome) -> None:
        """Query metrics are SQL on the project's store: scanned where the store is, by the
        local engine (`observations: {parquet: ...}` has no store to run them on)."""
        from ctxmetrics.scan import _scan_metric
        from ctxmetrics.series import build_series_set

        with self.project.store(read_only=True) as store:
            sets = {n: build_series_set(store, self.config, n, self.project.queries_dir) for n in names}
        for name, series_set in sets.items():
            if series_set is None:
                continue
            found, stats, fingerprints = _scan_metric(
                series_set, self.config, self.annotations, state, [a for a in previous if a.metric == name], self.progress
            )
            outcome.add(name, found, stats, fingerprints)
            outcome.sets[name] = series_set

    # --- output -------------------------------------------------------------------
    def _write_parquet(self, anomalies, folder: str) -> None:
        """The stored tables `anomalies` and `anomaly_causes` as Parquet under `folder`."""
        import polars as pl

        for table, frame in result_frames(anomalies, self.config).items():
            arrow = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
            self.spark.createDataFrame(arrow).write.mode("overwrite").parquet(f"{folder.rstrip('/')}/{table}")


def _span_query() -> str:
    from ctxmetrics.engines.spark_cube import span_sql

    return span_sql(VIEW)


def _stored_observations(store):
    """Every observation of the store as one Arrow table (handed to Spark as it is)."""
    return store.con.sql("select * from obs").fetch_arrow_table()


def _state_table(state, metric: str):
    import pyarrow as pa

    keys = [(k, fp) for (m, k), fp in state.items() if m == metric]
    return pa.table(
        {"segment_key": [k for k, _ in keys], "previous": [fp for _, fp in keys]},
        schema=pa.schema([("segment_key", pa.string()), ("previous", pa.string())]),
    )


def _bucket_function(job, timeline, done):
    """The applyInArrow function of one metric (a closure: Spark pickles it to the workers)."""

    def detect(table):
        from ctxmetrics.engines.bucket_detect import detect_bucket

        return detect_bucket(table, job, timeline.value, done)

    return detect


def _linking_filter(dims, wanted, scoped):
    def keep(batches):
        import pyarrow as pa
        import pyarrow.compute as pc

        from ctxmetrics.engines.bucket_detect import segments_of
        from ctxmetrics.engines.linking_rows import needed

        for batch in batches:
            table = pa.Table.from_batches([batch])
            mask = pa.array([needed(s, wanted, scoped) for s in segments_of(table, dims)], type=pa.bool_())
            yield from pc.filter(table, mask).to_batches()

    return keep


def _read_results(results, metric: str, start, previous):
    """(anomalies, fingerprints by segment key, stats) of one metric's detection output."""
    import json

    from ctxmetrics.detect import Change

    rows = results.to_pylist()
    fingerprints = {r["segment_key"]: r["fingerprint"] for r in rows}
    rescanned = {r["segment_key"] for r in rows if r["rescanned"]}
    candidates = {r["segment_key"] for r in rows if r["candidate"]}
    found = [a for a in previous if a.metric == metric and a.segment_key not in rescanned]
    for r in rows:
        if r["kind"] is None:
            continue
        change = Change(r["kind"], r["direction"], r["start"], r["end"], r["before"], r["after"], r["change_pct"], r["score"])
        found.append(anomaly_from_change(metric, json.loads(r["segment"]), start, change, r["volume"]))
    stats = dict(series=len(fingerprints), rescanned=len(rescanned), candidates=len(candidates))
    return found, fingerprints, stats
