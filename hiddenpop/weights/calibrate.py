"""Post-stratification, raking and calibration (GREG) to registry margins.

All methods work on the **collapsed cross-table** of the margin variables: rows in the
same cell (same level of every margin variable) always get the same adjustment factor
g, so iterative proportional fitting and the Newton steps of calibration run over a few
hundred cells, not over the rows.

``rake``
    Iterative proportional fitting as R ``survey::rake()``: one sweep post-stratifies to
    each margin in turn; it stops when the largest absolute change of the full
    cross-table between two sweeps is below ε, where ε = ``tol``·Σw if ``tol < 1`` and
    ``tol`` itself otherwise (R's default is ``max_iter=10, tol=1``). The variance uses
    R's raking residuals: the post-strata of the last sweep (one per margin), with the
    influence values raked to zero means over them (10 passes, as R ``svyrecvar``);
    ``variance_residuals="greg"`` uses the calibration (GREG) residuals instead.
``linear``
    Linear (GREG) calibration, g = 1 + xᵀλ, optionally bounded (R ``calibrate(calfun=
    "linear")``).
``raking``
    Raking ratio calibration, g = exp(xᵀλ), optionally bounded, solved by Newton steps
    (R ``calibrate(calfun="raking")``): as in R's ``cal.raking``, a unit's derivative is
    exp(xᵀλ) while xᵀλ lies in (lower − 1, upper − 1) and 0 outside, so units clipped at a
    bound can move back on later steps. Without bounds it gives the same weights as ``rake``.
``logit``
    Logit calibration (R ``calibrate(calfun="logit", bounds=c(L, U))``; Deville & Särndal
    1992, Deville, Särndal & Sautory 1993): g = (L(U−1) + U(1−L)e^{Au}) / (U−1 + (1−L)e^{Au})
    with u = xᵀλ and A = (U−L)/((U−1)(1−L)), so every g lies strictly inside (L, U) without
    clipping; g(0) = 1 and g'(0) = 1, so near g = 1 it behaves like ``linear``. Bounds
    L < 1 < U are required. Solved by the same Newton steps (R ``grake``).

For ``linear``, ``raking`` and ``logit`` the variance uses the residuals of one weighted regression
on the whole calibration model matrix (R ``calibrate``: ``qr.resid`` on √w·X).

Margins come as the docs/data-contract.md, 'Registry margins' table ``variable,level,total`` (see
:func:`hiddenpop.io.tables.read_margins`); a combined margin names its variables joined
by `` x `` and its levels joined by ``|`` (``region x registered``, ``Istanbul|1``).

References
----------
Deville, J.-C. & Särndal, C.-E. (1992). Calibration estimators in survey sampling. JASA 87, 376–382.
Deville, Särndal & Sautory (1993). Generalized raking procedures in survey sampling. JASA 88, 1013–1020.
Kalton, G. & Flores-Cervantes, I. (2003). Weighting methods. J. Official Statistics 19, 81–97.
Lumley, T. (2010). *Complex Surveys*, ch. 7.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop._checks import check_columns, check_weights
from hiddenpop.errors import (ConvergenceError, ConvergenceWarning, DesignError, EstimationError, HiddenPopWarning,
                              truncate_list)

__all__ = [
    "CALIBRATION_METHODS",
    "HouseholdResiduals",
    "refit_children_model",
    "Margin",
    "CalibrationResult",
    "Calibrator",
    "Raker",
    "calibrate",
    "post_stratify",
    "rake",
    "normalise_margins",
    "GregResiduals",
    "RakeResiduals",
    "PostStratResiduals",
    "RowSubsetResiduals",
    "calibration_sidecar",
    "calibration_model",
    "adjustment_from_model",
    "refit_model",
    "RefittedCalibration",
    "recalibrated_replicates",
    "calibrate_replicates",
    "EMPTY_LEVEL_POLICIES",
    "level_text",
]

CALIBRATION_METHODS = ("rake", "linear", "raking", "logit")
_DEFAULTS = {"rake": (100, 1e-10), "linear": (50, 1e-10), "raking": (50, 1e-10), "logit": (50, 1e-10)}


@dataclass(frozen=True)
class Margin:
    """One calibration margin: its variables, level tuples and population totals."""

    name: str
    variables: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]
    totals: np.ndarray
    rows: tuple[int | None, ...] = ()
    source: str = "margins"


def _split_name(name: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in str(name).split(" x "))


def normalise_margins(margins: Any, *, source: str = "margins") -> list[Margin]:
    """Turn a ``variable,level,total`` table or a dict ``{variable: {level: total}}`` into margins.

    >>> m = normalise_margins({"sex": {"F": 10, "M": 12}, "region x registered": {"A|1": 22}})
    >>> [(x.variables, x.levels) for x in m]
    [(('sex',), (('F',), ('M',))), (('region', 'registered'), (('A', '1'),))]
    """
    if isinstance(margins, list) and all(isinstance(m, Margin) for m in margins):
        return margins
    if isinstance(margins, Mapping):
        rows = [(var, lev, tot, None) for var, levs in margins.items() for lev, tot in dict(levs).items()]
    elif isinstance(margins, pd.DataFrame):
        source = margins.attrs.get("source", source)
        check_columns(margins, ["variable", "level", "total"], source=source)
        rows = [(r.variable, r.level, r.total, i + 2) for i, r in enumerate(margins.itertuples(index=False))]
    else:
        raise DesignError(f"margins must be a variable,level,total table or a dict, got {type(margins).__name__}")
    out: dict[str, dict] = {}
    for var, lev, tot, row in rows:
        try:
            tot = float(tot)
        except (TypeError, ValueError):
            tot = float("nan")
        if not np.isfinite(tot) or tot <= 0:
            raise DesignError(f"margin total must be a number > 0 (variable {var!r}, level {lev!r})",
                              where=f"{source}, row {row}, column 'total', value {tot!r}" if row else source,
                              fix="give the registry count of every level")
        variables = _split_name(var)
        levels = tuple(s.strip() for s in level_text(lev).split("|"))
        if len(levels) != len(variables):
            raise DesignError(f"level {lev!r} has {len(levels)} part(s) but margin {var!r} has {len(variables)} "
                              "variable(s)", where=f"{source}, row {row}, column 'level'" if row else source,
                              fix="join the levels of a combined margin with '|' (e.g. Istanbul|1)")
        entry = out.setdefault(str(var), {"levels": [], "totals": [], "rows": [], "variables": variables})
        if levels in entry["levels"]:
            raise DesignError(f"level {lev!r} of margin {var!r} is given twice",
                              where=f"{source}, row {row}" if row else source, fix="keep one total per level")
        entry["levels"].append(levels)
        entry["totals"].append(tot)
        entry["rows"].append(row)
    return [Margin(name, e["variables"], tuple(e["levels"]), np.asarray(e["totals"]), tuple(e["rows"]), source)
            for name, e in out.items()]


def level_text(value: Any) -> str:
    """A margin level as the margins file spells it: a whole number read as ``7.0`` is the level ``"7"``.

    The data's values are compared with the levels of the margins file through this text, so a
    column read as floats (``1.0``) still matches the level ``1``.

    >>> [level_text(v) for v in (1.0, 2.5, "Istanbul", 3)]
    ['1', '2.5', 'Istanbul', '3']
    """
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------------------------------
# the collapsed cross-table
@dataclass(eq=False)
class _Cells:
    codes: np.ndarray                 # row -> cell (n,)
    n_cells: int
    level_of_cell: list[np.ndarray]   # per margin: cell -> level index
    model: np.ndarray                 # (n_cells, p) full-rank calibration model matrix
    population: np.ndarray            # (p,)
    margins: list[Margin]


def _build_cells(data: pd.DataFrame, margins: list[Margin]) -> _Cells:
    variables: list[str] = []
    for m in margins:
        for v in m.variables:
            if v not in variables:
                variables.append(v)
    check_columns(data, variables, source="data")
    codes_list, label_list = [], []
    for v in variables:
        col = data[v]
        if col.isna().any():
            pos = int(np.flatnonzero(col.isna().to_numpy())[0])
            raise DesignError(f"calibration variable '{v}' is missing", where=f"data, row {pos + 2}, column '{v}'",
                              fix="impute it, or drop the row before weighting")
        c, lab = pd.factorize(col, sort=True)
        codes_list.append(c.astype(np.int64))
        label_list.append([level_text(x) for x in lab])
    sizes = [len(lab) for lab in label_list]
    dense = np.zeros(len(data), dtype=np.int64)
    mult = 1
    for c, s in zip(codes_list, sizes):
        dense += c * mult
        mult *= s
    if mult <= 4_000_000:
        present = np.bincount(dense, minlength=mult) > 0
        lookup = np.cumsum(present) - 1
        cell_codes = lookup[dense]
        cell_dense = np.flatnonzero(present)
    else:
        cell_dense, cell_codes = np.unique(dense, return_inverse=True)
    n_cells = len(cell_dense)
    # decode each cell's level per variable
    var_level = {}
    rem = cell_dense.copy()
    for v, s in zip(variables, sizes):
        var_level[v] = rem % s
        rem //= s
    level_of_cell, blocks = [], []
    for mi, m in enumerate(margins):
        lab_tuples = [tuple(label_list[variables.index(v)][i] for v, i in zip(m.variables, idx))
                      for idx in zip(*(var_level[v] for v in m.variables))]
        index = {lev: j for j, lev in enumerate(m.levels)}
        cell_level = np.array([index.get(t, -1) for t in lab_tuples], dtype=np.intp)
        seen = np.bincount(cell_level[cell_level >= 0], minlength=len(m.levels)) > 0
        if not seen.all():
            j = int(np.flatnonzero(~seen)[0])
            row = m.rows[j] if m.rows else None
            raise DesignError(
                f"margin level {'|'.join(m.levels[j])!r} of {m.name!r} does not exist in the data "
                f"(levels in the data: {truncate_list(sorted({'|'.join(t) for t in lab_tuples}))})",
                where=f"{m.source}, row {row}, column 'level', value {'|'.join(m.levels[j])!r}" if row else m.source,
                fix="correct the level's spelling or coding, or collapse it with a neighbouring level")
        if (cell_level < 0).any():
            missing = sorted({"|".join(t) for t, j in zip(lab_tuples, cell_level) if j < 0})
            raise DesignError(f"the data have level(s) {truncate_list(repr(x) for x in missing)} of "
                              f"{' x '.join(m.variables)!r} with no total in the margins",
                              where=m.source, fix="add a total for every level present in the data, or recode the data")
        level_of_cell.append(cell_level)
        dummies = np.zeros((n_cells, len(m.levels)))
        dummies[np.arange(n_cells), cell_level] = 1.0
        if mi == 0:
            blocks.append(np.ones((n_cells, 1)))
        blocks.append(dummies[:, 1:])
    totals = [m.totals for m in margins]
    _check_same_population(margins, totals, where=margins[0].source)
    return _Cells(np.asarray(cell_codes, dtype=np.intp), n_cells, level_of_cell, np.hstack(blocks),
                  _population(totals), margins)


def _population(totals: list[np.ndarray]) -> np.ndarray:
    """Targets of the model matrix columns: the population total, then every margin's levels but the first."""
    return np.concatenate([[float(np.sum(totals[0]))]] + [np.asarray(t[1:], dtype=float) for t in totals])


def _check_same_population(margins: list[Margin], totals: list[np.ndarray], *, where: str, what: str = "") -> None:
    sums = np.array([np.sum(t) for t in totals])
    if np.any(np.abs(sums - sums[0]) > 1e-6 * sums[0]):
        raise DesignError(f"{what}the margins do not add up to the same population total ("
                          + ", ".join(f"{m.name}: {s:.10g}" for m, s in zip(margins, sums)) + ")",
                          where=where, fix="make every margin describe the same population")


def _as_columns(x: Any) -> tuple[np.ndarray, bool]:
    """``x`` (n,) or (n, k) as a float (n, k) array of its own, and whether it was 1-D."""
    x = np.array(x, dtype=float)
    return (x[:, None] if x.ndim == 1 else x), x.ndim == 1


# ---------------------------------------------------------------------------------------
# residual steps for the variance
@dataclass(frozen=True, eq=False)
class GregResiduals:
    """Replace influence values by their residuals from the weighted calibration regression
    (R ``calibrate``: ``qr.resid(qr(X·√w0), x/(g√w0))·g√w0``)."""

    cell_codes: np.ndarray
    model: np.ndarray
    base_weights: np.ndarray
    g_cell: np.ndarray

    def residuals(self, x: np.ndarray) -> np.ndarray:
        xm, one = _as_columns(x)
        n_cells = len(self.g_cell)
        s = np.column_stack([np.bincount(self.cell_codes, xm[:, j], minlength=n_cells) for j in range(xm.shape[1])])
        cw0 = np.bincount(self.cell_codes, self.base_weights, minlength=n_cells)
        a = self.model.T @ (cw0[:, None] * self.model)
        beta = np.linalg.pinv(a) @ (self.model.T @ (s / self.g_cell[:, None]))
        fitted = (self.model @ beta)[self.cell_codes]
        out = xm - (self.base_weights * self.g_cell[self.cell_codes])[:, None] * fitted
        return out[:, 0] if one else out


@dataclass(frozen=True, eq=False)
class RakeResiduals:
    """R ``rake()``'s variance residuals: the post-strata of the last IPF sweep are kept
    (one per margin, with the weights after that margin's step, ``psw``) and the
    influence values are raked to zero means, ``iterations`` times over the margins in
    order: x ← x − psw·mean_c(x/psw), the mean unweighted within each level c
    (R ``svyrecvar``, class ``raking``: 10 iterations)."""

    cell_codes: np.ndarray
    base_weights: np.ndarray
    steps: tuple[tuple[np.ndarray, np.ndarray], ...]  # (level_of_cell, g_after) per margin
    iterations: int = 10

    def residuals(self, x: np.ndarray) -> np.ndarray:
        xm, one = _as_columns(x)
        prepared = []
        for level_of_cell, g_after in self.steps:
            lev = level_of_cell[self.cell_codes]
            nl = int(level_of_cell.max()) + 1
            prepared.append((lev, nl, self.base_weights * g_after[self.cell_codes], np.bincount(lev, minlength=nl)))
        for _ in range(self.iterations):
            for lev, nl, psw, count in prepared:
                for j in range(xm.shape[1]):
                    means = np.bincount(lev, xm[:, j] / psw, minlength=nl) / count
                    xm[:, j] -= means[lev] * psw
        return xm[:, 0] if one else xm


@dataclass(frozen=True, eq=False)
class PostStratResiduals:
    """R ``postStratify``'s variance residuals: x ← x − psw·Σ_c(x·oldw/psw)/Σ_c oldw, with
    ``oldw`` the weights before and ``psw`` after post-stratification."""

    level_codes: np.ndarray
    old_weights: np.ndarray
    new_weights: np.ndarray

    def residuals(self, x: np.ndarray) -> np.ndarray:
        xm, one = _as_columns(x)
        nl = int(self.level_codes.max()) + 1
        den = np.bincount(self.level_codes, self.old_weights, minlength=nl)
        ratio = self.old_weights / self.new_weights
        for j in range(xm.shape[1]):
            means = np.bincount(self.level_codes, xm[:, j] * ratio, minlength=nl) / den
            xm[:, j] -= means[self.level_codes] * self.new_weights
        return xm[:, 0] if one else xm


# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class CalibrationResult:
    """Calibrated weights and their diagnostics.

    Attributes
    ----------
    weights, g
        Calibrated weights and adjustment factors g = weights / input weights (per row).
    converged, n_iter
        Convergence flag and number of sweeps (rake) or Newton steps (linear/raking/logit).
    max_margin_error
        Largest |achieved − target| over all margin levels (absolute).
    method
        ``rake``, ``linear``, ``raking`` or ``logit``.
    adjustment
        Residual step for the linearised variance (attach with :meth:`apply_to`).
    margin_table
        ``variable, level, target, achieved, before`` for reporting.
    """

    weights: np.ndarray
    g: np.ndarray
    converged: bool
    n_iter: int
    max_margin_error: float
    method: str
    adjustment: Any
    margin_table: pd.DataFrame = field(repr=False)

    def apply_to(self, design: Any) -> Any:
        """A prepared design carrying these weights and the calibration residual step."""
        return design.with_weights(self.weights, adjustment=self.adjustment)


def _margin_table(cells: _Cells, cw_before: np.ndarray, cw_after: np.ndarray) -> tuple[pd.DataFrame, float]:
    rows, err = [], 0.0
    for m, lev in zip(cells.margins, cells.level_of_cell):
        ach = np.bincount(lev, cw_after, minlength=len(m.levels))
        bef = np.bincount(lev, cw_before, minlength=len(m.levels))
        err = max(err, float(np.max(np.abs(ach - m.totals))))
        rows += [{"variable": m.name, "level": "|".join(L), "target": t, "achieved": a, "before": b}
                 for L, t, a, b in zip(m.levels, m.totals, ach, bef)]
    return pd.DataFrame(rows), err


def _ipf(cw0: np.ndarray, cells: _Cells, max_iter: int, eps: float, keep_steps: bool,
         totals: list[np.ndarray] | None = None):
    """IPF on cell totals with R rake()'s stopping rule (targets: the margins' totals, or
    ``totals``, one array per margin). Returns (g_cell, n_iter, converged, steps)."""
    g = np.ones_like(cw0)
    old = cw0.copy()
    steps: list = []
    it, converged = 0, False
    targets = totals if totals is not None else [m.totals for m in cells.margins]
    while it < max_iter:
        steps = []
        for m, lev, target in zip(cells.margins, cells.level_of_cell, targets):
            cur = cw0 * g
            tot = np.bincount(lev, cur, minlength=len(m.levels))
            factor = target / tot
            g = g * factor[lev]
            if keep_steps:
                steps.append((lev, g))
        new = cw0 * g
        it += 1
        if np.max(np.abs(new - old)) < eps:
            converged = True
            break
        old = new
    return g, it, converged, tuple(steps)


def _g_function(method: str, u: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """The calibration factor g(u) and its derivative at the linear predictor u = xᵀλ
    (R ``cal.linear``, ``cal.raking``, ``cal.logit``)."""
    if method == "logit":
        # R cal.logit (Deville & Särndal 1992, case 6): g runs from L to U as u runs over
        # the real line, g(0) = 1, g'(0) = 1; A = (U − L) / ((U − 1)(1 − L)). R's own
        # expressions, so that an overflow gives a non-finite value (and a step halving)
        # where R gets one.
        a = (hi - lo) / ((hi - 1.0) * (1.0 - lo))
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(a * u)
            den = hi - 1.0 + (1.0 - lo) * e
            num = lo * (hi - 1.0) + hi * (1.0 - lo) * e
            g = num / den
            deriv = hi * (1.0 - lo) * e * a / den - num * ((1.0 - lo) * e * a) / den ** 2
        return g, deriv
    # R cal.linear / cal.raking: the derivative is non-zero while the *linear
    # predictor* u lies in (lo - 1, hi - 1). For raking this is wider than the
    # unclipped range of g = exp(u), so a unit clipped at a bound keeps a
    # derivative and can move back (testing g itself froze such units for good).
    g = (1.0 + u) if method == "linear" else np.exp(np.minimum(u, 700.0))
    inside = (u > lo - 1.0) & (u < hi - 1.0)
    deriv = (np.ones_like(u) if method == "linear" else g) * inside
    return np.clip(g, lo, hi), deriv


def _newton(cw0: np.ndarray, cells: _Cells, method: str, bounds: tuple[float, float] | None, max_iter: int,
            tol: float, eta0: np.ndarray | None = None, pop: np.ndarray | None = None):
    """Calibration by Newton steps on the cells (R ``grake``), to ``cells.population`` or ``pop``.
    Returns (g_cell, n_iter, converged, eta)."""
    lo, hi = bounds if bounds is not None else (-np.inf, np.inf)
    x = cells.model
    pop = cells.population if pop is None else pop

    def fm(u):
        return _g_function(method, u, lo, hi)

    eta = np.zeros(x.shape[1]) if eta0 is None else eta0.copy()
    g, deriv = fm(x @ eta)
    misfit = pop - (cw0 * g) @ x
    it, converged = 0, bool(np.all(np.abs(misfit) / (1 + np.abs(pop)) < tol))
    while not converged and it < max_iter:
        it += 1
        tmat = x.T @ ((cw0 * deriv)[:, None] * x)
        deta = np.linalg.pinv(tmat, rcond=256 * np.finfo(float).eps) @ misfit
        eta = eta + deta
        g, deriv = fm(x @ eta)
        halvings = 0
        while not (np.all(np.isfinite(g)) and np.all(np.isfinite(deriv))) and halvings < 50:
            deta = deta / 2
            eta = eta - deta
            g, deriv = fm(x @ eta)
            halvings += 1
        misfit = pop - (cw0 * g) @ x
        converged = bool(np.all(np.abs(misfit) / (1 + np.abs(pop)) < tol))
    return g, it, converged, eta


class Calibrator:
    """Calibration fitted on margins, then applied to other (e.g. replicate) weights (A4).

    Parameters
    ----------
    method
        ``rake`` (IPF, R ``rake``), ``linear``, ``raking`` or ``logit`` (R ``calibrate``).
    bounds
        ``(lower, upper)`` bounds on g for ``linear``/``raking`` (optional) and ``logit``
        (required, lower < 1 < upper).
    max_iter, tol
        Sweeps/Newton steps and tolerance. ``rake``: stop when the largest change of the
        cross-table between sweeps is below ``tol``·Σw (``tol < 1``) or ``tol``
        (``tol ≥ 1``). ``linear``/``raking``/``logit``: stop when every |misfit|/(1+|total|) < ``tol``.
        Defaults: 100 and 1e-10 for ``rake``, 50 and 1e-10 otherwise (R's defaults are
        10 and 1 for ``rake``, 50 and 1e-7 for ``calibrate``).
    variance_residuals
        ``rake`` (R ``rake()``: the last sweep's post-strata, raked 10 times; default for
        ``rake``) or ``greg`` (R ``calibrate()``: one weighted regression on the whole
        model matrix; default otherwise).
    strict
        Raise :class:`~hiddenpop.errors.ConvergenceError` when not converged (default);
        otherwise warn with :class:`~hiddenpop.errors.ConvergenceWarning`.

    Attributes
    ----------
    weights_, g_, n_iter_, converged_, max_margin_error_, result_
        Set by :meth:`fit`.
    margins_
        The fitted margins (list of :class:`Margin`, in the order of ``result_.margin_table``).

    Examples
    --------
    >>> df = pd.DataFrame({"sex": ["F", "F", "M", "M"], "age": ["y", "o", "y", "o"], "w": [1.0, 1.0, 1.0, 1.0]})
    >>> m = {"sex": {"F": 6, "M": 4}, "age": {"y": 5, "o": 5}}
    >>> r = Raker().fit(df, "w", m)
    >>> r.weights_.round(6).tolist(), r.converged_
    ([3.0, 3.0, 2.0, 2.0], True)
    """

    def __init__(self, method: str = "raking", *, bounds: tuple[float, float] | None = None,
                 max_iter: int | None = None, tol: float | None = None, variance_residuals: str | None = None,
                 strict: bool = True):
        self.method = method
        self.bounds = bounds
        self.max_iter = max_iter
        self.tol = tol
        self.variance_residuals = variance_residuals
        self.strict = strict

    def _check(self) -> tuple[int, float, str]:
        if self.method not in CALIBRATION_METHODS:
            raise DesignError(f"unknown calibration method {self.method!r}",
                              fix=f"use one of {', '.join(CALIBRATION_METHODS)}")
        max_iter, tol = _DEFAULTS[self.method]
        max_iter = self.max_iter if self.max_iter is not None else max_iter
        tol = self.tol if self.tol is not None else tol
        if max_iter < 1 or not (tol > 0):
            raise DesignError(f"max_iter must be ≥ 1 and tol > 0 (got {max_iter}, {tol})")
        if self.method == "logit" and (self.bounds is None or not np.all(np.isfinite(self.bounds))):
            raise DesignError("logit calibration needs finite bounds on the calibration factor g",
                              fix="give bounds=(lower, upper) with lower < 1 < upper, e.g. (0.5, 2) "
                                  "(on the command line: --bounds 0.5,2)")
        if self.bounds is not None:
            lo, hi = self.bounds
            if self.method == "rake":
                raise DesignError("bounds are not available with method 'rake'",
                                  fix="use method 'raking' (bounded raking) or 'linear'")
            if not (lo < 1 < hi):
                raise DesignError(f"bounds must satisfy lower < 1 < upper, got {self.bounds}",
                                  fix="e.g. bounds=(0.5, 3)")
        resid = self.variance_residuals or ("rake" if self.method == "rake" else "greg")
        if resid not in ("rake", "greg") or (resid == "rake" and self.method != "rake"):
            raise DesignError(f"variance_residuals {resid!r} is not available for method {self.method!r}",
                              fix="use 'greg' (any method) or 'rake' (method rake)")
        return max_iter, tol, resid

    def fit(self, data: pd.DataFrame, weights: Any, margins: Any, *, source: str = "margins") -> "Calibrator":
        """Calibrate ``weights`` (array or column name of ``data``) to ``margins``."""
        max_iter, tol, resid = self._check()
        w0 = _weights(data, weights)
        cells = _build_cells(data, normalise_margins(margins, source=source))
        cw0 = np.bincount(cells.codes, w0, minlength=cells.n_cells)
        if self.method == "rake":
            eps = tol * w0.sum() if tol < 1 else tol
            g, it, conv, steps = _ipf(cw0, cells, max_iter, eps, keep_steps=resid == "rake")
            eta = None
        else:
            g, it, conv, eta = _newton(cw0, cells, self.method, self.bounds, max_iter, tol)
            steps = ()
        table, err = _margin_table(cells, cw0, cw0 * g)
        if not conv:
            worst = table.assign(gap=(table.achieved - table.target).abs()).sort_values("gap").iloc[-1]
            msg = (f"{self.method} calibration did not converge in {it} iteration(s): largest margin error "
                   f"{err:.6g} (margin {worst.variable!r}, level {worst.level!r})")
            fix = ("check that the margins are consistent with each other and with the sample; widen the bounds "
                   "or collapse sparse levels; or raise max_iter")
            if self.strict:
                raise ConvergenceError(msg, where=source, fix=fix)
            warnings.warn(f"{msg}. {fix}", ConvergenceWarning, stacklevel=2)
        if resid == "rake":
            adjustment = RakeResiduals(cells.codes, w0, steps)
        else:
            adjustment = GregResiduals(cells.codes, cells.model, w0, g)
        g_rows = g[cells.codes]
        self._cells, self._eta, self._max_iter, self._tol = cells, eta, max_iter, tol
        self.margins_ = cells.margins
        self.result_ = CalibrationResult(w0 * g_rows, g_rows, conv, it, err, self.method, adjustment, table)
        self.weights_, self.g_ = self.result_.weights, g_rows
        self.n_iter_, self.converged_, self.max_margin_error_ = it, conv, err
        self.adjustment_ = adjustment
        return self

    def apply(self, weights: np.ndarray, *, targets: np.ndarray | None = None,
              names: Any = None) -> np.ndarray:
        """Calibrate other input weights (n,) or (n, B) (e.g. replicate weights) to the same
        margins with the fitted settings; returns weights of the same shape.

        ``targets`` (L,) or (L, B), when given, replaces the margin totals, column by column:
        row i is the total of level i of the fitted margins, in the order of
        ``result_.margin_table`` (e.g. a 'survey' cell whose target is each replicate's own
        estimate). ``names`` (B labels, e.g. ``rep_3``) name a column in errors.

        >>> d = pd.DataFrame({"registered": ["0", "0", "1"]})
        >>> cal = Calibrator("rake").fit(d, np.ones(3), {"registered": {"0": 30, "1": 70}})
        >>> cal.apply(np.ones((3, 2)), targets=np.array([[30.0, 40.0], [70.0, 70.0]])).tolist()
        [[15.0, 20.0], [15.0, 20.0], [70.0, 70.0]]
        """
        if not hasattr(self, "_cells"):
            raise DesignError("the calibrator is not fitted", fix="call fit(data, weights, margins) first")
        wm, one = _as_columns(weights)
        cells = self._cells
        if wm.shape[0] != len(cells.codes):
            raise DesignError(f"{wm.shape[0]} weights given, the calibrator was fitted on {len(cells.codes)} rows")
        per_margin = None
        if targets is not None:
            t, _ = _as_columns(targets)
            sizes = [len(m.levels) for m in cells.margins]
            if t.shape != (sum(sizes), wm.shape[1]):
                raise DesignError(f"targets of shape {t.shape} given for {wm.shape[1]} weight column(s) and "
                                  f"{sum(sizes)} margin level(s)",
                                  fix="give one row per margin level (the rows of result_.margin_table) and one "
                                      "column per weight column")
            per_margin = np.split(t, np.cumsum(sizes)[:-1])
        label = (lambda j: "the weights" if wm.shape[1] == 1 else f"replicate weight column {j + 1} of {wm.shape[1]}") \
            if names is None else (lambda j: f"replicate {names[j]}")
        out = np.empty_like(wm)
        for j in range(wm.shape[1]):
            cw0 = np.bincount(cells.codes, wm[:, j], minlength=cells.n_cells)
            tot_j = None if per_margin is None else [p[:, j] for p in per_margin]
            if tot_j is not None:
                _check_same_population(cells.margins, tot_j, where=cells.margins[0].source, what=f"{label(j)}: ")
            if self.method == "rake":
                eps = self._tol * wm[:, j].sum() if self._tol < 1 else self._tol
                g, it, conv, _ = _ipf(cw0, cells, self._max_iter, eps, keep_steps=False, totals=tot_j)
            else:
                g, it, conv, _ = _newton(cw0, cells, self.method, self.bounds, self._max_iter, self._tol, self._eta,
                                         pop=None if tot_j is None else _population(tot_j))
            if not conv and self.strict:
                what = label(j)
                raise ConvergenceError(f"{self.method} calibration of {what} did not converge in {it} iteration(s)"
                                       + (f" with bounds {self.bounds[0]:g}–{self.bounds[1]:g}" if self.bounds else ""),
                                       where=cells.margins[0].source,
                                       fix="relax the bounds (--bounds), raise the iteration limit (--max-iter), or "
                                           "collapse sparse margin levels")
            out[:, j] = wm[:, j] * g[cells.codes]
        return out[:, 0] if one else out


class Raker(Calibrator):
    """:class:`Calibrator` with ``method="rake"`` (IPF, R ``rake()``) as the default."""

    def __init__(self, method: str = "rake", *, max_iter: int | None = None, tol: float | None = None,
                 variance_residuals: str | None = None, strict: bool = True, bounds: Any = None):
        super().__init__(method, bounds=bounds, max_iter=max_iter, tol=tol, variance_residuals=variance_residuals,
                         strict=strict)


def _weights(data: pd.DataFrame, weights: Any) -> np.ndarray:
    if isinstance(weights, str):
        check_columns(data, [weights], source="data")
        return check_weights(data[weights], column=weights, source="data")
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(data),):
        raise DesignError(f"{w.size} weights given for {len(data)} rows", fix="give one weight per row")
    bad = ~np.isfinite(w) | (w <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DesignError(f"weight missing or not > 0 ({int(bad.sum())} row(s); first at row {i + 2}, value {w[i]!r})",
                          fix="every row needs a weight > 0 before calibration")
    return w


def calibrate(data: pd.DataFrame, weights: Any, margins: Any, *, method: str = "rake",
              bounds: tuple[float, float] | None = None, max_iter: int | None = None, tol: float | None = None,
              variance_residuals: str | None = None, strict: bool = True, source: str = "margins") -> CalibrationResult:
    """Calibrate weights to population margins (see :class:`Calibrator` for the parameters).

    Examples
    --------
    >>> df = pd.DataFrame({"sex": ["F", "F", "M", "M"], "age": ["y", "o", "y", "o"]})
    >>> res = calibrate(df, np.ones(4), {"sex": {"F": 6, "M": 4}, "age": {"y": 5, "o": 5}}, method="linear")
    >>> res.weights.round(6).tolist(), res.converged
    ([3.0, 3.0, 2.0, 2.0], True)

    Logit calibration keeps every factor g strictly inside the bounds (required):

    >>> res = calibrate(df, np.ones(4), {"sex": {"F": 3, "M": 1.5}}, method="logit", bounds=(0.5, 2))
    >>> res.g.round(6).tolist()
    [1.5, 1.5, 0.75, 0.75]
    """
    cal = Calibrator(method, bounds=bounds, max_iter=max_iter, tol=tol, variance_residuals=variance_residuals,
                     strict=strict).fit(data, weights, margins, source=source)
    return cal.result_


def rake(data: pd.DataFrame, weights: Any, margins: Any, *, max_iter: int | None = None, tol: float | None = None,
         strict: bool = True) -> CalibrationResult:
    """Raking by iterative proportional fitting (R ``rake()``); see :class:`Calibrator`."""
    return calibrate(data, weights, margins, method="rake", max_iter=max_iter, tol=tol, strict=strict)


def post_stratify(data: pd.DataFrame, weights: Any, margin: Any) -> CalibrationResult:
    """Post-stratify to one margin (one variable or a combined ``a x b`` margin).

    The variance uses R ``postStratify``'s residuals (post-stratum means removed).

    Examples
    --------
    >>> df = pd.DataFrame({"sex": ["F", "F", "M"]})
    >>> post_stratify(df, np.ones(3), {"sex": {"F": 10, "M": 5}}).weights.tolist()
    [5.0, 5.0, 5.0]
    """
    ms = normalise_margins(margin)
    if len(ms) != 1:
        raise DesignError(f"post-stratification takes one margin, got {len(ms)}",
                          fix="combine the variables into one margin ('a x b'), or use rake")
    cal = Calibrator("rake", max_iter=1, tol=math.inf).fit(data, weights, ms)
    res = cal.result_
    level_codes = cal._cells.level_of_cell[0][cal._cells.codes]
    adjustment = PostStratResiduals(level_codes, res.weights / res.g, res.weights)
    return dataclasses.replace(res, adjustment=adjustment)


# ---------------------------------------------------------------------------------------
# the calibration model recorded with calibrated weights (for linearised variances)
CALIBRATION_MODEL_FORMAT = "hiddenpop calibration model 1"


def calibration_sidecar(path: str) -> str:
    """Name of the calibration-model sidecar of a weights file: ``cal.csv`` → ``cal.calibration.json``.

    >>> calibration_sidecar("out/weights_calibrated.csv")
    'out/weights_calibrated.calibration.json'
    """
    text = str(path)
    stem = text[:-4] if text.lower().endswith(".csv") else text
    return stem + ".calibration.json"


def calibration_model(cal: Calibrator, margins: pd.DataFrame, *, weight_col: str,
                      input_weight_col: str = "precalibration_weight",
                      from_survey: Any = None) -> dict[str, Any]:
    """What a linearised variance needs to know about a calibration, as a JSON-ready dict.

    Parameters
    ----------
    cal
        The fitted :class:`Calibrator`.
    margins
        The margins it was fitted to (``variable, level, total``).
    weight_col, input_weight_col
        Columns of the weights file holding the calibrated and the input weights.
    from_survey
        Boolean per margins row: the total was the survey's own estimate (then a
        linearised variance through the calibration is not available).

    Examples
    --------
    >>> d = pd.DataFrame({"sex": ["F", "F", "M"]})
    >>> m = pd.DataFrame({"variable": "sex", "level": ["F", "M"], "total": [10.0, 5.0]})
    >>> model = calibration_model(Calibrator("rake").fit(d, np.ones(3), m), m, weight_col="w")
    >>> model["method"], [r["total"] for r in model["margins"]]
    ('rake', [10.0, 5.0])
    """
    if not hasattr(cal, "result_"):
        raise DesignError("the calibrator is not fitted", fix="call fit(data, weights, margins) first")
    own = np.zeros(len(margins), bool) if from_survey is None else np.asarray(from_survey, bool)
    max_iter, tol, resid = cal._check()
    return {
        "format": CALIBRATION_MODEL_FORMAT,
        "method": cal.method,
        "bounds": None if cal.bounds is None else [float(cal.bounds[0]), float(cal.bounds[1])],
        "max_iter": int(max_iter),
        "tol": float(tol),
        "variance_residuals": resid,
        "weight_col": weight_col,
        "input_weight_col": input_weight_col,
        "margins": [{"variable": str(r.variable), "level": level_text(r.level), "total": float(r.total),
                     "from_survey": bool(o)}
                    for r, o in zip(margins[["variable", "level", "total"]].itertuples(index=False), own)],
    }


@dataclass(frozen=True, eq=False)
class RowSubsetResiduals:
    """A residual step fitted on some rows (``rows``) of a longer table: the other rows
    (weight 0, outside the calibration) keep their influence values (zero).

    >>> ps = PostStratResiduals(np.array([0, 0]), np.ones(2), np.ones(2))
    >>> RowSubsetResiduals(np.array([0, 2]), ps).residuals(np.array([1.0, 0.0, 3.0])).tolist()
    [-1.0, 0.0, 1.0]
    """

    rows: np.ndarray
    inner: Any

    def residuals(self, x: np.ndarray) -> np.ndarray:
        xm = np.array(x, dtype=float)
        xm[self.rows] = self.inner.residuals(xm[self.rows])
        return xm


def adjustment_from_model(data: pd.DataFrame, model: Mapping[str, Any], *, weights: np.ndarray | None = None,
                          source: str = "calibration model", rtol: float = 1e-8) -> Any:
    """The residual step of a recorded calibration for linearised variances (see :func:`refit_model`).

    Examples
    --------
    >>> d = pd.DataFrame({"sex": ["F", "F", "M"], "precalibration_weight": 1.0, "w": [5.0, 5.0, 5.0]})
    >>> m = pd.DataFrame({"variable": "sex", "level": ["F", "M"], "total": [10.0, 5.0]})
    >>> model = calibration_model(Calibrator("rake").fit(d, np.ones(3), m), m, weight_col="w")
    >>> adj = adjustment_from_model(d, model)
    >>> adj.residuals(np.array([1.0, 3.0, 2.0])).round(12).tolist()   # post-stratum means removed
    [-1.0, 1.0, 0.0]
    """
    return refit_model(data, model, weights=weights, source=source, rtol=rtol).adjustment


@dataclass(frozen=True, eq=False)
class RefittedCalibration:
    """A recorded calibration refitted on a table (see :func:`refit_model`).

    ``calibrator`` is fitted on the rows ``live`` (input weight > 0) with their input
    weights ``input_weights``; ``adjustment`` is its residual step on all rows. ``unit`` is
    ``"rows"`` when the table's own rows were calibrated, ``"households"`` for children whose
    households were calibrated (:func:`refit_children_model`; ``calibrator``, ``live`` and
    ``input_weights`` then refer to the households).
    """

    calibrator: Calibrator
    live: np.ndarray
    input_weights: np.ndarray
    adjustment: Any
    unit: str = "rows"


@dataclass(frozen=True, eq=False)
class HouseholdResiduals:
    """The residual step of a household calibration, applied to child rows.

    A child estimate with weights calibrated at household level is, household by household,
    the household's total of its children's influence values; the calibration removes the part
    of these household totals its variables explain (the household residual step ``inner``).
    Here: sum the child values by household (``child_household``: household row of each child
    row; households without a child count 0), take the household residuals, and give each child
    row its share of the part removed, so that every household's children again add up to its
    residual. A household without children still has a residual (minus the explained part); it
    is added to a child row of the same first-stage unit (``carrier``), so the totals of every
    PSU, all the linearised variance uses, are the household-level ones (R: the calibrated
    household design with the children's counts as household variables).

    >>> ps = PostStratResiduals(np.array([0, 0, 0]), np.ones(3), np.ones(3))   # one post-stratum, 3 households
    >>> step = HouseholdResiduals(np.array([0, 0, 1]), np.array([0.5, 0.5, 1.0]), ps, np.array([2]), np.array([2]), 3)
    >>> step.residuals(np.array([1.0, 1.0, 4.0])).tolist()      # household totals 2, 4, 0; mean 2 removed
    [0.0, 0.0, 0.0]
    """

    child_household: np.ndarray
    share: np.ndarray
    inner: Any
    childless: np.ndarray
    carrier: np.ndarray
    n_households: int

    def residuals(self, x: np.ndarray) -> np.ndarray:
        xm, one = _as_columns(x)
        u = np.zeros((self.n_households, xm.shape[1]))
        np.add.at(u, self.child_household, xm)
        e, _ = _as_columns(self.inner.residuals(u))
        out = xm - (u - e)[self.child_household] * self.share[:, None]
        np.add.at(out, self.carrier, e[self.childless])
        return out[:, 0] if one else out


def refit_children_model(children: pd.DataFrame, households: pd.DataFrame, model: Mapping[str, Any], *,
                         weights: np.ndarray | None = None, psu_col: str | None, stratum_col: str | None = None,
                         source: str = "calibration model", rtol: float = 1e-8) -> RefittedCalibration:
    """Refit the household calibration behind calibrated child weights (for linearised SEs).

    ``model`` is the children's sidecar written by ``weights calibrate --children``: the
    household calibration model plus ``id_col`` (the household id in both files) and
    ``selection_prob_col``. The calibration is refitted on ``households`` (:func:`refit_model`);
    every child's weight must be its household's calibrated weight divided by its selection
    probability, to ``rtol``. The residual step is :class:`HouseholdResiduals`: children of one
    household must be in one PSU (``psu_col``, the household's), and every PSU with households
    must have a child.

    Raises
    ------
    DesignError
        As :func:`refit_model`; a child whose household is not in the household file; child
        weights that are not the calibrated household weights; no PSU column; a PSU whose
        households have no child.
    """
    fix_rep = ("use --variance replicate with the rep_* columns 'weights calibrate --children' carried over from "
               "the households, or --calibration none to treat the weights as fixed")
    id_col = str(model.get("id_col", "hh_id"))
    check_columns(children, [id_col], source=source)
    check_columns(households, [id_col], source=source)
    if psu_col is None:
        raise DesignError("children's weights calibrated at household level need the PSU column to linearise: the "
                          "children of a household are one cluster", where=source, fix="give --psu-col (e.g. psu)")
    hh = refit_model(households, model, source=source, rtol=rtol)
    hh_ids = households[id_col].astype(str).str.strip()
    position = pd.Index(hh_ids)
    if position.has_duplicates:
        raise DesignError(f"household ids repeat in the household weights ({id_col})", where=source,
                          fix="give the household weights file written by 'weights calibrate'")
    kid_hh = position.get_indexer(children[id_col].astype(str).str.strip())
    if (kid_hh < 0).any():
        bad = children[id_col].astype(str)[kid_hh < 0]
        raise DesignError(f"{int((kid_hh < 0).sum())} child row(s) name a household that is not in the household "
                          f"weights ({truncate_list(bad.unique())})", where=source, fix=fix_rep)
    hw = pd.to_numeric(households[str(model["weight_col"])], errors="coerce").to_numpy(float)
    p_col = model.get("selection_prob_col")
    p = (pd.to_numeric(children[p_col], errors="coerce").to_numpy(float) if p_col and p_col in children
         else np.ones(len(children)))
    expected = hw[kid_hh] / p
    kw = np.asarray(weights, float) if weights is not None else \
        pd.to_numeric(children[str(model["weight_col"])], errors="coerce").to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.abs(kw - expected) / np.abs(expected)
    if not np.all((gap <= rtol) | ((kw == 0) & (expected == 0))):
        raise DesignError(f"the children's weights are not their households' calibrated weights (largest relative "
                          f"difference {float(np.nanmax(gap)):.3g}): they were changed after 'weights calibrate'",
                          where=source, fix=fix_rep)
    check_columns(households, [psu_col] + ([stratum_col] if stratum_col else []), source=source)

    def unit(frame: pd.DataFrame) -> pd.Series:
        key = frame[psu_col].astype(str).str.strip()
        return key if not stratum_col else frame[stratum_col].astype(str).str.strip() + "\x00" + key

    kid_unit, hh_unit = unit(children).to_numpy(), unit(households).to_numpy()
    if (kid_unit != hh_unit[kid_hh]).any():
        raise DesignError("a child's PSU or stratum differs from its household's", where=source,
                          fix="keep the household's design columns on its children (as 'weights calibrate' writes)")
    n_kids = np.bincount(kid_hh, minlength=len(households))
    childless = np.flatnonzero((n_kids == 0) & hh.live)
    first_child = pd.Series(np.arange(len(children))).groupby(kid_unit).first()
    carrier = first_child.reindex(hh_unit[childless]).to_numpy()
    if np.isnan(carrier.astype(float)).any():
        missing = sorted(set(hh_unit[childless][np.isnan(carrier.astype(float))]))
        raise DesignError(f"{len(missing)} PSU(s) have households but no child row, so the calibration's residuals "
                          f"of those households have no place in the children's design "
                          f"({truncate_list(m.replace(chr(0), ' ') for m in missing)})", where=source, fix=fix_rep)
    step = HouseholdResiduals(kid_hh.astype(np.int64), 1.0 / n_kids[kid_hh], hh.adjustment, childless,
                              carrier.astype(np.int64), len(households))
    return RefittedCalibration(hh.calibrator, hh.live, hh.input_weights, step, unit="households")


def refit_model(data: pd.DataFrame, model: Mapping[str, Any], *, weights: np.ndarray | None = None,
                source: str = "calibration model", rtol: float = 1e-8) -> RefittedCalibration:
    """Refit a recorded calibration on ``data`` (for its residual step and its calibrator).

    The calibration is redone from the input weights (``model["input_weight_col"]``) with
    the recorded margins and settings; its weights must equal the file's calibrated
    weights (``weights``, else the column ``model["weight_col"]``) to ``rtol``, otherwise
    the weights were changed after calibration (trimmed, edited) and the model no longer
    describes them. Rows with input weight 0 are outside the calibration.

    Raises
    ------
    DesignError
        Malformed model, margins estimated from the survey itself, or weights that do
        not match the recorded calibration (the message points to replicate variance).

    Examples
    --------
    >>> d = pd.DataFrame({"sex": ["F", "F", "M"], "precalibration_weight": 1.0, "w": [5.0, 5.0, 5.0]})
    >>> m = pd.DataFrame({"variable": "sex", "level": ["F", "M"], "total": [10.0, 5.0]})
    >>> model = calibration_model(Calibrator("rake").fit(d, np.ones(3), m), m, weight_col="w")
    >>> refit_model(d, model).calibrator.weights_.tolist()
    [5.0, 5.0, 5.0]
    """
    fix_rep = ("use --variance replicate with replicate weights recalibrated by 'weights calibrate' (rep_*), or "
               "--calibration none to treat the weights as fixed (the SE then ignores the calibration)")
    if not isinstance(model, Mapping) or model.get("format") != CALIBRATION_MODEL_FORMAT:
        raise DesignError("not a calibration model written by 'hiddenpop weights calibrate'", where=source,
                          fix="give the .calibration.json file written next to the calibrated weights")
    try:
        method = str(model["method"])
        wcol, icol = str(model["weight_col"]), str(model["input_weight_col"])
        rows = list(model["margins"])
        bounds = model.get("bounds")
        bounds = None if bounds is None else (float(bounds[0]), float(bounds[1]))
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise DesignError(f"calibration model is incomplete ({err})", where=source,
                          fix="write it again with 'hiddenpop weights calibrate'") from None
    if any(r.get("from_survey") for r in rows):
        raise DesignError("some calibration totals were estimated from the survey itself ('survey' cells), so a "
                          "linearised SE through known totals would be too small", where=source, fix=fix_rep)
    check_columns(data, [icol] + ([] if weights is not None else [wcol]), source=source)
    w0 = pd.to_numeric(data[icol], errors="coerce").to_numpy(float)
    w1 = np.asarray(weights, float) if weights is not None else pd.to_numeric(data[wcol], errors="coerce").to_numpy(float)
    live = np.isfinite(w0) & (w0 > 0)
    margins = pd.DataFrame(rows)[["variable", "level", "total"]]
    cal = Calibrator(method, bounds=bounds, max_iter=model.get("max_iter"), tol=model.get("tol"),
                     variance_residuals=model.get("variance_residuals"), strict=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cal.fit(data.loc[live], w0[live], margins, source=source)
    gap = np.abs(cal.weights_ - w1[live]) / np.abs(cal.weights_)
    off = (np.abs(w1[~live]) > 0).any() or not np.all(gap <= rtol)
    if off:
        worst = float(np.nanmax(gap)) if gap.size else float("nan")
        raise DesignError(f"the weights are not those of the recorded calibration (largest relative difference "
                          f"{worst:.3g}): they were changed after 'weights calibrate' (trimmed or edited), so the "
                          f"calibration cannot be linearised", where=source, fix=fix_rep)
    return RefittedCalibration(cal, live, w0, RowSubsetResiduals(np.flatnonzero(live), cal.adjustment_))


def recalibrated_replicates(refit: RefittedCalibration, factors: Any, data: pd.DataFrame, *,
                            source: str = "calibration model") -> Any:
    """Replicate weights made from the *input* weights and calibrated replicate by replicate
    (R: ``as.svrepdesign`` on the uncalibrated design, then ``rake``/``calibrate``).

    ``factors`` are :class:`~hiddenpop.weights.replicates.ReplicateFactors` of the design;
    returns :class:`~hiddenpop.weights.replicates.ReplicateWeights` with the same variance
    constants. A margin level that a replicate leaves empty is merged into its neighbour in
    that replicate (as ``weights calibrate`` does).

    Examples
    --------
    Post-stratified to sex: every JK1 replicate's weights again add up to the 10 F and 5 M.

    >>> from hiddenpop.weights.design import Design
    >>> from hiddenpop.weights.replicates import make_replicates
    >>> d = pd.DataFrame({"sex": ["F", "F", "M", "M"], "c": [1, 2, 3, 4], "precalibration_weight": 1.0})
    >>> m = pd.DataFrame({"variable": "sex", "level": ["F", "M"], "total": [10.0, 5.0]})
    >>> cal = Calibrator("rake").fit(d, np.ones(4), m)
    >>> d["w"] = cal.weights_
    >>> refit = refit_model(d, calibration_model(cal, m, weight_col="w"))
    >>> rf = make_replicates(d, Design(weight_col="w", psu_col="c"), method="jk1")
    >>> rw = recalibrated_replicates(refit, rf, d)
    >>> rw.weights[:2].sum(axis=0).tolist(), rw.weights[2:].sum(axis=0).tolist()
    ([10.0, 10.0, 10.0, 10.0], [5.0, 5.0, 5.0, 5.0])
    """
    from hiddenpop.weights.replicates import ReplicateWeights

    base = factors.replicate_weights(refit.input_weights)
    out = np.zeros_like(base)
    live = refit.live
    out[live], _ = calibrate_replicates(refit.calibrator, data.loc[live], base[live],
                                        names=[f"rep_{b + 1}" for b in range(base.shape[1])], source=source)
    return ReplicateWeights(out, factors.scale, factors.rscales, factors.method, factors.mse)


#: what :func:`calibrate_replicates` does with a margin level that is empty in a replicate
EMPTY_LEVEL_POLICIES = ("collapse", "fail")


def calibrate_replicates(calibrator: Any, data: pd.DataFrame, weights: Any, *, targets: Any = None,
                         names: Any = None, empty_levels: str = "collapse",
                         source: str = "margins") -> tuple[np.ndarray, dict]:
    """Calibrate replicate weights (n × B) to the margins, handling levels a replicate lost.

    A bootstrap or jackknife replicate drops some first-stage points. When every row of a
    margin level sits in dropped points, the level's replicate total is 0 and no factor
    can reach its registry total: R ``survey`` then fails (division by zero in
    ``rake``/``calibrate``). Here the choice is explicit:

    ``collapse`` (default)
        In that replicate only, the empty level is merged into the next level of the same
        margin (the previous one for the last level), which receives its total, so every
        margin still adds up to the same population. This is the rule a statistician
        applies to the full sample when a level is empty; the number of replicates and
        levels collapsed is reported.
    ``fail``
        Raise :class:`~hiddenpop.errors.EstimationError` naming the replicate, the margin and
        the level (R's behaviour, made readable).

    Parameters
    ----------
    calibrator
        A fitted :class:`~hiddenpop.weights.calibrate.Calibrator`, fitted on ``data``.
    data
        Rows the calibrator was fitted on (all with a positive full-sample weight).
    weights
        Replicate weights of these rows, shape (n, B) (zeros for rows out of a replicate).
    targets
        Per-replicate margin totals, shape (L, B) (see :meth:`Calibrator.apply`); default:
        the totals the calibrator was fitted to, in every replicate.
    names
        Labels of the B replicates (e.g. ``rep_3``) for error messages.

    Returns
    -------
    (calibrated weights (n, B), report) with ``report = {"n_replicates": …, "levels":
    {"margin=level": count}}``.

    Examples
    --------
    Replicate 2 lost every row of level "1"; it is merged into level "0" (total 30 + 70):

    >>> d = pd.DataFrame({"registered": ["0", "0", "1"]})
    >>> m = pd.DataFrame({"variable": "registered", "level": ["0", "1"], "total": [30.0, 70.0]})
    >>> cal = Calibrator("rake").fit(d, np.ones(3), m)
    >>> import warnings
    >>> with warnings.catch_warnings(record=True):  # the collapse is reported as a warning
    ...     out, rep = calibrate_replicates(cal, d, np.array([[1.0, 2.0], [1.0, 1.0], [1.0, 0.0]]))
    >>> out.round(6).tolist(), rep
    ([[15.0, 66.666667], [15.0, 33.333333], [70.0, 0.0]], {'n_replicates': 1, 'levels': {'registered=1': 1}})
    """
    if empty_levels not in EMPTY_LEVEL_POLICIES:
        raise DesignError(f"unknown policy for empty replicate levels {empty_levels!r}",
                          fix=f"use one of {', '.join(EMPTY_LEVEL_POLICIES)}")
    w = np.asarray(weights, float)
    one = w.ndim == 1
    w = w[:, None] if one else w
    # every row's level of every margin is known from the fit: no re-coding of the data per call
    cells = calibrator._cells
    ms = cells.margins
    totals = []
    for m, level_of_cell in zip(ms, cells.level_of_cell):
        t = np.zeros((len(m.levels), w.shape[1]))
        np.add.at(t, level_of_cell[cells.codes], w)
        totals.append(t)
    goal = None
    if targets is not None:
        goal = np.asarray(targets, float)
        goal = goal[:, None] if goal.ndim == 1 else goal
        goal_of = np.split(goal, np.cumsum([len(m.levels) for m in ms])[:-1])
    empty = np.zeros(w.shape[1], bool)
    for t in totals:
        empty |= (t <= 0).any(axis=0)
    out = np.zeros_like(w)
    if (~empty).any():
        out[:, ~empty] = calibrator.apply(w[:, ~empty], targets=None if goal is None else goal[:, ~empty],
                                          names=None if names is None else [names[b] for b in np.flatnonzero(~empty)])
    report: dict[str, Any] = {"n_replicates": int(empty.sum()), "levels": {}}
    data = data.reset_index(drop=True) if empty.any() else data
    label = (lambda b: b + 1) if names is None else (lambda b: names[b])
    for b in np.flatnonzero(empty):
        new = []
        for mi, (m, t) in enumerate(zip(ms, totals)):
            gone = t[:, b] <= 0
            if not gone.any():
                new.append(m)
                continue
            if gone.all():
                raise EstimationError(f"replicate {label(b)} has no row with a positive weight for margin {m.name!r}",
                                      where=source, fix="check the replicate weights")
            level_names = ["|".join(lev) for lev in m.levels]
            if empty_levels == "fail":
                j = int(np.flatnonzero(gone)[0])
                raise EstimationError(
                    f"replicate {label(b)}: level {level_names[j]!r} of margin {m.name!r} has no row with a positive weight "
                    f"(all of its households are in points this replicate leaves out), so it cannot be calibrated",
                    where=source, fix="collapse the level with a neighbouring one in the margins file, or let the "
                                      "replicates collapse it (empty_levels='collapse', --empty-replicate-levels "
                                      "collapse)")
            tot = (m.totals if goal is None else goal_of[mi][:, b]).astype(float).copy()
            live = np.flatnonzero(~gone)
            for j in np.flatnonzero(gone):
                after = live[live > j]
                target = int(after[0]) if len(after) else int(live[live < j][-1])
                tot[target] += tot[j]
                key = f"{m.name}={level_names[j]}"
                report["levels"][key] = report["levels"].get(key, 0) + 1
            new.append(dataclasses.replace(m, levels=tuple(m.levels[i] for i in live), totals=tot[live],
                                           rows=tuple(m.rows[i] for i in live) if m.rows else ()))
        rows = w[:, b] > 0
        cal = Calibrator(calibrator.method, bounds=calibrator.bounds, max_iter=calibrator.max_iter,
                         tol=calibrator.tol).fit(data.loc[rows], w[rows, b], new, source=source)
        out[rows, b] = cal.weights_
    if report["n_replicates"]:
        warnings.warn(HiddenPopWarning(
            f"{report['n_replicates']} of {w.shape[1]} replicate(s) left every row of a calibration level out; the "
            f"level was merged into its neighbour in those replicates ({report['levels']})"), stacklevel=2)
    return (out[:, 0] if one else out), report
