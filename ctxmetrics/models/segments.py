"""Segments: a set of dimension values; `{}` is the total."""
from __future__ import annotations

import re
from itertools import combinations
from typing import Iterable, Mapping

Segment = dict[str, str]


def parse_segment(pairs: Iterable[str]) -> Segment:
    """Turn `["region=EMEA", "channel=paid"]` into `{"region": "EMEA", "channel": "paid"}`.

    Raises:
        ValueError: a pair without '=' or a dimension given twice.
    """
    segment: Segment = {}
    for pair in pairs:
        key, value = split_pair(pair)
        if key in segment:
            raise ValueError(f"dimension '{key}' is given twice.")
        segment[key] = value
    return segment


def split_pair(pair: str, form: str = "dimension=value") -> tuple[str, str]:
    """'region = EMEA' -> ('region', 'EMEA'); ValueError naming `form` when a side is missing."""
    key, sep, value = pair.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise ValueError(f"'{pair}' is not of the form {form}.")
    return key, value


def segment_key(segment: Mapping[str, str], order: Iterable[str] = ()) -> str:
    """A stable text key: `region=EMEA,channel=paid` in dimension order; '' for the total."""
    if not order:  # by name: every series of a cube (100k keys) without a rank per dimension
        return ",".join([f"{k}={segment[k]}" for k in sorted(segment)])
    rank = {d: i for i, d in enumerate(order)}
    keys = sorted(segment, key=lambda k: (rank.get(k, len(rank)), k))
    return ",".join(f"{k}={segment[k]}" for k in keys)


def rollup_keys(segment: Mapping[str, str]) -> list[str]:
    """The `segment_key` of every strict rollup of a segment (the total included)."""
    pairs = [f"{k}={segment[k]}" for k in sorted(segment)]  # the order `segment_key` uses
    return [",".join(keep) for n in range(len(pairs)) for keep in combinations(pairs, n)]


def segment_from_key(key: str) -> Segment:
    return parse_segment(key.split(",")) if key else {}


# A value that does not say what it is a value of: a yes/no column (`Captured` true/false)
# or a number (`Tier` 2). Written alone, "true/Paid" or "where: true (91%); false (9%)"
# leaves a reader to guess the column.
_BARE_VALUE = re.compile(r"(?i)(true|false|yes|no|[+-]?\d+(\.\d+)?)")


def value_label(dimension: str, value: str) -> str:
    """A segment value as read out: 'EMEA', or 'Captured=true' where the value alone does not
    say what it is."""
    return f"{dimension}={value}" if _BARE_VALUE.fullmatch(value) else value


def segment_label(segment: Mapping[str, str], joiner: str = "/") -> str:
    """Human label: 'EMEA/paid', 'Captured=true/Paid', or 'total' for the whole business."""
    return joiner.join(value_label(d, v) for d, v in segment.items()) or "total"


def is_within(child: Mapping[str, str], parent: Mapping[str, str]) -> bool:
    """True when `child` is `parent` or one of its sub-segments."""
    return all(child.get(k) == v for k, v in parent.items())


# The scan-state key of a series' tagged windows (scan.tagged) is its segment key and
# this suffix: a row of the scan state that names no series.
TAGGED_STATE_SUFFIX = "#tagged"
