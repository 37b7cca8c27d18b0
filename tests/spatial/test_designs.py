"""Designs, balanced selection, allocation and RGCS probabilities (hiddenpop.spatial)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from hiddenpop.errors import DesignError, FrameError
from hiddenpop.spatial import (PointDensity, RasterLayer, SamplingFrame, allocate, first_stage_probabilities, grts,
                               lpm, record_replacement, reserve_order, sample_points, spatial_balance)
from tests.spatial.helpers import city_frame


def _frame(**kw):
    return SamplingFrame(city_frame(), stratum_col="region", **kw)


def test_fixed_size_per_stratum_and_reproducible():
    # Σπ = n per stratum: every candidate has π = m/N, so N·(m/N) = m points are selected
    f = _frame(size_col="refugees")
    for method in ("uniform", "pps", "balanced"):
        s = sample_points(f, n=12, method=method, reserve=2, rng=3)
        counts = s.main.groupby("stratum").size().to_dict()
        assert counts == {k: v["n"] for k, v in s.manifest["strata"].items()}
        assert sum(counts.values()) == 12
        again = sample_points(f, n=12, method=method, reserve=2, rng=3)
        pd.testing.assert_frame_equal(s.points, again.points)


def test_uniform_points_frequency_by_unit_and_hole():
    # 20,000 uniform points: share in each unit vs its area share, within 4 binomial SE;
    # none in the park (the hole of unit U4)
    f = SamplingFrame(city_frame())
    s = sample_points(f, n=20000, rng=11)
    units = f.units.to_crs(s.manifest["crs"]["wkt"])
    share = units.area / units.area.sum()
    obs = s.points.groupby("unit_id").size().reindex(units["unit_id"]).to_numpy() / 20000
    se = np.sqrt(share * (1 - share) / 20000)
    assert (np.abs(obs - share.to_numpy()) < 4 * se.to_numpy()).all()
    hole = shapely.Polygon(f.units.geometry.iloc[4].interiors[0])
    assert not shapely.contains_xy(hole, s.points.lon, s.points.lat).any()


def test_pps_points_frequency_by_size():
    # PPS by size: share of points in a unit = size / total size (4 SE, 20,000 draws)
    f = SamplingFrame(city_frame(), size_col="refugees")
    s = sample_points(f, n=20000, method="pps", rng=5)
    share = f.units["refugees"] / f.units["refugees"].sum()
    obs = s.points.groupby("unit_id").size().reindex(f.units["unit_id"]).fillna(0).to_numpy() / 20000
    se = np.sqrt(share * (1 - share) / 20000)
    assert (np.abs(obs - share.to_numpy()) < 4 * se.to_numpy()).all()


def test_grts_and_lpm_frequencies_match_unequal_probabilities():
    # 40 units with unequal π summing to 8; 3,000 draws; each frequency within 4.5 SE of π
    rng = np.random.default_rng(1)
    xy = rng.random((40, 2))
    p = rng.uniform(0.05, 0.4, 40)
    p = p * 8 / p.sum()
    for method in (grts, lpm):
        freq = np.zeros(40)
        for k in range(3000):
            sel = method(xy, p, rng=k)
            assert len(sel) == 8
            freq[sel] += 1
        se = np.sqrt(p * (1 - p) / 3000)
        assert (np.abs(freq / 3000 - p) < 4.5 * se).all(), method.__name__


def test_lpm_balancedsampling_example():
    # BalancedSampling lpm2 help, Example 2: p = (0.2, ..., 0.9), 10,000 repetitions, empirical
    # inclusion probabilities ≈ p. Tolerance 4 SE (SE <= 0.005).
    p = np.array([0.2, 0.25, 0.35, 0.4, 0.5, 0.5, 0.55, 0.65, 0.7, 0.9])
    xy = np.random.default_rng(12345).random((10, 2))
    gen = np.random.default_rng(2)
    freq = np.zeros(10)
    for _ in range(10000):
        freq[lpm(xy, p, rng=gen)] += 1
    se = np.sqrt(p * (1 - p) / 10000)
    assert (np.abs(freq / 10000 - p) < 4 * se).all()


def test_balanced_better_than_simple_random():
    # Voronoi balance (Stevens & Olsen 2004): mean over 30 draws of GRTS and LPM below SRS.
    # Threshold from a 60-draw simulation of this set-up: SRS 0.30 (SE of a 30-draw mean 0.017),
    # GRTS 0.097 (SE 0.004), LPM 0.074 (SE 0.003); 0.6 x SRS = 0.18 is > 4 SE from every mean.
    xy = np.random.default_rng(4).random((2000, 2))
    p = 50 / 2000
    gen = np.random.default_rng(9)
    srs = np.mean([spatial_balance(xy, p, xy[gen.choice(2000, 50, replace=False)]) for _ in range(30)])
    g = np.mean([spatial_balance(xy, p, xy[grts(xy, p, rng=gen)]) for _ in range(30)])
    l_ = np.mean([spatial_balance(xy, p, xy[lpm(xy, p, rng=gen)]) for _ in range(30)])
    assert g < 0.6 * srs and l_ < 0.6 * srs


def test_reserve_order_prefix_is_exactly_proportional():
    # every position of m = 10 selected points is in the first k = 4 with probability k/m = 0.4
    xy = np.random.default_rng(3).random((10, 2))
    hits = np.zeros(10)
    for k in range(4000):
        hits[reserve_order(xy, rng=k)[:4]] += 1
    se = np.sqrt(0.4 * 0.6 / 4000)
    assert (np.abs(hits / 4000 - 0.4) < 4.5 * se).all()


def test_allocation_rules_hand_values():
    t = pd.DataFrame({"stratum": ["a", "b", "c"], "basis": [60.0, 30.0, 10.0], "variability": [1.0, 2.0, 4.0]})
    assert allocate(10, t) == {"a": 6, "b": 3, "c": 1}
    assert allocate(10, t, "equal") == {"a": 4, "b": 3, "c": 3}  # 3.33 each; one leftover to the first
    # Neyman: 60*1, 30*2, 10*4 = 60:60:40 -> quotas 3.75, 3.75, 2.5; floors 3, 3, 2 leave 2 points,
    # which go to the two largest remainders (0.75, 0.75) -> 4, 4, 2
    assert allocate(10, t, "neyman") == {"a": 4, "b": 4, "c": 2}
    assert allocate(10, t, "min:2") == {"a": 5, "b": 3, "c": 2}  # c fixed at 2, 8 split 60:30 -> 5.33, 2.67
    assert allocate(None, t, {"a": 1, "b": 2, "c": 3}) == {"a": 1, "b": 2, "c": 3}
    with pytest.raises(DesignError, match="does not match"):
        allocate(None, t, {"a": 1})
    with pytest.raises(DesignError, match="none for stratum 'b'"):
        allocate(10, t.assign(variability=[1.0, np.nan, 4.0]), "neyman")


def test_rgcs_interior_exact_and_edge_matches_monte_carlo():
    f = SamplingFrame(city_frame())
    s = sample_points(f, n=50, radius_m=300, rng=1)
    area = s.manifest["strata"]["all"]["area_m2"]
    hh = pd.DataFrame({"lon": [28.91, 28.9005, 28.93], "lat": [41.05, 41.03, 41.0245]})
    out = first_stage_probabilities(s.manifest, hh)
    # interior household (far from edges and the park): p = pi R^2 / A exactly
    # (the manifest's area_m2 is rounded to 1e-3 m²: relative error at most 0.0005 / A, about 1.5e-11 here)
    assert abs(out.p_hit.iloc[0] / (np.pi * 300**2 / area) - 1) < 0.0005 / area + 1e-13
    assert np.allclose(out.stage1_prob, 1 - (1 - out.p_hit) ** 50)
    # near the outer edge and near the park: Monte Carlo with 400,000 uniform draws
    from hiddenpop.spatial import densities_from_manifest
    from pyproj import Transformer

    d = densities_from_manifest(s.manifest)["all"]
    xy, _ = d.sample(400000, rng=8)
    tr = Transformer.from_crs(4326, s.manifest["crs"]["wkt"], always_xy=True)
    for k in (1, 2):
        x, y = tr.transform(hh.lon[k], hh.lat[k])
        mc = np.mean(np.hypot(xy[:, 0] - x, xy[:, 1] - y) <= 300)
        se = np.sqrt(mc * (1 - mc) / 400000)
        assert abs(out.p_hit.iloc[k] - mc) < 4 * se
        assert out.p_hit.iloc[k] < 0.99 * np.pi * 300**2 / area  # really clipped


def test_raster_density_probability_matches_monte_carlo():
    # a 4x4 raster of counts over one unit: p from exact pieces vs 400,000 draws (4 SE)
    units = city_frame().iloc[[0]]
    f = SamplingFrame(units)
    vals = np.arange(16, dtype=float).reshape(4, 4)
    r = RasterLayer(values=vals, transform=(0.005, 0, 28.90, 0, -0.005, 41.02), crs="EPSG:4326")
    s = sample_points(f, n=10, method="pps", raster=r, radius_m=200, rng=2)
    hh = pd.DataFrame({"lon": [28.905, 28.9149], "lat": [41.006, 41.0151]})
    out = first_stage_probabilities(s.manifest, hh)
    from hiddenpop.spatial import densities_from_manifest
    from pyproj import Transformer

    d = densities_from_manifest(s.manifest)["all"]
    xy, _ = d.sample(400000, rng=3)
    tr = Transformer.from_crs(4326, s.manifest["crs"]["wkt"], always_xy=True)
    x, y = tr.transform(hh.lon.to_numpy(), hh.lat.to_numpy())
    for k in range(2):
        mc = np.mean(np.hypot(xy[:, 0] - x[k], xy[:, 1] - y[k]) <= 200)
        assert abs(out.p_hit.iloc[k] - mc) < 4 * np.sqrt(mc * (1 - mc) / 400000)
    # the top-left cell (value 0) gets no points; the densest cell (15) the most
    assert s.points.lon.size == 10


def test_out_of_frame_household_is_named():
    f = SamplingFrame(city_frame())
    s = sample_points(f, n=5, radius_m=100, rng=1)
    hh = pd.DataFrame({"lon": [28.91, 10.0], "lat": [41.05, 10.0]})
    with pytest.raises(DesignError, match="row 3.*outside the sampling frame"):
        first_stage_probabilities(s.manifest, hh, source="hh.csv")
    with pytest.raises(DesignError, match="missing or impossible"):
        first_stage_probabilities(s.manifest, pd.DataFrame({"lon": [None], "lat": [41.0]}))
    # a missing location column names the file and the columns that are there
    with pytest.raises(DesignError, match=r"hh.csv: missing column\(s\) 'lat' \(columns present: 'lon', 'y'\)"):
        first_stage_probabilities(s.manifest, pd.DataFrame({"lon": [28.91], "y": [41.05]}), source="hh.csv")


def test_prepared_design_locates_households_like_the_one_off_call():
    # FirstStageDesign builds its unit index once; repeated queries give what one-off calls give
    # (two routes), and the strata found from the locations are those given explicitly
    # (city_frame: region by longitude band, A 28.90-28.92, B 28.92-28.94, C 28.94-28.96)
    from hiddenpop.spatial import FirstStageDesign

    s = sample_points(_frame(), n=9, radius_m=200, rng=2)
    hh = pd.DataFrame({"lon": [28.91, 28.93, 28.95], "lat": [41.01, 41.01, 41.05], "region": ["A", "B", "C"]})
    design = FirstStageDesign.from_manifest(s.manifest)
    first, again = design.probabilities(hh), design.probabilities(hh.iloc[::-1])
    pd.testing.assert_frame_equal(first, first_stage_probabilities(s.manifest, hh))
    pd.testing.assert_frame_equal(again, first.iloc[::-1])
    assert first["stratum"].tolist() == ["A", "B", "C"]
    pd.testing.assert_frame_equal(first, design.probabilities(hh, stratum_col="region"))


def test_min_distance_respected_and_impossible_n():
    f = SamplingFrame(city_frame())
    s = sample_points(f, n=30, min_distance_m=400, rng=4)
    from scipy.spatial.distance import pdist
    from pyproj import Transformer

    tr = Transformer.from_crs(4326, s.manifest["crs"]["wkt"], always_xy=True)
    x, y = tr.transform(s.points.lon.to_numpy(), s.points.lat.to_numpy())
    assert pdist(np.column_stack([x, y])).min() >= 400 - 0.05  # lon/lat rounded to 1e-7 deg (~1 cm)
    # about 32 km² cannot hold 1000 points 400 m apart (hexagonal packing: < 300)
    with pytest.raises(DesignError, match="at most"):
        sample_points(f, n=1000, min_distance_m=400, rng=4)


def test_zero_size_stratum_and_empty_replacement_refused():
    g = city_frame()
    g.loc[g.region == "B", "refugees"] = 0.0
    with pytest.raises(FrameError, match="stratum 'B' has total size 0"):
        sample_points(SamplingFrame(g, stratum_col="region", size_col="refugees"), n=9, method="pps", rng=1)
    s = sample_points(SamplingFrame(city_frame(), stratum_col="region"), n=6, reserve=2, rng=1)
    with pytest.raises(DesignError, match="valid zero"):
        record_replacement(s.manifest, "P-A-0001", reason="no households", points=s.points)
    m2, used = record_replacement(s.manifest, "P-A-0001", reason="inaccessible", points=s.points)
    assert used == "P-A-0003" and m2["replacements"][0]["reason"] == "inaccessible"  # first reserve (rank 1)


def test_stratum_covered_by_the_exclusion_is_named():
    # region C is lon 28.94-28.96 (city_frame); an exclusion over all of it leaves no area to draw in
    import geopandas as gpd

    cover = gpd.GeoDataFrame(geometry=[box(28.939, 40.99, 28.97, 41.07)], crs=4326)
    with pytest.raises(DesignError) as info:
        sample_points(_frame(), n=9, exclusion=cover, rng=1)
    text = str(info.value)
    assert text.startswith("stratum 'C': the point density has no mass") and text.count("Fix:") == 1
    assert "exclusion layer covers all of this stratum" in text


def test_point_density_mass_sums_to_one():
    # two routes: a disc covering the whole domain has mass 1; weights integrate to 1
    d = PointDensity.from_sizes([box(0, 0, 10, 10), box(10, 0, 30, 10)], [1.0, 3.0], ["a", "b"])
    assert abs(d.disc_mass(15.0, 5.0, 40.0)[0] - 1.0) < 1e-12
    assert abs((d.weights * d.piece_area).sum() - 1.0) < 1e-12
