"""Shared validation helpers (private): columns, probabilities, weights, ids, random generators."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop.errors import DesignError, format_where, truncate_list

__all__ = ["check_columns", "check_probabilities", "check_weights", "check_rng", "id_text", "id_texts"]


def check_rng(rng: Any) -> np.random.Generator:
    """Turn anything :func:`numpy.random.default_rng` accepts into a Generator.

    ``None`` is refused on purpose: hiddenpop never draws from hidden global state, so a
    caller must always say where randomness comes from (an int seed or a Generator).

    >>> check_rng(7).integers(0, 10, 3).tolist()
    [9, 6, 6]
    """
    if rng is None:
        raise DesignError(
            "no random number generator given",
            fix="pass rng=<int seed> or rng=numpy.random.default_rng(seed) (on the CLI: --rng-seed N)",
        )
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def check_columns(table: pd.DataFrame, columns: Iterable[str], *, source: str = "table") -> None:
    """Raise :class:`DesignError` naming every column of ``columns`` missing from ``table``.

    >>> check_columns(pd.DataFrame({"a": [1]}), ["a", "b"], source="hh.csv")
    Traceback (most recent call last):
    ...
    hiddenpop.errors.DesignError: hh.csv: missing column(s) 'b' (columns present: 'a'). Fix: rename the column or name it with the matching --...-col option.
    """
    missing = [c for c in columns if c is not None and c not in table.columns]
    if missing:
        raise DesignError(
            f"missing column(s) {truncate_list(repr(c) for c in missing)} "
            f"(columns present: {truncate_list((repr(c) for c in table.columns), limit=12)})",
            where=source,
            fix="rename the column or name it with the matching --...-col option",
        )


def check_probabilities(values: Any, *, column: str = "stage1_prob", source: str = "households",
                        ids: Any = None, rows: Any = None) -> np.ndarray:
    """Return ``values`` as floats after checking each lies in (0, 1] (the package's one probability check).

    The error names the file, the row as a person sees it in a CSV file (header is row 1)
    and the unit's id, the column and the value. ``rows`` (boolean mask) restricts the check.

    >>> check_probabilities([0.2, 1.0]).tolist()
    [0.2, 1.0]
    >>> check_probabilities([0.2, 1.5], ids=["h1", "h2"], source="hh.csv")
    Traceback (most recent call last):
    ...
    hiddenpop.errors.DesignError: hh.csv, row 3, column 'stage1_prob', value 1.5: probability outside (0, 1] (household h2; 1 bad row(s) in all). Fix: ...
    """
    arr = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    raw = pd.Series(values).to_numpy(dtype=object)
    bad = ~((arr > 0) & (arr <= 1))
    if rows is not None:
        bad &= np.asarray(rows, bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        label = f" (household {np.asarray(ids)[i]}" if ids is not None else " ("
        label += f"{'; ' if ids is not None else ''}{int(bad.sum())} bad row(s) in all)"
        value = raw[i] if pd.isna(arr[i]) else float(arr[i])
        raise DesignError(
            f"probability outside (0, 1]{label}" if not pd.isna(raw[i]) else f"missing probability{label}",
            where=format_where(source, row=i + 2, column=column, value=value),
            fix="a probability must be > 0 (the household could be selected) and <= 1; "
                "check how it was computed or give the design manifest instead")
    return arr


def check_weights(series: pd.Series, *, column: str, source: str, allow_zero: bool = False,
                  fix: str | None = None) -> np.ndarray:
    """Return the weights as floats after checking each is > 0 (or >= 0 with ``allow_zero``).

    The package's one weight check (next to :func:`check_probabilities`): the error names the
    file, the row as a person sees it in a CSV file (header is row 1), the column and the value.
    With ``allow_zero``, zeros are accepted but not a column of zeros only. ``fix`` replaces
    the default advice.

    >>> check_weights(pd.Series([1.5, 2]), column="w", source="w.csv").tolist()
    [1.5, 2.0]
    >>> check_weights(pd.Series([1.5, 0.0, None]), column="w", source="w.csv")
    Traceback (most recent call last):
    ...
    hiddenpop.errors.DesignError: w.csv, row 3, column 'w', value 0: weight not > 0; 2 row(s) have a missing, non-numeric or non-positive weight. Fix: ...
    """
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | ((values < 0) if allow_zero else (values <= 0))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raw = series.iloc[pos]
        raw = raw.item() if hasattr(raw, "item") else raw
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        what = "missing" if pd.isna(raw) else ("not a number" if not np.isfinite(values[pos]) else
                                               ("negative" if allow_zero else "not > 0"))
        kinds = "missing, non-numeric or negative" if allow_zero else "missing, non-numeric or non-positive"
        fix = fix or ("every respondent needs a weight >= 0; recompute the weights" if allow_zero else
               "every respondent needs a weight > 0; drop out-of-scope rows or recompute the weights "
               "(a zero weight that keeps a record in the file on purpose is accepted with --zero-weights allow)")
        raise DesignError(
            f"weight {what}; {int(bad.sum())} row(s) have a {kinds} weight",
            where=format_where(source, row=pos + 2, column=column, value=None if pd.isna(raw) else raw), fix=fix)
    if allow_zero and len(values) and not (values > 0).any():
        raise DesignError("every weight is zero", where=f"{source}, column '{column}'",
                          fix="check that the right weight column is named")
    return values


def check_unique_ids(table: pd.DataFrame, *, source: str = "table", columns: Iterable[str] = ("child_id", "hh_id")) -> None:
    """Refuse a table whose row id (the first of ``columns`` present) repeats.

    A household (or child) twice in a weights file counts twice in every total and mean.

    >>> check_unique_ids(pd.DataFrame({"hh_id": ["H1", "H2", "H1"]}), source="w.csv")
    Traceback (most recent call last):
    ...
    hiddenpop.errors.DesignError: w.csv, row 4, column 'hh_id', value 'H1': duplicate id (1 repeated row(s); first seen on row 2). Fix: keep one row per household (or child): remove the repeated rows, or give each its own id.
    """
    from hiddenpop.errors import format_where

    col = next((c for c in columns if c in table.columns), None)
    if col is None:
        return
    ids = table[col]
    dup = ids.duplicated() & ids.notna()
    if dup.any():
        k = int(np.flatnonzero(dup.to_numpy())[0])
        first = int(np.flatnonzero((ids == ids.iloc[k]).to_numpy())[0])
        raise DesignError(f"duplicate id ({int(dup.sum())} repeated row(s); first seen on row {first + 2})",
                          where=format_where(source, row=k + 2, column=col, value=_plain(ids.iloc[k])),
                          fix="keep one row per household (or child): remove the repeated rows, or give each its own id")


def check_probability_columns(table: pd.DataFrame, *, source: str = "table", suffix: str = "_prob") -> None:
    """Refuse probability columns (``*_prob``) with a value below 0 or above 1 (empty cells allowed).

    >>> check_probability_columns(pd.DataFrame({"stage1_prob": [0.2, 1.4]}), source="w.csv")
    Traceback (most recent call last):
    ...
    hiddenpop.errors.DesignError: w.csv, row 3, column 'stage1_prob', value 1.4: a probability must lie between 0 and 1 (1 row(s) do not). Fix: check how the file was made: 'hiddenpop weights compute' writes probabilities in [0, 1]; a percentage must be divided by 100.
    """
    from hiddenpop.errors import format_where

    for col in [c for c in table.columns if str(c).endswith(suffix)]:
        raw = table[col]
        vals = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad = (raw.notna().to_numpy() & ~np.isfinite(vals)) | (vals < 0) | (vals > 1)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise DesignError(f"a probability must lie between 0 and 1 ({int(bad.sum())} row(s) do not)",
                              where=format_where(source, row=k + 2, column=str(col), value=_plain(raw.iloc[k])),
                              fix="check how the file was made: 'hiddenpop weights compute' writes probabilities "
                                  "in [0, 1]; a percentage must be divided by 100")


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones (messages show ``1.4``, not ``np.float64(1.4)``)."""
    return value.item() if isinstance(value, np.generic) else value


def id_text(value: Any) -> str:
    """An id as stripped text: ``""`` for missing, ``7.0`` and ``"7"`` both give ``"7"``.

    >>> [id_text(v) for v in (None, float("nan"), 7.0, " A1 ", 12)]
    ['', '', '7', 'A1', '12']
    """
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, (float, np.floating))
                                                                and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def id_texts(values: Any) -> np.ndarray:
    """:func:`id_text` over a column: an object array of text ids (``""`` for missing).

    >>> id_texts(pd.Series([1.0, None, "b "])).tolist()
    ['1', '', 'b']
    """
    arr = np.asarray(values, dtype=object)
    return np.array([id_text(v) for v in arr], dtype=object)
