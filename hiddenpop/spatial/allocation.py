"""Allocation of the number of points to strata.

Rules (``ALLOCATIONS``; the CLI's ``--allocation`` takes a key, ``min:K`` or a CSV table):

``proportional``  n_h ∝ the stratum's area (uniform density) or size (size/raster density).
``equal``         the same n_h in every stratum.
``neyman``        n_h ∝ N_h · S_h, with N_h the basis (area or size) and S_h the stratum's
                  value of a variability column (its basis-weighted mean over the units).
``min:K``         proportional, but at least K in every stratum: strata below K are set to K
                  and the rest is re-allocated proportionally among the others.
fixed table       a mapping stratum → n (CSV with columns ``stratum,n``).

Rounding is by **largest remainder** (Hamilton's method): every stratum first gets the floor
of its exact quota; the points left over go one each to the strata with the largest
fractional parts (ties broken by stratum label). The total is exactly n and no stratum is
more than one point from its exact quota.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop.errors import DesignError, truncate_list

__all__ = ["ALLOCATIONS", "allocate", "largest_remainder", "parse_allocation"]


def largest_remainder(n: int, shares: Any, labels: Any = None) -> np.ndarray:
    """Round ``n * shares / sum(shares)`` to integers summing to ``n`` (largest remainder).

    >>> largest_remainder(10, [1, 1, 1]).tolist()
    [4, 3, 3]
    >>> largest_remainder(7, [0.5, 0.3, 0.2]).tolist()  # quotas 3.5, 2.1, 1.4
    [4, 2, 1]
    """
    w = np.asarray(shares, dtype=float)
    if w.sum() <= 0 or (w < 0).any():
        raise DesignError("allocation shares must be >= 0 with a positive total")
    quota = n * w / w.sum()
    base = np.floor(quota + 1e-9).astype(int)
    left = int(n - base.sum())
    frac = quota - base
    order = np.lexsort((np.arange(len(w)), -frac))  # largest fraction first, then label order
    base[order[:left]] += 1
    return base


def _proportional(n: int, table: pd.DataFrame, **_: Any) -> np.ndarray:
    return largest_remainder(n, table["basis"].to_numpy())


def _equal(n: int, table: pd.DataFrame, **_: Any) -> np.ndarray:
    return largest_remainder(n, np.ones(len(table)))


def _neyman(n: int, table: pd.DataFrame, **_: Any) -> np.ndarray:
    if "variability" not in table or table["variability"].isna().any():
        none = table["stratum"] if "variability" not in table else table.loc[table["variability"].isna(), "stratum"]
        raise DesignError("Neyman allocation needs a variability value for every stratum; none for stratum "
                          f"{truncate_list(repr(str(v)) for v in none)}",
                          fix="name a column with --variability-col (e.g. an expected standard deviation) "
                              "that has a number for at least one unit of every stratum")
    return largest_remainder(n, table["basis"].to_numpy() * table["variability"].to_numpy())


def _minimum(n: int, table: pd.DataFrame, *, minimum: int = 1, **_: Any) -> np.ndarray:
    h = len(table)
    if minimum * h > n:
        raise DesignError(f"min:{minimum} needs at least {minimum * h} points for {h} strata, but n = {n}",
                          fix=f"raise --n to {minimum * h} or lower the minimum")
    basis = table["basis"].to_numpy(dtype=float)
    fixed = np.zeros(h, dtype=bool)
    while True:
        free = ~fixed
        quota = np.zeros(h)
        quota[free] = (n - minimum * fixed.sum()) * basis[free] / basis[free].sum()
        newly = free & (quota < minimum)
        if not newly.any():
            break
        fixed |= newly
    out = np.full(h, minimum, dtype=int)
    if (~fixed).any():
        out[~fixed] = largest_remainder(n - minimum * fixed.sum(), basis[~fixed])
    return out


#: Allocation rules: name → function(n, table, **options) -> integer array (table order).
ALLOCATIONS: dict[str, Callable[..., np.ndarray]] = {
    "proportional": _proportional,
    "equal": _equal,
    "neyman": _neyman,
    "min": _minimum,
}


def parse_allocation(rule: Any) -> tuple[str, dict]:
    """Turn ``'proportional'``, ``'min:5'`` or a mapping into ``(name, options)``.

    >>> parse_allocation("min:5")
    ('min', {'minimum': 5})
    >>> parse_allocation({"north": 10, "south": 20})
    ('fixed', {'table': {'north': 10, 'south': 20}})
    """
    if isinstance(rule, Mapping):
        return "fixed", {"table": {str(k): int(v) for k, v in rule.items()}}
    text = str(rule).strip()
    if text.startswith("min:"):
        try:
            k = int(text[4:])
        except ValueError:
            k = -1
        if k < 0:
            raise DesignError(f"bad allocation {text!r}", fix="write min:K with K a whole number >= 0, e.g. min:5")
        return "min", {"minimum": k}
    if text not in ALLOCATIONS or text == "min":
        raise DesignError(f"unknown allocation {text!r}",
                          fix="use one of proportional, equal, neyman, min:K, or a CSV table stratum,n")
    return text, {}


def allocate(n: int | None, table: pd.DataFrame, rule: Any = "proportional") -> dict[str, int]:
    """Number of points per stratum.

    Parameters
    ----------
    n
        Total number of (main) points; ignored for a fixed table.
    table
        One row per stratum: ``stratum`` (text), ``basis`` (area or size), optional ``variability``.
    rule
        ``'proportional'``, ``'equal'``, ``'neyman'``, ``'min:K'`` or a mapping stratum → n.

    Returns
    -------
    dict
        stratum → n_h (every stratum of ``table``).

    Examples
    --------
    >>> t = pd.DataFrame({"stratum": ["a", "b", "c"], "basis": [50.0, 30.0, 20.0]})
    >>> allocate(10, t)
    {'a': 5, 'b': 3, 'c': 2}
    >>> allocate(10, t, "min:3")
    {'a': 4, 'b': 3, 'c': 3}
    """
    name, options = parse_allocation(rule)
    labels = table["stratum"].astype(str).tolist()
    if name == "fixed":
        fixed = options["table"]
        unknown = sorted(set(fixed) - set(labels))
        missing = [s for s in labels if s not in fixed]
        if unknown or missing:
            raise DesignError(
                "the allocation table does not match the frame's strata"
                + (f"; not in the frame: {truncate_list(unknown)}" if unknown else "")
                + (f"; missing: {truncate_list(missing)}" if missing else ""),
                fix="list every stratum of the frame exactly once in the table (columns stratum,n)")
        bad = [s for s in labels if fixed[s] < 0]
        if bad:
            raise DesignError(f"negative n for stratum {bad[0]!r} in the allocation table", fix="use n >= 0")
        return {s: int(fixed[s]) for s in labels}
    if n is None or int(n) < 1:
        raise DesignError(f"the number of points must be >= 1, got {n!r}", fix="pass --n N")
    if (table["basis"] <= 0).any() and name in ("proportional", "neyman", "min"):
        zero = table.loc[table["basis"] <= 0, "stratum"].tolist()
        raise DesignError(f"stratum {zero[0]!r} has zero area or size, so a proportional share is zero",
                          fix="drop the stratum from the frame, give it a size, or use a fixed allocation table")
    counts = ALLOCATIONS[name](int(n), table, **options)
    return {s: int(c) for s, c in zip(labels, counts)}
