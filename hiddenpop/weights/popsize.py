"""Size of the unregistered population (docs/methods.md, 'Size of the unregistered population'), with intervals.

Two estimators from the final weights:

* **direct**: N̂_U = Σ_k w_k n_k I(R_k = 0), the weighted count of unregistered households
  (n_k = 1) or persons (n_k = household size or number of children);
* **ratio / multiplier**: N̂_U = N_R · Σ w n I(R = 0) / Σ w n I(R = 1), with N_R the
  registry total. It is robust to a common scale error of the area frame (the registry
  acts as capture 1, as in two-list capture–recapture).

Standard errors come from replicate weights (the whole weighting redone per replicate)
when given, else from Taylor linearisation with first-stage points as PSUs drawn with
replacement within strata (ultimate-cluster variance, Wolter 2007 §6; the linearised
variable of the ratio is z_k = N_R w_k n_k (I(U) − r̂ I(R)) / X̂_R). Intervals are normal or,
for these positive and skewed quantities, log-normal (exp(log N̂ ± z·SE/N̂)).

References
----------
Wolter, K. (2007). *Introduction to Variance Estimation*, 2nd ed., ch. 6.
Lohr, S. (2019). *Sampling: Design and Analysis*, §9.1 (ratio estimation, linearisation).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from hiddenpop._checks import check_columns
from hiddenpop.errors import DesignError, EstimationError, format_where

__all__ = ["population_size", "INTERVALS", "POPSIZE_REPLICATES"]

INTERVALS = ("log", "normal")
#: how the rep_* columns of the weights file were made (bootstrap: variance over B-1; jk1: (B-1)/B)
POPSIZE_REPLICATES = ("bootstrap", "jk1")


def _psu_variance(z: np.ndarray, stratum: np.ndarray, psu: np.ndarray) -> float:
    """Σ_h n_h/(n_h − 1) Σ_t (z_ht − z̄_h)² over PSU totals (with-replacement PSUs)."""
    frame = pd.DataFrame({"h": stratum, "t": psu, "z": z})
    tot = frame.groupby(["h", "t"], sort=False)["z"].sum().reset_index()
    v = 0.0
    for _, g in tot.groupby("h"):
        n_h = len(g)
        if n_h < 2:
            continue
        v += n_h / (n_h - 1) * float(np.sum((g.z - g.z.mean()) ** 2))
    return v


def population_size(table: pd.DataFrame, *, registry_total: float | None = None, weight_col: str = "final_weight",
                    registered_col: str = "registered", size_col: str | None = None,
                    stratum_col: str | None = "stratum", psu_col: str | None = "psu",
                    replicate_cols: Any = None, replicate_method: str = "bootstrap", level: float = 0.95,
                    interval: str = "log", extra_points: pd.DataFrame | None = None,
                    source: str = "weights") -> pd.DataFrame:
    """Direct and ratio estimates of the unregistered population with SEs and intervals.

    Parameters
    ----------
    table
        Weights table (``hiddenpop weights compute`` output or any weighted survey file).
    registry_total
        N_R, the registered population in the same units (households or persons) and
        area; ``None``: only the direct estimate.
    size_col
        Persons per household to count (e.g. ``n_children``); ``None``: households.
    replicate_cols, replicate_method
        Replicate weight columns (default: every ``rep_*`` column) and how they were
        made (``bootstrap``: variance Σ(θ_b − θ̄)²/(B − 1); ``jk1``: (B − 1)/B Σ(θ_b − θ̄)²).
    interval
        ``log`` (default) or ``normal``.
    extra_points
        Points without any household (``stratum``, ``psu``), counted as zero PSUs in the
        linearised variance.

    Returns
    -------
    DataFrame with ``estimator`` (direct, ratio), ``estimate``, ``se``, ``ci_low``,
    ``ci_high``, ``cv``, ``n`` (unweighted unregistered units), ``method``.

    Examples
    --------
    Direct: 2·10 + 1·20 = 40 unregistered; ratio: 1000 · 40 / (10 + 30) = 1000.

    >>> t = pd.DataFrame({"final_weight": [10.0, 20.0, 10.0, 30.0], "registered": [0, 0, 1, 1],
    ...                   "n_persons": [2, 1, 1, 1], "psu": ["a", "b", "a", "b"], "stratum": "S"})
    >>> out = population_size(t, registry_total=1000, size_col="n_persons")
    >>> out.estimate.tolist()
    [40.0, 1000.0]
    """
    if interval not in INTERVALS:
        raise DesignError(f"unknown interval {interval!r}", fix="use 'log' or 'normal'")
    if not 0 < level < 1:
        raise DesignError(f"confidence level must lie in (0, 1), got {level}")
    check_columns(table, [weight_col, registered_col] + ([size_col] if size_col else []), source=source)
    w = pd.to_numeric(table[weight_col], errors="coerce").to_numpy(float)
    # rows kept by 'weights compute' with weight 0 and a weight_flag (e.g. referred but not
    # eligible) count for nothing; any other weight must be > 0
    flagged = (table["weight_flag"].astype(object).fillna("").astype(str).str.len() > 0).to_numpy() \
        if "weight_flag" in table else np.zeros(len(w), bool)
    bad = ~np.isfinite(w) | (w < 0) | ((w == 0) & ~flagged)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DesignError("weight missing or not > 0",
                          where=format_where(source, row=i + 2, column=weight_col, value=_plain(table[weight_col].iloc[i])),
                          fix="every household needs a weight > 0 (or 0 with a reason in weight_flag): give the "
                              "final weights written by 'hiddenpop weights compute', or name the column with "
                              "--weight-col")
    reg = pd.to_numeric(table[registered_col], errors="coerce").to_numpy(float)
    if (~np.isin(reg, [0, 1])).any():
        i = int(np.flatnonzero(~np.isin(reg, [0, 1]))[0])
        raise DesignError("registration status must be 0 or 1",
                          where=format_where(source, row=i + 2, column=registered_col,
                                             value=_plain(table[registered_col].iloc[i])),
                          fix="write 1 for registered and 0 for unregistered households")
    size = np.ones(len(w)) if size_col is None else pd.to_numeric(table[size_col], errors="coerce").to_numpy(float)
    if (~(size >= 0)).any():
        i = int(np.flatnonzero(~(size >= 0))[0])
        raise DesignError("size must be a number >= 0",
                          where=format_where(source, row=i + 2, column=size_col, value=_plain(table[size_col].iloc[i])),
                          fix="give the number of persons of the household (0 or more)")
    if registry_total is not None and not registry_total > 0:
        raise DesignError(f"registry total must be > 0, got {registry_total}")
    u = (reg == 0) * size
    r = (reg == 1) * size
    x_u, x_r = float(np.sum(w * u)), float(np.sum(w * r))
    est = {"direct": x_u}
    if registry_total is not None:
        if x_r <= 0:
            raise EstimationError("no registered units in the sample, so the ratio estimator is undefined",
                                  fix="use the direct estimate")
        est["ratio"] = registry_total * x_u / x_r

    if replicate_cols is None:
        replicate_cols = [c for c in table.columns if str(c).startswith("rep_")]
    replicate_cols = list(replicate_cols)
    if replicate_cols:
        rw = table[replicate_cols].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        b = rw.shape[1]
        thetas = {"direct": rw.T @ u}
        if "ratio" in est:
            thetas["ratio"] = registry_total * (rw.T @ u) / (rw.T @ r)
        if replicate_method == "bootstrap":
            var = {k: float(np.sum((v - v.mean()) ** 2) / (b - 1)) for k, v in thetas.items()}
        elif replicate_method == "jk1":
            var = {k: float((b - 1) / b * np.sum((v - v.mean()) ** 2)) for k, v in thetas.items()}
        else:
            raise DesignError(f"unknown replicate method {replicate_method!r}",
                              fix="use " + " or ".join(POPSIZE_REPLICATES))
        method = f"replicate ({replicate_method}, B={b})"
    else:
        check_columns(table, [c for c in (psu_col,) if c], source=source)
        stratum = (table[stratum_col].astype(str).to_numpy() if stratum_col and stratum_col in table
                   else np.full(len(w), ""))
        psu = table[psu_col].astype(str).to_numpy() if psu_col else np.arange(len(w)).astype(str)
        zs = {"direct": w * u}
        if "ratio" in est:
            zs["ratio"] = registry_total * w * (u - (x_u / x_r) * r) / x_r
        if extra_points is not None and len(extra_points):
            stratum = np.concatenate([stratum, extra_points["stratum"].astype(str).to_numpy()])
            psu = np.concatenate([psu, extra_points["psu"].astype(str).to_numpy()])
            zs = {k: np.concatenate([v, np.zeros(len(extra_points))]) for k, v in zs.items()}
        var = {k: _psu_variance(z, stratum, psu) for k, z in zs.items()}
        method = "linearization"
    q = stats.norm.ppf(0.5 + level / 2)
    rows = []
    for k, value in est.items():
        se = float(np.sqrt(var[k]))
        if interval == "log" and value > 0:
            lo, hi = value * np.exp(-q * se / value), value * np.exp(q * se / value)
        else:
            lo, hi = value - q * se, value + q * se
        rows.append({"estimator": k, "estimate": value, "se": se, "ci_low": lo, "ci_high": hi,
                     "cv": se / value if value else np.nan, "n": int(np.sum(reg == 0)), "method": method,
                     "units": size_col or "households", "level": level})
    return pd.DataFrame(rows)


def _plain(value: Any) -> Any:
    """A cell value as the user typed it: numpy scalars as Python numbers, 3.0 as 3, NaN as None."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float):
        if np.isnan(value):
            return None
        if value.is_integer():
            return int(value)
    return value
