"""Root causes end to end, as a user finds them: generated 6 x 5 cubes (tests/
test_rootcause_e2e.py: 90 daily values per cell, 1-3 whole regions/channels or single
cells change by 40-70% over the last 3 days) through `init`, `ingest`, `scan` and
`why --json` on the total; F1 of the places read (the total's drivers, else `elsewhere`)
against the truth, overall and on single cells.

The unit test runs seeds 0-5; report on seeds after them. Cubes where the scan flagged
no series at all have nothing to localize; for them the run also localizes the whole cube
over the last 3 days directly (what a trigger other than the detector's would give).

    PYTHONPATH=$PWD python3 benchmarks/drivers_e2e.py --seeds 3000 3060
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from ctxmetrics.cli import cli  # noqa: E402
from ctxmetrics.explain.rootcause import localize, window_expectation  # noqa: E402
from test_rootcause_e2e import DAYS, START, make_case, reported_places  # noqa: E402  (the test's generator and reader)

_WEEKS = 8  # of history per leaf, as `explain` takes it


def last_days_root_cause(data: str) -> list[dict[str, str]]:
    """The root-cause set of the whole cube over its last 3 days, from the CSV's leaves."""
    series: dict[tuple[str, str], list[float]] = {}
    for line in data.splitlines()[1:]:
        _, _, value, region, channel = line.split(",")
        series.setdefault((region, channel), []).append(float(value))
    leaves = [{"region": r, "channel": c} for r, c in series]
    expected, actual, noise = window_expectation(np.array(list(series.values())), DAYS - 3, DAYS - 1, _WEEKS)
    return [segment for segment, _ in localize(leaves, expected, actual, noise).elements]


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / max(1, 2 * tp + fp + fn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs=2, default=(1000, 1060), metavar=("FIRST", "END"))
    args = parser.parse_args()
    counts = {"overall": [0, 0, 0], "single cells": [0, 0, 0], "whole values": [0, 0, 0]}
    unflagged, direct = 0, [0, 0, 0]
    runner = CliRunner()
    for seed in range(*args.seeds):
        data, truth = make_case(seed)
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
            answer = json.loads(run("why", "leads", "--since", str(START + dt.timedelta(days=DAYS - 3)), "--json").stdout)
        true = {tuple(sorted(t.items())) for t in truth}
        if not answer["anomalies"] and not answer["elsewhere"]:
            unflagged += 1
            localized = {tuple(sorted(p.items())) for p in last_days_root_cause(data)}
            direct = [d + h for d, h in zip(direct, (len(localized & true), len(localized - true), len(true - localized)))]
        hits = (len(found & true), len(found - true), len(true - found))
        for group in ("overall", "single cells" if len(truth[0]) == 2 else "whole values"):
            counts[group] = [c + h for c, h in zip(counts[group], hits)]
    print(f"seeds {args.seeds[0]}..{args.seeds[1] - 1}")
    for group, (tp, fp, fn) in counts.items():
        print(f"{group:13} F1 {f1(tp, fp, fn):.3f}  (found {tp}, wrong {fp}, missed {fn})")
    print(f"cubes where no series was flagged in the window: {unflagged}; their last 3 days localized directly: "
          f"found {direct[0]}, wrong {direct[1]}, missed {direct[2]}")


if __name__ == "__main__":
    main()
