"""Population size of the unregistered: hand calculations and two-route agreement."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hiddenpop.errors import DesignError
from hiddenpop.weights.pipeline import compute_weights
from hiddenpop.weights.popsize import population_size
from tests.weights.test_pipeline import _city


def test_direct_linearized_se_by_hand():
    # PSU totals of w·I(U): a = 10 + 10 = 20, b = 40; one stratum, n = 2:
    # v = 2/(2−1)·[(20−30)² + (40−30)²] = 400, SE = 20; normal 95% CI 60 ± 1.959964·20.
    t = pd.DataFrame({"final_weight": [10.0, 10.0, 40.0, 5.0], "registered": [0, 0, 0, 1],
                      "psu": ["a", "a", "b", "b"], "stratum": "S"})
    out = population_size(t, interval="normal").iloc[0]
    assert out.estimate == 60.0
    assert out.se == pytest.approx(20.0)
    assert out.ci_low == pytest.approx(60 - 1.959963984540054 * 20)


def test_empty_points_enter_the_variance():
    # Adding an empty PSU c (total 0): totals 20, 40, 0, mean 20: v = 3/2·(0 + 400 + 400) = 1200.
    t = pd.DataFrame({"final_weight": [10.0, 10.0, 40.0], "registered": [0, 0, 0], "psu": ["a", "a", "b"],
                      "stratum": "S"})
    out = population_size(t, extra_points=pd.DataFrame({"psu": ["c"], "stratum": ["S"]})).iloc[0]
    assert out.se == pytest.approx(np.sqrt(1200.0))


def test_ratio_linearization_agrees_with_bootstrap():
    # Two independent routes on one sample: linearised SE of N_R·X̂_U/X̂_R vs. the bootstrap
    # (B = 1000, whole weighting redone); they must agree within 20% (bootstrap MC error of an
    # SE ≈ 1/sqrt(2B) ≈ 2%, plus the finite-n gap between the two methods).
    hh, points = _city(np.random.default_rng(31), n_points=80)
    res = compute_weights(hh, points=points, replicates="bootstrap", reps=1000, rng=3)
    t = res.to_frame()
    boot = population_size(t, registry_total=5000.0)
    lin = population_size(t.drop(columns=[c for c in t.columns if c.startswith("rep_")]), registry_total=5000.0,
                          extra_points=points.rename(columns={"point_id": "psu"})[
                              ~points.point_id.isin(t.psu)])
    assert boot.estimate.tolist() == pytest.approx(lin.estimate.tolist())
    for b, l in zip(boot.se, lin.se):
        assert b == pytest.approx(l, rel=0.2)


def test_bad_weight_named():
    t = pd.DataFrame({"final_weight": [1.0, np.nan], "registered": [0, 1], "psu": ["a", "b"]})
    with pytest.raises(DesignError, match=r"weights, row 3, column 'final_weight'"):
        population_size(t)
