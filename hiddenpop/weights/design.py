"""Survey design specification: which columns hold the weight, stratum, PSU and FPC.

A :class:`Design` is an immutable spec of *column names* (kept apart from the data, as
R ``svydesign`` keeps its formulas). :meth:`Design.prepare` validates a table against the
spec once and returns a :class:`PreparedDesign` holding integer codes for strata and PSUs,
the PSU weight totals, the FPC and the lonely-PSU bookkeeping, so that every estimator and
every variance call afterwards is a few ``np.bincount`` passes.

Conventions (those of R ``survey`` with ``nest=TRUE``):

* PSUs are nested in strata: PSU ``1`` of stratum ``A`` and PSU ``1`` of stratum ``B`` are
  different clusters.
* No ``psu_col``: every row is its own PSU. No ``stratum_col``: one stratum.
* The first stage is treated as with-replacement unless an FPC is given. ``fpc_col`` holds,
  for every row, either the stratum's sampling fraction (all values ≤ 1) or the number of
  PSUs in the stratum's population (values > 1); it must be constant within a stratum.
* Lonely PSUs (a stratum with one PSU) follow :class:`LonelyPSU`, as R's
  ``options(survey.lonely.psu=)``, but as an explicit field instead of global state.
* Multistage designs: ``ssu_col`` names the id of the later-stage units (schools within
  districts; several columns for three or more stages) and ``ssu_fpc_col`` their FPC
  (sampling fraction ≤ 1 or number of units in the parent's population, constant within
  a parent unit). Units are nested in their parent. With an FPC at the first stage the
  variance adds, as R ``svyrecvar`` (``survey.ultimate.cluster=FALSE``), each later
  stage's within-unit variance times the sampling fractions of the stages above it;
  ``ultimate_cluster=True`` keeps the first-stage (ultimate cluster) formula only.

References
----------
Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.
Wolter, K. (2007). *Introduction to Variance Estimation*, 2nd ed. Springer.
"""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop._checks import check_columns, check_weights
from hiddenpop.errors import DesignError, format_where, truncate_list

__all__ = ["REPLICATE_KINDS", "LonelyPSU", "Design", "PreparedDesign", "LaterStage", "as_prepared"]


#: how given replicate weight columns were made (sets the variance scale; ``other`` needs ``replicate_scale``)
REPLICATE_KINDS = ("bootstrap", "jk1", "other")


class LonelyPSU(enum.StrEnum):
    """What to do with a stratum that has a single PSU (R ``survey.lonely.psu``).

    ``fail``
        Raise :class:`~hiddenpop.errors.LonelyPSUError` (R's default).
    ``adjust``
        The lonely PSU's total of influence values is centred at the grand mean of the PSU
        totals, Σ z / Σ_h n_h (R ``survey`` ≥ 4.3; for a mean the influence values sum to
        zero, so this is centring at 0), with scale 1.
    ``certainty``
        The PSU was selected with certainty: it contributes nothing to the variance.
    ``remove``
        The stratum contributes nothing (numerically the same as ``certainty`` for a
        one-stage design).
    ``average``
        The stratum contributes nothing and the variance is multiplied by
        ``n_strata / (n_strata - n_lonely)``.

    For a domain estimate the strata counted (the grand mean of ``adjust``, the
    ``average`` factor) are those in which the domain has respondents, as R ``svyby``
    does on its subset designs. A stratum whose one PSU has sampling fraction 1 is taken
    with certainty and is not lonely.
    """

    FAIL = "fail"
    ADJUST = "adjust"
    CERTAINTY = "certainty"
    REMOVE = "remove"
    AVERAGE = "average"


@dataclass(frozen=True, slots=True)
class Design:
    """Column names of a survey design (an immutable spec; no data inside).

    Parameters
    ----------
    weight_col
        Column of final (analysis) weights; every value must be a finite number > 0
        (or >= 0 with ``allow_zero_weights``).
    stratum_col, psu_col, fpc_col
        Optional columns of strata, first-stage clusters and finite population
        corrections (see the module notes).
    lonely_psu
        Policy for strata with a single PSU: ``fail`` (default), ``adjust``,
        ``certainty``, ``remove`` or ``average``.
    replicate_cols
        Optional replicate *analysis* weight columns already in the file (e.g. ``rep_1``
        … ``rep_B`` written by ``hiddenpop weights compute``).
    replicate_method
        How those replicates were made: ``bootstrap`` (scale 1/(B-1)), ``jk1`` (scale
        (B-1)/B) or ``other`` (give ``replicate_scale``).
    replicate_scale
        Overall variance scale for ``replicate_cols``; overrides the method's default.
    ssu_col, ssu_fpc_col
        Later-stage unit ids (one column per stage after the first, e.g. the school
        within a district) and their FPCs (one per later stage; needed when the first
        stage has an FPC). See the module notes.
    ultimate_cluster
        Use the first-stage (ultimate cluster) variance only, ignoring the later stages
        (R ``options(survey.ultimate.cluster=TRUE)``).
    allow_zero_weights
        Accept weights equal to 0 (rows kept in the file on purpose, e.g. referred
        households that turned out not to be eligible, flagged in ``weight_flag``). They
        count in no estimate and not in ``n``, but stay in the design as R ``survey`` keeps
        them. Negative or missing weights are always an error.

    Examples
    --------
    >>> d = Design(weight_col="weight", stratum_col="stratum", psu_col="psu")
    >>> d.lonely_psu
    <LonelyPSU.FAIL: 'fail'>
    >>> import dataclasses
    >>> dataclasses.replace(d, lonely_psu="adjust").lonely_psu
    <LonelyPSU.ADJUST: 'adjust'>
    >>> Design(weight_col="")
    Traceback (most recent call last):
    ...
    hiddenpop.errors.DesignError: Design field 'weight_col' must be a non-empty column name, got ''...
    """

    weight_col: str = "final_weight"
    stratum_col: str | None = None
    psu_col: str | None = None
    fpc_col: str | None = None
    lonely_psu: LonelyPSU | str = LonelyPSU.FAIL
    replicate_cols: tuple[str, ...] | None = None
    replicate_method: str | None = None
    replicate_scale: float | None = None
    allow_zero_weights: bool = False
    ssu_col: str | tuple[str, ...] | None = None
    ssu_fpc_col: str | tuple[str, ...] | None = None
    ultimate_cluster: bool = False

    def __post_init__(self) -> None:
        for name in ("weight_col", "stratum_col", "psu_col", "fpc_col"):
            value = getattr(self, name)
            if name == "weight_col" or value is not None:
                if not isinstance(value, str) or not value:
                    raise DesignError(f"Design field {name!r} must be a non-empty column name, got {value!r}",
                                      fix="pass the name of a column of the survey file")
        for name in ("ssu_col", "ssu_fpc_col"):
            value = getattr(self, name)
            cols = () if value is None else ((value,) if isinstance(value, str) else tuple(value))
            if any(not isinstance(c, str) or not c for c in cols):
                raise DesignError(f"Design field {name!r} must hold non-empty column names, got {value!r}",
                                  fix="pass the later-stage column names of the survey file")
            object.__setattr__(self, name, cols or None)
        if self.ssu_col is not None and self.psu_col is None:
            raise DesignError("a later-stage unit column (ssu_col) needs a first-stage psu_col",
                              fix="name the first-stage cluster column too (--psu-col district,school)")
        if self.ssu_fpc_col is not None and (self.ssu_col is None or len(self.ssu_fpc_col) != len(self.ssu_col)):
            raise DesignError(f"{len(self.ssu_fpc_col)} later-stage FPC column(s) for "
                              f"{len(self.ssu_col or ())} later stage(s)",
                              fix="give one FPC column per stage (--fpc-col fpc1,fpc2 with --psu-col psu,ssu)")
        if (self.ssu_col is not None and self.fpc_col is not None and self.ssu_fpc_col is None
                and not self.ultimate_cluster):
            raise DesignError("the first stage has an FPC but the later stage(s) have none, so the "
                              "multistage variance is not defined",
                              fix="give one FPC column per stage (--fpc-col fpc1,fpc2), or use the "
                                  "ultimate-cluster variance (--ultimate-cluster)")
        try:
            object.__setattr__(self, "lonely_psu", LonelyPSU(self.lonely_psu))
        except ValueError:
            raise DesignError(f"unknown lonely-PSU policy {self.lonely_psu!r}",
                              fix=f"use one of {', '.join(p.value for p in LonelyPSU)}") from None
        if self.replicate_cols is not None:
            cols = tuple(self.replicate_cols)
            if not cols:
                raise DesignError("replicate_cols is empty", fix="name the replicate weight columns or pass None")
            object.__setattr__(self, "replicate_cols", cols)
            if self.replicate_method is not None and self.replicate_method not in REPLICATE_KINDS:
                raise DesignError(f"unknown replicate_method {self.replicate_method!r}",
                                  fix="use bootstrap, jk1 or other (with replicate_scale)")
            if self.replicate_method == "other" and self.replicate_scale is None:
                raise DesignError("replicate_method 'other' needs replicate_scale",
                                  fix="give the variance scale used when the replicates were made")

    @property
    def columns(self) -> list[str]:
        """The design columns named by this spec (in a fixed order)."""
        cols = [self.weight_col, self.stratum_col, self.psu_col, self.fpc_col]
        cols += list(self.ssu_col or ()) + list(self.ssu_fpc_col or ())
        cols += list(self.replicate_cols or ())
        return [c for c in cols if c is not None]

    def prepare(self, data: pd.DataFrame, *, source: str = "data") -> "PreparedDesign":
        """Validate ``data`` against the spec and precompute codes (see :class:`PreparedDesign`).

        Raises
        ------
        DesignError
            Missing column; weight missing, not a number or ≤ 0; stratum or PSU missing;
            FPC not constant within a stratum or smaller than the number of sampled PSUs.
        LonelyPSUError
            A stratum has one PSU and ``lonely_psu="fail"``.
        """
        check_columns(data, self.columns, source=source)
        weights = check_weights(data[self.weight_col], column=self.weight_col, source=source,
                                allow_zero=self.allow_zero_weights)
        n = len(weights)
        if n == 0:
            raise DesignError("the survey table has no rows", where=source, fix="give a file with respondents")
        if self.stratum_col is None:
            stratum_codes = np.zeros(n, dtype=np.intp)
            stratum_labels = np.array(["all"], dtype=object)
        else:
            stratum_codes, stratum_labels = _codes(data[self.stratum_col], column=self.stratum_col, source=source)
        if self.psu_col is None:
            psu_raw_codes = np.arange(n, dtype=np.intp)
            psu_raw_labels = np.arange(1, n + 1)
        else:
            psu_raw_codes, psu_raw_labels = _codes(data[self.psu_col], column=self.psu_col, source=source)
        # nest PSUs in strata: one code per (stratum, psu) pair, sorted by stratum then psu
        pair = stratum_codes.astype(np.int64) * (psu_raw_codes.max() + 1) + psu_raw_codes
        uniq, psu_codes = np.unique(pair, return_inverse=True)
        psu_codes = psu_codes.astype(np.intp)
        psu_stratum = (uniq // (psu_raw_codes.max() + 1)).astype(np.intp)
        psu_label = np.asarray(psu_raw_labels)[uniq % (psu_raw_codes.max() + 1)]
        n_strata = len(stratum_labels)
        n_psu_h = np.bincount(psu_stratum, minlength=n_strata)
        fpc_fraction = None
        if self.fpc_col is not None:
            fpc_fraction = _fpc_fraction(data[self.fpc_col], stratum_codes, stratum_labels, n_psu_h,
                                         column=self.fpc_col, source=source)
        lonely = (n_psu_h == 1) if fpc_fraction is None else (n_psu_h == 1) & (fpc_fraction < 1)
        if lonely.any() and self.lonely_psu == LonelyPSU.FAIL:
            from hiddenpop.errors import LonelyPSUError

            names = stratum_labels[lonely]
            raise LonelyPSUError(
                f"Stratum ({truncate_list(names)}) has only one PSU at stage 1",
                where=source if self.stratum_col is None else f"{source}, column '{self.stratum_col}'",
                fix="choose a lonely-PSU policy (--lonely-psu adjust|certainty|remove|average) "
                    "or merge the stratum with a similar one")
        psu_keys = pd.DataFrame({"stratum": stratum_labels[psu_stratum], "psu": psu_label})
        later: tuple[LaterStage, ...] = ()
        if self.ssu_col is not None and not self.ultimate_cluster and fpc_fraction is not None:
            later = _later_stages(data, self, psu_codes, fpc_fraction[psu_stratum], source=source)
        return PreparedDesign(
            spec=self, weights=weights, stratum_codes=stratum_codes, psu_codes=psu_codes,
            psu_stratum=psu_stratum, n_psu_h=n_psu_h, stratum_labels=stratum_labels,
            psu_keys=psu_keys, fpc_fraction=fpc_fraction, source=source,
            psu_weight_totals=np.bincount(psu_codes, weights, minlength=len(uniq)),
            psu_starts=_sorted_starts(psu_codes), later_stages=later,
        )


@dataclass(frozen=True, slots=True, eq=False)
class LaterStage:
    """One stage after the first of a multistage design (made by :meth:`Design.prepare`).

    Attributes
    ----------
    unit_codes
        Code of each row's unit at this stage (units nested in their parent).
    parent
        Parent unit (previous stage) of each unit at this stage.
    scale
        Per parent: (1 - f) n/(n - 1) with n the units sampled in the parent and f their
        sampling fraction (0 for a parent with one unit, which is taken with certainty or
        is a lonely unit; see :meth:`Design.prepare`).
    multiplier
        Per parent: the product of the sampling fractions of the stages above (R
        ``svyrecvar`` multiplies each later stage's variance by them).
    n_parent
        Number of parents (units of the previous stage).
    """

    unit_codes: np.ndarray
    parent: np.ndarray
    n_units: np.ndarray
    scale: np.ndarray
    multiplier: np.ndarray
    n_parent: int


def _later_stages(data: pd.DataFrame, spec: "Design", psu_codes: np.ndarray, psu_fraction: np.ndarray, *,
                  source: str) -> tuple[LaterStage, ...]:
    """Codes and scales of the stages after the first (see :class:`LaterStage`)."""
    stages = []
    parent_codes, parent_mult = psu_codes, psu_fraction.astype(float)
    for k, (col, fcol) in enumerate(zip(spec.ssu_col, spec.ssu_fpc_col), start=2):
        raw, _ = _codes(data[col], column=col, source=source)
        pair = parent_codes.astype(np.int64) * (int(raw.max()) + 1) + raw
        uniq, unit_codes = np.unique(pair, return_inverse=True)
        unit_codes = unit_codes.astype(np.intp)
        parent = (uniq // (int(raw.max()) + 1)).astype(np.intp)
        n_parent = len(parent_mult)
        n_units = np.bincount(parent, minlength=n_parent)
        labels = np.arange(n_parent).astype(object)
        frac = _fpc_fraction(data[fcol], parent_codes, labels, n_units, column=fcol, source=source,
                             within="first-stage unit" if k == 2 else f"stage-{k - 1} unit")
        lonely = (n_units == 1) & (frac < 1)
        if lonely.any() and spec.lonely_psu in (LonelyPSU.FAIL, LonelyPSU.AVERAGE):
            from hiddenpop.errors import LonelyPSUError

            first = int(np.flatnonzero(parent_codes == np.flatnonzero(lonely)[0])[0])
            raise LonelyPSUError(
                f"a stage-{k - 1} unit has only one sampled unit at stage {k} (and more in its population)",
                where=format_where(source, row=first + 2, column=col),
                fix="choose --lonely-psu adjust, certainty or remove (the unit then adds nothing at this stage, "
                    "as in R survey), or use the ultimate-cluster variance (--ultimate-cluster)")
        nf = n_units.astype(float)
        scale = np.divide((1.0 - frac) * nf, nf - 1, out=np.zeros(n_parent), where=n_units > 1)
        stages.append(LaterStage(unit_codes, parent, n_units, scale, parent_mult.copy(), n_parent))
        parent_codes, parent_mult = unit_codes, (parent_mult * frac)[parent]
    return tuple(stages)


@dataclass(frozen=True, slots=True, eq=False)
class PreparedDesign:
    """A design validated against one table, with integer codes (made by :meth:`Design.prepare`).

    Attributes
    ----------
    weights
        Analysis weights, one per row (float array).
    stratum_codes, psu_codes
        Integer codes per row; ``psu_codes`` are unique across strata (0 … n_psu-1,
        ordered by stratum then PSU label).
    psu_stratum
        Stratum code of each PSU.
    n_psu_h
        Number of sampled PSUs per stratum.
    psu_keys
        ``stratum, psu`` labels of each PSU (row ``i`` is PSU code ``i``).
    fpc_fraction
        Sampling fraction n_h/N_h per stratum, or ``None`` (with replacement).
    adjustments
        Calibration/post-stratification residual steps applied to influence values
        before the variance (set by :meth:`with_weights`).
    """

    spec: Design
    weights: np.ndarray
    stratum_codes: np.ndarray
    psu_codes: np.ndarray
    psu_stratum: np.ndarray
    n_psu_h: np.ndarray
    stratum_labels: np.ndarray
    psu_keys: pd.DataFrame
    fpc_fraction: np.ndarray | None
    source: str = "data"
    psu_weight_totals: np.ndarray | None = None
    adjustments: tuple[Any, ...] = field(default_factory=tuple)
    psu_starts: np.ndarray | None = None
    later_stages: tuple[Any, ...] = ()

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self.weights)

    @property
    def n_psu(self) -> int:
        """Number of PSUs (strata × clusters)."""
        return len(self.psu_stratum)

    @property
    def n_strata(self) -> int:
        return len(self.stratum_labels)

    @property
    def lonely_psu(self) -> LonelyPSU:
        return LonelyPSU(self.spec.lonely_psu)

    @property
    def degf(self) -> int:
        """Design degrees of freedom: number of PSUs minus number of strata (R ``degf``)."""
        return int(self.n_psu - self.n_strata)

    def with_weights(self, weights: np.ndarray, *, adjustment: Any = None, append: bool = True) -> "PreparedDesign":
        """A copy with new analysis weights (e.g. calibrated), optionally recording a
        residual ``adjustment`` (from :mod:`hiddenpop.weights.calibrate`) for the variance.

        >>> import pandas as pd
        >>> pd_ = Design(weight_col="w").prepare(pd.DataFrame({"w": [1.0, 2.0]}))
        >>> pd_.with_weights(pd_.weights * 2).weights.tolist()
        [2.0, 4.0]
        """
        weights = np.asarray(weights, dtype=float)
        if weights.shape != self.weights.shape:
            raise DesignError(f"new weights have {weights.shape[0] if weights.ndim else 0} values, "
                              f"the design has {self.n} rows", fix="give one weight per row")
        adjustments = self.adjustments
        if adjustment is not None:
            adjustments = (adjustments + (adjustment,)) if append else (adjustment,)
        new = dataclasses.replace(self, weights=weights, adjustments=adjustments)
        object.__setattr__(new, "psu_weight_totals", new.psu_totals(weights))
        return new

    def psu_totals(self, values: np.ndarray) -> np.ndarray:
        """Sum row ``values`` (n,) or (n, k) within PSUs → (n_psu,) or (n_psu, k).

        Rows sorted by PSU (as survey files usually are) use contiguous segment sums
        (``np.add.reduceat``), otherwise ``np.bincount``.
        """
        values = np.asarray(values, dtype=float)
        if self.psu_starts is not None:
            return np.add.reduceat(values, self.psu_starts, axis=0)
        if values.ndim == 1:
            return np.bincount(self.psu_codes, values, minlength=self.n_psu)
        return np.column_stack([np.bincount(self.psu_codes, values[:, j], minlength=self.n_psu)
                                for j in range(values.shape[1])])


def _sorted_starts(psu_codes: np.ndarray) -> np.ndarray | None:
    """First row of each PSU when the rows are sorted by PSU code, else None."""
    if len(psu_codes) and np.all(psu_codes[1:] >= psu_codes[:-1]):
        return np.flatnonzero(np.r_[True, psu_codes[1:] != psu_codes[:-1]])
    return None


def as_prepared(data: pd.DataFrame | None, design: "Design | PreparedDesign", *, source: str = "data") -> PreparedDesign:
    """Return ``design`` prepared against ``data`` (a :class:`PreparedDesign` passes through)."""
    if isinstance(design, PreparedDesign):
        if data is not None and len(data) != design.n:
            raise DesignError(f"the prepared design has {design.n} rows but the data has {len(data)}",
                              fix="prepare the design on the same table")
        return design
    if not isinstance(design, Design):
        raise DesignError(f"expected a Design, got {type(design).__name__}",
                          fix="build one with Design(weight_col=..., stratum_col=..., psu_col=...)")
    if data is None:
        raise DesignError("no data given to prepare the design on")
    return design.prepare(data, source=source)


def _row_where(source: str, index: Any, position: int, column: str, value: Any) -> str:
    # CSV files: header is row 1, first data row is row 2 (RangeIndex assumed from read_csv)
    row = position + 2
    return format_where(source, row=row, column=column, value=value)


def _codes(series: pd.Series, *, column: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    if series.isna().any():
        pos = int(np.flatnonzero(series.isna().to_numpy())[0])
        raise DesignError(f"{column} is missing", where=_row_where(source, series.index, pos, column, None),
                          fix=f"fill in the {column} of every row")
    codes, labels = pd.factorize(series, sort=True)
    return codes.astype(np.intp), np.asarray(labels, dtype=object)


def _fpc_fraction(series: pd.Series, stratum_codes: np.ndarray, stratum_labels: np.ndarray,
                  n_psu_h: np.ndarray, *, column: str, source: str, within: str = "stratum") -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DesignError("FPC missing or not > 0", where=_row_where(source, series.index, pos, column, series.iloc[pos]),
                          fix="give the stratum's sampling fraction (≤ 1) or its number of population PSUs (> 1)")
    n_h = len(stratum_labels)
    vmin = np.full(n_h, np.inf)
    vmax = np.full(n_h, -np.inf)
    np.minimum.at(vmin, stratum_codes, values)
    np.maximum.at(vmax, stratum_codes, values)
    varying = vmax - vmin > 1e-12 * np.maximum(1.0, vmax)
    if varying.any():
        h = int(np.flatnonzero(varying)[0])
        raise DesignError(f"FPC differs within {within} {stratum_labels[h]!r} ({float(vmin[h]):g} vs {float(vmax[h]):g})",
                          where=f"{source}, column '{column}'", fix=f"give one FPC value per {within}")
    if np.all(values <= 1):
        fraction = vmin
    else:
        if np.any(vmin < n_psu_h):
            h = int(np.flatnonzero(vmin < n_psu_h)[0])
            raise DesignError(f"population unit count {float(vmin[h]):g} is smaller than the {n_psu_h[h]} sampled units "
                              f"in {within} {stratum_labels[h]!r}", where=f"{source}, column '{column}'",
                              fix="give the number of PSUs in the stratum's population (or fractions ≤ 1 throughout)")
        fraction = n_psu_h / vmin
    return fraction
