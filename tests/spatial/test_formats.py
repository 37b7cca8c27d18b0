"""Field files load in the tools field teams use: GPX 1.1, KML 2.2, ODK/Kobo preload CSV, GeoPackage, GeoJSON, CSV."""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import Polygon

from hiddenpop.errors import FrameError
from hiddenpop.io.spatial import POINT_FORMATS
from hiddenpop.spatial import SamplingFrame, sample_points
from tests.spatial.helpers import city_frame

GPX_NS = "http://www.topografix.com/GPX/1/1"
KML_NS = "http://www.opengis.net/kml/2.2"
# Child elements of <wpt> in the order of the GPX 1.1 schema's wptType sequence (gpx.xsd).
GPX_WPT_SEQUENCE = ["ele", "time", "magvar", "geoidheight", "name", "cmt", "desc", "src", "link", "sym", "type",
                    "fix", "sat", "hdop", "vdop", "pdop", "ageofdgpsdata", "dgpsid", "extensions"]
RADIUS = 150.0


@pytest.fixture(scope="module")
def points():
    frame = SamplingFrame(city_frame(), stratum_col="region")
    return sample_points(frame, n=9, reserve=2, radius_m=RADIUS, rng=7).points


def _write(points, fmt, tmp_path):
    path = tmp_path / f"pts.{fmt}"
    POINT_FORMATS[fmt](points, path)
    return path


def test_gpx_is_gpx_1_1_waypoints_without_personal_data(points, tmp_path):
    root = ET.parse(_write(points, "gpx", tmp_path)).getroot()
    assert root.tag == f"{{{GPX_NS}}}gpx" and root.get("version") == "1.1" and root.get("creator")
    wpts = list(root)
    assert [w.tag for w in wpts] == [f"{{{GPX_NS}}}wpt"] * len(points)
    for w, row in zip(wpts, points.itertuples()):
        lat, lon = float(w.get("lat")), float(w.get("lon"))  # schema: required attributes
        assert -90 <= lat <= 90 and -180 <= lon < 180
        assert abs(lat - row.lat) < 5e-8 and abs(lon - row.lon) < 5e-8
        kids = [c.tag.split("}")[1] for c in w]
        assert set(kids) <= set(GPX_WPT_SEQUENCE)
        pos = [GPX_WPT_SEQUENCE.index(k) for k in kids]
        assert pos == sorted(pos) and len(set(kids)) == len(kids)  # schema order, each element once
        assert w.find(f"{{{GPX_NS}}}name").text == row.point_id
        assert w.find(f"{{{GPX_NS}}}sym").text == ("Flag, Red" if row.reserve_rank == 0 else "Flag, Blue")
        # only the design's own facts: no household, person or phone field
        desc = w.find(f"{{{GPX_NS}}}desc").text
        assert desc.startswith(f"stratum {row.stratum}, unit {row.unit_id}, ")
        assert not re.search(r"\+?\d[\d ]{8,}", desc)


def test_kml_placemark_per_point_and_true_radius_circles(points, tmp_path):
    root = ET.parse(_write(points, "kml", tmp_path)).getroot()
    assert root.tag == f"{{{KML_NS}}}kml"
    marks = root.findall(f".//{{{KML_NS}}}Placemark")
    pts = [m for m in marks if m.find(f"{{{KML_NS}}}Point") is not None]
    circles = [m for m in marks if m.find(f".//{{{KML_NS}}}Polygon") is not None]
    assert [m.find(f"{{{KML_NS}}}name").text for m in pts] == points["point_id"].tolist()
    assert len(circles) == len(points)
    for m, row in zip(circles, points.itertuples()):
        text = m.find(f".//{{{KML_NS}}}outerBoundaryIs/{{{KML_NS}}}LinearRing/{{{KML_NS}}}coordinates").text
        ll = np.array([[float(v) for v in t.split(",")[:2]] for t in text.split()])
        assert (ll[0] == ll[-1]).all()  # closed ring
        # KML 2.2: polygon rings counter-clockwise (positive shoelace area in lon/lat)
        assert shapely.Polygon(ll).exterior.is_ccw
        # Area in an equal-area projection centred on the point: a 72-gon inscribed in the
        # circle has area πR²·(72/2π)·sin(2π/72) = 0.99873 πR², inside the 0.5 % asked for.
        laea = CRS.from_proj4(f"+proj=laea +lat_0={row.lat} +lon_0={row.lon} +datum=WGS84 +units=m")
        x, y = Transformer.from_crs(4326, laea, always_xy=True).transform(ll[:, 0], ll[:, 1])
        area = Polygon(np.column_stack([x, y])).area
        assert abs(area / (math.pi * RADIUS**2) - 1) < 0.005
        assert abs(area / (math.pi * RADIUS**2) - 72 / (2 * math.pi) * math.sin(2 * math.pi / 72)) < 1e-4
        # every vertex is R metres (geodesic) from the point
        assert np.allclose(np.hypot(x, y), RADIUS, rtol=1e-4)


def test_odk_preload_columns_and_safe_unique_names(points, tmp_path):
    path = _write(points, "odk", tmp_path)
    tab = pd.read_csv(path, dtype=str)
    # select_one_from_file needs name + label; pulldata() looks rows up by the name column
    assert {"name", "label", "lat", "lon", "stratum", "reserve_rank"} <= set(tab.columns)
    assert list(tab.columns[:2]) == ["name", "label"]
    assert tab["name"].is_unique and tab["name"].str.fullmatch(r"[A-Za-z0-9_.-]+").all()
    assert (tab["label"].str.len() > 0).all()
    assert tab["lat"].str.fullmatch(r"-?\d+\.\d{7}").all() and tab["lon"].str.fullmatch(r"-?\d+\.\d{7}").all()
    assert tab["reserve_rank"].astype(int).tolist() == points["reserve_rank"].tolist()
    # names that would break ODK are refused, naming the row (header is row 1)
    bad = points.copy()
    bad.loc[bad.index[3], "point_id"] = "P A,1"
    with pytest.raises(FrameError, match=r"row 5, column 'name', value 'P A,1'"):
        POINT_FORMATS["odk"](bad, tmp_path / "bad.odk.csv")
    bad = points.copy()
    bad.loc[bad.index[4], "point_id"] = bad["point_id"].iloc[0]
    with pytest.raises(FrameError, match="unique"):
        POINT_FORMATS["odk"](bad, tmp_path / "dup.odk.csv")


@pytest.mark.parametrize("fmt", ["gpkg", "geojson"])
def test_gpkg_and_geojson_read_by_pyogrio_in_wgs84(points, tmp_path, fmt):
    path = _write(points, fmt, tmp_path)
    info = pyogrio.read_info(path)
    assert CRS.from_user_input(info["crs"]).equals(CRS.from_epsg(4326))
    assert info["geometry_type"] == "Point" and info["features"] == len(points)
    back = pyogrio.read_dataframe(path)
    assert back["point_id"].tolist() == points["point_id"].tolist()
    assert np.allclose(back.geometry.x, points["lon"], atol=1e-9) and np.allclose(back.geometry.y, points["lat"], atol=1e-9)


def test_csv_lon_lat_with_seven_decimals(tmp_path):
    frame = SamplingFrame(city_frame(), stratum_col="region")
    pts = sample_points(frame, n=3, rng=1).points
    pts.loc[pts.index[0], ["lon", "lat"]] = [28.9, 41.05]  # a round value must not lose its decimals
    text = _write(pts, "csv", tmp_path).read_text().splitlines()
    header = text[0].split(",")
    i, j = header.index("lon"), header.index("lat")
    rows = [r.split(",") for r in text[1:]]
    assert rows[0][i] == "28.9000000" and rows[0][j] == "41.0500000"
    assert all(re.fullmatch(r"-?\d+\.\d{7}", r[i]) and re.fullmatch(r"-?\d+\.\d{7}", r[j]) for r in rows)
