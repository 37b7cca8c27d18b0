"""Simulate respondent-driven sampling on a known population network.

Used to check estimators and intervals where the truth is known (e.g. R ``RDS``'s
``fauxmadrona.network``: N = 1000, prevalence of ``disease`` 0.20).

Recruitment process of :func:`simulate_rds` (without replacement, degree-proportional):

1. ``n_seeds`` seeds are drawn without replacement with probability proportional to degree;
2. respondents are processed first-in first-out (so waves come in order); each passes up to
   ``max_coupons`` coupons to neighbours drawn uniformly without replacement among its *not yet
   sampled* neighbours, and every coupon is redeemed;
3. if every active respondent has run out of unsampled neighbours before ``n`` is reached, a new
   seed is drawn proportional to degree among the unsampled (as field teams add seeds when chains
   die out).

Because a person is reached along any of its edges, inclusion grows with degree (the premise of
RDS-II), but sampling is without replacement: with a large sample fraction the high-degree people
are used up early, which is the bias Gile's SS and the HCG estimator correct and RDS-II does not.

Examples
--------
>>> import pandas as pd
>>> nodes = pd.DataFrame({"vertex": [1, 2, 3, 4, 5], "y": [1, 0, 0, 1, 0]})
>>> edges = pd.DataFrame({"from": [1, 1, 2, 3, 4], "to": [2, 3, 3, 4, 5]})
>>> net = population_network(nodes, edges)
>>> net.degree.tolist()
[2, 2, 3, 2, 1]
>>> s = simulate_rds(net, 4, n_seeds=1, rng=1)
>>> s.n, bool(s.is_seed[0]), s.population_size[1]
(4, True, 5.0)
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop._checks import check_columns, check_rng
from hiddenpop.errors import DesignError, EstimationError, truncate_list

__all__ = ["PopulationNetwork", "population_network", "simulate_rds", "rds_simulation_study"]


@dataclass(frozen=True, eq=False)
class PopulationNetwork:
    """An undirected population network in CSR form.

    Attributes
    ----------
    ids : numpy.ndarray
        Vertex ids (as given).
    offsets, neighbours : numpy.ndarray
        Neighbours of vertex ``i`` are ``neighbours[offsets[i]:offsets[i+1]]`` (positions).
    degree : numpy.ndarray
        Number of neighbours.
    data : pandas.DataFrame
        Vertex attributes, row ``i`` for vertex ``i``.
    """

    ids: np.ndarray
    offsets: np.ndarray
    neighbours: np.ndarray
    degree: np.ndarray
    data: pd.DataFrame

    @property
    def size(self) -> int:
        """Population size N."""
        return len(self.ids)


def population_network(nodes: pd.DataFrame, edges: pd.DataFrame, *, id_col: str = "vertex",
                       from_col: str = "from", to_col: str = "to", source: str = "network") -> PopulationNetwork:
    """Build a :class:`PopulationNetwork` from a vertex table and an (undirected) edge list.

    Duplicate edges and self-loops are dropped; every edge end must be a vertex id.

    Raises
    ------
    DesignError
        Missing columns, duplicate vertex ids or edges naming unknown vertices.
    """
    check_columns(nodes, [id_col], source=f"{source} nodes")
    check_columns(edges, [from_col, to_col], source=f"{source} edges")
    ids = nodes[id_col].to_numpy()
    index = pd.Index(ids)
    if index.has_duplicates:
        raise DesignError(f"duplicate vertex ids: {truncate_list(index[index.duplicated()].unique())}",
                          where=f"{source} nodes, column '{id_col}'", fix="give every vertex its own id")
    a = index.get_indexer(edges[from_col].to_numpy())
    b = index.get_indexer(edges[to_col].to_numpy())
    bad = (a < 0) | (b < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DesignError(f"{int(bad.sum())} edge(s) name a vertex that is not in the node table",
                          where=f"{source} edges, row {i + 2}",
                          fix="every edge end must be a vertex id of the node table")
    keep = a != b
    lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    pairs = np.unique(np.stack([lo, hi], axis=1), axis=0) if keep.any() else np.empty((0, 2), np.int64)
    src = np.concatenate((pairs[:, 0], pairs[:, 1]))
    dst = np.concatenate((pairs[:, 1], pairs[:, 0]))
    order = np.argsort(src, kind="stable")
    deg = np.bincount(src, minlength=len(ids))
    offsets = np.concatenate(([0], np.cumsum(deg))).astype(np.int64)
    return PopulationNetwork(ids=ids, offsets=offsets, neighbours=dst[order].astype(np.int64),
                             degree=deg.astype(np.int64), data=nodes.reset_index(drop=True))


def simulate_rds(network: PopulationNetwork, n: int, *, n_seeds: int = 10, max_coupons: int = 2,
                 rng: Any) -> Any:
    """Draw one RDS sample of size ``n`` (process in the module docstring).

    Parameters
    ----------
    network
        The population (:func:`population_network`).
    n
        Sample size (at most the number of vertices with at least one neighbour).
    n_seeds
        Initial seeds, drawn proportional to degree without replacement.
    max_coupons
        Coupons per respondent.
    rng
        Anything :func:`numpy.random.default_rng` accepts.

    Returns
    -------
    RDSSample
        Ids are the vertex ids, degrees the network degrees, ``data`` the vertex attributes,
        ``time`` the order of recruitment and ``population_size`` N = number of vertices.

    Examples
    --------
    >>> import pandas as pd
    >>> nodes = pd.DataFrame({"vertex": range(6)})
    >>> edges = pd.DataFrame({"from": [0, 1, 2, 3, 4], "to": [1, 2, 3, 4, 5]})   # a path
    >>> s = simulate_rds(population_network(nodes, edges), 6, n_seeds=1, max_coupons=2, rng=0)
    >>> sorted(s.ids.tolist()) == [str(i) for i in range(6)]
    True
    """
    from hiddenpop.rds.sample import RDSSample
    from hiddenpop.rds.tree import RecruitmentTree

    gen = check_rng(rng)
    deg = network.degree.astype(float)
    reachable = int((deg > 0).sum())
    if not 1 <= n <= reachable:
        raise EstimationError(f"sample size {n} must be between 1 and {reachable} (vertices with a neighbour)",
                              fix="choose a smaller n")
    if not 1 <= n_seeds <= n or max_coupons < 1:
        raise EstimationError(f"need 1 <= n_seeds <= n and max_coupons >= 1 (got {n_seeds}, {max_coupons})",
                              fix="e.g. n_seeds=10, max_coupons=2")
    sampled = np.zeros(network.size, bool)
    order: list[int] = []
    recruiter: list[int] = []
    seeds = gen.choice(network.size, size=n_seeds, replace=False, p=deg / deg.sum())
    queue: deque[int] = deque()
    for s in seeds:
        sampled[s] = True
        order.append(int(s))
        recruiter.append(-1)
        queue.append(len(order) - 1)
    offsets, nbrs = network.offsets, network.neighbours
    while len(order) < n:
        if not queue:                                   # every chain died out: a new seed
            free = np.flatnonzero(~sampled & (deg > 0))
            s = int(gen.choice(free, p=deg[free] / deg[free].sum()))
            sampled[s] = True
            order.append(s)
            recruiter.append(-1)
            queue.append(len(order) - 1)
            continue
        pos = queue.popleft()
        who = order[pos]
        cand = nbrs[offsets[who]:offsets[who + 1]]
        cand = cand[~sampled[cand]]
        k = min(max_coupons, len(cand), n - len(order))
        if k <= 0:
            continue
        for r in gen.choice(cand, size=k, replace=False):
            sampled[r] = True
            order.append(int(r))
            recruiter.append(pos)
            queue.append(len(order) - 1)
    idx = np.asarray(order, dtype=np.int64)
    tree = RecruitmentTree(ids=np.array([str(v) for v in network.ids[idx]], dtype=object),
                           parent=np.asarray(recruiter, dtype=np.int64))
    return RDSSample(tree, deg[idx], network.data.iloc[idx].reset_index(drop=True),
                     np.arange(len(idx), dtype=float), (None, float(network.size), None), "simulated RDS sample")


def rds_simulation_study(network: PopulationNetwork, *, outcome: str, level: str, truth: float, n: int,
                         reps: int, rng: Any, estimators: Sequence[str] = ("rds-ii", "ss", "hcg"),
                         n_seeds: int = 10, max_coupons: int = 2, bootstrap_reps: int = 0,
                         bootstrap_estimators: Sequence[str] = ("rds-ii", "ss"), confidence: float = 0.95,
                         progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Draw ``reps`` RDS samples and estimate the share of ``outcome == level`` in each.

    Parameters
    ----------
    network, n, n_seeds, max_coupons
        Population and sampling process (:func:`simulate_rds`).
    outcome, level, truth
        The outcome column, the level whose share is estimated, and its population value.
    reps
        Number of simulated samples.
    rng
        Anything :func:`numpy.random.default_rng` accepts.
    estimators
        Point estimators (keys of :data:`hiddenpop.rds.estimators.ESTIMATORS`), N = network size.
    bootstrap_reps
        If > 0, a tree bootstrap (percentile interval) with this many replicates for each of
        ``bootstrap_estimators``, giving columns ``<est>_low``, ``<est>_high``, ``<est>_covers``.
    progress
        Called with 1 after each simulated sample.

    Returns
    -------
    pandas.DataFrame
        One row per simulated sample: ``rep`` and one estimate column per estimator (plus
        interval columns when bootstrapping).

    Examples
    --------
    >>> import pandas as pd
    >>> nodes = pd.DataFrame({"vertex": range(8), "y": [1, 0, 0, 1, 0, 0, 1, 0]})
    >>> edges = pd.DataFrame({"from": [0, 1, 2, 3, 4, 5, 6, 7, 0], "to": [1, 2, 3, 4, 5, 6, 7, 0, 4]})
    >>> out = rds_simulation_study(population_network(nodes, edges), outcome="y", level="1", truth=3 / 8,
    ...                            n=6, reps=3, rng=1, estimators=("rds-ii", "mean"), n_seeds=1)
    >>> out.columns.tolist(), len(out)
    (['rep', 'rds-ii', 'mean'], 3)
    """
    from hiddenpop.rds.bootstrap import tree_bootstrap
    from hiddenpop.rds.estimators import estimate

    gen = check_rng(rng)
    rows = []
    for r in range(int(reps)):
        s = simulate_rds(network, n, n_seeds=n_seeds, max_coupons=max_coupons, rng=gen)
        row: dict[str, Any] = {"rep": r}
        for est in estimators:
            table = estimate(s, outcome, estimator=est, population_size=network.size, rng=gen)
            row[est] = _level_value(table, level)
        for est in (bootstrap_estimators if bootstrap_reps > 0 else ()):
            res = tree_bootstrap(s, estimator=est, outcome=outcome, population_size=network.size,
                                 reps=bootstrap_reps, rng=gen, ci="percentile", level=confidence)
            k = list(res.levels).index(str(level)) if str(level) in res.levels else None
            lo = res.ci_low[k] if k is not None else 0.0
            hi = res.ci_high[k] if k is not None else 0.0
            row[f"{est}_low"], row[f"{est}_high"] = lo, hi
            row[f"{est}_covers"] = bool(lo <= truth <= hi)
        rows.append(row)
        if progress is not None:
            progress(1)
    return pd.DataFrame(rows)


def _level_value(table: pd.DataFrame, level: str) -> float:
    sel = table[table["level"].astype(str) == str(level)]
    return float(sel["estimate"].iloc[0]) if len(sel) else 0.0
