"""Homophily configuration graph (HCG) estimator (Fellows 2019).

The HCG model treats the population as a configuration graph whose ties between groups follow a
recruitment preference matrix ``theta`` (rows sum to 1), with group shares ``y`` and group mean
degrees ``dbar``. Recruitment is successive sampling of the *edge ends* not yet used: when a
respondent of group ``g`` recruits, the recruit is in group ``h`` with probability

    theta[g, h] u_h / (N_h dbar_h)  /  sum_l theta[g, l] u_l / (N_l dbar_l),

where ``N_l = y_l N`` and ``u_l = N_l dbar_l - (degrees of group-l respondents already interviewed)``
(depletion). Given ``theta`` and ``dbar`` the group shares satisfy the configuration-graph balance
``y_j ∝ 1 / sum_i theta[j, i] dbar_j / (theta[i, j] dbar_i)``, projected onto the feasible set
``y_k >= max(n_k / N, sum_{i in k} d_i / (N dbar_k))``.

Algorithm (as R ``RDS`` 0.9-10 ``hcg.estimate``): start from ``theta`` = row proportions of
(transition counts + 1) and ``dbar_k`` = harmonic mean degree of non-seeds; then repeat (at most
``max_iter`` times, until ``sum (Δy)^2 < tol``): within-group successive-sampling weights of the
non-seeds with ``N_k = max(n_k, ceil(y_k N))`` -> ``dbar_k`` = weighted mean degree, raised to
``sum_{i in k} d_i / (y_k N)`` -> ``theta`` maximising the recruitment likelihood above (respondents in
interview order) -> ``y``. Final weights: within-group SS weights (seeds included) normalised within
group and multiplied by ``y_k``.

Differences from R, on purpose:

* ``theta`` is optimised on a softmax parametrisation with BFGS (R: Nelder–Mead on the off-diagonal
  entries with a penalty outside (0, 1), ``maxit = 500``), so the optimum is reached more tightly.
* The projection of ``y`` onto its bounds (R: ``constrOptim`` barrier method on
  ``||p - y||^2 + 10 (sum p - 1)^2``) is solved exactly (a one-dimensional monotone equation).
* Within-group SS weights use :mod:`hiddenpop.rds.ss` (deterministic by default; R simulates).
* Seeds are identified in the interview order correctly (R computes the seed mask in file order and
  applies it to time-sorted rows; identical when the file is in time order).

Public API
----------
``hcg_estimate(groups, degree, parent, order, *, n_groups, population_size, ...) -> HCGResult``
``hcg_weights(groups, degree, parent, order, *, n_groups, population_size, ...) -> ndarray``

References
----------
Fellows, I. E. (2019). Respondent-driven sampling and the homophily configuration graph.
Statistics in Medicine 38(1), 131-150.

Examples
--------
>>> import numpy as np
>>> g = np.array([0, 1, 0, 1, 0, 1, 0, 0, 1, 0])
>>> parent = np.array([-1, 0, 0, 1, 1, 2, 2, 3, 4, 5])
>>> d = np.array([4., 6, 3, 5, 2, 8, 3, 4, 6, 2])
>>> r = hcg_estimate(g, d, parent, np.arange(10), n_groups=2, population_size=100)
>>> bool(abs(r.y.sum() - 1) < 1e-12), bool(abs(r.weights.sum() - 1) < 1e-12)
(True, True)
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq, minimize

from hiddenpop.errors import ConvergenceWarning, EstimationError
from hiddenpop.rds.ss import ss_inclusion_probabilities

__all__ = ["HCGResult", "hcg_estimate", "hcg_weights"]


@dataclass(frozen=True)
class HCGResult:
    """HCG fit: ``weights`` (sum to 1, 0 for missing group), group shares ``y``, mean degrees
    ``dbar``, preference matrix ``theta``, iterations used and convergence flag."""

    weights: np.ndarray
    y: np.ndarray
    dbar: np.ndarray
    theta: np.ndarray
    n_iter: int
    converged: bool


def _balance_shares(theta: np.ndarray, dbar: np.ndarray) -> np.ndarray:
    K = len(dbar)
    ratio = theta * dbar[:, None] / (theta.T * dbar[None, :])  # [j, i] = theta_ji dbar_j / (theta_ij dbar_i)
    ratio = np.where(np.isfinite(ratio), ratio, 0.0)
    y = 1.0 / ratio.sum(axis=1)
    return y / y.sum() if K else y


def _project(y: np.ndarray, lb: np.ndarray) -> np.ndarray:
    """argmin ||p - y||^2 + 10 (sum p - 1)^2 subject to p >= lb (exact)."""
    if np.all(y >= lb):
        return y

    def g(lam: float) -> float:
        return lam - 10.0 * (np.maximum(lb, y - lam).sum() - 1.0)

    lo, hi = -10.0, 10.0
    while g(lo) > 0:
        lo *= 2
    while g(hi) < 0:
        hi *= 2
    lam = brentq(g, lo, hi, xtol=1e-15)
    return np.maximum(lb, y - lam)


def _within_group_weights(members: np.ndarray, degree: np.ndarray, size: float, method: str, rng: Any) -> np.ndarray:
    d = degree[members]
    if len(d) == 0:
        return d
    if len(np.unique(d)) == 1:
        return np.ones(len(d))
    pi = ss_inclusion_probabilities(d, max(size, len(d)), method=method, rng=rng, ss_infinity=0.04)
    return 1.0 / pi


def hcg_estimate(groups: Any, degree: Any, parent: Any, order: Any, *, n_groups: int, population_size: float,
                 small_fraction: bool = False, tol: float = 1e-10, max_iter: int = 50,
                 include_seeds: bool = True, ss_method: str = "deterministic", rng: Any = None) -> HCGResult:
    """Fit the HCG model and return weights and parameters.

    Parameters
    ----------
    groups
        Group code per respondent (``-1`` missing).
    degree
        Cleaned positive degrees.
    parent
        Recruiter position (``-1`` seeds).
    order
        Positions in interview order (e.g. :meth:`RDSSample.order`).
    n_groups
        Number of codes; codes without respondents are dropped (their weight is 0).
    population_size
        N (required unless ``small_fraction``; with ``small_fraction`` it only scales nothing).
    small_fraction
        Small-sampling-fraction approximation: no depletion, ``theta`` = row proportions of the
        transition counts (+1 if any is zero), within-group weights ``∝ 1/degree`` (non-seeds).
    tol, max_iter
        Outer loop stops when ``sum (Δy)^2 < tol`` (R uses 5e-5) or after ``max_iter`` iterations.
    include_seeds
        Give seeds a weight (R's default ``weights.include.seeds = TRUE``).
    ss_method, rng
        Within-group SS inclusion probabilities (see :mod:`hiddenpop.rds.ss`).

    Returns
    -------
    HCGResult

    Raises
    ------
    EstimationError
        More than 10 groups, or N below the sample size.
    """
    g_raw = np.asarray(groups, dtype=np.int64)
    deg = np.asarray(degree, dtype=float)
    par = np.asarray(parent, dtype=np.int64)
    order = np.asarray(order, dtype=np.int64)
    n = len(g_raw)
    N = float(population_size) if population_size is not None else None
    if N is None and not small_fraction:
        raise EstimationError("the HCG estimator needs the population size N",
                              fix="give --population-size (e.g. 1000 or 500,1000,1500)")
    nk_all = np.bincount(g_raw[g_raw >= 0], minlength=n_groups)
    present = np.flatnonzero(nk_all > 0)
    K = len(present)
    weights = np.zeros(n)
    if K == 0:
        return HCGResult(weights, np.zeros(0), np.zeros(0), np.zeros((0, 0)), 0, True)
    if K == 1:
        ok = g_raw >= 0
        weights[ok] = 1.0 / ok.sum()
        y = np.zeros(n_groups)
        y[present] = 1.0
        return HCGResult(weights, y, np.full(n_groups, np.nan), np.ones((1, 1)), 0, True)
    if K > 10:
        raise EstimationError(f"HCG handles at most 10 groups; the outcome has {K}",
                              fix="merge levels, or use SS or RDS-II")
    remap = np.full(n_groups, -1, dtype=np.int64)
    remap[present] = np.arange(K)
    g = np.where(g_raw >= 0, remap[np.maximum(g_raw, 0)], -1)
    is_seed = par < 0
    known = g >= 0
    rg = np.where(is_seed, -1, g[np.maximum(par, 0)])
    T = np.zeros((K, K))
    tr = (~is_seed) & known & (rg >= 0)
    np.add.at(T, (rg[tr], g[tr]), 1.0)
    tots = np.bincount(g[known], minlength=K).astype(float)
    tot_deg = np.bincount(g[known], weights=deg[known], minlength=K)
    nonseed = known & ~is_seed

    def harmonic(mask: np.ndarray) -> np.ndarray:
        cnt = np.bincount(g[mask], minlength=K).astype(float)
        inv = np.bincount(g[mask], weights=1.0 / deg[mask], minlength=K)
        with np.errstate(invalid="ignore", divide="ignore"):
            h = cnt / inv
        h[~np.isfinite(h) | (cnt == 0)] = n / np.sum(1.0 / deg)
        return h

    def expand(y_present: np.ndarray, dbar_present: np.ndarray, theta: np.ndarray, w: np.ndarray,
               it: int, conv: bool) -> HCGResult:
        y = np.zeros(n_groups)
        y[present] = y_present
        db = np.full(n_groups, np.nan)
        db[present] = dbar_present
        return HCGResult(w / w.sum(), y, db, theta, it, conv)

    if small_fraction:
        Ts = T + 1.0 if np.any(T == 0) else T
        theta = Ts / Ts.sum(axis=1, keepdims=True)
        dbar = harmonic(nonseed)
        y = _balance_shares(theta, dbar)
        for k in range(K):
            m = nonseed & (g == k)
            if m.any():
                w = 1.0 / deg[m]
                weights[m] = w / w.sum() * y[k]
        return expand(y, dbar, theta, weights, 0, True)

    if N < n:
        raise EstimationError(f"population size {N:g} is smaller than the sample size {n}",
                              fix="the population size must be at least the number of respondents")
    if N == n:  # a census: everybody was interviewed, the group shares are the sample shares
        weights[known] = 1.0
        return expand(tots / tots.sum(), harmonic(known), np.full((K, K), np.nan), weights, 0, True)

    # interview-ordered quantities for the likelihood
    pos_in_order = np.empty(n, dtype=np.int64)
    pos_in_order[order] = np.arange(n)
    g_o = g[order]
    d_o = deg[order]
    contrib = np.where(g_o >= 0, d_o, 0.0)
    onehot = np.zeros((n, K))
    onehot[np.arange(n)[g_o >= 0], g_o[g_o >= 0]] = contrib[g_o >= 0]
    before = np.cumsum(onehot, axis=0) - onehot  # degree of each group interviewed strictly before i
    rg_o = rg[order]
    use = (rg_o >= 0) & (g_o >= 0)
    S_use = before[use]
    rec_g = rg_o[use]
    own_g = g_o[use]
    # pairs of (recruiter group, recruit group) occur many times: aggregate in the likelihood by rows
    diag_idx = np.arange(K)

    def theta_of(z: np.ndarray) -> np.ndarray:
        Z = np.zeros((K, K))
        Z[~np.eye(K, dtype=bool)] = z
        Z -= Z.max(axis=1, keepdims=True)
        E = np.exp(Z)
        return E / E.sum(axis=1, keepdims=True)

    def z_of(theta: np.ndarray) -> np.ndarray:
        L = np.log(np.clip(theta, 1e-300, None))
        L -= L[diag_idx, diag_idx][:, None]
        return L[~np.eye(K, dtype=bool)]

    lb_fixed = tots / N
    inconsistent = [False]

    def shares(theta: np.ndarray, dbar: np.ndarray) -> np.ndarray:
        y = _balance_shares(theta, dbar)
        lb = np.maximum(lb_fixed, tot_deg / (N * dbar))
        if lb.sum() > 1:
            inconsistent[0] = True
        return _project(y, lb)

    def negloglik(z: np.ndarray, dbar: np.ndarray) -> float:
        theta = theta_of(z)
        y = shares(theta, dbar)
        cap = y * N * dbar
        if np.any(cap - tot_deg < 0):
            return 1e9 * (np.sum(tot_deg - cap, where=cap - tot_deg < 0) + 1)
        u = cap[None, :] - S_use
        rel = u / cap[None, :]
        num = theta[rec_g, own_g] * rel[np.arange(len(own_g)), own_g]
        den = np.sum(theta[rec_g] * rel, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = num / den
        good = np.isfinite(t) & (t > 0) & (t <= 1)
        return -float(np.sum(np.log(t[good])))

    theta = (T + 1.0) / (T + 1.0).sum(axis=1, keepdims=True)
    dbar = harmonic(nonseed)
    y = _balance_shares(theta, dbar)
    y_last = np.full(K, np.inf)
    converged = False
    change = np.inf
    it = 0
    for it in range(1, max_iter + 1):
        wts = [_within_group_weights(np.flatnonzero(nonseed & (g == k)), deg,
                                     max(tots[k], math.ceil(y[k] * N)), ss_method, rng) for k in range(K)]
        dbar_new = np.array([np.sum(deg[nonseed & (g == k)] * w) / np.sum(w) if len(w) else np.nan
                             for k, w in enumerate(wts)])
        fallback = n / np.sum(1.0 / deg)
        dbar = np.where(np.isfinite(dbar_new), dbar_new, fallback)
        with np.errstate(divide="ignore"):
            dbar = np.maximum(dbar, tot_deg / (y * N))
        res = minimize(negloglik, z_of(theta), args=(dbar,), method="BFGS",
                       options={"gtol": 1e-9, "maxiter": 2000})
        if not np.isfinite(res.fun):
            res = minimize(negloglik, z_of(theta), args=(dbar,), method="Nelder-Mead",
                           options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
        theta = theta_of(res.x)
        y = shares(theta, dbar)
        change = float(np.sum((y - y_last) ** 2))
        if change < tol:
            converged = True
            break
        y_last = y
    if inconsistent[0]:
        warnings.warn(ConvergenceWarning("HCG: the mean degrees were at times not consistent with the population "
                                         "size (lower bounds of the group shares summed above 1); check N"),
                      stacklevel=2)
    if not converged:
        warnings.warn(ConvergenceWarning(f"HCG did not converge in {max_iter} iterations "
                                         f"(last change {change:.2e}, needs < {tol:.0e})"), stacklevel=2)
    members = known if include_seeds else nonseed
    for k in range(K):
        idx = np.flatnonzero(members & (g == k))
        if len(idx):
            w = _within_group_weights(idx, deg, max(tots[k], math.ceil(y[k] * N)), ss_method, rng)
            weights[idx] = w / w.sum() * y[k]
    return expand(y, dbar, theta, weights, it, converged)


def hcg_weights(groups: Any, degree: Any, parent: Any, order: Any, *, n_groups: int, population_size: float,
                **kwargs: Any) -> np.ndarray:
    """HCG weights (sum to 1; 0 where the group is missing). See :func:`hcg_estimate`.

    >>> import numpy as np
    >>> w = hcg_weights(np.array([0, 1, 0, 1]), np.array([2., 3, 4, 5]), np.array([-1, 0, 1, 2]),
    ...                 np.arange(4), n_groups=2, population_size=40)
    >>> round(float(w.sum()), 12)
    1.0
    """
    return hcg_estimate(groups, degree, parent, order, n_groups=n_groups, population_size=population_size,
                        **kwargs).weights
