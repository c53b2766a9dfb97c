"""The per-bucket work of the Spark engine, run by Spark's Python workers on an Arrow
table of dense series (no PySpark needed here).

For each series: the known-day mask from the broadcast timeline, the fingerprint (the
local engine's function) compared with the stored one, the local pre-screen over the
changed series of the bucket (`scan.screen`), then `scan.detect_one` on the candidates,
and the test of the series' tagged windows (`scan.tagged.passing_changes`) where they or
the series changed. Every function is the one the local scan calls, on the same rows, so
both engines find the same changes; the driver applies the tagged windows' overlap rule
(`scan.tagged.with_tagged`), since it holds the anomalies of unchanged series.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ctxmetrics.config import DAYS_OFF_TYPES

# One row per detected change (a tagged window's too: `events` set); a series without one
# still has a row (kind null) so its fingerprints come back. `rescanned`/`candidate`/`retagged`
# say what was done to the series.
RESULT_SCHEMA = pa.schema(
    [
        ("metric", pa.string()),
        ("segment_key", pa.string()),
        ("segment", pa.string()),  # JSON of the segment dict, on rows with a change
        ("fingerprint", pa.string()),
        ("rescanned", pa.bool_()),
        ("candidate", pa.bool_()),
        ("too_small", pa.bool_()),  # too small to ever show a change (`detect.too_small`)
        ("volume", pa.float64()),
        ("kind", pa.string()),
        ("direction", pa.string()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("before", pa.float64()),
        ("after", pa.float64()),
        ("change_pct", pa.float64()),
        ("score", pa.float64()),
        ("tag_print", pa.string()),  # the fingerprint of the series' tagged windows (`tagged.tag_fingerprint`), if any
        ("retagged", pa.bool_()),  # its tagged windows were tested this scan
        ("events", pa.string()),  # JSON list of the tagging events, on a tagged window's change
    ]
)
RESULT_DDL = (
    "metric string, segment_key string, segment string, fingerprint string, rescanned boolean, candidate boolean, "
    "too_small boolean, volume double, kind string, direction string, start int, `end` int, before double, after double, "
    "change_pct double, score double, tag_print string, retagged boolean, events string"
)


@dataclass(frozen=True)
class MetricJob:
    """What every bucket of one metric needs besides its rows (small: shipped with the task)."""

    kind: str
    start: dt.date
    days: int
    dims: tuple[str, ...]
    settings: object  # DetectionSettings
    timezone: str
    parts: tuple[str, ...] = ()  # the stored metrics it reads (a ratio's numerator and denominator)
    gaps: np.ndarray | None = None  # days without data (unknown, not 0), as `series.data_gaps` finds them
    # the tagged series (`scan.tagged`): segment key -> its windows; their family's size and bar;
    # segment key -> the stored fingerprint of its windows
    tagged: dict = field(default_factory=dict)
    tests: int = 0
    bar: float = 0.0
    tag_prints: dict = field(default_factory=dict)
    days_off: tuple[str, ...] = DAYS_OFF_TYPES  # event types whose days are unknown (`Config.days_off_types`)
    amount: bool = False  # an amount: judged as a gauge (`kind`), summed over segments with a count's gaps

    @property
    def rollup_kind(self) -> str:
        """How `spark_cube.cube_sql` rolls the metric up: a gauge's mean, else sums."""
        return "amount" if self.amount else self.kind


def matrices(table: pa.Table, job: MetricJob) -> tuple[np.ndarray, np.ndarray | None]:
    """The (rows × days) values and (ratios) denominators of the rows' `cells` (list of
    day, v, den structs); a day without a cell is 0, or NaN for a gauge, as locally (and an
    amount's data gaps are NaN, as locally)."""
    n = table.num_rows
    column = table["cells"]
    lists = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    cells = lists.flatten()
    rows = np.repeat(np.arange(n), np.diff(np.asarray(lists.offsets)))
    days = np.asarray(cells.field("day").to_numpy(zero_copy_only=False), dtype=np.int64)
    values = np.full((n, job.days), np.nan if job.rollup_kind == "gauge" else 0.0)
    values[rows, days] = cells.field("v").to_numpy(zero_copy_only=False)
    if job.amount:
        from ctxmetrics.store.series import unknown_on_gaps

        unknown_on_gaps(values, job.gaps)
    if job.kind != "ratio":
        return values, None
    dens = np.zeros((n, job.days))
    dens[rows, days] = cells.field("den").to_numpy(zero_copy_only=False)
    return values, dens


def segments_of(table: pa.Table, dims: tuple[str, ...]) -> list[dict[str, str]]:
    """Segment dicts in dimension order, as the local cube holds them."""
    from ctxmetrics.scan.engines.spark_cube import dim_columns

    columns = [table[c].to_pylist() for c in dim_columns(list(dims))]
    return [{d: col[i] for d, col in zip(dims, columns) if col[i] is not None} for i in range(table.num_rows)]


def detect_bucket(table: pa.Table, jobs: dict[str, MetricJob], annotations, progress=None) -> pa.Table:
    """Detect the series of one bucket of one metric (rows: metric, d_i, segment_key,
    cells, previous fingerprint) and return RESULT_SCHEMA rows."""
    from ctxmetrics.detect import too_small
    from ctxmetrics.scan.scan import detect_one, fingerprint_rows, screen, segment_masks

    n = table.num_rows
    metric = table["metric"][0].as_py()
    job = jobs[metric]
    values, dens = matrices(table, job)
    segments = segments_of(table, job.dims)
    masks = segment_masks(segments, job.start, job.days, annotations, job.timezone, days_off=job.days_off)
    fingerprints = fingerprint_rows(job.kind, job.start, job.settings, values, dens, masks)
    previous = table["previous"].to_pylist()
    changed = np.array([fp != old for fp, old in zip(fingerprints, previous)], dtype=bool)
    rows = np.flatnonzero(changed)
    candidates = np.zeros(n, dtype=bool)
    detect_values = values
    if job.gaps is not None and job.gaps.any():  # as SeriesSet.detection_values does locally
        detect_values = values.copy()
        detect_values[:, job.gaps] = np.nan
    if len(rows):
        den = None if dens is None else dens[rows]
        candidates[rows[screen(detect_values[rows], den, job.settings, job.kind, job.start)]] = True
    small = too_small(detect_values if job.kind == "count" else values, job.settings, job.kind, dens)  # as locally
    keys = table["segment_key"].to_pylist()
    out: dict[str, list] = {column.name: [] for column in RESULT_SCHEMA}
    for row in range(n):
        changes = []
        if candidates[row]:
            den = None if dens is None else dens[row]
            changes = detect_one(detect_values[row], den, masks[row], job.settings, job.kind, job.start)
        tag_print, retagged, tagged = _tagged(job, keys[row], fingerprints[row], bool(changed[row]), detect_values[row],
                                              None if dens is None else dens[row], masks[row])
        volume = float(np.nanmean(values[row])) if changes or tagged else None
        for change, events in [*((c, None) for c in changes), *tagged] or [(None, None)]:
            out["metric"].append(metric)
            out["segment_key"].append(keys[row])
            out["segment"].append(None if change is None else json.dumps(segments[row]))
            out["fingerprint"].append(fingerprints[row])
            out["rescanned"].append(bool(changed[row]))
            out["candidate"].append(bool(candidates[row]))
            out["too_small"].append(bool(small[row]))
            out["volume"].append(volume)
            for name in ("kind", "direction", "start", "end", "before", "after", "change_pct", "score"):
                out[name].append(None if change is None else getattr(change, name))
            out["tag_print"].append(tag_print)
            out["retagged"].append(retagged)
            out["events"].append(None if events is None else json.dumps(list(events)))
    if progress is not None:
        progress.add(n)
    return pa.table(out, schema=RESULT_SCHEMA)


def _tagged(job: MetricJob, key: str, fingerprint: str, changed: bool, values, den, mask):
    """(fingerprint of the series' tagged windows or None, whether they were tested again,
    [(change, events)] of the windows that pass): as `tagged.retest_tagged` decides locally."""
    from ctxmetrics.scan.tagged import passing_changes, tag_fingerprint

    windows = job.tagged.get(key)
    if not windows:
        return None, False, []
    tag_print = tag_fingerprint(fingerprint, job.tests, windows)
    if not changed and job.tag_prints.get(key) == tag_print:
        return tag_print, False, []
    passing = passing_changes(values, den, mask, windows, job.kind, job.start, "daily", job.settings, job.bar)
    return tag_print, True, [(change, window.events) for change, window in passing]
