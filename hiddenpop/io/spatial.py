"""Reading frames, exclusion layers and rasters; writing points in field formats; manifests.

Point formats (``POINT_FORMATS``; the file suffix picks the format):

``gpkg``     GeoPackage, layer ``points`` (WGS84). GDAL stamps a "last change" date into
             GeoPackages; it is pinned (``OGR_CURRENT_DATE``) so identical inputs give
             identical bytes.
``geojson``  RFC 7946 FeatureCollection (WGS84, written by hiddenpop, deterministic).
``csv``      one row per point: point_id, stratum, unit_id, lon, lat, reserve_rank, radius_m, …
``gpx``      GPX 1.1 waypoints (OsmAnd, Maps.me, Garmin): name = point id, description =
             stratum, reserve rank and radius, symbol red flag (main) / blue flag (reserve).
``kml``      KML for Google Earth: a placemark per point and, with a radius, the circle of
             R metres around it (geodesic, 72 vertices).
``odk``      ODK/KoboToolbox preload CSV for ``select_one_from_file`` / ``pulldata``: columns
             ``name``, ``label``, ``stratum``, ``lat``, ``lon``, ``radius_m``, ``reserve_rank``.
"""
from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import geopandas as gpd
import numpy as np
import pandas as pd

from hiddenpop.errors import FrameError, InputFileError, format_where
from hiddenpop.io import PathLike, csv_to, read_json, sha256_file, write_json

__all__ = ["read_frame", "read_exclusion", "read_raster", "read_manifest", "read_design", "write_manifest", "POINT_FORMATS",
           "format_from_suffix", "read_points", "FORMAT_SUFFIX"]

#: Pinned GeoPackage "last change" stamp (the real creation time is in the manifest).
GPKG_DATE = "2000-01-01T00:00:00.000Z"


#: Suffixes of tables that hold no geometry (a frame must be a map layer, not a spreadsheet).
_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls", ".ods")


def _read_vector(path: PathLike, what: str, *, layer: str | None = None) -> gpd.GeoDataFrame:
    p = Path(path)
    if not p.exists():
        raise InputFileError("file not found", where=str(p), fix="check the path and the current folder")
    if p.is_dir() and p.suffix.lower() not in (".gdb",):
        raise InputFileError(f"a folder was given for the {what}", where=str(p), fix="give the map file itself")
    fix_format = "give a GeoPackage, GeoJSON, Shapefile or GeoParquet file"
    from hiddenpop.io import is_excel

    if is_excel(p):
        raise InputFileError(f"this is an Excel file, and a table has no geometry: a {what} needs polygons with "
                             "coordinates, which a spreadsheet does not hold", where=str(p),
                             fix=f"{fix_format} (in QGIS: join the table to the polygons, then Export > Save "
                                 "Features As)")
    if p.suffix.lower() in _TABLE_SUFFIXES:
        raise InputFileError(f"a table has no geometry: the {what} must be a map layer with polygons", where=str(p),
                             fix=f"{fix_format} (in QGIS: load the table, join it to the polygons, "
                                 "Export > Save Features As GeoPackage)")
    try:
        if p.suffix.lower() == ".parquet":
            gdf = gpd.read_parquet(p)
        else:
            import pyogrio

            layers = [str(row[0]) for row in pyogrio.list_layers(p)]
            if layer is None and len(layers) > 1:
                raise InputFileError(f"the file holds {len(layers)} layers ({', '.join(layers[:10])}"
                                     f"{', …' if len(layers) > 10 else ''}) and it is not clear which is the {what}",
                                     where=str(p), fix=f"name one with --layer, e.g. --layer {layers[0]}" if what == "frame"
                                     else f"save the {what} as a file of its own (one layer)")
            if layer is not None and layer not in layers:
                raise InputFileError(f"no layer {layer!r} in the file (layers: {', '.join(layers[:10])})",
                                     where=str(p), fix="give one of the layer names listed")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                gdf = gpd.read_file(p, engine="pyogrio", layer=layer)
    except InputFileError:
        raise
    except Exception as exc:  # pyogrio raises its own DataSourceError family; parquet, zip, … their own
        text = " ".join(str(exc).split())[:300]
        raise InputFileError(f"cannot read the {what} ({type(exc).__name__}: {text})", where=str(p),
                             fix=f"{fix_format}; if it is one, the file may be truncated or damaged: export it again") from exc
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns or \
            (len(gdf) and gdf.geometry.isna().all()):
        raise InputFileError(f"the layer has no geometry: the {what} must be a map layer with polygons",
                             where=str(p), fix=fix_format)
    gdf.attrs["source"] = str(path)
    gdf.attrs["sha256"] = sha256_file(p)
    return gdf


def read_frame(path: PathLike, *, id_col: str = "unit_id", stratum_col: str | None = None,
               size_col: str | None = None, crs: Any = None, layer: str | None = None):
    """Read and validate a sampling frame from any file GeoPandas reads.

    Parameters
    ----------
    path
        Frame file (GeoPackage, GeoJSON, Shapefile, GeoParquet, …).
    id_col, stratum_col, size_col
        Column names (see :class:`~hiddenpop.spatial.SamplingFrame`).
    crs
        CRS to *assign* when the file has none (e.g. ``"EPSG:4326"``); it never reprojects.
    layer
        Layer to read from a file with several (GeoPackage); a file with several layers and no
        ``layer`` is refused with their names.

    Returns
    -------
    SamplingFrame

    Examples
    --------
    >>> import tempfile, pathlib, geopandas as gpd
    >>> from shapely.geometry import box
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "f.geojson"
    >>> gpd.GeoDataFrame({"unit_id": ["A"]}, geometry=[box(29, 41, 29.1, 41.1)], crs=4326).to_file(p)
    >>> read_frame(p).strata
    ['all']
    """
    from hiddenpop.spatial.frame import SamplingFrame

    gdf = _read_vector(path, "frame", layer=layer)
    if gdf.crs is None and crs is not None:
        try:
            gdf = gdf.set_crs(crs)
        except Exception as exc:
            raise FrameError(f"unknown CRS {crs!r}", where="--crs",
                             fix="give an EPSG code such as EPSG:4326 or EPSG:32636") from exc
    return SamplingFrame(gdf, id_col=id_col, stratum_col=stratum_col, size_col=size_col, source=str(path),
                         source_sha256=gdf.attrs["sha256"])


def read_exclusion(path: PathLike, *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read an exclusion layer (polygons where no point may fall); keeps source and SHA-256 in ``attrs``.

    Refused with the feature named: no CRS, coordinates outside the CRS's range, a feature that
    is not a polygon (points, lines), an invalid polygon.
    """
    import shapely

    from hiddenpop.spatial.frame import check_coordinate_range

    gdf = _read_vector(path, "exclusion layer", layer=layer)
    if gdf.crs is None:
        raise FrameError("the exclusion layer has no coordinate reference system", where=str(path),
                         fix="set the CRS in the file (e.g. QGIS 'Assign projection')")
    geom = gdf.geometry.to_numpy()
    present = ~(pd.isna(geom) | shapely.is_empty(geom))
    kinds = np.where(present, shapely.get_type_id(geom), 3)
    bad = np.flatnonzero(~np.isin(kinds, [3, 6]))
    if len(bad):
        k = int(bad[0])
        raise FrameError(f"feature {k + 1} is a {geom[k].geom_type}, not a polygon ({len(bad)} such features)",
                         where=str(path), fix="an exclusion layer holds areas (Polygon/MultiPolygon): buffer points "
                                              "or lines into areas first (QGIS 'Buffer')")
    invalid = np.flatnonzero(present & ~shapely.is_valid(geom))
    if len(invalid):
        k = int(invalid[0])
        raise FrameError(f"feature {k + 1} is an invalid polygon ({shapely.is_valid_reason(geom[k])}; "
                         f"{len(invalid)} invalid features)", where=str(path),
                         fix="repair it (QGIS 'Fix geometries' or shapely.make_valid) and save the layer again")
    check_coordinate_range(gdf.geometry, source=str(path), what="exclusion layer")
    return gdf


def read_raster(path: PathLike, *, band: int = 1):
    """Read one band of a population raster (GeoTIFF) as a :class:`~hiddenpop.spatial.RasterLayer`."""
    import rasterio

    from hiddenpop.spatial.density import RasterLayer

    p = Path(path)
    if not p.exists():
        raise InputFileError("file not found", where=str(p), fix="check the path and the current folder")
    try:
        with rasterio.open(p) as src:
            if src.crs is None:
                raise FrameError("the raster has no coordinate reference system", where=str(p),
                                 fix="set it with gdal_edit.py -a_srs and the raster's EPSG code, e.g. EPSG:4326")
            values = src.read(band, masked=False).astype(float)
            nodata = src.nodata
            t = src.transform
            crs = src.crs.to_wkt()
    except rasterio.errors.RasterioIOError as exc:
        raise InputFileError(f"cannot read the raster ({exc})", where=str(p), fix="give a GeoTIFF file") from exc
    return RasterLayer(values=values, transform=(t.a, t.b, t.c, t.d, t.e, t.f), crs=crs, nodata=nodata,
                       source=str(path), source_sha256=sha256_file(p))


def read_manifest(path: PathLike) -> dict:
    """Read a design manifest written by :func:`write_manifest` (checks its format tag).

    Formats ``hiddenpop.design/1`` (one base64 WKB per unit) and ``hiddenpop.design/2``
    (compact per-stratum geometry blocks on a 1 mm grid) are both read.
    """
    from hiddenpop.spatial.designs import MANIFEST_FORMATS_READ

    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") not in MANIFEST_FORMATS_READ:
        raise InputFileError(f"not a hiddenpop design manifest (format {data.get('format') if isinstance(data, dict) else None!r})",
                             where=str(path), fix="give the .design.json written by 'hiddenpop frame sample'")
    return data


def read_design(path: PathLike, *, radius_m: float | None = None) -> Any:
    """Read a design manifest as a typed :class:`~hiddenpop.spatial.inclusion.FirstStageDesign`.

    ``radius_m`` overrides the manifest's circle radius (e.g. when the field protocol changed).
    """
    from hiddenpop.spatial.inclusion import FirstStageDesign

    return FirstStageDesign.from_manifest(read_manifest(path), radius_m=radius_m)


def write_manifest(path: PathLike, manifest: dict, *, overwrite: bool = False) -> None:
    """Write a manifest as sorted, indented JSON (deterministic bytes)."""
    write_json(path, manifest, overwrite=overwrite)


def read_points(path: PathLike) -> pd.DataFrame:
    """Read a points file written by hiddenpop (CSV, GeoPackage or GeoJSON) as a table."""
    p = Path(path)
    if p.suffix.lower() == ".csv":
        from hiddenpop.io import read_csv

        return read_csv(p, dtype={"point_id": str, "stratum": str, "unit_id": str})
    gdf = _read_vector(p, "points")
    return pd.DataFrame(gdf.drop(columns=gdf.geometry.name))


# ---------------------------------------------------------------------------- writers
def _clean(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(float(v)) else float(v)
    return v


def _properties(points: pd.DataFrame) -> list[dict]:
    cols = [c for c in points.columns if c != "geometry"]
    return [{c: _clean(v) for c, v in zip(cols, row)} for row in points[cols].itertuples(index=False, name=None)]


def _write_gpkg(points: gpd.GeoDataFrame, path: Path) -> None:
    import pyogrio

    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_DATE})
    try:
        pyogrio.write_dataframe(points, path, layer="points", driver="GPKG")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def _write_geojson(points: gpd.GeoDataFrame, path: Path) -> None:
    feats = [{"type": "Feature", "properties": props,
              "geometry": {"type": "Point", "coordinates": [props["lon"], props["lat"]]}}
             for props in _properties(points)]
    text = json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False, indent=1)
    path.write_text(text + "\n", encoding="utf-8")


def _fixed7(values: Any) -> list[str]:
    """Coordinates as text with exactly 7 decimals (~1 cm): '37.3700000', never '37.37'."""
    return [f"{float(v):.7f}" for v in values]


def _write_csv(points: gpd.GeoDataFrame, path: Path) -> None:
    tab = pd.DataFrame(points.drop(columns="geometry"))
    tab["lon"], tab["lat"] = _fixed7(tab["lon"]), _fixed7(tab["lat"])
    csv_to(path, tab)


def _desc(p: dict) -> str:
    kind = "main point" if p["reserve_rank"] == 0 else f"reserve {p['reserve_rank']} (use only if a point cannot be reached)"
    out = f"stratum {p['stratum']}, unit {p['unit_id']}, {kind}"
    if p.get("radius_m"):
        out += f", radius {p['radius_m']:g} m"
    return out


def _write_gpx(points: gpd.GeoDataFrame, path: Path) -> None:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<gpx version="1.1" creator="hiddenpop" xmlns="http://www.topografix.com/GPX/1/1">']
    for p in _properties(points):
        lines.append(f'  <wpt lat="{p["lat"]:.7f}" lon="{p["lon"]:.7f}">')
        lines.append(f"    <name>{escape(str(p['point_id']))}</name>")
        lines.append(f"    <desc>{escape(_desc(p))}</desc>")
        # Garmin symbol names (other apps ignore them): red flag = main point, blue flag = reserve
        lines.append(f"    <sym>{'Flag, Red' if p['reserve_rank'] == 0 else 'Flag, Blue'}</sym>")
        lines.append(f"    <type>{'point' if p['reserve_rank'] == 0 else 'reserve'}</type>")
        lines.append("  </wpt>")
    lines.append("</gpx>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_kml(points: gpd.GeoDataFrame, path: Path) -> None:
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    # KML 2.2 wants polygon rings counter-clockwise: walk the azimuths from 360° down (N, W, S, E).
    az = np.linspace(360.0, 0.0, 73)[:-1]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<kml xmlns="http://www.opengis.net/kml/2.2">', "<Document>",
             "  <name>hiddenpop points</name>",
             '  <Style id="main"><IconStyle><color>ff0000ff</color></IconStyle>'
             "<LineStyle><color>ff0000ff</color><width>2</width></LineStyle><PolyStyle><fill>0</fill></PolyStyle></Style>",
             '  <Style id="reserve"><IconStyle><color>ffbf5f1f</color></IconStyle>'
             "<LineStyle><color>ffbf5f1f</color><width>1</width></LineStyle><PolyStyle><fill>0</fill></PolyStyle></Style>"]
    for p in _properties(points):
        style = "main" if p["reserve_rank"] == 0 else "reserve"
        lines.append("  <Placemark>")
        lines.append(f"    <name>{escape(str(p['point_id']))}</name>")
        lines.append(f"    <description>{escape(_desc(p))}</description>")
        lines.append(f"    <styleUrl>#{style}</styleUrl>")
        lines.append(f"    <Point><coordinates>{p['lon']:.7f},{p['lat']:.7f},0</coordinates></Point>")
        lines.append("  </Placemark>")
        if p.get("radius_m"):
            lon, lat, _ = geod.fwd(np.full(len(az), p["lon"]), np.full(len(az), p["lat"]), az,
                                   np.full(len(az), p["radius_m"]))
            ring = " ".join(f"{a:.7f},{b:.7f},0" for a, b in zip(list(lon) + [lon[0]], list(lat) + [lat[0]]))
            lines.append("  <Placemark>")
            lines.append(f"    <name>{escape(str(p['point_id']))} circle {p['radius_m']:g} m</name>")
            lines.append(f"    <styleUrl>#{style}</styleUrl>")
            lines.append(f"    <Polygon><outerBoundaryIs><LinearRing><coordinates>{ring}</coordinates>"
                         "</LinearRing></outerBoundaryIs></Polygon>")
            lines.append("  </Placemark>")
    lines += ["</Document>", "</kml>"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


_ODK_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _write_odk(points: gpd.GeoDataFrame, path: Path) -> None:
    names = points["point_id"].astype(str)
    bad = [i for i, v in enumerate(names) if not _ODK_NAME.match(v)]
    if bad:
        raise FrameError("an ODK choice name may only hold letters, digits, '_', '-' and '.'",
                         where=format_where(path, row=bad[0] + 2, column="name", value=names.iloc[bad[0]]),
                         fix="use a point prefix without spaces, commas or quotes")
    dup = names.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise FrameError("ODK choice names must be unique", where=format_where(path, row=i + 2, column="name",
                                                                               value=names.iloc[i]),
                         fix="give every point its own id")
    tab = pd.DataFrame({
        "name": names,
        "label": [f"{pid} ({'main' if r == 0 else 'reserve ' + str(r)})"
                  for pid, r in zip(points["point_id"], points["reserve_rank"])],
        "stratum": points["stratum"],
        "unit_id": points["unit_id"],
        "lat": _fixed7(points["lat"]),
        "lon": _fixed7(points["lon"]),
        "radius_m": points["radius_m"] if "radius_m" in points else "",
        "reserve_rank": points["reserve_rank"],
    })
    csv_to(path, tab)


#: Point formats: name → writer(points GeoDataFrame, path).
POINT_FORMATS: dict[str, Callable[[gpd.GeoDataFrame, Path], None]] = {
    "gpkg": _write_gpkg,
    "geojson": _write_geojson,
    "csv": _write_csv,
    "gpx": _write_gpx,
    "kml": _write_kml,
    "odk": _write_odk,
}

#: File suffix written for each format.
FORMAT_SUFFIX = {"gpkg": ".gpkg", "geojson": ".geojson", "csv": ".csv", "gpx": ".gpx", "kml": ".kml",
                 "odk": ".odk.csv"}


def format_from_suffix(path: PathLike) -> str:
    """Point format named by a file's suffix (``.odk.csv`` → ``odk``)."""
    name = str(path).lower()
    for fmt, suffix in sorted(FORMAT_SUFFIX.items(), key=lambda kv: -len(kv[1])):
        if name.endswith(suffix):
            return fmt
    if name.endswith(".json"):
        return "geojson"
    raise InputFileError("cannot tell the output format from the file name", where=str(path),
                         fix="end the name with .gpkg, .geojson, .csv, .gpx, .kml or .odk.csv")
