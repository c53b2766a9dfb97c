"""The real series of ../shared/realdata (see its README) as evaluation cases.

Truth is the documented events only, so recall is measured and precision is not (other
real changes are not labelled): bike-sharing system closures (3 outages; a closure is a
drop on the day it started; matched within 2 days) and Melbourne's four COVID-19
lockdowns (a drop on the first day; matched within REAL_EVENT_DAYS, because a documented
policy date is not the day behaviour changed: footfall fell from mid-March 2020, before
the first lockdown order). The `formats/` files have no truth: they are shape tests (monthly series with CR
line endings, a 5-minute gauge with NaN averaged to days).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import yaml

from benchmarks.eval.cases import Case, Planted

DEFAULT_FOLDER = Path(__file__).resolve().parents[3] / "shared" / "realdata"
REAL_EVENT_DAYS = 7


def _read_columns(path: Path, date_column: str, value_column: str) -> tuple[list[str], np.ndarray]:
    """Dates (text) and values of a CSV; any line ending; empty or "NaN" values -> NaN."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    values = np.array([float(r[value_column]) if r[value_column] not in ("", "NaN") else np.nan for r in rows])
    return [r[date_column] for r in rows], values


def _events(path: Path, key: str = "events") -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))[key]


def _index_of(dates: np.ndarray, when) -> int:
    day = np.datetime64(str(when)[:10])
    found = np.flatnonzero(dates == day)
    if not found.size:
        raise ValueError(f"event date {day} is not in the series ({dates[0]}..{dates[-1]}).")
    return int(found[0])


def bike_sharing(folder: Path) -> Case:
    """Capital Bikeshare daily rentals (cnt), truth = the documented system closures."""
    dates, values = _daily_means(*_read_columns(folder / "bike_sharing_dc" / "day.csv", "dteday", "cnt"))
    planted = tuple(
        Planted(_index_of(dates, e["start"]), _index_of(dates, e["end"]), "down", e["id"])
        for e in _events(folder / "bike_sharing_dc" / "events.yaml") if e["type"] == "outage"
    )
    return Case("bike_sharing cnt (closures)", values, "count", dates, planted=planted)


def pedestrians(folder: Path) -> Case:
    """Melbourne daily pedestrian count, truth = the four lockdowns' first days."""
    sub = folder / "melbourne_pedestrians"
    dates, values = _daily_means(*_read_columns(sub / "example_pedestrians_covid.csv", "ds", "y"))
    planted = tuple(
        Planted(_index_of(dates, e["start"]), _index_of(dates, e["end"]), "down", e["id"])
        for e in _events(sub / "events.yaml")
    )
    return Case("melbourne pedestrians (lockdowns)", values, "count", dates, planted=planted,
                match_periods=REAL_EVENT_DAYS)


def _daily_means(stamps: list[str], values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean per calendar day of (sub-)daily readings; days without a reading are NaN."""
    days = np.array([s[:10] for s in stamps], dtype="datetime64[D]")
    calendar = np.arange(days.min(), days.max() + 1)
    at = (days - calendar[0]).astype(int)
    ok = np.isfinite(values)
    sums = np.bincount(at[ok], values[ok], len(calendar))
    counts = np.bincount(at[ok], minlength=len(calendar))
    return calendar, np.divide(sums, counts, out=np.full(len(calendar), np.nan), where=counts > 0)


def shape_cases(folder: Path) -> list[Case]:
    """The formats/ files: no truth, judged only on running and the number of changes."""
    sub = folder / "formats"
    cases = []
    for name, kind in (("example_air_passengers.csv", "count"), ("example_retail_sales.csv", "count")):
        text_dates, values = _read_columns(sub / name, "ds", "y")
        dates = np.array(text_dates, dtype="datetime64[D]")
        cases.append(Case(name, values, kind, dates, freq="M"))
    stamps, temps = _read_columns(sub / "example_yosemite_temps.csv", "ds", "y")
    dates, values = _daily_means(stamps, temps)
    cases.append(Case("example_yosemite_temps.csv (daily mean)", values, "gauge", dates))
    return cases


def labelled_cases(folder: Path) -> list[Case]:
    return [bike_sharing(folder), pedestrians(folder)]
