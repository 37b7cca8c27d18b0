"""Design-based variances: one entry point per family, fed by influence values.

Linearisation (Taylor series, ultimate cluster)
    Every estimator reduces to a total of influence values z_k (for a mean,
    z_k = w_k (y_k - ȳ)/N̂). :func:`linearization_variance` first removes the
    calibration/post-stratification fits recorded on the design (the weight-adjustment
    residuals), then sums z within PSUs and applies the with-replacement
    stratified formula
    ``V = Σ_h (1 - f_h) n_h/(n_h - 1) Σ_i (z_hi - z̄_h)²``
    with the lonely-PSU policy of the design, exactly as R ``survey::svyrecvar`` does
    for a one-stage (ultimate cluster) design. A multistage design with an FPC at the
    first stage adds the later stages' within-unit variances
    (:func:`later_stage_variance`), as R does unless ``survey.ultimate.cluster`` is set.

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

__all__ = ["linearization_variance", "variance_from_psu_totals", "later_stage_variance", "replicate_variance",
           "adjust_influence"]


def adjust_influence(influence: np.ndarray, design: PreparedDesign) -> np.ndarray:
    """Apply the design's calibration residual steps (in order) to row influence values."""
    x = np.asarray(influence, dtype=float)
    for step in design.adjustments:
        x = step.residuals(x)
    return x


def linearization_variance(influence: np.ndarray, design: PreparedDesign, *,
                           strata_present: np.ndarray | None = None) -> np.ndarray:
    """Variance (or covariance matrix) of the total of ``influence`` under ``design``.

    Parameters
    ----------
    influence
        Row influence values, shape (n,) or (n, k).
    design
        A :class:`~hiddenpop.weights.design.PreparedDesign`.
    strata_present
        For a domain: boolean per stratum, True where the domain has respondents. The
        lonely-PSU policies ``adjust`` and ``average`` then count these strata only (R
        ``svyby``, whose subset designs drop the other strata). ``None``: every stratum.

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
    v = variance_from_psu_totals(design.psu_totals(x), design, strata_present=strata_present)
    if design.later_stages:
        v = v + later_stage_variance(x, design)
    return v


def later_stage_variance(x: np.ndarray, design: PreparedDesign) -> np.ndarray:
    """The later stages' part of a multistage variance (R ``svyrecvar``, ``multistage``).

    For every stage k ≥ 2 and every unit p of stage k-1: the units of stage k in p have
    totals z_pj of ``x``; p adds m_p (1 - f_p) n_p/(n_p - 1) Σ_j (z_pj - z̄_p)², with n_p
    the units sampled in p, f_p their sampling fraction and m_p the product of the sampling
    fractions of the stages above (n_1/N_1 for stage 2). A parent with one sampled unit
    adds nothing (see :class:`~hiddenpop.weights.design.LaterStage`).

    Examples
    --------
    Two PSUs sampled out of 4, each with two of its 4 schools; school totals 1, 3 and 2, 2:
    stage 2 adds (2/4)·(1 - 2/4)·2·((1-2)² + (3-2)²) = 1.

    >>> import pandas as pd
    >>> from hiddenpop.weights.design import Design
    >>> df = pd.DataFrame({"w": 1.0, "d": [1, 1, 2, 2], "s": [1, 2, 1, 2], "f1": 4, "f2": 4})
    >>> pdz = Design(weight_col="w", psu_col="d", fpc_col="f1", ssu_col="s", ssu_fpc_col="f2").prepare(df)
    >>> float(later_stage_variance(np.array([1.0, 3.0, 2.0, 2.0]), pdz))
    1.0
    """
    xm = np.asarray(x, dtype=float)
    one = xm.ndim == 1
    if one:
        xm = xm[:, None]
    v = np.zeros((xm.shape[1], xm.shape[1]))
    for st in design.later_stages:
        n_units = len(st.parent)
        tot = np.column_stack([np.bincount(st.unit_codes, xm[:, j], minlength=n_units) for j in range(xm.shape[1])])
        sums = np.column_stack([np.bincount(st.parent, tot[:, j], minlength=st.n_parent) for j in range(xm.shape[1])])
        means = sums / np.maximum(st.n_units, 1)[:, None]
        d = tot - means[st.parent]
        wgt = (st.multiplier * st.scale)[st.parent]
        v = v + (d * wgt[:, None]).T @ d
    return np.asarray(v[0, 0]) if one else v


def variance_from_psu_totals(psu_totals: np.ndarray, design: PreparedDesign, *,
                             strata_present: np.ndarray | None = None) -> np.ndarray:
    """The stratified first-stage variance from PSU totals of influence values.

    ``psu_totals`` has shape (n_psu,) or (n_psu, k) with rows in PSU-code order. A
    lonely stratum (one PSU, sampling fraction below 1) follows the design's policy;
    ``adjust`` centres it at Σ z / Σ_h n_h over the strata counted and ``average``
    multiplies by the strata counted over the non-lonely ones among them (R ``survey``
    4.5, ``onestage``); ``strata_present`` limits the strata counted to a domain's.
    For a multistage design the later stages come on top
    (:func:`linearization_variance`).
    """
    z = np.asarray(psu_totals, dtype=float)
    one = z.ndim == 1
    hs = design.psu_stratum
    n_h = design.n_psu_h.astype(float)
    lonely_h = design.n_psu_h == 1
    if design.fpc_fraction is not None:
        lonely_h = lonely_h & (design.fpc_fraction < 1)
    policy = design.lonely_psu
    present = np.ones(design.n_strata, dtype=bool) if strata_present is None else np.asarray(strata_present, bool)
    scale_h = np.divide(n_h, n_h - 1, out=np.zeros_like(n_h), where=n_h > 1)
    if policy == LonelyPSU.ADJUST:
        scale_h[lonely_h] = 1.0
    if design.fpc_fraction is not None:
        scale_h = scale_h * (1.0 - design.fpc_fraction)
    scale_h = scale_h * present     # strata outside the domain: all-zero totals, and not counted
    adjust = policy == LonelyPSU.ADJUST and bool((lonely_h & present).any())
    zm = z[:, None] if one else z
    sums = np.column_stack([np.bincount(hs, zm[:, j], minlength=design.n_strata) for j in range(zm.shape[1])])
    means = sums / n_h[:, None]
    if adjust:
        # survey >= 4.3: a lonely stratum is centred at the grand mean of the PSU totals
        grand = zm.sum(axis=0) / n_h[present].sum()
        means[lonely_h] = grand
    zc = zm - means[hs]
    v = (zc * scale_h[hs][:, None]).T @ zc
    if policy == LonelyPSU.AVERAGE:
        n_counted = int(present.sum())
        n_lonely = int((lonely_h & present).sum())
        if n_lonely:
            v = v * (n_counted / (n_counted - n_lonely) if n_counted > n_lonely else np.nan)
    return np.asarray(v[0, 0]) if one else np.asarray(v)


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
