"""`init --from`'s reading of the zone a file's times were written in: stamps with UTC
offsets that follow one zone's clocks on their dates (`+01:00` in winter, `+02:00` from the
last Sunday of March: Central Europe) name that zone, so the project counts rows on their
local days; UTC stays the zone of files written in UTC."""
from __future__ import annotations

import datetime as dt
import zoneinfo

import polars as pl

# Zones tried, one per clock of the places exports come from; the first whose offsets
# match every stamp is taken (others of the same clocks count days alike).
ZONES = (
    "Europe/London", "Europe/Berlin", "Europe/Helsinki", "Europe/Moscow", "America/New_York", "America/Chicago",
    "America/Denver", "America/Phoenix", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Dubai", "Asia/Kolkata",
    "Asia/Singapore", "Asia/Tokyo", "Australia/Brisbane", "Australia/Sydney", "Pacific/Auckland",
)
MAX_STAMPS = 20_000  # distinct stamps read: a year of hours and more


def zone_of_stamps(text: pl.Series) -> tuple[str | None, list[str]] | None:
    """The offsets written, when the stamps carry offsets other than UTC's (else None),
    and the zone whose UTC offset on each stamp's instant is the stamp's own, when they
    change as its clocks do (one offset all year, +10:00, fits several zones' clocks
    and none's changes: no zone is named)."""
    stamps = text.drop_nulls().str.strip_chars().unique().head(MAX_STAMPS).to_list()
    try:
        parsed = [dt.datetime.fromisoformat(s) for s in stamps]
    except ValueError:
        return None
    offsets = {p.utcoffset() for p in parsed}
    if None in offsets or offsets == {dt.timedelta(0)}:
        return None
    written = sorted({p.strftime("%z") for p in parsed})
    said = [f"{w[:3]}:{w[3:]}" for w in written]
    if len(offsets) == 1:
        return None, said
    for name in ZONES:
        zone = zoneinfo.ZoneInfo(name)
        if all(p.astimezone(zone).utcoffset() == p.utcoffset() for p in parsed):
            return name, said
    return None, said
