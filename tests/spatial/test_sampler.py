"""Exact point sampler (triangles vs bounding-box rejection), fast LPM, compact manifest."""
from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Polygon, box

from hiddenpop.io.spatial import read_manifest
from hiddenpop.spatial import PointDensity, SamplingFrame, first_stage_probabilities, lpm, sample_points
from hiddenpop.spatial.geometry import triangle_areas, triangulate_parts
from tests.spatial.helpers import city_frame


def _detailed_ring(n=400, hole=True):
    # a star-shaped polygon with n vertices (rejection path: > 64 vertices) and a square hole
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 100 * (1 + 0.3 * np.sin(5 * t))
    shell = np.column_stack([r * np.cos(t), r * np.sin(t)])
    return Polygon(shell, [box(-20, -20, 20, 20).exterior.coords] if hole else None)


def test_earcut_triangles_partition_detailed_polygon_with_hole():
    # two routes to the area: shapely's area of the polygon vs the sum of the ear-clipping triangles
    poly = _detailed_ring()
    tri, owner = triangulate_parts([poly, box(0, 0, 1, 1)])
    np.testing.assert_allclose(np.abs(triangle_areas(tri[owner == 0])).sum(), poly.area, rtol=1e-12)
    assert np.abs(triangle_areas(tri[owner == 1])).sum() == 1.0
    # no triangle centroid lies in the hole or outside the shell
    c = tri[owner == 0].mean(axis=1)
    assert shapely.contains_xy(poly, c[:, 0], c[:, 1]).all()


def test_rejection_and_triangle_paths_agree_with_area_shares():
    # The same density drawn by bounding-box rejection (fresh density, 400-vertex part) and from
    # its triangulation (after prepare()): share of 40,000 points in each quarter vs the quarter's
    # exact area share (4 binomial SE), and no point in the hole.
    # (4,000 vertices; batches of 1,000 points need ~1,700 rejection tests < 4,000 vertices, so a
    # fresh density keeps the rejection path)
    poly = _detailed_ring(4000)
    quarters = [box(0, 0, 200, 200), box(-200, 0, 0, 200), box(-200, -200, 0, 0), box(0, -200, 200, 0)]
    share = np.array([shapely.intersection(poly, q).area for q in quarters]) / poly.area
    n = 40000
    se = np.sqrt(share * (1 - share) / n)
    for prepared in (False, True):
        d = PointDensity.uniform([poly], ["a"])
        if prepared:
            d.prepare()
        gen = np.random.default_rng(5)
        draws = [d.sample(1000, rng=gen) for _ in range(n // 1000)]
        xy, piece = np.concatenate([a for a, _ in draws]), np.concatenate([b for _, b in draws])
        assert (d._slot[0] >= 0) == prepared  # the path really used
        obs = np.array([shapely.contains_xy(q, xy[:, 0], xy[:, 1]).mean() for q in quarters])
        assert (np.abs(obs - share) < 4 * se).all(), (prepared, obs, share)
        assert not shapely.contains_xy(box(-20, -20, 20, 20), xy[:, 0], xy[:, 1]).any()
        assert (piece == 0).all()


def test_mixed_parts_follow_density_and_order_is_random():
    # a detailed part (rejection) with weight 1 and a square (triangles) with weight 3 per m²:
    # expected share of the square = 3 A_sq / (A_poly + 3 A_sq); 20,000 draws, 4 SE. The
    # sequence is i.i.d.: the first half has the same share as the second (4 SE of a difference).
    poly = shapely.affinity.translate(_detailed_ring(hole=False), 500, 0)
    sq = box(0, 0, 50, 50)
    d = PointDensity([poly, sq], [1.0, 3.0], ["p", "s"])
    n = 20000
    _, piece = d.sample(n, rng=9)
    expect = 3 * sq.area / (poly.area + 3 * sq.area)
    se = np.sqrt(expect * (1 - expect) / n)
    assert abs((piece == 1).mean() - expect) < 4 * se
    half = n // 2
    diff = (piece[:half] == 1).mean() - (piece[half:] == 1).mean()
    assert abs(diff) < 4 * np.sqrt(2 * expect * (1 - expect) / half)


def test_lpm_large_frame_fixed_size_and_frequencies():
    # 5,000 candidates with pi = 0.01 (n = 50): fixed size every time; over 150 draws the number
    # of selected units in the left half (150 draws) has mean ~25 (sum of pi) within 4 SE of the Poisson
    # bound (LPM is at least as precise as Poisson sampling for this spatially smooth variable).
    xy = np.random.default_rng(2).random((5000, 2))
    left = xy[:, 0] < 0.5
    counts = []
    for k in range(150):
        s = lpm(xy, 0.01, rng=k)
        assert len(s) == 50 and len(np.unique(s)) == 50
        counts.append(left[s].sum())
    counts = np.array(counts)
    expect = 0.01 * left.sum()
    assert abs(counts.mean() - expect) < 4 * np.sqrt(expect / 150)
    # spatial balance: Poisson sampling's SD of the count is sqrt(sum pi(1-pi)) ~ 4.96 here; over
    # these 150 draws LPM's SD is 1.11, so the bound 0.5 sqrt(expect) ~ 2.5 is far from both
    assert counts.std() < 0.5 * np.sqrt(expect)


def test_lpm_duplicated_points():
    # 20 units at 5 locations (4 copies each), pi = 0.25: exactly 5 selected; frequencies 0.25
    # within 4.5 SE over 2,000 draws
    xy = np.repeat(np.random.default_rng(1).random((5, 2)), 4, axis=0)
    freq = np.zeros(20)
    for k in range(2000):
        s = lpm(xy, 0.25, rng=k)
        assert len(s) == 5
        freq[s] += 1
    assert (np.abs(freq / 2000 - 0.25) < 4.5 * np.sqrt(0.25 * 0.75 / 2000)).all()


def test_manifest_v2_is_compact_and_v1_still_read(tmp_path):
    f = SamplingFrame(city_frame(), stratum_col="region")
    s = sample_points(f, n=9, radius_m=200, rng=3)
    m2 = s.manifest
    assert m2["format"] == "hiddenpop.design/2"
    assert all("wkb" not in u for d in m2["domains"].values() for u in d["units"])
    # rebuild the same manifest in format 1 (one base64 WKB per unit) and compare the probabilities
    from hiddenpop.spatial import domain_geometries

    m1 = json.loads(json.dumps(m2))
    m1["format"] = "hiddenpop.design/1"
    for label, info in m1["domains"].items():
        geoms = domain_geometries(info)
        for u, g in zip(info["units"], geoms):
            u["wkb"] = base64.b64encode(shapely.to_wkb(g, output_dimension=2, byte_order=1)).decode("ascii")
        del info["geometry"]
    (tmp_path / "v1.design.json").write_text(json.dumps(m1))
    (tmp_path / "v2.design.json").write_text(json.dumps(m2))
    hh = pd.DataFrame({"lon": [28.91, 28.9005, 28.95], "lat": [41.05, 41.03, 41.0245]})
    p1 = first_stage_probabilities(read_manifest(tmp_path / "v1.design.json"), hh)
    p2 = first_stage_probabilities(read_manifest(tmp_path / "v2.design.json"), hh)
    pd.testing.assert_frame_equal(p1, p2)
    # compact: the format-2 file is smaller than format 1 on a detailed frame
    g = city_frame()
    g["geometry"] = g.geometry.segmentize(0.0002)  # ~100 vertices per edge
    m = sample_points(SamplingFrame(g), n=5, rng=1).manifest
    v2 = len(json.dumps(m))
    for info in m["domains"].values():
        for u, geom in zip(info["units"], domain_geometries(info)):
            u["wkb"] = base64.b64encode(shapely.to_wkb(geom, output_dimension=2, byte_order=1)).decode("ascii")
        del info["geometry"]
    assert v2 < 0.5 * len(json.dumps(m))


def test_geometry_block_round_trip_within_half_a_millimetre():
    # mixed Polygon (with a hole) and MultiPolygon units at realistic projected coordinates:
    # the decoded polygons keep their types, holes and areas, and every vertex moves by at most
    # half the 1 mm grid (rounding); decoding the block again gives identical geometries
    from hiddenpop.spatial.designs import _pack_geometries, _unpack_geometries

    rng = np.random.default_rng(4)
    base = np.array([412345.6789123, -231234.5432109])
    ring = shapely.affinity.translate(_detailed_ring(300), *base)
    multi = shapely.MultiPolygon([box(0, 0, 10.00049, 10), box(20, 0, 30, 10.0004)])
    multi = shapely.affinity.translate(multi, *(base + rng.random(2)))
    geoms = np.array([ring, multi, box(*base, *(base + 5))], dtype=object)
    block, decoded = _pack_geometries(geoms)
    assert [g.geom_type for g in decoded] == ["Polygon", "MultiPolygon", "Polygon"]
    assert len(decoded[0].interiors) == 1
    for a, b in zip(geoms, decoded):
        ca, cb = shapely.get_coordinates(a), shapely.get_coordinates(b)
        assert ca.shape == cb.shape and np.abs(ca - cb).max() <= 0.0005 + 1e-9
    # area moves by at most perimeter x largest vertex displacement (0.5 mm in x and in y)
    bound = shapely.length(geoms) * 0.0005 * np.sqrt(2)
    assert (np.abs(shapely.area(decoded) - shapely.area(geoms)) <= bound).all()
    again = _unpack_geometries(json.loads(json.dumps(block)))
    assert all(shapely.equals_exact(a, b, tolerance=0) for a, b in zip(decoded, again))


def test_ear_clipping_failure_falls_back_to_constrained_delaunay(monkeypatch):
    # simulate an ear clipping that loses triangles: the area check (1e-9) must catch it and the
    # polygon must still be partitioned exactly (GEOS constrained Delaunay), hole excluded
    import mapbox_earcut

    real = mapbox_earcut.triangulate_float64
    monkeypatch.setattr(mapbox_earcut, "triangulate_float64", lambda xy, ends: real(xy, ends)[:-3])
    poly = _detailed_ring()
    tri, owner = triangulate_parts([poly])
    np.testing.assert_allclose(np.abs(triangle_areas(tri)).sum(), poly.area, rtol=1e-12)
    c = tri.mean(axis=1)
    assert shapely.contains_xy(poly, c[:, 0], c[:, 1]).all()
