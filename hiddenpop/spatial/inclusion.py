"""First-stage inclusion probabilities of households under an RGCS design.

For a household at ``x`` in stratum ``h`` with ``n_h`` points and circle radius ``R``
(docs/methods.md, 'Stage 1: points, circles and inclusion probabilities'):

* ``p_hit``: per-draw probability that a point falls within ``R`` of ``x`` — the point
  density's mass on ``Disc(x, R)`` clipped to the stratum minus the exclusions (edge
  correction), computed with exact disc–polygon areas;
* ``expected_hits = n_h · p_hit`` (exact for every design, the Hansen–Hurwitz quantity);
* ``stage1_prob = 1 − (1 − p_hit)^{n_h}`` (exact for independent points; the manifest says
  when it is an approximation).
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from hiddenpop._checks import check_columns
from hiddenpop.errors import DesignError, HiddenPopWarning, format_where, truncate_list
from hiddenpop.spatial.designs import densities_from_manifest, domain_geometries

__all__ = ["first_stage_probabilities", "FirstStageDesign"]


class FirstStageDesign:
    """A design manifest prepared for repeated probability queries (densities built once).

    Parameters
    ----------
    manifest
        The design manifest (dict), or a path to it (read with :func:`hiddenpop.io.spatial.read_manifest`).
    radius_m
        Override the manifest's radius (e.g. when the field protocol changed); default: the manifest's.
    """

    def __init__(self, manifest: Any, *, radius_m: float | None = None):
        if not isinstance(manifest, dict):
            from hiddenpop.io.spatial import read_manifest

            manifest = read_manifest(manifest)
        self.manifest = manifest
        self.radius_m = float(radius_m if radius_m is not None else (manifest.get("radius_m") or 0))
        if not self.radius_m > 0:
            raise DesignError("the design has no circle radius", where="manifest 'radius_m'",
                              fix="draw the points with --radius R, or pass the radius used in the field (--radius)")
        self.densities = densities_from_manifest(manifest)
        self.n = {k: int(v["n"]) for k, v in manifest["strata"].items()}
        self._to_work = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_wkt(manifest["crs"]["wkt"]), always_xy=True)
        self._unit_trees: dict[str, shapely.STRtree] | None = None  # built on the first location query

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Stratum of every working-CRS location (``None`` outside the frame's units).

        Uses the units of each stratum, not the exclusion-clipped pieces: a household in an
        excluded area is in the frame but has ``p_hit`` 0 unless a circle reaches it.
        """
        if self._unit_trees is None:
            self._unit_trees = {label: shapely.STRtree(domain_geometries(info))
                                for label, info in self.manifest["domains"].items()}
        strata = np.full(len(x), None, dtype=object)
        pts = shapely.points(x, y)
        for label, tree in self._unit_trees.items():
            hi, _ = tree.query(pts, predicate="intersects")
            hi = np.unique(hi)
            strata[hi[pd.isna(strata[hi])]] = label
        return strata

    def probabilities(self, households: pd.DataFrame, *, lon_col: str = "lon", lat_col: str = "lat",
                      stratum_col: str | None = None, source: str = "households") -> pd.DataFrame:
        """Per-household ``stratum, p_hit, expected_hits, stage1_prob, n_points`` (same index)."""
        check_columns(households, [lon_col, lat_col, stratum_col], source=source)
        lon = pd.to_numeric(households[lon_col], errors="coerce").to_numpy(float)
        lat = pd.to_numeric(households[lat_col], errors="coerce").to_numpy(float)
        bad = np.flatnonzero(~(np.isfinite(lon) & np.isfinite(lat)) | (np.abs(lat) > 90) | (np.abs(lon) > 180))
        if len(bad):
            k = int(bad[0])
            raise DesignError(f"missing or impossible household location ({len(bad)} rows; file rows "
                              f"{truncate_list(bad + 2)})",
                              where=format_where(source, row=k + 2, column=lon_col,
                                                 value=f"{households[lon_col].iloc[k]}, {households[lat_col].iloc[k]}"),
                              fix="give every household its GPS location in decimal degrees (WGS84)")
        x, y = self._to_work.transform(lon, lat)
        x, y = np.asarray(x, float), np.asarray(y, float)
        if stratum_col is not None:
            strata = households[stratum_col].astype(str).to_numpy(dtype=object)
            unknown = sorted(set(strata) - set(self.densities))
            if unknown:
                k = int(np.flatnonzero(strata == unknown[0])[0])
                raise DesignError(f"stratum not in the design (design strata: {truncate_list(sorted(self.densities))})",
                                  where=format_where(source, row=k + 2, column=stratum_col, value=unknown[0]),
                                  fix="use the stratum labels of the frame")
        else:
            strata = self.locate(x, y)
        missing = np.flatnonzero(pd.isna(strata))
        if len(missing):
            k = int(missing[0])
            raise DesignError(f"household location outside the sampling frame ({len(missing)} rows; file rows "
                              f"{truncate_list(missing + 2)})",
                              where=format_where(source, row=k + 2, column=f"{lon_col}/{lat_col}",
                                                 value=f"{lon[k]}, {lat[k]}"),
                              fix="check the GPS fix (lon/lat order, decimal degrees); households outside the frame "
                                  "cannot be reached by the first stage")
        p = np.zeros(len(households))
        n_pts = np.zeros(len(households), dtype=int)
        for label in sorted(set(strata)):
            sel = strata == label
            p[sel] = self.densities[label].disc_mass(x[sel], y[sel], self.radius_m)
            n_pts[sel] = self.n[label]
        out = pd.DataFrame({
            "stratum": strata.astype(str),
            "p_hit": p,
            "expected_hits": n_pts * p,
            "stage1_prob": -np.expm1(n_pts * np.log1p(-np.minimum(p, 1.0))),
            "n_points": n_pts,
        }, index=households.index)
        if not self.manifest.get("inclusion", {}).get("stage1_exact", True):
            warnings.warn("stage1_prob uses the independent-points formula, an approximation for this design "
                          "(balanced or minimum distance); expected_hits is exact", HiddenPopWarning, stacklevel=3)
        return out


def first_stage_probabilities(manifest: Any, households: pd.DataFrame, *, lon_col: str = "lon",
                              lat_col: str = "lat", stratum_col: str | None = None,
                              radius_m: float | None = None, source: str = "households") -> pd.DataFrame:
    """First-stage probabilities of households under the manifest's RGCS design.

    Parameters
    ----------
    manifest
        Design manifest (dict) or path to the ``.design.json`` file.
    households
        One row per household with WGS84 ``lon``/``lat`` columns.
    lon_col, lat_col
        Location columns (decimal degrees).
    stratum_col
        Stratum column of the households; default: found from the location.
    radius_m
        Radius override (default: the manifest's ``radius_m``).
    source
        Name used in error messages (e.g. the file name).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``households``: ``stratum``, ``p_hit``, ``expected_hits``,
        ``stage1_prob``, ``n_points``.

    Raises
    ------
    DesignError
        Missing or out-of-frame household locations (the message names the rows).

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd
    >>> from shapely.geometry import box
    >>> from hiddenpop.spatial import SamplingFrame, sample_points
    >>> units = gpd.GeoDataFrame({"unit_id": ["A"]}, geometry=[box(29.0, 41.0, 29.1, 41.1)], crs=4326)
    >>> s = sample_points(SamplingFrame(units), n=10, radius_m=100, rng=1)
    >>> hh = pd.DataFrame({"lon": [29.05], "lat": [41.05]})
    >>> out = first_stage_probabilities(s.manifest, hh)
    >>> area = s.manifest["strata"]["all"]["area_m2"]
    >>> bool(abs(out.p_hit[0] - 3.141592653589793 * 100**2 / area) < 1e-12)  # interior: pi R^2 / A
    True
    """
    design = FirstStageDesign(manifest, radius_m=radius_m)
    return design.probabilities(households, lon_col=lon_col, lat_col=lat_col, stratum_col=stratum_col,
                                source=source)
