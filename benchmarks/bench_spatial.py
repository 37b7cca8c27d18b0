"""Spatial first stage: speed against geopandas.GeoSeries.sample_points, in one run.

Prints a Markdown table of medians (5 repeats) and ratios. Cases:
1. 100,000 uniform points over 1,024 polygons (32x32 grid of jittered quadrilaterals).
2. 100,000 uniform points over 300 detailed polygons (~1e6 vertices in total).
3. Balanced draw of 1,000 points from a 100,000-point frame (GRTS and LPM).
4. Manifest size for the detailed frame (format 2: 1 mm grid, delta-encoded, zlib, vs the
   format-1 layout of one base64 WKB per unit) and the end-to-end sample_points time.
"hiddenpop one-off (setup included)": a fresh density built from fresh geometry objects
(no prepared-geometry or triangulation cache), then 100,000 points — what one CLI run pays.
"hiddenpop prepared": PointDensity.sample after PointDensity.prepare() (triangulation cached,
as for repeated draws); the prepare() time itself is shown on its own row.
Every timed repeat of geopandas and of the one-off route gets fresh copies of the polygons
(shapely caches prepared geometries on the objects).
"""
from __future__ import annotations

import statistics
import time

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Polygon

from hiddenpop.spatial import PointDensity, grts, lpm


def _median(f, repeat=5, fresh=None, clock=time.perf_counter):
    """Median wall time of ``f()`` (or ``f(fresh())`` with an untimed ``fresh()`` per repeat)."""
    times = []
    for _ in range(repeat):
        arg = fresh() if fresh is not None else None
        t = clock()
        f(arg) if fresh is not None else f()
        times.append(clock() - t)
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


def case_uniform(label, polys, n=100_000, repeat=5):
    def fresh():
        return shapely.from_wkb(shapely.to_wkb(polys))

    area = shapely.area(polys)
    counts = np.random.default_rng(0).multinomial(n, area / area.sum())
    base = _median(lambda p: gpd.GeoSeries(p).sample_points(counts, rng=1), repeat, fresh)
    oneoff = _median(lambda p: PointDensity.uniform(p, range(len(p))).sample(n, rng=1), repeat, fresh)
    dens = PointDensity.uniform(fresh(), range(len(polys)))
    t = time.perf_counter()
    dens.prepare()
    prep = time.perf_counter() - t
    core = _median(lambda: dens.sample(n, rng=1), repeat)
    nv = int(shapely.get_num_coordinates(polys).sum())
    return [
        (f"{label} ({len(polys)} polygons, {nv:,} vertices)", "geopandas sample_points", base, 1.0),
        ("", "hiddenpop one-off (setup included)", oneoff, base / oneoff),
        ("", "hiddenpop prepare() (once per frame)", prep, None),
        ("", "hiddenpop prepared", core, base / core),
    ]


def case_balanced(n_frame=100_000, n=1000):
    xy = np.random.default_rng(3).random((n_frame, 2)) * 10000
    p = n / n_frame
    g = _median(lambda: grts(xy, p, rng=1), 7)
    l_ = _median(lambda: lpm(xy, p, rng=1), 7)
    # CPU time of the process (all threads): what a loaded machine has to find for the draw
    g_cpu = _median(lambda: grts(xy, p, rng=1), 7, clock=time.process_time)
    l_cpu = _median(lambda: lpm(xy, p, rng=1), 7, clock=time.process_time)
    return [(f"balanced {n:,} of {n_frame:,} points", "GRTS", g, None), ("", "LPM", l_, None),
            ("", "GRTS, CPU seconds", g_cpu, None), ("", "LPM, CPU seconds", l_cpu, None)]


def case_manifest(polys):
    import base64
    import json

    from hiddenpop.spatial import SamplingFrame, domain_geometries, sample_points

    # the detailed polygons placed in UTM zone 36N (metres), as a frame file would hold them
    shifted = shapely.transform(polys, lambda c: c + np.array([500000.0, 4100000.0]))
    frame = SamplingFrame(gpd.GeoDataFrame({"unit_id": [f"U{i}" for i in range(len(polys))]},
                                           geometry=shifted, crs=32636))
    t = time.perf_counter()
    m = sample_points(frame, n=120, radius_m=150, reserve=10, rng=1).manifest
    e2e = time.perf_counter() - t
    v2 = len(json.dumps(m, indent=2, sort_keys=True))
    for info in m["domains"].values():
        for u, g in zip(info["units"], domain_geometries(info)):
            u["wkb"] = base64.b64encode(shapely.to_wkb(g, output_dimension=2, byte_order=1)).decode("ascii")
        del info["geometry"]
    v1 = len(json.dumps(m, indent=2, sort_keys=True))
    return e2e, v1, v2


def main():
    import os

    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    rows = case_uniform("100,000 uniform points", grid_polygons())
    rows += case_uniform("100,000 uniform points", detailed_polygons())
    rows += case_balanced()
    print("| case | method | median (s) | speed-up vs geopandas |")
    print("|---|---|---:|---:|")
    for case, method, t, ratio in rows:
        print(f"| {case} | {method} | {t:.4f} | {'' if ratio is None else f'{ratio:.1f}x'} |")
    e2e, v1, v2 = case_manifest(detailed_polygons())
    print()
    print(f"sample_points end to end on the detailed frame (120 points + 10 reserves, reprojection, manifest): {e2e:.2f} s")
    print(f"manifest size: format 1 (base64 WKB per unit) {v1 / 1e6:.1f} MB, format 2 (1 mm grid, delta-encoded, zlib) "
          f"{v2 / 1e6:.1f} MB ({v2 / v1:.0%})")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
