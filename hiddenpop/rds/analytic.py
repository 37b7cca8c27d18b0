"""R ``RDS``'s analytic standard error of a proportion (its "EL" default), without a bootstrap.

``RDS.I.estimates``, ``RDS.II.estimates`` and ``RDS.SS.estimates`` report, unless asked for a
bootstrap, a second-order pairwise standard error. For a level with indicator ``y_i`` and estimator
weights ``w_i`` (respondents with a missing outcome left out):

* ``W_ij = w_i w_j``, capped at 10 times the median of all ``W_ij`` (the full n x n table, diagonal
  included);
* over pairs ``i > j`` in the data's row order: ``o_ij = (y_i + y_j) / 2`` and
  ``e = sum o_ij W_ij / sum W_ij``;
* ``G_i = sum_{j<i} W_ij^2 (o_ij - e)``, ``V_i = sum_{j<i} W_ij^2``, ``var = 4 sum G_i^2 / (sum V_i)^2``;
* ``se = sqrt(var (N - n) / (N - 1))`` when N is known (``n`` counts every respondent, missing
  outcomes too), else ``sqrt(var)``.

The interval is ``estimate ± 1.96 se`` around the Hájek estimate, and the design effect
``se² / [(N - n')/(N - 1) · p(1 - p)/n']`` with ``n'`` the respondents whose outcome is known (no
finite-population factor without N), as R prints them. The pairwise sums take O(n²) time but are
accumulated a block of rows at a time, so memory stays O(n) per row (R keeps several n x n tables).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hiddenpop.errors import EstimationError
from hiddenpop.rds.estimators import check_population_size, estimate, outcome_codes, rds_weights
from hiddenpop.rds.sample import RDSSample

__all__ = ["el_standard_error", "el_intervals", "el_columns", "el_for_estimates", "ANALYTIC_VARIANCES", "EL_ESTIMATORS"]

_BLOCK = 512
#: R hard-codes the normal quantile 1.96 for the EL interval.
EL_Z = 1.96
#: the analytic standard errors offered besides the bootstraps (``rds estimate --variance el``)
ANALYTIC_VARIANCES = ("el",)
#: the estimators R gives an EL standard error for
EL_ESTIMATORS = ("rds-i", "rds-i-ds", "rds-ii", "ss")


def _median_of_products(w: np.ndarray, exact_limit: int = 4_000_000) -> float:
    """Median of the n² products ``w_i w_j`` (R's ``median(outer(w, w))``); above ``exact_limit``
    products by bisection on the value (memory O(n))."""
    n = len(w)
    if n * n <= exact_limit:
        return float(np.median(np.multiply.outer(w, w)))
    s = np.sort(w)

    def kth(k: int) -> float:  # k-th smallest product (0-based) by bisection on the value
        lo, hi = 0.0, float(s[-1] * s[-1])
        for _ in range(200):
            mid = (lo + hi) / 2
            if mid in (lo, hi):
                break
            with np.errstate(divide="ignore"):
                count = np.sum(np.searchsorted(s, np.where(s > 0, mid / s, np.inf), side="right"))
            if count > k:
                hi = mid
            else:
                lo = mid
        # snap to the product nearest the bound
        with np.errstate(divide="ignore"):
            idx = np.clip(np.searchsorted(s, np.where(s > 0, hi / s, np.inf), side="right") - 1, 0, n - 1)
        return float(np.max(s * s[idx]))

    m = n * n
    return kth(m // 2) if m % 2 else (kth(m // 2 - 1) + kth(m // 2)) / 2


def el_standard_error(weights: Any, indicator: Any, *, population_size: float | None = None) -> float:
    """R ``RDS``'s "EL" standard error (``EL.se``) of a proportion, from weights and a 0/1 indicator.

    Parameters
    ----------
    weights
        Estimator weights per respondent, in the data's row order (any scale).
    indicator
        1 for the level, 0 otherwise, NaN for a missing outcome (left out, but still counted in the
        finite-population factor, as R does).
    population_size
        N; ``None`` for no finite-population factor.

    Returns
    -------
    float
        The standard error (module notes give the formula).

    Examples
    --------
    Two respondents, equal weights: one pair, ``o = 1/2 = e``, so ``G = 0`` and the SE is 0.

    >>> el_standard_error([1.0, 1.0], [1, 0])
    0.0

    By hand for w = (1, 2, 1), y = (1, 0, 0): pairs (2,1), (3,1), (3,2) have W = 2, 1, 2 and
    o = 1/2, 1/2, 0, so e = 1.5/5 = 0.3; G = (0.8, -1.0), sum V = 9, var = 4 · 1.64 / 81.

    >>> round(el_standard_error([1.0, 2.0, 1.0], [1, 0, 0]), 6)
    0.284583
    """
    w = np.asarray(weights, dtype=float)
    y = np.asarray(indicator, dtype=float)
    n_all = len(y)
    keep = np.isfinite(w) & np.isfinite(y)
    w, y = w[keep], y[keep]
    n = len(w)
    if n < 2:
        return float("nan")
    cap = 10 * _median_of_products(w)
    sum_ow = sum_w = 0.0
    blocks = [(a, min(a + _BLOCK, n)) for a in range(1, n, _BLOCK)]
    for a, b in blocks:  # rows a..b-1, columns j < i
        W, O, L = _block(w, y, a, b, cap)
        sum_ow += float(np.sum(O * W * L))
        sum_w += float(np.sum(W * L))
    est = sum_ow / sum_w
    G2 = V = 0.0
    for a, b in blocks:
        W, O, L = _block(w, y, a, b, cap)
        W2 = W * W * L
        G2 += float(np.sum(np.sum(W2 * (O - est), axis=1) ** 2))
        V += float(np.sum(W2))
    var = 4 * G2 / V ** 2
    if population_size is None:
        return float(np.sqrt(var))
    N = float(population_size)
    return float(np.sqrt((N - n_all) * var / (N - 1)))


def _block(w: np.ndarray, y: np.ndarray, a: int, b: int, cap: float) -> tuple[np.ndarray, ...]:
    W = np.minimum(np.multiply.outer(w[a:b], w[:b]), cap)
    O = 0.5 * np.add.outer(y[a:b], y[:b])
    L = (np.arange(a, b)[:, None] > np.arange(b)[None, :]).astype(float)
    return W, O, L


def el_intervals(sample: RDSSample, outcome: str, *, estimator: str = "rds-ii", population_size: Any = None,
                 degree_rule: str = "max", rng: Any = None, ss_method: str = "deterministic",
                 kind: str = "auto") -> pd.DataFrame:
    """Estimates with R ``RDS``'s default analytic ("EL") standard errors, intervals and design effects.

    Parameters
    ----------
    sample, outcome
        The RDS sample and a categorical outcome (numbers with two values, such as 0/1, count as
        categories here, as ``to.factor = TRUE`` in R).
    estimator
        ``rds-i``, ``rds-i-ds``, ``rds-ii`` or ``ss`` (R offers EL for these; ``mean`` is refused).
    population_size, degree_rule, rng, ss_method, kind
        As in :func:`hiddenpop.rds.estimate`; N (argument, else the sample's mid value) also gives
        the finite-population factor.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`hiddenpop.rds.estimate` plus ``se, ci_low, ci_high, design_effect`` and
        ``variance`` (``"el"``).

    Examples
    --------
    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> s = rds_sample_from_table(pd.DataFrame({"id": [1, 2, 3, 4], "recruiter.id": [0, 1, 1, 2],
    ...                                         "network.size": [2, 4, 4, 2], "g": list("abab")}))
    >>> el_intervals(s, "g")[["level", "estimate", "se", "variance"]].round(4).values.tolist()
    [['a', 0.5, 0.1714, 'el'], ['b', 0.5, 0.1714, 'el']]
    """
    from hiddenpop.rds.estimators import canonical_estimator

    name = canonical_estimator(estimator)
    _check_el_estimator(sample, name)
    N = check_population_size(sample, population_size, required=name == "ss", estimator=name)
    codes, levels, kind_used = outcome_codes(sample.outcome(outcome),
                                             kind="categorical" if kind == "auto" and _two_valued(sample, outcome)
                                             else kind)
    if kind_used == "numeric":
        raise EstimationError(f"'{outcome}' is a number with many values: the EL standard error here is for "
                              "proportions", where=sample.source,
                              fix="declare it categorical (kind='categorical') or use a bootstrap")
    w = rds_weights(sample, name, outcome=outcome, population_size=N, degree_rule=degree_rule, rng=rng,
                    ss_method=ss_method, kind="categorical").to_numpy()
    out = estimate(sample, outcome, estimator=name, population_size=N, kind="categorical", weights=w)
    for col, values in el_columns(w, codes, out["estimate"].to_numpy(dtype=float), population_size=N).items():
        out[col] = values
    out["variance"] = "el"
    return out


def _check_el_estimator(sample: RDSSample, name: str) -> None:
    if name not in EL_ESTIMATORS:
        raise EstimationError(f"no analytic (EL) standard error for the {name} estimator", where=sample.source,
                              fix="use " + ", ".join(EL_ESTIMATORS) + " (--variance el), or a bootstrap for the "
                                  "others")


def el_for_estimates(sample: RDSSample, outcome: str, estimator: str, weights: Any, estimates: pd.DataFrame, *,
                     population_size: float | None = None, level: float = 0.95) -> dict[str, np.ndarray]:
    """The EL columns of an estimate table already computed (``rds estimate --variance el``).

    ``estimates`` is :func:`hiddenpop.rds.estimate`'s table for ``outcome`` made with ``weights``
    (one row per level); returns :func:`el_columns` for it. A numeric outcome (a mean) is refused:
    EL is for proportions.

    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> s = rds_sample_from_table(pd.DataFrame({"id": [1, 2, 3, 4], "recruiter.id": [0, 1, 1, 2],
    ...                                         "network.size": [2, 4, 4, 2], "g": list("abab")}))
    >>> w = rds_weights(s, "rds-ii", outcome="g")
    >>> e = estimate(s, "g", estimator="rds-ii", weights=w.to_numpy())
    >>> el_for_estimates(s, "g", "rds-ii", w, e)["se"].round(4).tolist()
    [0.1714, 0.1714]
    """
    _check_el_estimator(sample, estimator)
    codes, levels, kind = outcome_codes(sample.outcome(outcome))
    if kind != "categorical" or len(levels) != len(estimates):
        raise EstimationError(f"'{outcome}' is a number (a mean): the EL standard error is for proportions",
                              where=sample.source,
                              fix=f"declare category codes with --categorical {outcome}, or use a bootstrap --variance")
    return el_columns(weights, codes, estimates["estimate"].to_numpy(dtype=float), population_size=population_size,
                      level=level)


def el_columns(weights: Any, codes: Any, estimates: Any, *, population_size: float | None = None,
               level: float = 0.95) -> dict[str, np.ndarray]:
    """``se``, ``ci_low``, ``ci_high`` and ``design_effect`` of the proportions of a categorical outcome.

    ``codes`` are the outcome's level codes (``-1`` missing; :func:`hiddenpop.rds.estimators.outcome_codes`),
    ``estimates`` the proportion of each level (their order), ``weights`` the estimator's weights. The
    interval is estimate ± 1.96·se at ``level`` 0.95 (R's constant), else the normal quantile.

    >>> cols = el_columns([1.0, 2.0, 1.0], [1, 0, 0], [0.75, 0.25])
    >>> round(float(cols["se"][1]), 6) == round((4 * 1.64 / 81) ** 0.5, 6)
    True
    """
    from scipy.stats import norm

    w = np.asarray(weights, dtype=float)
    codes = np.asarray(codes)
    known = codes >= 0
    n_known = int(known.sum())
    p = np.asarray(estimates, dtype=float)
    se = np.array([el_standard_error(w, np.where(known, (codes == k).astype(float), np.nan),
                                     population_size=population_size) for k in range(len(p))])
    fpc = 1.0 if population_size is None else (population_size - n_known) / (population_size - 1)
    z = EL_Z if abs(level - 0.95) < 1e-12 else float(norm.ppf(0.5 + level / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        deff = se ** 2 / (fpc * p * (1 - p) / n_known)
    return {"se": se, "ci_low": p - z * se, "ci_high": p + z * se, "design_effect": deff}


def _two_valued(sample: RDSSample, outcome: str) -> bool:
    values = pd.to_numeric(sample.outcome(outcome), errors="coerce")
    return values.notna().any() and values.dropna().nunique() <= 2
