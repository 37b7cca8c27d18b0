"""Regression with survey weights and design-based standard errors (R ``svyglm``).

Coefficients come from a statsmodels GLM fitted with the final weights as prior
(variance) weights, normalised to mean 1 as R does. Standard errors are design-based:

* ``linearization``: the sandwich A⁻¹ B A⁻¹, where B is the design variance of the
  totals of the estimating-function contributions u_k = w_k x_k (y_k − μ_k)
  (dμ/dη)/V(μ_k) (computed by :func:`hiddenpop.weights.variance.linearization_variance`,
  so strata, PSUs, FPC, lonely-PSU policies and calibration residuals apply);
* replicates (``jk1``, ``jkn``, ``bootstrap`` or ready-made factors): the model is refitted
  with each replicate's weights.

Intervals are Wald intervals with t on ``df_residual`` = design df − p + 1 (R
``confint.svyglm``). ``dispersion`` is R's: the design-weighted variance (factor n/(n−1)) of the Pearson
residuals (y − μ)/√V(μ).

References
----------
Binder, D. A. (1983). On the variances of asymptotically normal estimators from complex
surveys. *International Statistical Review* 51, 279–292.
Lumley, T. & Scott, A. (2017). Fitting regression models to survey data. *Statistical Science* 32, 265–278.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from hiddenpop.errors import EstimationError
from hiddenpop.weights.design import Design, PreparedDesign, as_prepared
from hiddenpop.weights.variance import linearization_variance

__all__ = ["FAMILIES", "RegressionResult", "svyglm"]


def _families() -> dict[str, Any]:
    import statsmodels.api as sm

    return {
        "gaussian": sm.families.Gaussian,
        "quasipoisson": sm.families.Poisson,
        "poisson": sm.families.Poisson,
        "quasibinomial": sm.families.Binomial,
        "binomial": sm.families.Binomial,
    }


FAMILIES = ("gaussian", "quasipoisson", "poisson", "quasibinomial", "binomial")


@dataclass(frozen=True)
class RegressionResult:
    """Coefficients with design-based covariance.

    Attributes
    ----------
    params, se
        Coefficients and standard errors (pandas Series indexed by term).
    cov
        Covariance matrix (DataFrame).
    df_residual
        Design degrees of freedom − number of coefficients + 1.
    dispersion
        Weighted variance of the Pearson residuals (R ``summary.svyglm``).
    method
        Variance method.
    table
        ``term, estimate, se, ci_low, ci_high, t, p_value``.
    """

    params: pd.Series
    se: pd.Series
    cov: pd.DataFrame
    df_residual: int
    dispersion: float
    method: str
    family: str
    table: pd.DataFrame


def _fit(y: np.ndarray, x: np.ndarray, w: np.ndarray, family_name: str, *, max_iter: int = 25,
         epsilon: float = 1e-8):
    """IRLS as R ``glm.fit`` (same start, same deviance stopping rule), each step a statsmodels WLS.

    Returns (beta, mu, eta, working weights of the last step, family, prior weights).
    R's standard errors use the working weights of the *last* WLS step (evaluated before
    its update), so they are reproduced here rather than re-evaluated at the solution.
    """
    import statsmodels.api as sm

    fam = _families()[family_name]()
    pw = w / w.mean()
    if family_name in ("gaussian",):
        mu = y.astype(float).copy()
    elif family_name in ("poisson", "quasipoisson"):
        mu = y + 0.1
    else:
        mu = (pw * y + 0.5) / (pw + 1)
    eta = fam.link(mu)
    dev_old = float(np.sum(fam.resid_dev(y, mu, var_weights=pw) ** 2))
    beta = None
    for _ in range(max_iter):
        dmu = fam.link.inverse_deriv(eta)
        z = eta + (y - mu) / dmu
        work = pw * dmu ** 2 / fam.variance(mu)
        beta = np.asarray(sm.WLS(z, x, weights=work).fit(method="qr").params)
        eta = x @ beta
        mu = fam.link.inverse(eta)
        dev = float(np.sum(fam.resid_dev(y, mu, var_weights=pw) ** 2))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            break
        dev_old = dev
    else:
        raise EstimationError(f"the {family_name} model did not converge in {max_iter} IRLS steps",
                              fix="check for separation or extreme values")
    return beta, mu, eta, work, fam, pw


def svyglm(data: pd.DataFrame, formula: str, design: Design | PreparedDesign, *, family: str = "gaussian",
           variance: str = "linearization", replicates: Any = None, reps: int = 500, rng: Any = None,
           level: float = 0.95) -> RegressionResult:
    """Fit a weighted GLM with design-based standard errors (R ``svyglm``).

    Parameters
    ----------
    data
        Survey table.
    formula
        Patsy formula, e.g. ``"children_working ~ registered + sex_head + n_children"``.
    design
        Design spec or prepared design (its weights are the final weights).
    family
        ``gaussian``, ``quasipoisson``, ``quasibinomial`` (or ``poisson``/``binomial``; the
        design-based SEs are the same).
    variance
        ``linearization``, ``jk1``, ``jkn`` or ``bootstrap`` (needs ``rng``).
    replicates
        Ready-made :class:`~hiddenpop.weights.replicates.ReplicateFactors`.
    level
        Confidence level.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 5.0], "x": [0.0, 1.0, 2.0, 3.0], "w": [1.0] * 4,
    ...                    "c": [1, 2, 3, 4]})
    >>> fit = svyglm(df, "y ~ x", Design(weight_col="w", psu_col="c"))
    >>> fit.params.round(3).tolist()
    [0.8, 1.3]
    """
    import patsy

    if family not in FAMILIES:
        raise EstimationError(f"unknown family {family!r}", fix=f"use one of {', '.join(FAMILIES)}")
    prepared = as_prepared(data, design)
    try:
        y, x = patsy.dmatrices(formula, data, return_type="dataframe", NA_action="raise")
    except patsy.PatsyError as exc:
        raise EstimationError(f"cannot build the model {formula!r}: {exc}".splitlines()[0],
                              fix="check the variable names and that they have no missing values") from None
    names = list(x.columns)
    yv, xv = y.to_numpy()[:, 0], x.to_numpy()
    w = prepared.weights
    beta, mu, eta, work_w, fam, pw = _fit(yv, xv, w, family)
    dmu = fam.link.inverse_deriv(eta)
    var_mu = fam.variance(mu)
    a_inv = np.linalg.inv(xv.T @ (work_w[:, None] * xv))
    method = variance
    if replicates is None and variance == "linearization":
        estfun = xv * (work_w * (yv - mu) / dmu)[:, None]   # x · working residual · working weight
        cov = np.atleast_2d(linearization_variance(estfun @ a_inv, prepared))
    else:
        from hiddenpop.weights.replicates import make_replicates, with_replicates

        rf = replicates if replicates is not None else make_replicates(data, prepared, method=variance, reps=reps,
                                                                        rng=rng)
        method = rf.method
        out = with_replicates(rf, lambda m: _fit(yv, xv, w * np.maximum(m, 1e-300), family)[0], theta=beta)
        cov = out.variance
    pearson = (yv - mu) / np.sqrt(var_mu)
    n = np.count_nonzero(w)
    pbar = np.dot(w, pearson) / w.sum()
    dispersion = float(np.dot(w, (pearson - pbar) ** 2) / w.sum() * n / (n - 1))
    df_resid = prepared.degf - len(names) + 1
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    tq = float(stats.t.ppf(0.5 + level / 2, df_resid)) if df_resid > 0 else float("nan")
    tstat = beta / se
    table = pd.DataFrame({"term": names, "estimate": beta, "se": se, "ci_low": beta - tq * se,
                          "ci_high": beta + tq * se, "t": tstat,
                          "p_value": 2 * stats.t.sf(np.abs(tstat), df_resid) if df_resid > 0 else np.nan})
    return RegressionResult(pd.Series(beta, index=names), pd.Series(se, index=names),
                            pd.DataFrame(cov, index=names, columns=names), int(df_resid), dispersion, method,
                            family, table)
