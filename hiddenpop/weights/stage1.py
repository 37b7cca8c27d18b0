"""Stage-1 inclusion probabilities of households, for every first-stage design.

The first stage is the probability part of the two-stage design (methods §2.2). This
module turns what the field and the design manifest record into the stage-1 inclusion
probability ``stage1_prob`` (π¹) of each household and, where the first stage draws
points with replacement, the expected number of hits ``expected_hits`` (e¹):

* ``rgcs``: random geographic cluster sampling (points plus a fixed radius). π¹ =
  1 − (1 − p)^n with p the point-density mass of the disc around the household, computed
  from the design manifest by :func:`hiddenpop.spatial.first_stage_probabilities`;
  e¹ = n p (Himelein, Eckman & Murray 2014).
* ``pps-segment``: grid cell / segment PPS then listing: π¹ = π_c · q_s · k_c / L_c, with
  π_c = n_h MOS_c / Σ MOS (certainty cells taken out first, :func:`pps_cell_probabilities`).
* ``list-srs``: stratified SRS from a list frame (registry): π¹ = n_h / N_h.
* ``column``: a probability already computed, given as a column.

Every route checks that the probabilities lie in (0, 1] and names the offending row.

References
----------
Himelein, Eckman & Murray (2014), J. Official Statistics 30(2); Lohr (2019), *Sampling:
Design and Analysis*, ch. 6; Särndal, Swensson & Wretman (1992), §3.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop._checks import check_columns, check_probabilities
from hiddenpop.errors import DesignError, format_where

__all__ = [
    "STAGE1_METHODS",
    "stage1_probabilities",
    "from_manifest",
    "in_frame",
    "from_column",
    "pps_segment_probabilities",
    "pps_cell_probabilities",
    "list_srs_probabilities",
    "validate_probabilities",
]


#: the package's one probability check (:func:`hiddenpop._checks.check_probabilities`), under its old name
validate_probabilities = check_probabilities


def from_column(households: pd.DataFrame, *, column: str = "stage1_prob", source: str = "households",
                id_col: str = "hh_id", rows: Any = None) -> pd.DataFrame:
    """Stage-1 probabilities given directly as a column.

    ``rows`` (boolean mask) restricts the check to the households that need a probability
    (e.g. those found at a point); the others may be empty.

    Returns
    -------
    DataFrame with ``stage1_prob`` and ``expected_hits`` (= π¹, a without-replacement design).

    >>> hh = pd.DataFrame({"hh_id": ["a", "b"], "stage1_prob": [0.1, 0.25]})
    >>> from_column(hh)["expected_hits"].tolist()
    [0.1, 0.25]
    """
    check_columns(households, [column], source=source)
    values = pd.to_numeric(households[column], errors="coerce")
    mask = np.ones(len(households), bool) if rows is None else np.asarray(rows, bool)
    ids = households[id_col].to_numpy() if id_col in households else None
    validate_probabilities(households[column].to_numpy(), column=column, source=source, ids=ids, rows=mask)
    return pd.DataFrame({"stage1_prob": values.to_numpy(float), "expected_hits": values.to_numpy(float)},
                        index=households.index)


def in_frame(manifest: Any, lon: Any, lat: Any) -> np.ndarray:
    """True where a location lies in a unit of the design's frame (:meth:`FirstStageDesign.in_frame
    <hiddenpop.spatial.inclusion.FirstStageDesign.in_frame>`; ``manifest``: the design or its manifest dict).

    A household outside the frame (e.g. in an excluded park, or beyond the frame's edge)
    cannot be reached by the first stage: its π¹ is 0. It can still be reached by referral,
    and GWSM needs no π¹ for it.

    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> from hiddenpop.spatial import SamplingFrame, sample_points
    >>> units = gpd.GeoDataFrame({"unit_id": ["A"]}, geometry=[box(29.0, 41.0, 29.1, 41.1)], crs=4326)
    >>> m = sample_points(SamplingFrame(units), n=3, radius_m=100, rng=1).manifest
    >>> in_frame(m, [29.05, 30.0], [41.05, 41.05]).tolist()
    [True, False]
    """
    from hiddenpop.spatial.inclusion import FirstStageDesign

    return FirstStageDesign.from_manifest(manifest).in_frame(lon, lat)


def from_manifest(households: pd.DataFrame, manifest: Any, *, lon_col: str = "lon", lat_col: str = "lat",
                  required: Any = None, source: str = "households") -> pd.DataFrame:
    """RGCS stage-1 probabilities from the design manifest and household locations.

    Calls the spatial stage's exact disc–polygon computation
    (:func:`hiddenpop.spatial.first_stage_probabilities`).

    Parameters
    ----------
    required
        Boolean mask of the households that need π¹ (those found at a point under GWSM);
        ``None``: all. A required household without a location or outside the frame is an
        error naming its row. Other households get NaN without a location and π¹ = 0 (and
        ``in_frame`` False) outside the frame: they can only have been reached by referral.

    Returns
    -------
    DataFrame with ``stratum``, ``p_hit``, ``expected_hits`` (n p), ``stage1_prob``
    (1 − (1 − p)^n), ``n_points`` and ``in_frame``, aligned with ``households``.
    """
    from hiddenpop.spatial.inclusion import FirstStageDesign, first_stage_probabilities

    design = FirstStageDesign.from_manifest(manifest)  # decoded once for both questions below
    check_columns(households, [lon_col, lat_col], source=source)
    need = np.ones(len(households), bool) if required is None else np.asarray(required, bool)
    lon = pd.to_numeric(households[lon_col], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(households[lat_col], errors="coerce").to_numpy(float)
    has_loc = np.isfinite(lon) & np.isfinite(lat)
    inside = np.zeros(len(households), bool)
    if has_loc.any():
        inside[has_loc] = design.in_frame(lon[has_loc], lat[has_loc])
    bad = need & has_loc & ~inside
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DesignError(f"household found at a point lies outside the sampling frame ({int(bad.sum())} row(s))",
                          where=format_where(source, row=i + 2, column=f"{lon_col}/{lat_col}",
                                             value=f"{lon[i]}, {lat[i]}"),
                          fix="check the GPS fix (lon/lat order, decimal degrees); a household found at a point "
                              "lies within the radius of the point, inside the frame")
    opt = has_loc & ~need
    take = has_loc & inside
    out = pd.DataFrame(index=households.index,
                       columns=["stratum", "p_hit", "expected_hits", "stage1_prob", "n_points"], dtype=float)
    out["stratum"] = out["stratum"].astype(object)
    if take.any():
        got = first_stage_probabilities(design, households.loc[take], lon_col=lon_col, lat_col=lat_col,
                                        source=source)
        got = got.set_axis(households.index[take])
        for col in out.columns:
            if col in got:
                out.loc[take, col] = got[col].to_numpy()
    outside = opt & ~inside
    out.loc[outside, ["p_hit", "expected_hits", "stage1_prob"]] = 0.0
    out["in_frame"] = pd.array(np.where(take, True, np.where(outside, False, None)), dtype="boolean")
    return out


def pps_cell_probabilities(mos: Any, n: Any, *, stratum: Any = None) -> np.ndarray:
    """πps inclusion probabilities π_c = n_h MOS_c / Σ MOS, certainty cells taken out first.

    Cells whose π would exceed 1 are taken with certainty (π = 1) and the remaining
    sample is reallocated over the other cells, repeatedly (Särndal et al. 1992, §3.6).

    Parameters
    ----------
    mos
        Measure of size of each cell (> 0).
    n
        Number of cells drawn: one number, or a mapping stratum → n.
    stratum
        Stratum of each cell (``None``: one stratum).

    Examples
    --------
    Sizes 50, 30, 10, 10 and n = 2: 2·50/100 = 1 → certainty; the other cell is drawn
    from 30, 10, 10 with π = 30/50, 10/50, 10/50.

    >>> pps_cell_probabilities([50, 30, 10, 10], 2).tolist()
    [1.0, 0.6, 0.2, 0.2]
    """
    mos = np.asarray(mos, dtype=float)
    if (~(mos > 0)).any():
        i = int(np.flatnonzero(~(mos > 0))[0])
        raise DesignError("measure of size must be > 0", where=format_where("cells", row=i + 2, column="mos",
                                                                             value=float(mos[i])),
                          fix="drop cells with no size from the frame or give them a small positive size")
    strata = np.zeros(len(mos), dtype=object) if stratum is None else np.asarray(stratum, dtype=object)
    out = np.zeros(len(mos))
    for h in pd.unique(strata):
        idx = np.flatnonzero(strata == h)
        n_h = n[h] if isinstance(n, dict) else n
        if n_h > len(idx):
            raise DesignError(f"stratum {h!r}: {n_h} cells asked for but only {len(idx)} exist",
                              fix="lower n or merge strata")
        pi = np.zeros(len(idx))
        certain = np.zeros(len(idx), bool)
        while True:
            rest = ~certain
            pi[rest] = (n_h - certain.sum()) * mos[idx][rest] / mos[idx][rest].sum()
            pi[certain] = 1.0
            new = rest & (pi >= 1)
            if not new.any():
                break
            certain |= new
        out[idx] = pi
    return out


def pps_segment_probabilities(cell_prob: Any, segment_prob: Any, selected: Any, listed: Any, *,
                              source: str = "households") -> np.ndarray:
    """π¹ = π_c · q_s · k_c / L_c for cell PPS, segment choice and SRS of k_c of L_c listed.

    >>> pps_segment_probabilities([0.5], [0.25], [10], [40]).tolist()
    [0.03125]
    """
    pc = validate_probabilities(cell_prob, column="cell_prob", source=source)
    qs = validate_probabilities(segment_prob, column="segment_prob", source=source)
    k = np.asarray(selected, dtype=float)
    big_l = np.asarray(listed, dtype=float)
    bad = ~((k >= 1) & (big_l >= k))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DesignError("households selected must be >= 1 and <= households listed",
                          where=format_where(source, row=i + 2, column="households_selected", value=k[i]),
                          fix=f"check the listing count ({big_l[i]}) and the number interviewed")
    return pc * qs * k / big_l


def list_srs_probabilities(stratum: Any, frame_sizes: dict, *, sample_sizes: dict | None = None,
                           source: str = "households") -> np.ndarray:
    """Stratified SRS from a list frame: π = n_h / N_h.

    ``sample_sizes`` defaults to the number of rows of each stratum in ``stratum``.

    >>> list_srs_probabilities(["a", "a", "b"], {"a": 20, "b": 5}).tolist()
    [0.1, 0.1, 0.2]
    """
    strata = pd.Series(stratum, dtype=object)
    counts = strata.value_counts().to_dict() if sample_sizes is None else sample_sizes
    out = np.empty(len(strata))
    for i, h in enumerate(strata):
        if h not in frame_sizes:
            raise DesignError("stratum has no frame size", where=format_where(source, row=i + 2, column="stratum",
                                                                                value=h),
                              fix="give the list-frame size N_h of every stratum")
        out[i] = counts[h] / frame_sizes[h]
    return validate_probabilities(out, source=source)


def _rgcs(households: pd.DataFrame, *, manifest: Any = None, lon_col: str = "lon", lat_col: str = "lat",
          source: str = "households", **_: Any) -> pd.DataFrame:
    if manifest is None:
        raise DesignError("the rgcs stage-1 method needs the design manifest", where=source,
                          fix="pass --design points.design.json")
    return from_manifest(households, manifest, lon_col=lon_col, lat_col=lat_col, source=source)


def _pps_segment(households: pd.DataFrame, *, source: str = "households", **_: Any) -> pd.DataFrame:
    cols = ["cell_prob", "segment_prob", "households_selected", "households_listed"]
    check_columns(households, cols, source=source)
    pi = pps_segment_probabilities(*(households[c] for c in cols), source=source)
    return pd.DataFrame({"stage1_prob": pi, "expected_hits": pi}, index=households.index)


def _list_srs(households: pd.DataFrame, *, frame_sizes: dict | None = None, stratum_col: str = "stratum",
              source: str = "households", **_: Any) -> pd.DataFrame:
    if frame_sizes is None:
        raise DesignError("the list-srs stage-1 method needs the frame size of each stratum", where=source,
                          fix="pass frame_sizes={stratum: N_h}")
    check_columns(households, [stratum_col], source=source)
    pi = list_srs_probabilities(households[stratum_col], frame_sizes, source=source)
    return pd.DataFrame({"stage1_prob": pi, "expected_hits": pi}, index=households.index)


def _column(households: pd.DataFrame, *, column: str = "stage1_prob", source: str = "households",
            rows: Any = None, **_: Any) -> pd.DataFrame:
    return from_column(households, column=column, source=source, rows=rows)


STAGE1_METHODS: dict[str, Callable[..., pd.DataFrame]] = {
    "rgcs": _rgcs,
    "pps-segment": _pps_segment,
    "list-srs": _list_srs,
    "column": _column,
}


def stage1_probabilities(households: pd.DataFrame, method: str | Callable = "column", **kwargs: Any) -> pd.DataFrame:
    """Stage-1 probabilities by a named method of :data:`STAGE1_METHODS` (or a callable).

    >>> hh = pd.DataFrame({"hh_id": [1, 2], "stage1_prob": [0.5, 0.2]})
    >>> stage1_probabilities(hh, "column")["stage1_prob"].tolist()
    [0.5, 0.2]
    """
    if callable(method):
        return method(households, **kwargs)
    if method not in STAGE1_METHODS:
        raise DesignError(f"unknown stage-1 method {method!r}", fix=f"use one of {', '.join(STAGE1_METHODS)}")
    return STAGE1_METHODS[method](households, **kwargs)
