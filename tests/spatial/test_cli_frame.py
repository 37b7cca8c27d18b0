"""``hiddenpop frame`` commands: outputs, byte-identical reruns, one-line errors, nothing left behind."""
from __future__ import annotations

import numpy as np
import pandas as pd
from shapely.geometry import Polygon

from hiddenpop.cli import main
from tests.spatial.helpers import city_frame, write_frame


def _sample(runner, frame, out, *extra):
    return runner.invoke(main, ["frame", "sample", frame, "--n", "9", "--stratum-col", "region", "--radius", "150",
                                "--reserve", "2", "--rng-seed", "7", "-o", str(out), *extra])


def test_sample_all_formats_byte_identical(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    f = write_frame(city_frame(), tmp_path / "city.gpkg")
    outs = []
    for k in (1, 2):
        d = tmp_path / f"run{k}"
        res = _sample(runner, f, d / "pts.gpkg", "--format", "all")
        assert res.exit_code == 0, res.output
        assert "valid zero" in res.stderr
        outs.append(d)
    names = ["pts.gpkg", "pts.geojson", "pts.csv", "pts.gpx", "pts.kml", "pts.odk.csv", "pts.design.json", "pts.png"]
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    pts = pd.read_csv(outs[0] / "pts.csv")
    assert list(pts.columns[:7]) == ["point_id", "stratum", "unit_id", "lon", "lat", "reserve_rank", "radius_m"]
    assert (pts.reserve_rank > 0).sum() == 6
    assert "<Polygon>" in (outs[0] / "pts.kml").read_text()
    # inclusion from the manifest, via the CLI; coordinates are not copied to the output
    pd.DataFrame({"hh_id": ["h1"], "lon": [28.91], "lat": [41.05]}).to_csv(tmp_path / "hh.csv", index=False)
    res = runner.invoke(main, ["frame", "inclusion", str(outs[0] / "pts.design.json"), str(tmp_path / "hh.csv"),
                               "-o", str(tmp_path / "p.csv")])
    assert res.exit_code == 0, res.output
    p = pd.read_csv(tmp_path / "p.csv")
    assert list(p.columns) == ["hh_id", "stratum", "p_hit", "expected_hits", "stage1_prob", "n_points"]


def _no_outputs(tmp_path):
    return not any(p.name.startswith("pts") or ".part" in p.name for p in tmp_path.rglob("*"))


def test_bad_inputs_one_line_errors_and_nothing_written(runner, tmp_path):
    g = city_frame()
    cases = {}
    cases["crs"] = (g.set_crs(None, allow_override=True), "no coordinate reference system")
    dup = g.copy()
    dup.loc[1, "unit_id"] = "U0"
    cases["dup"] = (dup, "duplicate unit id")
    bad = g.copy()
    bad.loc[2, "geometry"] = Polygon([(28.9, 41.0), (28.92, 41.02), (28.92, 41.0), (28.9, 41.02)])  # bow-tie
    cases["invalid"] = (bad, "invalid geometry")
    for key, (gdf, msg) in cases.items():
        path = str(tmp_path / f"{key}.gpkg")  # GeoJSON would imply WGS84; a GeoPackage can lack a CRS
        gdf.to_file(path, driver="GPKG")
        res = _sample(runner, path, tmp_path / "pts.gpkg")
        assert res.exit_code == 1, (key, res.output)
        assert msg in res.stderr and res.stderr.count("\n") == 1, res.stderr
        assert path in res.stderr
        assert _no_outputs(tmp_path)
    f = write_frame(g, tmp_path / "ok.gpkg")
    res = _sample(runner, f, tmp_path / "pts.gpkg", "--min-distance", "2000")
    assert res.exit_code == 1 and "apart" in res.stderr and "stratum" in res.stderr and _no_outputs(tmp_path)
    zero = g.copy()
    zero.loc[zero.region == "C", "refugees"] = 0
    fz = write_frame(zero, tmp_path / "zero.gpkg")
    res = _sample(runner, fz, tmp_path / "pts.gpkg", "--method", "pps", "--size-col", "refugees")
    assert res.exit_code == 1 and "total size 0" in res.stderr and "refugees" in res.stderr
    assert _no_outputs(tmp_path)


def test_raster_crs_mismatch(runner, tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    tif = tmp_path / "pop.tif"
    with rasterio.open(tif, "w", driver="GTiff", height=4, width=4, count=1, dtype="float32", crs="EPSG:3857",
                       transform=from_origin(3216000, 5021000, 500, 500)) as dst:
        dst.write(np.ones((1, 4, 4), dtype="float32"))
    f = write_frame(city_frame(), tmp_path / "city.gpkg")
    res = _sample(runner, f, tmp_path / "pts.gpkg", "--method", "pps", "--raster", str(tif))
    assert res.exit_code == 1 and "CRS" in res.stderr and "pop.tif" in res.stderr
    assert _no_outputs(tmp_path)


def test_check_size_and_replace(runner, tmp_path):
    f = write_frame(city_frame(), tmp_path / "city.gpkg")
    res = runner.invoke(main, ["frame", "check", f, "--stratum-col", "region"])
    assert res.exit_code == 0 and "stratum=B" in res.output and "equal-area" in res.output
    res = runner.invoke(main, ["frame", "size", "--margin", "0.05", "--households-per-point", "4", "--deff", "2",
                               "--response-rate", "0.8"])
    # 1.96^2 * 0.25 / 0.05^2 * 2 = 768.3 -> 769 households; 769 / (4 * 0.8) = 240.3 -> 241 points
    assert res.exit_code == 0 and "241 points" in res.output
    res = _sample(runner, f, tmp_path / "pts.csv")
    assert res.exit_code == 0
    res = runner.invoke(main, ["frame", "replace", str(tmp_path / "pts.design.json"), "P-A-0001", "--points",
                               str(tmp_path / "pts.csv"), "--reason", "empty", "-o", str(tmp_path / "m.json")])
    assert res.exit_code == 2  # "empty" is not a reason: an empty point is a valid zero
    res = runner.invoke(main, ["frame", "replace", str(tmp_path / "pts.design.json"), "P-A-0001", "--points",
                               str(tmp_path / "pts.csv"), "--reason", "unsafe", "-o", str(tmp_path / "m.json")])
    assert res.exit_code == 0 and res.output.strip() == "P-A-0004"
