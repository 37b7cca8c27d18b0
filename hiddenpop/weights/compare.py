"""Differences (and ratios) between domains, with design-based standard errors.

"Is it different for the unregistered, and by how much?" A difference of two domain
estimates needs their covariance: the two domains share strata and PSUs, so their
estimates are correlated. :func:`compare_domains` estimates every domain of a
cross-classification at once and contrasts each level of one variable (``compare``) with a
reference level, within every combination of the other ``by`` variables:

* **linearisation**: the domain estimates' influence values are stacked into one matrix and
  their joint covariance V comes from one pass of
  :func:`hiddenpop.weights.variance.linearization_variance` (strata, PSUs, FPC, lonely-PSU
  policy and calibration residuals included), as R ``svyby(..., covmat=TRUE)``. The
  difference has variance ``c' V c`` with ``c = (1, -1)`` (R ``svycontrast``); the ratio
  of two domain estimates ``a/b`` the delta-method variance ``g' V g`` with
  ``g = (1/b, -a/b²)`` (R ``svycontrast`` with a nonlinear contrast).
* **replicates** (JK1, JKn, bootstrap, replicate weight columns): every replicate gives
  every domain estimate; the difference (or the ratio) is formed *in each replicate* and its
  replicate variance taken (R ``svyby(..., covmat=TRUE, return.replicates=TRUE)`` +
  ``svycontrast``).

Intervals are normal (R ``confint`` of a contrast); the p-value is the two-sided normal
test of "no difference" (a difference of 0, a ratio of 1). A domain with fewer respondents
than ``min_cell`` is suppressed in the estimates, and every comparison that involves it is
suppressed too (no difference is shown).

References
----------
Lumley, T. (2010). *Complex Surveys*, §2.4 (domains) and §3.3 (contrasts).
Wolter, K. (2007). *Introduction to Variance Estimation*, ch. 6 (Taylor series).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from hiddenpop._checks import check_columns
from hiddenpop.errors import EstimationError
from hiddenpop.weights.design import Design, PreparedDesign
from hiddenpop.weights.variance import linearization_variance

__all__ = ["COMPARE_COLUMNS", "compare_domains", "headline_comparisons", "format_comparisons"]

COMPARE_COLUMNS = ["variable", "statistic", "within", "compare", "level", "reference", "contrast", "estimate", "se",
                   "ci_low", "ci_high", "p_value", "n", "n_reference", "suppressed", "method"]
_STATISTICS = ("mean", "total", "proportion", "ratio")


def _fmt_level(v: Any) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _domain_values(data: pd.DataFrame, byvars: list[str]) -> pd.DataFrame:
    """The combinations of ``byvars`` present in the data, sorted (the order of ``estimate``)."""
    return data[byvars].dropna().drop_duplicates().sort_values(byvars, kind="stable").reset_index(drop=True)


def _indicators(ctx: Any, variable: str, statistic: str) -> list[tuple[str, np.ndarray]]:
    """(name, values) of the analysis variable; one 0/1 indicator per level for a categorical proportion."""
    from hiddenpop.weights.estimate import _column

    if statistic != "proportion":
        return [(variable, _column(ctx.data, variable))]
    col = ctx.data[variable]
    values = pd.to_numeric(col, errors="coerce")
    if values.notna().sum() == col.notna().sum() and set(values.dropna().unique()) <= {0, 1}:
        return [(variable, values.to_numpy(dtype=float))]
    levels = sorted(col.dropna().unique(), key=lambda v: (str(type(v)), v))
    miss = col.isna().to_numpy()
    return [(f"{variable}={lev}", np.where(miss, np.nan, (col == lev).to_numpy(dtype=float))) for lev in levels]


def _domain_stat(ctx: Any, y: np.ndarray, x: np.ndarray | None, mask: np.ndarray, statistic: str):
    """(estimate, n, influence (n,) or replicate estimates (B,)) of one domain."""
    keep = mask & ~np.isnan(y)
    if x is not None:
        keep &= ~np.isnan(x)
    w = ctx.design.weights
    wd = np.where(keep, w, 0.0)
    n = int(np.count_nonzero(wd))
    nan = float("nan")
    if n == 0:
        return nan, 0, None
    y0 = np.where(keep, y, 0.0)
    if statistic == "total":
        est = float(wd @ y0)
        infl = wd * y0
        num, den = y0, None
    elif statistic == "ratio":
        x0 = np.where(keep, x, 0.0)
        xhat = float(wd @ x0)
        if xhat == 0:
            return nan, n, None
        est = float(wd @ y0) / xhat
        infl = wd * (y0 - est * x0) / xhat
        num, den = y0, x0
    else:  # mean, proportion
        wsum = float(wd.sum())
        est = float(wd @ y0) / wsum
        infl = wd * (y0 - est) / wsum
        num, den = y0, keep.astype(float)
    if ctx.replicates is None:
        return est, n, infl
    tnum = ctx.rep_totals(num)
    if den is None:
        return est, n, tnum
    tden = ctx.rep_totals(den)
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = np.where(np.abs(tden) > 0, tnum / np.where(np.abs(tden) > 0, tden, 1.0), np.nan)
    return est, n, reps


def compare_domains(data: pd.DataFrame, design: Design | PreparedDesign, *, variables: str | Sequence[str],
                    compare: str, reference: Any = None, statistic: str = "mean", by: str | Sequence[str] | None = None,
                    denominator: str | None = None, variance: str = "linearization", replicates: Any = None,
                    reps: int = 500, rng: Any = None, min_cell: int | None = None, level: float = 0.95,
                    ratio: bool = False, subpop: np.ndarray | None = None) -> pd.DataFrame:
    """Differences of domain estimates against a reference level, with design-based SEs.

    Parameters
    ----------
    data
        Survey table (one row per respondent).
    design
        Design spec or prepared design (as for :func:`~hiddenpop.weights.estimate.estimate_table`).
    variables
        Analysis variable(s).
    compare
        The column whose levels are compared (e.g. ``registered``).
    reference
        The level every other level is compared with; matched against the column's values
        as written (``1`` matches 1 and "1"). Default: the first level in sorted order.
    statistic
        ``mean``, ``total``, ``proportion`` (one comparison per category of a categorical
        variable) or ``ratio`` (needs ``denominator``). Quantiles are not compared.
    by
        Other domain variables crossed with ``compare``: the comparison is made within each
        of their combinations (e.g. registered vs unregistered among girls, and among boys).
    denominator
        Denominator column of ``statistic="ratio"``.
    variance, replicates, reps, rng
        As for :func:`~hiddenpop.weights.estimate.estimate_table`.
    min_cell
        Domains with fewer respondents are suppressed; so is every comparison involving one.
    level
        Confidence level of the (normal) intervals.
    ratio
        Also give the ratio ``level / reference`` of the two domain estimates.
    subpop
        Optional boolean mask of a subpopulation (e.g. children aged 6–17): every domain is
        intersected with it, by zero-weighting as for the domains (R ``subset``).

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARE_COLUMNS`: ``within`` is the combination of the other ``by`` variables
        (``all`` without them), ``contrast`` ``difference`` (level − reference) or ``ratio``,
        ``n`` and ``n_reference`` the respondents in the two domains.

    Examples
    --------
    >>> df = pd.DataFrame({"w": [1.0, 2.0, 1.0, 2.0, 1.0, 1.0], "y": [1, 0, 1, 1, 0, 1],
    ...                    "reg": [0, 0, 0, 1, 1, 1], "c": [1, 2, 3, 4, 5, 6]})
    >>> t = compare_domains(df, Design(weight_col="w", psu_col="c"), variables="y", compare="reg")
    >>> t[["level", "reference", "estimate"]].round(4).to_dict("records")
    [{'level': '1', 'reference': '0', 'estimate': 0.25}]
    """
    from hiddenpop.weights.estimate import _Context

    if statistic not in _STATISTICS:
        raise EstimationError(f"statistic {statistic!r} cannot be compared between domains",
                              fix=f"use one of {', '.join(_STATISTICS)} (quantiles have no comparison)")
    if isinstance(variables, str):
        variables = [v.strip() for v in variables.split(",") if v.strip()]
    variables = list(variables)
    if isinstance(by, str):
        by = [b.strip() for b in by.split(",") if b.strip()]
    others = [b for b in (by or []) if b != compare]
    if statistic == "ratio" and not denominator:
        raise EstimationError("statistic 'ratio' needs a denominator", fix="pass denominator=<column>")
    check_columns(data, variables + [compare] + others + ([denominator] if denominator else []), source="data")
    ctx = _Context(data, design, variance=variance, replicates=replicates, reps=reps, rng=rng, level=level,
                   source="data")
    byvars = [compare] + others
    doms = _domain_values(data, byvars)
    labels = {c: doms[c].map(_fmt_level).to_numpy() for c in byvars}
    ref_label = _fmt_level(reference) if reference is not None else None
    present = sorted(set(labels[compare]), key=lambda s: list(labels[compare]).index(s))
    if ref_label is None:
        ref_label = present[0] if present else None
    elif ref_label not in present:
        raise EstimationError(f"reference level {ref_label!r} of '{compare}' is not in the data",
                              fix=f"use one of {', '.join(present)}")
    cols = {c: data[c].to_numpy(dtype=object) for c in byvars}
    if subpop is not None:
        subpop = np.asarray(subpop, dtype=bool)
        if subpop.shape != (len(data),):
            raise EstimationError("subpop must be a boolean mask with one value per row")
    masks = []
    for i in range(len(doms)):
        mask = np.ones(len(data), dtype=bool) if subpop is None else subpop.copy()
        for c in byvars:
            mask &= cols[c] == doms.at[i, c]
        masks.append(mask)
    groups: dict[str, list[int]] = {}
    for i in range(len(doms)):
        key = ", ".join(f"{c}={labels[c][i]}" for c in others) or "all"
        groups.setdefault(key, []).append(i)
    x = None
    if statistic == "ratio":
        from hiddenpop.weights.estimate import _column

        x = _column(data, denominator)
    z = ctx.z
    rows = []
    for var in variables:
        for name, y in _indicators(ctx, var, statistic):
            shown = f"{name}/{denominator}" if statistic == "ratio" else name
            for within, idx in groups.items():
                ref = [i for i in idx if labels[compare][i] == ref_label]
                if not ref:
                    continue
                r = ref[0]
                stats_ = {i: _domain_stat(ctx, y, x, masks[i], statistic) for i in idx}
                lin_cov = None
                if ctx.replicates is None:
                    good = [i for i in idx if stats_[i][2] is not None]
                    if r in good and len(good) > 1:
                        v = np.atleast_2d(linearization_variance(np.column_stack([stats_[i][2] for i in good]),
                                                                 ctx.design))
                        lin_cov = {(a, b): v[ia, ib] for ia, a in enumerate(good) for ib, b in enumerate(good)}
                er, nr, ir = stats_[r]
                for i in idx:
                    if i == r:
                        continue
                    el, nl, il = stats_[i]
                    base = dict(variable=shown, statistic=statistic, within=within, compare=compare,
                                level=labels[compare][i], reference=ref_label, n=nl, n_reference=nr,
                                method=ctx.method)
                    suppressed = min_cell is not None and (nl < min_cell or nr < min_cell)
                    for kind in (("difference", "ratio") if ratio else ("difference",)):
                        est = var_ = float("nan")
                        if not suppressed and il is not None and ir is not None:
                            if kind == "difference":
                                est = el - er
                                if ctx.replicates is None:
                                    var_ = lin_cov[i, i] + lin_cov[r, r] - 2 * lin_cov[i, r]
                                else:
                                    var_ = ctx.rep_var(il - ir, est)
                            elif er != 0:
                                est = el / er
                                if ctx.replicates is None:
                                    g = np.array([1 / er, -el / er ** 2])
                                    vm = np.array([[lin_cov[i, i], lin_cov[i, r]], [lin_cov[r, i], lin_cov[r, r]]])
                                    var_ = float(g @ vm @ g)
                                else:
                                    with np.errstate(divide="ignore", invalid="ignore"):
                                        var_ = ctx.rep_var(il / ir, est)
                        se = math.sqrt(var_) if var_ >= 0 else float("nan")
                        null = 0.0 if kind == "difference" else 1.0
                        p = float(2 * stats.norm.sf(abs(est - null) / se)) if se > 0 else float("nan")
                        rows.append({**base, "contrast": kind, "estimate": est, "se": se, "ci_low": est - z * se,
                                     "ci_high": est + z * se, "p_value": p, "suppressed": bool(suppressed)})
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


def headline_comparisons(children: pd.DataFrame, design: Design | PreparedDesign, *,
                         indicators: Sequence[str] = ("works", "attends_school"), compare: str = "registered",
                         reference: Any = 1, variance: str = "linearization", replicates: Any = None,
                         min_cell: int | None = None, level: float = 0.95,
                         ages: tuple[float, float] | None = (6, 17), age_col: str = "age") -> pd.DataFrame:
    """The report's headline comparisons: unregistered minus registered, for each child indicator.

    Runs :func:`compare_domains` (statistic ``mean``, so a 0/1 indicator gives a
    difference in percentage points as a fraction) for the indicators present in
    ``children`` and adds ``distinguishable``: whether the interval excludes zero. With an
    ``age_col`` column, only children aged ``ages`` (inclusive; default 6–17, the ages the
    indicators are about) count; younger children would add structural zeros to both groups.

    Examples
    --------
    >>> kids = pd.DataFrame({"w": [1.0] * 8, "works": [1, 0, 0, 0, 1, 1, 0, 1], "c": range(8),
    ...                      "registered": [1, 1, 1, 1, 0, 0, 0, 0]})
    >>> t = headline_comparisons(kids, Design(weight_col="w", psu_col="c"), indicators=["works", "absent"])
    >>> t[["variable", "level", "reference", "estimate"]].to_dict("records")
    [{'variable': 'works', 'level': '0', 'reference': '1', 'estimate': 0.5}]
    """
    present = [v for v in indicators if v in children.columns]
    if not present or compare not in children.columns:
        return pd.DataFrame(columns=COMPARE_COLUMNS + ["distinguishable", "ages"])
    subpop = None
    if ages is not None and age_col in children.columns:
        age = pd.to_numeric(children[age_col], errors="coerce")
        subpop = ((age >= ages[0]) & (age <= ages[1])).to_numpy()
    out = compare_domains(children, design, variables=present, compare=compare, reference=reference,
                          statistic="mean", variance=variance, replicates=replicates, min_cell=min_cell, level=level,
                          subpop=subpop)
    out["ages"] = f"{ages[0]:g}-{ages[1]:g}" if subpop is not None else ""
    out["distinguishable"] = (out["ci_low"] > 0) | (out["ci_high"] < 0)
    return out


def format_comparisons(table: pd.DataFrame, *, level: float = 0.95) -> str:
    """A comparisons table as plain text: one line per comparison.

    Examples
    --------
    >>> t = pd.DataFrame([{"variable": "works", "statistic": "mean", "within": "sex=F", "compare": "registered",
    ...     "level": "0", "reference": "1", "contrast": "difference", "estimate": 0.0812, "se": 0.0301,
    ...     "ci_low": 0.0222, "ci_high": 0.1402, "p_value": 0.007, "n": 310, "n_reference": 402,
    ...     "suppressed": False, "method": "linearization"}])
    >>> print(format_comparisons(t))
    works (mean), registered=0 compared with registered=1, linearization SE
      within  contrast    estimate     se  95% CI            p-value    n  n ref
      sex=F   difference     0.081  0.030  0.022 to 0.140      0.007  310    402
    """
    from hiddenpop.weights.estimate import _round_sig

    if table.empty:
        return "no comparisons (the reference level has no respondents in any domain)"
    head = ["within", "contrast", "estimate", "se", f"{100 * level:g}% CI", "p-value", "n", "n ref"]
    right = {2, 3, 5, 6, 7}
    blocks = []
    keys = ["variable", "statistic", "compare", "level", "reference", "method"]
    for (var, stat, comp, lev, ref, method), part in table.groupby(keys, sort=False):
        rows = []
        for r in part.to_dict("records"):
            se, supp = r["se"], bool(r["suppressed"])
            p = r["p_value"]
            rows.append([str(r["within"]), str(r["contrast"]),
                         "suppressed" if supp else _round_sig(r["estimate"], se), "" if supp else _round_sig(se, se),
                         "" if supp or not np.isfinite(se) else
                         f"{_round_sig(r['ci_low'], se)} to {_round_sig(r['ci_high'], se)}",
                         "" if supp or not np.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}"),
                         f"{int(r['n']):,}", f"{int(r['n_reference']):,}"])
        widths = [max(len(head[j]), *(len(row[j]) for row in rows)) for j in range(len(head))]
        lines = [f"{var} ({stat}), {comp}={lev} compared with {comp}={ref}, {method} SE"]
        for row in [head] + rows:
            lines.append(("  " + "  ".join(c.rjust(widths[j]) if j in right else c.ljust(widths[j])
                                           for j, c in enumerate(row))).rstrip())
        blocks.append("\n".join(lines))
    text = "\n\n".join(blocks)
    if table["suppressed"].astype(bool).any():
        text += "\n\nsuppressed: one of the two groups has fewer respondents than --min-cell"
    return text
