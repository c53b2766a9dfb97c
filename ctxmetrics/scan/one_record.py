"""How many records a records export's summed change is made of.

A deals export's won value per owner × region is lumpy: most days hold no deal, and a
day with one big deal stands out as a spike of the sum, though the team closed what it
always closes. Where the export also counts those records (`deals_won` beside
`won_value`: the same date column and filters, without `sum`), each temporary change of
the sum is given the number of records on its days (`Anomaly.records`); a change made of
one record is one deal's size, said so and ranked like a change that just passed the bar.
"""
from __future__ import annotations

from typing import Iterable

from ctxmetrics.config import Config
from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.store.database import Store, quote_ident


def count_records(anomalies: Iterable[Anomaly], config: Config, store: Store) -> None:
    """Set `records` of each temporary anomaly of a summed records metric that has a
    counted sibling (left None otherwise)."""
    counted = _counted_siblings(config)
    for anomaly in anomalies:
        sibling = counted.get(anomaly.metric)
        if sibling is None or anomaly.end is None:
            continue
        filters = "".join(f" and {quote_ident(d)} = ?" for d in anomaly.segment)
        _, rows = store.query_rows(
            f"select sum(value) from observations where metric = ? and ts between ? and ?{filters}",
            [sibling, anomaly.start, anomaly.end, *anomaly.segment.values()],
        )
        anomaly.records = int(round(rows[0][0] or 0))


def _counted_siblings(config: Config) -> dict[str, str]:
    """Summed records metric -> the metric counting the same records (same date and filters)."""
    if config.records is None:
        return {}
    specs = config.records.metrics
    return {
        name: count
        for name, spec in specs.items() if spec.sum is not None
        for count, other in specs.items() if other.sum is None and (other.date, other.where) == (spec.date, spec.where)
    }
