"""Raking and calibration against R survey 4.1-1 (reference.csv cases rake, rake_rdefault,
calib_linear, calib_raking, calib_raking_bounded, calib_raking_bounded_tight and the
*_weights.csv files)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hiddenpop.errors import ConvergenceError, DesignError, InputFileError
from hiddenpop.io.tables import read_margins
from hiddenpop.weights.calibrate import Calibrator, Raker, calibrate, post_stratify
from hiddenpop.weights.estimate import estimate_table
from tests.conftest import SURVEY_REFERENCE
from tests.weights.test_estimate import DESIGN, HH, VARS, assert_matches, ref_row

MARGINS_PATH = SURVEY_REFERENCE / "margins.csv"
DATA = HH.assign(region_registered=HH.region + "_" + HH.registered.astype(str))
PREPARED = DESIGN.prepare(DATA)


def _stats_a(case: str, result) -> None:
    design = result.apply_to(PREPARED)
    for stat in ("mean", "total"):
        for row in estimate_table(DATA, design, variables=VARS, statistic=stat).to_dict("records"):
            assert_matches(case, stat, row["variable"], "all", row)
    row = estimate_table(DATA, design, variables="children_working", statistic="ratio",
                         denominator="n_children").iloc[0]
    assert_matches(case, "ratio", "children_working/n_children", "all", row)
    # registered is a calibration variable (region_registered margin), so its proportion is
    # (nearly) fixed: R's SE is rounding noise (~6e-17) once converged. Compare the estimate
    # relatively and the SE with an absolute floor of 1e-12.
    row = estimate_table(DATA, design, variables="registered", statistic="proportion").iloc[0]
    assert_matches(case, "proportion", "registered", "all", row, cols=("estimate",))
    np.testing.assert_allclose(row.se, ref_row(case, "proportion", "registered").se, rtol=1e-8, atol=1e-12)


CASES = [
    # case, weights file, calibrate() arguments (the R call is in the README section d)
    ("rake", "raked_weights.csv", dict(method="rake", max_iter=1000, tol=1e-13)),
    ("rake_rdefault", "raked_weights_rdefault.csv", dict(method="rake", max_iter=10, tol=1)),
    ("calib_linear", "calibrated_linear_weights.csv", dict(method="linear")),
    ("calib_raking", "calibrated_raking_weights.csv", dict(method="raking", max_iter=200, tol=1e-13)),
    ("calib_raking_bounded", "calibrated_raking_bounded_weights.csv",
     dict(method="raking", bounds=(0.5, 3), max_iter=200, tol=1e-13)),
    ("calib_raking_bounded_tight", "calibrated_raking_bounded_tight_weights.csv",
     dict(method="raking", bounds=(0.92, 1.12), max_iter=200, tol=1e-13)),
]


@pytest.mark.parametrize("case,wfile,kwargs", CASES, ids=[c[0] for c in CASES])
def test_weights_estimates_and_ses_match_r(case, wfile, kwargs):
    res = calibrate(DATA, "weight", read_margins(MARGINS_PATH), **kwargs)
    expected = pd.read_csv(SURVEY_REFERENCE / wfile).weight.to_numpy()
    np.testing.assert_allclose(res.weights, expected, rtol=1e-8)
    assert res.converged
    _stats_a(case, res)


def test_rake_default_stopping_rule_stops_after_sweep_3():
    # README d: R's default control stops after sweep 3; its margins are off by up to 1.5e-4
    # (1.53e-4 here: the same weights, see raked_weights_rdefault.csv)
    res = calibrate(DATA, "weight", read_margins(MARGINS_PATH), method="rake", max_iter=10, tol=1)
    assert res.n_iter == 3
    assert 1e-6 < res.max_margin_error < 2e-4


def test_bounded_tight_has_active_bounds():
    # README d: 107 g-weights sit at 0.92 and 269 at 1.12
    res = calibrate(DATA, "weight", read_margins(MARGINS_PATH), method="raking", bounds=(0.92, 1.12), tol=1e-13,
                    max_iter=200)
    assert np.sum(np.abs(res.g - 0.92) < 1e-9) == 107
    assert np.sum(np.abs(res.g - 1.12) < 1e-9) == 269


def test_rake_equals_calibrate_raking_and_greg_residual_option():
    # README d: tight rake weights equal calibrate(calfun="raking") weights (2.3e-13); with GREG
    # residuals the rake design gives calib_raking's SEs (the two residual choices, both matched).
    m = read_margins(MARGINS_PATH)
    a = calibrate(DATA, "weight", m, method="rake", max_iter=1000, tol=1e-13, variance_residuals="greg")
    b = calibrate(DATA, "weight", m, method="raking", tol=1e-13, max_iter=200)
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-12)
    _stats_a("calib_raking", a)


def test_raker_fit_apply_and_attributes():
    m = read_margins(MARGINS_PATH)
    raker = Raker(max_iter=1000, tol=1e-13).fit(DATA, "weight", m)
    assert raker.converged_ and raker.n_iter_ >= 2 and raker.max_margin_error_ < 1e-6
    np.testing.assert_allclose(raker.g_ * DATA.weight, raker.weights_)
    # apply() to the same base weights reproduces the fit; to 2 columns at once as well
    w2 = np.column_stack([DATA.weight, 2 * DATA.weight])
    out = raker.apply(w2)
    np.testing.assert_allclose(out[:, 0], raker.weights_, rtol=1e-12)
    np.testing.assert_allclose(out[:, 1], raker.weights_, rtol=1e-12)  # raking is scale-free
    lin = Calibrator("linear").fit(DATA, "weight", m)
    np.testing.assert_allclose(lin.apply(DATA.weight.to_numpy()), lin.weights_, rtol=1e-12)


@pytest.mark.parametrize("method", ["rake", "linear", "raking"])
def test_apply_with_per_column_targets_equals_a_fit_on_those_targets(method):
    # Two routes: apply() with a column of other targets must give the weights of a fresh
    # fit on margins carrying those targets (every level's total moved by the same scale
    # keeps the margins consistent with each other).
    m = read_margins(MARGINS_PATH)
    cal = Calibrator(method).fit(DATA, "weight", m)
    moved = m.assign(total=m["total"] * 1.1)
    refit = Calibrator(method).fit(DATA, "weight", moved)
    base = cal.result_.margin_table["target"].to_numpy()
    out = cal.apply(np.column_stack([DATA.weight, DATA.weight]), targets=np.column_stack([base, 1.1 * base]))
    np.testing.assert_allclose(out[:, 0], cal.weights_, rtol=1e-9)
    np.testing.assert_allclose(out[:, 1], refit.weights_, rtol=1e-9)
    with pytest.raises(DesignError, match="do not add up"):
        bad = np.column_stack([base, base])
        bad[0, 1] *= 2
        cal.apply(np.column_stack([DATA.weight, DATA.weight]), targets=bad, names=["rep_1", "rep_2"])


def test_combined_margin_format_x_and_pipe():
    # docs/data-contract.md, 'Registry margins': "region x registered" with levels "North|1" is the same margin as
    # the pre-combined region_registered column (README: levels North_0 … South_1).
    m = read_margins(MARGINS_PATH)
    combined = m.copy()
    rr = combined.variable == "region_registered"
    combined.loc[rr, "variable"] = "region x registered"
    combined.loc[rr, "level"] = combined.loc[rr, "level"].str.replace("_", "|")
    a = calibrate(DATA, "weight", m, method="linear")
    b = calibrate(DATA, "weight", combined, method="linear")
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-12)


def test_post_stratify_hits_totals_and_residuals():
    # Hand check: post-stratified weights reproduce each total exactly, and the SE of the
    # post-stratified total of sex_head=F indicator is 0 (it is fixed by calibration).
    margin = {"sex_head": {"F": 45344, "M": 85203}}
    res = post_stratify(DATA, "weight", margin)
    got = pd.Series(res.weights).groupby(DATA.sex_head.to_numpy()).sum()
    np.testing.assert_allclose(got[["F", "M"]].to_numpy(), [45344, 85203], rtol=1e-13)
    design = res.apply_to(PREPARED)
    t = estimate_table(DATA.assign(fem=(DATA.sex_head == "F").astype(float)), design, variables="fem",
                       statistic="total")
    assert t.se.iloc[0] < 1e-6 * t.estimate.iloc[0]


def test_margin_level_not_in_data_is_an_error(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text(MARGINS_PATH.read_text().replace("South_1", "Soth_1"))
    with pytest.raises(DesignError, match=r"m.csv, row 7, column 'level', value 'Soth_1'.*does not exist"):
        calibrate(DATA, "weight", read_margins(p))


def test_data_level_without_margin_is_an_error():
    m = read_margins(MARGINS_PATH)
    m = m[m.level != "60+"]
    with pytest.raises(DesignError, match="'60\\+' of 'age_group_head' with no total"):
        calibrate(DATA, "weight", m)


def test_inconsistent_margins_and_nonconvergence_are_errors():
    m = read_margins(MARGINS_PATH)
    bad = m.copy()
    bad.loc[bad.level == "F", "total"] += 1000
    with pytest.raises(DesignError, match="do not add up to the same population total"):
        calibrate(DATA, "weight", bad)
    # README d: bounds c(0.9, 1.1) cannot be met ("Calibration failed" in R)
    with pytest.raises(ConvergenceError, match="did not converge"):
        calibrate(DATA, "weight", m, method="raking", bounds=(0.9, 1.1), max_iter=50)
    with pytest.raises(ConvergenceError, match="did not converge in 2"):
        calibrate(DATA, "weight", m, method="rake", max_iter=2, tol=1e-13)


def test_bad_weights_and_margins_file(tmp_path):
    with pytest.raises(DesignError, match="not > 0"):
        calibrate(DATA, -DATA.weight.to_numpy(), read_margins(MARGINS_PATH))
    p = tmp_path / "m.csv"
    p.write_text("variable,level,total\nsex_head,F,abc\n")
    with pytest.raises(InputFileError, match=r"row 2, column 'total', value 'abc'"):
        read_margins(p)
