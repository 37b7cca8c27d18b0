"""First-stage designs: stratified random points with reserves and a design manifest.

:func:`sample_points` draws, in every stratum, ``n_h`` main points plus ``reserve`` ordered
reserve points from a point density (uniform, by size column, by raster):

``uniform`` / ``pps``  independent (i.i.d.) points; reserves are the next draws of the same
                       sequence, so the main points plus the first k reserves are again an
                       i.i.d. sample (any prefix keeps the design).
``balanced``           a dense candidate set is drawn i.i.d. from the density and a spatially
                       balanced subset is selected with GRTS or the local pivotal method
                       (equal inclusion probability per candidate); reserves follow the
                       rotated reverse hierarchical order (:func:`~hiddenpop.spatial.balanced.reserve_order`).

**An empty point is a valid zero.** A point where no refugee household lives is an
observation (z_t = 0), never a reason to use a reserve. Reserves replace a point only when
it cannot be reached (inaccessible, unsafe, access refused), and every use is recorded with
:func:`record_replacement`.

The manifest (docs/data-contract.md, 'Design manifest and points') embeds the stratum domains (units in the
working CRS, sizes, exclusion layer, raster window), so :func:`hiddenpop.spatial.first_stage_probabilities`
recomputes any household's probability from the manifest alone.
"""
from __future__ import annotations

import base64
import dataclasses
import re
import warnings
import zlib
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from hiddenpop._checks import check_rng
from hiddenpop.errors import DesignError, FrameError, HiddenPopWarning
from hiddenpop.spatial.allocation import allocate, parse_allocation
from hiddenpop.spatial.balanced import BALANCED_METHODS, reserve_order, spatial_balance
from hiddenpop.spatial.density import PointDensity, RasterLayer
from hiddenpop.spatial.frame import SamplingFrame, check_overlaps, check_stratum_sizes, choose_working_crs
from hiddenpop.spatial.geometry import polygon_parts, snap_to_grid

__all__ = [
    "PointSample",
    "sample_points",
    "SAMPLING_METHODS",
    "REPLACEMENT_REASONS",
    "record_replacement",
    "with_provenance",
    "densities_from_manifest",
    "domain_geometries",
    "MANIFEST_FORMAT",
    "MANIFEST_FORMATS_READ",
]

#: Format tag written into new manifests. Version 2 stores each stratum's unit polygons as one
#: compact block ``domains.<stratum>.geometry`` (coordinates on a 1 mm grid, delta-encoded and
#: zlib-compressed, see :func:`_pack_geometries`), the exclusion as ``exclusion.geometry`` and the
#: raster window as ``raster.values_zlib``. Version 1 (one base64 WKB per unit, ``units[i].wkb``)
#: is still read.
MANIFEST_FORMAT = "hiddenpop.design/2"
#: Manifest formats :func:`densities_from_manifest` and :func:`hiddenpop.io.spatial.read_manifest` accept.
MANIFEST_FORMATS_READ = ("hiddenpop.design/1", "hiddenpop.design/2")

#: Sampling methods: name → description (the CLI's ``--method`` choices).
SAMPLING_METHODS: dict[str, str] = {
    "uniform": "independent random points, uniform over the area (or the --density given)",
    "pps": "independent random points with density proportional to --size-col or --raster",
    "balanced": "spatially balanced points (GRTS or local pivotal method) from a dense candidate set",
}

#: Reasons for which a reserve may replace a point. "Nobody lives there" is NOT one of them.
REPLACEMENT_REASONS: dict[str, str] = {
    "inaccessible": "the point cannot be reached (water, fenced, no road)",
    "unsafe": "the team judged the location unsafe",
    "access_refused": "access to the area was refused by authorities or owners",
    "outside_frame": "the point falls in an area that should have been excluded (e.g. a military zone)",
}

_EMPTY_WORDS = ("empty", "no_household", "no household", "nobody", "no refugee", "no_refugee", "zero")


@dataclasses.dataclass(frozen=True)
class PointSample:
    """Points of a first-stage design and its manifest.

    Attributes
    ----------
    points
        GeoDataFrame in WGS84 (EPSG:4326), one row per point: ``point_id``, ``stratum``,
        ``unit_id``, ``lon``, ``lat``, ``reserve_rank`` (0 = main sample, 1, 2, … = ordered
        reserves), ``radius_m``, ``draw_density_km2`` (per-draw density at the point, per km²),
        ``inclusion_prob`` (candidate inclusion probability, balanced designs only).
    manifest
        The design manifest (a JSON-ready dict, docs/data-contract.md, 'Design manifest and points').
    """

    points: gpd.GeoDataFrame
    manifest: dict

    @property
    def main(self) -> gpd.GeoDataFrame:
        """The main sample (``reserve_rank == 0``)."""
        return self.points[self.points["reserve_rank"] == 0]


def _b64(geom: Any) -> str:
    return base64.b64encode(shapely.to_wkb(geom, output_dimension=2, byte_order=1)).decode("ascii")


def _unb64(text: str) -> Any:
    return shapely.from_wkb(base64.b64decode(text))


#: Grid (metres, working CRS) to which the stored domain coordinates are rounded.
GRID_M = 0.001
_SCALE = 1000.0  # 1 / GRID_M, as GEOS's fixed precision model uses it


def _b64z(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, 6)).decode("ascii")


def _unb64z(text: str) -> bytes:
    return zlib.decompress(base64.b64decode(text))


def _repair_projected(frame: SamplingFrame, geoms: np.ndarray) -> np.ndarray:
    """Repair polygons that are valid in the frame's CRS but self-intersect once projected.

    Projecting only moves vertices, so two long edges that pass close to each other (Sudan and
    Mozambique in Natural Earth's 1:110m countries, projected to a LAEA centred on Africa) can
    cross. Such a unit is repaired (GEOS ``make_valid``, polygonal parts kept) with a warning that
    names it and the relative change of its area; a change above 1e-4 is refused (the crossing
    is then more than a digitising artefact).
    """
    bad = np.flatnonzero(~shapely.is_valid(geoms))
    if len(bad) == 0:
        return geoms
    geoms = geoms.copy()
    ids = frame.unit_ids.to_numpy()
    for k in bad:
        reason = shapely.is_valid_reason(geoms[k])
        fixed = shapely.make_valid(geoms[k], method="structure", keep_collapsed=False)
        parts = polygon_parts(fixed)
        fixed = shapely.multipolygons(parts) if len(parts) > 1 else (parts[0] if parts else fixed)
        before, after = float(shapely.area(geoms[k])), float(shapely.area(fixed))
        change = abs(after - before) / max(abs(before), 1e-300)
        where = f"{frame.source or 'frame'}, feature {k + 1}, column '{frame.id_col}', value {ids[k]!r}"
        if not parts or change > 1e-4:
            raise FrameError(f"the polygon crosses itself in the working CRS "
                             f"({reason}) and cannot be repaired without changing its "
                             f"area by {change:.2g}", where=where,
                             fix="split the frame into smaller regions, or pass a local --working-crs (e.g. a UTM zone)")
        geoms[k] = fixed
        warnings.warn(f"{where}: the polygon crosses itself once projected to the working CRS "
                      f"({reason}); repaired (area changed by {change:.1e} relative)", HiddenPopWarning, stacklevel=3)
    return geoms


def _pack_geometries(geoms: Any, *, where: str = "frame", features: Any = None, ids: Any = None,
                     id_col: str = "unit_id") -> tuple[dict, np.ndarray]:
    """Polygons → a compact, deterministic text block, and the polygons the block decodes to.

    Coordinates are rounded to the 1 mm grid (:data:`GRID_M`); a polygon that rounding would
    make invalid is snap-rounded instead (GEOS ``set_precision``, valid output). The integer
    millimetre coordinates are delta-encoded along the rings, zigzag-mapped, split into byte
    planes and zlib-compressed (level 6); ring/part/polygon offsets are stored alongside.
    The design uses the *decoded* polygons everywhere, so drawing and inclusion probabilities
    agree exactly with what the manifest holds.
    """
    q = snap_to_grid(geoms, GRID_M)
    gone = np.flatnonzero(shapely.is_empty(q) | (shapely.area(q) <= 0))
    if len(gone):
        k = int(gone[0])
        feature = int(features[k]) + 1 if features is not None else k + 1
        raise FrameError(f"{len(gone)} polygon(s) vanish when coordinates are rounded to {GRID_M * 1000:g} mm "
                         f"(a sliver of {float(shapely.area(np.asarray(geoms, dtype=object)[k])):.3g} m²)",
                         where=f"{where}, feature {feature}" + (f", column '{id_col}', value {ids[k]!r}" if ids is not None else ""),
                         fix="remove slivers smaller than a millimetre (QGIS 'Remove small parts')")
    single = shapely.get_type_id(q) == 3
    gtype, coords, offsets = shapely.to_ragged_array(q)
    ints = np.round(coords * _SCALE).astype(np.int64)
    delta = np.diff(ints, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    zigzag = ((delta << 1) ^ (delta >> 63)).astype("<u8")
    planes = np.ascontiguousarray(zigzag).view(np.uint8).reshape(-1, 8).T.tobytes()
    block = {
        "encoding": "mm-delta-zigzag-byteplanes+zlib+base64",
        "grid_m": GRID_M,
        "geometry_type": int(gtype),
        "n_coords": int(len(coords)),
        "coords": _b64z(planes),
        "offsets": [_b64z(np.asarray(o, dtype="<i8").tobytes()) for o in offsets],
        "single_polygon": _b64z(np.packbits(single).tobytes()) if gtype == shapely.GeometryType.MULTIPOLYGON else None,
    }
    return block, _unpack_geometries(block)


def _unpack_geometries(block: dict) -> np.ndarray:
    if "wkb_zlib" in block:  # a plain WKB block
        raw = _unb64z(block["wkb_zlib"])
        ends = np.cumsum(block["wkb_lengths"])
        starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
        return shapely.from_wkb(np.array([raw[a:b] for a, b in zip(starts, ends)], dtype=object))
    n = int(block["n_coords"])
    try:
        planes = np.frombuffer(_unb64z(block["coords"]), dtype=np.uint8).reshape(8, 2 * n)
        zigzag = np.ascontiguousarray(planes.T).view("<u8").reshape(n, 2).astype(np.uint64)
    except (ValueError, zlib.error) as exc:
        raise DesignError(f"the manifest's geometry block is damaged ({exc})",
                          fix="use the .design.json written by 'hiddenpop frame sample', unedited") from exc
    delta = (zigzag >> np.uint64(1)).astype(np.int64) ^ -(zigzag & np.uint64(1)).astype(np.int64)
    coords = np.cumsum(delta, axis=0) / _SCALE
    offsets = tuple(np.frombuffer(_unb64z(o), dtype="<i8") for o in block["offsets"])
    geoms = shapely.from_ragged_array(shapely.GeometryType(block["geometry_type"]), coords, offsets)
    if block.get("single_polygon"):
        single = np.unpackbits(np.frombuffer(_unb64z(block["single_polygon"]), dtype=np.uint8))[: len(geoms)].astype(bool)
        geoms[single] = shapely.get_geometry(geoms[single], 0)
    return geoms


def domain_geometries(info: dict) -> np.ndarray:
    """Unit polygons (working CRS) of one stratum's ``domains`` entry (manifest format 1 or 2)."""
    if "geometry" in info:
        return _unpack_geometries(info["geometry"])
    return np.array([_unb64(u["wkb"]) for u in info["units"]], dtype=object)


def _exclusion_from_manifest(manifest: dict) -> Any:
    ex = manifest.get("exclusion")
    if not ex:
        return None
    if "geometry" in ex:
        return _unpack_geometries(ex["geometry"])[0]
    return _unb64(ex["wkb"])


def _stratum_code(label: str, used: set[str]) -> str:
    code = re.sub(r"[^A-Za-z0-9]", "", str(label)).upper()[:6] or "S"
    base, k = code, 2
    while code in used:
        code = f"{base}{k}"
        k += 1
    used.add(code)
    return code


def _exclusion_geometry(exclusion: Any, working: CRS) -> Any:
    if exclusion is None:
        return None
    if isinstance(exclusion, (gpd.GeoDataFrame, gpd.GeoSeries)):
        series = exclusion.geometry if isinstance(exclusion, gpd.GeoDataFrame) else exclusion
        if series.crs is None:
            raise FrameError("the exclusion layer has no CRS", where=str(exclusion.attrs.get("source", "exclusion")),
                             fix="set the CRS in the file")
        geoms = series.to_crs(working).to_numpy()
    elif isinstance(exclusion, shapely.Geometry):
        geoms = np.array([exclusion], dtype=object)
    else:
        raise DesignError(f"exclusion must be a GeoDataFrame, GeoSeries or shapely geometry, got {type(exclusion).__name__}")
    geoms = geoms[~(pd.isna(geoms) | shapely.is_empty(geoms))]
    if len(geoms) == 0:
        return None
    geoms = shapely.make_valid(geoms)
    return shapely.union_all(geoms)


def _domain_pieces(units: np.ndarray, exclusion: Any) -> np.ndarray:
    if exclusion is None:
        return units
    shapely.prepare(exclusion)
    hit = shapely.intersects(exclusion, units)
    out = units.copy()
    if hit.any():
        out[hit] = shapely.difference(units[hit], exclusion)
    return out


def densities_from_manifest(manifest: dict) -> dict[str, PointDensity]:
    """Rebuild every stratum's :class:`PointDensity` from a manifest (working CRS)."""
    try:
        kind = manifest["density"]
        strata = manifest["domains"]
        working = manifest["crs"]["wkt"]
    except (KeyError, TypeError) as exc:
        raise DesignError(f"the manifest lacks {exc}", fix="give the .design.json written by 'hiddenpop frame sample'") from exc
    exclusion = _exclusion_from_manifest(manifest)
    raster = None
    if kind == "raster":
        r = manifest["raster"]
        raw = zlib.decompress(base64.b64decode(r["values_zlib"])) if "values_zlib" in r else base64.b64decode(r["values"])
        values = np.frombuffer(raw, dtype="<f8").reshape(r["shape"])
        raster = RasterLayer(values=values, transform=tuple(r["transform"]), crs=r["crs_wkt"], nodata=None,
                             source=r.get("path"))
    if kind not in ("uniform", "size", "raster"):
        raise DesignError(f"unknown density {kind!r} in the manifest", where="manifest 'density'",
                          fix="give the .design.json written by 'hiddenpop frame sample', unedited")
    out = {}
    for label in sorted(strata):
        units = strata[label]["units"]
        geoms = domain_geometries(strata[label])
        ids = [u["unit_id"] for u in units]
        pieces = _domain_pieces(geoms, exclusion)
        try:
            if kind == "uniform":
                out[label] = PointDensity.uniform(pieces, ids)
            elif kind == "size":
                out[label] = PointDensity.from_sizes(pieces, [u["size"] for u in units], ids)
            else:
                out[label] = PointDensity.from_raster(pieces, ids, raster, working)
        except DesignError as exc:
            raise DesignError(exc.message, where=f"stratum {label!r}",
                              fix="the exclusion layer covers all of this stratum, or its sizes (raster cells) are "
                                  "all 0 where it is not excluded: correct the layer, or drop the stratum") from None
    return out


def _min_distance_capacity(density: PointDensity, d: float) -> float:
    # Discs of radius d/2 around points d apart are disjoint and lie in the domain grown by
    # d/2; hexagonal packing is the densest, so n <= area(grown) / (sqrt(3)/2 d^2).
    grown = shapely.area(shapely.buffer(shapely.union_all(density.pieces), d / 2, quad_segs=8))
    return float(grown / (np.sqrt(3) / 2 * d * d))


def _draw_iid(density: PointDensity, m: int, rng: np.random.Generator, min_distance: float | None,
              accepted: list[np.ndarray], label: str, max_tries: int) -> tuple[np.ndarray, np.ndarray]:
    if not min_distance:
        return density.sample(m, rng=rng)
    xs, pieces, done, tries = [], [], 0, 0
    others = np.concatenate(accepted) if accepted else np.empty((0, 2))
    mine = np.empty((0, 2))
    d2 = min_distance * min_distance
    while done < m:
        batch = max(64, 4 * (m - done))
        xy, pc = density.sample(batch, rng=rng)
        for k in range(batch):
            tries += 1
            p = xy[k]
            ok = True
            if len(others) and (((others - p) ** 2).sum(axis=1) < d2).any():
                ok = False
            if ok and len(mine) and (((mine - p) ** 2).sum(axis=1) < d2).any():
                ok = False
            if ok:
                mine = np.vstack([mine, p])
                xs.append(p)
                pieces.append(pc[k])
                done += 1
                if done == m:
                    break
            if tries >= max_tries:
                raise DesignError(
                    f"could only place {done} of {m} points at least {min_distance:g} m apart after {tries} draws",
                    where=f"stratum {label!r}",
                    fix="lower --min-distance, or fewer points/reserves in this stratum")
    return np.array(xs), np.array(pieces, dtype=np.int64)


def sample_points(
    frame: SamplingFrame,
    *,
    n: int | None = None,
    method: str = "uniform",
    allocation: Any = "proportional",
    rng: Any,
    density: str | None = None,
    balance: str = "grts",
    radius_m: float | None = None,
    reserve: int = 0,
    min_distance_m: float | None = None,
    exclusion: Any = None,
    raster: RasterLayer | None = None,
    variability_col: str | None = None,
    crs: Any = None,
    n_candidates: int | None = None,
    point_prefix: str = "P",
    progress: Callable[[int], None] | None = None,
) -> PointSample:
    """Draw stratified first-stage points with reserves; return points and manifest.

    Parameters
    ----------
    frame
        The validated frame.
    n
        Total number of main points (split by ``allocation``); not needed for a fixed table.
    method
        ``'uniform'``, ``'pps'`` or ``'balanced'`` (:data:`SAMPLING_METHODS`).
    allocation
        ``'proportional'`` (to area, or to size for size/raster densities), ``'equal'``,
        ``'neyman'``, ``'min:K'``, or a mapping stratum → n.
    rng
        Random generator or integer seed (required).
    density
        ``'uniform'``, ``'size'`` or ``'raster'``; default: raster if given, size for ``pps``,
        uniform otherwise. ``balanced`` designs draw their candidates from it.
    balance
        ``'grts'`` or ``'lpm'`` for ``method='balanced'``.
    radius_m
        RGCS circle radius in metres (recorded; used for inclusion probabilities).
    reserve
        Ordered reserve points per stratum.
    min_distance_m
        Minimum distance between any two points (main and reserve, all strata), in metres.
        Only for independent points (sequential inhibition: draws too close to an earlier
        point are skipped).
    exclusion
        Areas where no point may fall (GeoDataFrame/GeoSeries/shapely geometry).
    raster
        Population raster for ``density='raster'`` (same CRS as the frame).
    variability_col
        Column with a variability value per unit (Neyman allocation).
    crs
        Working CRS override (default: LAEA centred on the frame).
    n_candidates
        Candidates per stratum for balanced designs (default ``max(2000, 50 × (n_h + reserve))``).
    point_prefix
        First part of the point ids (``P-IST-0007``).
    progress
        Optional callback, called with 1 after each stratum.

    Returns
    -------
    PointSample

    Raises
    ------
    DesignError, FrameError
        Impossible designs (n too large for the minimum distance, zero-size strata for PPS,
        unknown options) and bad inputs.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> units = gpd.GeoDataFrame({"unit_id": ["A", "B"], "region": ["N", "S"]},
    ...     geometry=[box(29.0, 41.0, 29.1, 41.1), box(29.0, 40.9, 29.1, 41.0)], crs=4326)
    >>> frame = SamplingFrame(units, stratum_col="region")
    >>> s = sample_points(frame, n=6, reserve=2, radius_m=150, rng=7)
    >>> s.points[["point_id", "stratum", "reserve_rank"]].head(4).values.tolist()
    [['P-N-0001', 'N', 0], ['P-N-0002', 'N', 0], ['P-N-0003', 'N', 0], ['P-N-0004', 'N', 1]]
    >>> s.manifest["strata"]["S"]["n"]
    3
    """
    rng_in = rng
    rng = check_rng(rng)
    if method not in SAMPLING_METHODS:
        raise DesignError(f"unknown method {method!r}", fix=f"use one of {', '.join(SAMPLING_METHODS)}")
    if density is None:
        density = "raster" if raster is not None else ("size" if method == "pps" else "uniform")
    if method == "pps" and density == "uniform":
        raise DesignError("method 'pps' needs a size column or a raster",
                          fix="pass --size-col COLUMN or --raster FILE.tif")
    if density == "size" and frame.size_col is None:
        raise DesignError("a size-proportional density needs a size column", fix="pass --size-col COLUMN")
    if density == "raster" and raster is None:
        raise DesignError("a raster density needs a raster", fix="pass --raster FILE.tif")
    if density not in ("uniform", "size", "raster"):
        raise DesignError(f"unknown density {density!r}", fix="use uniform, size or raster")
    if method == "balanced" and balance not in BALANCED_METHODS:
        raise DesignError(f"unknown balanced method {balance!r}", fix=f"use one of {', '.join(BALANCED_METHODS)}")
    if reserve < 0:
        raise DesignError(f"reserve must be >= 0, got {reserve}")
    if radius_m is not None and not (np.isfinite(radius_m) and radius_m > 0):
        raise DesignError(f"the radius must be a positive number of metres, got {radius_m!r}", where="--radius")
    if min_distance_m is not None and not (np.isfinite(min_distance_m) and min_distance_m >= 0):
        raise DesignError(f"the minimum distance must be >= 0 metres, got {min_distance_m!r}", where="--min-distance")
    if min_distance_m and method == "balanced":
        raise DesignError("a minimum distance is not combined with balanced designs (they already spread points)",
                          fix="drop --min-distance, or use --method uniform/pps with --min-distance")
    if variability_col is not None and variability_col not in frame.units.columns:
        raise DesignError(f"column {variability_col!r} not found", where=frame.source or "frame",
                          fix="name an existing column with --variability-col")
    if raster is not None:
        if not CRS.from_user_input(raster.crs).equals(CRS.from_user_input(frame.units.crs)):
            raise FrameError(
                f"the raster's CRS ({CRS.from_user_input(raster.crs).name}) differs from the frame's "
                f"({CRS.from_user_input(frame.units.crs).name})",
                where=raster.source or "raster",
                fix="reproject the raster to the frame's CRS (gdalwarp -t_srs) or the frame to the raster's")

    working, crs_info = choose_working_crs(frame, crs)
    units_w = _repair_projected(frame, frame.to_crs(working).to_numpy())
    excl = _exclusion_geometry(exclusion, working)
    labels = frame.stratum_labels.to_numpy()
    ids = frame.unit_ids.to_numpy()
    sizes = frame.sizes.to_numpy() if frame.sizes is not None else None
    strata = frame.strata

    if density == "size":
        check_stratum_sizes(frame)

    # ---- domains as they will be stored in the manifest (round trip through WKB)
    domains: dict[str, dict] = {}
    stored = np.empty(len(units_w), dtype=object)  # the polygons as the manifest holds them (1 mm grid)
    for label in strata:
        sel = np.flatnonzero(labels == label)
        block, stored[sel] = _pack_geometries(units_w[sel], where=frame.source or "frame", features=sel,
                                              ids=ids[sel], id_col=frame.id_col)
        domains[label] = {"units": [{"unit_id": str(ids[i]), "size": None if sizes is None else float(sizes[i])}
                                    for i in sel],
                          "geometry": block}
    check_overlaps(frame, stored, grid=None)
    if excl is not None:
        excl_block, excl_q = _pack_geometries([excl], where="exclusion layer")
        excl = excl_q[0]
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "method": method,
        "balance": balance if method == "balanced" else None,
        "density": density,
        "crs": crs_info,
        "domains": domains,
        "exclusion": None if excl is None else {"geometry": excl_block, "area_m2": float(shapely.area(excl))},
    }
    if raster is not None:
        manifest["raster"] = {
            "path": raster.source, "sha256": raster.source_sha256, "shape": list(raster.values.shape),
            "transform": list(raster.transform), "crs_wkt": CRS.from_user_input(raster.crs).to_wkt(),
            "values_zlib": _b64z(np.ascontiguousarray(raster.values, dtype="<f8").tobytes()),
        }
    dens = densities_from_manifest(manifest)

    # ---- allocation
    basis = []
    for label in strata:
        sel = labels == label
        if density == "uniform":
            b = dens[label].total_area
        elif density == "size":
            b = float(sizes[sel].sum())
        else:
            b = float(dens[label].raw_mass)
        var = None
        if variability_col is not None:
            v = pd.to_numeric(frame.units.loc[sel, variability_col], errors="coerce").to_numpy(float)
            w = shapely.area(units_w[sel]) if density == "uniform" else (sizes[sel] if sizes is not None else np.ones(sel.sum()))
            var = float(np.nansum(v * w) / np.sum(w[np.isfinite(v)])) if np.isfinite(v).any() else np.nan
        basis.append({"stratum": label, "basis": b, "variability": var})
    table = pd.DataFrame(basis)
    name, options = parse_allocation(allocation)
    n_h = allocate(n, table, allocation)

    # ---- draws
    accepted: list[np.ndarray] = []
    rows = []
    codes: set[str] = set()
    strata_info: dict[str, dict] = {}
    for label in strata:
        d = dens[label]
        m = n_h[label] + reserve
        info: dict[str, Any] = {"n": n_h[label], "reserve": reserve, "area_m2": round(d.total_area, 3),
                                "basis": table.loc[table.stratum == label, "basis"].item()}
        if density == "size":
            info["size_total"] = float(sizes[labels == label].sum())
        cand_prob = None
        if m == 0:
            xy, piece = np.empty((0, 2)), np.empty(0, dtype=np.int64)
        elif method == "balanced":
            n_cand = int(n_candidates) if n_candidates else max(2000, 50 * m)
            if n_cand < m:
                raise DesignError(f"{n_cand} candidates cannot give {m} points", where=f"stratum {label!r}",
                                  fix="raise --n-candidates")
            cand_xy, cand_piece = d.sample(n_cand, rng=rng)
            chosen = BALANCED_METHODS[balance](cand_xy, m / n_cand, rng=rng)
            order = chosen[reserve_order(cand_xy[chosen], rng=rng)]
            xy, piece = cand_xy[order], cand_piece[order]
            cand_prob = n_h[label] / n_cand
            info["n_candidates"] = n_cand
            if n_h[label] > 0:
                info["spatial_balance"] = round(spatial_balance(cand_xy, n_h[label] / n_cand, xy[: n_h[label]]), 6)
        else:
            if min_distance_m:
                cap = _min_distance_capacity(d, float(min_distance_m))
                if m > cap:
                    raise DesignError(
                        f"{m} points (main + reserve) cannot be at least {min_distance_m:g} m apart in "
                        f"{d.total_area / 1e6:.3g} km²: at most {int(cap)} fit",
                        where=f"stratum {label!r}", fix="lower --min-distance or --n/--reserve")
            xy, piece = _draw_iid(d, m, rng, min_distance_m, accepted, label, max_tries=max(2000, 200 * m))
            if n_h[label] > 0:
                ref_rng = np.random.default_rng(rng.integers(2**63))
                n_ref = max(2000, 50 * n_h[label])
                ref, _ = d.sample(n_ref, rng=ref_rng)
                info["spatial_balance"] = round(spatial_balance(ref, n_h[label] / n_ref, xy[: n_h[label]]), 6)
        accepted.append(xy)
        code = _stratum_code(label, codes)
        for k in range(m):
            rows.append({
                "point_id": f"{point_prefix}-{code}-{k + 1:04d}" if frame.stratum_col else f"{point_prefix}-{k + 1:04d}",
                "stratum": label,
                "unit_id": str(d.unit_ids[piece[k]]),
                "x": float(xy[k, 0]), "y": float(xy[k, 1]),
                "reserve_rank": 0 if k < n_h[label] else k - n_h[label] + 1,
                "radius_m": float(radius_m) if radius_m is not None else np.nan,
                "draw_density_km2": float(d.density_at_pieces([piece[k]])[0] * 1e6),
                "inclusion_prob": cand_prob if cand_prob is not None else np.nan,
            })
        strata_info[label] = info
        if progress is not None:
            progress(1)

    table_pts = pd.DataFrame(rows, columns=["point_id", "stratum", "unit_id", "x", "y", "reserve_rank", "radius_m",
                                            "draw_density_km2", "inclusion_prob"])
    to_ll = Transformer.from_crs(working, CRS.from_epsg(4326), always_xy=True)
    lon, lat = to_ll.transform(table_pts["x"].to_numpy(), table_pts["y"].to_numpy())
    table_pts.insert(3, "lon", np.round(np.asarray(lon, dtype=float), 7))
    table_pts.insert(4, "lat", np.round(np.asarray(lat, dtype=float), 7))
    table_pts = table_pts.drop(columns=["x", "y"])
    if method != "balanced":
        table_pts = table_pts.drop(columns=["inclusion_prob"])
    if radius_m is None:
        table_pts = table_pts.drop(columns=["radius_m"])
    points = gpd.GeoDataFrame(table_pts, geometry=gpd.points_from_xy(table_pts["lon"], table_pts["lat"]), crs=4326)

    exact = method != "balanced" and not min_distance_m
    manifest.update({
        "allocation": {"rule": name, **options, "basis": {"uniform": "area", "size": "size", "raster": "raster population"}[density],
                       "rounding": "largest remainder", **({"variability_col": variability_col} if variability_col else {})},
        "n_total": int(sum(n_h.values())),
        "strata": strata_info,
        "radius_m": None if radius_m is None else float(radius_m),
        "min_distance_m": None if not min_distance_m else float(min_distance_m),
        "rng_seed": rng_in if isinstance(rng_in, (int, np.integer)) else None,
        "columns": {"id_col": frame.id_col, "stratum_col": frame.stratum_col, "size_col": frame.size_col},
        "inputs": {"frame": {"path": frame.source, "sha256": frame.source_sha256}},
        "inclusion": {
            "per_draw": "p = Σ_pieces density × area(Disc(x, R) ∩ piece), exact (analytic disc–polygon areas)",
            "expected_hits": "n_h × p (exact for every method)",
            "stage1_prob": ("1 − (1 − p)^n_h, exact for independent points" if exact else
                            "1 − (1 − p)^n_h is the independent-points formula: an approximation for "
                            + ("balanced designs" if method == "balanced" else "points with a minimum distance")
                            + "; use expected_hits (Hansen–Hurwitz over points)"),
            "stage1_exact": exact,
        },
        "reserves": {
            "rule": ("next independent draws of the same sequence" if method != "balanced" else
                     "rotated reverse hierarchical order of the balanced selection"),
            "prefix_property": "the main points plus the first k reserves of a stratum keep the design",
            "never_replace_empty": "a point with no refugee household is a valid zero and must NOT be replaced",
            "allowed_reasons": REPLACEMENT_REASONS,
        },
        "replacements": [],
    })
    if excl is None:
        manifest["exclusion"] = None
    manifest["inputs"]["exclusion"] = None if exclusion is None else {
        "path": getattr(exclusion, "attrs", {}).get("source"), "sha256": getattr(exclusion, "attrs", {}).get("sha256")}
    if raster is not None:
        manifest["inputs"]["raster"] = {"path": raster.source, "sha256": raster.source_sha256}
    return PointSample(points=points, manifest=manifest)


def with_provenance(manifest: dict, *, created: str, toolkit: dict[str, str], input_paths: dict[str, str],
                    outputs: dict[str, str]) -> dict:
    """A copy of ``manifest`` that says where it was made: the creation time, the program
    (``{"name": ..., "version": ...}``), the paths of its input files as the caller wants them
    recorded (e.g. relative to the manifest; inputs the design did not use are left alone) and the
    names of the files written with it (format → file name).

    >>> m = with_provenance({"inputs": {"frame": {"path": "/abs/frame.gpkg", "sha256": "ab"}, "raster": None}},
    ...                     created="2024-05-01T10:00:00+00:00", toolkit={"name": "hiddenpop", "version": "1"},
    ...                     input_paths={"frame": "frame.gpkg", "raster": "pop.tif"}, outputs={"csv": "points.csv"})
    >>> m["inputs"], m["outputs"]
    ({'frame': {'path': 'frame.gpkg', 'sha256': 'ab'}, 'raster': None}, {'csv': 'points.csv'})
    """
    files = dict(manifest.get("inputs") or {})
    for name, path in input_paths.items():
        if isinstance(files.get(name), dict):
            files[name] = {**files[name], "path": path}
    return {**manifest, "created": created, "toolkit": dict(toolkit), "inputs": files, "outputs": dict(outputs)}


def record_replacement(manifest: dict, point_id: str, *, reason: str, points: pd.DataFrame,
                       note: str = "", date: str | None = None) -> tuple[dict, str]:
    """Record that a point was replaced by the next unused reserve of its stratum.

    Parameters
    ----------
    manifest
        The design manifest (not modified; a new dict is returned).
    point_id
        The point that could not be visited.
    reason
        One of :data:`REPLACEMENT_REASONS`. "Empty"/"no households" is refused: an empty
        point is a valid zero.
    points
        The points table (``point_id``, ``stratum``, ``reserve_rank``).
    note, date
        Free text and an ISO date for the log.

    Returns
    -------
    (dict, str)
        The new manifest and the id of the reserve point that takes over.
    """
    low = reason.lower()
    if any(w in low for w in _EMPTY_WORDS):
        raise DesignError(
            f"reason {reason!r}: an empty point (no refugee household) is a valid zero and must not be replaced",
            fix="record the point as visited with zero households; use a reserve only if the point cannot be reached")
    if reason not in REPLACEMENT_REASONS:
        raise DesignError(f"unknown replacement reason {reason!r}",
                          fix=f"use one of {', '.join(REPLACEMENT_REASONS)}")
    pts = points.set_index("point_id")
    if point_id not in pts.index:
        raise DesignError(f"point {point_id!r} is not in the points file", fix="check the point id")
    done = manifest.get("replacements", [])
    if any(r["point_id"] == point_id for r in done):
        raise DesignError(f"point {point_id!r} was already replaced", fix="each point is replaced at most once")
    stratum = str(pts.loc[point_id, "stratum"])
    used = {r["replaced_by"] for r in done}
    replaced = {r["point_id"] for r in done}
    candidates = pts[(pts["stratum"].astype(str) == stratum) & (pts["reserve_rank"] > 0)].sort_values("reserve_rank")
    free = [pid for pid in candidates.index if pid not in used and pid not in replaced]
    if not free:
        raise DesignError(f"no reserve point left in stratum {stratum!r}",
                          fix="draw more reserves before fieldwork, or accept a smaller sample in this stratum")
    new = dict(manifest)
    new["replacements"] = list(done) + [{"point_id": point_id, "replaced_by": free[0], "reason": reason,
                                         "stratum": stratum, "note": note, "date": date}]
    return new, free[0]
