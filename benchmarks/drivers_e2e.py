"""Root causes end to end, as a user finds them: generated 6 x 5 cubes (tests/
test_rootcause_e2e.py: 90 daily values per cell, 1-3 whole regions/channels or single
cells change by 40-70% over the last 3 days) through `init`, `ingest`, `scan` and
`why --json` on the total; F1 of the places read (the total's drivers, else `elsewhere`)
against the truth, overall and on single cells.

The unit test runs seeds 0-5; report on seeds after them. `--severity 0.2 0.4` and
`--level 20` make it harder (smaller changes, fewer counts per cell); `--null` runs the
same cubes without any change and counts the cubes where anything was reported in the
window (false alarms). For every missed single cell the run says why: its own series was
dropped by the pre-screen although the detector alone reports its window, shows nothing the
detector reports (screened out or not), scored below the detector's bar after the screen,
or was flagged but not linked to what `why` on the total reads.

The published baselines run on the same cubes as their users would run them, on every
cube (they do not decide whether anything changed): each cell's sum over the last 3 days
against a forecast of it, the mean of the same weekday over the 8 weeks before, summed
over the 3 days. RiskLoc (`riskloc.py`, the paper's defaults) and Adtributor
(`drivers.py`) read those numbers; their F1 is printed beside ours.

    PYTHONPATH=$PWD python3 benchmarks/drivers_e2e.py --seeds 3000 3060
    PYTHONPATH=$PWD python3 benchmarks/drivers_e2e.py --seeds 3000 3060 --severity 0.2 0.4 --level 20
    PYTHONPATH=$PWD python3 benchmarks/drivers_e2e.py --seeds 3000 3060 --null
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from ctxmetrics.cli import cli  # noqa: E402
from ctxmetrics.detect import find_changes  # noqa: E402
from ctxmetrics.explain.rootcause import window_expectation  # noqa: E402
from ctxmetrics.models import periods  # noqa: E402
from ctxmetrics.project import Project  # noqa: E402
from ctxmetrics.scan.scan import screen  # noqa: E402
from ctxmetrics.store.results import load_anomalies  # noqa: E402
from benchmarks.drivers import adtributor  # noqa: E402
from benchmarks.riskloc import riskloc  # noqa: E402
from test_rootcause_e2e import DAYS, START, make_case, reported_places  # noqa: E402  (the test's generator and reader)

WINDOW_START = START + dt.timedelta(days=DAYS - 3)
FORECAST_WEEKS = 8  # the baselines' forecast: the same weekday over these weeks before
BASELINES = {"RiskLoc": riskloc, "Adtributor": adtributor}


def cell_series(data: str) -> dict[tuple[str, str], np.ndarray]:
    """Each cell's daily values, from the generated CSV."""
    series: dict[tuple[str, str], list[float]] = {}
    for line in data.splitlines()[1:]:
        _, _, value, region, channel = line.split(",")
        series.setdefault((region, channel), []).append(float(value))
    return {cell: np.array(values) for cell, values in series.items()}


def window_forecast(data: str) -> tuple[list[dict[str, str]], np.ndarray, np.ndarray]:
    """Every cell, its forecast of the last 3 days (the mean of the same weekday over the
    weeks before, summed) and its actual sum over them: what a baseline reads."""
    series = cell_series(data)
    values = np.array(list(series.values()))
    days = np.arange(DAYS - 3, DAYS)
    same_weekdays = days[None, :] - 7 * np.arange(1, FORECAST_WEEKS + 1)[:, None]
    forecast = values[:, same_weekdays].mean(axis=1).sum(axis=1)
    leaves = [{"region": region, "channel": channel} for region, channel in series]
    return leaves, forecast, values[:, days].sum(axis=1)


def why_missed(project: Path, data: str, cell: dict[str, str]) -> str:
    """Why a true cell was not reported: what the detector made of the cell's own series."""
    flagged = any(
        a.segment == cell and (a.end is None or a.end >= WINDOW_START) for a in load_anomalies_of(project)
    )
    if flagged:
        return "flagged, not linked"
    settings = Project(project).config.detection_for("leads")
    values = cell_series(data)[(cell["region"], cell["channel"])]
    if screen(values[None, :], None, settings, "count", START)[0]:
        return "scored below the bar"
    # the screen dropped it: a miss of the screen only if the detector reports the window
    changes = find_changes(values, kind="count", dates=periods.dates(START, len(values), "daily"), settings=settings)
    in_window = any(c.end is None or c.end >= DAYS - 3 for c in changes)
    return "pre-screen drop the detector reports" if in_window else "nothing the detector reports"


def own_z(data: str, cell: dict[str, str]) -> float:
    """How many σ the cell's last 3 days are off their expected sum (as drivers measure it)."""
    values = cell_series(data)[(cell["region"], cell["channel"])][None, :]
    expected, actual, noise = window_expectation(values, DAYS - 3, DAYS - 1, 8)
    return float(abs(actual[0] - expected[0]) / noise[0])


def load_anomalies_of(project: Path):
    with Project(project).store(read_only=True) as store:
        return load_anomalies(store)


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / max(1, 2 * tp + fp + fn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs=2, default=(1000, 1060), metavar=("FIRST", "END"))
    parser.add_argument("--severity", type=float, nargs=2, default=(0.4, 0.7), metavar=("LOW", "HIGH"))
    parser.add_argument("--level", type=float, default=80.0, help="median daily count of a cell")
    parser.add_argument("--null", action="store_true", help="no change: count the cubes with anything reported")
    args = parser.parse_args()
    methods = ("ours", *BASELINES)
    counts = {(m, g): [0, 0, 0] for m in methods for g in ("overall", "single cells", "whole values")}
    unflagged, alarms, reasons, weak = 0, Counter(), Counter(), 0
    against_ours = {name: Counter() for name in BASELINES}  # cubes where a baseline's F1 is above / below ours
    runner = CliRunner()
    for seed in range(*args.seeds):
        data, truth = make_case(seed, tuple(args.severity), args.level, args.null)
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp) / "p"
            runner.invoke(cli, ["init", str(project)])

            def run(*a, project=project):
                return runner.invoke(cli, ["--project", str(project), *map(str, a)])

            (project / "cube.csv").write_text(data)
            for step in (("ingest", project / "cube.csv"), ("scan",)):
                result = run(*step)
                if result.exit_code:
                    sys.exit(f"seed {seed}: {' '.join(map(str, step))} failed: {result.output}")
            found = {tuple(sorted(p.items())) for p in reported_places(run)}
            answer = json.loads(run("why", "leads", "--since", str(WINDOW_START), "--json").stdout)
            true = {tuple(sorted(t.items())) for t in truth}
            for missed in true - found:
                if len(missed) == 2:
                    reasons[why_missed(project, data, dict(missed))] += 1
                    weak += own_z(data, dict(missed)) < 3
        unflagged += not answer["anomalies"] and not answer["elsewhere"]
        leaves, forecast, actual = window_forecast(data)
        places = {"ours": found} | {
            name: {tuple(sorted(p.items())) for p in method(leaves, forecast, actual)}
            for name, method in BASELINES.items()
        }
        for method, got in places.items():
            alarms[method] += bool(got)
            if args.null:
                continue
            hits = (len(got & true), len(got - true), len(true - got))
            for group in ("overall", "single cells" if len(truth[0]) == 2 else "whole values"):
                counts[method, group] = [c + h for c, h in zip(counts[method, group], hits)]
            if method != "ours":
                ours_f1 = f1(len(found & true), len(found - true), len(true - found))
                against_ours[method]["above"] += f1(*hits) > ours_f1
                against_ours[method]["below"] += f1(*hits) < ours_f1
    cubes = args.seeds[1] - args.seeds[0]
    print(f"seeds {args.seeds[0]}..{args.seeds[1] - 1}, severity {args.severity[0]}-{args.severity[1]}, "
          f"median level {args.level:g}{', null cubes' if args.null else ''}")
    if args.null:
        print(f"cubes with a place reported in the window (false alarms): {alarms['ours']} of {cubes}"
              + "".join(f"; {name} {alarms[name]}" for name in BASELINES))
        return
    for (method, group), (tp, fp, fn) in counts.items():
        label = group if method == "ours" else f"{method}, {group}"
        print(f"{label:25} F1 {f1(tp, fp, fn):.3f}  (found {tp}, wrong {fp}, missed {fn})")
    for name, tally in against_ours.items():
        print(f"{name}, cube by cube: F1 above ours in {tally['above']}, below in {tally['below']} of {cubes} cubes")
    print(f"cubes with nothing reported in the window: {unflagged} of {cubes}")
    print("missed single cells, by what their own series got: "
          + (", ".join(f"{reason} {n}" for reason, n in reasons.most_common()) or "none")
          + f"; {weak} of them moved less than 3σ of their own noise over the 3 days")


if __name__ == "__main__":
    main()
