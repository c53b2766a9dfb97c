"""One place per change, however many series flagged it (`why`'s `elsewhere`)."""
from __future__ import annotations

import datetime as dt

from ctxmetrics.models.anomaly import Anomaly
from ctxmetrics.explain.places import change_places
from ctxmetrics.models.segments import segment_key
from ctxmetrics.report.why import WhyAnswer, format_answer

CELL = {"region": "APAC", "channel": "partner"}


def flagged(segment, drivers=(), uniform=False) -> Anomaly:
    return Anomaly("leads", dict(segment), "spike", "down", dt.date(2026, 3, 1), dt.date(2026, 3, 3), 100.0, 60.0,
                   -40.0, 7.0, drivers=[{"segment": d, "share": 1.0} for d in drivers], uniform=uniform)


def test_a_cell_flagged_with_its_region_and_channel_is_one_place():
    found = change_places([flagged({"region": "APAC"}, [CELL]), flagged(CELL), flagged({"channel": "partner"}, [CELL])])
    assert found == [(CELL, 3)]


def test_an_unlocalized_rollup_yields_to_the_cell_it_holds():
    assert change_places([flagged({"channel": "partner"}), flagged(CELL)]) == [(CELL, 2)]


def test_cells_of_a_region_that_changed_alike_are_that_region():
    region = {"region": "APAC"}
    found = change_places([flagged(CELL), flagged(region, uniform=True), flagged({"region": "APAC", "channel": "web"})])
    assert found == [(region, 3)]


def test_separate_changes_stay_separate_in_the_order_given():
    other = {"region": "EMEA", "channel": "web"}
    found = change_places([flagged({"region": "EMEA"}, [other]), flagged(CELL), flagged(other)])
    assert found == [(other, 2), (CELL, 1)]
    assert change_places([flagged(CELL), flagged(other)], limit=1) == [(CELL, 1)]


def test_places_found_only_in_the_whole_cube_count_no_anomaly():
    other = {"region": "EMEA", "channel": "web"}
    cell = flagged(CELL)
    cell.cube_drivers = [{"segment": CELL, "share": 0.7}, {"segment": other, "share": 0.3}]
    assert change_places([cell]) == [(CELL, 1), (other, 0)]
    answer = WhyAnswer("leads", {}, None, None, "count", [], [(segment_key(p, CELL), n) for p, n in change_places([cell])])
    assert format_answer(answer).splitlines()[1] == (
        "Where leads changed then: APAC/partner (1 anomaly), EMEA/web (in the cube, not flagged on its own)."
    )


def cube(anomaly: Anomaly, *elements) -> Anomaly:
    anomaly.cube_drivers = [{"segment": e, "share": 1.0 / len(elements)} for e in elements]
    return anomaly


def test_what_contradicts_the_whole_cube_answer_of_the_window_is_dropped():
    region, noise_cell = {"region": "APAC"}, {"region": "EMEA", "channel": "partner"}
    partner = cube(flagged({"channel": "partner"}, [CELL, noise_cell]), region)
    emea = cube(flagged({"region": "EMEA"}, uniform=True), region)
    assert change_places([cube(flagged(region, uniform=True), region), partner, emea]) == [(region, 2)]


def test_a_cell_a_rollup_found_beside_cells_of_the_cube_answer_stays():
    other = {"region": "APAC", "channel": "web"}
    apac = cube(flagged({"region": "APAC"}, [CELL, other]), CELL)
    assert change_places([apac]) == [(CELL, 1), (other, 1)]
    assert change_places([cube(flagged(other), CELL)]) == [(CELL, 0)]
