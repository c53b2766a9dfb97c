"""The JSON texts a scan stores for its anomalies, built before the store is opened."""
from __future__ import annotations

import os

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.store.results import anomaly_texts

# anomalies from which a forked worker shares the texts: ~70 µs each (a wide cube's 22k:
# ~1.5 s on the serial tail, the second core idle), against 20-40 ms to fork a pool of one
_PARALLEL_MIN_ANOMALIES = 10_000
_PARTS = 16  # slices of the anomalies: the two processes meet within one slice


def stored_texts(anomalies: list[Anomaly]) -> list[tuple[str, str]]:
    """`anomaly_texts(anomalies)`; a wide cube's shared with one forked worker. Call it with
    no DuckDB connection open: a fork copies a connection's threads in whatever state."""
    if len(anomalies) < _PARALLEL_MIN_ANOMALIES or (os.cpu_count() or 1) < 2:
        return anomaly_texts(anomalies)
    from ctxmetrics.explain.split_loop import with_forked_worker

    return with_forked_worker(lambda lo, hi: anomaly_texts(anomalies[lo:hi]), len(anomalies), _PARTS)
