"""Tables of the weighting engine: registry margins and replicate-weight exports.

``margins.csv`` (docs/data-contract.md, 'Registry margins') has the columns ``variable,level,total``; a
combined margin names its variables joined by `` x `` and its levels joined by ``|``::

    variable,level,total
    sex,F,45344
    region x registered,Istanbul|1,532000

Replicate weights are written as ``id, final_weight, rep_1 … rep_B`` (analysis weights),
with the R and Stata calls that read them in the documentation
(:func:`hiddenpop.weights.replicates.svrepdesign_call`, ``stata_svyset_call``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hiddenpop.errors import InputFileError, format_where
from hiddenpop.io import PathLike, OutputSet, read_csv, write_csv

__all__ = ["read_margins", "write_replicate_weights", "write_estimates"]


def read_margins(path: PathLike) -> pd.DataFrame:
    """Read and check a ``variable,level,total`` margins file.

    Levels are read as text (``01`` stays ``01``; ``1`` matches a 0/1 column). Totals must
    be numbers > 0, and no (variable, level) may repeat. A total written ``survey`` marks a
    cell the registry does not know (e.g. the unregistered): its target is the survey's own
    estimate, recomputed in every replicate (column ``from_survey``; ``total`` is NaN), so
    calibration leaves that cell's sampling variance in place (docs/methods.md, 'Registration status and calibration').

    Raises
    ------
    InputFileError
        Missing columns, empty file, a total that is missing, not a number or ≤ 0, or a
        repeated level — naming the file, row and column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.csv"
    >>> _ = p.write_text("variable,level,total\\nsex,F,10\\nregion x registered,A|1,4\\n")
    >>> read_margins(p).to_dict("records")[1]
    {'variable': 'region x registered', 'level': 'A|1', 'total': 4.0, 'from_survey': False}
    """
    table = read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("variable", "level", "total") if c not in table.columns]
    if missing:
        raise InputFileError(f"missing column(s) {', '.join(missing)} (found: {', '.join(table.columns)})",
                             where=str(path),
                             fix="give the columns variable,level,total (docs/data-contract.md, 'Registry margins')")
    if table.empty:
        raise InputFileError("the margins file has no rows", where=str(path), fix="add one row per level")
    table = table[["variable", "level", "total"]].copy()
    for col in ("variable", "level"):
        table[col] = table[col].str.strip()
        empty = table[col] == ""
        if empty.any():
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise InputFileError(f"{col} is empty", where=format_where(path, row=i + 2, column=col),
                                 fix=f"fill in the {col} of every row")
    from_survey = table["total"].str.strip().str.lower().eq("survey")
    totals = pd.to_numeric(table["total"].str.strip(), errors="coerce")
    bad = (~np.isfinite(totals.to_numpy(dtype=float)) | (totals.to_numpy(dtype=float) <= 0)) & ~from_survey.to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputFileError("total is missing, not a number or not > 0",
                             where=format_where(path, row=i + 2, column="total", value=table["total"].iloc[i]),
                             fix="give the registry count of the level as a positive number, or 'survey' for a "
                                 "level the registry does not know (its survey estimate is kept)")
    table["total"] = totals.astype(float).where(~from_survey)
    table["from_survey"] = from_survey.to_numpy()
    dup = table.duplicated(["variable", "level"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputFileError(f"level {table['level'].iloc[i]!r} of {table['variable'].iloc[i]!r} is given twice",
                             where=format_where(path, row=i + 2, column="level"), fix="keep one total per level")
    table = table.reset_index(drop=True)
    _check_subtotals(table, path)
    table.attrs["source"] = str(path)
    return table


def _check_subtotals(table: pd.DataFrame, path: PathLike) -> None:
    """Refuse margins whose subtotals contradict each other.

    A margin on ``region`` and a combined margin ``region x registered`` describe the same
    people: the combined cells of each region must add up to the region's total. When they do
    not, no weights can meet both; calibration would stop at the closest compromise, far from
    every target. Cells marked ``survey`` are left out (their totals are not known yet).
    """
    names = {v: [x.strip() for x in v.split(" x ")] for v in table["variable"].unique()}
    known = table[~table["from_survey"]]
    for small, vs in names.items():
        for big, vb in names.items():
            if small == big or not set(vs) < set(vb):
                continue
            big_rows = table[table["variable"] == big]
            if big_rows["from_survey"].any():
                continue  # a sum over unknown cells cannot be checked
            parts = big_rows["level"].str.split("|", expand=True)
            if parts.shape[1] != len(vb):
                continue
            key = parts[[vb.index(v) for v in vs]].agg("|".join, axis=1)
            sums = big_rows["total"].groupby(key.to_numpy()).sum()
            rows = known[known["variable"] == small]
            for i, (level, total) in zip(rows.index, zip(rows["level"], rows["total"])):
                if level not in sums.index:
                    continue
                sub = float(sums[level])
                if abs(sub - total) > 1e-6 * max(abs(total), abs(sub), 1.0):
                    raise InputFileError(
                        f"level {level!r} of {small!r} has total {total:.10g}, but the cells of {big!r} for that "
                        f"level add up to {sub:.10g}: no weights can meet both",
                        where=format_where(path, row=int(i) + 2, column="total", value=f"{total:.10g}"),
                        fix=f"make the {small!r} totals equal the sums of the {big!r} cells (or drop one of the margins)")


def write_replicate_weights(path: PathLike, frame: pd.DataFrame, *, rscales: np.ndarray | None = None,
                            overwrite: bool = False) -> None:
    """Write replicate weights (and, when the rscales vary, ``<name>.rscales.csv``) atomically."""
    with OutputSet(overwrite=overwrite) as out:
        out.add_csv(path, frame, float_format="%.17g")
        if rscales is not None and not np.allclose(rscales, rscales[0]):
            side = str(path).rsplit(".", 1)[0] + ".rscales.csv"
            table = pd.DataFrame({"replicate": [f"rep_{i + 1}" for i in range(len(rscales))], "rscale": rscales})
            out.add_csv(side, table, float_format="%.17g")


def write_estimates(path: PathLike, table: pd.DataFrame, *, overwrite: bool = False) -> None:
    """Write an estimates table (docs/data-contract.md, 'Estimates') as CSV atomically (``-`` for standard output)."""
    write_csv(path, table, overwrite=overwrite)
