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
    # 'frame check' refuses it with the same message: region C is units U6-U8 (features 7, 8, 9)
    res = runner.invoke(main, ["frame", "check", fz, "--stratum-col", "region", "--size-col", "refugees"])
    assert res.exit_code == 1 and "feature 7, column 'refugees', value 0.0: stratum 'C' has total size 0" in res.stderr
    assert "(features 7, 8, 9)" in res.stderr


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
    res = runner.invoke(main, ["frame", "check", f, "--stratum-col", "region", "--size-col", "refugees"])
    assert res.exit_code == 0 and "equal-area" in res.output
    table = {w[0]: w[1:] for w in map(str.split, res.output.splitlines()) if w and w[0] in ("A", "B", "C", "TOTAL")}
    # region A holds units U0-U2 with sizes 10, 30, 50 (helpers.city_frame: 10 + 20k): 90 in 3 units;
    # all nine units: 10 + 30 + ... + 170 = 810
    assert table["A"][:1] == ["3"] and table["A"][2] == "90" and table["TOTAL"][0] == "9" and table["TOTAL"][2] == "810"
    # nine 0.02° blocks at 41°N: 9 × (0.02·111.3 km·cos 41.03°) × (0.02·111.0 km) minus the 0.01° park,
    # ≈ 9 × 3.73 − 0.93 = 32.7 km²; the printed total must be the sum of the printed strata
    total = float(table["TOTAL"][1])
    assert abs(total - sum(float(table[s][1]) for s in "ABC")) < 0.02 and 32.0 < total < 33.5
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


def _overlapping_frame():
    g = city_frame()
    # U1 (region A, 28.90-28.92 E, 41.02-41.04 N) grows 0.005° east into its neighbour U4 (region B)
    # and 0.005° south into U0 (region A): only the second pair shares a stratum.
    g.loc[1, "geometry"] = Polygon([(28.90, 41.015), (28.925, 41.015), (28.925, 41.04), (28.90, 41.04)])
    return g


def test_overlapping_units_within_a_stratum_are_refused(runner, tmp_path):
    from pyproj import Geod

    f = write_frame(_overlapping_frame(), tmp_path / "over.gpkg")
    # expected overlap U0 ∩ U1 = the strip 28.90-28.92 E × 41.015-41.02 N, its geodesic area:
    strip = Polygon([(28.90, 41.015), (28.92, 41.015), (28.92, 41.02), (28.90, 41.02)])
    expected = abs(Geod(ellps="WGS84").geometry_area_perimeter(strip)[0])
    for cmd in (["frame", "check", f, "--stratum-col", "region"],
                ["frame", "sample", f, "--stratum-col", "region", "--n", "9", "--rng-seed", "1",
                 "-o", str(tmp_path / "pts.gpkg")]):
        res = runner.invoke(main, cmd)
        assert res.exit_code == 1, res.output
        msg = res.stderr
        assert msg.count("\n") == 1 and "over.gpkg, feature 2, column 'unit_id', value 'U1'" in msg
        assert "'U0' and 'U1'" in msg and "stratum 'A'" in msg and "counted twice" in msg
        area = float(msg.split("overlap by ")[1].split(" m²")[0].replace(",", ""))
        assert abs(area / expected - 1) < 1e-3  # LAEA is equal-area: exact up to the 1e-3 rounding of the text
        assert _no_outputs(tmp_path)
    # without strata every unit is in one stratum: U1 also overlaps U4 (east) and the corner of U3
    res = runner.invoke(main, ["frame", "check", f])
    assert res.exit_code == 1 and "2 more overlapping pairs" in res.stderr
    # pairs in different strata (a unit split across strata) are not a double count within a stratum
    g = _overlapping_frame()
    g.loc[1, "geometry"] = Polygon([(28.90, 41.02), (28.925, 41.02), (28.925, 41.04), (28.90, 41.04)])
    res = runner.invoke(main, ["frame", "check", write_frame(g, tmp_path / "across.gpkg"), "--stratum-col", "region"])
    assert res.exit_code == 0, res.stderr


def test_option_and_table_errors(runner, tmp_path):
    f = write_frame(city_frame(), tmp_path / "city.gpkg")
    for opt in (["--reserve", "-1"], ["--n", "0"], ["--radius", "0"], ["--min-distance", "-5"]):
        res = runner.invoke(main, ["frame", "sample", f, "--stratum-col", "region", "--rng-seed", "1",
                                   "-o", str(tmp_path / "pts.gpkg"), *(["--n", "9"] if opt[0] != "--n" else []), *opt])
        assert res.exit_code == 2 and opt[0] in res.stderr, (opt, res.stderr)
    cases = {"stratum,n\nA,3\nB,3\nD,3\n": "row 4, column 'stratum', value 'D': stratum not in the frame",
             "stratum,n\nA,3\nB,x\nC,3\n": "row 3, column 'n', value 'x': the number of points must be a whole",
             "stratum,n\nA,3\nB,2.5\nC,3\n": "row 3, column 'n', value '2.5'",
             "stratum,n\nA,3\nB,3\n": "no n for stratum 'C'",
             "stratum,n\nA,3\nB,3\nA,1\nC,1\n": "row 4, column 'stratum', value 'A': stratum listed twice"}
    for k, (text, msg) in enumerate(cases.items()):
        table = tmp_path / f"alloc{k}.csv"
        table.write_text(text)
        res = runner.invoke(main, ["frame", "sample", f, "--stratum-col", "region", "--rng-seed", "1",
                                   "--allocation", str(table), "-o", str(tmp_path / "pts.gpkg")])
        assert res.exit_code == 1 and msg in res.stderr and str(table) in res.stderr, res.stderr
        assert res.stderr.count("\n") == 1 and _no_outputs(tmp_path)
    table = tmp_path / "ok.csv"
    table.write_text("stratum,n\nA,4\nB,0\nC,2\n")
    res = runner.invoke(main, ["frame", "sample", f, "--stratum-col", "region", "--rng-seed", "1",
                               "--allocation", str(table), "-o", str(tmp_path / "pts.csv")])
    assert res.exit_code == 0, res.stderr
    assert pd.read_csv(tmp_path / "pts.csv")["stratum"].value_counts().to_dict() == {"A": 4, "C": 2}


def test_inclusion_refuses_households_outside_the_frame(runner, tmp_path):
    f = write_frame(city_frame(), tmp_path / "city.gpkg")
    assert _sample(runner, f, tmp_path / "d" / "pts.csv").exit_code == 0
    hh = tmp_path / "hh.csv"
    # the frame spans 28.90-28.96 E, 41.00-41.06 N; file rows 2 and 4 lie inside, row 3 east of it,
    # row 5 has lon/lat swapped, row 6 is in the park (a hole of unit U4: not part of the frame)
    hh.write_text("hh_id,lon,lat\nh1,28.91,41.01\nh2,29.50,41.01\nh3,28.905,41.045\nh4,41.01,28.91\n"
                  "h5,28.93,41.03\n")
    out = tmp_path / "p.csv"
    res = runner.invoke(main, ["frame", "inclusion", str(tmp_path / "d" / "pts.design.json"), str(hh), "-o", str(out)])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1
    assert f"{hh}, row 3, column 'lon/lat', value '29.5, 41.01'" in res.stderr
    assert "outside the sampling frame (3 rows; file rows 3, 5, 6)" in res.stderr and "lon/lat order" in res.stderr
    assert not out.exists()


def test_cli_choices_are_the_library_registries():
    # the commands keep literal choice lists (importing the spatial stack would slow every CLI
    # start): they must stay equal to the registries they mirror
    from hiddenpop.io.spatial import POINT_FORMATS
    from hiddenpop.spatial import REPLACEMENT_REASONS, SAMPLING_METHODS
    from hiddenpop.spatial.balanced import BALANCED_METHODS

    group = main.commands["frame"]
    opts = {c: {p.name: p for p in group.commands[c].params} for c in ("sample", "replace")}
    assert list(opts["sample"]["method"].type.choices) == list(SAMPLING_METHODS)
    assert list(opts["sample"]["balance"].type.choices) == list(BALANCED_METHODS)
    assert list(opts["sample"]["density"].type.choices) == ["uniform", "size", "raster"]  # sample_points' densities
    assert list(opts["sample"]["formats"].type.choices) == list(POINT_FORMATS) + ["all"]
    assert list(opts["replace"]["reason"].type.choices) == list(REPLACEMENT_REASONS)


def test_unreadable_parquet_frame_is_one_line(runner, tmp_path):
    # GeoParquet frames go through the same reader as the other formats: a file that cannot be
    # read (here not Parquet at all; without pyarrow, none can) is named in a one-line error
    bad = tmp_path / "frame.parquet"
    bad.write_text("not parquet")
    res = runner.invoke(main, ["frame", "check", str(bad)])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1
    assert f"{bad}: cannot read the frame" in res.stderr
    res = runner.invoke(main, ["frame", "check", str(tmp_path / "missing.parquet")])
    assert res.exit_code == 1 and "missing.parquet: file not found" in res.stderr
