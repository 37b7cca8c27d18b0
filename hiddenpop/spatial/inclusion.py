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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from hiddenpop._checks import check_columns
from hiddenpop.errors import DesignError, HiddenPopWarning, format_where, truncate_list
from hiddenpop.spatial.designs import densities_from_manifest, domain_geometries

__all__ = ["first_stage_probabilities", "FirstStageDesign", "DesignProvenance"]


@dataclass(frozen=True)
class DesignProvenance:
    """Where a design came from: what the report's technical details and an audit need.

    Attributes
    ----------
    format : str or None
        The manifest format tag (``hiddenpop.design/2``).
    toolkit : str or None
        Name and version of the program that drew the points (``hiddenpop 0.1.0``).
    created : str or None
        When the points were drawn (ISO 8601).
    inputs : Mapping[str, tuple[str, str]]
        Input files with a checksum: name (``frame``, ``exclusion``, ``raster``) → (path as
        recorded, SHA-256).
    """

    format: str | None = None
    toolkit: str | None = None
    created: str | None = None
    inputs: Mapping[str, tuple[str, str]] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> "DesignProvenance":
        """Read the provenance entries of a manifest dict (each one optional)."""
        tool = manifest.get("toolkit")
        files = manifest.get("inputs") if isinstance(manifest.get("inputs"), Mapping) else {}
        return cls(format=manifest.get("format"),
                   toolkit=f"{tool.get('name')} {tool.get('version')}" if isinstance(tool, Mapping) else None,
                   created=manifest.get("created"),
                   inputs=MappingProxyType({str(k): (str(v.get("path", "")), str(v["sha256"]))
                                            for k, v in files.items() if isinstance(v, Mapping) and v.get("sha256")}))


@dataclass(frozen=True, eq=False)
class FirstStageDesign:
    """The first-stage (RGCS) design, typed: what the rest of the package needs from a manifest.

    Build it once with :meth:`from_manifest` (from the manifest dict) or
    :func:`hiddenpop.io.spatial.read_design` (from the ``.design.json`` file); it then answers
    every question about the first stage: in which stratum a location lies (:meth:`locate`),
    whether it is in the frame (:meth:`in_frame`), and the households' first-stage probabilities
    (:meth:`probabilities`). Nothing outside this class and :mod:`hiddenpop.spatial.designs` (which
    writes manifests) reads the manifest dict. The densities and the unit index are built on first use.

    Attributes
    ----------
    crs_wkt : str
        The working (projected) CRS of the design, as WKT.
    radius_m : float or None
        Circle radius used in the field (``None`` when the manifest has none).
    n_points : Mapping[str, int]
        Points drawn per stratum (main sample).
    stage1_exact : bool
        False when ``1 - (1 - p)^n`` is an approximation (balanced or minimum-distance designs).
    manifest : Mapping
        The manifest as read (read-only), for the spatial stage's own decoders.
    method, density : str or None
        How the points were drawn (``uniform``, ``pps``, ``balanced``, …) and the point density
        (``uniform``, ``size``, ``raster``).
    stratum_areas_m2 : Mapping[str, float]
        Area of each stratum (m², working CRS; strata without a recorded area are left out).
    allocation_rule, allocation_basis : str or None
        How the points were split between strata (``proportional`` to ``area``, …).
    excluded_area_m2 : float or None
        Area of the exclusion layer inside the frame (``None`` without one).
    crs_name : str or None
        The working CRS in words (how it was chosen, or its name).
    rng_seed : int or None
        The random seed the points were drawn with (``frame sample --rng-seed``).
    replacement_reasons : Mapping[str, str]
        Why a point may be replaced by a reserve: reason → meaning (an empty point never is).
    provenance : DesignProvenance
        Format, toolkit, creation time and input files.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> from hiddenpop.spatial import SamplingFrame, sample_points
    >>> units = gpd.GeoDataFrame({"unit_id": ["A"]}, geometry=[box(29.0, 41.0, 29.1, 41.1)], crs=4326)
    >>> d = FirstStageDesign.from_manifest(sample_points(SamplingFrame(units), n=3, radius_m=100, rng=1).manifest)
    >>> d.radius_m, dict(d.n_points), d.in_frame([29.05, 30.0], [41.05, 41.05]).tolist()
    (100.0, {'all': 3}, [True, False])
    >>> d.strata, d.n_total, d.method, d.rng_seed   # the area: 0.1° × 0.1° at 41° N ≈ 8.4 km × 11.1 km
    (('all',), 3, 'uniform', 1)
    >>> round(d.stratum_areas_m2["all"] / 1e6)
    93
    """

    crs_wkt: str
    radius_m: float | None
    n_points: Mapping[str, int]
    stage1_exact: bool
    manifest: Mapping[str, Any] = field(repr=False)
    method: str | None = None
    density: str | None = None
    stratum_areas_m2: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    allocation_rule: str | None = None
    allocation_basis: str | None = None
    excluded_area_m2: float | None = None
    crs_name: str | None = None
    rng_seed: int | None = None
    replacement_reasons: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    provenance: DesignProvenance = field(default_factory=DesignProvenance, repr=False)

    @property
    def strata(self) -> tuple[str, ...]:
        """The strata, in the manifest's order."""
        return tuple(self.n_points)

    @property
    def n_total(self) -> int:
        """Points drawn in all strata (main sample, reserves not counted)."""
        return sum(self.n_points.values())

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], *, radius_m: float | None = None) -> "FirstStageDesign":
        """Decode a manifest dict (``radius_m`` overrides the manifest's radius, e.g. when the field
        protocol changed).

        Raises
        ------
        DesignError
            A manifest without CRS, strata or unit polygons.
        """
        if isinstance(manifest, FirstStageDesign):
            return manifest if radius_m is None else replace(manifest, radius_m=float(radius_m))
        try:
            crs_wkt = str(manifest["crs"]["wkt"])
            strata = manifest["strata"]
            n_points = MappingProxyType({str(k): int(v["n"]) for k, v in strata.items()})
            manifest["domains"].items()
        except (KeyError, TypeError, AttributeError) as exc:
            raise DesignError(f"the manifest lacks {exc}",
                              fix="give the .design.json written by 'hiddenpop frame sample'") from exc
        radius = radius_m if radius_m is not None else manifest.get("radius_m")
        exact = (manifest.get("inclusion") or {}).get("stage1_exact", True)
        crs, alloc, excl = manifest["crs"], manifest.get("allocation"), manifest.get("exclusion")
        alloc = alloc if isinstance(alloc, Mapping) else {}
        reasons = (manifest.get("reserves") or {}).get("allowed_reasons") or {}
        seed = manifest.get("rng_seed")
        return cls(crs_wkt=crs_wkt, radius_m=None if radius is None else float(radius), n_points=n_points,
                   stage1_exact=bool(exact), manifest=MappingProxyType(dict(manifest)),
                   method=manifest.get("method"), density=manifest.get("density"),
                   stratum_areas_m2=MappingProxyType({str(k): float(v["area_m2"]) for k, v in strata.items()
                                                      if v.get("area_m2") is not None}),
                   allocation_rule=alloc.get("rule"), allocation_basis=alloc.get("basis"),
                   excluded_area_m2=float(excl["area_m2"]) if isinstance(excl, Mapping) and excl.get("area_m2")
                   else None,
                   crs_name=crs.get("choice", crs.get("name")) if isinstance(crs, Mapping) else None,
                   rng_seed=None if seed is None else int(seed),
                   replacement_reasons=MappingProxyType({str(k): str(v) for k, v in dict(reasons).items()}),
                   provenance=DesignProvenance.from_manifest(manifest))

    @cached_property
    def densities(self) -> dict[str, Any]:
        """Point density of every stratum (:func:`hiddenpop.spatial.designs.densities_from_manifest`)."""
        return densities_from_manifest(dict(self.manifest))

    @cached_property
    def _to_work(self) -> Transformer:
        return Transformer.from_crs(CRS.from_epsg(4326), CRS.from_wkt(self.crs_wkt), always_xy=True)

    @cached_property
    def _unit_trees(self) -> dict[str, shapely.STRtree]:
        return {label: shapely.STRtree(domain_geometries(info)) for label, info in self.manifest["domains"].items()}

    def to_working(self, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 longitude/latitude → working-CRS coordinates."""
        x, y = self._to_work.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x, float), np.asarray(y, float)

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Stratum of every working-CRS location (``None`` outside the frame's units).

        Uses the units of each stratum, not the exclusion-clipped pieces: a household in an
        excluded area is in the frame but has ``p_hit`` 0 unless a circle reaches it.
        """
        strata = np.full(len(x), None, dtype=object)
        pts = shapely.points(x, y)
        for label, tree in self._unit_trees.items():
            hi, _ = tree.query(pts, predicate="intersects")
            hi = np.unique(hi)
            strata[hi[pd.isna(strata[hi])]] = label
        return strata

    def in_frame(self, lon: Any, lat: Any) -> np.ndarray:
        """True where a WGS84 location lies in a unit of the frame (False for missing or impossible ones).

        A household outside the frame (e.g. beyond the frame's edge) cannot be reached by the
        first stage: its π¹ is 0. It can still be reached by referral.
        """
        lon = np.asarray(lon, float)
        lat = np.asarray(lat, float)
        ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        out = np.zeros(len(lon), bool)
        if ok.any():
            x, y = self.to_working(lon[ok], lat[ok])
            out[np.flatnonzero(ok)] = pd.notna(self.locate(x, y))
        return out

    def probabilities(self, households: pd.DataFrame, *, lon_col: str = "lon", lat_col: str = "lat",
                      stratum_col: str | None = None, source: str = "households") -> pd.DataFrame:
        """Per-household ``stratum, p_hit, expected_hits, stage1_prob, n_points`` (same index)."""
        if not (self.radius_m or 0) > 0:
            raise DesignError("the design has no circle radius", where="manifest 'radius_m'",
                              fix="draw the points with --radius R, or pass the radius used in the field (--radius)")
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
        x, y = self.to_working(lon, lat)
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
            n_pts[sel] = self.n_points[label]
        out = pd.DataFrame({
            "stratum": strata.astype(str),
            "p_hit": p,
            "expected_hits": n_pts * p,
            "stage1_prob": -np.expm1(n_pts * np.log1p(-np.minimum(p, 1.0))),
            "n_points": n_pts,
        }, index=households.index)
        if not self.stage1_exact:
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
        The design: a :class:`FirstStageDesign` (:func:`hiddenpop.io.spatial.read_design`) or the
        manifest dict.
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
    design = FirstStageDesign.from_manifest(manifest, radius_m=radius_m)
    return design.probabilities(households, lon_col=lon_col, lat_col=lat_col, stratum_col=stratum_col,
                                source=source)
