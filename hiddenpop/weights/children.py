"""Child weights from household weights (docs/methods.md, 'Children').

Every child of a sampled household is enumerated, so a child's inclusion probability is its
household's and its weight is the household weight. When a design subsamples children
within households (e.g. one child drawn at random for a long module), the child weight is
the household weight divided by the child's within-household selection probability
(k_h / M_h for k of M eligible children drawn by SRS). Replicate weights follow the same rule.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hiddenpop._checks import check_columns, id_texts
from hiddenpop.errors import DesignError, format_where

__all__ = ["child_weights"]


def child_weights(children: pd.DataFrame, household_weights: pd.DataFrame, *, hh_id_col: str = "hh_id",
                  child_id_col: str = "child_id", selection_prob_col: str | None = None,
                  eligible_col: str | None = None, selected_col: str | None = None,
                  weight_cols: Any = None, source: str = "children") -> pd.DataFrame:
    """Attach household weights to children, dividing by within-household selection probabilities.

    Parameters
    ----------
    children
        One row per interviewed child, with ``hh_id``.
    household_weights
        Weights table (``hh_id``, ``final_weight``, … , optional ``rep_*``).
    selection_prob_col
        Column of ``children`` with each child's probability of being selected within its
        household (default: all children enumerated, probability 1).
    eligible_col, selected_col
        Alternatively, columns (of ``children`` or of ``household_weights``) with the number
        of eligible children M_h and the number selected k_h: probability k_h / M_h.
    weight_cols
        Weight columns to carry and divide (default: ``base_weight``, ``final_weight`` and
        every ``rep_*`` column present).

    Returns
    -------
    The children table with the household design columns (``stratum``, ``psu``,
    ``found_by``, …) and the weights, plus ``child_selection_prob``.

    Examples
    --------
    >>> hw = pd.DataFrame({"hh_id": ["a", "b"], "final_weight": [10.0, 4.0]})
    >>> ch = pd.DataFrame({"hh_id": ["a", "a", "b"], "child_id": [1, 2, 3]})
    >>> child_weights(ch, hw)["final_weight"].tolist()
    [10.0, 10.0, 4.0]
    >>> ch["p"] = [1.0, 1.0, 0.5]
    >>> child_weights(ch, hw, selection_prob_col="p")["final_weight"].tolist()
    [10.0, 10.0, 8.0]
    """
    check_columns(children, [hh_id_col], source=source)
    check_columns(household_weights, [hh_id_col], source="weights")
    if weight_cols is None:
        weight_cols = [c for c in household_weights.columns
                       if c in ("base_weight", "final_weight") or c.startswith("rep_")]
    weight_cols = list(weight_cols)
    key = pd.Series(id_texts(household_weights[hh_id_col]), index=household_weights.index)
    if key.duplicated().any():
        raise DesignError("household weights have a duplicated hh_id",
                          where=format_where("weights", column=hh_id_col, value=key[key.duplicated()].iloc[0]),
                          fix="keep one row per household in the weights table")
    pos = pd.Index(key).get_indexer(id_texts(children[hh_id_col]))
    if (pos < 0).any():
        i = int(np.flatnonzero(pos < 0)[0])
        raise DesignError("child of a household that has no weight",
                          where=format_where(source, row=i + 2, column=hh_id_col, value=children[hh_id_col].iloc[i]),
                          fix="check the household id, or weight the household first (it may have been excluded)")
    hw = household_weights.iloc[pos].reset_index(drop=True)
    out = children.reset_index(drop=True).copy()
    if selection_prob_col is not None:
        check_columns(children, [selection_prob_col], source=source)
        prob = pd.to_numeric(out[selection_prob_col], errors="coerce").to_numpy(float)
        col = selection_prob_col
    elif eligible_col is not None and selected_col is not None:
        def grab(c: str) -> np.ndarray:
            src = out if c in out else hw
            check_columns(src, [c], source=source)
            return pd.to_numeric(src[c], errors="coerce").to_numpy(float)
        m_h, k_h = grab(eligible_col), grab(selected_col)
        with np.errstate(invalid="ignore", divide="ignore"):
            prob = k_h / m_h
        col = selected_col
    else:
        prob, col = np.ones(len(out)), "child_selection_prob"
    bad = ~((prob > 0) & (prob <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DesignError("within-household selection probability outside (0, 1]",
                          where=format_where(source, row=i + 2, column=col, value=float(prob[i])),
                          fix="check the numbers of eligible and selected children")
    # weight_flag goes with the weights: children of a household kept with weight 0 (e.g. referred
    # but not eligible) keep the reason, so 'hiddenpop estimate' accepts their zero weight
    design_cols = [c for c in ("stratum", "psu", "found_by", "weight_method", "weight_flag", "model_based",
                               "share_from_referral") if c in hw and c not in out]
    for c in design_cols:
        out[c] = hw[c].to_numpy()
    out["child_selection_prob"] = prob
    scaled = pd.DataFrame({c: pd.to_numeric(hw[c], errors="coerce").to_numpy(float) / prob for c in weight_cols},
                          index=out.index)
    return pd.concat([out.drop(columns=[c for c in weight_cols if c in out]), scaled], axis=1)
