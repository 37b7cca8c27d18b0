"""Shared validation helpers (private): columns, probabilities, random generators."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop.errors import DesignError, truncate_list

__all__ = ["check_columns", "check_probabilities", "check_rng", "id_text", "id_texts"]


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


def check_probabilities(values: Any, *, name: str = "inclusion_prob", source: str = "table",
                        ids: Any = None) -> np.ndarray:
    """Return ``values`` as floats after checking they all lie in (0, 1].

    >>> check_probabilities([0.5, 1.0]).tolist()
    [0.5, 1.0]
    """
    arr = np.asarray(values, dtype=float)
    bad = ~((arr > 0) & (arr <= 1))
    if bad.any():
        idx = np.flatnonzero(bad)
        labels = np.asarray(ids)[idx] if ids is not None else idx
        shown = truncate_list(f"{lab}={arr[i]!r}" for lab, i in zip(labels, idx))
        raise DesignError(
            f"probabilities must lie in (0, 1]; {bad.sum()} do not ({shown})",
            where=f"{source}, column '{name}'",
            fix="check how the probabilities were computed; a zero probability means the unit could not be selected",
        )
    return arr


def id_text(value: Any) -> str:
    """An id as stripped text: ``""`` for missing, ``7.0`` and ``"7"`` both give ``"7"``.

    >>> [id_text(v) for v in (None, float("nan"), 7.0, " A1 ", 12)]
    ['', '', '7', 'A1', '12']
    """
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
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
