"""``rds_model`` / ``hiddenpop rds model`` on the fauxmadrona sample (tests/data/rds_oracle/data/fauxmadrona.csv).

Expected values come from two independent routes: the existing rds_regression (cluster SEs,
point estimates) and replicate_weights + replicate_regression with the same seed (bootstrap SEs).
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from hiddenpop.cli import main
from hiddenpop.errors import EstimationError
from hiddenpop.rds.regression import rds_model, rds_regression, replicate_regression, replicate_weights
from hiddenpop.rds.sample import rds_sample_from_table
from tests.conftest import RDS_ORACLE

FAUX = RDS_ORACLE / "data" / "fauxmadrona.csv"
TABLE = pd.read_csv(FAUX)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    SAMPLE = rds_sample_from_table(TABLE, degree_col="degree")


def test_bootstrap_model_equals_replicate_regression():
    m = rds_model(SAMPLE, "disease ~ degree", family="binomial", reps=60, rng=np.random.default_rng(5), ratios=True)
    rw = replicate_weights(SAMPLE, reps=60, rng=np.random.default_rng(5))
    ref = replicate_regression(SAMPLE, "disease ~ degree", rw, family="binomial")
    np.testing.assert_allclose(m["estimate"], ref["estimate"], rtol=1e-12)
    np.testing.assert_allclose(m["se"], ref["se"], rtol=1e-12)
    np.testing.assert_allclose(m["ratio"], np.exp(m["estimate"]), rtol=1e-15)
    assert m["term"].tolist() == ["Intercept", "degree"] and (m["reps"] == 60).all()
    # point estimate = the weighted fit of rds_regression (RDS-II weights)
    fit = rds_regression(SAMPLE, "disease ~ degree", family="binomial")
    np.testing.assert_allclose(m["estimate"], fit.params, rtol=1e-6)


def test_chain_variance_is_the_cluster_sandwich():
    m = rds_model(SAMPLE, "disease ~ degree", variance="chain")
    fit = rds_regression(SAMPLE, "disease ~ degree")
    np.testing.assert_allclose(m["se"], fit.bse, rtol=1e-12)
    z = 1.959963984540054   # qnorm(0.975)
    np.testing.assert_allclose(m["ci_high"], fit.params + z * fit.bse, rtol=1e-12)


def test_separated_model_is_refused():
    data = TABLE.assign(sick_flag=TABLE["disease"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = rds_sample_from_table(data, degree_col="degree")
    with pytest.raises(EstimationError, match="perfectly separated.*'sick_flag'"):
        rds_model(s, "disease ~ sick_flag", family="binomial", reps=5, rng=1)


def test_cli_json(runner):
    res = runner.invoke(main, ["rds", "model", str(FAUX), "--degree-col", "degree", "--formula", "disease ~ degree",
                               "--family", "poisson", "--ratios", "--reps", "30", "--rng-seed", "2", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [c["term"] for c in out["coefficients"]] == ["Intercept", "degree"]
    m = rds_model(SAMPLE, "disease ~ degree", family="poisson", reps=30, rng=np.random.default_rng(2), ratios=True)
    assert out["coefficients"][1]["se"] == pytest.approx(float(m["se"].iloc[1]), rel=1e-12)
    res = runner.invoke(main, ["rds", "model", str(FAUX), "--degree-col", "degree", "--formula", "disease ~ degree"])
    assert res.exit_code == 2 and "--rng-seed is required" in res.output


def test_cli_estimator_mean_is_the_unweighted_fit(runner):
    # --estimator comes from OUTCOME_FREE_ESTIMATORS, which includes mean: every respondent weighs the
    # same, so the coefficients are those of an ordinary (unweighted) GLM on the same rows (second route:
    # statsmodels' GLM without weights on fauxmadrona).
    import statsmodels.api as sm

    res = runner.invoke(main, ["rds", "model", str(FAUX), "--degree-col", "degree", "--formula", "disease ~ degree",
                               "--family", "binomial", "--estimator", "mean", "--reps", "20", "--rng-seed", "3",
                               "--json"])
    assert res.exit_code == 0, res.output
    got = [c["estimate"] for c in json.loads(res.stdout)["coefficients"]]
    fit = sm.GLM(TABLE["disease"], sm.add_constant(TABLE["degree"].astype(float)),
                 family=sm.families.Binomial()).fit()
    assert got == pytest.approx(list(fit.params), rel=1e-8)
