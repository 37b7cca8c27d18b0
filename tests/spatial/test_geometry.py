"""Exact disc–polygon areas (hiddenpop.spatial.geometry)."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Point, box

from hiddenpop.spatial import DiscAreaCalculator, disc_area_in_polygon
from hiddenpop.spatial.geometry import triangulate, triangle_areas
from tests.spatial.helpers import SOUTH_AFRICA


def _south_africa_laea():
    g = gpd.read_file(SOUTH_AFRICA).to_crs("+proj=laea +lat_0=-29.3 +lon_0=27.5 +datum=WGS84 +units=m")
    return g.geometry.iloc[0]


def test_interior_edge_corner_hand_values():
    # hand calculation: full disc pi r^2, half disc on a straight edge, quarter at a right-angle corner
    sq = box(0, 0, 1000, 1000)
    a = disc_area_in_polygon([500, 500, 0, 1000], [500, 0, 0, 1000], 50.0, sq)
    # centres exactly on the boundary use a documented central difference (error ~1e-12 r^2)
    np.testing.assert_allclose(a, np.pi * 2500 * np.array([1, 0.5, 0.25, 0.25]), rtol=1e-9)


def test_circular_segment_hand_value():
    # a chord at distance d from the centre cuts off a segment r^2 acos(d/r) - d sqrt(r^2-d^2)
    r, d = 10.0, 4.0
    seg = r * r * np.arccos(d / r) - d * np.sqrt(r * r - d * d)
    a = disc_area_in_polygon(0.0, -d, r, box(-100, 0, 100, 100))[0]
    assert abs(a - seg) < 1e-9


def test_real_polygon_with_hole_matches_fine_buffer():
    # South Africa (Natural Earth) has a hole (Lesotho). Independent route: shapely intersection
    # with a 16000-gon, whose area falls short of the disc by about (2 pi^2 / 3) / 16000^2 = 2.6e-8.
    sa = _south_africa_laea()
    assert len(sa.interiors) == 1
    hole = shapely.Polygon(sa.interiors[0])
    rng = np.random.default_rng(1)
    # centres on a band around the Lesotho border and the outer coast, radius 20 km
    bnd = shapely.get_coordinates(shapely.segmentize(sa.boundary, 20000))
    pts = bnd[rng.choice(len(bnd), 150, replace=False)] + rng.normal(0, 10000, (150, 2))
    r = 20000.0
    exact = disc_area_in_polygon(pts[:, 0], pts[:, 1], r, sa)
    discs = shapely.buffer(shapely.points(pts), r, quad_segs=4000)
    ref = shapely.area(shapely.intersection(discs, sa)) / (1 - 2.6e-8)
    np.testing.assert_allclose(exact, ref, atol=1e-6 * np.pi * r * r)
    assert (exact < 0.99 * np.pi * r * r).sum() > 50  # the centres really are near edges
    # a centre in the middle of the hole but with a disc reaching out of it
    c = hole.centroid
    inside_hole = disc_area_in_polygon(c.x, c.y, 5000.0, sa)[0]
    assert inside_hole == 0.0  # Lesotho is wider than 5 km around its centroid


def test_weighted_pieces_equal_sum_of_separate_areas():
    # two routes: one calculator over weighted pieces = weighted sum of single-piece areas
    a, b = box(0, 0, 10, 10), box(10, 0, 20, 10)
    x, y = np.array([9.0, 10.0, 12.0]), np.array([5.0, 9.5, 1.0])
    calc = DiscAreaCalculator([a, b], max_radius=3.0, weights=[2.0, 5.0])
    expect = 2 * disc_area_in_polygon(x, y, 3.0, a) + 5 * disc_area_in_polygon(x, y, 3.0, b)
    np.testing.assert_allclose(calc.area(x, y, 3.0), expect, rtol=1e-12)


def test_buffer_is_too_small_exact_is_not():
    # methods brief 7.5: a default buffer (32-gon) is 1 - 32 sin(2pi/32)/(2pi) = 0.16% too small
    a = disc_area_in_polygon(0.0, 0.0, 100.0, box(-1e4, -1e4, 1e4, 1e4))[0]
    buf = Point(0, 0).buffer(100.0).area
    assert abs(a / (np.pi * 1e4) - 1) < 1e-12
    assert 0.0015 < 1 - buf / a < 0.0017


def test_triangulation_partitions_polygon_with_hole():
    sa = _south_africa_laea()
    tri = triangulate(sa)
    np.testing.assert_allclose(np.abs(triangle_areas(tri)).sum(), sa.area, rtol=1e-9)
