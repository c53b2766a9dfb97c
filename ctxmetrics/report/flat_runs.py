"""How long a series held one value before a change: what `why` says instead of a score
when the series never varied before it (a price list, a CTR that stood at 2.70% for
months), where the score, a change over no noise at all, would read 900000000.0×."""
from __future__ import annotations

import datetime as dt

from ctxmetrics.store.database import Store

MAX_DAYS = 3660  # looked back at most ten years


def flat_days(store: Store, metric: str, segment: dict[str, str], start: dt.date, averaged: bool) -> int:
    """The days in a row before `start` on which `metric` in `segment` ({} = the total)
    held the value of the day before `start` (summed over the segment's rows per day, or
    averaged for a gauge)."""
    combine = "avg" if averaged else "sum"
    filters = "".join(f' and "{name.replace(chr(34), chr(34) * 2)}" = ?' for name in segment)
    _, rows = store.query_rows(
        f"select ts, {combine}(value) from observations where metric = ? and ts < ?{filters} "
        f"group by ts order by ts desc limit {MAX_DAYS}",
        [metric, start, *segment.values()],
    )
    if not rows:
        return 0
    first = rows[0][1]
    run = 0
    for _, value in rows:
        if abs(value - first) > 1e-9 * max(abs(first), 1.0):
            break
        run += 1
    return run
