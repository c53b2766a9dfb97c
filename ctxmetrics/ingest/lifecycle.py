"""`init --from`'s reading of a contacts export with one date column per lifecycle stage
(HubSpot's `Became a Lead Date`, `Became a Marketing Qualified Lead Date`, ..., `Became a
Customer Date`; Marketo-like `MQL Date`): a file of records whose metrics are the funnel's
stages, each counting the contacts that reached it per day of its column.

A contact's current stage (`Lifecycle Stage`) is no segment: it changes as the contact
moves on, so a day's leads would be split by where they stand at export time. It is left
out, and said."""
from __future__ import annotations

import re

import polars as pl

from ctxmetrics.config import Config, RecordMetric, RecordsLayout
from ctxmetrics.ingest.amounts import _words
from ctxmetrics.ingest.dates import BadCell, parse_days

# The stage a column's words name (HubSpot's spelled out, or its abbreviation), and the
# metric it becomes: funnel stage names (`config.FUNNEL_STAGES`), so the funnel is read too.
STAGES = {
    "lead": "leads", "marketing qualified lead": "mql", "mql": "mql", "sales qualified lead": "sql", "sql": "sql",
    "opportunity": "opportunities", "customer": "customers",
}
_STAGE_COLUMN = re.compile(r"^(?:became an? )?(?P<stage>.+?) date$")
CURRENT_STAGE_WORDS = ({"lifecycle", "stage"}, {"lead", "status"})


def lifecycle_layout(raw: pl.DataFrame, columns: list[str]) -> RecordsLayout | None:
    """The records layout of a contacts export: two or more columns of stage dates (ISO
    dates or times in their filled cells), or None."""
    metrics: dict[str, RecordMetric] = {}
    for name in columns:
        found = _STAGE_COLUMN.match(" ".join(_words(name)))
        metric = STAGES.get(found["stage"]) if found else None
        if metric is not None and metric not in metrics and _dates(raw[name]):
            metrics[metric] = RecordMetric(name)
    if len(metrics) < 2:
        return None
    record_id = next((c for c in columns if "id" in _words(c)), None)
    return RecordsLayout(record_id, metrics)


def current_stage_columns(columns: list[str]) -> list[str]:
    """Columns holding a contact's stage at export time (`Lifecycle Stage`, `Lead Status`)."""
    return [c for c in columns if any(words <= set(_words(c)) for words in CURRENT_STAGE_WORDS)]


def _dates(column: pl.Series) -> bool:
    text = column.cast(pl.Utf8).str.strip_chars()
    filled = text.filter(text.is_not_null() & (text != ""))
    if filled.len() == 0:
        return False
    try:
        parse_days(filled.head(1000), Config.timezone)
    except (BadCell, pl.exceptions.PolarsError):
        return False
    return True
