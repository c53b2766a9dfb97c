"""End to end, as a user finds where a change sits: generated 6 x 5 cubes with a known root
cause (whole dimension values or single cells) in the last 3 of 90 days, through `ingest`,
`scan` and `why --json`; F1 of the places reported against the truth."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np

REGIONS = [f"r{i}" for i in range(6)]
CHANNELS = [f"c{j}" for j in range(5)]
START = dt.date(2026, 1, 1)
DAYS = 90
CASES = 6
MIN_F1 = 0.75  # RiskLoc scores 0.72 on cases of this kind


def make_case(seed: int, severity: tuple[float, float] = (0.4, 0.7), median_level: float = 80.0, null: bool = False):
    """Daily counts of every region x channel cell (median level `median_level`); 1-3 truth
    elements change by `severity` (a fraction, drawn uniformly) over the last 3 days (all
    whole regions/channels, or all single cells). `null`: the same cube with no change
    (the draws are the same, so a null cube is its changed twin without the change)."""
    rng = np.random.default_rng(seed)
    level = rng.lognormal(np.log(median_level), 0.8, (len(REGIONS), len(CHANNELS)))
    weekly = 1 + 0.2 * np.sin(2 * np.pi * np.arange(DAYS) / 7)
    cells = rng.random() < 0.5
    count = int(rng.integers(1, 4))
    truth: list[dict[str, str]] = []
    factor = np.ones_like(level)
    severity = float(rng.uniform(*severity)) * (1 if rng.random() < 0.5 else -1)
    while len(truth) < count:
        if cells:
            r, c = int(rng.integers(len(REGIONS))), int(rng.integers(len(CHANNELS)))
            element = {"region": REGIONS[r], "channel": CHANNELS[c]}
        else:
            dim = "region" if rng.random() < 0.5 else "channel"
            element = {dim: str(rng.choice(REGIONS if dim == "region" else CHANNELS))}
        if element in truth or any(set(e) != set(element) for e in truth):
            continue
        truth.append(element)
        for r, region in enumerate(REGIONS):
            for c, channel in enumerate(CHANNELS):
                if all({"region": region, "channel": channel}[k] == v for k, v in element.items()):
                    factor[r, c] = 1 + severity
    if null:
        factor, truth = np.ones_like(level), []
    values = rng.poisson(level[:, :, None] * weekly[None, None, :]).astype(float)
    values[:, :, -3:] = rng.poisson(level[:, :, None] * factor[:, :, None] * weekly[None, None, -3:])
    rows = ["date,metric,value,region,channel"]
    for r, region in enumerate(REGIONS):
        for c, channel in enumerate(CHANNELS):
            rows += [f"{START + dt.timedelta(days=d)},leads,{int(values[r, c, d])},{region},{channel}" for d in range(DAYS)]
    return "\n".join(rows) + "\n", truth


def reported_places(run) -> list[dict[str, str]]:
    """What a user reads from `why` on the total: its root-cause set, or, when the total
    was not flagged, the places where the window's changes sit (`elsewhere`)."""
    since = (START + dt.timedelta(days=DAYS - 3)).isoformat()
    answer = json.loads(run("why", "leads", "--since", since, "--json").stdout)
    if answer["anomalies"]:
        return [d["segment"] for a in answer["anomalies"] for d in a["drivers"]]
    return [place["segment"] for place in answer["elsewhere"]]


def test_reported_places_find_the_known_root_causes(run, project_dir):
    tp = fp = fn = 0
    for seed in range(CASES):
        data, truth = make_case(seed)
        path = project_dir / f"case{seed}.csv"
        path.write_text(data)
        (project_dir / "ctxmetrics.duckdb").unlink(missing_ok=True)
        for args in (("ingest", path), ("scan",)):
            result = run(*args)
            assert result.exit_code == 0, result.output
        found = {tuple(sorted(p.items())) for p in reported_places(run)}
        true = {tuple(sorted(t.items())) for t in truth}
        tp, fp, fn = tp + len(found & true), fp + len(found - true), fn + len(true - found)
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert f1 >= MIN_F1, (tp, fp, fn)
