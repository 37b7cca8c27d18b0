"""Nonresponse adjustment within weighting cells (docs/methods.md, 'Nonresponse, trimming and calibration').

Within each cell c (e.g. first-stage point × route × registration status), the weights of
responding units are multiplied by

    F_c = Σ_{k∈c} w_k / Σ_{k∈c, responded} w_k,

and non-respondents get weight 0, so the cell keeps its weighted total (weighting-class
adjustment; Kalton & Flores-Cervantes 2003, §2). At a first-stage point with M_t eligible
households of which k_t were interviewed and equal stage-1 weights, F = M_t / k_t, the
factor of the Hansen–Hurwitz point total in docs/methods.md, 'Stage 1: points, circles and inclusion probabilities'.

References
----------
Kalton, G. & Flores-Cervantes, I. (2003). Weighting methods. *J. Official Statistics* 19(2).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hiddenpop.errors import DesignError, format_where, truncate_list

__all__ = ["nonresponse_factors", "nonresponse_adjust", "cell_labels"]


def cell_labels(table: pd.DataFrame, columns: Any, *, source: str = "households", rows: Any = None) -> np.ndarray:
    """One text label per row joining the values of ``columns`` (``"P1|0"``).

    Missing values in the rows that need a cell (``rows``) are an error naming the row.

    >>> cell_labels(pd.DataFrame({"psu": ["P1", "P2"], "registered": [0, 1]}), ["psu", "registered"]).tolist()
    ['P1|0', 'P2|1']
    """
    cols = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise DesignError(f"nonresponse cell column(s) {truncate_list(missing)} not found", where=source,
                          fix="name existing columns with --nonresponse-cells")
    if not cols:
        return np.full(len(table), "all", dtype=object)
    need = np.ones(len(table), bool) if rows is None else np.asarray(rows, bool)
    parts = []
    for c in cols:
        v = table[c]
        miss = v.isna().to_numpy() & need
        if miss.any():
            i = int(np.flatnonzero(miss)[0])
            raise DesignError("missing value in a nonresponse cell column",
                              where=format_where(source, row=i + 2, column=c),
                              fix="fill it in (also for non-respondents) or choose other cells")
        parts.append(v.map(lambda x: str(int(x)) if isinstance(x, float) and float(x).is_integer() else str(x))
                     .to_numpy(dtype=object))
    out = parts[0]
    for p in parts[1:]:
        out = out + "|" + p
    return out


def nonresponse_factors(weights: Any, responded: Any, cells: Any, *, eligible: Any = None) -> tuple[np.ndarray, pd.DataFrame]:
    """Per-row adjustment factors (F_c for respondents, 0 for non-respondents) and a cell report.

    Parameters
    ----------
    weights
        Weights before the adjustment.
    responded
        True for respondents.
    cells
        Cell label of each row (see :func:`cell_labels`).
    eligible
        Rows that take part (others get factor 1, e.g. referred households).

    Raises
    ------
    DesignError
        A cell with units but no respondent (collapse cells).

    Examples
    --------
    Cell P1: 3 households of weight 10, 2 responded → factor 1.5.

    >>> f, rep = nonresponse_factors([10, 10, 10, 4], [1, 1, 0, 1], ["P1", "P1", "P1", "P2"])
    >>> f.tolist()
    [1.5, 1.5, 0.0, 1.0]
    """
    w = np.asarray(weights, float)
    r = np.asarray(responded, bool)
    cells = np.asarray(cells, dtype=object)
    take = np.ones(len(w), bool) if eligible is None else np.asarray(eligible, bool)
    codes, labels = pd.factorize(cells)
    k = len(labels)
    tot = np.bincount(codes, weights=np.where(take, w, 0.0), minlength=k)
    resp = np.bincount(codes, weights=np.where(take & r, w, 0.0), minlength=k)
    empty = (tot > 0) & (resp <= 0)
    if empty.any():
        bad = [str(labels[i]) for i in np.flatnonzero(empty)]
        raise DesignError(f"nonresponse cell(s) with no respondent: {truncate_list(bad)}",
                          fix="collapse the cells (e.g. drop registration or use the stratum instead of the point)")
    with np.errstate(invalid="ignore", divide="ignore"):
        fc = np.where(resp > 0, tot / resp, 1.0)
    f = np.where(take, np.where(r, fc[codes], 0.0), 1.0)
    report = pd.DataFrame({"cell": labels.astype(str), "weight_all": tot, "weight_respondents": resp,
                           "factor": fc,
                           "n_all": np.bincount(codes, weights=take.astype(float), minlength=k).astype(int),
                           "n_respondents": np.bincount(codes, weights=(take & r).astype(float),
                                                        minlength=k).astype(int)})
    return f, report


def nonresponse_adjust(weights: Any, responded: Any, cells: Any) -> np.ndarray:
    """Adjusted weights (respondents × F_c, non-respondents 0).

    >>> nonresponse_adjust([2.0, 2.0, 6.0], [1, 0, 1], ["a", "a", "b"]).tolist()
    [4.0, 0.0, 6.0]
    """
    f, _ = nonresponse_factors(weights, responded, cells)
    return np.asarray(weights, float) * f
