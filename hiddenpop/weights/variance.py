"""Design-based variances: one entry point per family, fed by influence values.

Linearisation (Taylor series, ultimate cluster)
    Every estimator reduces to a total of influence values z_k (for a mean,
    z_k = w_k (y_k - ȳ)/N̂). :func:`linearization_variance` first removes the
    calibration/post-stratification fits recorded on the design (the weight-adjustment
    residuals), then sums z within PSUs and applies the with-replacement
    stratified formula
    ``V = Σ_h (1 - f_h) n_h/(n_h - 1) Σ_i (z_hi - z̄_h)²``
    with the lonely-PSU policy of the design, exactly as R ``survey::svyrecvar`` does
    for a one-stage (ultimate cluster) design.

Replication
    :func:`replicate_variance` turns replicate estimates into a variance,
    ``V = scale Σ_r rscale_r (θ_r - c)(θ_r - c)ᵀ`` with c the mean of the replicates
    (``mse=False``, R's default) or the full-sample estimate (``mse=True``), as R
    ``survey::svrVar``.

References
----------
Wolter, K. (2007). *Introduction to Variance Estimation*, 2nd ed., ch. 6 (Taylor series).
Lumley, T. (2010). *Complex Surveys*, §2.2, appendix C.
Särndal, Swensson & Wretman (1992). *Model Assisted Survey Sampling*, §6.5 (GREG residuals).
"""
from __future__ import annotations

import numpy as np

from hiddenpop.weights.design import LonelyPSU, PreparedDesign

__all__ = ["linearization_variance", "variance_from_psu_totals", "replicate_variance", "adjust_influence"]


def adjust_influence(influence: np.ndarray, design: PreparedDesign) -> np.ndarray:
    """Apply the design's calibration residual steps (in order) to row influence values."""
    x = np.asarray(influence, dtype=float)
    for step in design.adjustments:
        x = step.residuals(x)
    return x


def linearization_variance(influence: np.ndarray, design: PreparedDesign) -> np.ndarray:
    """Variance (or covariance matrix) of the total of ``influence`` under ``design``.

    Parameters
    ----------
    influence
        Row influence values, shape (n,) or (n, k).
    design
        A :class:`~hiddenpop.weights.design.PreparedDesign`.

    Returns
    -------
    numpy.ndarray
        A scalar array for (n,) input, a (k, k) matrix for (n, k) input.

    Examples
    --------
    Two strata of two PSUs; stratum A totals 1 and 3, stratum B totals 2 and 2:
    V = 2·((1-2)² + (3-2)²) + 2·0 = 4.

    >>> import pandas as pd
    >>> from hiddenpop.weights.design import Design
    >>> df = pd.DataFrame({"w": [1.0] * 4, "h": ["A", "A", "B", "B"], "c": [1, 2, 1, 2]})
    >>> pdz = Design(weight_col="w", stratum_col="h", psu_col="c").prepare(df)
    >>> float(linearization_variance(np.array([1.0, 3.0, 2.0, 2.0]), pdz))
    4.0
    """
    x = adjust_influence(influence, design)
    return variance_from_psu_totals(design.psu_totals(x), design)


def variance_from_psu_totals(psu_totals: np.ndarray, design: PreparedDesign) -> np.ndarray:
    """The stratified with-replacement variance from PSU totals of influence values.

    ``psu_totals`` has shape (n_psu,) or (n_psu, k) with rows in PSU-code order.
    """
    z = np.asarray(psu_totals, dtype=float)
    one = z.ndim == 1
    hs = design.psu_stratum
    n_h = design.n_psu_h.astype(float)
    lonely_h = design.n_psu_h == 1
    policy = design.lonely_psu
    scale_h = np.divide(n_h, n_h - 1, out=np.zeros_like(n_h), where=n_h > 1)
    if policy == LonelyPSU.ADJUST:
        scale_h[lonely_h] = 1.0
    if design.fpc_fraction is not None:
        scale_h = scale_h * (1.0 - design.fpc_fraction)
    centre_mask = ~lonely_h if policy == LonelyPSU.ADJUST else np.ones_like(lonely_h)
    if one:
        means = np.bincount(hs, z, minlength=design.n_strata) / n_h
        zc = z - (means * centre_mask)[hs]
        v = np.dot(scale_h[hs] * zc, zc)
    else:
        sums = np.column_stack([np.bincount(hs, z[:, j], minlength=design.n_strata) for j in range(z.shape[1])])
        means = sums / n_h[:, None]
        zc = z - (means * centre_mask[:, None])[hs]
        v = (zc * scale_h[hs][:, None]).T @ zc
    if policy == LonelyPSU.AVERAGE and lonely_h.any():
        n_lonely = int(lonely_h.sum())
        if n_lonely < design.n_strata:
            v = v * design.n_strata / (design.n_strata - n_lonely)
    return np.asarray(v)


def replicate_variance(thetas: np.ndarray, theta: np.ndarray | float, scale: float,
                       rscales: np.ndarray | float, *, mse: bool = False) -> np.ndarray:
    """Variance from replicate estimates (R ``svrVar``).

    Parameters
    ----------
    thetas
        Replicate estimates, shape (B,) or (B, k).
    theta
        Full-sample estimate(s), used as the centre when ``mse=True``.
    scale, rscales
        Overall and per-replicate scale factors (JK1: (B-1)/B and 1; JKn: 1 and
        (n_h-1)/n_h; bootstrap: 1/(B-1) and 1).
    mse
        Centre at ``theta`` instead of the replicate mean.

    Returns
    -------
    numpy.ndarray
        Scalar for (B,) input, (k, k) matrix for (B, k).

    Examples
    --------
    >>> float(replicate_variance(np.array([1.0, 2.0, 3.0]), 2.0, 0.5, 1.0))
    1.0
    >>> float(replicate_variance(np.array([1.0, 2.0, 3.0]), 1.0, 0.5, 1.0, mse=True))
    2.5
    """
    t = np.asarray(thetas, dtype=float)
    one = t.ndim == 1
    if one:
        t = t[:, None]
    rs = np.broadcast_to(np.asarray(rscales, dtype=float), (t.shape[0],))
    centre = np.atleast_1d(np.asarray(theta, dtype=float)) if mse else t.mean(axis=0)
    d = t - centre
    v = scale * (d * rs[:, None]).T @ d
    return np.asarray(v[0, 0]) if one else v
