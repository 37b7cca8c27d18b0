"""The RDS sample: one immutable object that every RDS estimator, bootstrap and diagnostic reads.

An :class:`RDSSample` bundles

* ``tree``  -- the validated recruitment forest (:class:`hiddenpop.rds.tree.RecruitmentTree`);
  respondent ``i`` is position ``i`` everywhere below;
* ``degree`` -- the self-reported network sizes as float, **as reported** (``NaN`` where missing,
  zeros kept). Estimators clean them with :func:`clean_degree` so the rule is explicit;
* ``data``  -- the respondent variables (a ``pandas.DataFrame`` with a ``RangeIndex``; row ``i`` is
  tree position ``i``);
* ``time``  -- recruitment / interview time as float (seconds for date-times), or ``None``;
* ``population_size`` -- ``(low, mid, high)`` guesses of the population size N (any may be ``None``).

Public API (stable; the bootstrap module codes against it)
----------------------------------------------------------
``RDSSample(tree, degree, data, time=None, population_size=(None, None, None))``
    frozen dataclass; properties ``n``, ``ids``, ``is_seed``, ``wave``, ``recruiter``; methods
    ``clean_degree(rule=...)``, ``outcome(name)``, ``subset(positions)``, ``with_population_size(...)``.
``rds_sample_from_table(table, *, id_col="id", recruiter_col="recruiter.id", degree_col="network.size",
seed_marker=None, time_col=None, population_size=None, source="table") -> RDSSample``
    build from an R ``RDS``-style table (seed marker detected when not given).
``clean_degree(degree, *, rule="max", minimum=None) -> np.ndarray``
    zero/missing degree rule; ``DEGREE_RULES`` lists the rules.

The zero/missing network-size rule
----------------------------------
:func:`clean_degree` is the **one** place where zero or missing network sizes (degrees) are
replaced. Default ``"max"``: R ``RDS``'s rule in its estimation path (``RDS.estimates.local``:
"k of n network sizes were missing or zero. The estimator will presume these are <max>"), i.e.
the largest valid degree = the smallest RDS weight. Alternative ``"median"``: the median valid
degree, raised to the respondent's structural minimum (recruits + 1 for a non-seed). It serves

* every RDS estimator, bootstrap and diagnostic (through :meth:`RDSSample.clean_degree`);
* the referral-log validation (:func:`hiddenpop.referrals.validate.network_size_for_estimation`, which
  only adds parsing of the raw column and the refusal of negative values);
* the weighting engine's deeper-wave RDS weights
  (:func:`hiddenpop.weights.referral.base_weights`). There, degrees already went through
  :func:`hiddenpop.weights.referral.prepare_sample`, which refuses a missing degree of a
  referral-eligible household (it enters the design-based link count L = 1 + d, where no
  imputation is acceptable) and raises a degree below the number of recruiters to that number,
  so the rule only acts on degrees given to ``base_weights`` by other routes.
``parse_population_size(value) -> tuple[low, mid, high]``
    ``1000``, ``"500,1000,1500"``, ``(500, 1000, 1500)``.

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"id": [1, 2, 3, 4], "recruiter.id": ["seed", 1, 1, 3],
...                   "network.size": [5, 0, 3, None], "hiv": ["y", "n", "n", "y"]})
>>> s = rds_sample_from_table(t)
>>> s.n, s.wave.tolist(), s.degree.tolist()
(4, [0, 1, 1, 2], [5.0, 0.0, 3.0, nan])
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop._checks import id_text, id_texts
from hiddenpop.errors import (DegreeImputedWarning, DesignError, EstimationError, RecruitmentError,
                              format_where, truncate_list)
from hiddenpop.rds.tree import RecruitmentTree, build_tree

__all__ = ["RDSSample", "rds_sample_from_table", "clean_degree", "DEGREE_RULES", "parse_population_size",
           "PopulationSize"]

PopulationSize = tuple[float | None, float | None, float | None]

DEGREE_RULES: dict[str, str] = {
    "max": "zero or missing degree -> largest valid degree (R RDS estimation path; lowest weight)",
    "median": "zero or missing degree -> median valid degree, raised to the respondent's structural "
              "minimum (number of recruits, +1 for a non-seed)",
}


@dataclass(frozen=True, eq=False)
class RDSSample:
    """An RDS sample: recruitment tree, reported degrees, respondent variables, times, N.

    Parameters
    ----------
    tree : RecruitmentTree
        Recruitment forest; position ``i`` is respondent ``i`` in ``degree``, ``data`` and ``time``.
    degree : numpy.ndarray
        Reported network sizes as float (``NaN`` missing); zeros are kept as reported.
    data : pandas.DataFrame
        Respondent variables, row ``i`` for tree position ``i`` (the index is reset).
    time : numpy.ndarray or None
        Recruitment / interview time as float, used to order respondents (HCG, convergence plots).
    population_size : tuple
        ``(low, mid, high)`` population size guesses; ``mid`` is the default N.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from hiddenpop.rds.tree import build_tree
    >>> s = RDSSample(build_tree(["a", "b"], [None, "a"]), np.array([3.0, 4.0]), pd.DataFrame({"x": [1, 0]}))
    >>> s.n, s.is_seed.tolist()
    (2, [True, False])
    """

    tree: RecruitmentTree
    degree: np.ndarray
    data: pd.DataFrame
    time: np.ndarray | None = None
    population_size: PopulationSize = (None, None, None)
    source: str = field(default="table", compare=False)

    def __post_init__(self) -> None:
        n = self.tree.n
        degree = np.asarray(self.degree, dtype=float).reshape(-1)
        if len(degree) != n:
            raise DesignError(f"degree has {len(degree)} values but the tree has {n} respondents",
                              where=self.source)
        neg = np.flatnonzero(degree < 0)
        if len(neg):
            raise RecruitmentError(
                f"negative network sizes for respondent(s) {truncate_list(self.tree.ids[neg])}",
                where=self.source, fix="network size is a count of people the respondent knows; correct it")
        object.__setattr__(self, "degree", degree)
        data = self.data if self.data is not None else pd.DataFrame(index=pd.RangeIndex(n))
        if len(data) != n:
            raise DesignError(f"data has {len(data)} rows but the tree has {n} respondents", where=self.source)
        if not isinstance(data.index, pd.RangeIndex) or data.index.start != 0 or data.index.step != 1:
            data = data.reset_index(drop=True)
        object.__setattr__(self, "data", data)
        if self.time is not None:
            time = np.asarray(self.time, dtype=float).reshape(-1)
            if len(time) != n:
                raise DesignError(f"time has {len(time)} values but the tree has {n} respondents",
                                  where=self.source)
            object.__setattr__(self, "time", time)
        object.__setattr__(self, "population_size", parse_population_size(self.population_size))

    # ------------------------------------------------------------------ views
    @property
    def n(self) -> int:
        """Number of respondents."""
        return self.tree.n

    @property
    def ids(self) -> np.ndarray:
        """Respondent ids (strings) in tree order."""
        return self.tree.ids

    @property
    def is_seed(self) -> np.ndarray:
        """True for seeds."""
        return self.tree.is_seed

    @property
    def wave(self) -> np.ndarray:
        """Wave of each respondent (seeds are 0)."""
        return self.tree.wave

    @property
    def recruiter(self) -> np.ndarray:
        """Position of each respondent's recruiter (``-1`` for seeds)."""
        return self.tree.parent

    def clean_degree(self, rule: str = "max", *, warn: bool = True) -> np.ndarray:
        """Degrees with zero/missing values replaced by ``rule`` (see :func:`clean_degree`)."""
        minimum = self.tree.n_recruits + (~self.is_seed).astype(np.int64)
        return clean_degree(self.degree, rule=rule, minimum=minimum, warn=warn, ids=self.ids)

    def outcome(self, name: str) -> pd.Series:
        """The respondent variable ``name`` (error naming the available columns if absent)."""
        if name not in self.data.columns:
            raise DesignError(f"no outcome column {name!r} (columns: "
                              f"{truncate_list((repr(c) for c in self.data.columns), limit=12)})",
                              where=self.source, fix="check the spelling of --var")
        return self.data[name]

    def order(self) -> np.ndarray:
        """Positions in recruitment order: by ``time`` when known (ties by wave), else by wave."""
        if self.time is not None and not np.isnan(self.time).all():
            t = np.where(np.isnan(self.time), np.inf, self.time)
            return np.lexsort((np.arange(self.n), self.wave, t))
        return np.lexsort((np.arange(self.n), self.wave))

    def mid_population_size(self, population_size: float | None = None) -> float | None:
        """``population_size`` if given, else the sample's mid value (may be ``None``)."""
        if population_size is not None:
            return float(population_size)
        return self.population_size[1]

    def with_population_size(self, population_size: Any) -> RDSSample:
        """A copy with another ``(low, mid, high)`` population size."""
        return replace(self, population_size=parse_population_size(population_size))

    def with_categorical(self, names: Sequence[str]) -> RDSSample:
        """A copy in which the columns ``names`` are categorical: one proportion per level.

        Field data and RDSAT files code categories as integers (1 = Kurdish, 2 = Arab, 3 = other);
        by default such a column is a number and gets a mean. Declaring it categorical is R
        ``RDS``'s ``to.factor = TRUE`` (or ``factor()`` on the column): every estimator, bootstrap
        and diagnostic then sees the levels. Missing values stay missing. Levels are ordered
        numerically (R orders factor levels alphabetically, so with ten or more codes R lists
        ``"10"`` before ``"2"``; the proportion of each level is the same).

        Raises
        ------
        DesignError
            A name that is not a column.

        Examples
        --------
        >>> t = pd.DataFrame({"id": [1, 2, 3], "recruiter.id": [0, 1, 1], "network.size": [2, 2, 4],
        ...                   "group": [1, 3, 3]})
        >>> s = rds_sample_from_table(t).with_categorical(["group"])
        >>> s.data["group"].cat.categories.tolist()
        [1, 3]
        """
        data = self.data.copy()
        for name in names:
            col = self.outcome(name)
            if isinstance(col.dtype, pd.CategoricalDtype):
                continue
            present = pd.unique(col[col.notna()])
            try:
                levels = sorted(present, key=float)
            except (TypeError, ValueError):
                levels = sorted(present, key=str)
            data[name] = pd.Categorical(col, categories=levels)
        return replace(self, data=data)

    def subset(self, positions: Sequence[int] | np.ndarray) -> RDSSample:
        """Sub-sample of the given positions; respondents whose recruiter is dropped become seeds
        (as R ``[.rds.data.frame``). The population size is kept unchanged."""
        pos = np.asarray(positions, dtype=np.int64)
        new_index = np.full(self.n, -1, dtype=np.int64)
        new_index[pos] = np.arange(len(pos))
        par = self.tree.parent[pos]
        new_parent = np.where(par >= 0, new_index[np.maximum(par, 0)], -1)
        tree = RecruitmentTree(ids=self.ids[pos], parent=new_parent)
        return RDSSample(tree, self.degree[pos], self.data.iloc[pos].reset_index(drop=True),
                         None if self.time is None else self.time[pos], self.population_size, self.source)


def parse_population_size(value: Any) -> PopulationSize:
    """Normalise a population size to ``(low, mid, high)``.

    Accepts ``None``, a number (mid only), ``"1000"``, ``"500,1000,1500"`` or a sequence of 1 or 3.

    >>> parse_population_size("500,1000,1500")
    (500.0, 1000.0, 1500.0)
    >>> parse_population_size(800)
    (None, 800.0, None)
    """
    if value is None:
        return (None, None, None)
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            value = [float(p) for p in parts] if parts else None
        except ValueError:
            raise ValueError(f"population size {value!r} is not a number or low,mid,high "
                             "(e.g. 1000 or 500,1000,1500)") from None
        if value is None:
            return (None, None, None)
    if np.isscalar(value):
        value = [value]
    vals = [None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v) for v in value]
    if len(vals) == 1:
        vals = [None, vals[0], None]
    if len(vals) != 3:
        raise DesignError(f"population size must be one value or low,mid,high; got {len(vals)} values",
                          fix="give e.g. 1000 or 500,1000,1500")
    for v in vals:
        if v is not None and not v > 0:
            raise DesignError(f"population size must be positive; got {v}",
                              fix="give the number of people in the hidden population, e.g. 1000")
    low, mid, high = vals
    if mid is None:
        known = [v for v in (low, high) if v is not None]
        mid = float(np.mean(known)) if known else None
    if low is not None and high is not None and not low <= (mid or low) <= high:
        raise DesignError(f"population sizes must satisfy low <= mid <= high; got {low}, {mid}, {high}",
                          fix="order the values as low,mid,high")
    return (low, mid, high)


def clean_degree(degree: Any, *, rule: str = "max", minimum: Any = None, warn: bool = True,
                 ids: Any = None) -> np.ndarray:
    """Replace zero or missing network sizes by a documented rule.

    Parameters
    ----------
    degree
        Reported network sizes (float, ``NaN`` for missing).
    rule
        ``"max"`` (default; R ``RDS``'s estimation path): zero/missing -> the largest valid degree,
        i.e. the smallest RDS weight, which keeps an unknown respondent from dominating.
        ``"median"``: zero/missing -> the median valid degree, but at least ``minimum``.
    minimum
        Per-respondent structural minimum degree (recruits + 1 for non-seeds), used by ``"median"``;
        reported degrees are *not* changed by it.
    warn
        Emit :class:`~hiddenpop.errors.DegreeImputedWarning` when anything was replaced.
    ids
        Respondent ids for the warning text.

    Returns
    -------
    numpy.ndarray
        Float degrees, all > 0.

    Raises
    ------
    EstimationError
        No valid (positive) degree at all, or an unknown rule.

    Examples
    --------
    >>> clean_degree([4, 0, float("nan"), 2], warn=False).tolist()
    [4.0, 4.0, 4.0, 2.0]
    >>> clean_degree([4, 0, float("nan"), 2], rule="median", minimum=[0, 0, 5, 0], warn=False).tolist()
    [4.0, 3.0, 5.0, 2.0]
    """
    if rule not in DEGREE_RULES:
        raise EstimationError(f"unknown degree rule {rule!r}", fix=f"use one of {', '.join(DEGREE_RULES)}")
    d = np.asarray(degree, dtype=float).reshape(-1).copy()
    bad = ~(d > 0)  # catches NaN and zero (negatives are refused when the sample is built)
    if not bad.any():
        return d
    valid = d[~bad]
    if len(valid) == 0:
        raise EstimationError("every network size is missing or zero",
                              fix="RDS weights need reported network sizes (degrees); check the degree column")
    if rule == "max":
        d[bad] = valid.max()
    else:
        fill = np.full(bad.sum(), float(np.median(valid)))
        if minimum is not None:
            fill = np.maximum(fill, np.asarray(minimum, dtype=float)[bad])
        d[bad] = np.maximum(fill, 1.0)
    if warn:
        who = np.flatnonzero(bad) if ids is None else np.asarray(ids)[bad]
        warnings.warn(DegreeImputedWarning(
            f"{bad.sum()} of {len(d)} network sizes were missing or zero (respondents {truncate_list(who)}); "
            f"replaced by rule '{rule}': {DEGREE_RULES[rule]}"), stacklevel=3)
    return d


def _numeric_column(values: pd.Series, *, column: str, source: str, kind: str) -> np.ndarray:
    """Parse a numeric column; raise naming the first bad row (CSV row numbers, header = row 1)."""
    raw = values.replace(r"^\s*$", np.nan, regex=True) if values.dtype == object else values
    num = pd.to_numeric(raw, errors="coerce")
    bad = num.isna() & raw.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise RecruitmentError(f"{kind} must be a number ({int(bad.sum())} value(s) are not)",
                               where=format_where(source, row=i + 2, column=column, value=values.iloc[i]),
                               fix=f"write {kind} as a number, or leave the cell empty if unknown")
    return num.to_numpy(dtype=float)


def _time_column(values: pd.Series, *, column: str, source: str) -> np.ndarray:
    raw = values.replace(r"^\s*$", np.nan, regex=True) if values.dtype == object else values
    num = pd.to_numeric(raw, errors="coerce")
    if (num.isna() & raw.notna()).any():
        dt = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
        bad = dt.isna() & raw.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise RecruitmentError("recruitment time is neither a number nor a date-time",
                                   where=format_where(source, row=i + 2, column=column, value=values.iloc[i]),
                                   fix="use ISO dates like 2024-03-01T10:30 or a number")
        secs = (dt - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()
        return secs.to_numpy(dtype=float)
    return num.to_numpy(dtype=float)


def rds_sample_from_table(table: pd.DataFrame, *, id_col: str = "id", recruiter_col: str = "recruiter.id",
                          degree_col: str = "network.size", seed_marker: Any = None, time_col: str | None = None,
                          population_size: Any = None, source: str = "table") -> RDSSample:
    """Build an :class:`RDSSample` from a table in R ``RDS`` format.

    Parameters
    ----------
    table
        One row per respondent.
    id_col, recruiter_col, degree_col, time_col
        Column names. ``time_col`` may hold numbers or date-times.
    seed_marker
        The recruiter id that marks seeds. When ``None``: missing recruiter ids mark seeds, and if
        exactly one recruiter id value is not a respondent id (R's convention, e.g. ``"seed"``,
        ``0``), that value is taken as the marker.
    population_size
        ``None``, N, or ``(low, mid, high)``.
    source
        Name used in error messages (the file name).

    Returns
    -------
    RDSSample
        Rows in the table's order; ``data`` keeps every column.

    Raises
    ------
    RecruitmentError, DesignError
        Missing columns, duplicate ids, unknown recruiters, cycles, non-numeric or negative degrees.

    Examples
    --------
    >>> t = pd.DataFrame({"id": ["a", "b"], "recruiter.id": ["0", "a"], "network.size": [3, 2]})
    >>> rds_sample_from_table(t, population_size="500,1000,1500").population_size
    (500.0, 1000.0, 1500.0)
    """
    from hiddenpop._checks import check_columns

    check_columns(table, [id_col, recruiter_col, degree_col] + ([time_col] if time_col else []), source=source)
    table = table.reset_index(drop=True)
    ids = table[id_col]
    rec = table[recruiter_col]
    seed_marker = _check_recruiters(ids, rec, seed_marker, column=recruiter_col, source=source)
    tree = build_tree(ids, rec, seed_marker=seed_marker, source=source)
    degree = _numeric_column(table[degree_col], column=degree_col, source=source, kind="network size")
    neg = np.flatnonzero(degree < 0)
    if len(neg):
        i = int(neg[0])
        raise RecruitmentError("network size cannot be negative",
                               where=format_where(source, row=i + 2, column=degree_col,
                                                  value=_plain(table[degree_col].iloc[i])),
                               fix="correct the network size (number of people the respondent knows; "
                                   "leave the cell empty if unknown)")
    time = _time_column(table[time_col], column=time_col, source=source) if time_col else None
    pops = parse_population_size(population_size)
    small = [v for v in pops if v is not None and v < len(table)]
    if small:
        raise DesignError(f"population size {small[0]:g} is smaller than the {len(table)} respondents in the data",
                          where=source,
                          fix=f"give a population size of at least {len(table)} (--population-size)")
    return RDSSample(tree=tree, degree=degree, data=table, time=time, population_size=pops, source=source)


def _plain(value: Any) -> Any:
    """A numpy scalar as the plain Python value (so messages show ``-3``, not ``np.int64(-3)``)."""
    return value.item() if isinstance(value, np.generic) else value


def _check_recruiters(ids: pd.Series, rec: pd.Series, seed_marker: Any, *, column: str, source: str) -> Any:
    """Detect the seed marker and name the first recruiter id that is neither a respondent nor the marker.

    Without ``seed_marker``: if exactly one recruiter id value is not a respondent id, it is the marker
    (R's convention). If several are, the most frequent is taken to be the marker and the first row
    with another one is reported (a typo such as ``Seed`` for ``seed``, or a recruiter not interviewed).
    """
    # ids compared as the recruitment tree compares them (:func:`hiddenpop._checks.id_text`): an R export
    # whose seeds have recruiter NA reads the recruiter column as numbers, so recruiter 735.0 is respondent 735
    id_norm = pd.Series(id_texts(ids), index=ids.index)
    dup = id_norm.duplicated(keep=False) & ids.notna()
    if dup.any():
        rows = np.flatnonzero(dup.to_numpy())
        first = id_norm.iloc[rows[0]]
        same = [int(r) + 2 for r in rows if id_norm.iloc[r] == first]
        raise RecruitmentError(
            f"respondent id appears in rows {truncate_list(same)} ({len(np.unique(id_norm[dup]))} id(s) are repeated)",
            where=format_where(source, row=same[1], column=ids.name, value=_plain(ids.iloc[rows[0]])),
            fix="give every interview its own respondent id (remove the duplicate row or correct the id)")
    id_str = set(id_norm[ids.notna()])
    rec_str = pd.Series(id_texts(rec), index=rec.index, dtype=object)   # "" for a missing recruiter
    outside = (rec_str != "") & ~rec_str.isin(id_str)
    if seed_marker is not None:
        marker = id_text(seed_marker)
        outside &= rec_str != marker
        used = f"the seed marker '{seed_marker}'"
    else:
        vals = rec_str[outside]
        counts = vals.groupby(vals, sort=False).size()     # in order of first appearance
        if len(counts) <= 1:
            return None if len(counts) == 0 else counts.index[0]
        marker = counts.idxmax()                            # most frequent; ties: the first to appear
        outside &= rec_str != marker
        used = f"'{marker}', which {int(counts.max())} row(s) use to mark seeds"
    if outside.any():
        i = int(np.flatnonzero(outside.to_numpy())[0])
        raise RecruitmentError(
            f"recruiter id is not a respondent id in the data, nor {used} "
            f"({int(outside.sum())} row(s) like this)",
            where=format_where(source, row=i + 2, column=column, value=_plain(rec.iloc[i])),
            fix="correct the recruiter id (a typo, or a recruiter who was not interviewed: leave it empty to "
                "treat the respondent as a seed), or give --seed-marker")
    return seed_marker if seed_marker is not None else marker
