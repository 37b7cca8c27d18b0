"""Trimming against R trimWeights (reference.csv cases trim, trim_strict; trimmed_weights.csv)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hiddenpop.errors import DesignError
from hiddenpop.weights.estimate import estimate_table
from hiddenpop.weights.trim import kish_deff, trim_weights
from tests.conftest import SURVEY_REFERENCE
from tests.weights.test_estimate import DESIGN, HH, VARS, assert_matches, ref_row

W = HH.weight.to_numpy()
UB = 3 * np.median(W)


def test_upper_bound_is_r_value():
    # row trim/upper_bound/weight: 3*median(weights(des)) = 102.35538082650277
    assert UB == pytest.approx(ref_row("trim", "upper_bound", "weight").estimate, rel=1e-15)


@pytest.mark.parametrize("case,strict", [("trim", False), ("trim_strict", True)])
def test_trimmed_weights_and_estimates_match_r(case, strict):
    res = trim_weights(W, upper=UB, strict=strict)
    if not strict:  # trimmed_weights.csv (the strict file is not shipped; its rows are checked below)
        np.testing.assert_allclose(res.weights, pd.read_csv(SURVEY_REFERENCE / "trimmed_weights.csv").weight,
                                   rtol=1e-12)
    # rows <case>/max_weight/weight (104.46 non-strict, = ub strict) and <case>/sum_weights
    assert res.weights.max() == pytest.approx(ref_row(case, "max_weight", "weight").estimate, rel=1e-12)
    assert res.weights.sum() == pytest.approx(ref_row(case, "sum_weights", "design").estimate, rel=1e-12)
    design = DESIGN.prepare(HH).with_weights(res.weights)
    for stat in ("mean", "total"):
        for row in estimate_table(HH, design, variables=VARS, statistic=stat).to_dict("records"):
            assert_matches(case, stat, row["variable"], "all", row)
    assert res.n_trimmed == 182  # README: 182 weights exceed 3 x median
    # non-strict leaves 11 weights above ub (README e)
    assert res.n_outside == (0 if strict else 11)


def test_kish_deff_reported_before_and_after():
    # Kish deff_w = n Σw²/(Σw)² = 1 + CV² (CV with divisor n), computed directly here
    res = trim_weights(W, upper=UB)
    cv2 = W.var() / W.mean() ** 2
    assert res.deff_before == pytest.approx(1 + cv2, rel=1e-12)
    assert res.deff_after < res.deff_before
    assert kish_deff(np.ones(5)) == 1.0


def test_trim_bad_input():
    with pytest.raises(DesignError, match="> 0"):
        trim_weights(np.array([1.0, -1.0]), upper=3)
    with pytest.raises(DesignError, match="cannot satisfy"):
        trim_weights(np.array([5.0, 5.0]), upper=3)
