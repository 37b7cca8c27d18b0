"""Spatial first stage: speed against geopandas.GeoSeries.sample_points, in one run.

Prints a Markdown table of medians (5 repeats) and ratios. Cases:
1. 100,000 uniform points over 1,024 polygons (32x32 grid of jittered quadrilaterals).
2. 100,000 uniform points over 300 detailed polygons (~1e6 vertices in total).
3. Balanced draw of 1,000 points from a 100,000-point frame (GRTS and LPM).
"hiddenpop (core)" is PointDensity.sample on a prepared density (triangulation cached);
"hiddenpop (with setup)" includes building the density and its triangulation.
"""
from __future__ import annotations

import statistics
import time

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Polygon

from hiddenpop.spatial import PointDensity, grts, lpm


def _median(f, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def grid_polygons(k=32, size=1000.0, seed=1):
    rng = np.random.default_rng(seed)
    pts = np.stack(np.meshgrid(np.arange(k + 1), np.arange(k + 1), indexing="ij"), -1) * size
    pts = pts + rng.uniform(-0.2, 0.2, pts.shape) * size
    polys = [Polygon([pts[i, j], pts[i + 1, j], pts[i + 1, j + 1], pts[i, j + 1]]) for i in range(k) for j in range(k)]
    return np.array(polys, dtype=object)


def detailed_polygons(n=300, vertices=3400, seed=2):
    rng = np.random.default_rng(seed)
    polys = []
    for i in range(n):
        t = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
        r = 1000 * (1 + 0.25 * np.sin(7 * t + i) + 0.05 * rng.standard_normal(vertices).cumsum() / np.sqrt(vertices))
        c = np.array([(i % 20) * 3000.0, (i // 20) * 3000.0])
        polys.append(shapely.make_valid(Polygon(np.column_stack([c[0] + r * np.cos(t), c[1] + r * np.sin(t)]))))
    return np.array(polys, dtype=object)


def case_uniform(label, polys, n=100_000):
    gs = gpd.GeoSeries(polys)
    area = shapely.area(polys)
    counts = np.random.default_rng(0).multinomial(n, area / area.sum())
    base = _median(lambda: gs.sample_points(counts, rng=1), repeat=3)
    dens = PointDensity.uniform(polys, range(len(polys)))
    dens.sample(10, rng=0)  # triangulate once
    core = _median(lambda: dens.sample(n, rng=1))
    setup = _median(lambda: PointDensity.uniform(polys, range(len(polys))).sample(n, rng=1), repeat=3)
    nv = int(shapely.get_num_coordinates(polys).sum())
    return [
        (f"{label} ({len(polys)} polygons, {nv:,} vertices)", "geopandas sample_points", base, 1.0),
        ("", "hiddenpop (core)", core, base / core),
        ("", "hiddenpop (with setup)", setup, base / setup),
    ]


def case_balanced(n_frame=100_000, n=1000):
    xy = np.random.default_rng(3).random((n_frame, 2)) * 10000
    p = n / n_frame
    g = _median(lambda: grts(xy, p, rng=1))
    l_ = _median(lambda: lpm(xy, p, rng=1), repeat=3)
    return [(f"balanced {n:,} of {n_frame:,} points", "GRTS", g, None), ("", "LPM", l_, None)]


def main():
    rows = case_uniform("100,000 uniform points", grid_polygons())
    rows += case_uniform("100,000 uniform points", detailed_polygons())
    rows += case_balanced()
    print("| case | method | median (s) | speed-up vs geopandas |")
    print("|---|---|---:|---:|")
    for case, method, t, ratio in rows:
        print(f"| {case} | {method} | {t:.4f} | {'' if ratio is None else f'{ratio:.1f}x'} |")


if __name__ == "__main__":
    main()
