"""Survey GLMs against R survey 4.5 svyglm (tests/data/survey_reference_compare/glm.csv, from its reference.R)."""
from __future__ import annotations

import numpy as np
import pytest

from hiddenpop.errors import EstimationError
from hiddenpop.weights.model import fit_model
from hiddenpop.weights.regression import svyglm
from tests.weights._compare_reference import (DESIGNS, REPLICATES, design_for, load_data, reference,
                                              replicate_degf, replicate_weights)

REF = reference("glm.csv")
PAIRS = list(dict.fromkeys(zip(REF["case"], REF["method"])))
FAMILY = {"gaussian": "gaussian", "quasibinomial": "binomial", "quasipoisson": "poisson"}


def _fit(case: str, method: str):
    part = REF[(REF["case"] == case) & (REF["method"] == method)]
    key = case.split("_")[0]
    data, design = design_for(key)
    replicates, ddf = None, None
    if method != "linearization":
        rep = REPLICATES[key, method]
        replicates = replicate_weights(rep, data[design.weight_col].to_numpy(), method)
        ddf = replicate_degf(rep)        # as.svrepdesign keeps the design's df
    formula = part["formula"].iloc[0]
    if key in ("hh", "hhcal"):
        formula = formula.replace("age_group_head", "C(age_group_head)")
    return fit_model(data, formula, design, family=FAMILY[part["family"].iloc[0]], replicates=replicates,
                     design_df=ddf), part


def _r_name(term: str) -> str:
    if term == "Intercept":
        return "(Intercept)"
    return term.replace("=", "")


@pytest.mark.parametrize("case,method", PAIRS, ids=[f"{c}-{m}" for c, m in PAIRS])
def test_svyglm_matches_r(case, method):
    fit, ref = _fit(case, method)
    ours = fit.table
    assert len(ours) == len(ref)
    # our names -> R names: Intercept -> (Intercept), stype=H -> stypeH
    ours = ours.set_index(ours["term"].map(_r_name)).loc[ref["term"]]
    for (_, o), (_, r) in zip(ours.iterrows(), ref.iterrows()):
        for col in ("estimate", "se", "ci_low", "ci_high", "t", "p_value"):
            np.testing.assert_allclose(o[col], r[col], rtol=1e-8, err_msg=f"{case} {method} {r['term']} {col}")
    assert fit.df_residual == ref["df_residual"].iloc[0]
    assert fit.dispersion == pytest.approx(ref["dispersion"].iloc[0], rel=1e-8)
    if method == "linearization":             # R svyglm(deff=TRUE)
        np.testing.assert_allclose(ours["deff"].to_numpy(), ref["deff"].to_numpy(), rtol=1e-8)


def test_agrees_with_existing_svyglm():
    # two routes: weights/regression.svyglm (statsmodels IRLS) and the model module
    name, design = DESIGNS["hh"]
    data = load_data(name)
    f = "children_working ~ registered + sex_head + n_children"
    old = svyglm(data, f, design, family="quasipoisson")
    new = fit_model(data, f, design, family="poisson")
    np.testing.assert_allclose(new.params.to_numpy(), old.params.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(new.se.to_numpy(), old.se.to_numpy(), rtol=1e-9)


def test_odds_ratios_are_exp_of_coefficients():
    name, design = DESIGNS["hh"]
    fit = fit_model(load_data(name), "works_any ~ registered + sex_head", design, family="binomial", ratios=True)
    t = fit.table
    np.testing.assert_allclose(t["ratio"], np.exp(t["estimate"]), rtol=1e-15)
    np.testing.assert_allclose(t["ratio_ci_high"], np.exp(t["ci_high"]), rtol=1e-15)
    assert fit.ratio_name == "odds_ratio"
    with pytest.raises(EstimationError, match="odds or rate ratios"):
        fit_model(load_data(name), "children_working ~ registered", design, ratios=True)


def test_rank_deficient_model_names_the_columns():
    name, design = DESIGNS["hh"]
    data = load_data(name)
    data["unregistered"] = 1 - data["registered"]
    with pytest.raises(EstimationError, match=r"column 'unregistered' is a combination of 'Intercept', 'registered'"):
        fit_model(data, "children_working ~ registered + unregistered", design)


def test_perfect_separation_names_the_column():
    name, design = DESIGNS["hh"]
    data = load_data(name)
    data["any_child"] = (data["n_children"] > 0).astype(float)
    # works_any is 0 whenever there is no child: quasi-complete separation by any_child
    assert (data.loc[data["any_child"] == 0, "works_any"] == 0).all()
    with pytest.raises(EstimationError, match=r"perfectly separated.*'any_child'"):
        fit_model(data, "works_any ~ registered + any_child", design, family="binomial")
    with pytest.raises(EstimationError, match=r"rate of exactly 0.*'any_child'"):
        fit_model(data, "children_working ~ registered + any_child", design, family="poisson")


def test_missing_values_leave_rows_out_but_keep_design():
    # apiclus2: 6 schools without enroll (two whole districts); R's df.residual counts the PSUs that keep
    # a row: 37 - 4 + 1 = 34 (glm.csv), against 39 - 4 + 1 = 36 for the exported bootstrap (design df kept)
    fit, ref = _fit("clus2_quasipoisson", "linearization")
    assert fit.n == 120 and fit.df_residual == 34 == ref["df_residual"].iloc[0]


def test_bad_formula_names_columns():
    name, design = DESIGNS["hh"]
    with pytest.raises(EstimationError, match="cannot build the model"):
        fit_model(load_data(name), "nope ~ registered", design)
    with pytest.raises(EstimationError, match="unknown family"):
        fit_model(load_data(name), "works_any ~ registered", design, family="gamma")
