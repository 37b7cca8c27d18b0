"""Robustness of the RDS estimators and bootstraps on input variations.

Sources of expected numbers: rows of tests/data/rds_oracle/reference.csv (R RDS 0.9-10), or two routes
that must agree (estimate with NA outcomes = Hájek ratio over known outcomes of the same weights;
the same data spelled differently gives the same numbers).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hiddenpop.cli import main
from hiddenpop.rds.estimators import estimate, rds_weights
from hiddenpop.rds.sample import rds_sample_from_table
from tests.conftest import RDS_ORACLE

FAUX = RDS_ORACLE / "data" / "faux.csv"
JSON_KEYS = {"outcome", "level", "estimator", "estimate", "se", "ci_low", "ci_high", "n", "population_size"}


def _faux() -> pd.DataFrame:
    return pd.read_csv(FAUX, dtype=str, keep_default_na=False)[["id", "recruiter.id", "X", "Y", "network.size"]]


def test_mean_matches_r_sample_proportion_and_arithmetic_mean_rows():
    # reference.csv: faux,Y,{black,blue,green},Arithmetic Mean / Sample proportion (n = 389, no NA)
    ref = {"black": 0.182519280205656, "blue": 0.434447300771208, "green": 0.383033419023136}
    s = rds_sample_from_table(_faux())
    e = estimate(s, "Y", estimator="mean").set_index("level").estimate
    for lev, val in ref.items():
        assert e[lev] == pytest.approx(val, abs=1e-12)


@pytest.mark.parametrize("est", ["rds-ii", "ss", "mean"])
def test_na_outcomes_are_dropped_from_the_hajek_ratio(est):
    # weights of these estimators do not depend on the outcome, so the estimate with NA outcomes must
    # equal Σ_{y=k} w / Σ_{y known} w with the same weights (R: NA outcomes dropped, see the
    # "NA outcomes dropped" note of the Sample proportion rows)
    t = _faux()
    t.loc[t.index[10:40], "Y"] = np.nan
    s = rds_sample_from_table(t, population_size=1000)
    w = rds_weights(s, est, outcome="Y", population_size=1000).to_numpy()
    e = estimate(s, "Y", estimator=est, population_size=1000, weights=w).set_index("level")
    known = t.Y.notna().to_numpy()
    for lev in ("black", "blue", "green"):
        hand = w[known & (t.Y == lev).to_numpy()].sum() / w[known].sum()
        assert e.estimate[lev] == pytest.approx(hand, rel=1e-12)
    assert set(e.n_valid) == {len(t) - 30}


def test_seed_marker_and_id_spelling_do_not_change_estimates():
    # the same tree with seeds marked 'seed', 0 or -1, and with ids spelled 'p <id>' (spaces) or as
    # integers 1..n must give identical RDS-I / RDS-II / SS estimates
    base = _faux()
    variants = [base]
    for marker in ("0", "-1"):
        variants.append(base.assign(**{"recruiter.id": base["recruiter.id"].replace("seed", marker)}))
    spaced = base.assign(id="p " + base.id, **{"recruiter.id": np.where(base["recruiter.id"] == "seed", "seed",
                                                                         "p " + base["recruiter.id"])})
    variants.append(spaced)
    codes = {old: str(i + 1) for i, old in enumerate(base.id)}
    variants.append(base.assign(id=base.id.map(codes), **{"recruiter.id": base["recruiter.id"].map(codes)
                                                         .fillna("0")}))
    out = []
    for t in variants:
        s = rds_sample_from_table(t, population_size=1000)
        out.append(np.concatenate([estimate(s, "X", estimator=e, population_size=1000).estimate.to_numpy()
                                   for e in ("rds-i", "rds-ii", "ss")]))
    for o in out[1:]:
        np.testing.assert_allclose(o, out[0], rtol=1e-12)


def test_logical_and_01_outcomes_give_the_same_proportions():
    t = _faux()
    t["lg"] = np.where(t.X == "red", "TRUE", "FALSE")
    t["num"] = np.where(t.X == "red", "1", "0")
    s = rds_sample_from_table(t, population_size=1000)
    for est in ("rds-i", "rds-ii", "ss", "hcg"):
        a = estimate(s, "lg", estimator=est, population_size=1000).estimate.to_numpy()
        b = estimate(s, "num", estimator=est, population_size=1000).estimate.to_numpy()
        c = estimate(s, "X", estimator=est, population_size=1000).estimate.to_numpy()
        np.testing.assert_allclose(a, b, rtol=1e-12)
        np.testing.assert_allclose(a, c, rtol=1e-9)   # FALSE/0 = blue, TRUE/1 = red, levels sorted


@pytest.mark.parametrize("variance", ["tree", "salganik", "ss", "neighbourhood"])
def test_cli_every_variance_with_na_outcomes_and_degrees_gives_complete_json(runner, tmp_path, variance):
    # NA outcomes, missing and zero degrees, seeds marked 0, three population sizes, tiny --reps:
    # every row has the JSON keys and a finite estimate and SE
    t = _faux()
    t.loc[t.index[5:15], "Y"] = ""
    t.loc[t.index[20:23], "network.size"] = "NA"
    t.loc[t.index[30:32], "network.size"] = "0"
    t["recruiter.id"] = t["recruiter.id"].replace("seed", "0")
    p = tmp_path / "s.csv"
    t.to_csv(p, index=False)
    ests = ["rds-ii", "ss", "hcg", "mean"] + (["rds-i", "rds-i-ds"] if variance != "neighbourhood" else [])
    args = ["rds", "estimate", str(p), "--var", "Y", "--population-size", "400,1000,2000", "--variance",
            variance, "--reps", "8", "--rng-seed", "3", "--json"]
    for e in ests:
        args += ["--estimator", e]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    # 3 levels × (rds-ii, mean, rds-i, rds-i-ds at one N + ss, hcg at three N)
    assert len(rows) == 3 * (len(ests) - 2 + 2 * 3)
    for r in rows:
        assert JSON_KEYS <= set(r)
        assert np.isfinite(r["estimate"]) and np.isfinite(r["se"]) and r["ci_low"] <= r["ci_high"]
        assert r["n"] == len(t)
