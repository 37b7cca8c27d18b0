"""Regression with RDS weights and bootstrap replicate weights (fauxmadrona sample,
tests/data/rds_oracle/data/fauxmadrona.csv). Expected values come from independent routes:
closed-form weighted least squares, a hand-built cluster sandwich, and the bootstrap module."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from hiddenpop.errors import DesignError, EstimationError
from hiddenpop.rds.bootstrap import tree_bootstrap
from hiddenpop.rds.regression import rds_regression, replicate_regression, replicate_weights
from hiddenpop.rds.sample import rds_sample_from_table
from tests.conftest import RDS_ORACLE

TABLE = pd.read_csv(RDS_ORACLE / "data" / "fauxmadrona.csv")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    SAMPLE = rds_sample_from_table(TABLE, degree_col="degree", population_size=1000)
W = 1 / SAMPLE.clean_degree(warn=False)
X = np.column_stack([np.ones(SAMPLE.n), TABLE["degree"].to_numpy(float)])
Y = TABLE["disease"].to_numpy(float)


def test_wls_equals_closed_form_and_intercept_is_rds_ii():
    fit = rds_regression(SAMPLE, "disease ~ degree", weights="rds-ii", model="wls")
    beta = np.linalg.solve((X * W[:, None]).T @ X, (X * W[:, None]).T @ Y)      # (X'WX)^-1 X'Wy
    np.testing.assert_allclose(fit.params.to_numpy(), beta, rtol=1e-10)
    # intercept-only weighted mean = RDS-II estimate of P(disease = 1): 0.164149290444997 (reference.csv)
    fit0 = rds_regression(SAMPLE, "disease ~ 1", weights="rds-ii", family="binomial")
    p = 1 / (1 + np.exp(-fit0.params.iloc[0]))
    assert p == pytest.approx(0.164149290444997, rel=1e-9)


@pytest.mark.parametrize("family", ["gaussian", "binomial", "poisson"])
def test_cluster_robust_se_equals_hand_sandwich(family):
    fit = rds_regression(SAMPLE, "disease ~ degree", weights="rds-ii", family=family)
    b = fit.params.to_numpy()
    eta = X @ b
    mu = {"gaussian": eta, "binomial": 1 / (1 + np.exp(-eta)), "poisson": np.exp(eta)}[family]
    var = {"gaussian": np.ones_like(mu), "binomial": mu * (1 - mu), "poisson": mu}[family]
    w = W / W.mean()
    bread = np.linalg.inv((X * (w * var)[:, None]).T @ X)
    score = X * (w * (Y - mu))[:, None]
    chains = SAMPLE.tree.seed
    S = np.array([score[chains == c].sum(axis=0) for c in np.unique(chains)])
    G, (n, k) = len(S), X.shape
    V = bread @ (S.T @ S) @ bread * G / (G - 1) * (n - 1) / (n - k)           # statsmodels' factor
    np.testing.assert_allclose(fit.bse.to_numpy(), np.sqrt(np.diag(V)), rtol=1e-6)
    assert fit.cov_type == "cluster"


def test_replicate_weights_reproduce_bootstrap_replicates():
    # svymean with replicate column b == bootstrap replicate b (same rng -> same resamples)
    rw = replicate_weights(SAMPLE, estimator="rds-ii", method="tree", reps=200, rng=42)
    boot = tree_bootstrap(SAMPLE, estimator="rds-ii", outcome="disease", reps=200, rng=42)
    R = rw.filter(like="repw_").to_numpy()
    est = (R * Y[:, None]).sum(axis=0) / R.sum(axis=0)
    np.testing.assert_allclose(est, boot.replicates[:, 1], rtol=1e-12)
    np.testing.assert_allclose(R.sum(axis=0), 1000)                                # each sums to N
    assert rw["weight"].sum() == pytest.approx(1000)
    # the bootstrap SE of the intercept-only linear model = the bootstrap SE of the proportion
    out = replicate_regression(SAMPLE, "disease ~ 1", rw)
    assert out.loc["Intercept", "se"] == pytest.approx(boot.se[1], rel=1e-6)


def test_replicate_weights_ss_bootstrap_and_errors():
    rw = replicate_weights(SAMPLE, estimator="ss", method="ss", outcome="disease", reps=5, rng=1)
    assert rw.shape == (500, 3 + 5)
    with pytest.raises(EstimationError, match="name the outcome"):
        replicate_weights(SAMPLE, method="salganik", reps=5, rng=1)
    with pytest.raises(EstimationError, match="depend on the outcome"):
        replicate_weights(SAMPLE, estimator="rds-i", reps=5, rng=1)
    with pytest.raises(DesignError, match="they have 499 rows, the sample has 500 respondents"):
        replicate_regression(SAMPLE, "disease ~ 1", rw.iloc[:-1])
    with pytest.raises(DesignError, match="no column starts with 'bw_'"):
        replicate_regression(SAMPLE, "disease ~ 1", rw, prefix="bw_")
    with pytest.raises(DesignError, match="cannot build the model"):
        rds_regression(SAMPLE, "disease ~ no_such_column")
    with pytest.raises(DesignError, match="unknown family"):
        rds_regression(SAMPLE, "disease ~ degree", family="gamma")
    with pytest.raises(DesignError, match="weights"):
        rds_regression(SAMPLE, "disease ~ degree", weights=np.ones(3))
    one_chain = rds_sample_from_table(pd.DataFrame({"id": [1, 2, 3, 4], "recruiter.id": [0, 1, 1, 2],
                                                    "network.size": [2, 3, 4, 5], "y": [1.0, 2.0, 2.5, 4.0]}))
    with pytest.raises(EstimationError, match="two recruitment chains"):
        rds_regression(one_chain, "y ~ 1")
    assert rds_regression(one_chain, "y ~ 1", cluster=None).cov_type == "HC0"
