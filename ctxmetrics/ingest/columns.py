"""Which column of a file plays which role (date, metric, value, dimension): the one named
in `columns:` or on the command line, else the first of the usual names."""
from __future__ import annotations

from typing import Sequence

from ctxmetrics.errors import InputError
from ctxmetrics.ingest.sources import _Source
from ctxmetrics.store.database import check_dimension_name
from ctxmetrics.wording import closest_name

EVENT_COLUMNS = ("entity_id", "stage")
# Usual names of each column role, in order of preference (`columns:` in the config wins).
DATE_NAMES = ("date", "ts", "timestamp", "ds", "day")
VALUE_NAMES = ("value", "y", "count")
HOUR_NAMES = ("hour", "hr", "hour_of_day")  # what `init --from` takes for an hour-of-day column


def _role_column(src: _Source, columns: list[str], mapping: dict[str, str], role: str, names: Sequence[str]) -> str | None:
    """The column playing `role`: the one mapped to it, else the first usual name present."""
    if role in mapping:
        if mapping[role] not in columns:
            raise InputError(f"{src.where()}: column '{mapping[role]}' (the {role} column) is missing.")
        return mapping[role]
    return usual_column(columns, names)


def usual_column(columns: Sequence[str], names: Sequence[str]) -> str | None:
    """The column with the first of the usual `names`, in any case ('Date' from a
    spreadsheet export): the exact name first."""
    lowered = {c.lower(): c for c in reversed(columns)}  # the first of names differing only in case
    for name in names:
        if name in columns:
            return name
        if name in lowered:
            return lowered[name]
    return None


def _date_column(src: _Source, columns: list[str], mapping: dict[str, str], names=DATE_NAMES) -> str:
    found = _role_column(src, columns, mapping, "date", names)
    if found is None:
        raise InputError(
            f"{src.where()}: no date column ({', '.join(names)}); every row needs its day. "
            "Name it with --date-col."
        )
    return found


def _require(src: _Source, columns: list[str], needed: Sequence[str], fmt: str) -> None:
    for name in needed:
        if name not in columns:
            raise InputError(f"{src.where()}: column '{name}' is missing; {fmt} format needs {', '.join(needed)}.")


def _dimension_columns(src: _Source, others: list[str], dims: list[str], known: list[str]) -> list[str]:
    allowed = set(known) | set(dims)
    for name in others:
        if known and name not in allowed:
            close = closest_name(name, allowed)
            hint = f" Did you mean '{close}'?" if close else ""
            raise InputError(
                f"{src.where(column=name)}: not a known dimension ({', '.join(sorted(allowed))}).{hint} "
                f"Add it to 'dimensions' in ctxmetrics.yaml or pass --dims {name}."
            )
        try:
            check_dimension_name(name)
        except Exception as exc:
            raise InputError(f"{src.where(column=name)}: {exc}") from None
    return others
