"""Weight trimming (R ``survey::trimWeights``) and Kish's design effect due to weighting.

:func:`trim_weights` sets weights above ``upper`` to ``upper`` (and below ``lower`` to
``lower``) and shares the net amount removed **equally (additively)** among the
untrimmed units, so Σw is unchanged. Because the share can push some untrimmed weights
over the bound again, ``strict=True`` repeats the step until no weight is outside the
bounds (R ``strict=TRUE``); ``strict=False`` does one pass (R's default). As in R
``survey`` ≥ 4.2, a weight trimmed in an earlier pass gets no share of a later pass's
excess (it stays at its bound).

Kish's design effect due to unequal weighting is deff_w = n Σw²/(Σw)² = 1 + CV², with
CV the coefficient of variation of the weights (population variance, divisor n).

References
----------
Kish, L. (1992). Weighting for unequal Pi. *J. Official Statistics* 8, 183–200.
Potter, F. (1990). A study of procedures to identify and trim extreme sampling weights.
Lumley, T. ``survey::trimWeights`` documentation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hiddenpop.errors import ConvergenceError, DesignError

__all__ = ["TrimResult", "trim_weights", "kish_deff"]


def kish_deff(weights: np.ndarray, *, positive_only: bool = False) -> float:
    """Kish's design effect due to weighting, n Σw²/(Σw)² = 1 + CV².

    This is the one implementation in the package: :func:`trim_weights`, the
    ``weights trim``/``weights calibrate`` commands and the report of
    :func:`hiddenpop.weights.pipeline.compute_weights` (``kish_deff_base``,
    ``kish_deff_final``) all call it; ``hiddenpop.weights.kish_deff`` and
    ``hiddenpop.weights.pipeline.kish_deff`` are this function.

    Parameters
    ----------
    weights
        The weights.
    positive_only
        Leave out weights ≤ 0 before computing n, Σw and Σw² (the weighting engine
        uses this: households kept in its table with weight 0 are outside the
        estimation sample and must not count in n). Default: every weight counts.

    Examples
    --------
    >>> kish_deff([1.0, 1.0, 1.0])
    1.0
    >>> kish_deff([1.0, 3.0])  # CV = 1/2 (mean 2, sd 1): 1 + 0.25
    1.25
    >>> kish_deff([1.0, 3.0, 0.0], positive_only=True)  # the zero weight is left out
    1.25
    """
    w = np.asarray(weights, dtype=float)
    if positive_only:
        w = w[w > 0]
    return float(len(w) * (w * w).sum() / w.sum() ** 2)


@dataclass(frozen=True)
class TrimResult:
    """Trimmed weights with diagnostics.

    Attributes
    ----------
    weights
        Trimmed weights (Σ unchanged).
    n_trimmed
        Number of weights set to a bound in the first pass.
    n_outside
        Number of weights still outside the bounds at the end (0 with ``strict``).
    n_iter
        Passes made.
    deff_before, deff_after
        Kish's deff_w = 1 + CV² before and after trimming.
    """

    weights: np.ndarray
    n_trimmed: int
    n_outside: int
    n_iter: int
    deff_before: float
    deff_after: float


def trim_weights(weights: np.ndarray, *, upper: float = np.inf, lower: float = -np.inf, strict: bool = False,
                 max_iter: int = 1000) -> TrimResult:
    """Trim weights to [lower, upper] and redistribute the excess additively (R ``trimWeights``).

    Parameters
    ----------
    weights
        Weights > 0.
    upper, lower
        Bounds (e.g. ``upper = 3 * median(w)``).
    strict
        Repeat until no weight is outside the bounds.
    max_iter
        Passes allowed with ``strict``.

    Examples
    --------
    >>> r = trim_weights(np.array([1.0, 1.0, 1.0, 9.0]), upper=5.0)
    >>> r.weights.tolist(), r.n_trimmed   # excess 4 shared by the 3 others: 1 + 4/3
    ([2.333333333333333, 2.333333333333333, 2.333333333333333, 5.0], 1)
    """
    w = np.asarray(weights, dtype=float).copy()
    if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise DesignError("weights to trim must be finite numbers > 0", fix="check the weight column")
    if not lower < upper:
        raise DesignError(f"lower bound {lower!r} must be below upper bound {upper!r}")
    if w.sum() < lower * len(w) or w.sum() > upper * len(w):
        raise DesignError(f"the weights cannot satisfy the bounds: their mean {w.mean():.6g} lies outside "
                          f"[{lower}, {upper}]", fix="widen the bounds")
    deff_before = kish_deff(w)
    n_trimmed, it = 0, 0
    has_trimmed = np.zeros(len(w), dtype=bool)
    while True:
        outside = (w > upper) | (w < lower)
        if not outside.any():
            break
        if it >= (max_iter if strict else 1):
            break
        # R >= 4.2 (do_trimWeights): a weight trimmed in an earlier pass takes no share
        can_take = ~outside & ~has_trimmed
        if not can_take.any():
            raise ConvergenceError("every weight is outside the trimming bounds or was trimmed before, so the "
                                   "excess cannot be shared", fix="widen the bounds")
        it += 1
        if it == 1:
            n_trimmed = int(outside.sum())
        new = np.clip(w, lower, upper)
        share = np.sum(w - new) / np.count_nonzero(can_take)
        new[can_take] += share
        w = new
        has_trimmed |= outside
    n_outside = int(np.count_nonzero((w > upper) | (w < lower)))
    if strict and n_outside:
        raise ConvergenceError(f"strict trimming left {n_outside} weight(s) outside the bounds after {it} passes",
                               fix="widen the bounds or raise max_iter")
    return TrimResult(w, n_trimmed, n_outside, it, deff_before, kish_deff(w))
