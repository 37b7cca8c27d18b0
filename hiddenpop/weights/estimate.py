"""Design-based estimates: totals, means, proportions, ratios and quantiles, by domain.

Every estimator is a function of ``(data, variable, design)`` returning an
:class:`Estimate`; :func:`estimate_table` runs many variables × domains at once and
returns the columns of docs/data-contract.md, 'Estimates'.

Domains are computed by **zero-weighting** the rows outside the domain, never by
dropping them, so the variance keeps every stratum and PSU of the design (R
``svyby``). Rows whose analysis variable is missing are treated the same way
(R ``na.rm=TRUE``).

Design effects follow R ``survey`` (``deff=TRUE``): the design variance over the
simple-random-sampling *without replacement* variance, ``svyvar(y)/n · (N̂-n)/N̂`` for a
mean and ``svyvar(y)·N̂·(N̂-n)/n`` for a total, with N̂ = Σw and n the number of rows with
non-zero weight in the domain; for a ratio, the deff of the total of the linearised
residual (y - R̂x)/X̂.

Confidence intervals are normal (R ``confint.svystat``) except for quantiles
(Woodruff, t with the design degrees of freedom) and logit proportion intervals
(R ``svyciprop(method="logit")``, t with the design degrees of freedom). With replicate
variance the degrees of freedom are the rank of the replicate weights minus 1 (R ``degf``
of a replicate design), and the logit interval uses the replicate variance of the
replicate logits (R ``svyglm`` on a replicate design).

References
----------
Lumley, T. (2010). *Complex Surveys*, ch. 2–3.
Woodruff, R. S. (1952). Confidence intervals for medians and other position measures. JASA 47, 635–646.
Kish, L. (1965). *Survey Sampling*, §8.2 (design effect).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from hiddenpop._checks import check_columns
from hiddenpop.errors import EstimationError, HiddenPopWarning
from hiddenpop.weights.design import Design, PreparedDesign, as_prepared
from hiddenpop.weights.variance import linearization_variance, replicate_variance

__all__ = [
    "PROPORTION_INTERVALS",
    "format_estimates",    "EmptyReplicateDomainWarning", "EmptyDomainWarning",
    "Estimate",
    "STATISTICS",
    "VARIANCE_METHODS",
    "ESTIMATE_COLUMNS",
    "total",
    "mean",
    "proportion",
    "ratio",
    "quantile",
    "estimate_table",
    "domain_mask",
    "domains",
    "normalise_by",
]

ESTIMATE_COLUMNS = ["variable", "statistic", "domain", "estimate", "se", "ci_low", "ci_high", "deff", "cv", "n",
                    "suppressed", "method"]
VARIANCE_METHODS = ("linearization", "jk1", "jkn", "bootstrap", "replicate")


@dataclass(frozen=True, slots=True)
class Estimate:
    """One estimate with its standard error, interval and design information.

    ``to_dict()`` gives the columns of docs/data-contract.md, 'Estimates'; ``df`` is the design
    degrees of freedom, ``level`` the interval's confidence level.
    """

    variable: str
    statistic: str
    domain: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    deff: float
    n: int
    method: str
    suppressed: bool = False
    df: float = math.inf
    level: float = 0.95

    @property
    def cv(self) -> float:
        """Coefficient of variation se/|estimate| (NaN for a zero estimate)."""
        if not np.isfinite(self.estimate) or self.estimate == 0:
            return float("nan")
        return float(self.se / abs(self.estimate))

    @property
    def variance(self) -> float:
        return float(self.se ** 2)

    def to_dict(self) -> dict[str, Any]:
        """The columns of docs/data-contract.md, 'Estimates' as a dict (floats, ints, bools; NaN for blanks)."""
        d = asdict(self)
        return {c: (self.cv if c == "cv" else d[c]) for c in ESTIMATE_COLUMNS}

    def suppress(self) -> "Estimate":
        """A copy with the numbers blanked (NaN) and ``suppressed=True``; ``n`` kept."""
        nan = float("nan")
        return Estimate(self.variable, self.statistic, self.domain, nan, nan, nan, nan, nan, self.n, self.method,
                        True, self.df, self.level)

    def __str__(self) -> str:
        return (f"{self.statistic}({self.variable}) [{self.domain}] = {self.estimate:.6g} "
                f"(se {self.se:.4g}, {100 * self.level:g}% CI {self.ci_low:.6g} – {self.ci_high:.6g}, "
                f"deff {self.deff:.3g}, n {self.n}, {self.method})")


class EmptyDomainWarning(HiddenPopWarning):
    """A domain has no respondent with a usable value (or a zero denominator), so its estimate is blank (NaN)."""


def _warn_empty_domains(blank: dict[str, str]) -> None:
    """One line for all estimates left blank because their domain had nothing to estimate from."""
    if not blank:
        return
    items = list(blank.items())
    shown = "; ".join(f"{label}: {why}" for label, why in items[:4])
    more = f"; and {len(items) - 4} more" if len(items) > 4 else ""
    warnings.warn(EmptyDomainWarning(
        f"{len(items)} estimate(s) left blank (NaN): {shown}{more}. Fix: check the variable for missing "
        f"values, or estimate fewer or broader domains"), stacklevel=3)


class EmptyReplicateDomainWarning(HiddenPopWarning):
    """Some replicates have no weight in a domain, so its replicate SE is not defined (NaN)."""


def _warn_empty_replicate_domains(empty: dict[str, tuple[int, int]]) -> None:
    """One line for all domains whose replicate SE is NaN because replicates left them empty."""
    if not empty:
        return
    items = list(empty.items())
    shown = "; ".join(f"{label} ({k} of {b} replicates)" for label, (k, b) in items[:4])
    more = f"; and {len(items) - 4} more domain(s)" if len(items) > 4 else ""
    warnings.warn(EmptyReplicateDomainWarning(
        f"standard error not available (NaN) in {len(items)} domain(s) because some replicates have no weight "
        f"in them: {shown}{more}. Fix: estimate fewer domains (fewer --by variables), survey more first-stage "
        f"points, or collapse small levels into a neighbouring one"), stacklevel=3)


# ---------------------------------------------------------------------------------------
# variance context: linearisation or replicates, built once per table
DOMAIN_DF = ("design", "domain")


class EstimationContext:
    """The data, prepared design and variance settings of one estimation run (shared by the
    estimators here and by :mod:`hiddenpop.weights.compare`)."""

    def __init__(self, data: pd.DataFrame, design: Design | PreparedDesign, *, variance: str, replicates: Any,
                 reps: int, rng: Any, level: float, source: str, domain_df: str = "design"):
        self.data = data
        self.design = as_prepared(data, design, source=source)
        if domain_df not in DOMAIN_DF:
            raise EstimationError(f"unknown domain degrees of freedom {domain_df!r}",
                                  fix="use 'design' (the whole design's) or 'domain' (the domain's own PSUs, "
                                      "as R svyby)")
        self.domain_df = domain_df
        d = self.design
        policy = str(d.spec.lonely_psu)
        # lonely-PSU adjust/average count a domain's own strata (R svyby): only needed when a stratum is lonely
        self._by_strata = (policy in ("adjust", "average") and bool((d.n_psu_h == 1).any())
                           and not d.adjustments)
        if not (0 < level < 1):
            raise EstimationError(f"confidence level must lie in (0, 1), got {level!r}", fix="use e.g. 0.95")
        self.level = level
        self.z = float(stats.norm.ppf(0.5 + level / 2))
        if replicates is not None:
            variance = getattr(replicates, "method", "replicate")
        if variance not in VARIANCE_METHODS:
            raise EstimationError(f"unknown variance method {variance!r}",
                                  fix=f"use one of {', '.join(VARIANCE_METHODS)}")
        self.method = variance
        self.replicates = None
        self._rep_degf: float | None = None
        self.empty_domains: dict[str, tuple[int, int]] = {}  # domain → (replicates with no weight, B)
        self.blank: dict[str, str] = {}  # "variable [domain]" → why the estimate is NaN
        # respondents = rows with a weight > 0 (rows kept with weight 0 and a weight_flag are not counted)
        self.n_pos = int(np.count_nonzero(self.design.weights))
        if variance != "linearization":
            from hiddenpop.weights import replicates as _rep

            if replicates is not None:
                self.replicates = replicates
            elif variance == "replicate" or self.design.spec.replicate_cols:
                self.replicates = _rep.ReplicateWeights.from_design(data, self.design)
                self.method = self.replicates.method
            else:
                self.replicates = _rep.make_replicates(data, self.design, method=variance, reps=reps, rng=rng)

    # -- helpers -------------------------------------------------------------------
    def variance_of_linear(self, influence: np.ndarray, keep: np.ndarray | None = None) -> float:
        return float(linearization_variance(influence, self.design, strata_present=self.present(keep)))

    def present(self, keep: np.ndarray | None) -> np.ndarray | None:
        """Strata in which the domain ``keep`` has respondents, when the lonely-PSU policy
        needs them (R ``svyby`` runs on a subset design without the other strata); else None."""
        if keep is None or not self._by_strata:
            return None
        d = self.design
        return np.bincount(d.stratum_codes[keep & (d.weights > 0)], minlength=d.n_strata) > 0

    def df_for(self, keep: np.ndarray | None) -> float:
        """Degrees of freedom of a domain's t intervals: the whole design's (``domain_df='design'``)
        or the PSUs minus the strata in which the domain has respondents (``'domain'``, R
        ``degf()`` of the subset design that ``svyby`` hands to ``svyquantile``/``svyciprop``)."""
        d = self.design
        if self.replicates is not None:
            # a replicate design's df is R's degf(): the rank of its replicate weights - 1, of the
            # rows of the domain for 'domain' (svyby drops the other rows of a replicate design)
            if self.domain_df == "design" or keep is None:
                if self._rep_degf is None:
                    self._rep_degf = _replicate_degf(self.replicates, d.weights, None)
                return self._rep_degf
            return _replicate_degf(self.replicates, d.weights, keep)
        if self.domain_df == "design" or keep is None:
            return float(d.degf)
        inset = keep & (d.weights > 0)
        return float(len(np.unique(d.psu_codes[inset])) - len(np.unique(d.stratum_codes[inset])))

    def rep_totals(self, values: np.ndarray) -> np.ndarray:
        """Replicate totals Σ_k w_k^(r) values_k, shape (B,)."""
        r = self.replicates
        if getattr(r, "psu_codes", None) is self.design.psu_codes:
            return r.apply_psu_totals(self.design.psu_totals(self.design.weights * values))
        return r.replicate_totals(values, self.design.weights)

    def rep_ratio_var(self, num: np.ndarray, den: np.ndarray, theta: float, label: str) -> float:
        """Replicate variance of num/den; replicates with den = 0 (no weight in the domain) are
        recorded in ``empty_domains`` and make the variance NaN, as in R ``survey``."""
        empty = ~(np.abs(den) > 0)
        if empty.any():
            self.empty_domains[label] = (int(empty.sum()), int(len(den)))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(empty, np.nan, num / np.where(empty, 1.0, den))
        return self.rep_var(ratio, theta)

    def rep_var(self, thetas: np.ndarray, theta: float) -> float:
        r = self.replicates
        return float(replicate_variance(thetas, theta, r.scale, r.rscales, mse=r.mse))


def _replicate_degf(replicates: Any, weights: np.ndarray, keep: np.ndarray | None) -> float:
    """R ``degf()`` of a replicate design (or of its subset ``keep``): the rank of the replicate
    analysis weights of the rows with a weight, minus 1.

    The rank is taken of the replicate factors (replicate weight / weight), which have the same
    rank as the weights themselves and are better scaled; rows of one PSU share their factors.
    50 bootstrap replicates of 200 schools give 49 df, not the design's 197.
    """
    rows = weights > 0 if keep is None else keep & (weights > 0)
    if not rows.any():
        return float("nan")
    if hasattr(replicates, "factors") and hasattr(replicates, "psu_codes"):
        m = replicates.factors[np.unique(replicates.psu_codes[rows])]
    else:
        w = replicates.replicate_weights(weights)[rows]
        m = np.unique(w / weights[rows][:, None], axis=0)
    return float(np.linalg.matrix_rank(m) - 1)


def numeric_column(data: pd.DataFrame, name: str) -> np.ndarray:
    """Column ``name`` as floats (missing values are NaN); text that is not a number stops with its row.

    >>> numeric_column(pd.DataFrame({"x": ["1", None, "2.5"]}), "x").tolist()
    [1.0, nan, 2.5]
    """
    check_columns(data, [name], source="data")
    col = data[name]
    if col.dtype == bool or pd.api.types.is_float_dtype(col.dtype) or pd.api.types.is_integer_dtype(col.dtype):
        return col.to_numpy(dtype=float)
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    nonnum = np.isnan(values) & col.notna().to_numpy()
    if nonnum.any():
        pos = int(np.flatnonzero(nonnum)[0])
        raise EstimationError(f"column '{name}' is not numeric (row {pos + 2} has {col.iloc[pos]!r})",
                              fix="use a numeric variable, or statistic 'proportion' for a categorical one")
    return values


def domain_mask(data: pd.DataFrame, domain: Any) -> np.ndarray | None:
    """Boolean row mask from ``None`` (everyone), a mask, or a dict ``{column: value}``.

    >>> df = pd.DataFrame({"sex": ["F", "M", "F"], "reg": [1, 1, 0]})
    >>> domain_mask(df, {"sex": "F", "reg": 1}).tolist()
    [True, False, False]
    """
    if domain is None:
        return None
    if isinstance(domain, Mapping):
        check_columns(data, list(domain), source="data")
        mask = np.ones(len(data), dtype=bool)
        for col, val in domain.items():
            mask &= (data[col] == val).to_numpy()
        return mask
    mask = np.asarray(domain)
    if mask.dtype != bool or mask.shape != (len(data),):
        raise EstimationError("a domain must be a boolean mask with one value per row, or a dict {column: value}")
    return mask


def _domain_label(domain: Any) -> str:
    if domain is None:
        return "all"
    if isinstance(domain, Mapping):
        return ", ".join(f"{k}={v}" for k, v in domain.items())
    return "domain"


def _svyvar(wd: np.ndarray, y: np.ndarray, n: int) -> tuple[float, float]:
    """(weighted variance with factor n/(n-1), Σw) over rows with wd > 0."""
    wsum = wd.sum()
    ybar = (wd * y).sum() / wsum
    d = y - ybar
    s = (wd * d * d).sum() / wsum
    return (s * n / (n - 1) if n > 1 else float("nan")), wsum


def _finish(ctx: EstimationContext, *, variable: str, statistic: str, label: str, est: float, var: float,
            vsrs: float, n: int) -> Estimate:
    se = math.sqrt(var) if var >= 0 else float("nan")
    deff = var / vsrs if vsrs > 0 else float("nan")
    return Estimate(variable, statistic, label, float(est), se, float(est - ctx.z * se), float(est + ctx.z * se),
                    float(deff), int(n), ctx.method, False, float(ctx.design.degf), ctx.level)


def _prep_y(ctx: EstimationContext, variable: str, mask: np.ndarray | None, extra: np.ndarray | None = None):
    y = numeric_column(ctx.data, variable)
    w = ctx.design.weights
    if mask is None and extra is None and not np.isnan(y).any():
        return y, w, None, ctx.n_pos  # everyone (zero weights only on flagged rows, checked by prepare)
    keep = ~np.isnan(y)
    if extra is not None:
        keep &= ~np.isnan(extra)
    if mask is not None:
        keep &= mask
    wd = np.where(keep, w, 0.0)
    y = np.where(keep, y, 0.0)
    n = int(np.count_nonzero(wd))
    return y, wd, keep, n


def _total(ctx: EstimationContext, variable: str, mask: np.ndarray | None, label: str, statistic: str = "total") -> Estimate:
    y, wd, keep, n = _prep_y(ctx, variable, mask)
    if n == 0:
        return _empty(ctx, variable, statistic, label)
    wy = wd * y
    est = wy.sum()
    s2, wsum = _svyvar(wd, y, n)
    vsrs = s2 * wsum * (wsum - n) / n
    if ctx.replicates is None:
        var = ctx.variance_of_linear(wy, keep)
    else:
        var = ctx.rep_var(ctx.rep_totals(y), est)
    return _finish(ctx, variable=variable, statistic=statistic, label=label, est=est, var=var, vsrs=vsrs, n=n)


def _mean(ctx: EstimationContext, variable: str, mask: np.ndarray | None, label: str, statistic: str = "mean",
          want_deff: bool = True) -> Estimate:
    design = ctx.design
    if mask is None and ctx.replicates is None and not design.adjustments and not design.later_stages \
            and design.n > 1:
        # fast path: whole sample, linearisation; a NaN in y shows up in the sum
        y = numeric_column(ctx.data, variable)
        wy = design.weights * y
        t_y = design.psu_totals(wy)
        swy = t_y.sum()
        if np.isfinite(swy):
            from hiddenpop.weights.variance import variance_from_psu_totals

            n = ctx.n_pos
            t_w = design.psu_weight_totals
            wsum = t_w.sum()
            est = swy / wsum
            var = float(variance_from_psu_totals((t_y - est * t_w) / wsum, design))
            vsrs = float("nan")
            if want_deff:
                swyy = np.einsum("i,i->", wy, y)
                ss = swyy - est * swy                    # Σ w (y - ȳ)², one pass
                if not ss > 1e-7 * abs(swyy):            # heavy cancellation: centred pass instead
                    d = y - est
                    ss = np.einsum("i,i,i->", design.weights, d, d)
                vsrs = ss / wsum / (n - 1) * (wsum - n) / wsum
            return _finish(ctx, variable=variable, statistic=statistic, label=label, est=est, var=var, vsrs=vsrs,
                           n=n)
    y, wd, keep, n = _prep_y(ctx, variable, mask)
    if n == 0:
        return _empty(ctx, variable, statistic, label)
    design = ctx.design
    full = wd is design.weights
    wy = wd * y
    swy = wy.sum()
    wsum = design.psu_weight_totals.sum() if full else wd.sum()
    est = swy / wsum
    if ctx.replicates is None:
        if not design.adjustments and not design.later_stages:
            from hiddenpop.weights.variance import variance_from_psu_totals

            t_y = design.psu_totals(wy)
            t_w = design.psu_weight_totals if full else design.psu_totals(wd)
            var = float(variance_from_psu_totals((t_y - est * t_w) / wsum, design, strata_present=ctx.present(keep)))
        else:
            var = ctx.variance_of_linear(wd * (y - est) / wsum, keep)
    else:
        num = ctx.rep_totals(y)
        den = ctx.rep_totals(np.ones_like(y) if keep is None else keep.astype(float))
        var = ctx.rep_ratio_var(num, den, est, label)
    if want_deff and n > 1:
        swyy = (wy * y).sum()
        ss = swyy - est * swy                    # Σ w (y - ȳ)², one pass
        if not ss > 1e-7 * abs(swyy):            # heavy cancellation: centred pass instead
            d = y - est
            ss = (wd * d * d).sum()
        s2 = ss / wsum * n / (n - 1)
        vsrs = s2 / n * (wsum - n) / wsum
    else:
        vsrs = float("nan")
    return _finish(ctx, variable=variable, statistic=statistic, label=label, est=est, var=var, vsrs=vsrs, n=n)


def _ratio(ctx: EstimationContext, numerator: str, denominator: str, mask: np.ndarray | None, label: str) -> Estimate:
    x = numeric_column(ctx.data, denominator)
    y, wd, keep, n = _prep_y(ctx, numerator, mask, extra=x)
    x = np.where(keep, x, 0.0)
    name = f"{numerator}/{denominator}"
    if n == 0:
        return _empty(ctx, name, "ratio", label)
    xhat = (wd * x).sum()
    if xhat == 0:   # 0/0 or y/0: R svyratio gives NaN/Inf; we leave the cell blank and say why
        return _empty(ctx, name, "ratio", label, n=n, why=f"the denominator '{denominator}' totals 0")
    est = (wd * y).sum() / xhat
    resid = (y - est * x) / xhat
    if ctx.replicates is None:
        var = ctx.variance_of_linear(wd * resid, keep)
    else:
        num = ctx.rep_totals(y)
        den = ctx.rep_totals(x)
        var = ctx.rep_ratio_var(num, den, est, label)
    s2, wsum = _svyvar(wd, resid, n)
    vsrs = s2 * wsum * (wsum - n) / n
    return _finish(ctx, variable=name, statistic="ratio", label=label, est=est, var=var, vsrs=vsrs, n=n)


def _proportions(ctx: EstimationContext, variable: str, mask: np.ndarray | None, label: str, ci: str) -> list[Estimate]:
    check_columns(ctx.data, [variable], source="data")
    col = ctx.data[variable]
    values = pd.to_numeric(col, errors="coerce")
    binary = values.notna().sum() == col.notna().sum() and set(values.dropna().unique()) <= {0, 1}
    out = []
    if binary:
        out.append(_one_proportion(ctx, variable, variable, mask, label, ci))
    else:
        levels = sorted(col.dropna().unique(), key=lambda v: (str(type(v)), v))
        for lev in levels:
            tmp = f"__{variable}={lev}"
            ind = pd.Series(np.where(col.isna(), np.nan, (col == lev).astype(float)), index=col.index)
            sub = EstimationContext.__new__(EstimationContext)
            sub.__dict__.update(ctx.__dict__)
            sub.data = pd.DataFrame({tmp: ind})
            est = _one_proportion(sub, tmp, f"{variable}={lev}", mask, label, ci)
            out.append(est)
    return out


def _one_proportion(ctx: EstimationContext, column: str, name: str, mask, label: str, ci: str) -> Estimate:
    e = _mean(ctx, column, mask, label, statistic="proportion")
    e = Estimate(name, "proportion", e.domain, e.estimate, e.se, e.ci_low, e.ci_high, e.deff, e.n, e.method,
                 False, e.df, e.level)
    if ci == "logit" and 0 < e.estimate < 1 and np.isfinite(e.se):
        keep = None
        if mask is not None:
            keep = mask & ~np.isnan(numeric_column(ctx.data, column))
        df = ctx.df_for(keep)
        t = float(stats.t.ppf(0.5 + ctx.level / 2, df)) if df > 0 else float("nan")
        eta = math.log(e.estimate / (1 - e.estimate))
        if ctx.replicates is None:
            se_eta = e.se / (e.estimate * (1 - e.estimate))     # delta method = svyglm's sandwich
        else:
            se_eta = _replicate_logit_se(ctx, column, mask, eta)
        lo, hi = (1 / (1 + math.exp(-(eta + s * t * se_eta))) for s in (-1, 1))
        e = Estimate(e.variable, e.statistic, e.domain, e.estimate, e.se, lo, hi, e.deff, e.n, e.method, False,
                     df, e.level)
    elif ci not in PROPORTION_INTERVALS:
        raise EstimationError(f"unknown proportion interval {ci!r}", fix="use " + " or ".join(PROPORTION_INTERVALS))
    return e


def _replicate_logit_se(ctx: EstimationContext, column: str, mask: np.ndarray | None, eta: float) -> float:
    """Replicate SE of the logit of a proportion: the variance of the replicate logits, as R
    ``svyciprop(method="logit")`` gets it from ``svyglm`` on a replicate design (not the delta
    method). NaN when a replicate proportion is 0 or 1 (R's glm then stops unconverged)."""
    y, wd, keep, n = _prep_y(ctx, column, mask)
    num = ctx.rep_totals(y)
    den = ctx.rep_totals(np.ones_like(y) if keep is None else keep.astype(float))
    with np.errstate(divide="ignore", invalid="ignore"):
        pr = num / den
        eta_r = np.log(pr / (1 - pr))
    if not np.isfinite(eta_r).all():
        return float("nan")
    return math.sqrt(ctx.rep_var(eta_r, eta))


_QRULE_TOL = 1e-10


def _qrule_math(x_sorted: np.ndarray, cw: np.ndarray, p: float) -> float:
    """Smallest x with weighted ECDF ≥ p (R ``qrule_math``); ``cw`` = cumulative weights / total.

    Shares are compared with a tolerance of 1e-10: with equal weights the share of the
    first half of an even sample comes out as 0.4999999999999995 in floating point, and a
    strict comparison would step one rank past the value whose share is exactly p (R's
    ``qs()`` accumulates the cumulative weights in extended precision and lands on it).

    >>> w = np.full(6, 0.7)                  # six equal weights: the third share is 0.4999999999999999
    >>> _qrule_math(np.arange(1.0, 7.0), np.cumsum(w) / w.sum(), 0.5)
    3.0
    """
    i = int(np.searchsorted(cw, p - _QRULE_TOL, side="left"))
    return float(x_sorted[min(max(i, 0), len(x_sorted) - 1)])


def _quantile(ctx: EstimationContext, variable: str, p: float, mask: np.ndarray | None, label: str) -> Estimate:
    if not (0 <= p <= 1):
        raise EstimationError(f"quantile probability must lie in [0, 1], got {p!r}")
    y, wd, keep, n = _prep_y(ctx, variable, mask)
    stat = f"quantile_{p:g}"
    if n == 0:
        return _empty(ctx, variable, stat, label)
    pos = wd > 0
    yy, ww = y[pos], wd[pos]
    order = np.argsort(yy, kind="stable")
    ys, ws = yy[order], ww[order]
    # collapse ties (R's qrule_math works on unique x values)
    uniq, start = np.unique(ys, return_index=True)
    wu = np.add.reduceat(ws, start)
    cw = np.cumsum(wu) / wu.sum()
    q = _qrule_math(uniq, cw, p)
    # Woodruff: interval for the mean of I(y <= q) mapped back through the same rule
    ind = (y <= q).astype(float) if keep is None else np.where(keep, (y <= q).astype(float), np.nan)
    sub = EstimationContext.__new__(EstimationContext)
    sub.__dict__.update(ctx.__dict__)
    sub.data = pd.DataFrame({"__ind": ind})
    pe = _mean(sub, "__ind", mask, label, want_deff=False)
    df = ctx.df_for(keep)
    t = float(stats.t.ppf(0.5 + ctx.level / 2, df)) if df > 0 else float("nan")
    # an end of the interval of F̂(q) outside [0, 1] maps to no value: NaN, as R woodruffCI
    # (and then the SE, too); clipping it to the smallest or largest value would invent a bound
    p_lo, p_hi = pe.estimate - t * pe.se, pe.estimate + t * pe.se
    lo = _qrule_math(uniq, cw, p_lo) if p_lo >= 0 else float("nan")
    hi = _qrule_math(uniq, cw, p_hi) if p_hi <= 1 else float("nan")
    se = (hi - lo) / (2 * t)
    return Estimate(variable, stat, label, q, se, lo, hi, float("nan"), n, ctx.method, False, float(df), ctx.level)


def _empty(ctx: EstimationContext, variable: str, statistic: str, label: str, *, n: int = 0,
           why: str = "no respondent with a known value") -> Estimate:
    """A blank (NaN) estimate, recorded so that one :class:`EmptyDomainWarning` says why."""
    nan = float("nan")
    shown = variable[2:] if variable.startswith("__") else variable   # level indicators of _proportions
    ctx.blank[f"{statistic}({shown}) [{label}]"] = why
    return Estimate(variable, statistic, label, nan, nan, nan, nan, nan, n, ctx.method, False,
                    float(ctx.design.degf), ctx.level)


# ---------------------------------------------------------------------------------------
# public single-estimate functions
def _ctx(data, design, variance, replicates, reps, rng, level, domain_df: str = "design") -> EstimationContext:
    return EstimationContext(data, design, variance=variance, replicates=replicates, reps=reps, rng=rng, level=level,
                    source="data", domain_df=domain_df)


def total(data: pd.DataFrame, variable: str, design: Design | PreparedDesign, *, domain: Any = None,
          variance: str = "linearization", replicates: Any = None, reps: int = 500, rng: Any = None,
          level: float = 0.95) -> Estimate:
    """Estimated population total Σ w_k y_k (in a domain: Σ w_k y_k I_k).

    Parameters
    ----------
    data
        Survey table.
    variable
        Numeric column.
    design
        :class:`~hiddenpop.weights.design.Design` or a prepared design.
    domain
        ``None``, a boolean mask, or ``{column: value}``; rows outside get weight 0.
    variance
        ``linearization`` (default), ``jk1``, ``jkn``, ``bootstrap`` (needs ``rng``) or
        ``replicate`` (replicate weight columns named in the design).
    replicates
        Ready-made :class:`~hiddenpop.weights.replicates.ReplicateFactors` (overrides
        ``variance``).
    reps, rng
        Bootstrap replicates and random generator.
    level
        Confidence level of the (normal) interval.

    Examples
    --------
    >>> df = pd.DataFrame({"w": [10.0, 10.0, 20.0, 20.0], "y": [1, 0, 1, 1], "c": [1, 2, 3, 4]})
    >>> e = total(df, "y", Design(weight_col="w", psu_col="c"))
    >>> e.estimate
    50.0
    """
    ctx = _ctx(data, design, variance, replicates, reps, rng, level)
    out = _total(ctx, variable, domain_mask(data, domain), _domain_label(domain))
    _warn_empty_replicate_domains(ctx.empty_domains)
    _warn_empty_domains(ctx.blank)
    return out


def mean(data: pd.DataFrame, variable: str, design: Design | PreparedDesign, *, domain: Any = None,
         variance: str = "linearization", replicates: Any = None, reps: int = 500, rng: Any = None,
         level: float = 0.95) -> Estimate:
    """Estimated population mean (Hájek) Σ w y / Σ w, in the whole population or a domain.

    Parameters are those of :func:`total`.

    Examples
    --------
    >>> df = pd.DataFrame({"w": [10.0, 10.0, 20.0, 20.0], "y": [1, 0, 1, 1], "c": [1, 2, 3, 4]})
    >>> round(mean(df, "y", Design(weight_col="w", psu_col="c")).estimate, 4)
    0.8333
    """
    ctx = _ctx(data, design, variance, replicates, reps, rng, level)
    out = _mean(ctx, variable, domain_mask(data, domain), _domain_label(domain))
    _warn_empty_replicate_domains(ctx.empty_domains)
    _warn_empty_domains(ctx.blank)
    return out


def proportion(data: pd.DataFrame, variable: str, design: Design | PreparedDesign, *, domain: Any = None,
               variance: str = "linearization", replicates: Any = None, reps: int = 500, rng: Any = None,
               level: float = 0.95, ci: str = "wald", domain_df: str = "design") -> list[Estimate]:
    """Estimated proportions: one for a 0/1 variable, else one per level (``variable=level``).

    ``ci="wald"`` gives the normal interval of R ``svymean``; ``ci="logit"`` the interval
    of R ``svyciprop(method="logit")`` (t with the design degrees of freedom, or in a
    domain with ``domain_df="domain"`` the domain's own: see :func:`estimate_table`).

    Examples
    --------
    >>> df = pd.DataFrame({"w": [1.0, 1.0, 2.0], "sex": ["F", "M", "F"]})
    >>> [(e.variable, e.estimate) for e in proportion(df, "sex", Design(weight_col="w"))]
    [('sex=F', 0.75), ('sex=M', 0.25)]
    """
    ctx = _ctx(data, design, variance, replicates, reps, rng, level, domain_df)
    out = _proportions(ctx, variable, domain_mask(data, domain), _domain_label(domain), ci)
    _warn_empty_replicate_domains(ctx.empty_domains)
    _warn_empty_domains(ctx.blank)
    return out


def ratio(data: pd.DataFrame, numerator: str, denominator: str, design: Design | PreparedDesign, *,
          domain: Any = None, variance: str = "linearization", replicates: Any = None, reps: int = 500,
          rng: Any = None, level: float = 0.95) -> Estimate:
    """Estimated ratio of totals Σ w y / Σ w x (e.g. working children / children 6–17).

    Examples
    --------
    >>> df = pd.DataFrame({"w": [1.0, 3.0], "y": [1, 2], "x": [2, 4]})
    >>> ratio(df, "y", "x", Design(weight_col="w")).estimate
    0.5
    """
    ctx = _ctx(data, design, variance, replicates, reps, rng, level)
    out = _ratio(ctx, numerator, denominator, domain_mask(data, domain), _domain_label(domain))
    _warn_empty_replicate_domains(ctx.empty_domains)
    _warn_empty_domains(ctx.blank)
    return out


def quantile(data: pd.DataFrame, variable: str, design: Design | PreparedDesign, *, p: float = 0.5,
             domain: Any = None, variance: str = "linearization", replicates: Any = None, reps: int = 500,
             rng: Any = None, level: float = 0.95, domain_df: str = "design") -> Estimate:
    """Estimated quantile: the smallest value whose weighted ECDF is ≥ ``p`` (R ``qrule="math"``).

    The interval is Woodruff's (R ``interval.type="mean"``): F̂(q̂) ± t·SE(F̂(q̂)) with t on
    the design degrees of freedom (in a domain with ``domain_df="domain"``, the domain's
    own, as R ``svyby``), mapped back through the same rule; the reported SE is
    (ci_high - ci_low)/(2t). An end whose F̂ lies outside [0, 1] (a small or very
    skewed sample) is NaN, and so is the SE, as in R.

    Examples
    --------
    >>> df = pd.DataFrame({"w": [1.0, 1.0, 1.0, 1.0], "y": [3.0, 1.0, 4.0, 2.0], "c": [1, 2, 3, 4]})
    >>> quantile(df, "y", Design(weight_col="w", psu_col="c"), p=0.5).estimate
    2.0
    """
    ctx = _ctx(data, design, variance, replicates, reps, rng, level, domain_df)
    out = _quantile(ctx, variable, p, domain_mask(data, domain), _domain_label(domain))
    _warn_empty_replicate_domains(ctx.empty_domains)
    _warn_empty_domains(ctx.blank)
    return out


STATISTICS = ("mean", "total", "proportion", "ratio", "quantile")
#: intervals for proportions: ``wald`` (estimate ± t·SE) or ``logit`` (R ``svyciprop(method="logit")``)
PROPORTION_INTERVALS = ("wald", "logit")


# ---------------------------------------------------------------------------------------
def normalise_by(by: Any) -> list[list[str]]:
    """The domain crossings asked for by ``by``: a list of lists of column names.

    ``None`` → none; ``"sex, region"`` or ``["sex", "region"]`` → one crossing of both; a list
    holding lists (``["sex", ["region", "registered"]]``) → one crossing per entry.

    >>> normalise_by("sex, region"), normalise_by(["sex", ["region", "registered"]])
    ([['sex', 'region']], [['sex'], ['region', 'registered']])
    """
    if by is None:
        return []
    if isinstance(by, str):
        return [[b.strip() for b in by.split(",") if b.strip()]]
    by = list(by)
    if all(isinstance(b, str) for b in by):
        return [list(by)]
    return [[b] if isinstance(b, str) else list(b) for b in by]


def domains(data: pd.DataFrame, byvars: list[str]) -> list[tuple[str, np.ndarray | None]]:
    """The domains of one crossing present in ``data``: ``(label, row mask)`` in sorted level order.

    Rows with a missing value in a ``byvars`` column belong to no domain. No ``byvars``: the one
    domain ``("all", None)`` (every row).

    >>> d = pd.DataFrame({"sex": ["F", "M", "F", None], "age": [1.0, 1.0, 2.0, 1.0]})
    >>> [(label, mask.nonzero()[0].tolist()) for label, mask in domains(d, ["sex", "age"])]
    [('sex=F, age=1', [0]), ('sex=F, age=2', [2]), ('sex=M, age=1', [1])]
    """
    check_columns(data, byvars, source="data")
    if not byvars:
        return [("all", None)]
    frame = data[byvars]
    present = frame.dropna().drop_duplicates()
    present = present.sort_values(byvars, kind="stable").to_numpy(dtype=object)
    cols = [data[b].to_numpy(dtype=object) for b in byvars]
    out = []
    for combo in present:
        mask = np.ones(len(data), dtype=bool)
        for c, v in zip(cols, combo):
            mask &= c == v
        label = ", ".join(f"{b}={_fmt_level(v)}" for b, v in zip(byvars, combo))
        out.append((label, mask))
    return out


def _fmt_level(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def estimate_table(data: pd.DataFrame, design: Design | PreparedDesign, *, variables: str | Sequence[str],
                   statistic: str = "mean", by: Any = None, variance: str = "linearization",
                   replicates: Any = None, reps: int = 500, rng: Any = None, min_cell: int | None = None,
                   denominator: str | None = None, quantiles: float | Sequence[float] = (0.5,),
                   level: float = 0.95, proportion_ci: str = "wald", domain_df: str = "design",
                   progress: Any = None) -> pd.DataFrame:
    """Estimates for many variables × domains, as a table with the columns of docs/data-contract.md, 'Estimates'.

    Parameters
    ----------
    data
        Survey table (one row per respondent).
    design
        Design spec or prepared design; prepared once for the whole table.
    variables
        One column name or several.
    statistic
        ``mean``, ``total``, ``proportion``, ``ratio`` (needs ``denominator``) or
        ``quantile`` (probabilities in ``quantiles``).
    by
        ``None`` (whole population), ``"registered,sex"`` or ``["registered", "sex"]``
        (one cross-classification), or a list of lists (several, stacked).
    variance
        ``linearization``, ``jk1``, ``jkn``, ``bootstrap`` or ``replicate``.
    replicates
        Ready-made replicate factors (e.g. from the two-stage weighting, redone per
        replicate); overrides ``variance``.
    reps, rng
        Bootstrap replicates and random generator (``rng`` required for bootstrap).
    min_cell
        Suppress (blank) estimates whose unweighted n is below this threshold.
    denominator
        Denominator column for ``ratio``.
    quantiles
        Probabilities for ``quantile``.
    level
        Confidence level.
    proportion_ci
        ``wald`` or ``logit`` interval for proportions.
    domain_df
        Degrees of freedom of the t intervals (quantiles, logit proportions) in a domain:
        ``design`` (default), the whole design's PSUs minus strata; ``domain``, the PSUs
        minus the strata in which the domain has respondents, which is what R ``svyby``
        hands to ``svyquantile`` and ``svyciprop`` (``degf()`` of the subset design).
        With replicate variance both are R's ``degf()`` of a replicate design: the rank of
        the replicate weights (of the domain's rows for ``domain``) minus 1.
    progress
        Optional callback ``advance(n)`` called once per variable × domain.

    Returns
    -------
    pandas.DataFrame
        Columns ``variable, statistic, domain, estimate, se, ci_low, ci_high, deff, cv,
        n, suppressed, method``.

    Examples
    --------
    >>> df = pd.DataFrame({"w": [1.0, 2.0, 1.0, 2.0], "y": [1, 0, 1, 1], "sex": ["F", "F", "M", "M"],
    ...                    "c": [1, 2, 3, 4]})
    >>> t = estimate_table(df, Design(weight_col="w", psu_col="c"), variables="y", by="sex")
    >>> t[["domain", "estimate", "n"]].to_string(index=False)
    'domain  estimate  n\\n sex=F  0.333333  2\\n sex=M  1.000000  2'
    """
    if statistic not in STATISTICS:
        raise EstimationError(f"unknown statistic {statistic!r}", fix=f"use one of {', '.join(STATISTICS)}")
    if isinstance(variables, str):
        variables = [v.strip() for v in variables.split(",") if v.strip()]
    variables = list(variables)
    if not variables:
        raise EstimationError("no variables to estimate", fix="name at least one column with --var")
    if statistic == "ratio" and not denominator:
        raise EstimationError("statistic 'ratio' needs a denominator", fix="pass denominator=<column> (--denominator)")
    check_columns(data, variables + ([denominator] if denominator else []), source="data")
    if min_cell is not None and min_cell < 0:
        raise EstimationError(f"min_cell must be ≥ 0, got {min_cell}")
    qs = [quantiles] if isinstance(quantiles, (int, float)) else list(quantiles)
    ctx = EstimationContext(data, design, variance=variance, replicates=replicates, reps=reps, rng=rng, level=level,
                   source="data", domain_df=domain_df)
    crossings = normalise_by(by) or [[]]
    rows: list[Estimate] = []
    for byvars in crossings:
        for label, mask in domains(data, byvars):
            for var in variables:
                if statistic == "mean":
                    ests = [_mean(ctx, var, mask, label)]
                elif statistic == "total":
                    ests = [_total(ctx, var, mask, label)]
                elif statistic == "ratio":
                    ests = [_ratio(ctx, var, denominator, mask, label)]
                elif statistic == "proportion":
                    ests = _proportions(ctx, var, mask, label, proportion_ci)
                else:
                    ests = [_quantile(ctx, var, q, mask, label) for q in qs]
                for e in ests:
                    if min_cell is not None and e.n < min_cell:
                        e = e.suppress()
                    rows.append(e)
                if progress is not None:
                    progress(1)
    _warn_empty_replicate_domains(ctx.empty_domains)
    _warn_empty_domains(ctx.blank)
    return pd.DataFrame([e.to_dict() for e in rows], columns=ESTIMATE_COLUMNS)


def round_sig(x: float | None, se: float | None = None) -> str:
    """A number rounded for reading: to two significant digits of its SE when there is one
    (so 4,348,776 ± 486,555 reads 4,350,000 ± 490,000), else four significant digits;
    thousands separated; never in exponent form.

    >>> round_sig(4348776, 486555)
    '4,350,000'
    """
    if x is None or not np.isfinite(x):
        return ""
    has_se = se is not None and np.isfinite(se) and se > 0
    ref = se if has_se else abs(x)
    if ref == 0:
        return "0"
    digits = (1 if has_se else 3) - int(math.floor(math.log10(ref)))
    digits = min(digits, 6)
    if digits < 0:
        return f"{round(x, digits):,.0f}"
    return f"{x:,.{digits}f}"


def format_estimates(table: pd.DataFrame, *, width: int = 80, level: float = 0.95) -> str:
    """An estimates table (docs/data-contract.md, 'Estimates') as plain text for the screen.

    One block per variable and statistic, one line per domain. Estimates, SEs and interval
    ends are rounded to two significant digits of the SE, the CV is a percentage, and a
    suppressed cell says so. Columns that do not fit in ``width`` are left out (deff first,
    then the interval); the domain label is never cut.

    Examples
    --------
    >>> t = pd.DataFrame([{"variable": "works", "statistic": "mean", "domain": "registered=0, sex=F",
    ...     "estimate": 0.123456, "se": 0.0123, "ci_low": 0.0993, "ci_high": 0.1476, "deff": 1.9,
    ...     "cv": 0.0996, "n": 412, "suppressed": False, "method": "linearization"}])
    >>> print(format_estimates(t))
    works (mean, linearization SE)
      domain               estimate     se  95% CI           cv%    n  deff
      registered=0, sex=F     0.123  0.012  0.099 to 0.148  10.0  412  1.90
    """
    if table.empty:
        return "no estimates (no domain has respondents)"
    head = ["domain", "estimate", "se", f"{100 * level:g}% CI", "cv%", "n", "deff"]
    right = {1, 2, 4, 5, 6}
    blocks = []
    for (var, stat, method), part in table.groupby(["variable", "statistic", "method"], sort=False):
        rows = []
        for r in part.to_dict("records"):
            se, supp = r.get("se"), bool(r.get("suppressed"))
            lo, hi = round_sig(r.get("ci_low"), se), round_sig(r.get("ci_high"), se)
            cv, deff = r.get("cv"), r.get("deff")
            fin = (lambda v: v is not None and np.isfinite(v))
            rows.append([str(r["domain"]), "suppressed" if supp else round_sig(r["estimate"], se),
                         "" if supp else round_sig(se, se), "" if supp or not lo else f"{lo} to {hi}",
                         "" if supp or not fin(cv) else f"{100 * cv:.1f}", f"{int(r['n']):,}",
                         "" if supp or not fin(deff) else f"{deff:.2f}"])
        keep = list(range(len(head)))
        widths = [max(len(head[j]), *(len(r[j]) for r in rows)) for j in keep]
        for drop in (6, 3):  # deff, then the interval, when the line is too long
            if 2 + sum(widths[j] for j in keep) + 2 * (len(keep) - 1) > width:
                keep.remove(drop)
        lines = [f"{var} ({stat}, {method} SE)"]
        for r in [head] + rows:
            cells = [r[j].rjust(widths[j]) if j in right else r[j].ljust(widths[j]) for j in keep]
            lines.append(("  " + "  ".join(cells)).rstrip())
        blocks.append("\n".join(lines))
    text = "\n\n".join(blocks)
    if table["suppressed"].astype(bool).any():
        text += "\n\nsuppressed: fewer respondents than --min-cell (n is shown)"
    return text
