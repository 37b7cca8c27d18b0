"""Replicate variance: JK1, JKn and the Rao–Wu rescaling bootstrap, kept at PSU level.

Replicate factors are held as a **PSU × B matrix** (:class:`ReplicateFactors`); row-level
replicate weights are materialised only when asked (:meth:`ReplicateFactors.replicate_weights`,
export). Applying replicates to a linear statistic is one ``np.bincount`` over rows and one
``(PSU × B)ᵀ @ PSU totals`` product.

Methods (as R ``survey::as.svrepdesign``):

``jk1``
    Delete-one-PSU jackknife ignoring strata: B = number of PSUs, the dropped PSU gets
    factor 0, every other PSU n/(n-1); scale (1-f)(n-1)/n with f the first-stage
    sampling fraction of the design's FPC (0 without one), rscales 1.
``jkn``
    Stratified delete-one jackknife: in the replicate that drops PSU i of stratum h, PSU i
    gets 0, the other PSUs of h get n_h/(n_h-1), other strata 1; scale 1, rscales
    (n_h-1)/n_h (times 1-f_h with an FPC). Strata with one PSU give no replicate.
``bootstrap``
    Rao–Wu–Yue rescaling bootstrap with m_h = n_h - 1 (R ``type="subbootstrap"``): draw
    n_h - 1 PSUs with replacement in each stratum; factor = (times drawn)·n_h/(n_h-1);
    scale 1/(B-1), rscales 1. A stratum with one PSU keeps factor 1.

Variance: ``scale Σ_r rscale_r (θ_r - θ̄)²`` (``mse=False``, R's default) or centred at
the full-sample θ (``mse=True``); see :func:`hiddenpop.weights.variance.replicate_variance`.

:func:`with_replicates` re-runs *any* statistic — including a whole re-weighting
pipeline (stage-2 weights, nonresponse, calibration) — once per replicate.

References
----------
Rao, J. N. K., Wu, C. F. J. & Yue, K. (1992). Some recent work on resampling methods for
complex surveys. *Survey Methodology* 18, 209–217.
Wolter, K. (2007). *Introduction to Variance Estimation*, ch. 4–5.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop._checks import check_rng
from hiddenpop.errors import DesignError, EstimationError, HiddenPopWarning
from hiddenpop.weights.design import Design, PreparedDesign, as_prepared
from hiddenpop.weights.variance import replicate_variance

__all__ = [
    "ReplicateFactors",
    "ReplicateWeights",
    "ReplicateResult",
    "REPLICATE_METHODS",
    "make_replicates",
    "jk1_factors",
    "jkn_factors",
    "bootstrap_factors",
    "with_replicates",
    "replicate_weights_frame",
    "svrepdesign_call",
    "stata_svyset_call",
]


@dataclass(frozen=True, eq=False)
class ReplicateFactors:
    """Replicate multipliers at PSU level.

    Attributes
    ----------
    psu_keys
        ``stratum, psu`` of each PSU (row i of ``factors``).
    factors
        (n_psu, B) multipliers; replicate analysis weight = weight × factor of the row's PSU.
    scale, rscales, mse
        Variance constants (see module notes).
    method
        ``jk1``, ``jkn``, ``bootstrap`` (or a name given by the caller).
    psu_codes
        PSU code of each row (n,), to expand factors to rows.
    """

    psu_keys: pd.DataFrame
    factors: np.ndarray
    scale: float
    rscales: np.ndarray
    method: str
    psu_codes: np.ndarray
    mse: bool = False

    def __post_init__(self) -> None:
        f = np.asarray(self.factors, dtype=float)
        if f.ndim != 2 or f.shape[0] != len(self.psu_keys):
            raise DesignError(f"replicate factors must be (n_psu={len(self.psu_keys)}, B), got shape {f.shape}")
        object.__setattr__(self, "factors", f)
        object.__setattr__(self, "rscales", np.broadcast_to(np.asarray(self.rscales, dtype=float), (f.shape[1],)).copy())

    @property
    def n_replicates(self) -> int:
        return self.factors.shape[1]

    @property
    def n_psu(self) -> int:
        return self.factors.shape[0]

    def row_multipliers(self, r: int) -> np.ndarray:
        """Per-row multipliers of replicate ``r`` (n,)."""
        return self.factors[self.psu_codes, r]

    def row_factors(self) -> np.ndarray:
        """All per-row multipliers as an (n, B) matrix (memory: n·B doubles)."""
        return self.factors[self.psu_codes, :]

    def replicate_weights(self, weights: np.ndarray) -> np.ndarray:
        """Replicate analysis weights (n, B) = weights × row multipliers."""
        return np.asarray(weights, dtype=float)[:, None] * self.row_factors()

    def replicate_totals(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Σ_k weight_k · factor_{r,psu(k)} · values_k for every replicate r, shape (B,)."""
        t = np.bincount(self.psu_codes, np.asarray(weights, dtype=float) * values, minlength=self.n_psu)
        return self.apply_psu_totals(t)

    def apply_psu_totals(self, psu_totals: np.ndarray) -> np.ndarray:
        """Replicate totals from PSU totals: factorsᵀ @ totals, shape (B,) (or (B, k))."""
        t = np.asarray(psu_totals, dtype=float)
        if t.ndim == 1:
            return np.einsum("pb,p->b", self.factors, t)
        return np.einsum("pb,pk->bk", self.factors, t)

    def variance(self, thetas: np.ndarray, theta: Any) -> np.ndarray:
        """Variance from replicate estimates with this object's constants."""
        return replicate_variance(thetas, theta, self.scale, self.rscales, mse=self.mse)


@dataclass(frozen=True, eq=False)
class ReplicateWeights:
    """Row-level replicate analysis weights read from a file (n, B)."""

    weights: np.ndarray
    scale: float
    rscales: np.ndarray
    method: str
    mse: bool = False

    @property
    def n_replicates(self) -> int:
        return self.weights.shape[1]

    def replicate_totals(self, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return self.weights.T @ np.asarray(values, dtype=float)

    def replicate_weights(self, weights: np.ndarray | None = None) -> np.ndarray:
        """The replicate analysis weights (n, B) (``weights`` is ignored: they are stored)."""
        return self.weights

    def variance(self, thetas: np.ndarray, theta: Any) -> np.ndarray:
        return replicate_variance(thetas, theta, self.scale, self.rscales, mse=self.mse)

    @classmethod
    def from_design(cls, data: pd.DataFrame, design: PreparedDesign) -> "ReplicateWeights":
        """Read the design's ``replicate_cols`` (bootstrap: scale 1/(B-1); jk1: (B-1)/B)."""
        spec = design.spec
        if not spec.replicate_cols:
            raise DesignError("variance 'replicate' needs replicate weight columns",
                              fix="name them (--replicate-cols rep_1,...), or choose jk1, jkn or bootstrap")
        w = data[list(spec.replicate_cols)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(w).all() or (w < 0).any():
            bad = np.argwhere(~np.isfinite(w) | (w < 0))[0]
            raise DesignError(f"replicate weight missing or negative (row {bad[0] + 2}, column "
                              f"'{spec.replicate_cols[bad[1]]}')", fix="give complete replicate weights ≥ 0")
        b = w.shape[1]
        method = spec.replicate_method or "bootstrap"
        if spec.replicate_scale is not None:
            scale = float(spec.replicate_scale)
        elif method == "jk1":
            scale = (b - 1) / b
        else:
            scale = 1.0 / (b - 1)
        return cls(w, scale, np.ones(b), method)


# ---------------------------------------------------------------------------------------
def jk1_factors(design: PreparedDesign) -> ReplicateFactors:
    """Delete-one-PSU jackknife ignoring strata (R ``as.svrepdesign(type="JK1")`` on the
    unstratified design)."""
    n = design.n_psu
    if n < 2:
        raise DesignError("JK1 needs at least two PSUs", fix="use linearization")
    if design.n_strata > 1:
        warnings.warn("JK1 ignores the strata (it treats the design as unstratified and usually overstates the "
                      "variance); use jkn for a stratified design", HiddenPopWarning, stacklevel=3)
    f = np.full((n, n), n / (n - 1))
    np.fill_diagonal(f, 0.0)
    return ReplicateFactors(design.psu_keys, f, (1.0 - _jk1_fraction(design)) * (n - 1) / n, np.ones(n), "jk1",
                            design.psu_codes)


def _jk1_fraction(design: PreparedDesign) -> float:
    """First-stage sampling fraction for JK1's scale (1 - f)(n - 1)/n (R ``jk1weights``).

    One stratum: its fraction n/N. Several strata (JK1 treats them as one): the sampled
    PSUs over the population PSUs of all strata, Σ n_h / Σ (n_h/f_h). No FPC: 0.
    """
    f_h = design.fpc_fraction
    if f_h is None:
        return 0.0
    n_h = design.n_psu_h.astype(float)
    return float(n_h.sum() / np.sum(n_h / f_h))


def jkn_factors(design: PreparedDesign) -> ReplicateFactors:
    """Stratified delete-one-PSU jackknife (R ``as.svrepdesign(type="JKn")``)."""
    hs = design.psu_stratum
    n_h = design.n_psu_h
    reps = np.flatnonzero(n_h[hs] > 1)  # one replicate per PSU in strata with ≥ 2 PSUs
    if len(reps) == 0:
        raise DesignError("JKn needs a stratum with at least two PSUs", fix="use linearization")
    f = np.ones((design.n_psu, len(reps)))
    rscales = np.empty(len(reps))
    for r, i in enumerate(reps):
        h = hs[i]
        nh = n_h[h]
        f[hs == h, r] = nh / (nh - 1)
        f[i, r] = 0.0
        rscales[r] = (nh - 1) / nh * (1.0 - (design.fpc_fraction[h] if design.fpc_fraction is not None else 0.0))
    return ReplicateFactors(design.psu_keys, f, 1.0, rscales, "jkn", design.psu_codes)


def bootstrap_factors(design: PreparedDesign, *, reps: int = 500, rng: Any = None) -> ReplicateFactors:
    """Rao–Wu–Yue rescaling bootstrap with n_h - 1 PSUs drawn per stratum (R ``subbootstrap``)."""
    gen = check_rng(rng)
    if reps < 2:
        raise DesignError(f"the bootstrap needs at least 2 replicates, got {reps}", fix="use reps ≥ 500")
    hs = design.psu_stratum
    n_h = design.n_psu_h
    starts = np.searchsorted(hs, np.arange(design.n_strata))
    drawn = np.flatnonzero(n_h >= 2)
    # every replicate draws n_h - 1 PSUs with replacement in every stratum, all at once
    m_h = n_h[drawn] - 1
    owner = np.repeat(drawn, m_h)                                  # stratum of each draw
    u = gen.random((reps, owner.size))
    psu = starts[owner] + np.minimum((u * n_h[owner]).astype(np.intp), n_h[owner] - 1)
    flat = (np.arange(reps)[:, None] * design.n_psu + psu).ravel()
    counts = np.bincount(flat, minlength=reps * design.n_psu).reshape(reps, design.n_psu).T
    scale_h = np.where(n_h >= 2, n_h / np.maximum(n_h - 1, 1), 1.0)
    f = counts * scale_h[hs][:, None]
    lonely = n_h[hs] < 2
    f[lonely, :] = 1.0
    return ReplicateFactors(design.psu_keys, f, 1.0 / (reps - 1), np.ones(reps), "bootstrap", design.psu_codes)


#: replicate methods by name, the recommended one (the point bootstrap) first: the CLI lists them in this order
REPLICATE_METHODS: dict[str, Callable[..., ReplicateFactors]] = {
    "bootstrap": bootstrap_factors,
    "jk1": jk1_factors,
    "jkn": jkn_factors,
}


def make_replicates(data: pd.DataFrame | None, design: Design | PreparedDesign, *, method: str = "bootstrap",
                    reps: int = 500, rng: Any = None) -> ReplicateFactors:
    """Replicate factors for ``design`` (PSU × B).

    Parameters
    ----------
    data
        Survey table (may be ``None`` when ``design`` is already prepared).
    design
        Design spec or prepared design. For the two-stage design, the PSU column must
        hold each household's *root first-stage point* so referred households move with it.
    method
        ``jk1``, ``jkn`` or ``bootstrap``.
    reps, rng
        Bootstrap replicates and random generator (required for the bootstrap).

    Examples
    --------
    >>> df = pd.DataFrame({"w": [1.0] * 6, "h": list("AAABBB"), "c": [1, 2, 3, 1, 2, 3]})
    >>> rf = make_replicates(df, Design(weight_col="w", stratum_col="h", psu_col="c"), method="jkn")
    >>> rf.factors.shape, rf.scale, float(rf.rscales[0])
    ((6, 6), 1.0, 0.6666666666666666)
    >>> rb = make_replicates(df, Design(weight_col="w", stratum_col="h", psu_col="c"), reps=4, rng=1)
    >>> rb.factors.sum(axis=0).tolist()   # 2 PSUs drawn per stratum, each x 3/2: 2 strata x 3
    [6.0, 6.0, 6.0, 6.0]
    """
    if method not in REPLICATE_METHODS:
        raise DesignError(f"unknown replicate method {method!r}", fix=f"use one of {', '.join(REPLICATE_METHODS)}")
    prepared = as_prepared(data, design)
    if method == "bootstrap":
        return bootstrap_factors(prepared, reps=reps, rng=rng)
    return REPLICATE_METHODS[method](prepared)


@dataclass(frozen=True)
class ReplicateResult:
    """Full-sample estimate(s), replicate estimates (B, k), variance (k, k) and SEs."""

    theta: np.ndarray
    thetas: np.ndarray
    variance: np.ndarray
    se: np.ndarray


def with_replicates(factors: ReplicateFactors, statistic_fn: Callable[[np.ndarray], Any], *,
                    row_level: bool = True, theta: Any = None,
                    progress: Callable[[int], None] | None = None) -> ReplicateResult:
    """Re-run ``statistic_fn`` once per replicate and combine the results into a variance.

    ``statistic_fn(multipliers)`` receives the per-row multipliers of one replicate (n,)
    — or the PSU multipliers (n_psu,) with ``row_level=False`` — and returns a number or
    a vector. It can redo an entire weighting pipeline: multiply the base weights (or the
    stage-1 weights) by the multipliers, recompute stage-2 weights, nonresponse and
    calibration, then the estimate. The full-sample value is ``statistic_fn(ones)``
    unless ``theta`` is given.

    Examples
    --------
    >>> df = pd.DataFrame({"w": [1.0] * 4, "y": [1.0, 2.0, 3.0, 6.0], "c": [1, 2, 3, 4]})
    >>> rf = make_replicates(df, Design(weight_col="w", psu_col="c"), method="jk1")
    >>> res = with_replicates(rf, lambda m: np.sum(m * df.y) / np.sum(m))
    >>> round(float(res.se[0]), 6)  # the JK1 SE of a mean is s/sqrt(n): sd(1,2,3,6)/2
    1.080123
    """
    n_rows = len(factors.psu_codes)
    full = np.ones(n_rows if row_level else factors.n_psu)
    theta0 = np.atleast_1d(np.asarray(statistic_fn(full) if theta is None else theta, dtype=float))
    thetas = np.empty((factors.n_replicates, theta0.size))
    for r in range(factors.n_replicates):
        m = factors.row_multipliers(r) if row_level else factors.factors[:, r]
        value = np.atleast_1d(np.asarray(statistic_fn(m), dtype=float))
        if value.shape != theta0.shape:
            raise EstimationError(f"replicate {r + 1} returned shape {value.shape}, the full sample {theta0.shape}",
                                  fix="make the statistic return the same number of values every time")
        thetas[r] = value
        if progress is not None:
            progress(1)
    v = np.atleast_2d(factors.variance(thetas, theta0))
    return ReplicateResult(theta0, thetas, v, np.sqrt(np.clip(np.diag(v), 0, None)))


# ---------------------------------------------------------------------------------------
# export
def replicate_weights_frame(factors: ReplicateFactors, weights: np.ndarray, *, ids: Any = None,
                            id_col: str = "id", weight_col: str = "final_weight", prefix: str = "rep_") -> pd.DataFrame:
    """Row-level table ``id, weight, rep_1 … rep_B`` of replicate *analysis* weights.

    Read it in R with :func:`svrepdesign_call` and in Stata with :func:`stata_svyset_call`.
    """
    w = np.asarray(weights, dtype=float)
    rw = factors.replicate_weights(w)
    cols = {}
    if ids is not None:
        cols[id_col] = np.asarray(ids)
    cols[weight_col] = w
    frame = pd.DataFrame(cols)
    reps = pd.DataFrame(rw, columns=[f"{prefix}{i + 1}" for i in range(rw.shape[1])])
    return pd.concat([frame, reps], axis=1)


def svrepdesign_call(factors: ReplicateFactors, *, file: str = "replicate_weights.csv",
                     weight_col: str = "final_weight", prefix: str = "rep_") -> str:
    """The exact R call that reproduces our replicate variances from the exported file.

    ``type="other"`` with explicit ``scale`` and ``rscales`` makes R use exactly our
    constants (``combined.weights=TRUE``: the columns are analysis weights).
    """
    rs = factors.rscales
    if np.allclose(rs, rs[0]):
        rscales = f"{rs[0]:.17g}"
    else:
        rscales = f'read.csv("{_sidecar(file)}")$rscale'
    return (f'd <- read.csv("{file}")\n'
            f'rd <- survey::svrepdesign(data = d, weights = ~{weight_col}, repweights = "^{prefix}[0-9]+$",\n'
            f'                          type = "other", scale = {factors.scale:.17g}, rscales = {rscales},\n'
            f'                          combined.weights = TRUE, mse = {"TRUE" if factors.mse else "FALSE"})')


def stata_svyset_call(factors: ReplicateFactors, *, file: str = "replicate_weights.csv",
                      weight_col: str = "final_weight", prefix: str = "rep_") -> str:
    """The Stata ``svyset`` line for the exported replicate weights.

    Bootstrap: Stata's ``svy bootstrap`` variance is (1/B) Σ (θ_r - θ̄)², ours (and R's
    subbootstrap) (1/(B-1)) Σ (θ_r - θ̄)²: Stata's SE is smaller by √((B-1)/B) (0.1% for
    B = 500). Jackknife: ``jkrweight`` groups with their multipliers scale·rscale; Stata
    centres jackknife replicates differently from R unless ``mse`` is set, so ``mse`` is
    given (equal to R's ``mse=TRUE``; it differs from the default ``mse=FALSE`` in the
    second order only).
    """
    b = factors.n_replicates
    if factors.method == "bootstrap":
        return (f"import delimited {file}, clear\n"
                f"svyset [pweight={weight_col}], bsrweight({prefix}1-{prefix}{b}) vce(bootstrap)\n"
                f"svy bootstrap: mean <variable>")
    mult = factors.scale * factors.rscales
    groups, start = [], 0
    for i in range(1, b + 1):
        if i == b or mult[i] != mult[start]:
            groups.append(f"jkrweight({prefix}{start + 1}-{prefix}{i}, multiplier({mult[start]:.17g}))")
            start = i
    return (f"import delimited {file}, clear\n"
            f"svyset [pweight={weight_col}], {' '.join(groups)} vce(jackknife) mse\n"
            f"svy jackknife: mean <variable>")


def _sidecar(file: str) -> str:
    return file.rsplit(".", 1)[0] + ".rscales.csv"
