"""Logit calibration (R ``calibrate(calfun="logit", bounds=c(L, U))``) against R survey 4.5.

Every expected number comes from ``tests/data/survey_reference_45/reference45_logit.R`` (ours, run
with R 4.2.2 and survey 4.5, log in ``versions45_logit.txt``): ``reference45_logit.csv`` holds the
estimates, SEs and the range of g; ``weights45_logit_<case>.csv`` the calibrated weights. R was run
with ``maxit=200, epsilon=1e-13``.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hiddenpop.cli import main
from hiddenpop.errors import ConvergenceError, DesignError
from hiddenpop.io.tables import read_margins
from hiddenpop.weights.calibrate import Calibrator, _g_function, calibrate, calibration_model, refit_model
from hiddenpop.weights.design import Design
from hiddenpop.weights.estimate import estimate_table, mean, total
from tests.conftest import DATA, SURVEY_REFERENCE

REF45 = DATA / "survey_reference_45"
REF = pd.read_csv(REF45 / "reference45_logit.csv")
RTOL = 1e-8        # library route: weights, estimates and SEs
RTOL_CLI = 1e-7    # weights calibrate -> estimate (the CLI's default tolerance 1e-10 on the margins)
API_MARGINS = pd.read_csv(REF45 / "api_margins.csv")   # table(apipop$stype), $sch.wide, $comp.imp
CLUS1 = pd.read_csv(REF45 / "apiclus1.csv")
STRAT = pd.read_csv(REF45 / "apistrat.csv")
HH = pd.read_csv(SURVEY_REFERENCE / "households.csv")
HH = HH.assign(region_registered=HH.region + "_" + HH.registered.astype(str))   # README: North_0 ... South_1
HH_MARGINS = read_margins(SURVEY_REFERENCE / "margins.csv")

D_STRAT = Design(weight_col="pw", stratum_col="stype", fpc_col="fpc")           # strata=~stype, fpc=~fpc
D_CLUS1 = Design(weight_col="pw", psu_col="dnum", fpc_col="fpc")                # id=~dnum, fpc=~fpc
D_HH = Design(weight_col="weight", stratum_col="stratum", psu_col="psu")        # ids=~psu, strata=~stratum, nest


def api_margins(*variables: str) -> pd.DataFrame:
    return API_MARGINS[API_MARGINS.variable.isin(variables)].reset_index(drop=True)


def ref(case: str, statistic: str, variable: str, domain: str = "all") -> pd.Series:
    rows = REF[(REF.case == case) & (REF.statistic == statistic) & (REF.variable == variable)
               & (REF.domain == domain)]
    assert len(rows) == 1, (case, statistic, variable, domain)
    return rows.iloc[0]


def check(case, statistic, variable, domain, got, rtol=RTOL, r_domain=None):
    r = ref(case, statistic, variable, domain if r_domain is None else r_domain)
    got = got if isinstance(got, dict) else got.to_dict()
    for c in ("estimate", "se", "ci_low", "ci_high"):
        np.testing.assert_allclose(got[c], r[c], rtol=rtol, err_msg=f"{case}/{statistic}/{variable}/{domain}/{c}")


# case, data, weight column, margins, bounds, design, variables and svyby of reference45_logit.R
CASES = [
    ("logit_clus1", CLUS1, "pw", api_margins("stype", "sch.wide"), (0.5, 2.0), D_CLUS1),
    ("logit_clus1_tight", CLUS1, "pw", api_margins("stype", "sch.wide"), (0.87, 1.85), D_CLUS1),
    ("logit_strat", STRAT, "pw", api_margins("sch.wide", "comp.imp"), (0.5, 2.0), D_STRAT),
    ("logit_strat_tight", STRAT, "pw", api_margins("sch.wide", "comp.imp"), (0.68, 1.52), D_STRAT),
    ("logit_hh", HH, "weight", HH_MARGINS, (0.5, 2.0), D_HH),
    ("logit_hh_tight", HH, "weight", HH_MARGINS, (0.92, 1.12), D_HH),
]
IDS = [c[0] for c in CASES]


def _estimates(case, data, prepared, rtol):
    if case.startswith("logit_hh"):
        # svytotal/svymean(~children_working + income + n_children), svyby(~income, ~region, svymean)
        for v in ("children_working", "income", "n_children"):
            check(case, "mean", v, "all", mean(data, v, prepared), rtol)
            check(case, "total", v, "all", total(data, v, prepared), rtol)
        by = "region"
        rows = estimate_table(data, prepared, variables="income", by=by).to_dict("records")
        var = "income"
    else:
        # svymean/svytotal(~api00 + enroll), svyby(~api00, ~stype, svymean)
        for v in ("api00", "enroll"):
            check(case, "mean", v, "all", mean(data, v, prepared), rtol)
            check(case, "total", v, "all", total(data, v, prepared), rtol)
        rows = estimate_table(data, prepared, variables="api00", by="stype").to_dict("records")
        var = "api00"
    assert len(rows) == 3
    for row in rows:
        check(case, "mean", var, row["domain"], row, rtol, r_domain=row["domain"].split("=")[1])


@pytest.mark.parametrize("case,data,wcol,margins,bounds,design", CASES, ids=IDS)
def test_weights_bounds_margins_and_ses_match_r(case, data, wcol, margins, bounds, design):
    res = calibrate(data, wcol, margins, method="logit", bounds=bounds, max_iter=200, tol=1e-13)
    assert res.converged and res.method == "logit"
    expected = pd.read_csv(REF45 / f"weights45_{case}.csv").weight.to_numpy()
    # observed max relative difference to R: 3.8e-15 (logit_hh_tight) at tol 1e-13; 1.2e-10
    # (logit_strat_tight) at the default tol 1e-10 the CLI uses
    np.testing.assert_allclose(res.weights, expected, rtol=RTOL)
    # every g strictly inside the bounds, and the range R reports (g_min / g_max rows)
    assert bounds[0] - 1e-9 <= res.g.min() and res.g.max() <= bounds[1] + 1e-9
    np.testing.assert_allclose([res.g.min(), res.g.max()],
                               [ref(case, "g_min", "design").estimate, ref(case, "g_max", "design").estimate],
                               rtol=RTOL)
    # the totals meet the margins (relative to the margin total)
    t = res.margin_table
    np.testing.assert_allclose(t.achieved, t.target, rtol=1e-12)
    _estimates(case, data, design.prepare(data).with_weights(res.weights, adjustment=res.adjustment), RTOL)


def test_tight_bounds_come_close_to_binding():
    # R log (versions45_logit.txt): with c(0.92, 1.12) 376 households have g within 0.01 of L and
    # 316 within 0.01 of U; with c(0.5, 2) none. g never reaches a bound (the logit keeps it inside)
    res = calibrate(HH, "weight", HH_MARGINS, method="logit", bounds=(0.92, 1.12), max_iter=200, tol=1e-13)
    assert int(np.sum(res.g - 0.92 < 0.01)) == 376 and int(np.sum(1.12 - res.g < 0.01)) == 316
    assert res.g.min() > 0.92 and res.g.max() < 1.12
    wide = calibrate(HH, "weight", HH_MARGINS, method="logit", bounds=(0.5, 2.0), max_iter=200, tol=1e-13)
    assert int(np.sum(wide.g - 0.5 < 0.01)) == 0 and int(np.sum(2.0 - wide.g < 0.01)) == 0


def test_g_function_by_hand():
    # Deville & Särndal (1992), case 6, R cal.logit: g(0) = 1, g'(0) = 1; g -> L and U at -inf/+inf.
    # Hand calculation at L = 0.5, U = 2: A = 1.5/(1·0.5) = 3, u = ln(2)/3 gives e^{Au} = 2 and
    # g = (0.5·1 + 2·0.5·2)/(1 + 0.5·2) = 2.5/2 = 1.25.
    u = np.array([0.0, np.log(2.0) / 3.0, -50.0, 50.0])
    g, d = _g_function("logit", u, 0.5, 2.0)
    np.testing.assert_allclose(g, [1.0, 1.25, 0.5, 2.0], rtol=1e-12)
    assert d[0] == pytest.approx(1.0, rel=1e-12)
    # derivative against a central difference (two routes)
    v = np.linspace(-0.8, 0.8, 9)
    h = 1e-6
    num = (_g_function("logit", v + h, 0.5, 2.0)[0] - _g_function("logit", v - h, 0.5, 2.0)[0]) / (2 * h)
    np.testing.assert_allclose(_g_function("logit", v, 0.5, 2.0)[1], num, rtol=1e-7)
    # overflow gives a non-finite value (R: NaN, then step halving), never an exception
    g, d = _g_function("logit", np.array([1e4]), 0.5, 2.0)
    assert not np.isfinite(g[0])


def test_logit_needs_finite_bounds_around_one():
    m = api_margins("stype", "sch.wide")
    with pytest.raises(DesignError, match="logit calibration needs finite bounds") as e:
        calibrate(CLUS1, "pw", m, method="logit")
    assert "bounds=(lower, upper)" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(DesignError, match="finite bounds"):
        calibrate(CLUS1, "pw", m, method="logit", bounds=(0.5, np.inf))
    with pytest.raises(DesignError, match="lower < 1 < upper"):
        calibrate(CLUS1, "pw", m, method="logit", bounds=(1.2, 2.0))


def test_bounds_too_tight_do_not_converge_as_in_r():
    # R 4.5 (versions45_logit.txt): calibrate(dclus1, ~stype+sch.wide, calfun="logit",
    # bounds=c(0.8, 1.25), maxit=50) fails to converge
    with pytest.raises(ConvergenceError, match="logit calibration did not converge"):
        calibrate(CLUS1, "pw", api_margins("stype", "sch.wide"), method="logit", bounds=(0.8, 1.25))


def test_calibration_model_records_logit_and_refits():
    # the sidecar model of 'weights calibrate': refitted from the input weights it gives the same
    # weights (two routes) and R's linearised SE
    m = api_margins("stype", "sch.wide")
    cal = Calibrator("logit", bounds=(0.5, 2.0)).fit(CLUS1, "pw", m)
    model = json.loads(json.dumps(calibration_model(cal, m, weight_col="final_weight")))
    assert model["method"] == "logit" and model["bounds"] == [0.5, 2.0]
    data = CLUS1.assign(precalibration_weight=CLUS1.pw, final_weight=cal.weights_)
    refit = refit_model(data, model)
    np.testing.assert_allclose(refit.calibrator.weights_, cal.weights_, rtol=1e-14)
    p = Design(weight_col="final_weight", psu_col="dnum", fpc_col="fpc").prepare(data).with_weights(
        cal.weights_, adjustment=refit.adjustment)
    check("logit_clus1", "mean", "api00", "all", mean(data, "api00", p))


# CLI -----------------------------------------------------------------------------------------
def _run(runner, args):
    r = runner.invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, (args, r.output, r.stderr)
    return r


CLI_CASES = [
    ("logit_clus1", "apiclus1.csv", ("stype", "sch.wide"), "0.5,2",
     ["--stratum-col", "none", "--psu-col", "dnum", "--fpc-col", "fpc"]),
    ("logit_strat_tight", "apistrat.csv", ("sch.wide", "comp.imp"), "0.68,1.52",
     ["--stratum-col", "stype", "--psu-col", "none", "--fpc-col", "fpc"]),
]


@pytest.mark.parametrize("case,data,variables,bounds,design_args", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_calibrate_logit_then_estimate_linearises(runner, tmp_path, case, data, variables, bounds, design_args):
    # weights calibrate --method logit --bounds L,U writes the model next to the weights; estimate
    # linearises through it: svymean/svytotal(~api00 + enroll) of reference45_logit.R
    api_margins(*variables).to_csv(tmp_path / "m.csv", index=False)
    _run(runner, ["weights", "calibrate", REF45 / data, "--margins", tmp_path / "m.csv", "--method", "logit",
                  "--bounds", bounds, "--weight-col", "pw", "-o", tmp_path / "cal.csv"])
    model = json.loads((tmp_path / "cal.calibration.json").read_text())
    assert model["method"] == "logit" and model["bounds"] == [float(b) for b in bounds.split(",")]
    weights = pd.read_csv(tmp_path / "cal.csv").pw.to_numpy()
    np.testing.assert_allclose(weights, pd.read_csv(REF45 / f"weights45_{case}.csv").weight, rtol=RTOL)
    for stat in ("mean", "total"):
        out = json.loads(_run(runner, ["estimate", tmp_path / "cal.csv", "--var", "api00,enroll", "--stat", stat,
                                       "--weight-col", "pw", *design_args, "--json"]).stdout)
        assert len(out) == 2
        for row in out:
            check(case, stat, row["variable"], "all", row, RTOL_CLI)


@pytest.mark.parametrize("case", ["logit_hh", "logit_hh_tight"])
def test_cli_household_survey(runner, tmp_path, case):
    # the household survey of ../survey_reference: svytotal/svymean through calibrate(des,
    # ~region_registered + sex_head + age_group_head, calfun="logit", bounds=...)
    bounds = "0.5,2" if case == "logit_hh" else "0.92,1.12"
    HH.to_csv(tmp_path / "hh.csv", index=False)
    _run(runner, ["weights", "calibrate", tmp_path / "hh.csv", "--margins", SURVEY_REFERENCE / "margins.csv",
                  "--method", "logit", "--bounds", bounds, "--weight-col", "weight", "-o", tmp_path / "cal.csv"])
    np.testing.assert_allclose(pd.read_csv(tmp_path / "cal.csv").weight,
                               pd.read_csv(REF45 / f"weights45_{case}.csv").weight, rtol=RTOL)
    for stat in ("mean", "total"):
        out = json.loads(_run(runner, ["estimate", tmp_path / "cal.csv", "--var", "children_working,income,n_children",
                                       "--stat", stat, "--weight-col", "weight", "--stratum-col", "stratum",
                                       "--psu-col", "psu", "--json"]).stdout)
        assert len(out) == 3
        for row in out:
            check(case, stat, row["variable"], "all", row, RTOL_CLI)


@pytest.mark.parametrize("case,data,variables,bounds,design_args,variance", [
    ("repcal_jk1_logit_clus1", "apiclus1.csv", ("stype", "sch.wide"), "0.4,2.5",
     ["--stratum-col", "none", "--psu-col", "dnum", "--fpc-col", "fpc"], "jk1"),
    ("repcal_jkn_logit_strat", "apistrat.csv", ("sch.wide", "comp.imp"), "0.5,2",
     ["--stratum-col", "stype", "--psu-col", "none", "--fpc-col", "fpc"], "jkn")])
def test_cli_replicates_recalibrated_with_logit(runner, tmp_path, case, data, variables, bounds, design_args,
                                                variance):
    # R: calibrate(as.svrepdesign(dclus1, type="JK1") / (dstrat, type="JKn"), ..., calfun="logit",
    # bounds=...): every replicate calibrated with the same logit settings
    api_margins(*variables).to_csv(tmp_path / "m.csv", index=False)
    _run(runner, ["weights", "calibrate", REF45 / data, "--margins", tmp_path / "m.csv", "--method", "logit",
                  "--bounds", bounds, "--weight-col", "pw", "-o", tmp_path / "cal.csv"])
    for stat in ("mean", "total"):
        out = json.loads(_run(runner, ["estimate", tmp_path / "cal.csv", "--var", "api00,enroll", "--stat", stat,
                                       "--weight-col", "pw", *design_args, "--variance", variance,
                                       "--json"]).stdout)
        for row in out:
            check(case, stat, row["variable"], "all", row, RTOL_CLI)


def test_cli_logit_errors_in_one_line(runner, tmp_path):
    api_margins("stype", "sch.wide").to_csv(tmp_path / "m.csv", index=False)
    base = ["weights", "calibrate", REF45 / "apiclus1.csv", "--margins", tmp_path / "m.csv", "--weight-col", "pw",
            "-o", tmp_path / "cal.csv"]
    r = runner.invoke(main, [str(a) for a in base + ["--method", "logit"]])
    assert r.exit_code != 0 and "--method logit needs --bounds" in r.stderr
    assert "Traceback" not in r.output + r.stderr and not (tmp_path / "cal.csv").exists()
    r = runner.invoke(main, [str(a) for a in base + ["--method", "logit", "--bounds", "1.1,2"]])
    assert r.exit_code != 0 and "lower < 1 < upper" in r.stderr and "Traceback" not in r.output + r.stderr
    # bounds R cannot meet either (versions45_logit.txt): one line, nothing written
    r = runner.invoke(main, [str(a) for a in base + ["--method", "logit", "--bounds", "0.8,1.25"]])
    assert r.exit_code != 0 and "did not converge" in r.stderr and "Traceback" not in r.output + r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1
    assert not (tmp_path / "cal.csv").exists()
    r = runner.invoke(main, ["weights", "compute", "--households", str(tmp_path / "hh.csv"), "--calibration", "logit",
                             "-o", str(tmp_path / "w.csv")])
    assert r.exit_code != 0 and "--calibration logit needs --bounds" in r.stderr
    assert "Traceback" not in r.output + r.stderr


def test_cli_help_offers_logit_and_says_bounds_are_required(runner):
    for cmd, opt in ((["weights", "calibrate"], "--method"), (["weights", "compute"], "--calibration")):
        text = runner.invoke(main, cmd + ["--help"]).output
        assert "logit" in text and f"required with {opt} logit" in " ".join(text.split())


def test_compute_weights_with_logit_calibration():
    # compute_weights(..., options.calibration="logit"): with one margin every calibration function
    # gives each level the factor target / weighted count (hand reasoning: one equation per level),
    # so the logit weights equal the linear ones (two routes); the recorded model says logit and
    # refits to the file's weights. Without bounds the run is refused before any weighting.
    from hiddenpop.weights.pipeline import WeightingOptions, compute_weights
    from tests.weights.test_pipeline import _city

    hh, points = _city(np.random.default_rng(21))
    m = pd.DataFrame({"variable": ["registered", "registered"], "level": ["0", "1"], "total": [900.0, 2100.0]})
    res = compute_weights(hh, points=points, margins=m, options=WeightingOptions(calibration="logit", bounds=(0.2, 5)))
    lin = compute_weights(hh, points=points, margins=m, options=WeightingOptions(calibration="linear"))
    np.testing.assert_allclose(res.to_frame().final_weight, lin.to_frame().final_weight, rtol=1e-10)
    model = json.loads(json.dumps(res.info["calibration"]["model"]))
    assert model["method"] == "logit" and model["bounds"] == [0.2, 5.0]
    refit_model(res.to_frame(), model)   # raises if the model does not give the file's weights
    with pytest.raises(DesignError, match="logit calibration needs finite bounds"):
        compute_weights(hh, points=points, margins=m, options=WeightingOptions(calibration="logit"))
