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

from pathlib import Path

import numpy as np
import yaml

from benchmarks.eval.cases import Case, Planted
from benchmarks.eval.files import per_day, read_columns

DEFAULT_FOLDER = Path(__file__).resolve().parents[3] / "shared" / "realdata"
REAL_EVENT_DAYS = 7


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
    dates, values = per_day(*read_columns(folder / "bike_sharing_dc" / "day.csv", "dteday", "cnt"))
    planted = tuple(
        Planted(_index_of(dates, e["start"]), _index_of(dates, e["end"]), "down", e["id"])
        for e in _events(folder / "bike_sharing_dc" / "events.yaml") if e["type"] == "outage"
    )
    return Case("bike_sharing cnt (closures)", values, "count", dates, planted=planted)


def pedestrians(folder: Path) -> Case:
    """Melbourne daily pedestrian count, truth = the four lockdowns' first days."""
    sub = folder / "melbourne_pedestrians"
    dates, values = per_day(*read_columns(sub / "example_pedestrians_covid.csv", "ds", "y"))
    planted = tuple(
        Planted(_index_of(dates, e["start"]), _index_of(dates, e["end"]), "down", e["id"])
        for e in _events(sub / "events.yaml")
    )
    return Case("melbourne pedestrians (lockdowns)", values, "count", dates, planted=planted,
                match_periods=REAL_EVENT_DAYS)


def shape_cases(folder: Path) -> list[Case]:
    """The formats/ files: no truth, judged only on running and the number of changes."""
    sub = folder / "formats"
    cases = []
    for name, kind in (("example_air_passengers.csv", "count"), ("example_retail_sales.csv", "count")):
        text_dates, values = read_columns(sub / name, "ds", "y")
        dates = np.array(text_dates, dtype="datetime64[D]")
        cases.append(Case(name, values, kind, dates, freq="M"))
    stamps, temps = read_columns(sub / "example_yosemite_temps.csv", "ds", "y")
    dates, values = per_day(stamps, temps)
    cases.append(Case("example_yosemite_temps.csv (daily mean)", values, "gauge", dates))
    return cases


def labelled_cases(folder: Path) -> list[Case]:
    return [bike_sharing(folder), pedestrians(folder)]
