"""Public series kept outside the repository (default /work/extdata; see its fetch_notes.md).

- `tcpd/`: the Turing change-point benchmark (van den Burg & Williams 2020): every
  `datasets/<name>/<name>.json` present, and `annotations.json` (change points per
  annotator). Scored as in the paper: F1 with a margin of 5 points, index 0 a change
  point of every annotator and every method, precision against the union of annotators,
  recall averaged over annotators; the figure is F1 averaged over series. One fixed
  configuration for every series: kind "gauge", dates from the file when it has them;
  a multivariate series is the union of its columns' changes. Baselines in the same run:
  "no change" (index 0 only) and ruptures `Binseg(model="l2", min_size=2)` on columns
  standardised to mean 0 and variance 1, with a BIC-type penalty (d+1) log n.
  Split in two fixed halves by a rule blind to results (`tcpd_half`): the datasets
  sorted by name, alternately tune (1st, 3rd, ...) and holdout (2nd, 4th, ...).
- `nab/nyc_taxi.csv`: NAB's 30-minute New York taxi demand, summed to days; truth (drops):
  July 4, Labor Day, Thanksgiving, Christmas, New Year's Day and the blizzard (2015-01-26/27).
- `prophet/example_wp_log_peyton_manning.csv`: daily log page views of Peyton Manning's
  Wikipedia page (a gauge); truth (spikes up): the 12 playoff and Super Bowl games inside
  the data that Prophet's documentation lists as its holidays (quick start, "Modeling
  Holidays and Special Events"); other detections are counted, not judged.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.eval.cases import Case, Planted
from benchmarks.eval.detector import Detector, change_points
from benchmarks.eval.files import per_day, read_columns
from benchmarks.eval.run import Outcome, documented_line, documented_result, run_case
from benchmarks.eval.scoring import tcpd_f1

DEFAULT_FOLDER = Path("/work/extdata")
MARGIN = 5
PLAYOFF_GAMES = (
    "2008-01-13", "2009-01-03", "2010-01-16", "2010-01-24", "2010-02-07", "2011-01-08",
    "2013-01-12", "2014-01-12", "2014-01-19", "2014-02-02", "2015-01-11", "2016-01-17",
)
TAXI_DROPS = {
    "2014-07-04": "July 4", "2014-09-01": "Labor Day", "2014-11-27": "Thanksgiving",
    "2014-12-25": "Christmas", "2015-01-01": "New Year's Day", "2015-01-26": "blizzard",
}
_TIME_FORMATS = {"%Y": "Y", "%Y-%m": "M", "%Y-%m-%d": "D"}
TCPD_HALVES = ("tune", "holdout")


def tcpd_half(names: list[str]) -> dict[str, str]:
    """The half of each TCPD dataset: sorted by name, alternately tune and holdout. The
    rule reads names only, so the halves are fixed before any result is seen."""
    return {name: TCPD_HALVES[i % 2] for i, name in enumerate(sorted(set(names)))}


def _tcpd_dates(time: dict) -> np.ndarray | None:
    """Dates of a TCPD series when its time axis is years, months or days."""
    unit = _TIME_FORMATS.get(time.get("format", ""))
    if unit is None or "raw" not in time:
        return None
    return np.array(time["raw"], dtype=f"datetime64[{unit}]").astype("datetime64[D]")


def tcpd_cases(folder: Path) -> list[tuple[Case, dict[str, list[int]]]]:
    """Each TCPD dataset present (one case per column) with its annotations."""
    annotations = json.loads((folder / "annotations.json").read_text(encoding="utf-8"))
    out = []
    for path in sorted((folder / "datasets").glob("*/*.json")):
        try:
            out += _tcpd_columns(json.loads(path.read_text(encoding="utf-8")), annotations)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a TCPD dataset file ({type(exc).__name__}: {exc}).") from None
    return out


def _tcpd_columns(data: dict, annotations: dict) -> list[tuple[Case, dict[str, list[int]]]]:
    """One case per column of a TCPD dataset (none when it has no annotations)."""
    name = data["name"]
    if name not in annotations:
        return []
    dates = _tcpd_dates(data["time"])
    out = []
    for column in data["series"]:
        values = np.array([np.nan if v is None else float(v) for v in column["raw"]])
        axis = dates if dates is not None else np.datetime64("2000-01-01") + np.arange(len(values))
        out.append((Case(f"{name}:{column['label']}", values, "gauge", axis), annotations[name]))
    return out


def binseg_points(matrix: np.ndarray) -> list[int]:
    """The Binseg baseline on an (n, d) array (NaN filled with the column median)."""
    import ruptures as rpt

    x = np.where(np.isfinite(matrix), matrix, np.nanmedian(matrix, axis=0))
    n, d = x.shape
    algo = rpt.Binseg(model="l2", min_size=2, jump=1).fit((x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-12))
    return [int(b) for b in algo.predict(pen=(d + 1) * np.log(n))[:-1]]


def tcpd_datasets(folder: Path) -> dict[str, tuple[list[Case], dict[str, list[int]]]]:
    """The columns (as cases) and the annotations of each TCPD dataset, by name."""
    out: dict[str, tuple[list[Case], dict[str, list[int]]]] = {}
    for case, notes in tcpd_cases(folder):
        out.setdefault(case.name.split(":")[0], ([], notes))[0].append(case)
    return out


def score_tcpd_dataset(name: str, outcomes: list[Outcome], notes: dict[str, list[int]]) -> dict:
    """One dataset from the detector's outcome on each column: its change points (the union
    over columns), their F1 and the baselines'."""
    points: set[int] = set()
    for outcome in outcomes:
        points.update(change_points(outcome.detections, len(outcome.case.values)))
    matrix = np.column_stack([o.case.values for o in outcomes])
    return {
        "dataset": name, "n": len(matrix), "detector": tcpd_f1(notes, sorted(points), MARGIN),
        "no_change": tcpd_f1(notes, [], MARGIN), "binseg": tcpd_f1(notes, binseg_points(matrix), MARGIN),
        "detected_points": len(points), "points": sorted(points),
        "errors": [f"{o.case.name}: {o.error}" for o in outcomes if o.error],
    }


def _mean_f1(rows: list[dict]) -> dict:
    return {key: float(np.mean([r[key] for r in rows])) if rows else None for key in ("detector", "no_change", "binseg")}


def evaluate_tcpd(detector: Detector, folder: Path, halves: tuple[str, ...] = TCPD_HALVES) -> dict:
    """Mean F1 of the detector and the two baselines over the TCPD datasets of `halves`
    (see `tcpd_half`), per half and over all of them."""
    datasets = tcpd_datasets(folder)
    half_of = tcpd_half(list(datasets))
    rows = [{**score_tcpd_dataset(name, [run_case(detector, c) for c in cases], notes), "half": half_of[name]}
            for name, (cases, notes) in datasets.items() if half_of[name] in halves]
    by_half = {half: _mean_f1([r for r in rows if r["half"] == half]) for half in halves}
    return {"datasets": len(rows), "mean_f1": _mean_f1(rows), "by_half": by_half,
            "half_sizes": {half: sum(r["half"] == half for r in rows) for half in halves},
            "per_dataset": rows, "errors": [e for r in rows for e in r["errors"]]}


def _planted_days(calendar: np.ndarray, days: dict[str, str], direction: str) -> tuple[Planted, ...]:
    """One-day changes on the listed days (label per day) that fall inside `calendar`."""
    return tuple(Planted(int(np.flatnonzero(calendar == np.datetime64(day))[0]), None, direction, label)
                 for day, label in days.items() if calendar[0] <= np.datetime64(day) <= calendar[-1])


def taxi_case(path: Path) -> Case:
    """NAB nyc_taxi summed to days, truth = the documented holiday and storm drops."""
    calendar, totals = per_day(*read_columns(path, "timestamp", "value"), total=True)
    return Case("NAB nyc_taxi (daily sums)", totals, "count", calendar, planted=_planted_days(calendar, TAXI_DROPS, "down"))


def peyton_case(path: Path) -> Case:
    """Daily log page views (days without a row are unknown), truth = the playoff games."""
    calendar, values = per_day(*read_columns(path, "ds", "y"))
    games = {day: f"game {day}" for day in PLAYOFF_GAMES}
    return Case("prophet peyton_manning (log views)", values, "gauge", calendar, planted=_planted_days(calendar, games, "up"))


def evaluate(detector: Detector, folder: Path, tcpd_halves: tuple[str, ...] = TCPD_HALVES) -> dict:
    """Every external set found in `folder` (of TCPD the datasets of `tcpd_halves`); a
    missing one is noted, not an error."""
    result: dict = {"folder": str(folder), "missing": []}
    if (folder / "tcpd" / "annotations.json").is_file():
        result["tcpd"] = evaluate_tcpd(detector, folder / "tcpd", tcpd_halves)
    else:
        result["missing"].append("tcpd/annotations.json")
    for key, name, load in (("taxi", "nab/nyc_taxi.csv", taxi_case),
                            ("peyton", "prophet/example_wp_log_peyton_manning.csv", peyton_case)):
        if (folder / name).is_file():
            result[key] = documented_result(run_case(detector, load(folder / name)))
        else:
            result["missing"].append(name)
    return result


def print_report(result: dict, folder: Path) -> None:
    print(f"\nexternal public series ({folder}):")
    if "tcpd" in result and not result["tcpd"]["datasets"]:
        print(f"  TCPD: no dataset with annotations under {folder / 'tcpd' / 'datasets'}")
    elif "tcpd" in result:
        t = result["tcpd"]
        m = t["mean_f1"]
        halves = "" if len(t["by_half"]) > 1 else f" ({next(iter(t['by_half']))} half only)"
        print(f"  TCPD, {t['datasets']} datasets{halves}, mean F1 (margin {MARGIN}): detector {m['detector']:.3f}; "
              f"baselines: no change {m['no_change']:.3f}, Binseg l2 + BIC {m['binseg']:.3f}")
        if len(t["by_half"]) > 1:
            for half, h in t["by_half"].items():
                print(f"    {half} half ({t['half_sizes'][half]} datasets): detector {h['detector']:.3f}; "
                      f"no change {h['no_change']:.3f}, Binseg {h['binseg']:.3f}")
        for e in t["errors"][:3]:
            print(f"    error: {e}")
    for key in ("taxi", "peyton"):
        if key in result:
            print(documented_line(result[key]))
    for name in result["missing"]:
        print(f"  skipped: {folder / name} not found (see benchmarks/README.md for where it comes from)")
