"""Survey-weighted regression models with design-based standard errors (R ``svyglm``).

:func:`fit_model` fits a linear (``gaussian``), logistic (``binomial``: R's
``quasibinomial``) or log-linear (``poisson``: R's ``quasipoisson``) model by iteratively
reweighted least squares exactly as R ``glm.fit`` (same start, same deviance stopping rule,
prior weights = the survey weights scaled to mean 1), and gives

* **standard errors** from the design: linearisation (the sandwich A⁻¹ B A⁻¹, B the
  design variance of the estimating-function totals, with the strata, PSUs, FPC, lonely-PSU
  policy and calibration residuals of the design; Binder 1983), or replicates (the model is
  refitted with every replicate's weights, started at the full-sample coefficients with the
  weights scaled to sum 1, as R ``svyglm.svyrep.design``);
* **intervals and p-values** with t on the residual degrees of freedom
  ``design df − number of coefficients + 1`` (R ``confint.svyglm`` / ``summary.svyglm``);
  the design df counts the PSUs and strata that keep a row after rows with missing values
  are dropped (R ``degf``);
* **design effects** (R ``svyglm(deff=TRUE)``): the design variance of each coefficient over
  its model-based variance, i.e. that of an ordinary weighted GLM fit (quasi-likelihood
  dispersion Σ W r²/(n − p) times (X'WX)⁻¹, weights scaled to mean 1): how much the
  clustering and stratification change the precision the model alone would claim;
* odds ratios (binomial) or rate ratios (poisson) on request: exp of the coefficient and of
  its interval ends.

A model the data cannot identify is refused before fitting, naming the columns:
rank-deficient design matrices (a column that is a combination of earlier ones, which R
would silently drop as ``NA``) and perfectly separated binomial or poisson outcomes (the
estimate would run off to infinity; detected with the linear program of Konis 2007).

Rows with a missing value in a model variable are left out of the fit (R
``na.action=na.omit``) but stay in the design with no influence, so strata and PSUs keep
their count in the variance.

References
----------
Binder, D. A. (1983). On the variances of asymptotically normal estimators from complex
surveys. *International Statistical Review* 51, 279–292.
Lumley, T. & Scott, A. (2017). Fitting regression models to survey data. *Statistical
Science* 32, 265–278.
Konis, K. (2007). *Linear programming algorithms for detecting separated data in binary
logistic regression models*. DPhil thesis, University of Oxford.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from hiddenpop.errors import EstimationError
from hiddenpop.weights.design import Design, PreparedDesign, as_prepared
from hiddenpop.weights.variance import linearization_variance

__all__ = ["MODEL_FAMILIES", "ModelResult", "fit_model", "format_model", "model_matrices", "check_identifiable",
           "readable_term"]

#: family name → R family whose estimates and design-based SEs it reproduces
MODEL_FAMILIES = {"gaussian": "gaussian", "binomial": "quasibinomial", "quasibinomial": "quasibinomial",
                  "poisson": "quasipoisson", "quasipoisson": "quasipoisson"}
_EPS = np.finfo(float).eps


# ---------------------------------------------------------------------------------------
# families as R's stats::gaussian(), binomial() (logit) and poisson() (log)
class _Gaussian:
    name = "gaussian"

    @staticmethod
    def linkinv(eta):
        return eta

    @staticmethod
    def mu_eta(eta):
        return np.ones_like(eta)

    @staticmethod
    def variance(mu):
        return np.ones_like(mu)

    @staticmethod
    def dev(y, mu, wt):
        return float(np.sum(wt * (y - mu) ** 2))

    @staticmethod
    def mustart(y, wt):
        return y.astype(float).copy()


def _ylogy(y, mu):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, y * np.log(y / mu), 0.0)


class _Binomial:
    name = "binomial"

    @staticmethod
    def linkinv(eta):
        tmp = np.where(eta < -30, _EPS, np.where(eta > 30, 1 / _EPS, np.exp(np.clip(eta, -30, 30))))
        return tmp / (1 + tmp)

    @staticmethod
    def mu_eta(eta):
        e = np.exp(np.clip(eta, -30, 30))
        return np.where(np.abs(eta) > 30, _EPS, e / (1 + e) ** 2)

    @staticmethod
    def variance(mu):
        return mu * (1 - mu)

    @staticmethod
    def dev(y, mu, wt):
        return float(np.sum(2 * wt * (_ylogy(y, mu) + _ylogy(1 - y, 1 - mu))))

    @staticmethod
    def mustart(y, wt):
        return (wt * y + 0.5) / (wt + 1)


class _Poisson:
    name = "poisson"

    @staticmethod
    def linkinv(eta):
        return np.maximum(np.exp(eta), _EPS)

    @staticmethod
    def mu_eta(eta):
        return np.maximum(np.exp(eta), _EPS)

    @staticmethod
    def variance(mu):
        return mu

    @staticmethod
    def dev(y, mu, wt):
        return float(np.sum(2 * wt * (_ylogy(y, mu) - (y - mu))))

    @staticmethod
    def mustart(y, wt):
        return y + 0.1


_FAMILY = {"gaussian": _Gaussian, "quasibinomial": _Binomial, "quasipoisson": _Poisson}


def _link(fam, mu):
    if fam is _Gaussian:
        return mu
    if fam is _Binomial:
        return np.log(mu / (1 - mu))
    return np.log(mu)


def _wls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares min ||a x - b|| by Householder QR (as LAPACK/R), written with einsum.

    The model matrices are tall and thin (n rows, p < ~50 columns): p reflections of
    O(n·p) each. einsum keeps it on one thread; a threaded BLAS QR of such a thin matrix
    spends most of its time synchronising threads on a busy machine.
    """
    r = np.array(a, dtype=float, order="F")
    qtb = np.array(b, dtype=float)
    n, p = r.shape
    for k in range(p):
        col = r[k:, k]
        alpha = -np.copysign(np.sqrt(np.einsum("i,i->", col, col)), col[0])
        v = col.copy()
        v[0] -= alpha
        vv = np.einsum("i,i->", v, v)
        if vv == 0:
            continue
        r[k:, k + 1:] -= np.outer(v, np.einsum("i,ij->j", v, r[k:, k + 1:]) * (2 / vv))
        qtb[k:] -= v * (2 * np.einsum("i,i->", v, qtb[k:]) / vv)
        r[k, k] = alpha
    from scipy.linalg import solve_triangular

    return solve_triangular(r[:p, :p], qtb[:p])


def _irls(y: np.ndarray, x: np.ndarray, wt: np.ndarray, fam, *, start: np.ndarray | None = None,
          epsilon: float = 1e-8, max_iter: int = 25):
    """R ``glm.fit``: returns (beta, mu, eta, working weights of the last step, converged)."""
    good_w = wt > 0
    if start is None:
        mu = fam.mustart(y, wt)
        eta = _link(fam, mu)
    else:
        eta = x @ start
        mu = fam.linkinv(eta)
    dev_old = fam.dev(y, mu, wt)
    beta = start
    work = None
    for _ in range(max_iter):
        dmu = fam.mu_eta(eta)
        good = good_w & (dmu != 0)
        z = eta[good] + (y - mu)[good] / dmu[good]
        work = np.zeros_like(wt)
        work[good] = wt[good] * dmu[good] ** 2 / fam.variance(mu)[good]
        s = np.sqrt(work[good])
        beta = _wls(x[good] * s[:, None], z * s)
        eta = x @ beta
        mu = fam.linkinv(eta)
        dev = fam.dev(y, mu, wt)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            return beta, mu, eta, work, True
        dev_old = dev
    return beta, mu, eta, work, False


# ---------------------------------------------------------------------------------------
def model_matrices(data: pd.DataFrame, formula: str) -> tuple[pd.Series, pd.DataFrame, np.ndarray]:
    """Outcome, design matrix (all rows, NaN where a model variable is missing) and the
    mask of complete rows, from a patsy formula such as ``"works ~ registered + C(age_group)"``.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, 0.0, None], "sex": ["F", "M", "F"]})
    >>> y, x, ok = model_matrices(df, "y ~ sex")
    >>> list(x.columns), ok.tolist()
    (['Intercept', 'sex[T.M]'], [True, True, False])
    """
    import patsy

    data = data.reset_index(drop=True)
    try:
        y, x = patsy.dmatrices(formula, data, return_type="dataframe", NA_action=patsy.NAAction(NA_types=["None",
                                                                                                          "NaN"]))
    except (patsy.PatsyError, KeyError, NameError, SyntaxError, TypeError) as exc:
        msg = str(exc).splitlines()[0]
        raise EstimationError(f"cannot build the model {formula!r}: {msg}",
                              fix=f"use column names of the data ({', '.join(map(str, data.columns[:12]))}"
                                  f"{', ...' if data.shape[1] > 12 else ''}), and C(column) for a categorical one"
                              ) from None
    if y.shape[1] != 1:
        raise EstimationError(f"the outcome of {formula!r} must be one numeric column (got {list(y.columns)})",
                              fix="code a categorical outcome as 0/1 first")
    ok = np.zeros(len(data), dtype=bool)
    ok[y.index.to_numpy()] = True
    yy = pd.Series(np.nan, index=data.index, name=y.columns[0])
    yy.loc[y.index] = y.iloc[:, 0].to_numpy(dtype=float)
    xx = pd.DataFrame(np.nan, index=data.index, columns=x.columns)
    xx.loc[x.index] = x.to_numpy(dtype=float)
    return yy, xx, ok


def readable_term(term: str) -> str:
    """A patsy column name in the survey's words: ``C(age)[T.30-44]`` → ``age=30-44``,
    ``sex[T.M]:registered`` → ``sex=M:registered``.

    >>> readable_term("C(age_group)[T.30-44]"), readable_term("sex[T.M]"), readable_term("n_children")
    ('age_group=30-44', 'sex=M', 'n_children')
    """
    import re

    def one(piece: str) -> str:
        m = re.fullmatch(r"(?:C\((\w+)(?:,[^)]*)?\)|(\w+))\[(?:T\.)?(.*)\]", piece)
        return f"{m.group(1) or m.group(2)}={m.group(3)}" if m else piece

    return ":".join(one(p) for p in term.split(":"))


def check_identifiable(y: np.ndarray, x: np.ndarray, names: list[str], family: str, *,
                       outcome: str = "outcome", rows: np.ndarray | None = None) -> None:
    """Refuse a rank-deficient or perfectly separated model, naming the columns involved.

    ``y``, ``x`` hold the rows used in the fit (positive weight, complete); ``rows`` their
    0-based positions in the data, to name a bad row as the file's row number (header = row 1).

    Examples
    --------
    >>> x = np.column_stack([np.ones(4), [0, 0, 1, 1], [0, 0, 2, 2]])
    >>> check_identifiable(np.array([1.0, 2, 3, 4]), x, ["Intercept", "a", "b"], "gaussian")
    Traceback (most recent call last):
    ...
    hiddenpop.errors.EstimationError: the model cannot be estimated: column 'b' is a combination of 'a' ...
    """
    n, p = x.shape
    if n <= p:
        raise EstimationError(f"the model has {p} coefficients but only {n} usable rows",
                              fix="use fewer terms, or check for missing values in the model variables")
    kept: list[int] = []
    for j in range(p):
        col = x[:, j]
        norm = float(np.linalg.norm(col))
        if norm == 0:
            raise EstimationError(f"the model cannot be estimated: column '{names[j]}' is zero in every row used",
                                  fix="drop it from the formula (a level with no respondent, or a constant 0)")
        if kept:
            coef, *_ = np.linalg.lstsq(x[:, kept], col, rcond=None)
            resid = col - x[:, kept] @ coef
            if np.linalg.norm(resid) <= 1e-7 * norm:
                involved = [names[k] for k, c in zip(kept, coef) if abs(c) > 1e-8]
                raise EstimationError(
                    f"the model cannot be estimated: column '{names[j]}' is a combination of "
                    f"{', '.join(repr(v) for v in involved)} (rank-deficient: the columns are collinear)",
                    fix=f"drop '{names[j]}' or one of the others from the formula")
        kept.append(j)
    def row_of(bad: np.ndarray) -> str:
        i = int(np.flatnonzero(bad)[0])
        return f"row {int(rows[i]) + 2}, " if rows is not None else ""

    if family == "quasibinomial":
        bad = (y < 0) | (y > 1)
        if bad.any():
            raise EstimationError(f"a binomial model needs an outcome between 0 and 1; {row_of(bad)}column "
                                  f"'{outcome}' has {float(y[bad][0])!r}", fix="code the outcome as 0/1")
        if np.all((y == 0) | (y == 1)):
            _separation(x, names, np.where(y == 1, 1.0, -1.0), None, outcome)
    elif family == "quasipoisson":
        if np.any(y < 0):
            raise EstimationError(f"a poisson model needs counts ≥ 0; {row_of(y < 0)}column '{outcome}' has "
                                  f"{float(y[y < 0][0])!r}",
                                  fix="use family gaussian for an outcome that can be negative")
        _separation(x, names, None, y > 0, outcome)


def _separation(x: np.ndarray, names: list[str], sign: np.ndarray | None, positive: np.ndarray | None,
                outcome: str) -> None:
    """Konis' linear program: is there a direction b ≠ 0 along which the likelihood keeps rising?

    Binomial: s_i x_i'b ≥ 0 for every row (s = ±1 for y = 1/0), some strict. Poisson:
    x_i'b = 0 where y > 0 and x_i'b ≤ 0 where y = 0, some strict. Found → refuse.
    """
    from scipy.optimize import linprog

    p = x.shape[1]
    bounds = [(-1.0, 1.0)] * p
    if sign is not None:
        a = sign[:, None] * x
        res = linprog(-a.sum(axis=0), A_ub=-a, b_ub=np.zeros(len(a)), bounds=bounds, method="highs")
        kind = "perfectly separated: some combination of these columns predicts the 0/1 outcome exactly"
    else:
        zero = ~positive
        if not zero.any():
            return
        a_eq = x[positive] if positive.any() else None
        res = linprog(x[zero].sum(axis=0), A_ub=x[zero], b_ub=np.zeros(int(zero.sum())),
                      A_eq=a_eq, b_eq=np.zeros(len(a_eq)) if a_eq is not None else None, bounds=bounds,
                      method="highs")
        kind = "not estimable: the outcome is 0 in every row where these columns point (a rate of exactly 0)"
    if res.status != 0 or -res.fun <= 1e-7 * max(1.0, float(np.abs(x).max())):
        return
    b = res.x
    involved = [names[j] for j in np.argsort(-np.abs(b)) if abs(b[j]) > 1e-6 * np.abs(b).max()]
    shown = [v for v in involved if v != "Intercept"] or involved
    raise EstimationError(f"the model for '{outcome}' is {kind}: {', '.join(repr(v) for v in shown)}",
                          fix="drop or merge these terms (a level, or the reference level, where the outcome is "
                              "always 0 or always 1: merge it into a neighbouring level), or report the percentages "
                              "instead of a model")


# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelResult:
    """A fitted survey model.

    Attributes
    ----------
    table
        One row per coefficient (``term`` in the survey's words: ``sex=M`` for the
        ``sex`` level ``M`` against the reference level): ``term, estimate, se, ci_low, ci_high, t, p_value, deff``
        (and ``ratio, ratio_ci_low, ratio_ci_high`` = exp of estimate and interval ends when
        odds/rate ratios were asked for).
    cov
        Design-based covariance of the coefficients (DataFrame).
    df_residual
        Design df − number of coefficients + 1 (t quantiles and p-values use it).
    dispersion
        Weighted variance of the Pearson residuals (R ``summary.svyglm``); with replicates their
        weighted mean square (R ``summary.svrepglm``).
    family
        R family reproduced: ``gaussian``, ``quasibinomial`` or ``quasipoisson``.
    method, n, formula, level, converged
        Variance method, rows used, the formula, confidence level, IRLS converged.
    """

    table: pd.DataFrame
    cov: pd.DataFrame
    df_residual: int
    dispersion: float
    family: str
    method: str
    n: int
    formula: str
    level: float
    ratio_name: str | None = None
    replicate_failures: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def params(self) -> pd.Series:
        return self.table.set_index("term")["estimate"]

    @property
    def se(self) -> pd.Series:
        return self.table.set_index("term")["se"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (NaN → None)."""
        def clean(v):
            if isinstance(v, (float, np.floating)):
                return float(v) if math.isfinite(v) else None
            if isinstance(v, np.integer):
                return int(v)
            if isinstance(v, np.bool_):
                return bool(v)
            return v

        return {"formula": self.formula, "family": self.family, "method": self.method, "n": self.n,
                "df_residual": self.df_residual, "dispersion": clean(self.dispersion), "level": self.level,
                "ratio": self.ratio_name, "notes": list(self.notes),
                "coefficients": [{k: clean(v) for k, v in r.items()} for r in self.table.to_dict("records")]}


def _design_df(prepared: PreparedDesign, used: np.ndarray) -> int:
    """R ``degf``: PSUs minus strata among the rows that keep a positive weight in the fit."""
    return int(len(np.unique(prepared.psu_codes[used])) - len(np.unique(prepared.stratum_codes[used])))


def fit_model(data: pd.DataFrame, formula: str, design: Design | PreparedDesign, *, family: str = "gaussian",
              variance: str = "linearization", replicates: Any = None, reps: int = 500, rng: Any = None,
              level: float = 0.95, ratios: bool = False, design_df: int | None = None,
              subpop: np.ndarray | None = None) -> ModelResult:
    """Fit a survey-weighted GLM with design-based SEs, intervals, p-values and design effects.

    Parameters
    ----------
    data
        Survey table.
    formula
        Patsy formula: ``"works ~ registered + sex + C(age_group)"``.
    design
        Design spec or prepared design (weights, strata, PSUs, FPC, lonely-PSU policy).
    family
        ``gaussian``, ``binomial`` (R ``quasibinomial``) or ``poisson`` (R ``quasipoisson``).
    variance
        ``linearization``, ``jk1``, ``jkn``, ``bootstrap`` (needs ``rng``) or ``replicate``
        (the design's replicate weight columns).
    replicates
        Ready-made replicate factors or weights (override ``variance``).
    reps, rng
        Bootstrap replicates and random generator.
    level
        Confidence level.
    ratios
        Add odds ratios (binomial) or rate ratios (poisson): exp of coefficient and interval.
    design_df
        Design degrees of freedom to use instead of the design's own (e.g. R's
        ``degf(svrepdesign)`` for replicate weights made elsewhere).
    subpop
        Boolean mask of the domain (subpopulation) the model is about. Rows outside it keep
        their place in the design (strata, PSUs, replicates) and contribute nothing to the fit,
        as rows with a missing model variable do: R ``svyglm(design = subset(design, ...))``.
        Not the same as fitting on the subset of rows, which would lose the PSUs without a
        domain row from the variance.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 5.0, 4.0, 6.0], "x": [0.0, 1.0, 2.0, 3.0, 3.0, 5.0],
    ...                    "w": [1.0, 2.0, 1.0, 2.0, 1.0, 1.0], "c": range(6)})
    >>> fit = fit_model(df, "y ~ x", Design(weight_col="w", psu_col="c"))
    >>> fit.table[["term", "estimate"]].round(4).to_dict("list")
    {'term': ['Intercept', 'x'], 'estimate': [1.0571, 1.0857]}
    """
    if family not in MODEL_FAMILIES:
        raise EstimationError(f"unknown family {family!r}", fix="use gaussian, binomial or poisson")
    rfam = MODEL_FAMILIES[family]
    fam = _FAMILY[rfam]
    if not (0 < level < 1):
        raise EstimationError(f"confidence level must lie in (0, 1), got {level!r}", fix="use e.g. 0.95")
    prepared = as_prepared(data, design)
    yser, xdf, ok = model_matrices(data, formula)
    names = [readable_term(str(c)) for c in xdf.columns]
    w_all = prepared.weights
    used = ok & (w_all > 0)
    if subpop is not None:
        subpop = np.asarray(subpop, dtype=bool)
        if subpop.shape != (len(data),):
            raise EstimationError("subpop must be a boolean mask with one value per row")
        used &= subpop
    if not used.any():
        raise EstimationError(f"no row has a positive weight and complete values for {formula!r}",
                              fix="check the model variables for missing values")
    y, x = yser.to_numpy()[used], xdf.to_numpy()[used]
    check_identifiable(y, x, names, rfam, outcome=str(yser.name), rows=np.flatnonzero(used))
    w = w_all[used]
    pw = w / w.mean()
    beta, mu, eta, work, conv = _irls(y, x, pw, fam)
    if not conv:
        raise EstimationError(f"the {family} model did not converge in 25 IRLS steps",
                              fix="check for extreme values of the predictors, or rescale them")
    dmu = fam.mu_eta(eta)
    a_inv = np.linalg.inv(x.T @ (work[:, None] * x))
    method = variance
    failures = 0
    if replicates is None and variance == "linearization":
        estfun = np.zeros((len(data), len(names)))
        estfun[used] = x * (work * (y - mu) / dmu)[:, None]
        cov = np.atleast_2d(linearization_variance(estfun @ a_inv, prepared))
        ddf = _design_df(prepared, used) if design_df is None else design_df
    else:
        cov, method, failures, ddf = _replicate_cov(data, prepared, replicates, variance, reps, rng, used, y, x, fam,
                                                    beta)
        ddf = ddf if design_df is None else design_df
    var_mu = fam.variance(mu)
    pearson = (y - mu) / np.sqrt(var_mu)
    n = int(used.sum())
    # R's residuals.svyglm rescales the weights over the rows kept, so with missing values its
    # dispersion carries mean(used weights) / mean(all weights) (1 without missing values)
    # (R: over the rows of the design; a subset() domain's design has only its own rows, so with
    # ``subpop`` the mean is over the domain: no factor when no domain row misses a value)
    kept = w_all > 0 if subpop is None else (w_all > 0) & subpop
    scale = float(w.mean() / w_all[kept].mean())
    if method == "linearization":   # R summary.svyglm: svyvar of the Pearson residuals
        pbar = np.dot(w, pearson) / w.sum()
        dispersion = scale * float(np.dot(w, (pearson - pbar) ** 2) / w.sum() * n / (n - 1))
    else:                           # R summary.svrepglm: weighted mean square, not centred
        dispersion = scale * float(np.dot(w, pearson ** 2) / w.sum())
    df_resid = int(ddf - len(names) + 1)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    tq = float(stats.t.ppf(0.5 + level / 2, df_resid)) if df_resid > 0 else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = beta / se
    pval = 2 * stats.t.sf(np.abs(tstat), df_resid) if df_resid > 0 else np.full(len(beta), np.nan)
    # design effect (R svyglm(deff=TRUE)): design variance / the glm's model-based variance,
    # dispersion Σ W r² / (n - p) (working weights and residuals of the last step) times (X'WX)⁻¹
    phi = float(np.sum(work * ((y - mu) / dmu) ** 2)) / (n - len(names))
    with np.errstate(divide="ignore", invalid="ignore"):
        deff = np.diag(cov) / (phi * np.diag(a_inv))
    table = pd.DataFrame({"term": names, "estimate": beta, "se": se, "ci_low": beta - tq * se,
                          "ci_high": beta + tq * se, "t": tstat, "p_value": pval, "deff": deff})
    ratio_name = None
    if ratios:
        if rfam == "gaussian":
            raise EstimationError("odds or rate ratios need family binomial or poisson",
                                  fix="drop the ratio option, or fit a binomial/poisson model")
        ratio_name = "odds_ratio" if rfam == "quasibinomial" else "rate_ratio"
        table["ratio"] = np.exp(table["estimate"])
        table["ratio_ci_low"] = np.exp(table["ci_low"])
        table["ratio_ci_high"] = np.exp(table["ci_high"])
    notes = []
    if failures:
        notes.append(f"{failures} replicate fit(s) did not converge and were left out of the variance")
    return ModelResult(table, pd.DataFrame(cov, index=names, columns=names), df_resid, dispersion, rfam, method, n,
                       formula, level, ratio_name, failures, notes)


def _replicate_cov(data, prepared, replicates, variance, reps, rng, used, y, x, fam, beta):
    """Refit per replicate (R svyglm.svyrep.design): weights scaled to sum 1, start at beta."""
    from hiddenpop.weights import replicates as _rep
    from hiddenpop.weights.variance import replicate_variance

    rf = replicates
    if rf is None:
        if variance == "replicate" or prepared.spec.replicate_cols:
            rf = _rep.ReplicateWeights.from_design(data, prepared)
        else:
            rf = _rep.make_replicates(data, prepared, method=variance, reps=reps, rng=rng)
    w = prepared.weights
    if isinstance(rf, _rep.ReplicateFactors):
        rw = None
        ddf = _design_df(prepared, used)
    else:
        rw = np.asarray(rf.weights, dtype=float)
        # R: svrepdesign made from replicate columns has degf = rank of the replicate weights - 1;
        # as.svrepdesign keeps the design's df. Columns from a file carry no design: use the rank
        # when the design has no PSUs, else the design's df.
        if prepared.n_psu == len(w) and prepared.n_strata == 1:
            ddf = int(np.linalg.matrix_rank(rw[used])) - 1
        else:
            ddf = _design_df(prepared, used)
    b = rf.n_replicates
    thetas = np.full((b, len(beta)), np.nan)
    failures = 0
    for r in range(b):
        wr = (rw[:, r] if rw is not None else w * rf.row_multipliers(r))[used]
        s = wr.sum()
        if not s > 0:
            failures += 1
            continue
        try:
            br, *_, conv = _irls(y, x, wr / s, fam, start=beta)
        except np.linalg.LinAlgError:
            conv = False
        if not conv:
            failures += 1
            continue
        thetas[r] = br
    good = np.all(np.isfinite(thetas), axis=1)
    rs = np.asarray(rf.rscales, dtype=float)
    cov = np.atleast_2d(replicate_variance(thetas[good], beta, rf.scale, rs[good], mse=getattr(rf, "mse", False)))
    return cov, rf.method, failures, ddf


def format_model(result: ModelResult) -> str:
    """The fitted model as a readable table.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 5.0, 4.0, 6.0], "x": [0.0, 1.0, 2.0, 3.0, 3.0, 5.0],
    ...                    "w": [1.0, 2.0, 1.0, 2.0, 1.0, 1.0], "c": range(6)})
    >>> print(format_model(fit_model(df, "y ~ x", Design(weight_col="w", psu_col="c"))))
    y ~ x  (gaussian, linearization SE, n 6, residual df 4)
      term       estimate    se        95% CI  p-value  deff
      Intercept      1.06  0.16  0.60 to 1.51    0.003  0.19
      x              1.09  0.11  0.78 to 1.39   <0.001  0.61
    """
    from hiddenpop.weights.estimate import round_sig

    lvl = f"{100 * result.level:g}% CI"
    head = ["term", "estimate", "se", lvl, "p-value", "deff"]
    ratio = result.ratio_name
    if ratio:
        head += [ratio.replace("_", " "), f"{lvl} of ratio"]
    rows = []
    for r in result.table.to_dict("records"):
        se = r["se"]
        p = r["p_value"]
        row = [str(r["term"]), round_sig(r["estimate"], se), round_sig(se, se),
               f"{round_sig(r['ci_low'], se)} to {round_sig(r['ci_high'], se)}" if np.isfinite(r["ci_low"]) else "",
               "" if not np.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}"),
               f"{r['deff']:.2f}" if np.isfinite(r["deff"]) else ""]
        if ratio:
            row += [f"{r['ratio']:.3g}", f"{r['ratio_ci_low']:.3g} to {r['ratio_ci_high']:.3g}"]
        rows.append(row)
    widths = [max(len(head[j]), *(len(row[j]) for row in rows)) for j in range(len(head))]
    lines = [f"{result.formula}  ({result.family.replace('quasi', '')}, {result.method} SE, n {result.n:,}, "
             f"residual df {result.df_residual})"]
    for row in [head] + rows:
        lines.append(("  " + "  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j])
                                       for j, c in enumerate(row))).rstrip())
    lines += [f"note: {t}" for t in result.notes]
    return "\n".join(lines)
