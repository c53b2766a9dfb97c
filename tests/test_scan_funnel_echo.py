"""A known day off's days on the lower funnel stages: its own days and the days the stages
above's dip still lands on (`scan.funnel_echo`)."""
from __future__ import annotations

import datetime as dt

import numpy as np

import ctxmetrics.scan.scan as scan_module
from ctxmetrics.ingest.ingest import ingest_paths
from ctxmetrics.project import Project
from ctxmetrics.scan.funnel_echo import lag_reach
from ctxmetrics.synth import generate_funnel
from ctxmetrics.timeline.write import add_annotation

STAGES = ("leads", "mql", "sql", "opportunities", "won")
HOLIDAY = (dt.date(2025, 7, 3), dt.date(2025, 7, 4))


def test_lag_reach_ends_where_the_conversions_stop_landing():
    rng = np.random.default_rng(3)
    days = 400
    weekday = np.array([1.0, 1.1, 1.1, 1.0, 0.9, 0.4, 0.3])[np.arange(days) % 7]
    upper = rng.poisson(rng.gamma(10.0, 400.0 * weekday / 10.0))
    converted = rng.binomial(upper, 0.4)
    lower = np.zeros(days + 4, dtype=int)
    for lag, part in enumerate(rng.multinomial(converted, [0.3, 0.3, 0.2, 0.2]).T):
        lower[lag : lag + days] += part  # each day's conversions land over its next 0-3 days
    assert lag_reach(upper.astype(float), lower[:days].astype(float)) == 3
    unrelated = np.random.default_rng(4).poisson(160.0 * weekday)
    assert lag_reach(upper.astype(float), unrelated.astype(float)) is None


def masks_given(project: Project, monkeypatch) -> dict[str, np.ndarray]:
    """Each stage's known-day mask of its total, as the scan hands it to the detector."""
    given: dict[str, np.ndarray] = {}
    real = scan_module.known_masks

    def spy(series_set, *args, **kwargs):
        masks = real(series_set, *args, **kwargs)
        given.setdefault(series_set.metric, masks[series_set.row({})])
        return masks

    monkeypatch.setattr(scan_module, "known_masks", spy)
    scan_module.scan_project(project, metrics=STAGES)
    return given


def test_a_holiday_stays_known_on_lower_stages_while_its_dip_lands(project_dir, monkeypatch):
    # The synthetic funnel's stages trail each other by 0, 2, 3 and 5 days: a holiday's dip
    # of leads reaches sql 2 days later, opportunities 5 and won 10. On main only the two
    # holiday days were known on every stage, the dip after them read as a normal level.
    project = Project(project_dir)
    path = project.root / "data.csv"
    generate_funnel(7, days=240).frame.write_csv(path)
    with project.store() as store:
        ingest_paths(store, [path], known_dimensions=project.config.dimensions)
    add_annotation(project.annotations_dir, title="Independence Day", type="holiday", start=HOLIDAY[0], end=HOLIDAY[1])
    first = dt.date(2025, 1, 1)
    given = masks_given(project, monkeypatch)
    for stage, echo in zip(STAGES, (0, 0, 2, 5, 10)):
        known = [first + dt.timedelta(days=int(d)) for d in np.flatnonzero(given[stage])]
        assert known == [HOLIDAY[0] + dt.timedelta(days=d) for d in range(2 + echo)], stage


def test_an_event_whose_days_stay_in_the_baseline_gets_no_echo(project_dir, monkeypatch):
    project = Project(project_dir)
    path = project.root / "data.csv"
    generate_funnel(7, days=240).frame.write_csv(path)
    with project.store() as store:
        ingest_paths(store, [path], known_dimensions=project.config.dimensions)
    add_annotation(project.annotations_dir, title="Summer promo", type="campaign", start=HOLIDAY[0], end=HOLIDAY[1])
    assert not any(mask.any() for mask in masks_given(project, monkeypatch).values())
