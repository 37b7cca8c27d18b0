"""Spatially balanced selection from a finite set of candidate locations.

* :func:`grts` — generalized random tessellation stratified sampling (Stevens & Olsen
  2004): a quadtree address for every candidate, hierarchical randomisation of the four
  children of every cell, ordering by the randomised address, then systematic sampling
  along that line with the prescribed inclusion probabilities.
* :func:`lpm` — the local pivotal method (Grafström, Lundström & Schelin 2012): pairs of
  undecided units that are each other's nearest undecided neighbour compete (the pivotal
  update keeps every first-order inclusion probability). All mutual-nearest-neighbour pairs
  of a round are disjoint and stay mutual while the others are updated, so they are updated
  together (LPM1 in a particular order) — this makes LPM fast in numpy. Each unit keeps a
  list of its 6 nearest units (k-d tree, spatially sorted data); its nearest undecided
  neighbour is the first undecided unit of the list, and the lists are rebuilt on the
  undecided units only when their number has shrunk to 30 % (or a list runs out).
* :func:`reserve_order` — the order of a selected set so that every prefix is itself a
  spatially balanced sample with exactly proportional inclusion probabilities: the
  positions along the GRTS line are rotated by a random offset and then taken in reverse
  hierarchical (base-4 digit-reversed) order, as spsurvey's reverse hierarchical ordering
  of the oversample does.
* :func:`spatial_balance` — the Voronoi measure of spatial balance (Stevens & Olsen 2004):
  ``(1/n) Σ_i (v_i − 1)²`` with ``v_i`` the sum of inclusion probabilities of the candidates
  nearest to sample point ``i``. 0 is perfect balance; simple random samples score about 0.3.

References
----------
Stevens, D. L. & Olsen, A. R. (2004). Spatially balanced sampling of natural resources. JASA 99, 262–278.
Grafström, A., Lundström, N. L. P. & Schelin, L. (2012). Spatially balanced sampling through the
pivotal method. Biometrics 68, 514–520.
Dumelle, M. et al. (2023). spsurvey: spatial sampling design and analysis in R. J. Stat. Softw. 105(3).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from hiddenpop._checks import check_rng
from hiddenpop.errors import DesignError

__all__ = ["grts", "lpm", "BALANCED_METHODS", "reserve_order", "spatial_balance", "grts_order"]

_EPS = 1e-9
_LPM_K = 6  # neighbours listed per unit between k-d tree rebuilds
_LPM_REBUILD = 0.3  # rebuild the lists when the undecided set has shrunk to this fraction


def _check_prob(coords: np.ndarray, prob: Any) -> tuple[np.ndarray, np.ndarray]:
    coords = np.asarray(coords, dtype=float)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise DesignError("coordinates must be an (N, 2) array")
    p = np.broadcast_to(np.asarray(prob, dtype=float), (len(coords),)).astype(float)
    if ((p < 0) | (p > 1 + 1e-12) | ~np.isfinite(p)).any():
        raise DesignError("inclusion probabilities must lie in [0, 1]",
                          fix="lower the sample size or add candidates; a unit with probability above 1 "
                              "must be taken with certainty and removed first")
    return coords, np.minimum(p, 1.0)


def grts_order(coords: Any, prob: Any, *, rng: Any) -> np.ndarray:
    """Candidate indices in randomised hierarchical (GRTS) order.

    The quadtree is refined until no cell holds a total inclusion probability above 1
    (at most 26 levels); candidates sharing a finest cell are ordered at random.
    """
    rng = check_rng(rng)
    coords, p = _check_prob(coords, prob)
    n = len(coords)
    lo = coords.min(axis=0)
    span = float(np.max(coords.max(axis=0) - lo)) or 1.0
    unit = (coords - lo) / (span * (1 + 1e-12))
    max_level = 26
    ix_full = np.minimum((unit[:, 0] * (1 << max_level)).astype(np.int64), (1 << max_level) - 1)
    iy_full = np.minimum((unit[:, 1] * (1 << max_level)).astype(np.int64), (1 << max_level) - 1)
    address = np.zeros(n, dtype=np.int64)  # randomised address, base 4
    cell = np.zeros(n, dtype=np.int64)     # un-randomised quadtree cell (parent key)
    for level in range(1, max_level + 1):
        shift = max_level - level
        digit = (((ix_full >> shift) & 1) << 1) | ((iy_full >> shift) & 1)
        parents, inv = np.unique(cell, return_inverse=True)
        perm = np.argsort(rng.random((len(parents), 4)), axis=1)
        address = address * 4 + perm[inv, digit]
        cell = cell * 4 + digit
        sums = np.bincount(np.unique(cell, return_inverse=True)[1], weights=p)
        if sums.max() <= 1 + 1e-9:
            break
    tie = rng.random(n)
    return np.lexsort((tie, address))


def _systematic(p_ordered: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cum = np.concatenate([[0.0], np.cumsum(p_ordered)])
    u = rng.random()
    hits = np.floor(cum[1:] - u + _EPS) - np.floor(cum[:-1] - u + _EPS)
    return np.flatnonzero(hits > 0)


def grts(coords: Any, prob: Any, *, rng: Any) -> np.ndarray:
    """GRTS sample: indices of the selected candidates, in GRTS line order.

    Parameters
    ----------
    coords
        (N, 2) candidate coordinates in a metric CRS.
    prob
        Inclusion probabilities (scalar or N values, each in [0, 1]); their sum is the
        expected sample size (exact when it is a whole number).
    rng
        Random generator or seed.

    Examples
    --------
    >>> import numpy as np
    >>> xy = np.random.default_rng(1).random((1000, 2))
    >>> s = grts(xy, 50 / 1000, rng=7)
    >>> len(s), len(set(s.tolist()))
    (50, 50)
    """
    rng = check_rng(rng)
    coords, p = _check_prob(coords, prob)
    order = grts_order(coords, p, rng=rng)
    return order[_systematic(p[order], rng)]


def _knn(xy: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` nearest points of every point (itself included), nearest first."""
    if len(xy) <= 256:  # brute force beats building a tree
        d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=-1)
        nn = np.argsort(d2, axis=1, kind="stable")[:, :k]
        return nn
    tree = cKDTree(xy, balanced_tree=False, compact_nodes=False)  # faster build, same answers
    _, nn = tree.query(xy, k=k, workers=-1 if len(xy) > 20000 else 1)
    return nn.reshape(len(xy), k)


def lpm(coords: Any, prob: Any, *, rng: Any, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Local pivotal method sample: indices of the selected candidates (sorted).

    Parameters
    ----------
    coords
        (N, 2) candidate coordinates in a metric CRS.
    prob
        Inclusion probabilities in [0, 1]; a whole-number sum gives a fixed sample size.
    rng
        Random generator or seed.
    progress
        Optional callback receiving the number of units decided in each round.

    Examples
    --------
    >>> import numpy as np
    >>> xy = np.random.default_rng(1).random((1000, 2))
    >>> s = lpm(xy, 50 / 1000, rng=7)
    >>> len(s)
    50
    """
    rng = check_rng(rng)
    coords, p = _check_prob(coords, prob)
    p = p.copy()
    active = np.zeros(len(p), dtype=bool)
    active[(p > _EPS) & (p < 1 - _EPS)] = True
    n_active = int(active.sum())
    # Work in a spatial (grid-cell) order: neighbouring units sit close in memory, which makes
    # the k-d tree queries and the gathers below cache-friendly. Indices are mapped back at the end.
    if len(p):
        lo = coords.min(axis=0)
        cell = max(float(np.max(coords.max(axis=0) - lo)), 1e-300) / max(1.0, np.sqrt(len(p) / 4.0))
        g = np.floor((coords - lo) / cell).astype(np.int64)
        order = np.lexsort((g[:, 1], g[:, 0]))
    else:
        order = np.arange(0)
    coords, p = coords[order], p[order]
    # ``active`` has one extra, never-active entry: the sentinel that replaces a unit in its own list
    active = np.concatenate([active[order], [False]])
    sentinel = len(p)
    knn = np.empty((0, 0), dtype=np.int64)  # candidate neighbours of the units in ``rows``
    rows = np.empty(0, dtype=np.int64)
    partner = np.full(len(p), -1, dtype=np.int64)
    built_at = 0
    while n_active > 1:
        if len(rows) == 0 or n_active < _LPM_REBUILD * built_at or n_active <= _LPM_K:
            # (Re)build the neighbour lists on the undecided units only.
            rows = np.flatnonzero(active[:-1])
            k = min(_LPM_K + 1, len(rows))
            nn = _knn(coords[rows], k)
            knn = rows[nn.reshape(len(rows), k)]
            # a unit is not its own neighbour (with duplicated points it need not come first)
            knn[knn == rows[:, None]] = sentinel
            built_at = n_active
        else:
            live = active[rows]
            rows, knn = rows[live], knn[live]
        # Nearest *undecided* neighbour: the first listed unit that is still undecided (and not
        # the unit itself: duplicated points may list a twin first). Lists are sorted by
        # distance, so it is the nearest undecided unit overall; units whose whole list is
        # decided wait for the next rebuild.
        ok = active[knn]
        first = ok.argmax(axis=1)
        line = np.arange(len(rows))
        has = ok[line, first]
        r = rows[has]
        nb = knn[line[has], first[has]]
        partner[r] = nb
        mutual = (partner[nb] == r) & (r < nb)
        gi, gj = r[mutual], nb[mutual]
        partner[r] = -1
        if len(gi) == 0:
            if len(r) == 0 or not has.all():
                if len(rows) < n_active or built_at != n_active:
                    rows = np.empty(0, dtype=np.int64)  # lists exhausted: rebuild
                    continue
            if len(r) == 0:  # pragma: no cover - defensive
                units = np.flatnonzero(active[:-1])
                gi, gj = units[:1], units[1:2]
            else:  # ties without a mutual pair: one pivot between a random unit and its nearest neighbour
                pick = int(rng.integers(len(r)))
                gi, gj = r[pick:pick + 1], nb[pick:pick + 1]
        # All mutual pairs are disjoint, so updating them together equals updating them one
        # after the other (LPM1 order). s < 1: one unit gets 0, the other s; s >= 1: one gets 1,
        # the other s - 1; the probabilities keep every unit's expectation.
        pi, pj = p[gi], p[gj]
        s_ = pi + pj
        u = rng.random(len(gi))
        low = s_ < 1
        to_i = np.where(low, u < pi / np.where(low, s_, 1.0), u < (1 - pj) / np.where(low, 1.0, 2 - s_))
        p[gi] = np.where(low, np.where(to_i, s_, 0.0), np.where(to_i, 1.0, s_ - 1))
        p[gj] = np.where(low, np.where(to_i, 0.0, s_), np.where(to_i, s_ - 1, 1.0))
        both = np.concatenate([gi, gj])
        done = both[(p[both] <= _EPS) | (p[both] >= 1 - _EPS)]
        active[done] = False
        n_active -= len(done)
        if progress is not None and len(done):
            progress(len(done))
    if n_active == 1:  # only left when the sum is not a whole number
        k_ = int(np.flatnonzero(active[:-1])[0])
        p[k_] = 1.0 if rng.random() < p[k_] else 0.0
    return np.sort(order[p >= 1 - _EPS])


#: Balanced selection methods: name → function(coords, prob, *, rng) -> selected indices.
BALANCED_METHODS: dict[str, Callable[..., np.ndarray]] = {"grts": grts, "lpm": lpm}


def _digit_reverse(k: np.ndarray, n_digits: int) -> np.ndarray:
    out = np.zeros_like(k)
    for _ in range(n_digits):
        out = out * 4 + (k % 4)
        k = k // 4
    return out


def reserve_order(coords: Any, *, rng: Any) -> np.ndarray:
    """Order a selected set so that every prefix is a balanced sample.

    The selected points are put on a GRTS line (randomised quadtree order), the line
    positions are rotated by a uniform random offset, and positions are taken in reverse
    hierarchical (base-4 digit-reversed) order. Because of the random rotation every point
    is equally likely to sit at any rank, so the first ``k`` of ``m`` selected points are a
    sample with inclusion probabilities exactly ``k/m`` times those of the whole selection.

    >>> import numpy as np
    >>> order = reserve_order(np.random.default_rng(2).random((16, 2)), rng=3)
    >>> sorted(order.tolist()) == list(range(16))
    True
    """
    rng = check_rng(rng)
    coords = np.asarray(coords, dtype=float)
    m = len(coords)
    if m <= 1:
        return np.arange(m)
    line = grts_order(coords, np.full(m, 1.0 / m), rng=rng)
    shift = int(rng.integers(m))
    position = (np.arange(m) + shift) % m
    n_digits = max(1, int(np.ceil(np.log(m) / np.log(4) - 1e-12)))
    key = _digit_reverse(position.astype(np.int64), n_digits)
    return line[np.argsort(key, kind="stable")]


def spatial_balance(candidates: Any, prob: Any, sample: Any) -> float:
    """Voronoi spatial-balance measure of a sample drawn from ``candidates``.

    Parameters
    ----------
    candidates
        (N, 2) coordinates of all candidates (or of a dense reference set drawn from the
        point density).
    prob
        Inclusion probability of each candidate (scalar or N values).
    sample
        (n, 2) coordinates of the sample points.

    Returns
    -------
    float
        ``(1/n) Σ (v_i − 1)²``, with ``v_i`` the total probability of the candidates whose
        nearest sample point is ``i``. Lower is better; 0 is perfect balance.

    Examples
    --------
    >>> import numpy as np
    >>> grid = np.stack(np.meshgrid(np.arange(4) + .5, np.arange(4) + .5), -1).reshape(-1, 2)
    >>> spatial_balance(grid, 4 / 16, [[1, 1], [1, 3], [3, 1], [3, 3]])  # one point per quarter
    0.0
    """
    cand = np.asarray(candidates, dtype=float)
    pts = np.asarray(sample, dtype=float)
    p = np.broadcast_to(np.asarray(prob, dtype=float), (len(cand),))
    _, owner = cKDTree(pts).query(cand)
    v = np.bincount(owner, weights=p, minlength=len(pts))
    return float(np.mean((v - 1.0) ** 2))
