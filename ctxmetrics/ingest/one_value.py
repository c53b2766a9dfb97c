"""Text columns that hold one value on every row of the files `init --from` reads.

An export's `currency` (all `USD`), a CRM's `pipeline` (all `Default`) or a payments file's
`status` (all `succeeded`) splits nothing: kept as a dimension, it copies every series
(the total and its one segment, `USD/EMEA` beside `EMEA`) and names that value as "where"
a change happened. Such a column is left out and said. One named as a segment of a
business (`Region`: EMEA, a team's export of its own region) stays a dimension, said:
left out, the next file's other region would be read without it and replace these rows.
Two files that each hold one value of a column (an export per region) do split by it, so
a column whose one value differs between the files read is a dimension after all
(`kept_where_files_differ`). Only a file read whole is judged: a sorted file's first rows
show one region where the rest hold others.
"""
from __future__ import annotations

import polars as pl

from ctxmetrics.ingest.amounts import _words
from ctxmetrics.ingest.cents import ZERO_DECIMAL, currency_column

# Words of a column name that make it a business's segment even with one value in a file.
SEGMENT_WORDS = frozenset({
    "region", "country", "market", "territory", "area", "city", "state", "store", "shop", "branch", "channel",
    "source", "medium", "campaign", "segment", "team", "product", "plan", "device", "platform", "site", "brand",
})


def one_value_columns(raw: pl.DataFrame, columns: list[str]) -> dict[str, str]:
    """Of the text `columns` of `raw`, those with the same value on every row (none empty),
    each with that value. A currency without cents (`jpy`) is kept: ingest reads it to know
    which amounts written in cents are whole already."""
    found = {}
    for name in columns:
        text = raw[name].cast(pl.Utf8).str.strip_chars()
        if raw.height < 2 or text.is_null().any() or (text == "").any() or text.n_unique() != 1:
            continue
        if name == currency_column([name]) and text[0].lower() in ZERO_DECIMAL:
            continue
        found[name] = text[0]
    return found


def names_a_segment(name: str) -> bool:
    return bool(set(_words(name)) & SEGMENT_WORDS)


def kept_note(value: str) -> str:
    return (f"holds one value on every row ({value!r}): kept as a dimension, since files of its other values would "
            "add to these rows; list it under ignore_columns if it never varies.")


def left_out_note(value: str) -> str:
    return (
        f"holds one value on every row ({value!r}): no segment to compare, left out (ignore_columns). If files to "
        "come hold other values of it (another region's export), move it to dimensions before ingesting them."
    )


def kept_where_files_differ(found: list) -> None:
    """Makes a dimension again, in every file's finding (`_Found`), each column left out for
    its one value where the files read hold different values of it, or another file reads
    it as a dimension."""
    values: dict[str, set[str]] = {}
    for f in found:
        for name, value in f.one_value.items():
            values.setdefault(name, set()).add(value)
    dims = {d for f in found for d in f.dims}
    for name in [n for n, seen in values.items() if len(seen) > 1 or n in dims]:
        for f in found:
            if name in f.one_value:
                del f.one_value[name], f.left_out[name]
                f.ignored.remove(name)
                f.dims.append(name)
