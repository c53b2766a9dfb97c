"""Root-cause localization: each claim of ctxmetrics/rootcause.py as an assertion."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from ctxmetrics.explain.rootcause import WeekdayBaseline, localize, window_expectation

REGIONS = ("NA", "EMEA", "APAC", "LATAM", "ANZ", "MEA")
CHANNELS = ("paid", "organic", "partner", "events", "email")
LEAVES = [{"region": r, "channel": c} for r in REGIONS for c in CHANNELS]


def cube(factors: dict, seed: int = 3, relative_noise: float = 0.0):
    """Expected values of every region x channel leaf and an actual drawn with count noise,
    each leaf scaled by the factor of the first matching element of `factors`."""
    rng = np.random.default_rng(seed)
    expected = rng.uniform(200, 2000, len(LEAVES))
    scale = np.ones(len(LEAVES))
    for element, factor in factors.items():
        inside = np.array([all(leaf[k] == v for k, v in element) for leaf in LEAVES])
        scale[inside & (scale == 1.0)] = factor
    mean = expected * scale * (1 + relative_noise * rng.standard_normal(len(LEAVES)))
    noise = np.sqrt(expected + (relative_noise * expected) ** 2)
    return expected, rng.poisson(mean).astype(float), noise


def segments(result):
    return [segment for segment, _ in result.elements]


def test_one_changed_cell_is_that_cell_not_its_region_or_channel():
    expected, actual, noise = cube({(("region", "APAC"), ("channel", "partner")): 0.4})
    found = localize(LEAVES, expected, actual, noise)
    assert segments(found) == [{"region": "APAC", "channel": "partner"}]
    assert not found.uniform


def test_a_whole_region_is_the_region_not_its_cells():
    expected, actual, noise = cube({(("region", "EMEA"),): 1.5})
    assert segments(localize(LEAVES, expected, actual, noise)) == [{"region": "EMEA"}]


def test_elements_of_different_dimensions_are_found_together():
    expected, actual, noise = cube({(("region", "NA"),): 0.5, (("channel", "email"),): 0.5})
    assert sorted(map(str, segments(localize(LEAVES, expected, actual, noise)))) == sorted(
        map(str, [{"region": "NA"}, {"channel": "email"}])
    )


def test_three_changed_cells_of_one_channel_are_three_cells_not_the_channel():
    cells = {(("region", r), ("channel", "organic")): 0.3 for r in ("NA", "EMEA", "APAC")}
    expected, actual, noise = cube(cells)
    found = segments(localize(LEAVES, expected, actual, noise))
    assert sorted(map(str, found)) == sorted(map(str, [dict(c) for c in cells]))


def test_a_change_everywhere_alike_is_uniform_with_no_elements():
    expected, actual, noise = cube({(("region", r),): 0.6 for r in REGIONS}, relative_noise=0.02)
    found = localize(LEAVES, expected, actual, noise)
    assert found.uniform and found.elements == []


def test_noise_alone_has_no_root_cause():
    for seed in range(20):
        expected, actual, noise = cube({}, seed=seed, relative_noise=0.05)
        found = localize(LEAVES, expected, actual, noise)
        assert found.elements == [] and not found.uniform, seed


def test_cells_that_moved_by_one_factor_together_are_found_though_each_is_below_the_bound_of_one():
    expected = np.full(len(LEAVES), 1000.0)
    z = np.tile([0.5, -0.5, 0.3, -0.3, 0.0], len(REGIONS))  # quiet cells, in σ
    moved = [LEAVES.index({"region": "APAC", "channel": "partner"}), LEAVES.index({"region": "NA", "channel": "email"})]
    z[moved] = -3.0  # each below the Bonferroni bound over 41 elements (3.2σ); together beyond the bound over 460 pairs
    actual = expected + z * np.sqrt(expected)
    alone = expected + np.where(np.arange(len(LEAVES)) == moved[1], 0.0, z) * np.sqrt(expected)
    assert localize(LEAVES, expected, alone).elements == []
    found = segments(localize(LEAVES, expected, actual))
    assert sorted(map(str, found)) == sorted(map(str, [LEAVES[i] for i in moved]))


def test_shares_are_of_the_deviation_best_first_and_never_add_past_one():
    expected, actual, noise = cube({(("region", "NA"),): 0.4, (("region", "ANZ"), ("channel", "paid")): 0.2})
    found = localize(LEAVES, expected, actual, noise)
    shares = [share for _, share in found.elements]
    assert shares == sorted(shares, reverse=True)
    assert 0 < sum(shares) <= 1.0
    na = dict((str(s), v) for s, v in found.elements)[str({"region": "NA"})]
    inside = np.array([leaf["region"] == "NA" for leaf in LEAVES])
    assert na == pytest.approx((actual - expected)[inside].sum() / (actual - expected).sum(), abs=0.01)


def test_a_small_noisy_cell_is_not_blamed_for_noise_the_size_of_its_own_spread():
    expected, actual, noise = cube({})
    noisy = LEAVES.index({"region": "MEA", "channel": "email"})
    noise[noisy] *= 50  # this leaf is known to swing a lot
    actual[noisy] += 3 * noise[noisy] / 2
    assert localize(LEAVES, expected, actual, noise).elements == []


def test_parts_that_moved_against_the_change_are_not_drivers():
    expected, actual, noise = cube({(("region", "NA"),): 0.3, (("region", "LATAM"), ("channel", "email")): 1.3})
    found = localize(LEAVES, expected, actual, noise)
    assert segments(found) == [{"region": "NA"}]


def test_single_leaf_or_no_change_gives_nothing():
    assert localize(LEAVES[:1], np.array([10.0]), np.array([2.0])).elements == []
    expected = np.full(len(LEAVES), 100.0)
    assert localize(LEAVES, expected, expected.copy()) == localize(LEAVES, expected, expected)
    assert localize(LEAVES, expected, expected.copy()).elements == []


def test_window_expectation_uses_the_weekday_median_of_the_weeks_before():
    days = 35
    weekly = np.array([10, 20, 30, 40, 50, 5, 5], dtype=float)
    values = np.tile(weekly, days // 7)[None, :].repeat(2, axis=0)
    values[0, 3] = 1000  # one past spike does not move a median
    values[1, 28:] *= 2  # the window doubles
    expected, actual, noise = window_expectation(values, 28, 34, weeks=4)
    assert expected.tolist() == [weekly.sum(), weekly.sum()]
    assert actual.tolist() == [weekly.sum(), 2 * weekly.sum()]
    assert (noise >= np.sqrt(weekly.mean())).all()  # at least Poisson-like for counts


def test_window_expectation_needs_a_week_of_history():
    with pytest.raises(ValueError, match="one week of history"):
        window_expectation(np.ones((1, 10)), 3, 5)


@pytest.mark.parametrize("weeks, days", [(4, 28), (8, 60), (4, 25)])
def test_weekday_baseline_is_the_nan_skipping_median_of_each_weekday_and_of_the_relative_spread(weeks, days):
    rng = np.random.default_rng(weeks + days)
    values = rng.poisson(rng.uniform(0.2, 30, (400, 1)), (400, days)).astype(float)
    values[rng.random(values.shape) < 0.2] = np.nan  # unknown days, some rows wholly unknown on a weekday
    values[:5] = np.nan
    base = WeekdayBaseline.before(values, days, weeks)
    history = values[:, max(days - 7 * weeks, 0) :]  # the weeks before day `days`, as many as there are
    weekday = (np.arange(days - history.shape[1], days) - days) % 7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no median
        for d in range(7):
            assert np.array_equal(base.medians[:, d], np.nanmedian(history[:, weekday == d], axis=1), equal_nan=True)
        typical = base.medians[:, weekday]
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(typical > 0, np.abs(history - typical) / typical, np.nan)
        assert np.array_equal(base.spread, 1.4826 * np.nanmedian(relative, axis=1), equal_nan=True)


def test_a_changed_cell_is_a_driver_even_when_noise_turns_the_sum_of_all_leaves():
    expected = np.full(len(LEAVES), 1000.0)
    actual = expected - 12.0  # every leaf a little low, well within its noise (~32)
    cell = LEAVES.index({"region": "APAC", "channel": "partner"})
    actual[cell] = 1300.0
    assert actual.sum() < expected.sum()
    found = localize(LEAVES, expected, actual)
    assert found.elements == [({"region": "APAC", "channel": "partner"}, 1.0)]
    # an anomaly that went down is not carried by a cell that went up
    assert localize(LEAVES, expected, actual, direction=-1).elements == []


def test_a_second_cell_changed_by_the_first_ones_factor_is_found_below_the_free_bound():
    # Exact values: APAC/partner +50% (8.7σ); EMEA/email +50% too but only 3σ, below what a
    # free factor needs among 41 candidates (3.2σ); NA/paid 3σ up as well, but by 10%,
    # far from the shared factor: noise, not part of the change.
    expected = np.full(len(LEAVES), 300.0)
    small, noisy = LEAVES.index({"region": "EMEA", "channel": "email"}), LEAVES.index({"region": "NA", "channel": "paid"})
    expected[small], expected[noisy] = 36.0, 900.0
    actual = expected.copy()
    actual[LEAVES.index({"region": "APAC", "channel": "partner"})] *= 1.5
    actual[small] *= 1.5
    actual[noisy] *= 1.1
    found = localize(LEAVES, expected, actual, np.sqrt(expected))
    assert segments(found) == [{"region": "APAC", "channel": "partner"}, {"region": "EMEA", "channel": "email"}]


def test_a_region_whose_other_cells_did_not_move_is_its_one_changed_cell():
    # APAC/partner 3.1σ up (a cell alone needs 3.2σ among 41 candidates); APAC's four small
    # other cells 0.95σ up each, noise that lifts the region past the bound (3.6σ) though,
    # without the cell, it did not move (1.9σ, inside a single test's 1.96σ).
    expected = np.full(len(LEAVES), 300.0)
    rest = [i for i, leaf in enumerate(LEAVES) if leaf["region"] == "APAC" and leaf["channel"] != "partner"]
    expected[rest] = 28.2
    actual = expected.copy()
    actual[LEAVES.index({"region": "APAC", "channel": "partner"})] += 3.1 * np.sqrt(300.0)
    actual[rest] += 0.95 * np.sqrt(28.2)
    found = localize(LEAVES, expected, actual, np.sqrt(expected))
    assert segments(found) == [{"region": "APAC", "channel": "partner"}]


def test_without_a_direction_the_way_is_that_of_the_element_most_standard_deviations_off():
    # the email channel's big cells rose 3.5σ together (more counts than anything else);
    # one small cell fell 6σ: with no direction given, the change is the cell's way
    expected = np.array([40000.0 if leaf["channel"] == "email" else 1000.0 for leaf in LEAVES])
    z = np.array([3.5 / np.sqrt(len(REGIONS)) if leaf["channel"] == "email" else 0.0 for leaf in LEAVES])
    cell = LEAVES.index({"region": "APAC", "channel": "partner"})
    z[cell] = -6.0
    actual = expected + z * np.sqrt(expected)
    assert segments(localize(LEAVES, expected, actual)) == [LEAVES[cell]]
    assert segments(localize(LEAVES, expected, actual, direction=1)) == [{"channel": "email"}]


def test_a_set_is_fitted_once_and_its_first_element_takes_the_leaves_it_shares():
    """`_Fits`: each element scales the leaves no earlier one took by its own least-squares
    factor; a set asked for again is the same answer, not a refit."""
    from ctxmetrics.explain.rootcause import _Fits, candidate_groups, encode_leaves

    expected, actual, noise = cube({(("region", "EMEA"),): 1.5, (("region", "NA"), ("channel", "paid")): 2.0})
    codes, names = encode_leaves(LEAVES, ["region", "channel"])
    groups = candidate_groups(codes, 2)
    weight = 1.0 / noise**2
    fit = _Fits(groups, weight, expected, actual)
    region = next(g for g, (combo, _) in enumerate(groups) if combo == (0,))
    cell = next(g for g, (combo, _) in enumerate(groups) if combo == (0, 1))
    na = int(groups[region][1][0])  # the first leaf is NA/paid
    na_paid = int(groups[cell][1][0])
    error, owner = fit([(region, na), (cell, na_paid)])
    in_na = np.array([leaf["region"] == "NA" for leaf in LEAVES])
    assert (owner == np.where(in_na, 0, -1)).all()  # NA took its paid cell: nothing left for the cell
    k = (weight * actual * expected)[in_na].sum() / (weight * expected**2)[in_na].sum()
    predicted = np.where(in_na, k * expected, expected)
    assert error == pytest.approx(float((weight * (actual - predicted) ** 2).sum()), rel=1e-12)
    assert fit([(region, na), (cell, na_paid)])[1] is owner
    _, owner = fit([(cell, na_paid), (region, na)])  # the cell first: NA keeps the rest
    assert owner[0] == 0 and (owner[1:] == np.where(in_na, 1, -1)[1:]).all()


def test_a_second_cell_by_the_first_ones_factor_joins_when_clearly_likely():
    # APAC/partner 6σ up by 30%; EMEA/email, a small cell, up by the same 30%: 2.7σ, below the
    # bound a cell needs to join the search's choice (2.72σ: 2·ln 41), but in a set of one
    # factor far more likely in than out; at 2.4σ it is not clearly likely (below `_ADD`).
    first = LEAVES.index({"region": "APAC", "channel": "partner"})
    second = LEAVES.index({"region": "EMEA", "channel": "email"})
    for z, found in ((2.7, [{"region": "APAC", "channel": "partner"}, {"region": "EMEA", "channel": "email"}]),
                     (2.4, [{"region": "APAC", "channel": "partner"}])):
        expected = np.full(len(LEAVES), 400.0)
        expected[second] = (z / 0.3) ** 2  # a 30% rise is z σ of this cell
        actual = expected.copy()
        actual[[first, second]] *= 1.3
        assert segments(localize(LEAVES, expected, actual, np.sqrt(expected))) == found


def test_a_row_carried_by_two_of_its_cells_is_those_two_cells():
    # APAC's partner and email cells 3.4σ down, its other three 0.5σ down each: the row clears
    # the bound, and `_narrow` keeps it (two cells, not one, moved), but two cells by one
    # factor are likelier than the row's five.
    cells = [LEAVES.index({"region": "APAC", "channel": c}) for c in ("partner", "email")]
    rest = [i for i, leaf in enumerate(LEAVES) if leaf["region"] == "APAC" and i not in cells]
    expected = np.full(len(LEAVES), 400.0)
    actual = expected.copy()
    actual[cells] -= 3.4 * 20
    actual[rest] -= 0.5 * 20
    found = segments(localize(LEAVES, expected, actual, np.sqrt(expected)))
    assert sorted(map(str, found)) == sorted(map(str, [LEAVES[i] for i in cells]))


def test_a_change_everywhere_alike_beside_a_leaf_new_from_zero_is_uniform_not_a_dimension_split():
    """A payments cube (qae's Stripe export): every status and product rose by one factor,
    and a refund cell that held nothing in the baseline now holds some. No factor can fit
    a cell expected at 0, so its error dwarfs every element's gain and the greedy search
    takes nothing; the fallback's set of elements moving by one factor then took both
    values of `captured` (the whole cube) and read `true 91%; false 9%` off their volumes.
    All values of a dimension moving by one factor is the cube moving alike."""
    statuses = {"Paid": "true", "Refunded": "true", "Failed": "false"}
    leaves = [{"captured": statuses[s], "product": p, "status": s} for s in statuses for p in ("29", "99", "299")]
    rng = np.random.default_rng(11)
    expected = np.array([{"Paid": 20000.0, "Refunded": 400.0, "Failed": 1100.0}[leaf["status"]] for leaf in leaves])
    new_from_zero = [leaf == {"captured": "true", "product": "299", "status": "Refunded"} for leaf in leaves]
    expected[new_from_zero] = 0.0
    actual = rng.poisson(expected * 1.45).astype(float)
    actual[new_from_zero] = 3588.0
    noise = np.sqrt(np.maximum(expected, 1.0)) * 6  # amounts: a charge's size times its count's noise
    found = localize(leaves, expected, actual, noise, direction=1)
    assert found.uniform and found.elements == [], found
