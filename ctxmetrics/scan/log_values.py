"""Metrics whose values are logarithms (`scale: log` or `log10` in ctxmetrics.yaml, as
Prophet's examples store page views): a percentage of a log value means nothing (+23% of
8.1), so each anomaly's `change_pct` is the change of the underlying value, the base
raised to the change of the logs (8.1 -> 9.96: e^1.86 = x6.4, +540%)."""
from __future__ import annotations

import math

from ctxmetrics.config import Config, log_factor
from ctxmetrics.models.anomaly import Anomaly


def underlying_changes(anomalies: list[Anomaly], config: Config) -> None:
    """Set `change_pct` of each anomaly of a log-scale metric to its underlying value's change.
    Read off `before` and `after`, so an anomaly kept from the last scan comes out the same."""
    for anomaly in anomalies:
        scale = config.metric(anomaly.metric).scale
        if scale is not None and math.isfinite(anomaly.before) and math.isfinite(anomaly.after):
            anomaly.change_pct = round(100.0 * (log_factor(anomaly.before, anomaly.after, scale) - 1.0), 1)
