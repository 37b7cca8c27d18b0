"""``hiddenpop model --subpop`` against R survey 4.5's svyglm on subset(design, ...).

Expected numbers: tests/data/survey_reference_compare/subpop_glm.csv, written by subpop_glm.R in
that folder (R 4.2.2, survey 4.5, subpop_versions.txt) from R's `api` example data (api_strat.csv,
api_clus1.csv): a stratified design with FPC and a one-stage cluster design with FPC; gaussian,
quasibinomial and quasipoisson models; numeric, text and combined conditions.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hiddenpop.cli import main
from tests.weights._compare_reference import DIR

REF = pd.read_csv(DIR / "subpop_glm.csv", keep_default_na=False, na_values=["NA"])
CASES = list(dict.fromkeys(REF["case"]))
DESIGN = {"strat": ["--weight-col", "pw", "--stratum-col", "stype", "--psu-col", "none", "--fpc-col", "fpc"],
          "clus1": ["--weight-col", "pw", "--stratum-col", "none", "--psu-col", "dnum", "--fpc-col", "fpc"]}
FAMILY = {"gaussian": "gaussian", "quasibinomial": "binomial", "quasipoisson": "poisson"}


def _r_name(term: str) -> str:
    return "(Intercept)" if term == "Intercept" else term.replace("=", "")


def _run(runner, case, *extra):
    ref = REF[REF["case"] == case]
    key = case.split("_")[0]
    args = ["model", str(DIR / f"api_{key}.csv"), "--formula", ref["formula"].iloc[0], "--family",
            FAMILY[ref["family"].iloc[0]], *DESIGN[key], "--json", *extra]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout), ref


@pytest.mark.parametrize("case", CASES)
def test_model_subpop_matches_r_svyglm_on_subset(runner, case):
    subpop = REF.loc[REF["case"] == case, "subpop"].iloc[0]
    out, ref = _run(runner, case, "--subpop", subpop)
    assert out["population"] == subpop
    assert out["df_residual"] == ref["df_residual"].iloc[0]     # R: degf of the domain's PSUs and strata
    assert out["n"] == ref["n"].iloc[0]
    assert out["dispersion"] == pytest.approx(ref["dispersion"].iloc[0], rel=1e-7)
    coefs = {_r_name(c["term"]): c for c in out["coefficients"]}
    assert sorted(coefs) == sorted(ref["term"])
    for r in ref.to_dict("records"):
        for col in ("estimate", "se", "ci_low", "ci_high", "t", "p_value"):
            assert coefs[r["term"]][col] == pytest.approx(r[col], rel=1e-7, abs=1e-12), (r["term"], col)


def test_subpop_is_domain_estimation_not_a_subset_of_rows(runner, tmp_path):
    # the same model on the rows of the domain only (a subset of the file) loses the design's
    # other rows: same coefficients, other standard errors and df (R's subset() keeps them)
    case = "strat_gaussian"
    ref = REF[REF["case"] == case]
    domain, _ = _run(runner, case, "--subpop", "enroll>=400")
    data = pd.read_csv(DIR / "api_strat.csv")
    part = tmp_path / "rows.csv"
    data[data["enroll"] >= 400].to_csv(part, index=False)
    res = runner.invoke(main, ["model", str(part), "--formula", ref["formula"].iloc[0], *DESIGN["strat"], "--json"])
    rows = json.loads(res.stdout)
    est = np.array([c["estimate"] for c in domain["coefficients"]])
    assert np.allclose(est, [c["estimate"] for c in rows["coefficients"]], rtol=1e-10)
    se_domain = np.array([c["se"] for c in domain["coefficients"]])
    se_rows = np.array([c["se"] for c in rows["coefficients"]])
    assert not np.allclose(se_domain, se_rows, rtol=1e-4)


def test_model_subpop_text_names_the_population_and_bad_conditions_are_one_line(runner):
    r = runner.invoke(main, ["model", str(DIR / "api_strat.csv"), "--formula", "api00 ~ ell", *DESIGN["strat"],
                             "--subpop", "enroll>=400"])
    assert r.exit_code == 0 and r.output.startswith("population: rows with enroll>=400 (--subpop)")
    bad = runner.invoke(main, ["model", str(DIR / "api_strat.csv"), "--formula", "api00 ~ ell", *DESIGN["strat"],
                               "--subpop", "enrol>=400"])
    assert bad.exit_code != 0 and "enrol" in bad.output and "Traceback" not in bad.output
