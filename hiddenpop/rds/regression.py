"""Regression with RDS weights, and bootstrap replicate weights for R ``survey`` / Stata.

:func:`rds_regression` fits a survey-weighted (pseudo-likelihood) model with statsmodels: ``WLS``
for a linear model, ``GLM`` for the binomial, poisson and gaussian families, with the RDS weights
as variance weights (the point estimates equal R ``survey::svyglm``'s) and **cluster-robust**
standard errors with the recruitment chain (seed) as cluster: respondents of one chain are
dependent, respondents of different chains roughly independent. statsmodels' cluster covariance
uses the small-sample factor ``G/(G-1) · (n-1)/(n-p)`` (G chains, p coefficients); R ``svyglm``
uses ``G/(G-1)``. With few chains (< ~20) cluster-robust errors are unreliable: prefer the
bootstrap replicate errors of :func:`replicate_regression`.

:func:`replicate_weights` exports ``B`` bootstrap weight columns: replicate ``b`` gives respondent
``i`` the weight ``c_ib · w_i`` rescaled to sum to N (``c_ib`` = how often ``i`` appears in
replicate ``b`` of the tree/Salganik/SS/neighbourhood bootstrap, ``w_i`` the full-sample RDS
weight). Any statistic computed with each replicate weight column reproduces the bootstrap
replicate of that statistic, so the same analysis runs in R (``svrepdesign(type = "bootstrap")``)
or Stata (``svyset ..., bsrweight() vce(bootstrap)``); see docs/rds-variance.md.

Examples
--------
>>> import pandas as pd
>>> from hiddenpop.rds.sample import rds_sample_from_table
>>> t = pd.DataFrame({"id": range(1, 9), "recruiter.id": [0, 0, 1, 1, 2, 2, 3, 5],
...                   "network.size": [4, 6, 2, 5, 3, 8, 2, 4], "y": [1, 0, 1, 1, 0, 0, 1, 0],
...                   "age": [20, 35, 22, 41, 30, 28, 19, 50]})
>>> s = rds_sample_from_table(t)
>>> fit = rds_regression(s, "y ~ age", weights="rds-ii")
>>> fit.params.index.tolist(), fit.cov_type
(['Intercept', 'age'], 'cluster')
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import warnings

import numpy as np
import pandas as pd
import patsy
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import SpecificationWarning

from hiddenpop._checks import check_rng
from hiddenpop.errors import DesignError, EstimationError

__all__ = ["REGRESSION_FAMILIES", "rds_regression", "replicate_weights", "replicate_regression", "rds_model",
           "MODEL_VARIANCES", "OUTCOME_FREE_ESTIMATORS"]

REGRESSION_FAMILIES: dict[str, Callable[[], Any]] = {
    "gaussian": sm.families.Gaussian,
    "binomial": sm.families.Binomial,
    "poisson": sm.families.Poisson,
}

#: estimators whose weights do not depend on an outcome: one set of weights (and replicates) serves
#: every analysis; ``mean`` gives every respondent the same weight (the unweighted fit, for comparison)
OUTCOME_FREE_ESTIMATORS = ("rds-ii", "ss", "mean")


def _weights(sample: Any, weights: Any, *, population_size: Any, degree_rule: str, outcome: str | None) -> np.ndarray:
    if isinstance(weights, str):
        from hiddenpop.rds.estimators import rds_weights

        return np.asarray(rds_weights(sample, weights, outcome=outcome, population_size=population_size,
                                      degree_rule=degree_rule), dtype=float)
    w = np.asarray(weights, dtype=float).reshape(-1)
    if len(w) != sample.n:
        raise DesignError(f"{len(w)} weights for {sample.n} respondents", fix="give one weight per respondent")
    if not np.all(np.isfinite(w) & (w >= 0)):
        raise DesignError("weights must be finite and non-negative", fix="check the weight column")
    return w


def _design(data: pd.DataFrame, formula: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        y, X = patsy.dmatrices(formula, data, return_type="dataframe", NA_action="drop")
    except (patsy.PatsyError, KeyError, NameError) as exc:
        raise DesignError(f"cannot build the model {formula!r}: {exc}".splitlines()[0],
                          fix=f"use column names of the data ({', '.join(map(str, data.columns[:12]))}, ...)") from exc
    if y.shape[1] != 1:
        raise DesignError(f"the outcome of {formula!r} must be one numeric column (got {list(y.columns)})",
                          fix="code a categorical outcome as 0/1 first")
    return y, X


def rds_regression(sample: Any, formula: str, *, weights: Any = "rds-ii", family: str = "gaussian",
                   model: str = "glm", population_size: Any = None, degree_rule: str = "max",
                   cluster: str | None = "chain", weight_outcome: str | None = None) -> Any:
    """Fit a weighted regression with cluster-robust (by chain) standard errors.

    Parameters
    ----------
    sample : RDSSample
        The sample; ``formula`` refers to columns of ``sample.data``.
    formula : str
        A patsy formula, e.g. ``"hiv ~ age + C(sex)"``. Rows with missing values are dropped.
    weights : str or array
        An estimator name (``"rds-ii"``, ``"ss"``, ...) or one weight per respondent.
    family : {"gaussian", "binomial", "poisson"}
        GLM family (:data:`REGRESSION_FAMILIES`); ``model="wls"`` needs ``"gaussian"``.
    model : {"glm", "wls"}
        statsmodels ``GLM`` (variance weights) or ``WLS``.
    population_size, degree_rule
        For estimator weights.
    cluster : "chain" or None
        Cluster-robust covariance by recruitment chain (seed), or the model-based (``"HC0"``
        sandwich without clusters) when ``None``.
    weight_outcome : str, optional
        Outcome for outcome-specific weights (RDS-I, HCG).

    Returns
    -------
    statsmodels results
        ``params``, ``bse``, ``conf_int()``, ``summary()``; ``cov_type`` is ``"cluster"``.

    Raises
    ------
    DesignError
        Bad formula, weights or family.
    """
    if family not in REGRESSION_FAMILIES:
        raise DesignError(f"unknown family {family!r}", fix=f"use one of {', '.join(REGRESSION_FAMILIES)}")
    if model not in ("glm", "wls") or (model == "wls" and family != "gaussian"):
        raise DesignError(f"model {model!r} with family {family!r} is not available",
                          fix="use model='glm' (any family) or model='wls' (gaussian)")
    w = _weights(sample, weights, population_size=population_size, degree_rule=degree_rule, outcome=weight_outcome)
    y, X = _design(sample.data, formula)
    rows = y.index.to_numpy()
    wr = w[rows] / w[rows].mean()
    if model == "wls":
        mod = sm.WLS(y, X, weights=wr)
    else:
        mod = sm.GLM(y, X, family=REGRESSION_FAMILIES[family](), var_weights=wr)
    if cluster not in ("chain", None):
        raise DesignError(f"unknown cluster option {cluster!r}", fix="use 'chain' or None")
    with warnings.catch_warnings():
        # statsmodels flags robust covariances with var_weights as "not fully supported"; the cluster
        # sandwich it returns was checked against a hand-built one (tests/rds/test_regression.py)
        warnings.simplefilter("ignore", SpecificationWarning)
        if cluster is None:
            return mod.fit(cov_type="HC0")
        groups = sample.tree.seed[rows]
        if len(np.unique(groups)) < 2:
            raise EstimationError("cluster-robust errors need at least two recruitment chains; the sample has one",
                                  fix="use cluster=None or bootstrap replicate weights (replicate_regression)")
        return mod.fit(cov_type="cluster", cov_kwds={"groups": groups})


def replicate_weights(sample: Any, *, estimator: str = "rds-ii", method: str = "tree", reps: int = 1000,
                      rng: Any, outcome: str | None = None, population_size: Any = None,
                      degree_rule: str = "max", prefix: str = "repw_",
                      progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Bootstrap replicate weights for R ``survey`` / Stata.

    Parameters
    ----------
    sample : RDSSample
    estimator : {"rds-ii", "ss", "mean"}
        Full-sample weight (outcome-free estimators only: the same weights serve every analysis).
    method : str
        Bootstrap scheme (:data:`hiddenpop.rds.bootstrap.BOOTSTRAP_METHODS`); ``"salganik"`` and
        ``"ss"`` resample outcome groups and need ``outcome``.
    reps, rng, population_size, degree_rule, progress
        As for the bootstraps.
    prefix : str
        Replicate column prefix (``repw_1`` ... ``repw_B``).

    Returns
    -------
    pandas.DataFrame
        ``id``, ``chain`` (seed id), ``weight`` (sums to N, or n when N is unknown) and ``B``
        replicate columns, each summing to the same total.

    Examples
    --------
    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> t = pd.DataFrame({"id": [1, 2, 3, 4], "recruiter.id": [0, 1, 1, 0], "network.size": [2, 4, 4, 1]})
    >>> rw = replicate_weights(rds_sample_from_table(t), reps=3, rng=1, population_size=100)
    >>> rw.columns.tolist(), rw[["weight", "repw_1"]].sum().round(6).tolist()
    (['id', 'chain', 'weight', 'repw_1', 'repw_2', 'repw_3'], [100.0, 100.0])
    """
    from hiddenpop.rds.bootstrap import replicate_counts

    if estimator not in OUTCOME_FREE_ESTIMATORS:
        raise EstimationError(f"replicate weights are exported for {', '.join(OUTCOME_FREE_ESTIMATORS)}; {estimator!r} "
                              "weights depend on the outcome", fix="use --estimator rds-ii or ss")
    if outcome is None:
        if method in ("salganik", "ss"):
            raise EstimationError(f"the {method} bootstrap resamples outcome groups: name the outcome",
                                  fix="pass outcome= (the grouping variable), or use method='tree'")
        from dataclasses import replace
        sample = replace(sample, data=sample.data.assign(_hiddenpop_all_="all"))
        outcome = "_hiddenpop_all_"
    w = _weights(sample, estimator, population_size=population_size, degree_rule=degree_rule, outcome=None)
    total = w.sum()
    counts = replicate_counts(sample, method, reps=reps, rng=check_rng(rng), outcome=outcome, estimator="rds-ii",
                              population_size=population_size, degree_rule=degree_rule, progress=progress)
    rep = counts * w[None, :]
    rep *= (total / rep.sum(axis=1))[:, None]
    cols = {f"{prefix}{b + 1}": rep[b] for b in range(rep.shape[0])}
    return pd.concat([pd.DataFrame({"id": sample.ids, "chain": sample.tree.seed_ids(), "weight": w}),
                      pd.DataFrame(cols)], axis=1)


def replicate_regression(sample: Any, formula: str, rep_weights: pd.DataFrame, *, family: str = "gaussian",
                         prefix: str = "repw_") -> pd.DataFrame:
    """Refit a weighted GLM with every replicate weight column: bootstrap standard errors.

    The variance is ``sum_b (theta_b - mean theta)^2 / (B - 1)``, R ``svrepdesign(type = "bootstrap")``
    with ``mse = FALSE``.

    Returns
    -------
    pandas.DataFrame
        Index: coefficient names; columns ``estimate`` (full-sample weights), ``se`` (bootstrap),
        ``ci_low``, ``ci_high`` (percentile 95 %), ``reps``.

    Examples
    --------
    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> t = pd.DataFrame({"id": [1, 2, 3, 4, 5, 6], "recruiter.id": [0, 1, 1, 0, 4, 4],
    ...                   "network.size": [2, 4, 4, 1, 3, 5], "y": [1.0, 2.0, 0.5, 3.0, 2.5, 1.5]})
    >>> s = rds_sample_from_table(t)
    >>> out = replicate_regression(s, "y ~ 1", replicate_weights(s, reps=50, rng=2))
    >>> out.columns.tolist(), int(out.reps.iloc[0])
    (['estimate', 'se', 'ci_low', 'ci_high', 'reps'], 50)
    """
    if family not in REGRESSION_FAMILIES:
        raise DesignError(f"unknown family {family!r}", fix=f"use one of {', '.join(REGRESSION_FAMILIES)}")
    cols = [c for c in rep_weights.columns if str(c).startswith(prefix)]
    if not cols or len(rep_weights) != sample.n:
        found = (f"no column starts with {prefix!r}" if not cols
                 else f"they have {len(rep_weights)} rows, the sample has {sample.n} respondents")
        raise DesignError(f"replicate weights must have one row per respondent and columns {prefix}1..{prefix}B; "
                          f"{found}", fix="build them with replicate_weights(sample, ...) from this same sample, "
                          "or pass prefix= matching their column names")
    y, X = _design(sample.data, formula)
    rows = y.index.to_numpy()
    fam = REGRESSION_FAMILIES[family]
    full = sm.GLM(y, X, family=fam(), var_weights=rep_weights["weight"].to_numpy()[rows]).fit()
    W = rep_weights[cols].to_numpy()[rows]
    y_arr, X_arr, start = y.to_numpy(), X.to_numpy(), full.params.to_numpy()   # no pandas in the loop
    est = np.full((len(cols), X.shape[1]), np.nan)
    for b in range(len(cols)):
        wb = W[:, b]
        keep = wb > 0
        try:
            est[b] = sm.GLM(y_arr[keep], X_arr[keep], family=fam(), var_weights=wb[keep]).fit(
                start_params=start).params
        except (ValueError, np.linalg.LinAlgError):
            continue
    good = np.all(np.isfinite(est), axis=1)
    r = est[good]
    return pd.DataFrame({"estimate": full.params.to_numpy(), "se": r.std(axis=0, ddof=1),
                         "ci_low": np.quantile(r, 0.025, axis=0), "ci_high": np.quantile(r, 0.975, axis=0),
                         "reps": int(good.sum())}, index=X.columns)


#: variance methods of :func:`rds_model`: bootstraps that need no outcome grouping, or "chain"
MODEL_VARIANCES = ("tree", "neighbourhood", "chain")


def rds_model(sample: Any, formula: str, *, family: str = "gaussian", estimator: str = "rds-ii",
              variance: str = "tree", reps: int = 1000, rng: Any = None, level: float = 0.95, ratios: bool = False,
              population_size: Any = None, degree_rule: str = "max",
              progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """A weighted regression on an RDS sample with bootstrap (or chain-clustered) standard errors.

    The same shape of answer as :func:`hiddenpop.weights.model.fit_model` for a survey:
    one row per coefficient with ``term, estimate, se, ci_low, ci_high, z, p_value`` (and
    ``ratio, ratio_ci_low, ratio_ci_high`` = exp of the estimate and interval ends with
    ``ratios=True``: odds ratios for binomial, rate ratios for poisson), plus ``reps`` (the
    bootstrap replicates that converged) and ``method``.

    * ``variance="tree"`` / ``"neighbourhood"``: the model is refitted with every bootstrap
      replicate's weights (:func:`replicate_weights` → :func:`replicate_regression`); the SE is
      the replicates' standard deviation.
    * ``variance="chain"``: cluster-robust SEs with the recruitment chain as cluster
      (:func:`rds_regression`); unreliable with fewer than ~20 chains.

    Intervals are estimate ± z·SE at ``level`` and p-values two-sided normal (as the RDS
    estimates' default ``t`` interval). Models the data cannot identify (collinear columns, a
    perfectly separated outcome) are refused naming the columns, as in the survey model.

    Examples
    --------
    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> g = np.random.default_rng(0)
    >>> t = pd.DataFrame({"id": range(1, 61), "recruiter.id": [0] * 6 + [i // 2 for i in range(2, 56)],
    ...                   "network.size": g.integers(2, 9, 60), "age": g.integers(18, 60, 60)})
    >>> t["y"] = 0.05 * t["age"] + g.normal(size=60)
    >>> m = rds_model(rds_sample_from_table(t), "y ~ age", reps=50, rng=3)
    >>> m.columns.tolist()[:7], int(m["reps"].iloc[0])
    (['term', 'estimate', 'se', 'ci_low', 'ci_high', 'z', 'p_value'], 50)
    """
    from scipy import stats

    from hiddenpop.weights.model import check_identifiable, readable_term

    if family not in REGRESSION_FAMILIES:
        raise DesignError(f"unknown family {family!r}", fix=f"use one of {', '.join(REGRESSION_FAMILIES)}")
    if variance not in MODEL_VARIANCES:
        raise DesignError(f"unknown variance method {variance!r} for a model",
                          fix=f"use one of {', '.join(MODEL_VARIANCES)}")
    if ratios and family == "gaussian":
        raise EstimationError("odds or rate ratios need family binomial or poisson",
                              fix="drop the ratio option, or fit a binomial/poisson model")
    y, X = _design(sample.data, formula)
    w = _weights(sample, estimator, population_size=population_size, degree_rule=degree_rule, outcome=None)
    rows = y.index.to_numpy()
    used = w[rows] > 0
    names = [readable_term(str(c)) for c in X.columns]
    check_identifiable(y.to_numpy()[used, 0], X.to_numpy()[used], names,
                       {"gaussian": "gaussian", "binomial": "quasibinomial", "poisson": "quasipoisson"}[family],
                       outcome=str(y.columns[0]))
    if variance == "chain":
        fit = rds_regression(sample, formula, weights=w, family=family)
        est, se = fit.params.to_numpy(), fit.bse.to_numpy()
        n_reps = np.nan
    else:
        rw = replicate_weights(sample, estimator=estimator, method=variance, reps=reps, rng=rng,
                               population_size=population_size, degree_rule=degree_rule, progress=progress)
        out = replicate_regression(sample, formula, rw, family=family)
        est, se = out["estimate"].to_numpy(), out["se"].to_numpy()
        n_reps = int(out["reps"].iloc[0])
    z = float(stats.norm.ppf(0.5 + level / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        zstat = est / se
    table = pd.DataFrame({"term": names, "estimate": est, "se": se, "ci_low": est - z * se, "ci_high": est + z * se,
                          "z": zstat, "p_value": 2 * stats.norm.sf(np.abs(zstat))})
    if ratios:
        for c, src in (("ratio", "estimate"), ("ratio_ci_low", "ci_low"), ("ratio_ci_high", "ci_high")):
            table[c] = np.exp(table[src])
    table["reps"] = n_reps
    table["method"] = variance
    return table
