"""Real series used as backgrounds for planted changes (benchmarks/real_backgrounds.py).

Each background is read at run time from its file (never copied into the repository) and
carries its own documented changes: the events of an `events.yaml`, the holidays and
storm of nyc_taxi, the playoff games of the Peyton Manning page, the annotators' points
of a TCPD dataset. Planted changes are kept away from those, and a detection near one is
neither a hit nor a false alarm.

Split: by source file, so that the holdout's backgrounds are never seen while tuning.
The sources sorted by name alternate tune / holdout (`SOURCES`); TCPD datasets follow
`external.tcpd_half`, the split evaluate.py uses. Both rules read names only.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from benchmarks.eval import external
from benchmarks.eval.files import per_day, read_columns
from ctxmetrics.detect import infer_frequency

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata"
DOCUMENTED_DAYS = 7  # a detection this near a documented change is the background's own
SPLITS = ("tune", "holdout")


@dataclass(frozen=True)
class Background:
    """One real series: values (NaN = unknown), kind, dates, and documented change indexes."""

    name: str
    source: str  # the file (or TCPD dataset) it comes from: the unit of the split
    values: np.ndarray
    kind: str  # "count" (planted multiplicatively, as counts) or "gauge" (planted additively)
    dates: np.ndarray  # datetime64[D], one per value
    documented: tuple[int, ...]  # indexes where a documented change starts (or an episode ends)
    documented_margin: int  # periods either side of a documented change that are its own

    @property
    def step_days(self) -> float:
        """Days between two values (1 daily, 30 monthly, ...), as the detector reads them."""
        return float(infer_frequency(self.dates, len(self.dates)).step_days)

    @property
    def years(self) -> float:
        return len(self.values) * self.step_days / 365.25


def _index(dates: np.ndarray, when) -> int | None:
    """Index of the first date on or after `when` inside the series, None outside it."""
    day = np.datetime64(str(when)[:10])
    if day < dates[0] or day > dates[-1]:
        return None
    return int(np.searchsorted(dates, day))


def _event_points(dates: np.ndarray, path: Path) -> tuple[int, ...]:
    """Starts and (day after) ends of every event of an events.yaml, weather days included."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    points = set()
    for key in ("events", "in_data_weather_days"):
        for event in document.get(key) or []:
            for when, after in ((event["start"], 0), (event.get("end") or event["start"], 1)):
                at = _index(dates, when)
                if at is not None and at + after < len(dates):
                    points.add(at + after)
    return tuple(sorted(points))


def _bike(folder: Path) -> list[Background]:
    sub = folder / "bike_sharing_dc"
    out = []
    for column in ("cnt", "casual", "registered"):
        dates, values = per_day(*read_columns(sub / "day.csv", "dteday", column))
        out.append(Background(f"bike day.csv {column}", "bike_sharing_dc", values, "count", dates,
                              _event_points(dates, sub / "events.yaml"), DOCUMENTED_DAYS))
    dates, values = per_day(*read_columns(sub / "hour.csv", "dteday", "cnt"), total=True)
    out.append(Background("bike hour.csv cnt (daily sums)", "bike_sharing_dc", values, "count", dates,
                          _event_points(dates, sub / "events.yaml"), DOCUMENTED_DAYS))
    return out


def _pedestrians(folder: Path) -> list[Background]:
    sub = folder / "melbourne_pedestrians"
    dates, values = per_day(*read_columns(sub / "example_pedestrians_covid.csv", "ds", "y"))
    return [Background("melbourne pedestrians", "melbourne_pedestrians", values, "count", dates,
                       _event_points(dates, sub / "events.yaml"), DOCUMENTED_DAYS)]


def _monthly(folder: Path, name: str) -> list[Background]:
    text_dates, values = read_columns(folder / "formats" / name, "ds", "y")
    return [Background(name, name, values, "count", np.array(text_dates, dtype="datetime64[D]"), (), 1)]


def _yosemite(folder: Path) -> list[Background]:
    dates, values = per_day(*read_columns(folder / "formats" / "example_yosemite_temps.csv", "ds", "y"))
    return [Background("yosemite temps (daily mean)", "example_yosemite_temps.csv", values, "gauge", dates, (), 1)]


def _taxi(ext: Path) -> list[Background]:
    case = external.taxi_case(ext / "nab" / "nyc_taxi.csv")
    return [Background("nyc_taxi (daily sums)", "nyc_taxi.csv", case.values, "count", case.dates,
                       tuple(p.start for p in case.planted), DOCUMENTED_DAYS)]


def _peyton(ext: Path) -> list[Background]:
    """Page views, exp of the file's log values: effects are planted on the views."""
    case = external.peyton_case(ext / "prophet" / "example_wp_log_peyton_manning.csv")
    games = tuple(sorted({p.start for p in case.planted} | {p.start + 1 for p in case.planted}))
    return [Background("peyton_manning views (exp y)", "example_wp_log_peyton_manning.csv",
                       np.round(np.exp(case.values)), "count", case.dates, games, DOCUMENTED_DAYS)]


def _tcpd(ext: Path) -> list[Background]:
    out = []
    for name, (cases, notes) in external.tcpd_datasets(ext / "tcpd").items():
        points = tuple(sorted({p for annotator in notes.values() for p in annotator if p > 0}))
        for case in cases:
            out.append(Background(f"tcpd {case.name}", f"tcpd:{name}", case.values, "gauge", case.dates,
                                  points, external.MARGIN))
    return out


# source loaders, sorted by name; alternately tune and holdout
SOURCES = (
    ("bike_sharing_dc", _bike, "realdata"),
    ("example_air_passengers.csv", lambda f: _monthly(f, "example_air_passengers.csv"), "realdata"),
    ("example_retail_sales.csv", lambda f: _monthly(f, "example_retail_sales.csv"), "realdata"),
    ("example_wp_log_peyton_manning.csv", _peyton, "ext"),
    ("example_yosemite_temps.csv", _yosemite, "realdata"),
    ("melbourne_pedestrians", _pedestrians, "realdata"),
    ("nyc_taxi.csv", _taxi, "ext"),
)


def split_of(source: str, tcpd_names: list[str]) -> str:
    """The split of a source: TCPD datasets by `external.tcpd_half`, the others alternately
    in the order of `SOURCES` (sorted by name)."""
    if source.startswith("tcpd:"):
        return external.tcpd_half(tcpd_names)[source[len("tcpd:"):]]
    names = [name for name, _, _ in SOURCES]
    return SPLITS[names.index(source) % 2]


def load_backgrounds(split: str, realdata: Path = REALDATA, ext: Path = external.DEFAULT_FOLDER) -> list[Background]:
    """Every background of `split` ("tune", "holdout" or "all") whose file is present."""
    found: list[Background] = []
    for name, load, where in SOURCES:
        folder = realdata if where == "realdata" else ext
        try:
            found += load(folder)
        except FileNotFoundError:
            continue  # a source not on this machine: the report lists what was read
    if (ext / "tcpd" / "annotations.json").is_file():
        found += _tcpd(ext)
    tcpd_names = [b.source[len("tcpd:"):] for b in found if b.source.startswith("tcpd:")]
    return [b for b in found if split == "all" or split_of(b.source, tcpd_names) == split]
