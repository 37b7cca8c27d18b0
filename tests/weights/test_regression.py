"""svyglm against R (reference.csv cases glm_gaussian, glm_quasipoisson)."""
from __future__ import annotations

import numpy as np
import pytest

from hiddenpop.errors import EstimationError
from hiddenpop.weights.regression import svyglm
from tests.weights.test_estimate import DESIGN, HH, ref_row

FORMULA = "children_working ~ registered + sex_head + n_children"
R_NAMES = {"Intercept": "(Intercept)", "registered": "registered", "sex_head[T.M]": "sex_headM",
           "n_children": "n_children"}


@pytest.mark.parametrize("family", ["gaussian", "quasipoisson"])
def test_coefficients_ses_ci_and_dispersion_match_r(family):
    fit = svyglm(HH, FORMULA, DESIGN, family=family)
    case = f"glm_{family}"
    for row in fit.table.to_dict("records"):
        r = ref_row(case, "coef", R_NAMES[row["term"]])
        for c in ("estimate", "se", "ci_low", "ci_high"):
            np.testing.assert_allclose(row[c], r[c], rtol=1e-8, err_msg=f"{case} {row['term']} {c}")
    assert fit.df_residual == ref_row(case, "df_residual", "model").estimate  # 142 = 145 - 4 + 1
    assert fit.dispersion == pytest.approx(ref_row(case, "dispersion", "model").estimate, rel=1e-8)


def test_replicate_ses_close_to_linearised():
    # Two routes: JKn refits vs the linearised sandwich (agree to a few % for a smooth model)
    lin = svyglm(HH, FORMULA, DESIGN)
    jk = svyglm(HH, FORMULA, DESIGN, variance="jkn")
    np.testing.assert_allclose(jk.params, lin.params, rtol=1e-12)
    np.testing.assert_allclose(jk.se, lin.se, rtol=0.05)
    assert jk.method == "jkn"


def test_bad_formula():
    with pytest.raises(EstimationError, match="cannot build the model"):
        svyglm(HH, "nope ~ registered", DESIGN)
    with pytest.raises(EstimationError, match="unknown family"):
        svyglm(HH, FORMULA, DESIGN, family="gamma")
