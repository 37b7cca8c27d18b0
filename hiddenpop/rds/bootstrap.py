"""Bootstrap variance and confidence intervals for RDS estimates, vectorised over replicates.

Four resampling schemes, all returning a :class:`BootstrapResult`:

``salganik``
    Salganik (2006): a synthetic first-order Markov chain over the outcome groups, driven by the
    observed recruitment transition counts; within a group a respondent is drawn with probability
    proportional to degree and contributes degree and outcome (R ``RDS::salganik.bootstrap.estimates``). Groups are coded
    **once** in sorted order for both the transition matrix and the chain, which fixes the
    level-order bug of R ``RDS`` 0.9-10 (its chain used first-appearance order against a
    transition table in sorted order).
``tree``
    Baraff, McCormick & Raftery (2016), fixed-size variant of R ``RDS::treeboot``: draw a seed with
    replacement, regrow its tree by resampling every respondent's recruits with replacement, append
    trees until at least ``n`` respondents, then trim the last tree from its deepest wave (a random
    subset of the boundary wave) to exactly ``n``.
``ss``
    Gile (2011) successive-sampling bootstrap (R ``RDS::SSBS.estimates`` / ``sppsboot4ppsreal``):
    a synthetic population of (degree, group) classes built from the SS estimate, seeds drawn
    proportional to degree, recruiter groups following symmetrised between-group tie counts,
    recruits drawn proportional to remaining degree without replacement, numbers of recruits
    resampled from the observed positive recruit counts; the replicate is re-estimated with the
    full-sample inclusion-probability mapping (R's ``fast = TRUE``).
``neighbourhood``
    Yauck, Moodie, Apelian et al. (2022) (R ``Neighboot``): draw ``round(n / mean tree degree)``
    respondents with replacement and take the multiset of their neighbours in the (undirected)
    recruitment tree.

Every replicate is a set of respondent *positions* (with multiplicity), generated as index arrays
for a batch of replicates at once (no Python loop per respondent: the loops run over waves,
chain steps or successive-sampling draws, each vectorised across the replicates of a batch, and
batches bound memory to a few million positions). The estimator is re-evaluated on each
replicate: RDS-II, SS (fixed degree -> inclusion-probability mapping), the arithmetic mean and
RDS-I / RDS-I (DS) are vectorised over the batch; HCG is refitted replicate by replicate.

Intervals: ``ci="percentile"`` takes the ``(1-level)/2`` and ``(1+level)/2`` quantiles of the
replicates; ``ci="t"`` (R's default) is ``estimate ± z·sd(replicates)``. The standard error is
always ``sd(replicates)`` (``ddof=1``). The design effect is

    deff = se² / [p(1-p)/n · (N-n)/(N-1)]

for a proportion (``s²/n`` with ``s²`` the sample variance for a numeric outcome), with ``n`` the
respondents with a known outcome and the finite-population factor only when N is known: this is
R ``RDS``'s definition, so ``design_effect`` compares directly with ``reference.csv``.

References
----------
Salganik, M. J. (2006). Variance estimation, design effects, and sample size calculations for
respondent-driven sampling. *J. Urban Health* 83, i98-i112.
Gile, K. J. (2011). Improved inference for respondent-driven sampling data with application to
HIV prevalence estimation. *JASA* 106, 135-146.
Baraff, A. J., McCormick, T. H., Raftery, A. E. (2016). Estimating uncertainty in respondent-driven
sampling using a tree bootstrap method. *PNAS* 113, 14668-14673.
Yauck, M., Moodie, E. E. M., Apelian, H., et al. (2022). Neighborhood bootstrap for
respondent-driven sampling. *J. Survey Statistics and Methodology* 10, 419-438.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from hiddenpop.rds.sample import rds_sample_from_table
>>> t = pd.DataFrame({"id": range(1, 9), "recruiter.id": [0, 0, 1, 1, 2, 3, 3, 5],
...                   "network.size": [4, 6, 2, 5, 3, 8, 2, 4],
...                   "hiv": ["n", "y", "n", "y", "n", "n", "y", "n"]})
>>> s = rds_sample_from_table(t)
>>> r = tree_bootstrap(s, estimator="rds-ii", outcome="hiv", reps=200, rng=1)
>>> r.replicates.shape, r.levels
((200, 2), ('n', 'y'))
>>> bool(np.all(r.se > 0))
True
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from hiddenpop._checks import check_rng
from hiddenpop.errors import DesignError, EstimationError
from hiddenpop.rds.estimators import (canonical_estimator, check_population_size, replicate_hajek,
                                      replicate_rds_i, transition_counts)

__all__ = ["BOOTSTRAP_METHODS", "CI_TYPES", "BootstrapResult", "salganik_bootstrap", "tree_bootstrap",
           "ss_bootstrap", "neighbourhood_bootstrap", "bootstrap", "design_effect", "replicate_counts"]

CI_TYPES: dict[str, str] = {
    "percentile": "quantiles (1-level)/2 and (1+level)/2 of the bootstrap replicates",
    "t": "estimate ± z_(1+level)/2 · sd(replicates), centred on the full-sample estimate (R RDS default)",
}

#: Largest number of respondent positions held in memory per batch of replicates.
BATCH_POSITIONS = 1_000_000

_VECTORISED = ("rds-ii", "ss", "mean", "rds-i", "rds-i-ds")

# ----------------------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Bootstrap estimates of one outcome.

    Attributes
    ----------
    outcome : str
        Outcome column.
    levels : tuple of str
        Outcome levels (sorted) for a categorical outcome; ``(outcome,)`` for a numeric one (mean).
    estimate : numpy.ndarray
        Full-sample point estimate per level.
    replicates : numpy.ndarray
        ``reps × len(levels)`` replicate estimates (rows that failed, e.g. a periodic RDS-I chain,
        are NaN and excluded from ``se`` and the intervals; see ``n_failed``).
    se, ci_low, ci_high, design_effect : numpy.ndarray
        Per level: ``sd(replicates)``, interval bounds (type ``ci``), design effect (module notes).
    method, estimator, ci : str
        Bootstrap scheme, estimator and interval type.
    reps : int
        Number of replicates drawn.
    confidence : float
        Interval level, e.g. 0.95.
    n : int
        Respondents with a known outcome.
    population_size : float or None
        N used by the estimator and the design effect.
    n_failed : int
        Replicates whose estimate was undefined (NaN).
    """

    outcome: str
    levels: tuple[str, ...]
    estimate: np.ndarray
    replicates: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    design_effect: np.ndarray
    method: str
    reps: int
    estimator: str = ""
    ci: str = "t"
    confidence: float = 0.95
    n: int = 0
    population_size: float | None = None
    n_failed: int = 0

    def to_frame(self) -> pd.DataFrame:
        """One row per level: ``outcome, level, estimator, variance, estimate, se, ci_low, ci_high,
        design_effect, boot_mean, boot_sd, reps, n, population_size``."""
        reps = self.replicates
        with np.errstate(all="ignore"):
            mean = np.nanmean(reps, axis=0) if len(reps) else np.full(len(self.levels), np.nan)
        return pd.DataFrame({
            "outcome": self.outcome, "level": list(self.levels), "estimator": self.estimator,
            "variance": self.method, "ci_type": self.ci, "estimate": self.estimate, "se": self.se,
            "ci_low": self.ci_low, "ci_high": self.ci_high, "design_effect": self.design_effect,
            "boot_mean": mean, "boot_sd": self.se, "reps": self.reps, "n": self.n,
            "population_size": self.population_size})


# ------------------------------------------------------------------------------ prepared sample
@dataclass(eq=False)
class _Prepared:
    n: int
    degree: np.ndarray            # cleaned, > 0
    codes: np.ndarray | None      # level code per respondent, -1 missing (categorical)
    values: np.ndarray | None     # float, NaN missing (numeric)
    levels: tuple[str, ...]
    parent: np.ndarray
    seeds: np.ndarray
    offsets: np.ndarray
    children: np.ndarray
    n_recruits: np.ndarray
    estimator: str
    population_size: float | None
    weight: np.ndarray | None     # per-respondent weight for outcome-free estimators (1/d, 1/pi, 1)
    sample: Any
    outcome: str
    degree_rule: str
    estimator_options: dict

    @property
    def n_levels(self) -> int:
        return len(self.levels)


def _outcome_codes(series: pd.Series) -> tuple[np.ndarray | None, np.ndarray | None, tuple[str, ...]]:
    """Categorical codes over sorted levels, or numeric values (the estimators' rule:
    :func:`hiddenpop.rds.estimators.outcome_codes`; a 0/1 column is categorical)."""
    from hiddenpop.rds.estimators import outcome_codes

    codes, levels, kind = outcome_codes(series)
    if kind == "numeric":
        vals = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        return None, vals, (str(series.name),)
    return np.asarray(codes, dtype=np.int64), None, tuple(levels)


def _canonical_estimator(estimator: Any) -> str:
    try:
        return canonical_estimator(estimator)
    except EstimationError:
        raise EstimationError(f"unknown estimator {estimator!r} for the bootstrap",
                              fix="use one of rds-i, rds-i-ds, rds-ii, ss, hcg, mean") from None


def _ss_inclusion(degree: np.ndarray, population_size: float, options: dict) -> np.ndarray:
    """Successive-sampling inclusion probabilities (:func:`hiddenpop.rds.ss.ss_inclusion_probabilities`)."""
    from hiddenpop.rds.ss import ss_inclusion_probabilities

    return np.asarray(ss_inclusion_probabilities(degree, population_size, method=options.get("ss_method", "deterministic"),
                                                 rng=options.get("rng")), dtype=float)


def _ss_recompute(prep: _Prepared, batch: _Batch) -> np.ndarray:
    """SS re-estimated on every replicate (inclusion probabilities recomputed from the replicate's
    degrees, as R's tree bootstrap does); deterministic SS makes this one root search per replicate."""
    from hiddenpop.rds.ss import ss_class_probabilities

    out = np.full((batch.reps, prep.n_levels), np.nan)
    bounds = np.searchsorted(batch.rep, np.arange(batch.reps + 1))
    method = prep.estimator_options.get("ss_method", "deterministic")
    for b in range(batch.reps):
        idx = batch.idx[bounds[b]:bounds[b + 1]]
        classes, inv, counts = np.unique(prep.degree[idx], return_inverse=True, return_counts=True)
        N = max(prep.population_size, len(idx))
        pi = np.asarray(ss_class_probabilities(classes, counts, N, method=method,
                                               rng=prep.estimator_options.get("rng")), dtype=float)
        sub = _Batch(idx=idx, rep=np.zeros(len(idx), np.int64), reps=1)
        out[b] = _hajek(prep, sub, 1.0 / pi[inv])[0]
    return out


def _prepare(sample: Any, *, estimator: str, outcome: str, population_size: float | None,
             degree_rule: str, estimator_options: dict | None = None) -> _Prepared:
    from hiddenpop.rds.sample import RDSSample

    if not isinstance(sample, RDSSample):
        raise DesignError(f"expected an RDSSample, got {type(sample).__name__}",
                          fix="build one with hiddenpop.rds.rds_sample_from_table(table, ...)")
    est = _canonical_estimator(estimator)
    series = sample.outcome(outcome)
    codes, values, levels = _outcome_codes(series)
    known = (codes >= 0) if codes is not None else ~np.isnan(values)
    if not known.any():
        raise EstimationError(f"outcome {outcome!r} is missing for every respondent",
                              where=sample.source, fix="choose an outcome with recorded values")
    degree = sample.clean_degree(degree_rule, warn=False)
    N = check_population_size(sample, population_size, required=est in ("ss", "hcg"), estimator=est)
    if est in ("rds-i", "rds-i-ds") and codes is None:
        raise EstimationError(f"the vectorised RDS-I bootstrap needs a categorical outcome; {outcome!r} is numeric",
                              fix="use --estimator rds-ii or ss for a numeric outcome, or cut it into groups")
    options = dict(estimator_options or {})
    weight = None
    if est == "rds-ii":
        weight = 1.0 / degree
    elif est == "mean":
        weight = np.ones(sample.n)
    elif est == "ss":
        weight = 1.0 / _ss_inclusion(degree, N, options)
    tree = sample.tree
    offsets, children = tree.children
    return _Prepared(n=sample.n, degree=degree, codes=codes, values=values, levels=levels,
                     parent=tree.parent, seeds=np.flatnonzero(tree.is_seed), offsets=offsets,
                     children=children, n_recruits=tree.n_recruits, estimator=est, population_size=N,
                     weight=weight, sample=sample, outcome=outcome, degree_rule=degree_rule,
                     estimator_options=options)


# ------------------------------------------------------------------------------ resample batches
@dataclass(eq=False)
class _Batch:
    """``reps`` replicates as flat arrays: respondent position ``idx`` of replicate ``rep``;
    ``parent`` is the flat position of the recruiter inside the batch (-1 for seeds/none)."""

    idx: np.ndarray
    rep: np.ndarray
    reps: int
    parent: np.ndarray | None = None


def _batch_sizes(reps: int, per_rep: int) -> Iterator[int]:
    size = max(1, min(reps, BATCH_POSITIONS // max(per_rep, 1)))
    done = 0
    while done < reps:
        b = min(size, reps - done)
        done += b
        yield b


def _fixed(idx2d: np.ndarray, parent2d: np.ndarray | None) -> _Batch:
    reps, m = idx2d.shape
    rep = np.repeat(np.arange(reps), m)
    parent = None
    if parent2d is not None:
        base = (np.arange(reps) * m)[:, None]
        parent = np.where(parent2d >= 0, parent2d + base, -1).ravel()
    return _Batch(idx=idx2d.ravel(), rep=rep, reps=reps, parent=parent)


def _grow(prep: _Prepared, roots: np.ndarray, rng: np.random.Generator, *,
          rep_of_root: np.ndarray | None = None, filled: np.ndarray | None = None,
          target: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Regrow a tree under each root by resampling recruits with replacement, level by level.

    Returns flat arrays (node position, root number, wave, flat parent) in breadth-first order.

    With ``rep_of_root`` (replicate of each root; a replicate's roots contiguous, in drawing order),
    ``filled`` (respondents per replicate before these roots) and ``target`` (the fixed size n), growth
    of a tree stops after the first complete wave at which the replicate is known to reach n with it:
    ``filled + (sizes so far of its earlier trees) + (its own size so far) >= n``. Sizes only grow, so
    such a tree is the replicate's last (trimmed from its deepest wave, which is complete) or is
    dropped; the kept respondents have the distribution of full growth followed by trimming, while the
    work per replicate stays near n however heavy-tailed the resampled tree sizes are.
    """
    offsets, children, nrec = prep.offsets, prep.children, prep.n_recruits
    n_roots = len(roots)
    nodes, owner, waves, parents = [roots], [np.arange(n_roots)], [np.zeros(n_roots, np.int64)], \
        [np.full(n_roots, -1, np.int64)]
    frontier, f_owner, f_flat = roots, np.arange(n_roots), np.arange(n_roots)
    capped = rep_of_root is not None and target is not None
    if capped:
        size = np.ones(n_roots, np.int64)
        first = np.searchsorted(rep_of_root, rep_of_root, side="left")   # first root of the replicate
        base = np.asarray(filled)[rep_of_root]
    total, wave = n_roots, 0
    while len(frontier):
        if capped:
            cum = np.cumsum(size)
            before = cum - size - (cum[first] - size[first])                # earlier trees, same replicate
            open_tree = base + before + size < target
            live = open_tree[f_owner]
            if not live.all():
                frontier, f_owner, f_flat = frontier[live], f_owner[live], f_flat[live]
        k = nrec[frontier]
        m = int(k.sum())
        if m == 0:
            break
        wave += 1
        r = np.repeat(np.arange(len(frontier)), k)
        pick = (rng.random(m) * k[r]).astype(np.int64)
        child = children[offsets[frontier][r] + pick]
        nodes.append(child)
        owner.append(f_owner[r])
        waves.append(np.full(m, wave, np.int64))
        parents.append(f_flat[r])
        frontier, f_owner, f_flat = child, f_owner[r], total + np.arange(m)
        if capped:
            size += np.bincount(f_owner, minlength=n_roots)
        total += m
    return (np.concatenate(nodes), np.concatenate(owner), np.concatenate(waves), np.concatenate(parents))


def _tree_batch(prep: _Prepared, reps: int, rng: np.random.Generator, contiguous: bool = True,
                cap: bool = True) -> _Batch:
    """Fixed-size tree bootstrap (R ``RDS::treeboot`` with ``fixed.size = TRUE``) for ``reps`` replicates."""
    n, seeds = prep.n, prep.seeds
    node_parts, tree_parts, wave_parts, parent_parts = [], [], [], []
    tree_rep: list[np.ndarray] = []
    size_parts: list[np.ndarray] = []
    total = np.zeros(reps, np.int64)
    open_reps = np.arange(reps)
    n_trees = 0
    n_flat = 0
    chunk = len(seeds) + 2
    while len(open_reps):
        rep_of_tree = np.repeat(open_reps, chunk)
        roots = seeds[rng.integers(0, len(seeds), size=len(rep_of_tree))]
        node, owner, wave, parent = _grow(prep, roots, rng, rep_of_root=rep_of_tree if cap else None, filled=total,
                                          target=n)
        node_parts.append(node)
        tree_parts.append(owner + n_trees)
        wave_parts.append(wave)
        parent_parts.append(np.where(parent >= 0, parent + n_flat, -1))
        sizes = np.bincount(owner, minlength=len(roots))
        size_parts.append(sizes)
        tree_rep.append(rep_of_tree)
        total += np.bincount(rep_of_tree, weights=sizes, minlength=reps).astype(np.int64)
        n_trees += len(roots)
        n_flat += len(node)
        open_reps = np.flatnonzero(total < n)
        chunk = max(1, len(seeds) // 4 + 1)
    node = np.concatenate(node_parts)
    tree = np.concatenate(tree_parts)
    wave = np.concatenate(wave_parts)
    parent = np.concatenate(parent_parts)
    sizes = np.concatenate(size_parts)
    t_rep = np.concatenate(tree_rep)
    # trees of each replicate in the order they were drawn (tree numbers increase with drawing order)
    order = np.lexsort((np.arange(n_trees), t_rep))
    s_sorted = sizes[order]
    r_sorted = t_rep[order]
    cum = np.cumsum(s_sorted)
    start_of_rep = np.searchsorted(r_sorted, np.arange(reps))
    before_rep = np.concatenate(([0], cum))[start_of_rep]
    cum_in = cum - np.repeat(before_rep, np.bincount(r_sorted, minlength=reps))
    before = cum_in - s_sorted
    keep_tree = np.zeros(n_trees, bool)
    keep_tree[order] = before < n
    excess = np.zeros(n_trees, np.int64)
    excess[order] = np.where((before < n) & (cum_in > n), cum_in - n, 0)
    keep = keep_tree[tree]
    # trim: drop the `excess` nodes of the deepest waves (random subset of the boundary wave)
    trim_nodes = np.flatnonzero(keep & (excess[tree] > 0))
    if len(trim_nodes):
        tt = tree[trim_nodes]
        top = float(wave[trim_nodes].max() + 1)
        key = (tt * top + (top - 1 - wave[trim_nodes])) + rng.random(len(trim_nodes)) * 0.5
        o = np.argsort(key)                      # by tree, deepest wave first, random within a wave
        tn, tt = trim_nodes[o], tt[o]
        first = np.searchsorted(tt, tt, side="left")
        rank = np.arange(len(tn)) - first
        keep[tn[rank < excess[tt]]] = False
    kept = np.flatnonzero(keep)                  # drawing order: trees of a replicate stay in order
    rep_of_node = t_rep[tree[kept]]
    if contiguous:
        o = np.argsort(rep_of_node, kind="stable")
        kept, rep_of_node = kept[o], rep_of_node[o]
    new_pos = np.full(len(node), -1, np.int64)
    new_pos[kept] = np.arange(len(kept))
    par = parent[kept]
    par_new = np.where(par >= 0, new_pos[np.maximum(par, 0)], -1)
    return _Batch(idx=node[kept], rep=rep_of_node, reps=reps, parent=par_new)


def _salganik_setup(prep: _Prepared) -> dict:
    if prep.codes is None:
        raise EstimationError("the Salganik bootstrap resamples outcome groups and needs a categorical outcome",
                              fix="use --variance tree or neighbourhood for a numeric outcome")
    L = prep.n_levels
    T = transition_counts(prep.codes, prep.parent, prep.n_levels)
    if T.sum() == 0:
        raise EstimationError("no recruitment between respondents with a known outcome: the Salganik bootstrap "
                              "has no transitions to resample", fix="use --variance tree or ss")
    no_trans = T.sum(axis=1) < 0.5
    T[no_trans] = T.sum(axis=0)              # R: rows without transitions use the column sums (marginal)
    P = T / T.sum(axis=1, keepdims=True)
    cumP = np.cumsum(P, axis=1)
    cumP[:, -1] = 1.0
    known = np.flatnonzero(prep.codes >= 0)
    pool = known[np.argsort(prep.codes[known], kind="stable")]
    cumdeg = np.cumsum(prep.degree[pool])
    count = np.bincount(prep.codes[known], minlength=L)
    end = np.cumsum(count)
    start = end - count
    base = np.where(start > 0, cumdeg[np.maximum(start - 1, 0)], 0.0)
    total = np.where(count > 0, cumdeg[np.maximum(end - 1, 0)] - base, 0.0)
    length = int(((prep.parent >= 0) & (prep.codes >= 0)).sum()) + 1
    return {"cumP": cumP, "pool": pool, "cumdeg": cumdeg, "base": base, "total": total, "end": end,
            "length": length, "seed_codes": prep.codes[known]}


def _salganik_batch(prep: _Prepared, reps: int, rng: np.random.Generator, setup: dict) -> _Batch:
    m = setup["length"]
    cumP = setup["cumP"]
    g = np.empty((reps, m), np.int64)
    g[:, 0] = setup["seed_codes"][rng.integers(0, len(setup["seed_codes"]), size=reps)]
    u = rng.random((reps, m))
    L = cumP.shape[0]
    for s in range(1, m):                    # one vectorised step of the chain across replicates
        g[:, s] = np.minimum((u[:, s, None] > cumP[g[:, s - 1]]).sum(axis=1), L - 1)
    # within the group, a respondent with probability proportional to degree (R RDS 0.9-10)
    target = setup["base"][g] + rng.random((reps, m)) * setup["total"][g]
    pos = np.minimum(np.searchsorted(setup["cumdeg"], target, side="right"), setup["end"][g] - 1)
    idx = setup["pool"][pos]
    parent = np.broadcast_to(np.arange(m) - 1, (reps, m))
    return _fixed(idx, parent)


def _neighbour_setup(prep: _Prepared) -> dict:
    parent = prep.parent
    kids = np.flatnonzero(parent >= 0)
    a = np.concatenate((parent[kids], kids))
    b = np.concatenate((kids, parent[kids]))
    if len(a) == 0:
        raise EstimationError("the neighbourhood bootstrap needs recruitment links; every respondent is a seed",
                              fix="use --variance salganik or ss, or check the recruiter ids")
    o = np.argsort(a, kind="stable")
    nbr = b[o]
    deg = np.bincount(a, minlength=prep.n)
    offsets = np.concatenate(([0], np.cumsum(deg)))
    size = int(np.round(prep.n / deg.mean()))
    return {"nbr": nbr, "deg": deg, "offsets": offsets, "size": max(size, 1)}


def _neighbour_batch(prep: _Prepared, reps: int, rng: np.random.Generator, setup: dict) -> _Batch:
    sz, deg, offsets, nbr = setup["size"], setup["deg"], setup["offsets"], setup["nbr"]
    sel = rng.integers(0, prep.n, size=(reps, sz)).ravel()
    k = deg[sel]
    r = np.repeat(np.arange(len(sel)), k)
    within = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
    idx = nbr[offsets[sel][r] + within]
    rep = np.repeat(np.repeat(np.arange(reps), sz), k)
    return _Batch(idx=idx, rep=rep, reps=reps, parent=None)


# ---------------------------------------------------------------------- Gile's SS bootstrap setup
def _ss_setup(prep: _Prepared) -> dict:
    if prep.codes is None:
        raise EstimationError("the SS bootstrap simulates (degree, group) classes and needs a categorical outcome",
                              fix="use --variance tree for a numeric outcome")
    N = prep.population_size
    if N is None:
        raise EstimationError("the SS bootstrap needs a population size (N)",
                              fix="pass population_size= (CLI: --population-size)")
    known = prep.codes >= 0
    deg = prep.degree[known]
    codes = prep.codes[known]
    n = int(known.sum())
    g = prep.n_levels
    ss_infinity = 0.01
    if N * ss_infinity > n:                  # R caps N at n / SS.infinity
        N = float(round(n / ss_infinity))
    if prep.estimator == "ss" and prep.population_size == N and prep.weight is not None:
        pi = 1.0 / prep.weight[known]
    else:
        pi = _ss_inclusion(deg, N, prep.estimator_options)
    classes, cls_of = np.unique(deg, return_inverse=True)
    K = len(classes)
    pi_class = np.zeros(K)
    pi_class[cls_of] = pi                    # pi depends on degree only
    counts = np.bincount(codes * K + cls_of, minlength=g * K).astype(float)   # group-major classes
    props = counts / np.tile(pi_class, g)
    props2 = props / props.sum()
    nbyclass = np.round(N * props2).astype(np.int64)
    offby = int(round(N - nbyclass.sum()))
    # referral counts by recruiter group -> recruit group, and SS-weighted mean degree per group
    CC = transition_counts(prep.codes, prep.parent, prep.n_levels)
    w = 1.0 / pi
    est = np.bincount(codes, weights=w, minlength=g) / w.sum()
    mean_deg = np.bincount(codes, weights=w * deg, minlength=g) / np.maximum(np.bincount(codes, weights=w, minlength=g), 1e-300)
    rowsum = CC.sum(axis=1, keepdims=True)
    R = np.divide(CC, rowsum, out=np.zeros_like(CC), where=rowsum > 0)
    tiemtx = R * (mean_deg * est * N)[:, None]
    tempties = (tiemtx + tiemtx.T) / 2
    nrefs = prep.n_recruits[known]
    pos_refs = nrefs[nrefs > 0]
    if len(pos_refs) == 0:
        raise EstimationError("no respondent recruited anyone: the SS bootstrap cannot resample recruit counts",
                              fix="use --variance salganik or neighbourhood")
    n0 = int((prep.parent[known] < 0).sum())
    # respondents of each (group, degree) class, to map synthetic draws back to respondents
    resp = np.flatnonzero(known)
    cls = codes * K + cls_of
    o = np.argsort(cls, kind="stable")
    return {"N": int(N), "n": n, "n0": max(n0, 1), "g": g, "K": K, "ideg": np.tile(classes, g),
            "idis": np.repeat(np.arange(g), K), "nbyclass": nbyclass, "props2": props2, "offby": offby,
            "tempties": tempties, "pos_refs": pos_refs, "resp_sorted": resp[o],
            "cls_start": np.concatenate(([0], np.cumsum(np.bincount(cls, minlength=g * K))[:-1])),
            "cls_count": np.bincount(cls, minlength=g * K)}


def _draw_rows(prob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of a non-negative ``prob`` matrix (rows need not sum to 1)."""
    cum = np.cumsum(prob, axis=1)
    u = rng.random(len(prob)) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), prob.shape[1] - 1)


def _ss_batch(prep: _Prepared, reps: int, rng: np.random.Generator, setup: dict) -> _Batch:
    N, n, n0, g = setup["N"], setup["n"], setup["n0"], setup["g"]
    ideg, idis = setup["ideg"].astype(float), setup["idis"]
    nc = len(ideg)
    nby = np.tile(setup["nbyclass"], (reps, 1)).astype(float)
    props2 = setup["props2"]
    offby = setup["offby"]
    rows = np.arange(reps)
    for _ in range(abs(offby)):              # R: distribute the rounding error at random
        if offby > 0:
            dif = np.maximum(props2 - nby / N, 0)
        else:
            dif = np.maximum(nby / N - props2, 0)
            dif[nby <= 1] = 0
            empty = dif.sum(axis=1) == 0
            if empty.any():
                alt = np.maximum(1 - (props2 - nby[empty] / N), 0)
                alt[nby[empty] <= 1] = 0
                dif[empty] = alt
        ch = _draw_rows(dif, rng)
        nby[rows, ch] += 1 if offby > 0 else -1
    pclass = ideg * nby                      # remaining degree mass per class
    cls = np.empty((reps, n), np.int64)
    dis = np.empty((reps, n), np.int64)
    for i in range(n0):                      # seeds proportional to degree, without replacement
        j = _draw_rows(pclass, rng)
        pclass[rows, j] -= ideg[j]
        cls[:, i] = j
        dis[:, i] = idis[j]
    nprop = np.bincount(idis, weights=setup["nbyclass"], minlength=g).astype(float)
    nprop /= nprop.sum()
    ties = setup["tempties"].copy()
    for k in range(g):                       # groups without observed referrals: population shares
        if np.all(ties[k] == 0):
            ties[k] = nprop
        if np.all(ties[:, k] == 0):
            ties[:, k] = nprop
    ties = np.tile(ties, (reps, 1, 1))
    # recruiter of each non-seed draw: respondents in order recruit resampled positive recruit counts
    m = n - n0
    parent = np.full((reps, n), -1, np.int64)
    if m > 0:
        refs = setup["pos_refs"][rng.integers(0, len(setup["pos_refs"]), size=(reps, n))]
        cum = np.cumsum(refs, axis=1)
        shift = (rows * (cum[:, -1].max() + 1))[:, None]
        flat = (cum + shift).ravel()
        steps = (np.arange(m)[None, :] + shift).ravel()
        act = (np.searchsorted(flat, steps, side="right").reshape(reps, m) - (rows * n)[:, None])
        parent[:, n0:] = act
    for s in range(n0, n):
        a = parent[:, s]
        this = dis[rows, a]
        nxt = _draw_rows(ties[rows, this], rng)
        nprob = pclass * (idis[None, :] == nxt[:, None])
        none = nprob.sum(axis=1) <= 0
        if none.any():
            nprob[none] = pclass[none]
        j = _draw_rows(nprob, rng)
        total = nprob.sum(axis=1)
        tdeg = ideg[j]
        pclass[rows, j] -= tdeg
        nd = idis[j]
        ties[rows, :, nd] *= ((total - tdeg) / total)[:, None]
        cls[:, s] = j
        dis[:, s] = nd
    pick = (rng.random((reps, n)) * setup["cls_count"][cls]).astype(np.int64)
    idx = setup["resp_sorted"][setup["cls_start"][cls] + pick]
    return _fixed(idx, parent)


# ------------------------------------------------------------------------------ estimator on batch
def _hajek(prep: _Prepared, batch: _Batch, w: np.ndarray) -> np.ndarray:
    """Hájek estimates of every replicate of the batch (:func:`hiddenpop.rds.estimators.replicate_hajek`)."""
    if prep.codes is not None:
        return replicate_hajek(w, batch.rep, batch.reps, codes=prep.codes[batch.idx], n_levels=prep.n_levels)
    return replicate_hajek(w, batch.rep, batch.reps, values=prep.values[batch.idx])


def _rds_i(prep: _Prepared, batch: _Batch, smoothed: bool) -> np.ndarray:
    """RDS-I of every replicate of the batch (:func:`hiddenpop.rds.estimators.replicate_rds_i`)."""
    return replicate_rds_i(prep.codes[batch.idx], prep.degree[batch.idx], batch.parent, batch.rep, batch.reps,
                           n_groups=prep.n_levels, smoothed=smoothed)


def _replicate_sample(prep: _Prepared, idx: np.ndarray, parent: np.ndarray | None) -> Any:
    from hiddenpop.rds.sample import RDSSample
    from hiddenpop.rds.tree import RecruitmentTree

    m = len(idx)
    par = parent if parent is not None else np.full(m, -1, np.int64)
    tree = RecruitmentTree(ids=np.array([str(i) for i in range(m)], dtype=object), parent=par)
    time = None
    if prep.sample.time is not None:
        time = prep.sample.time[idx]
    return RDSSample(tree, prep.degree[idx], prep.sample.data.iloc[idx].reset_index(drop=True), time,
                     (None, prep.population_size, None), prep.sample.source)


def _generic(prep: _Prepared, batch: _Batch) -> np.ndarray:
    """Refit the estimator replicate by replicate (HCG) with the estimator engineer's ``rds_weights``."""
    from hiddenpop.rds.estimators import rds_weights

    out = np.full((batch.reps, prep.n_levels), np.nan)
    bounds = np.searchsorted(batch.rep, np.arange(batch.reps + 1))
    for b in range(batch.reps):
        lo, hi = bounds[b], bounds[b + 1]
        idx = batch.idx[lo:hi]
        par = None if batch.parent is None else np.where(batch.parent[lo:hi] >= 0, batch.parent[lo:hi] - lo, -1)
        rs = _replicate_sample(prep, idx, par)
        try:
            opts = dict(prep.estimator_options)
            w = np.asarray(rds_weights(rs, prep.estimator, outcome=prep.outcome,
                                       population_size=max(prep.population_size, len(idx)),
                                       ss_method=opts.pop("ss_method", "deterministic"), rng=opts.pop("rng", None),
                                       options=opts.pop("options", None)), dtype=float)
        except EstimationError:
            continue
        sub = _Batch(idx=idx, rep=np.zeros(len(idx), np.int64), reps=1)
        out[b] = _hajek(prep, sub, w)[0]
    return out


def _evaluate(prep: _Prepared, batch: _Batch, *, fixed_ss: bool = False) -> np.ndarray:
    if prep.estimator == "ss" and not fixed_ss and prep.estimator_options.get("ss_mapping", "recompute") == "recompute":
        return _ss_recompute(prep, batch)
    if prep.weight is not None:
        return _hajek(prep, batch, prep.weight[batch.idx])
    if prep.estimator in ("rds-i", "rds-i-ds"):
        if batch.parent is None:
            raise EstimationError("RDS-I needs recruitment links, which the neighbourhood bootstrap does not keep",
                                  fix="use --variance tree or salganik with RDS-I, or --estimator rds-ii")
        return _rds_i(prep, batch, prep.estimator == "rds-i-ds")
    return _generic(prep, batch)


def _point_estimate(prep: _Prepared) -> np.ndarray:
    whole = _Batch(idx=np.arange(prep.n), rep=np.zeros(prep.n, np.int64), reps=1, parent=prep.parent.copy())
    return _evaluate(prep, whole, fixed_ss=True)[0]


# ------------------------------------------------------------------------------------- summaries
def design_effect(se: Any, estimate: Any, *, n: int, population_size: float | None = None,
                  variance: Any = None) -> np.ndarray:
    """Design effect ``se² / (SRS variance)``, R ``RDS``'s definition.

    The SRS variance of a proportion is ``p(1-p)/n · (N-n)/(N-1)`` (no finite-population factor when
    N is unknown); pass ``variance`` (the element variance ``s²``) for a mean.

    >>> # reference.csv, fauxmadrona, disease = 1, RDS-II, Salganik_aligned: design_effect 3.35993...
    >>> round(float(design_effect(0.0214815925454351, 0.164149290444997, n=500, population_size=1000)), 6)
    3.359934
    """
    se = np.asarray(se, dtype=float)
    p = np.asarray(estimate, dtype=float)
    elem = p * (1 - p) if variance is None else np.asarray(variance, dtype=float)
    srs = elem / n
    if population_size is not None and population_size > 1:
        srs = srs * (population_size - n) / (population_size - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return se ** 2 / srs


def _summarise(prep: _Prepared, estimate: np.ndarray, reps_est: np.ndarray, *, method: str, ci: str,
               level: float) -> BootstrapResult:
    good = np.all(np.isfinite(reps_est), axis=1)
    r = reps_est[good]
    if len(r) < 2:
        raise EstimationError(f"only {len(r)} of {len(reps_est)} bootstrap replicates gave an estimate",
                              fix="increase --reps or choose another variance method")
    se = r.std(axis=0, ddof=1)
    if ci == "percentile":
        lo = np.quantile(r, (1 - level) / 2, axis=0)
        hi = np.quantile(r, (1 + level) / 2, axis=0)
    else:
        z = stats.norm.ppf((1 + level) / 2)
        lo, hi = estimate - z * se, estimate + z * se
    if prep.codes is not None:
        n_known = int((prep.codes >= 0).sum())
        deff = design_effect(se, estimate, n=n_known, population_size=prep.population_size)
    else:
        y = prep.values[~np.isnan(prep.values)]
        n_known = len(y)
        deff = design_effect(se, estimate, n=n_known, population_size=prep.population_size,
                             variance=np.var(y, ddof=1) if n_known > 1 else np.nan)
    return BootstrapResult(outcome=prep.outcome, levels=prep.levels, estimate=estimate, replicates=reps_est,
                           se=se, ci_low=lo, ci_high=hi, design_effect=deff, method=method,
                           reps=len(reps_est), estimator=prep.estimator, ci=ci, confidence=level, n=n_known,
                           population_size=prep.population_size, n_failed=int((~good).sum()))


def _check_common(reps: int, ci: str, level: float) -> None:
    if int(reps) < 2:
        raise EstimationError(f"need at least 2 bootstrap replicates, got {reps}", fix="use --reps 1000")
    if ci not in CI_TYPES:
        raise EstimationError(f"unknown interval type {ci!r}", fix=f"use one of {', '.join(CI_TYPES)}")
    if not 0 < level < 1:
        raise EstimationError(f"confidence level must lie in (0, 1), got {level}", fix="use e.g. 0.95")


def _batches(method: str, prep: _Prepared, reps: int, rng: np.random.Generator) -> Iterator[_Batch]:
    """Replicate batches of ``method`` (the resampling half of every bootstrap)."""
    if method == "tree":
        per = int(prep.n * 1.3) + 1
        # replicates need to be contiguous only when they are refitted one by one
        contiguous = prep.weight is None and prep.estimator not in ("rds-i", "rds-i-ds") or prep.estimator == "ss"
        for b in _batch_sizes(reps, per):
            yield _tree_batch(prep, b, rng, contiguous)
    elif method == "salganik":
        setup = _salganik_setup(prep)
        for b in _batch_sizes(reps, setup["length"]):
            yield _salganik_batch(prep, b, rng, setup)
    elif method == "neighbourhood":
        setup = _neighbour_setup(prep)
        per = int(setup["deg"].mean() * setup["size"]) + 1
        for b in _batch_sizes(reps, 4 * per):
            yield _neighbour_batch(prep, b, rng, setup)
    elif method == "ss":
        setup = _ss_setup(prep)
        for b in _batch_sizes(reps, 4 * max(setup["n"], len(setup["ideg"]))):
            yield _ss_batch(prep, b, rng, setup)
    else:
        raise EstimationError(f"unknown bootstrap method {method!r}",
                              fix=f"use one of {', '.join(BOOTSTRAP_METHODS)}")


def _run(method: str, sample: Any, *, estimator: str, outcome: str, population_size: float | None,
         reps: int, rng: Any, progress: Callable[[int], None] | None, degree_rule: str, ci: str,
         level: float, estimator_options: dict | None) -> BootstrapResult:
    _check_common(reps, ci, level)
    gen = check_rng(rng)
    prep = _prepare(sample, estimator=estimator, outcome=outcome, population_size=population_size,
                    degree_rule=degree_rule, estimator_options=estimator_options)
    estimate = _point_estimate(prep)
    parts = []
    for batch in _batches(method, prep, int(reps), gen):
        parts.append(_evaluate(prep, batch, fixed_ss=(method == "ss")))
        if progress is not None:
            progress(batch.reps)
    return _summarise(prep, estimate, np.vstack(parts), method=method, ci=ci, level=level)


_DOC_PARAMS = """
    Parameters
    ----------
    sample : RDSSample
        The RDS sample (:func:`hiddenpop.rds.rds_sample_from_table`).
    estimator : str
        ``"rds-ii"``, ``"ss"``, ``"rds-i"``, ``"rds-i-ds"``, ``"hcg"`` or ``"mean"``.
    outcome : str
        Outcome column: categorical (one proportion per sorted level; a 0/1 column counts as
        categorical) or numeric (one mean).
    population_size : float, optional
        N for SS/HCG and the finite-population factor of the design effect; default: the
        sample's mid population size.
    reps : int
        Number of bootstrap replicates.
    rng
        Anything :func:`numpy.random.default_rng` accepts (required).
    progress : callable, optional
        Called with the number of replicates finished after each batch.
    degree_rule : str
        Zero/missing degree rule (:func:`hiddenpop.rds.sample.clean_degree`), applied once to the
        full sample before resampling.
    ci : {"percentile", "t"}
        Interval type (see :data:`CI_TYPES`).
    level : float
        Confidence level.
    estimator_options : dict, optional
        ``ss_method`` (``"deterministic"``, default, or R's ``"simulation"``) and ``rng`` for SS
        inclusion probabilities; ``ss_mapping``: ``"recompute"`` (default; SS refitted on every
        replicate as R's tree bootstrap does) or ``"fixed"`` (the full-sample degree -> inclusion
        probability mapping, R's ``fast = TRUE``; always used by the SS bootstrap); ``options`` is
        passed to ``rds_weights`` for HCG.

    Returns
    -------
    BootstrapResult
"""


def tree_bootstrap(sample: Any, *, estimator: str, outcome: str, population_size: float | None = None,
                   reps: int = 1000, rng: Any, progress: Callable[[int], None] | None = None,
                   degree_rule: str = "max", ci: str = "percentile", level: float = 0.95,
                   estimator_options: dict | None = None) -> BootstrapResult:
    return _run("tree", sample, estimator=estimator, outcome=outcome, population_size=population_size,
                reps=reps, rng=rng, progress=progress, degree_rule=degree_rule, ci=ci, level=level,
                estimator_options=estimator_options)


def salganik_bootstrap(sample: Any, *, estimator: str, outcome: str, population_size: float | None = None,
                       reps: int = 1000, rng: Any, progress: Callable[[int], None] | None = None,
                       degree_rule: str = "max", ci: str = "t", level: float = 0.95,
                       estimator_options: dict | None = None) -> BootstrapResult:
    return _run("salganik", sample, estimator=estimator, outcome=outcome, population_size=population_size,
                reps=reps, rng=rng, progress=progress, degree_rule=degree_rule, ci=ci, level=level,
                estimator_options=estimator_options)


def ss_bootstrap(sample: Any, *, estimator: str = "ss", outcome: str, population_size: float | None = None,
                 reps: int = 1000, rng: Any, progress: Callable[[int], None] | None = None,
                 degree_rule: str = "max", ci: str = "t", level: float = 0.95,
                 estimator_options: dict | None = None) -> BootstrapResult:
    return _run("ss", sample, estimator=estimator, outcome=outcome, population_size=population_size,
                reps=reps, rng=rng, progress=progress, degree_rule=degree_rule, ci=ci, level=level,
                estimator_options=estimator_options)


def neighbourhood_bootstrap(sample: Any, *, estimator: str = "rds-ii", outcome: str,
                            population_size: float | None = None, reps: int = 1000, rng: Any,
                            progress: Callable[[int], None] | None = None, degree_rule: str = "max",
                            ci: str = "percentile", level: float = 0.95,
                            estimator_options: dict | None = None) -> BootstrapResult:
    return _run("neighbourhood", sample, estimator=estimator, outcome=outcome, population_size=population_size,
                reps=reps, rng=rng, progress=progress, degree_rule=degree_rule, ci=ci, level=level,
                estimator_options=estimator_options)


tree_bootstrap.__doc__ = ("Tree bootstrap (Baraff, McCormick & Raftery 2016), fixed-size variant of R "
                          "``RDS::treeboot``.\n" + _DOC_PARAMS + """
    Examples
    --------
    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> t = pd.DataFrame({"id": [1, 2, 3, 4, 5], "recruiter.id": [0, 0, 1, 1, 2],
    ...                   "network.size": [4, 6, 2, 5, 3], "hiv": [0, 1, 0, 1, 1]})
    >>> r = tree_bootstrap(rds_sample_from_table(t), estimator="rds-ii", outcome="hiv", reps=50, rng=3)
    >>> # RDS-II by hand: (1/4 + 1/2) / (1/4 + 1/6 + 1/2 + 1/5 + 1/3) = 0.75 / 1.45 = 0.517
    >>> r.to_frame()[["level", "estimate"]].round(3).values.tolist()
    [['0', 0.517], ['1', 0.483]]
""")
salganik_bootstrap.__doc__ = ("Salganik (2006) Markov-chain bootstrap with consistent level coding "
                              "(R RDS 0.9-10's level-order bug fixed).\n" + _DOC_PARAMS + """
    Examples
    --------
    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> t = pd.DataFrame({"id": [1, 2, 3, 4, 5], "recruiter.id": [0, 0, 1, 1, 2],
    ...                   "network.size": [4, 6, 2, 5, 3], "hiv": ["y", "n", "n", "y", "y"]})
    >>> salganik_bootstrap(rds_sample_from_table(t), estimator="rds-ii", outcome="hiv", reps=50, rng=3).reps
    50
""")
ss_bootstrap.__doc__ = ("Gile (2011) successive-sampling bootstrap (R ``SSBS.estimates``).\n" + _DOC_PARAMS + """
    Notes
    -----
    If ``N > n / 0.01`` N is capped at ``n / 0.01`` (R's ``SS.infinity``). Synthetic respondents are
    mapped back to a random respondent of the same (degree, group) class, so a replicate is again a
    multiset of respondents (this is what makes replicate-weight export possible).

    Examples
    --------
    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> t = pd.DataFrame({"id": [1, 2, 3, 4, 5], "recruiter.id": [0, 0, 1, 1, 2],
    ...                   "network.size": [4, 6, 2, 5, 3], "hiv": ["y", "n", "n", "y", "y"]})
    >>> ss_bootstrap(rds_sample_from_table(t), estimator="rds-ii", outcome="hiv", population_size=50,
    ...              reps=20, rng=3).replicates.shape
    (20, 2)
""")
neighbourhood_bootstrap.__doc__ = ("Neighbourhood bootstrap (Yauck et al. 2022; R ``Neighboot``).\n" + _DOC_PARAMS + """
    Examples
    --------
    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> t = pd.DataFrame({"id": [1, 2, 3, 4, 5], "recruiter.id": [0, 0, 1, 1, 2],
    ...                   "network.size": [4, 6, 2, 5, 3], "hiv": ["y", "n", "n", "y", "y"]})
    >>> neighbourhood_bootstrap(rds_sample_from_table(t), outcome="hiv", reps=30, rng=3).method
    'neighbourhood'
""")

BOOTSTRAP_METHODS: dict[str, Callable[..., BootstrapResult]] = {
    "salganik": salganik_bootstrap,
    "tree": tree_bootstrap,
    "ss": ss_bootstrap,
    "neighbourhood": neighbourhood_bootstrap,
}


def bootstrap(sample: Any, method: str | Callable[..., BootstrapResult], **kwargs: Any) -> BootstrapResult:
    """Run the bootstrap ``method`` (a key of :data:`BOOTSTRAP_METHODS` or a callable).

    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> t = pd.DataFrame({"id": [1, 2, 3], "recruiter.id": [0, 1, 1], "network.size": [4, 6, 2], "x": [0, 1, 1]})
    >>> bootstrap(rds_sample_from_table(t), "tree", estimator="rds-ii", outcome="x", reps=10, rng=1).reps
    10
    """
    if callable(method):
        return method(sample, **kwargs)
    if method not in BOOTSTRAP_METHODS:
        raise EstimationError(f"unknown bootstrap method {method!r}",
                              fix=f"use one of {', '.join(BOOTSTRAP_METHODS)}")
    return BOOTSTRAP_METHODS[method](sample, **kwargs)


def replicate_counts(sample: Any, method: str, *, reps: int, rng: Any, outcome: str,
                     estimator: str = "rds-ii", population_size: float | None = None, degree_rule: str = "max",
                     progress: Callable[[int], None] | None = None) -> np.ndarray:
    """How often each respondent appears in each bootstrap replicate (``reps × n`` integer array).

    Replicate weights are these multiplicities times the respondents' RDS weights (see
    :func:`hiddenpop.rds.regression.replicate_weights`). ``outcome`` sets the groups of the
    Salganik and SS schemes.

    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> t = pd.DataFrame({"id": [1, 2, 3], "recruiter.id": [0, 1, 1], "network.size": [4, 6, 2], "x": [0, 1, 1]})
    >>> c = replicate_counts(rds_sample_from_table(t), "tree", reps=5, rng=1, outcome="x")
    >>> c.shape, c.sum(axis=1).tolist()
    ((5, 3), [3, 3, 3, 3, 3])
    """
    gen = check_rng(rng)
    prep = _prepare(sample, estimator=estimator, outcome=outcome, population_size=population_size,
                    degree_rule=degree_rule)
    out = np.zeros((int(reps), prep.n), np.int64)
    done = 0
    for batch in _batches(method, prep, int(reps), gen):
        out[done:done + batch.reps] = np.bincount(batch.rep * prep.n + batch.idx,
                                                  minlength=batch.reps * prep.n).reshape(batch.reps, prep.n)
        done += batch.reps
        if progress is not None:
            progress(batch.reps)
    return out
