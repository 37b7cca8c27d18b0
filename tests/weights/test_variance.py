"""Linearised variance: the stratified with-replacement formula, lonely-PSU arithmetic, covariance."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hiddenpop.weights.design import Design
from hiddenpop.weights.estimate import mean, total
from hiddenpop.weights.variance import linearization_variance, variance_from_psu_totals
from tests.weights.test_estimate import DESIGN, HH, HL

SMALL = pd.DataFrame({"w": 1.0, "h": ["A", "A", "A", "B", "B", "C"], "c": [1, 2, 3, 1, 2, 1]})


def _prep(policy):
    return Design(weight_col="w", stratum_col="h", psu_col="c", lonely_psu=policy).prepare(SMALL)


def test_stratified_formula_by_hand():
    # z = 1,2,6 in A (mean 3: squares 4,1,9 -> 14, ×3/2 = 21); 4,8 in B (mean 6: 4+4 = 8, ×2 = 16);
    # C is lonely: certainty/remove -> 0, average -> (21+16)·3/2, adjust -> (5 - 26/6)²: survey >= 4.3
    # centres the lonely PSU at the grand mean of the 6 PSU totals (Σz = 26), not at 0 as 4.1 did
    z = np.array([1.0, 2.0, 6.0, 4.0, 8.0, 5.0])
    assert float(linearization_variance(z, _prep("certainty"))) == pytest.approx(37.0)
    assert float(linearization_variance(z, _prep("remove"))) == pytest.approx(37.0)
    assert float(linearization_variance(z, _prep("adjust"))) == pytest.approx(37.0 + (5.0 - 26.0 / 6.0) ** 2)
    assert float(linearization_variance(z, _prep("average"))) == pytest.approx(37.0 * 3 / 2)


def test_covariance_matrix_diagonal_equals_separate_variances():
    p = DESIGN.prepare(HH)
    z = np.column_stack([HH.weight * HH.income, HH.weight * HH.n_children])
    cov = linearization_variance(z, p)
    assert cov.shape == (2, 2)
    assert cov[0, 0] == pytest.approx(float(linearization_variance(z[:, 0], p)), rel=1e-13)
    assert cov[0, 1] == pytest.approx(cov[1, 0], rel=1e-13)
    psu = p.psu_totals(z)
    np.testing.assert_allclose(variance_from_psu_totals(psu, p), cov, rtol=1e-13)


def test_total_variance_is_the_formula_on_psu_totals():
    # Independent route: pandas groupby implementation of Σ_h n_h/(n_h-1) Σ_i (t_hi - t̄_h)²
    t = (HH.weight * HH.income).groupby([HH.stratum, HH.psu]).sum()
    g = t.groupby(level=0)
    v = float(sum(len(x) / (len(x) - 1) * ((x - x.mean()) ** 2).sum() for _, x in g))
    assert total(HH, "income", DESIGN).se ** 2 == pytest.approx(v, rel=1e-12)


def test_each_row_its_own_psu_without_psu_col():
    # no strata, no PSUs: V(total) = n/(n-1) Σ (w y - mean(w y))² (independent computation)
    df = pd.DataFrame({"w": [1.0, 2.0, 3.0, 4.0], "y": [2.0, 5.0, 1.0, 3.0]})
    wy = df.w * df.y
    expected = 4 / 3 * ((wy - wy.mean()) ** 2).sum()
    assert total(df, "y", Design(weight_col="w")).se ** 2 == pytest.approx(expected)


def test_lonely_policies_give_different_answers_on_the_lonely_file():
    ses = {pol: mean(HL, "income", Design(weight_col="weight", stratum_col="stratum", psu_col="psu",
                                          lonely_psu=pol)).se for pol in ["adjust", "certainty", "remove", "average"]}
    assert ses["certainty"] == ses["remove"]
    assert ses["average"] == pytest.approx(ses["remove"] * np.sqrt(12 / 11), rel=1e-12)  # README c: × 12/11
    assert ses["adjust"] > ses["certainty"]
