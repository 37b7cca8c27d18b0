"""The sampling frame: a validated wrapper around a GeoDataFrame of areal units.

A :class:`SamplingFrame` holds the units (districts, neighbourhoods, grid cells) with their
id, optional stratum and optional measure of size. It is immutable and validated when it is
built: unique non-null ids, a CRS, non-empty valid polygonal geometries, sizes ≥ 0.

Working CRS
-----------
Areas, distances and radii are computed in one projected CRS, chosen by
:func:`choose_working_crs`: a Lambert azimuthal equal-area projection (LAEA) centred on the
frame. LAEA is exactly equal-area, so stratum areas and point densities are exact; it is
also conformal at its centre, and its distance distortion grows only as ``c²/8`` with the
angular distance ``c`` from the centre (radial scale ``cos(c/2)``, tangential
``1/cos(c/2)``): 3e-5 at 100 km, 8e-4 at 500 km. A circle of R metres on the ground maps to
a region of exactly πR² in LAEA whose shape differs from a circle by that distortion, so
disc-clipping at edges is accurate to the same order. The largest distortion over the frame
is reported (``max_scale_distortion``); for frames several hundred kilometres wide, split the
area into regions or pass a local CRS (``crs=``, ``--crs``) such as a UTM zone.
A projection that distorts distances (e.g. EPSG:6933 at mid latitudes) moves edge
probabilities by up to 10 % (docs/methods.md, 'Findings from the simulation study'): do not use one.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from hiddenpop.errors import FrameError, format_where, truncate_list
from hiddenpop.spatial.geometry import snap_to_grid

__all__ = ["SamplingFrame", "check_coordinate_range", "choose_working_crs", "scale_distortion", "ALL_STRATUM", "find_overlaps",
           "check_overlaps", "check_stratum_sizes", "OVERLAP_TOLERANCE"]

#: Stratum label used when the frame has no stratum column.
ALL_STRATUM = "all"
#: longest edge (degrees) of a longitude/latitude frame that is projected as it is (see
#: :meth:`SamplingFrame.to_crs`); 0.05° is about 5.5 km (the bundled example's edges are shorter)
EDGE_STEP_DEG = 0.05


def _feature_where(source: str | None, pos: int, column: str | None = None, value: Any = None) -> str:
    """``frame.gpkg, feature 3, column 'pop', value -1`` (features are numbered from 1 as in QGIS)."""
    rest = format_where(column=column, value=value)
    return f"{source or 'frame'}, feature {pos + 1}" + (f", {rest}" if rest else "")


def check_coordinate_range(geoms: Any, *, source: str | None = None, what: str = "frame",
                           ids: Any = None, id_col: str | None = None) -> None:
    """Refuse coordinates that cannot be right for the layer's declared CRS.

    * Geographic CRS (degrees): every longitude within ±180 and latitude within ±90. Values in
      the thousands are metres or feet labelled as degrees; a latitude beyond ±90 with
      longitudes that would fit as latitudes is a lon/lat swap. A unit spanning more than 180°
      of longitude crosses the antimeridian (or wraps the globe): it is refused rather than
      drawn in the wrong hemisphere.
    * Projected CRS: the coordinates must map back to lon/lat inside the CRS's area of use
      (with a generous margin); degrees labelled as metres land a few hundred metres from the
      projection's origin and are caught the same way.

    Raises
    ------
    FrameError
        Naming the feature, its id and its coordinates, and what to do.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> check_coordinate_range(gpd.GeoSeries([box(29, 41, 29.1, 41.1)], crs=4326))
    >>> check_coordinate_range(gpd.GeoSeries([box(41, 129, 41.1, 129.1)], crs=4326), source="f.gpkg")
    Traceback (most recent call last):
    ...
    hiddenpop.errors.FrameError: f.gpkg, feature 1: latitude 129.1 is beyond ±90 ...
    """
    series = geoms if isinstance(geoms, gpd.GeoSeries) else gpd.GeoSeries(geoms)
    crs = series.crs
    if crs is None or len(series) == 0:
        return
    arr = series.to_numpy()
    present = ~(pd.isna(arr) | shapely.is_empty(arr))
    if not present.any():
        return
    b = np.full((len(arr), 4), np.nan)
    b[present] = shapely.bounds(arr[present])

    def where(k: int) -> str:
        text = f"{source or what}, feature {k + 1}"
        if ids is not None:
            text += f", column '{id_col}', value {ids[k]!r}"
        return text

    if not np.isfinite(b[present]).all():
        k = int(np.flatnonzero(present & ~np.isfinite(b).all(axis=1))[0])
        raise FrameError("coordinates are not finite numbers (NaN or infinity)", where=where(k),
                         fix="repair or redraw the feature")
    if crs.is_geographic:
        minx, miny, maxx, maxy = b.T
        big = present & ((np.abs(b) > 1000).any(axis=1))
        if big.any():
            k = int(np.flatnonzero(big)[0])
            raise FrameError(f"coordinates such as ({b[k, 0]:.6g}, {b[k, 1]:.6g}) are metres or feet, not degrees, "
                             f"but the file says {crs.name} (degrees)", where=where(k),
                             fix="assign the CRS the coordinates were made in (QGIS 'Assign projection', or "
                                 "--crs with a file that has no CRS), e.g. the UTM zone or state plane code")
        tol = 1e-7  # degrees (1 cm): digitised borders overshoot ±180/±90 by rounding noise
        bad_lat = present & ((np.abs(miny) > 90 + tol) | (np.abs(maxy) > 90 + tol))
        if bad_lat.any():
            k = int(np.flatnonzero(bad_lat)[0])
            lat = maxy[k] if abs(maxy[k]) > 90 else miny[k]
            swapped = (np.abs(b[present][:, [0, 2]]) <= 90 + tol).all()
            raise FrameError(f"latitude {lat:.6g} is beyond ±90"
                             + (" (longitude and latitude look swapped)" if swapped else ""), where=where(k),
                             fix="write coordinates as longitude, latitude (x = east, y = north)"
                                 if swapped else "check the coordinates and the CRS of the file")
        bad_lon = present & ((np.abs(minx) > 180 + tol) | (np.abs(maxx) > 180 + tol))
        if bad_lon.any():
            k = int(np.flatnonzero(bad_lon)[0])
            lon = maxx[k] if abs(maxx[k]) > 180 else minx[k]
            raise FrameError(f"longitude {lon:.6g} is beyond ±180", where=where(k),
                             fix="use longitudes between -180 and 180 (subtract 360 from those above 180), "
                                 "and split a unit that crosses the 180° meridian into two")
        wide = present & (maxx - minx > 180)
        if wide.any():
            k = int(np.flatnonzero(wide)[0])
            raise FrameError(f"the unit spans longitudes {minx[k]:.6g} to {maxx[k]:.6g}: it crosses the "
                             "antimeridian (180°) or wraps the globe, so no local working CRS can hold it",
                             where=where(k),
                             fix="split the frame at 180° into two frames (ogr2ogr -wrapdateline), each with a local "
                                 "projected CRS, and draw each on its own")
        return
    coords = b[present]
    if (np.abs(coords[:, [0, 2]]) <= 180).all() and (np.abs(coords[:, [1, 3]]) <= 90).all():
        k = int(np.flatnonzero(present)[0])
        raise FrameError(f"coordinates such as ({b[k, 0]:.6g}, {b[k, 1]:.6g}) look like degrees, but the file says "
                         f"{crs.name} (metres or feet): every unit would lie within 200 m of the projection's origin",
                         where=where(k),
                         fix="assign EPSG:4326 (lon/lat degrees) to the file, e.g. QGIS 'Assign projection', or --crs "
                             "EPSG:4326 for a file without a CRS")
    area = crs.area_of_use
    if area is None:
        return
    from pyproj import Transformer

    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    xs = np.concatenate([b[present][:, 0], b[present][:, 2], b[present][:, 0], b[present][:, 2]])
    ys = np.concatenate([b[present][:, 1], b[present][:, 3], b[present][:, 3], b[present][:, 1]])
    with np.errstate(all="ignore"):
        lon, lat = to_ll.transform(xs, ys, errcheck=False)
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    margin = 10.0  # degrees: a frame may extend a little past a zone's official area of use
    w_, e_ = area.west - margin, area.east + margin
    ok_lon = (lon >= w_) & (lon <= e_) if area.west <= area.east else ((lon >= w_) | (lon <= e_))
    ok = np.isfinite(lon) & np.isfinite(lat) & ok_lon & (lat >= area.south - margin) & (lat <= area.north + margin)
    if not ok.all():
        n_p = int(present.sum())
        k_rel = int(np.flatnonzero(~ok)[0]) % n_p
        k = int(np.flatnonzero(present)[k_rel])
        degrees = (np.abs(b[present]) <= 180).all()
        raise FrameError(f"coordinates such as ({b[k, 0]:.6g}, {b[k, 1]:.6g}) fall outside the area where "
                         f"{crs.name} is used ({area.name})"
                         + ("; they look like degrees" if degrees else ""), where=where(k),
                         fix="assign the CRS the coordinates were made in (e.g. EPSG:4326 for lon/lat degrees)")


@dataclasses.dataclass(frozen=True)
class SamplingFrame:
    """Areal units to draw first-stage points from (composition, never a GeoDataFrame subclass).

    Parameters
    ----------
    units
        GeoDataFrame of polygons in any CRS (it must have one).
    id_col
        Column with a unique id per unit.
    stratum_col
        Optional stratum column (labels are used as text).
    size_col
        Optional measure of size (registered refugees, population), numbers ≥ 0.
    source
        File the frame was read from (for messages and the manifest).
    source_sha256
        SHA-256 of that file (recorded in the manifest).

    Raises
    ------
    FrameError
        Missing CRS or column, duplicate or missing ids, empty/invalid/non-polygonal geometry,
        negative or missing sizes, missing stratum labels.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> units = gpd.GeoDataFrame({"unit_id": ["A", "B"], "pop": [10, 30]},
    ...                          geometry=[box(30, 40, 30.1, 40.1), box(30.1, 40, 30.2, 40.1)], crs=4326)
    >>> frame = SamplingFrame(units, size_col="pop")
    >>> frame.strata, len(frame)
    (['all'], 2)
    >>> SamplingFrame(units.assign(unit_id=["A", "A"]))
    Traceback (most recent call last):
    ...
    hiddenpop.errors.FrameError: frame, feature 2, column 'unit_id', value 'A': duplicate unit id ...
    """

    units: gpd.GeoDataFrame
    id_col: str = "unit_id"
    stratum_col: str | None = None
    size_col: str | None = None
    source: str | None = None
    source_sha256: str | None = None

    def __post_init__(self) -> None:
        units = self.units
        src = self.source or "frame"
        if not isinstance(units, gpd.GeoDataFrame):
            raise FrameError(f"expected a GeoDataFrame, got {type(units).__name__}", where=src,
                             fix="read the file with hiddenpop.io.spatial.read_frame")
        if len(units) == 0:
            raise FrameError("the frame has no features", where=src, fix="give a layer with at least one polygon")
        for label, col in (("--id-col", self.id_col), ("--stratum-col", self.stratum_col),
                           ("--size-col", self.size_col)):
            if col is not None and col not in units.columns:
                raise FrameError(
                    f"column {col!r} not found (columns: {truncate_list(c for c in units.columns if c != units.geometry.name)})",
                    where=src, fix=f"name an existing column with {label}")
        if units.crs is None:
            raise FrameError("the frame has no coordinate reference system (CRS)", where=src,
                             fix="set the CRS in the file (e.g. with QGIS 'Assign projection') or pass --crs with its code, e.g. --crs EPSG:4326")
        ids = units[self.id_col]
        missing = np.flatnonzero(ids.isna().to_numpy())
        if len(missing):
            raise FrameError("missing unit id", where=_feature_where(src, int(missing[0]), self.id_col),
                             fix="give every unit an id")
        dup = np.flatnonzero(ids.duplicated().to_numpy())
        if len(dup):
            pos = int(dup[0])
            raise FrameError(f"duplicate unit id ({len(dup)} duplicated)",
                             where=_feature_where(src, pos, self.id_col, ids.iloc[pos]),
                             fix="give every unit its own id, or merge the duplicated polygons")
        geom = units.geometry.to_numpy()
        null = np.flatnonzero(pd.isna(geom) | shapely.is_empty(geom))
        if len(null):
            pos = int(null[0])
            raise FrameError(f"empty or missing geometry ({len(null)} features)",
                             where=_feature_where(src, pos, self.id_col, ids.iloc[pos]),
                             fix="delete the feature or draw its polygon")
        kinds = shapely.get_type_id(geom)
        bad_kind = np.flatnonzero(~np.isin(kinds, [3, 6]))
        if len(bad_kind):
            pos = int(bad_kind[0])
            raise FrameError(f"geometry is a {geom[pos].geom_type}, not a polygon",
                             where=_feature_where(src, pos, self.id_col, ids.iloc[pos]),
                             fix="the frame must hold areas (Polygon/MultiPolygon)")
        invalid = np.flatnonzero(~shapely.is_valid(geom))
        if len(invalid):
            pos = int(invalid[0])
            reason = shapely.is_valid_reason(geom[pos])
            raise FrameError(f"invalid geometry ({reason}; {len(invalid)} invalid features)",
                             where=_feature_where(src, pos, self.id_col, ids.iloc[pos]),
                             fix="repair it (QGIS 'Fix geometries' or shapely.make_valid) and save the frame again")
        check_coordinate_range(units.geometry, source=src, ids=ids.to_numpy(), id_col=self.id_col)
        if units.crs.is_geographic:
            minx, _, maxx, _ = units.total_bounds
            if maxx - minx > 180:
                raise FrameError(f"the frame spans longitudes {minx:.6g} to {maxx:.6g}: it crosses the antimeridian "
                                 "(180°) or is too wide for one local working CRS", where=src,
                                 fix="split the frame into regions (at 180° if it crosses it) and draw each on its own")
        text_ids = ids.astype(str)
        padded = np.flatnonzero((text_ids != text_ids.str.strip()).to_numpy())
        if len(padded):
            stripped = text_ids.str.strip()
            clash = np.flatnonzero(stripped.duplicated(keep=False).to_numpy())
            pos = int(clash[0]) if len(clash) else int(padded[0])
            raise FrameError("unit id has spaces at its start or end"
                             + (f" and then equals another unit's id {stripped.iloc[pos]!r}" if len(clash) else "")
                             + f" ({len(padded)} such ids)",
                             where=_feature_where(src, pos, self.id_col, ids.iloc[pos]),
                             fix="remove the spaces around the ids (in QGIS: Field calculator, trim(\"id\"))")
        if self.size_col is not None:
            size = pd.to_numeric(units[self.size_col], errors="coerce")
            bad = np.flatnonzero(~(np.isfinite(size.to_numpy(dtype=float)) & (size.to_numpy(dtype=float) >= 0)))
            if len(bad):
                pos = int(bad[0])
                raise FrameError(f"sizes must be numbers >= 0 ({len(bad)} are not)",
                                 where=_feature_where(src, pos, self.size_col, units[self.size_col].iloc[pos]),
                                 fix="put 0 for areas with no population, and a number everywhere else")
            total = float(np.sum(size.to_numpy(dtype=float)))
            if not np.isfinite(total) or total > 1e15:
                pos = int(np.argmax(size.to_numpy(dtype=float)))
                raise FrameError(f"sizes are too large to add up (total {total:.3g}; a size is a count of people "
                                 "or households)", where=_feature_where(src, pos, self.size_col,
                                                                        units[self.size_col].iloc[pos]),
                                 fix="check the size column: give counts, not areas in square millimetres or "
                                     "coded values")
        if self.stratum_col is not None:
            na = np.flatnonzero(units[self.stratum_col].isna().to_numpy())
            if len(na):
                pos = int(na[0])
                raise FrameError("missing stratum label", where=_feature_where(src, pos, self.stratum_col),
                                 fix="give every unit a stratum")

    def __len__(self) -> int:
        return len(self.units)

    @property
    def unit_ids(self) -> pd.Series:
        """Unit ids as text."""
        return self.units[self.id_col].astype(str)

    @property
    def stratum_labels(self) -> pd.Series:
        """Stratum of every unit as text (``'all'`` without a stratum column)."""
        if self.stratum_col is None:
            return pd.Series(ALL_STRATUM, index=self.units.index)
        return self.units[self.stratum_col].astype(str)

    @property
    def strata(self) -> list[str]:
        """Sorted stratum labels."""
        return sorted(self.stratum_labels.unique().tolist())

    @property
    def sizes(self) -> pd.Series | None:
        """Measure of size as floats (``None`` without a size column)."""
        if self.size_col is None:
            return None
        return pd.to_numeric(self.units[self.size_col]).astype(float)

    def to_crs(self, crs: Any) -> gpd.GeoSeries:
        """Unit geometries in ``crs``.

        A frame in longitude/latitude has edges that are straight in degrees (as GIS software
        draws them). Projected vertex by vertex, a long edge would become the straight line
        between its projected end points, which strays from it (about 10 m on a 44 km edge of a
        Virginia county at 37° N), so a point drawn inside the projected unit could lie outside
        the unit on the user's map. Edges longer than :data:`EDGE_STEP_DEG` are therefore divided
        before projecting (the stray is then below about 0.2 m); shorter edges are unchanged.
        """
        geoms = self.units.geometry
        if geoms.crs is not None and geoms.crs.is_geographic and not CRS.from_user_input(crs).is_geographic:
            geoms = geoms.segmentize(EDGE_STEP_DEG)
        return geoms.to_crs(crs)


def scale_distortion(crs: CRS, lon: np.ndarray, lat: np.ndarray) -> float:
    """Largest relative distance distortion ``max(|h−1|, |k−1|)`` of ``crs`` at the given points."""
    from pyproj import Proj

    try:
        factors = Proj(crs).get_factors(np.asarray(lon, float), np.asarray(lat, float))
    except Exception:  # pragma: no cover - projections without factors
        return float("nan")
    return float(np.nanmax(np.abs(np.concatenate([np.asarray(factors.meridional_scale) - 1,
                                                   np.asarray(factors.parallel_scale) - 1]))))


def choose_working_crs(frame: SamplingFrame, crs: Any = None) -> tuple[CRS, dict]:
    """Pick the metric CRS for areas, distances and radii.

    Parameters
    ----------
    frame
        The sampling frame.
    crs
        Override (anything :class:`pyproj.CRS` accepts); it must be projected.

    Returns
    -------
    (pyproj.CRS, dict)
        The CRS and a record for the manifest (``name``, ``wkt``, ``choice``,
        ``max_scale_distortion``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> units = gpd.GeoDataFrame({"unit_id": ["A"]}, geometry=[box(28.9, 41.0, 29.1, 41.1)], crs=4326)
    >>> crs, info = choose_working_crs(SamplingFrame(units))
    >>> info["choice"]
    'auto: Lambert azimuthal equal-area centred on the frame (lon 29.0, lat 41.05)'
    >>> info["max_scale_distortion"] < 1e-5
    True
    """
    ll = frame.units.geometry.to_crs(4326)
    minx, miny, maxx, maxy = ll.total_bounds
    if crs is None:
        lon0 = round(float((minx + maxx) / 2), 4)
        lat0 = round(float((miny + maxy) / 2), 4)
        working = CRS.from_proj4(f"+proj=laea +lat_0={lat0} +lon_0={lon0} +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs")
        choice = f"auto: Lambert azimuthal equal-area centred on the frame (lon {lon0}, lat {lat0})"
    else:
        try:
            working = CRS.from_user_input(crs)
        except Exception as exc:
            raise FrameError(f"unknown CRS {crs!r} ({exc})", where="--crs",
                             fix="give an EPSG code such as EPSG:32636 or a PROJ string") from exc
        if not working.is_projected:
            raise FrameError(f"the CRS {working.name!r} is not projected (it uses degrees)", where="--crs",
                             fix="give a metric CRS such as a UTM zone or EPSG:3035")
        choice = "given by the user"
    xs = np.linspace(minx, maxx, 9)
    ys = np.linspace(miny, maxy, 9)
    gx, gy = np.meshgrid(xs, ys)
    distortion = scale_distortion(working, gx.ravel(), gy.ravel())
    info = {
        "name": working.name,
        "wkt": working.to_wkt(),
        "choice": choice,
        "max_scale_distortion": None if math.isnan(distortion) else float(f"{distortion:.3g}"),
        "areas": "computed in this CRS (equal-area when chosen automatically)",
        "distances": "radius and minimum distance measured in this CRS",
    }
    return working, info


#: Overlaps smaller than this fraction of the smaller unit's area are ignored (digitising slivers:
#: they change a density by less than 0.01 %).
OVERLAP_TOLERANCE = 1e-4


def find_overlaps(geoms: Any, labels: Any, *, tolerance: float = OVERLAP_TOLERANCE,
                  grid: float | None = 0.001) -> list[tuple[int, int, float]]:
    """Pairs of units of the same stratum whose interiors overlap.

    Parameters
    ----------
    geoms
        Unit polygons in a metric (working) CRS.
    labels
        Stratum of every unit.
    tolerance
        Overlaps of at most ``tolerance`` × the smaller unit's area are not reported.
    grid
        Coordinates are first rounded to this grid (CRS units; 1 mm by default, the grid on which
        the manifest stores the domains), so shared borders digitised with floating-point noise
        count as shared, and the exact DE-9IM test stays fast.

    Returns
    -------
    list of (i, j, area)
        Positions ``i < j`` and the overlap area (CRS units², m² in the working CRS), largest first.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> find_overlaps([box(0, 0, 2, 2), box(2, 0, 4, 2), box(1, 1, 3, 3)], ["A", "A", "A"])
    [(0, 2, 1.0), (1, 2, 1.0)]
    >>> find_overlaps([box(0, 0, 2, 2), box(1, 1, 3, 3)], ["A", "B"])  # different strata
    []
    """
    geoms = np.asarray(geoms, dtype=object)
    labels = np.asarray(labels, dtype=object)
    if len(geoms) < 2:
        return []
    if grid:
        geoms = snap_to_grid(geoms, grid)
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = (a < b) & (labels[a] == labels[b])
    a, b = a[keep], b[keep]
    # boxes meeting only along a line or at a corner: the interiors cannot meet
    ba, bb = shapely.bounds(geoms[a]), shapely.bounds(geoms[b])
    keep = (np.minimum(ba[:, 2:], bb[:, 2:]) > np.maximum(ba[:, :2], bb[:, :2])).all(axis=1)
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return []
    # neighbours that only share a border are the common case: rule them out with the cheap
    # DE-9IM test (interiors intersect) before computing any intersection area
    inner = shapely.relate_pattern(geoms[a], geoms[b], "T********")
    a, b = a[inner], b[inner]
    if len(a) == 0:
        return []
    area = shapely.area(shapely.intersection(geoms[a], geoms[b]))
    smaller = np.minimum(shapely.area(geoms[a]), shapely.area(geoms[b]))
    big = area > tolerance * smaller
    out = sorted(zip(a[big].tolist(), b[big].tolist(), area[big].tolist()), key=lambda t: (-t[2], t[0], t[1]))
    return [(int(i), int(j), float(v)) for i, j, v in out]


def check_overlaps(frame: SamplingFrame, geoms: Any, *, grid: float | None = 0.001) -> None:
    """Refuse units of one stratum that overlap (their density would be counted twice there).

    Parameters
    ----------
    frame
        The sampling frame (for ids, strata and the file name in the message).
    geoms
        The frame's unit polygons in the working CRS (metres).
    grid
        Rounding grid passed to :func:`find_overlaps` (``None`` when ``geoms`` are already the
        1 mm-grid polygons stored in the manifest).

    Raises
    ------
    FrameError
        Naming both unit ids, the features, the stratum and the overlap area.
    """
    found = find_overlaps(geoms, frame.stratum_labels.to_numpy(), grid=grid)
    if not found:
        return
    i, j, area = found[0]
    ids = frame.unit_ids.to_numpy()
    labels = frame.stratum_labels.to_numpy()
    share = area / min(float(shapely.area(geoms[i])), float(shapely.area(geoms[j])))
    more = f"; {len(found) - 1} more overlapping pairs" if len(found) > 1 else ""
    raise FrameError(
        f"units {ids[i]!r} and {ids[j]!r} (features {i + 1} and {j + 1}, stratum {labels[i]!r}) overlap by "
        f"{area:,.0f} m² ({share:.1%} of the smaller one); points there would be counted twice{more}",
        where=_feature_where(frame.source, j, frame.id_col, ids[j]),
        fix="make the units a partition: cut the overlap from one of them (QGIS 'Difference', or the "
            "Topology Checker rule 'must not overlap') and save the frame again")


def check_stratum_sizes(frame: SamplingFrame) -> None:
    """Refuse a stratum whose units all have size 0 (a size-proportional draw cannot place a point there).

    Does nothing for a frame without a size column.

    Raises
    ------
    FrameError
        Naming the stratum, its features and the size column.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> units = gpd.GeoDataFrame({"unit_id": ["A", "B"], "s": ["x", "y"], "pop": [10, 0]},
    ...                          geometry=[box(30, 40, 30.1, 40.1), box(30.1, 40, 30.2, 40.1)], crs=4326)
    >>> check_stratum_sizes(SamplingFrame(units, stratum_col="s", size_col="pop"))
    Traceback (most recent call last):
    ...
    hiddenpop.errors.FrameError: frame, feature 2, column 'pop', value 0.0: stratum 'y' has total size 0 ...
    """
    sizes = frame.sizes
    if sizes is None:
        return
    labels = frame.stratum_labels.to_numpy()
    for label in frame.strata:
        sel = np.flatnonzero(labels == label)
        if float(sizes.to_numpy()[sel].sum()) <= 0:
            raise FrameError(
                f"stratum {label!r} has total size 0 over its {len(sel)} units (features "
                f"{truncate_list(sel + 1)}), so no point can be drawn in it by PPS",
                where=_feature_where(frame.source, int(sel[0]), frame.size_col, float(sizes.iloc[sel[0]])),
                fix="drop the stratum, give its units a size, or sample it with --method uniform")
