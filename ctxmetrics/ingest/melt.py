"""Wide files whose columns are segments of one metric, not metrics: `date,NA,EMEA,APAC`
(a file of one metric, a column per region) or `date,leads_NA,leads_EMEA,mql_NA,mql_EMEA`.
`init --from` recognises them (`segment_columns`) and writes a `melt:` block; ingest then
reads each such column as rows of its metric with the dimension set to its segment
(`melted`), so the total is the sum of the segments and drivers name them."""
from __future__ import annotations

import re

import polars as pl

from ctxmetrics.config import WideMelt

# Header words that are segments, by the dimension they belong to. A column is read as a
# segment only when its name (or its suffix after the metric's name) is one of these: never
# a plain word such as `value` or `count`, so `pipeline_value,pipeline_count` stays two
# metrics, and never any upper-case code, as `MQL,SQL` or `MRR,ARR,CAC` are metrics.
SEGMENT_WORDS = {
    "region": {
        "na", "noram", "amer", "americas", "latam", "emea", "apac", "apj", "anz", "mea", "eu", "europe", "asia",
        "north_america", "south_america", "dach", "nordics", "benelux", "uk", "us", "row", "japan", "india", "china",
        "north", "south", "east", "west", "central", "de", "fr", "es", "it", "nl", "ca", "au", "br", "mx", "jp", "in",
        "us_east", "us_west", "gcc", "cee", "sea",
    },
    "channel": {
        "paid", "organic", "partner", "partners", "direct", "referral", "email", "social", "events", "outbound",
        "inbound", "web", "display", "search", "affiliate", "affiliates",
    },
}
# Columns of the segments' sum: left out, or the total would be counted twice.
TOTAL_WORDS = {"total", "totals", "all", "sum", "overall", "grand_total"}
_SEPARATORS = re.compile(r"[_\s.\-–—/|]+")


def _key(name: str) -> str:
    return _SEPARATORS.sub("_", name.strip()).strip("_").lower()


def _is_segment(name: str) -> bool:
    return _key(name) in set().union(*SEGMENT_WORDS.values())


def _dimension_of(segments: list[str]) -> str:
    """`region` or `channel` when every segment is a word of that dimension, else `segment`."""
    keys = {_key(s) for s in segments}
    return next((dimension for dimension, words in SEGMENT_WORDS.items() if keys <= words), "segment")


def _split(column: str) -> tuple[str, str] | None:
    """(metric, segment) of `leads_NA`, `Leads EMEA` or `leads-apac`: the last separated
    part is the segment."""
    parts = _SEPARATORS.split(column.strip())
    if len(parts) < 2 or not parts[-1]:
        return None
    return column.strip()[: column.strip().rfind(parts[-1])].rstrip(" _.-–—/|"), parts[-1]


def segment_columns(columns: list[str], metric: str) -> tuple[WideMelt, list[str]] | None:
    """The melt of a wide file's numeric `columns` when every one is a segment (then of
    `metric`, the file's name) or every one is `<metric>_<segment>` with each metric over
    the same two or more segments; and the columns of their totals, to leave out. None:
    the columns are metrics."""
    totals = [c for c in columns if _key(c) in TOTAL_WORDS or (_split(c) and _key(_split(c)[1]) in TOTAL_WORDS)]
    rest = [c for c in columns if c not in totals]
    if len(rest) < 2:
        return None
    if all(_is_segment(c) for c in rest):
        return WideMelt(_dimension_of(rest), {c: (metric, c.strip()) for c in rest}), totals
    pairs = {c: _split(c) for c in rest}
    if any(p is None or not p[0] or not _is_segment(p[1]) for p in pairs.values()):
        return None
    by_metric: dict[str, set[str]] = {}
    for name, segment in pairs.values():
        by_metric.setdefault(name, set()).add(segment)
    segments = next(iter(by_metric.values()))
    if len(segments) < 2 or any(s != segments for s in by_metric.values()):
        return None
    return WideMelt(_dimension_of(sorted(segments)), dict(pairs)), totals


def melted(long: pl.DataFrame, melt: WideMelt) -> pl.DataFrame:
    """Unpivoted wide rows (metric = the column's name) with each melted column's rows
    renamed to its metric and given its segment in the melt's dimension column."""
    return long.with_columns(
        pl.col("metric").replace_strict({c: s for c, (_, s) in melt.columns.items()}, return_dtype=pl.Utf8).alias(melt.dimension),
        pl.col("metric").replace_strict({c: m for c, (m, _) in melt.columns.items()}, return_dtype=pl.Utf8),
    )
