"""RDS point estimators: per-respondent weights and Hájek estimates.

Every estimator is a weight function; estimates are Hájek ratios of those weights, as in R ``RDS``:
``p_k = sum_{y_i = k} w_i / sum_{y_i known} w_i`` for a categorical outcome (levels sorted) and
``mu = sum w_i y_i / sum w_i`` for a numeric one.

========== ===================================================== ============ ==================
key        estimator                                             needs N      depends on outcome
========== ===================================================== ============ ==================
rds-i      Salganik–Heckathorn (Markov chain on the outcome)     no           yes
rds-i-ds   RDS-I with data smoothing                             no           yes
rds-ii     Volz–Heckathorn, w ∝ 1/degree                         no           no
ss         Gile's successive sampling, w = 1/pi_SS(degree; N)    yes          no
hcg        homophily configuration graph (Fellows 2019)          yes          yes
mean       arithmetic mean (equal weights)                       no           no
========== ===================================================== ============ ==================

Zero or missing network sizes are replaced by ``degree_rule`` (default ``"max"``: the largest
degree, R's rule; see :func:`hiddenpop.rds.sample.clean_degree`).

Public API (the bootstrap module codes against it)
--------------------------------------------------
Array level (numpy only, fast, no validation beyond shapes):

``vh_weights(degree) -> ndarray``                       RDS-II, ``1/d`` normalised to mean 1.
``rds_i_weights(groups, degree, parent, *, n_groups, smoothed=False) -> ndarray``
    ``groups`` int codes (``-1`` missing), ``parent`` recruiter positions (``-1`` seeds); weight
    ``p_k / n_k`` (0 for missing group).
``transition_counts(groups, parent, n_groups) -> ndarray``   recruiter-group x recruit-group counts.
``stationary_distribution(P) -> ndarray``                    of a row-stochastic matrix.
``hajek(weights, codes, n_levels) -> ndarray``              proportions per level.
``hajek_mean(weights, values) -> float``.
``outcome_codes(values, *, kind="auto") -> (codes, levels, kind)``  encode an outcome.

Sample level:

``ESTIMATORS``: ``name -> fn(sample, *, outcome=None, population_size=None, degree_rule="max",
rng=None, ss_method="deterministic", options=None) -> ndarray`` raw weights (any scale, 0 for
respondents that cannot be weighted).
``rds_weights(sample, estimator, *, outcome=None, population_size=None, degree_rule="max", rng=None,
ss_method="deterministic", kind="auto", options=None) -> pd.Series`` indexed by id, sums to N if
known else n.
``estimate(sample, outcome, *, estimator, population_size=None, degree_rule="max", rng=None,
ss_method="deterministic", kind="auto", options=None) -> pd.DataFrame`` with columns
``outcome, level, kind, estimator, estimate, n, n_valid, n_level, population_size``.
``population_size_sensitivity(sample, outcome, *, estimator="ss", population_sizes=None, ...)``
    the same estimate over low/mid/high N, one row per (N, level).

References
----------
Salganik, M. J., & Heckathorn, D. D. (2004). Sampling and estimation in hidden populations using
respondent-driven sampling. Sociological Methodology 34, 193-240.
Heckathorn, D. D. (2007). Extensions of respondent-driven sampling: analyzing continuous variables
and controlling for differential recruitment. Sociological Methodology 37, 151-207 (data smoothing).
Volz, E., & Heckathorn, D. D. (2008). Probability based estimation theory for respondent driven
sampling. J. Official Statistics 24(1), 79-97.
Gile, K. J. (2011). JASA 106, 135-146.  Fellows, I. E. (2019). Respondent-driven sampling and the
homophily configuration graph. Statistics in Medicine 38, 131-150.

Examples
--------
>>> import pandas as pd
>>> from hiddenpop.rds.sample import rds_sample_from_table
>>> t = pd.DataFrame({"id": [1, 2, 3, 4, 5], "recruiter.id": [0, 1, 1, 2, 2],
...                   "network.size": [2, 4, 4, 8, 2], "hiv": ["n", "y", "n", "y", "n"]})
>>> s = rds_sample_from_table(t)
>>> estimate(s, "hiv", estimator="rds-ii")[["level", "estimate"]].round(4).to_dict("list")
{'level': ['n', 'y'], 'estimate': [0.7692, 0.2308]}
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop.errors import EstimationError
from hiddenpop.rds.sample import RDSSample

__all__ = [
    "ESTIMATORS", "ESTIMATOR_LABELS", "vh_weights", "rds_i_weights", "transition_counts",
    "stationary_distribution", "stationary_distributions", "replicate_hajek", "replicate_rds_i", "hajek",
    "hajek_mean", "ESTIMATOR_ALIASES", "canonical_estimator", "outcome_codes", "rds_weights", "estimate",
    "population_size_sensitivity", "check_population_size",
]

ESTIMATOR_LABELS: dict[str, str] = {
    "rds-i": "RDS-I", "rds-i-ds": "RDS-I (DS)", "rds-ii": "RDS-II", "ss": "Gile's SS", "hcg": "HCG",
    "mean": "Arithmetic Mean",
}


# ---------------------------------------------------------------------------------- array level
def vh_weights(degree: Any) -> np.ndarray:
    """RDS-II (Volz–Heckathorn) weights ``∝ 1/degree``, scaled to mean 1.

    >>> vh_weights([1., 2., 4.]).round(4).tolist()
    [1.7143, 0.8571, 0.4286]
    """
    w = 1.0 / np.asarray(degree, dtype=float)
    return w * (len(w) / w.sum())


def transition_counts(groups: np.ndarray, parent: np.ndarray, n_groups: int) -> np.ndarray:
    """Recruiter-group × recruit-group counts (recruits with a recruiter and both groups known).

    >>> transition_counts(np.array([0, 1, 1, 0]), np.array([-1, 0, 0, 1]), 2).tolist()
    [[0.0, 2.0], [1.0, 0.0]]
    """
    groups = np.asarray(groups)
    parent = np.asarray(parent)
    has = parent >= 0
    rg = np.where(has, groups[np.maximum(parent, 0)], -1)
    ok = has & (rg >= 0) & (groups >= 0)
    flat = np.bincount(rg[ok] * n_groups + groups[ok], minlength=n_groups * n_groups)
    return flat.reshape(n_groups, n_groups).astype(float)


def stationary_distributions(P: np.ndarray) -> np.ndarray:
    """Stationary distribution ``q = q P`` of each row-stochastic matrix in a stack ``(m, k, k)``.

    The package's one rule for the RDS-I equilibrium: a matrix whose equilibrium is **not unique**
    (more than one eigenvalue within ``sqrt(eps)`` of 1: the recruitment chain splits into groups
    that never recruit each other) gets a row of ``NaN``; :func:`stationary_distribution` turns
    that into an :class:`EstimationError` and the bootstraps count such a replicate as failed.
    Periodic chains (an eigenvalue at -1) have a unique equilibrium and are accepted (R refuses them).

    >>> stationary_distributions(np.array([[[0.9, 0.1], [0.3, 0.7]], [[1., 0.], [0., 1.]]])).round(6).tolist()
    [[0.75, 0.25], [nan, nan]]
    """
    P = np.asarray(P, dtype=float)
    m, k = P.shape[0], P.shape[-1]
    if k == 1:
        return np.ones((m, 1))
    values, vectors = np.linalg.eig(np.swapaxes(P, 1, 2))
    close = np.abs(values - 1.0) < np.sqrt(np.finfo(float).eps)
    pick = np.argmin(np.abs(values - 1.0), axis=1)
    v = np.real(np.take_along_axis(vectors, pick[:, None, None], axis=2)[:, :, 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.clip(v / v.sum(axis=1, keepdims=True), 0.0, None)
        q = q / q.sum(axis=1, keepdims=True)
    q[close.sum(axis=1) != 1] = np.nan
    return q


def stationary_distribution(P: np.ndarray) -> np.ndarray:
    """Stationary distribution ``q = q P`` of a row-stochastic matrix (:func:`stationary_distributions`).

    Raises :class:`EstimationError` when it is not unique (the recruitment chain splits into
    groups that never recruit each other). Periodic chains are accepted (R refuses them).

    >>> stationary_distribution(np.array([[0.9, 0.1], [0.3, 0.7]])).round(6).tolist()
    [0.75, 0.25]
    """
    q = stationary_distributions(np.asarray(P, dtype=float)[None])[0]
    if np.isnan(q).any():
        raise EstimationError(
            "the recruitment transition matrix has no unique equilibrium (some groups never recruit "
            "across to the others)", fix="merge levels of the outcome or use RDS-II/SS, which do not need it")
    return q


def replicate_hajek(weights: Any, rep: Any, reps: int, *, codes: Any = None, values: Any = None,
                    n_levels: int = 1) -> np.ndarray:
    """Hájek estimates of many replicates at once: proportions per level, or a mean.

    ``rep`` says which replicate each row belongs to (``0 … reps-1``). With ``codes`` (``-1`` for
    missing): ``sum_{code=k} w / sum_{code>=0} w`` per level, shape ``(reps, n_levels)``; with
    ``values`` (NaN for missing): ``sum w y / sum w``, shape ``(reps, 1)``. A replicate without
    weight gives NaN. :func:`hajek` and :func:`hajek_mean` are the one-replicate case.

    >>> replicate_hajek(np.array([1., 1., 2., 3.]), np.array([0, 0, 1, 1]), 2, codes=np.array([0, 1, 1, 0]),
    ...                 n_levels=2).tolist()
    [[0.5, 0.5], [0.6, 0.4]]
    """
    w = np.asarray(weights, dtype=float)
    rep = np.asarray(rep, dtype=np.int64)
    if codes is not None:
        c = np.asarray(codes, dtype=np.int64)
        if c.min(initial=0) < 0:        # drop unknown outcomes (copies only when there are any)
            ok = c >= 0
            c, rep, w = c[ok], rep[ok], w[ok]
        L = int(n_levels)
        num = np.bincount(rep * L + c, weights=w, minlength=reps * L).reshape(reps, L)
        den = num.sum(axis=1)
    else:
        y = np.asarray(values, dtype=float)
        ok = ~np.isnan(y)
        num = np.bincount(rep[ok], weights=w[ok] * y[ok], minlength=reps).reshape(reps, 1)
        den = np.bincount(rep[ok], weights=w[ok], minlength=reps)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den[:, None]


def replicate_rds_i(codes: Any, degree: Any, parent: Any, rep: Any, reps: int, *, n_groups: int,
                    smoothed: bool = False) -> np.ndarray:
    """RDS-I proportions of many replicates at once, shape ``(reps, n_groups)``.

    ``codes`` (``-1`` for missing), ``degree`` and ``parent`` (row position of the recruiter within
    the stacked rows, ``-1`` for seeds) are stacked over the replicates; ``rep`` says which
    replicate each row belongs to. The estimator of :func:`rds_i_weights`: transition counts with
    0.1 in every cell of a row without transitions (R ``count.transitions``), the equilibrium of
    :func:`stationary_distributions` (a replicate without a unique one is NaN), optional data
    smoothing, and ``p_k ∝ q_k / h_k`` with ``h_k`` the harmonic mean degree of level ``k``; a
    level absent from a replicate has estimate 0 (as R).
    """
    L = int(n_groups)
    c = np.asarray(codes, dtype=np.int64)
    par = np.asarray(parent, dtype=np.int64)
    rep = np.asarray(rep, dtype=np.int64)
    d = np.asarray(degree, dtype=float)
    has = par >= 0
    cf = c[par[has]]
    ct = c[has]
    ok = (cf >= 0) & (ct >= 0)
    r = rep[has][ok]
    T = np.bincount((r * L + cf[ok]) * L + ct[ok], minlength=reps * L * L).reshape(reps, L, L).astype(float)
    empty = T.sum(axis=2) == 0
    T[empty] = 0.1                           # R rds.I.weights: rows without transitions get 0.1 in every cell
    P = T / T.sum(axis=2, keepdims=True)
    q = stationary_distributions(P)
    if smoothed:
        total = T.sum(axis=(1, 2))
        S = total[:, None, None] * q[:, :, None] * P
        S = (S + np.swapaxes(S, 1, 2)) / 2
        rs = S.sum(axis=2, keepdims=True)
        # a level nobody recruits into has q_k = 0, so its row and column of S are zero: a uniform
        # row (it still receives nothing, so its equilibrium share stays 0)
        P = np.where(rs > 0, S / np.where(rs > 0, rs, 1), 1.0 / L)
        q = stationary_distributions(P)
    known = c >= 0
    cnt = np.bincount(rep[known] * L + c[known], minlength=reps * L).reshape(reps, L)
    inv = np.bincount(rep[known] * L + c[known], weights=1.0 / d[known], minlength=reps * L).reshape(reps, L)
    with np.errstate(invalid="ignore", divide="ignore"):
        h = np.where(cnt > 0, cnt / np.where(inv > 0, inv, 1), 1.0)   # harmonic mean degree per level
        p = q / h
        p = np.where(cnt > 0, p, 0.0)       # a level absent from the replicate has estimate 0 (as R)
        return p / p.sum(axis=1, keepdims=True)


def rds_i_weights(groups: Any, degree: Any, parent: Any, *, n_groups: int, smoothed: bool = False) -> np.ndarray:
    """RDS-I (Salganik–Heckathorn) weights, optionally with data smoothing.

    Parameters
    ----------
    groups
        Integer group code per respondent, ``-1`` where the outcome is missing.
    degree
        Cleaned positive degrees.
    parent
        Recruiter position per respondent, ``-1`` for seeds.
    n_groups
        Number of codes. Codes with no respondent are ignored.
    smoothed
        Data smoothing (Heckathorn 2007): symmetrise the demographically adjusted transition counts.

    Returns
    -------
    numpy.ndarray
        ``p_k / n_k`` for a respondent in group ``k`` (sums to 1), 0 where the group is missing.

    Notes
    -----
    Transition counts ``T`` include every recruit whose recruiter is in the sample; rows without
    transitions get 0.1 in every cell (R ``count.transitions``). ``q`` is the stationary distribution
    of the row-normalised ``T``; ``h_k`` the harmonic mean degree of group ``k`` (seeds included);
    ``p_k = (q_k/h_k) / sum_j (q_j/h_j)``.

    Examples
    --------
    >>> rds_i_weights(np.array([0, 1, 1, 0]), np.array([2., 2., 4., 4.]), np.array([-1, 0, 0, 1]),
    ...               n_groups=2).round(4).tolist()
    [0.2, 0.3, 0.3, 0.2]
    """
    g = np.asarray(groups, dtype=np.int64)
    d = np.asarray(degree, dtype=float)
    parent = np.asarray(parent, dtype=np.int64)
    nk = np.bincount(g[g >= 0], minlength=n_groups).astype(float)
    present = np.flatnonzero(nk > 0)
    w = np.zeros(len(g))
    if len(present) == 0:
        return w
    if len(present) == 1:
        ok = g >= 0
        w[ok] = 1.0 / ok.sum()
        return w
    remap = np.full(n_groups, -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    gg = np.where(g >= 0, remap[np.maximum(g, 0)], -1)
    K = len(present)
    # the one RDS-I implementation (also the bootstraps'), on the levels present
    p = replicate_rds_i(gg, d, parent, np.zeros(len(g), dtype=np.int64), 1, n_groups=K, smoothed=smoothed)[0]
    if np.isnan(p).any():
        raise EstimationError(
            "the recruitment transition matrix has no unique equilibrium (some groups never recruit "
            "across to the others)", fix="merge levels of the outcome or use RDS-II/SS, which do not need it")
    ok = gg >= 0
    w[ok] = p[gg[ok]] / nk[present][gg[ok]]
    return w


def hajek(weights: Any, codes: Any, n_levels: int) -> np.ndarray:
    """Hájek proportions ``sum_{code=k} w / sum_{code>=0} w`` per level.

    >>> hajek(np.array([1., 1., 2.]), np.array([0, 1, -1]), 2).tolist()
    [0.5, 0.5]
    """
    c = np.asarray(codes)
    return replicate_hajek(weights, np.zeros(len(c), dtype=np.int64), 1, codes=c, n_levels=n_levels)[0]


def hajek_mean(weights: Any, values: Any) -> float:
    """Hájek mean ``sum w y / sum w`` over non-missing ``y``.

    >>> hajek_mean([1., 3.], [2., float("nan")])
    2.0
    """
    y = np.asarray(values, dtype=float)
    return float(replicate_hajek(weights, np.zeros(len(y), dtype=np.int64), 1, values=y)[0, 0])


def _level_label(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def outcome_codes(values: Any, *, kind: str = "auto") -> tuple[np.ndarray, list[str], str]:
    """Encode an outcome as integer codes over sorted levels.

    ``kind="auto"``: text, categorical and boolean columns, and numeric columns whose values are all
    0/1, are categorical (one proportion per level); other numeric columns are numeric (a mean).
    Levels are sorted numerically when all are numbers, else alphabetically, and rendered as text.

    Returns
    -------
    codes, levels, kind
        ``codes`` is ``-1`` where missing. For a numeric outcome ``levels`` is ``[]`` and ``codes``
        are all 0 (``-1`` missing).

    Examples
    --------
    >>> outcome_codes(["b", "a", None, "b"])
    (array([ 1,  0, -1,  1]), ['a', 'b'], 'categorical')
    >>> outcome_codes([0, 1, 1])[1:]
    (['0', '1'], 'categorical')
    >>> outcome_codes([1.5, 2.0])[1:]
    ([], 'numeric')
    """
    s = pd.Series(values)
    if kind not in ("auto", "categorical", "numeric"):
        raise EstimationError(f"unknown outcome kind {kind!r}", fix="use auto, categorical or numeric")
    missing = s.isna().to_numpy()
    if s.dtype == object:
        s = s.where(~(s.astype(str).str.strip() == ""), None)
        missing = s.isna().to_numpy()
    is_num = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    if kind == "auto":
        if is_num:
            vals = s[~missing].unique()
            kind = "categorical" if len(vals) and set(np.asarray(vals, dtype=float)) <= {0.0, 1.0} else "numeric"
        else:
            kind = "categorical"
    if kind == "numeric":
        num = pd.to_numeric(s, errors="coerce")
        if (num.isna() & ~missing).any():
            bad = s[num.isna() & ~missing].iloc[0]
            raise EstimationError(f"outcome is not numeric (value {bad!r})", fix="use a categorical outcome")
        return np.where(num.isna(), -1, 0).astype(np.int64), [], "numeric"
    present = s[~missing].unique()
    try:
        order = sorted(present, key=lambda v: float(v))
    except (TypeError, ValueError):
        order = sorted(present, key=lambda v: str(v))
    labels = [_level_label(v) for v in order]
    uniq_labels = sorted(set(labels), key=labels.index)
    lookup = {lab: i for i, lab in enumerate(uniq_labels)}
    codes = np.full(len(s), -1, dtype=np.int64)
    codes[~missing] = [lookup[_level_label(v)] for v in s[~missing]]
    return codes, uniq_labels, "categorical"


def _numeric_groups(values: np.ndarray, n_breaks: int = 3) -> np.ndarray:
    """Quantile groups (``n_breaks`` near-equal groups) used by RDS-I/HCG for numeric outcomes."""
    ok = ~np.isnan(values)
    codes = np.full(len(values), -1, dtype=np.int64)
    if not ok.any():
        return codes
    cuts = np.unique(np.quantile(values[ok], np.linspace(0, 1, n_breaks + 1)[1:-1], method="inverted_cdf"))
    codes[ok] = np.searchsorted(cuts, values[ok], side="right")
    _, codes[ok] = np.unique(codes[ok], return_inverse=True)
    return codes


# ---------------------------------------------------------------------------------- sample level
def check_population_size(sample: RDSSample, population_size: Any, *, required: bool,
                          estimator: str = "") -> float | None:
    """Resolve N (argument, else the sample's mid value) and check ``N >= n``.

    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> s = rds_sample_from_table(pd.DataFrame({"id": [1, 2], "recruiter.id": [0, 1], "network.size": [3, 4]}))
    >>> check_population_size(s, 50, required=True, estimator="ss")
    50.0
    """
    N = sample.mid_population_size(None if population_size is None else float(population_size))
    if N is None:
        if required:
            raise EstimationError(f"the {ESTIMATOR_LABELS.get(estimator, estimator)} estimator needs the "
                                  "population size N", where=sample.source,
                                  fix="give --population-size (e.g. 1000 or 500,1000,1500)")
        return None
    if N < sample.n:
        raise EstimationError(f"population size {N:g} is smaller than the sample size {sample.n}",
                              where=sample.source,
                              fix="the population size must be at least the number of respondents")
    return N


def _groups_for(sample: RDSSample, outcome: str | None, kind: str, estimator: str) -> tuple[np.ndarray, int]:
    if outcome is None:
        raise EstimationError(f"the {ESTIMATOR_LABELS[estimator]} weights depend on the outcome",
                              fix="name the outcome (outcome=... / --outcome)")
    codes, levels, kind = outcome_codes(sample.outcome(outcome), kind=kind)
    if kind == "numeric":
        codes = _numeric_groups(pd.to_numeric(sample.outcome(outcome), errors="coerce").to_numpy(dtype=float))
        return codes, int(codes.max(initial=-1)) + 1
    return codes, len(levels)


def _w_rds_i(sample: RDSSample, *, smoothed: bool = False, outcome: str | None = None, degree_rule: str = "max",
             kind: str = "auto", **_: Any) -> np.ndarray:
    groups, k = _groups_for(sample, outcome, kind, "rds-i-ds" if smoothed else "rds-i")
    return rds_i_weights(groups, sample.clean_degree(degree_rule), sample.recruiter, n_groups=k, smoothed=smoothed)


def _w_rds_i_ds(sample: RDSSample, **kw: Any) -> np.ndarray:
    return _w_rds_i(sample, smoothed=True, **kw)


def _w_rds_ii(sample: RDSSample, *, degree_rule: str = "max", **_: Any) -> np.ndarray:
    return vh_weights(sample.clean_degree(degree_rule))


def _w_mean(sample: RDSSample, **_: Any) -> np.ndarray:
    return np.ones(sample.n)


def _w_ss(sample: RDSSample, *, population_size: Any = None, degree_rule: str = "max", rng: Any = None,
          ss_method: str = "deterministic", options: dict | None = None, progress=None, **_: Any) -> np.ndarray:
    from hiddenpop.rds.ss import ss_inclusion_probabilities

    N = check_population_size(sample, population_size, required=True, estimator="ss")
    pi = ss_inclusion_probabilities(sample.clean_degree(degree_rule), N, method=ss_method, rng=rng,
                                    progress=progress, **(options or {}))
    return 1.0 / pi


def _w_hcg(sample: RDSSample, *, outcome: str | None = None, population_size: Any = None,
           degree_rule: str = "max", kind: str = "auto", rng: Any = None, ss_method: str = "deterministic",
           options: dict | None = None, **_: Any) -> np.ndarray:
    from hiddenpop.rds.hcg import hcg_weights

    N = check_population_size(sample, population_size, required=True, estimator="hcg")
    groups, k = _groups_for(sample, outcome, kind, "hcg")
    return hcg_weights(groups, sample.clean_degree(degree_rule), sample.recruiter, sample.order(),
                       n_groups=k, population_size=N, ss_method=ss_method, rng=rng, **(options or {}))


#: other names accepted for the estimators (lower case): R's and the literature's
ESTIMATOR_ALIASES: dict[str, str] = {"vh": "rds-ii", "rdsii": "rds-ii", "gile": "ss"}


def canonical_estimator(name: Any) -> str:
    """The registry name of an estimator given by any accepted name (case and spaces ignored).

    >>> canonical_estimator(" VH "), canonical_estimator("rds-i-ds")
    ('rds-ii', 'rds-i-ds')
    """
    key = str(name).strip().lower()
    key = ESTIMATOR_ALIASES.get(key, key)
    if key not in ESTIMATORS:
        raise EstimationError(f"unknown estimator {name!r}", fix=f"use one of {', '.join(ESTIMATORS)}")
    return key


ESTIMATORS: dict[str, Callable[..., np.ndarray]] = {
    "rds-i": _w_rds_i,
    "rds-i-ds": _w_rds_i_ds,
    "rds-ii": _w_rds_ii,
    "ss": _w_ss,
    "hcg": _w_hcg,
    "mean": _w_mean,
}


def _resolve(estimator: str | Callable) -> tuple[str, Callable]:
    if callable(estimator):
        return getattr(estimator, "__name__", "custom"), estimator
    if estimator not in ESTIMATORS:
        raise EstimationError(f"unknown estimator {estimator!r}", fix=f"use one of {', '.join(ESTIMATORS)}")
    return estimator, ESTIMATORS[estimator]


def rds_weights(sample: RDSSample, estimator: str | Callable = "rds-ii", *, outcome: str | None = None,
                population_size: Any = None, degree_rule: str = "max", rng: Any = None,
                ss_method: str = "deterministic", kind: str = "auto", options: dict | None = None,
                progress: Callable[[int], None] | None = None) -> pd.Series:
    """Per-respondent RDS weights of one estimator.

    Parameters
    ----------
    sample
        The RDS sample.
    estimator
        A key of :data:`ESTIMATORS` (``rds-i``, ``rds-i-ds``, ``rds-ii``, ``ss``, ``hcg``, ``mean``)
        or a callable with the same signature.
    outcome
        Outcome column; required by ``rds-i``, ``rds-i-ds`` and ``hcg`` (their weights depend on it).
    population_size
        N; defaults to the sample's mid value. Required by ``ss`` and ``hcg``.
    degree_rule
        Zero/missing degree rule (:data:`~hiddenpop.rds.sample.DEGREE_RULES`).
    rng
        Random generator or seed; only ``ss_method="simulation"`` draws.
    ss_method
        ``"deterministic"`` or ``"simulation"`` (see :mod:`hiddenpop.rds.ss`).
    kind
        Outcome kind for ``rds-i``/``hcg`` (``auto``, ``categorical``, ``numeric``).
    options
        Extra keyword options for the SS or HCG computation.
    progress
        Progress callback (SS simulation iterations).

    Returns
    -------
    pandas.Series
        Named ``weight``, indexed by respondent id, summing to N when known, else to n. Respondents
        that cannot be weighted (missing outcome under RDS-I/HCG) get 0.

    Examples
    --------
    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> s = rds_sample_from_table(pd.DataFrame({"id": [1, 2, 3], "recruiter.id": [0, 1, 1],
    ...                                         "network.size": [1, 2, 4]}))
    >>> rds_weights(s, "rds-ii", population_size=70).round(6).tolist()
    [40.0, 20.0, 10.0]
    """
    name, fn = _resolve(estimator)
    N = check_population_size(sample, population_size, required=False)
    w = np.asarray(fn(sample, outcome=outcome, population_size=N, degree_rule=degree_rule, rng=rng,
                      ss_method=ss_method, kind=kind, options=options, progress=progress), dtype=float)
    total = w.sum()
    if not total > 0:
        raise EstimationError(f"{ESTIMATOR_LABELS.get(name, name)} weights are all zero",
                              fix="check that the outcome has known values")
    w = w * ((N if N is not None else sample.n) / total)
    return pd.Series(w, index=pd.Index(sample.ids, name="id"), name="weight")


def estimate(sample: RDSSample, outcome: str, *, estimator: str | Callable = "rds-ii",
             population_size: Any = None, degree_rule: str = "max", rng: Any = None,
             ss_method: str = "deterministic", kind: str = "auto", options: dict | None = None,
             weights: pd.Series | np.ndarray | None = None,
             progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Hájek estimate of an outcome's distribution (categorical) or mean (numeric).

    Parameters
    ----------
    sample, outcome
        The RDS sample and the outcome column.
    estimator, population_size, degree_rule, rng, ss_method, kind, options, progress
        As in :func:`rds_weights`.
    weights
        Precomputed weights (skips the weight computation).

    Returns
    -------
    pandas.DataFrame
        One row per level (sorted) or one row (``level`` empty) for a numeric outcome; columns
        ``outcome, level, kind, estimator, estimate, n, n_valid, n_level, population_size``.

    Examples
    --------
    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> s = rds_sample_from_table(pd.DataFrame({"id": [1, 2, 3], "recruiter.id": [0, 1, 1],
    ...                                         "network.size": [1, 2, 4], "age": [20, 30, 40]}))
    >>> estimate(s, "age", estimator="rds-ii")[["kind", "estimate"]].round(4).values.tolist()
    [['numeric', 25.7143]]
    """
    name, _ = _resolve(estimator)
    N = check_population_size(sample, population_size,
                              required=name in ("ss", "hcg") and weights is None, estimator=name)
    if weights is None:
        w = rds_weights(sample, estimator, outcome=outcome, population_size=N, degree_rule=degree_rule, rng=rng,
                        ss_method=ss_method, kind=kind, options=options, progress=progress).to_numpy()
    else:
        w = np.asarray(weights, dtype=float)
    codes, levels, kind_used = outcome_codes(sample.outcome(outcome), kind=kind)
    n_valid = int((codes >= 0).sum())
    if kind_used == "numeric":
        y = pd.to_numeric(sample.outcome(outcome), errors="coerce").to_numpy(dtype=float)
        rows = [dict(level=None, estimate=hajek_mean(w, y), n_level=n_valid)]
    else:
        props = hajek(w, codes, len(levels))
        counts = np.bincount(codes[codes >= 0], minlength=len(levels))
        rows = [dict(level=lev, estimate=float(p), n_level=int(c)) for lev, p, c in zip(levels, props, counts)]
    out = pd.DataFrame(rows, columns=["level", "estimate", "n_level"])
    out.insert(0, "outcome", outcome)
    out.insert(2, "kind", kind_used)
    out.insert(3, "estimator", name)
    out["n"] = sample.n
    out["n_valid"] = n_valid
    out["population_size"] = np.nan if N is None else float(N)
    return out[["outcome", "level", "kind", "estimator", "estimate", "n", "n_valid", "n_level", "population_size"]]


def population_size_sensitivity(sample: RDSSample, outcome: str, *, estimator: str = "ss",
                                population_sizes: Sequence[float] | None = None, **kwargs: Any) -> pd.DataFrame:
    """Estimates over several population sizes (default: the sample's low, mid, high N).

    Returns the rows of :func:`estimate` for each N, plus ``scenario`` (``low``/``mid``/``high`` or
    ``N=...``) and ``change_from_mid`` (estimate minus the estimate at the middle N).

    Examples
    --------
    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> s = rds_sample_from_table(pd.DataFrame({"id": [1, 2, 3, 4], "recruiter.id": [0, 1, 1, 2],
    ...                           "network.size": [1, 2, 4, 8], "hiv": [1, 0, 0, 1]}),
    ...                           population_size=(5, 10, 100))
    >>> population_size_sensitivity(s, "hiv")[["scenario", "level"]].values[:2].tolist()
    [['low', '0'], ['low', '1']]
    """
    if population_sizes is None:
        named = [(lab, v) for lab, v in zip(("low", "mid", "high"), sample.population_size) if v is not None]
    else:
        named = [(f"N={float(v):g}", float(v)) for v in population_sizes]
        if len(named) == 3:
            named = [(lab, v) for lab, (_, v) in zip(("low", "mid", "high"), named)]
    if not named:
        raise EstimationError("no population size to vary", fix="give --population-size low,mid,high")
    frames = []
    for label, N in named:
        est = estimate(sample, outcome, estimator=estimator, population_size=N, **kwargs)
        est.insert(0, "scenario", label)
        frames.append(est)
    out = pd.concat(frames, ignore_index=True)
    mid_label = "mid" if "mid" in out["scenario"].values else named[len(named) // 2][0]
    mid = out[out["scenario"] == mid_label].set_index(out[out["scenario"] == mid_label]["level"].astype(str))["estimate"]
    out["change_from_mid"] = out["estimate"].to_numpy() - mid.reindex(out["level"].astype(str)).to_numpy()
    return out
