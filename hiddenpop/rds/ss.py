"""Successive-sampling (SS) inclusion probabilities for Gile's SS estimator.

Gile (2011) models RDS as successive sampling: respondents are drawn one after another without
replacement, each with probability proportional to degree among those not yet drawn. Given the
population size N, the inclusion probability ``pi(d)`` of a person of degree ``d`` depends on the
unknown population degree distribution, which is itself estimated from the sample with weights
``1/pi``: a fixed point. Two ways to compute it are offered.

``method="deterministic"`` (default; no Monte Carlo noise)
    The continuous-time (Poisson-process / exponential-race) representation of sampling without
    replacement proportional to size: unit ``u`` of degree ``c`` enters at time ``E_u / c``
    (``E_u`` standard exponential), so after "time" ``t`` it has been drawn with probability
    ``1 - exp(-c t)``. With population counts ``N_k`` per degree class the sample size fixes ``t``
    through ``sum_k N_k (1 - exp(-c_k t)) = n``. Inside Gile's fixed point the class counts are
    ``N_k = N p_k`` with ``p_k ∝ m_k / pi_k`` (``m_k`` sample counts), and at the fixed point the
    two conditions collapse to a single monotone equation in ``t``::

        sum_k m_k / (1 - exp(-c_k t)) = N,      pi_k = 1 - exp(-c_k t),

    solved to machine precision by bracketing root finding (linear in the number of distinct
    degrees). As ``n/N -> 0`` it tends to RDS-II (``pi ∝ d``); at ``n = N`` every ``pi`` is 1.
``method="simulation"`` (R ``RDS`` 0.9-10's scheme)
    Start from PPS ``pi ∝ d``; 1 + ``iterations`` (default 5) times: build a synthetic population of
    ``round(N p_k)`` units per class (empty classes forced to 1, the rounding error spread at random
    as in R), draw ``samples_per_iteration`` (default 500) successive samples of size ``n``, set ``pi_k = n (E_k + m_k) / (sum E + n) / N_k`` with ``E_k`` the draws of class
    ``k`` (the observed sample counted as one more replicate), and update ``p_k ∝ m_k / pi_k``.
    When ``n/N <= ss_infinity`` (0.01, as R's estimation path) SS is replaced by RDS-II.
    Each successive sample is an exponential race (unit of degree ``c`` arrives at ``E/c``; the
    first ``n`` arrivals are the sample), simulated per degree class: binomial counts of arrivals
    before and after a narrow window of race time around the n-th arrival, explicit arrival times
    only inside the window (``O(K + sqrt(n) log n)`` per sample instead of ``O(N)``; exact, see
    ``_race_class_counts``).

Public API (the bootstrap module codes against it)
--------------------------------------------------
``ss_inclusion_probabilities(degree, population_size, *, method="deterministic", rng=None,
iterations=5, samples_per_iteration=500, ss_infinity=0.01, progress=None) -> np.ndarray``
    ``pi_i`` per respondent (``degree`` already cleaned: positive floats).
``ss_class_probabilities(classes, counts, population_size, *, method=..., rng=None, ...)``
    the same on the ``(distinct degrees, sample counts)`` table -> ``pi`` per class.
``SS_METHODS``: ``{"deterministic": ..., "simulation": ...}``.

References
----------
Gile, K. J. (2011). Improved inference for respondent-driven sampling data with application to HIV
prevalence estimation. JASA 106(493), 135-146.
Rosén, B. (1997). On sampling with probability proportional to size. JSPI 62, 159-191
(the exponential-race / order-sampling representation).

Examples
--------
>>> import numpy as np
>>> pi = ss_inclusion_probabilities(np.array([2., 2., 5., 10.]), 8)
>>> bool(np.all((pi > 0) & (pi <= 1))), round(float(np.sum(1 / pi)), 9)
(True, 8.0)
>>> ss_inclusion_probabilities(np.array([2., 5.]), 2).tolist()   # n = N: everyone included
[1.0, 1.0]
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import brentq

from hiddenpop._checks import check_rng
from hiddenpop.errors import EstimationError

__all__ = ["ss_inclusion_probabilities", "ss_class_probabilities", "SS_METHODS"]

SS_METHODS: dict[str, str] = {
    "deterministic": "fixed point of the continuous-time successive-sampling model (exact, no noise)",
    "simulation": "R RDS 0.9-10 scheme: 1+5 iterations x 500 simulated successive samples",
}


def _check(degree: np.ndarray, population_size: float) -> float:
    if population_size is None:
        raise EstimationError("Gile's SS estimator needs the population size N",
                              fix="give --population-size (e.g. 1000, or low,mid,high 500,1000,1500)")
    N = float(population_size)
    n = len(degree)
    if not np.isfinite(N) or N < n:
        raise EstimationError(f"population size {N:g} is smaller than the sample size {n}",
                              fix="the population size must be at least the number of respondents")
    if n and not np.all(degree > 0):
        raise EstimationError("degrees must be positive for SS (clean zero/missing degrees first)",
                              fix="use hiddenpop.rds.clean_degree or a degree rule")
    return N


def ss_class_probabilities(classes: Any, counts: Any, population_size: float, *,
                           method: str = "deterministic", rng: Any = None, iterations: int = 5,
                           samples_per_iteration: int = 500, ss_infinity: float = 0.01,
                           progress: Callable[[int], None] | None = None) -> np.ndarray:
    """SS inclusion probability of each degree class.

    Parameters
    ----------
    classes
        Distinct positive degrees ``c_k`` (any order).
    counts
        Number of respondents ``m_k`` with each degree.
    population_size
        N (at least ``sum(counts)``).
    method
        ``"deterministic"`` or ``"simulation"`` (see the module docstring).
    rng
        Required for ``"simulation"``.
    iterations, samples_per_iteration, ss_infinity
        Simulation settings (R defaults 5, 500, 0.01).
    progress
        Called with 1 after each simulation iteration.

    Returns
    -------
    numpy.ndarray
        ``pi_k`` in (0, 1].

    Examples
    --------
    >>> ss_class_probabilities([1., 3.], [2, 2], 4).tolist()
    [1.0, 1.0]
    """
    c = np.asarray(classes, dtype=float)
    m = np.asarray(counts, dtype=float)
    n = float(m.sum())
    N = _check(c, population_size)
    if len(c) == 0:
        return c
    if n >= N:
        return np.ones_like(c)
    if method == "deterministic":
        return _deterministic(c, m, N)
    if method == "simulation":
        return _simulation(c, m, N, check_rng(rng), iterations, samples_per_iteration, ss_infinity, progress)
    raise EstimationError(f"unknown SS method {method!r}", fix=f"use one of {', '.join(SS_METHODS)}")


def _deterministic(c: np.ndarray, m: np.ndarray, N: float) -> np.ndarray:
    # g(t) = sum m_k / (1 - exp(-c_k t)) - N is decreasing from +inf (t -> 0) to n - N < 0 (t -> inf).
    def g(log_t: float) -> float:
        return float(np.sum(m / -np.expm1(-c * np.exp(log_t)))) - N

    # bracket: small t gives sum m_k/(c_k t) ~ N  ->  t0 = sum(m/c)/N
    t0 = float(np.sum(m / c) / N)
    lo, hi = np.log(t0) - 1.0, np.log(t0) + 1.0
    while g(lo) < 0:
        lo -= 2.0
    while g(hi) > 0:
        hi += 2.0
        if hi > np.log(1e300):
            return np.ones_like(c)
    log_t = brentq(g, lo, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=500)
    return -np.expm1(-c * np.exp(log_t))


def _round_counts(props: np.ndarray, N: int, rng: np.random.Generator) -> np.ndarray:
    """Class counts round(N p_k), empty classes forced to 1, rounding error spread at random (as R)."""
    nk = np.round(N * props)
    nk[nk == 0] = 1
    off = int(N - nk.sum())
    for _ in range(abs(off)):
        if off > 0:
            dif = np.clip(props - nk / N, 0, None)
        else:
            dif = np.clip(nk / N - props, 0, None)
            dif[nk <= 1] = 0
        if dif.sum() <= 0:  # nothing eligible by the preferred rule: any class (keeping >= 1 unit)
            dif = np.ones_like(props) if off > 0 else (nk > 1).astype(float)
        k = rng.choice(len(props), p=dif / dif.sum())
        nk[k] += 1 if off > 0 else -1
    return nk.astype(np.int64)


def _race_direct(c: np.ndarray, nk: np.ndarray, n: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """Class counts of ``reps`` successive samples of size n, one exponential key per population unit.

    Reference implementation (``O(N)`` per sample): unit ``u`` of size ``c`` arrives at ``E_u / c``
    and the first ``n`` arrivals form the successive sample. Returns a ``(reps, K)`` integer array.
    """
    size = np.repeat(c, nk)
    cls = np.repeat(np.arange(len(c)), nk)
    out = np.empty((reps, len(c)), np.int64)
    chunk = max(1, int(4_000_000 // max(len(size), 1)))
    for done in range(0, reps, chunk):
        r = min(chunk, reps - done)
        if n < len(size):
            keys = rng.standard_exponential((r, len(size))) / size
            sel = np.argpartition(keys, n - 1, axis=1)[:, :n]
        else:
            sel = np.broadcast_to(np.arange(len(size)), (r, len(size)))
        flat = (np.arange(r)[:, None] * len(c) + cls[sel]).ravel()
        out[done:done + r] = np.bincount(flat, minlength=r * len(c)).reshape(r, len(c))
    return out


def _race_time(c: np.ndarray, nk: np.ndarray, target: float) -> float:
    """Time t at which the expected number of arrivals ``sum_k nk (1 - exp(-c_k t))`` equals ``target``."""
    def g(log_t: float) -> float:
        return float(np.sum(nk * -np.expm1(-c * np.exp(log_t)))) - target

    lo = np.log(max(target, 1e-300) / float(np.sum(nk * c))) - 1.0
    hi = lo + 2.0
    while g(lo) > 0:
        lo -= 2.0
    while g(hi) < 0:
        hi += 2.0
    return float(np.exp(brentq(g, lo, hi, xtol=1e-13, maxiter=500)))


def _race_class_counts(c: np.ndarray, nk: np.ndarray, n: int, reps: int, rng: np.random.Generator,
                       margin_sd: float = 4.5) -> np.ndarray:
    """Class counts of ``reps`` successive samples of size n, without a key per population unit.

    Same distribution as :func:`_race_direct` (exponential race), simulated per class. Fix a window
    ``(t0, t1]`` of race time around the expected time of the n-th arrival (``margin_sd`` standard
    deviations of the arrival count either side). The number of class-``k`` units arrived by ``t1`` is
    Binomial(N_k, F_k(t1)) with ``F_k(t) = 1 - exp(-c_k t)``; of those, Binomial(., F_k(t0)/F_k(t1))
    arrived by ``t0`` (thinning). If ``S0 <= n <= S1`` (arrivals by t0 and by t1), the n-th arrival is
    inside the window: only the window's units (a few standard deviations' worth) get explicit arrival
    times (truncated exponentials, inverse CDF) and are sorted; the first ``n - S0`` of them are added.
    The rare samples whose n-th arrival falls outside the window are redrawn by the direct method,
    which keeps the result exact. Cost per sample: ``O(K + sqrt(n) log n)`` instead of ``O(N)``.
    """
    K = len(c)
    Ntot = int(nk.sum())
    if n >= Ntot:
        return np.broadcast_to(nk, (reps, K)).astype(np.int64)
    t_mid = _race_time(c, nk, n)
    F_mid = -np.expm1(-c * t_mid)
    sd = float(np.sqrt(np.sum(nk * F_mid * (1 - F_mid))))
    margin = margin_sd * sd + 3.0
    t0 = _race_time(c, nk, n - margin) if n - margin > 0 else 0.0
    t1 = _race_time(c, nk, n + margin) if n + margin < Ntot else np.inf
    F0 = -np.expm1(-c * t0)
    F1 = -np.expm1(-c * t1) if np.isfinite(t1) else np.ones_like(c)
    q = np.divide(F0, F1, out=np.zeros_like(F0), where=F1 > 0)
    per_sample = max(float(np.sum(nk * (F1 - F0))), float(K), 1.0)
    chunk = max(1, int(2_000_000 // per_sample))
    out = np.empty((reps, K), np.int64)
    for done in range(0, reps, chunk):
        r = min(chunk, reps - done)
        x1 = rng.binomial(np.broadcast_to(nk, (r, K)), F1)        # arrived by t1
        b0 = rng.binomial(x1, q)                                    # ... of which by t0
        w = x1 - b0                                                 # arrived inside the window
        s0, s1 = b0.sum(axis=1), x1.sum(axis=1)
        ok = (s0 <= n) & (n <= s1)
        counts = b0.copy()
        rows = np.flatnonzero(ok)
        if len(rows):
            wr = w[rows]
            lab = np.repeat(np.arange(len(rows) * K), wr.ravel())   # (row, class) of each window unit
            k = lab % K
            u = F0[k] + rng.random(len(lab)) * (F1[k] - F0[k])
            t = -np.log1p(-u) / c[k]                                # truncated exponential arrival time
            row = lab // K
            d = t - t0                                              # order by (row, time) with one float key:
            z = d / (d + max(t_mid - t0, 1e-300))                   # monotone map of time into [0, 1)
            o = np.argsort(row + 0.5 * z)
            lab, row = lab[o], row[o]
            start = np.searchsorted(row, np.arange(len(rows)))
            rank = np.arange(len(lab)) - start[row]
            take = lab[rank < (n - s0[rows])[row]]
            counts[rows] += np.bincount(take, minlength=len(rows) * K).reshape(len(rows), K)
        bad = np.flatnonzero(~ok)
        if len(bad):                                                # outside the window: exact redraw
            counts[bad] = _race_direct(c, nk, n, len(bad), rng)
        out[done:done + r] = counts
    return out


def _simulate_draws(c: np.ndarray, nk: np.ndarray, n: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """Total draws per class over ``reps`` successive samples of size n (exponential race)."""
    return _race_class_counts(c, nk, n, reps, rng).sum(axis=0).astype(float)


def _simulation(c: np.ndarray, m: np.ndarray, N: float, rng: np.random.Generator, iterations: int,
                samples_per_iteration: int, ss_infinity: float,
                progress: Callable[[int], None] | None) -> np.ndarray:
    n = int(round(m.sum()))
    order = np.argsort(c)
    c_s, m_s = c[order], m[order]
    pi = c_s / np.sum(c_s * m_s)
    props = m_s / pi
    props /= props.sum()
    if n / N <= ss_infinity:
        out = n * c_s / (N * np.sum(props * c_s))
    else:
        Ni = int(round(N))
        for _ in range(iterations + 1):
            nk = _round_counts(props, Ni, rng)
            draws = _simulate_draws(c_s, nk, n, samples_per_iteration, rng)
            share = (draws + m_s) / (draws.sum() + n)
            pi = n * share / nk
            props = m_s / pi
            props /= props.sum()
            if progress is not None:
                progress(1)
        out = pi
    result = np.empty_like(out)
    result[order] = out
    return result


def ss_inclusion_probabilities(degree: Any, population_size: float, *, method: str = "deterministic",
                               rng: Any = None, iterations: int = 5, samples_per_iteration: int = 500,
                               ss_infinity: float = 0.01,
                               progress: Callable[[int], None] | None = None) -> np.ndarray:
    """SS inclusion probability ``pi_i`` of every respondent.

    Parameters
    ----------
    degree
        Cleaned network sizes (positive floats), one per respondent.
    population_size
        N, at least the number of respondents.
    method
        ``"deterministic"`` (default) or ``"simulation"`` (R's Monte Carlo scheme; needs ``rng``).
    rng, iterations, samples_per_iteration, ss_infinity, progress
        See :func:`ss_class_probabilities`.

    Returns
    -------
    numpy.ndarray
        ``pi_i``; SS weights are ``1 / pi_i`` (Hájek-normalised by the caller).

    Raises
    ------
    EstimationError
        N missing or below n, non-positive degrees, unknown method.

    Examples
    --------
    >>> import numpy as np
    >>> d = np.array([3., 3., 10., 20.])
    >>> pi = ss_inclusion_probabilities(d, 1e9)   # tiny sampling fraction: proportional to degree
    >>> np.round(pi / pi[0], 6).tolist()
    [1.0, 1.0, 3.333333, 6.666667]
    """
    d = np.asarray(degree, dtype=float).reshape(-1)
    _check(d, population_size)
    classes, inverse, counts = np.unique(d, return_inverse=True, return_counts=True)
    pk = ss_class_probabilities(classes, counts, population_size, method=method, rng=rng, iterations=iterations,
                                samples_per_iteration=samples_per_iteration, ss_infinity=ss_infinity,
                                progress=progress)
    return pk[inverse]
