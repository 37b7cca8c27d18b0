"""Spreadsheet-safe exports (issue #10, OWASP "CSV injection").

Field forms let anyone type ``=HYPERLINK("http://x","click")`` as a respondent id, a stratum
label or a name. Every CSV that hiddenpop writes goes through one function
(``hiddenpop.io._csv_to``), which prefixes ``'`` to text cells starting with ``= + - @``, tab
or carriage return unless they are numbers. These tests push formula-laden values through
every command that writes a CSV and read every cell back.
"""
from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry import box

from hiddenpop.cli import main
from hiddenpop.io import FORMULA_STARTS, neutralise_formulas

EVIL = ['=HYPERLINK("http://x","y")', "+1+cmd", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR"]


def _live_formulas(path: Path) -> list[str]:
    """Cells that a spreadsheet would run: text starting with a formula character, not a number."""
    bad = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            for cell in row:
                if cell.startswith(FORMULA_STARTS):
                    try:
                        float(cell)
                    except ValueError:
                        bad.append(cell)
    return bad


def test_neutralise_keeps_numbers_and_plain_text():
    t = pd.DataFrame({"a": EVIL + ["-1.5", "+3", "R-01", None], "n": range(10)})
    out = neutralise_formulas(t)
    assert out["a"].tolist()[:6] == ["'" + v for v in EVIL]
    assert out["a"].tolist()[6:9] == ["-1.5", "+3", "R-01"] and out["a"].isna().iloc[9]
    assert out["n"].tolist() == list(range(10))  # numeric columns untouched
    assert neutralise_formulas(pd.DataFrame({"=x": [1]})).columns.tolist() == ["'=x"]
    assert t["a"].iloc[0] == EVIL[0]  # the input is not modified


def test_frame_exports_neutralise_formula_ids_and_strata(runner, tmp_path):
    # unit ids and stratum labels typed as formulas; points CSV, ODK preload and inclusion CSV
    gdf = gpd.GeoDataFrame({"unit_id": EVIL[:4], "stratum": ["=A", "=A", "@B", "@B"]},
                           geometry=[box(29 + 0.02 * i, 41, 29.02 + 0.02 * i, 41.02) for i in range(4)], crs=4326)
    frame = tmp_path / "frame.geojson"
    gdf.to_file(frame)
    out = tmp_path / "pts.csv"
    r = runner.invoke(main, ["frame", "sample", str(frame), "--stratum-col", "stratum", "--n", "6", "--radius", "100",
                             "--rng-seed", "3", "--format", "odk", "--no-map", "-o", str(out)])
    assert r.exit_code == 0, r.output + r.stderr
    pts = pd.read_csv(out, dtype=str)
    assert set(pts["stratum"]) == {"'=A", "'@B"}
    hh = tmp_path / "hh.csv"
    pd.DataFrame({"hh_id": ["=1+1", "@x"], "lon": pts.lon.astype(float)[:2], "lat": pts.lat.astype(float)[:2]}).to_csv(hh, index=False)
    r = runner.invoke(main, ["frame", "inclusion", str(tmp_path / "pts.design.json"), str(hh), "-o", str(tmp_path / "inc.csv")])
    assert r.exit_code == 0, r.output + r.stderr
    for f in (out, tmp_path / "pts.odk.csv", tmp_path / "inc.csv"):
        assert _live_formulas(f) == [], f
    assert pd.read_csv(tmp_path / "inc.csv", dtype=str)["hh_id"].tolist() == ["'=1+1", "'@x"]


def test_referral_and_weight_exports_neutralise_formulas(runner, tmp_path):
    # a referral log whose ids, names and a free-text column carry formulas; every CSV export
    log = tmp_path / "log.csv"
    log.write_text(
        "respondent_id,redeemed_coupon,coupon_1,coupon_2,network_size,interview_time,name,registered\n"
        "=R1,,C1,C2,5,2024-03-04T08:00,=cmd|' /C calc'!A0,=1\n"
        "@R2,C1,,,4,2024-03-04T09:00,+evil,@0\n"
        "R3,C2,,,3,2024-03-04T10:00,-bad,1\n", encoding="utf-8")
    store = tmp_path / "s.db"
    assert runner.invoke(main, ["referrals", "init", str(store)]).exit_code == 0
    r = runner.invoke(main, ["referrals", "import", str(store), str(log)])
    assert r.exit_code in (0, 3), r.output + r.stderr
    for fmt in ("csv", "rds-csv", "events"):
        out = tmp_path / f"export-{fmt}.csv"
        r = runner.invoke(main, ["referrals", "export", str(store), "--format", fmt, "-o", str(out)])
        assert r.exit_code == 0, r.output + r.stderr
        assert _live_formulas(out) == [], fmt
        text = out.read_text(encoding="utf-8")
        assert "calc" not in text and "evil" not in text  # names are never exported
    exported = pd.read_csv(tmp_path / "export-csv.csv", dtype=str)
    assert {"'=R1", "'@R2", "R3"} <= set(exported.iloc[:, 0])


def test_estimate_output_neutralises_domain_labels(runner, tmp_path):
    # a grouping column named like a formula: its domain cells ('=grp=A') in the estimates CSV,
    # written to a file and to standard output
    data = tmp_path / "w.csv"
    pd.DataFrame({"hh_id": [f"H{i}" for i in range(8)], "final_weight": [1.0, 2, 3, 4, 5, 6, 7, 8],
                  "y": [0, 1, 0, 1, 1, 0, 1, 1], "=grp": ["A", "B"] * 4,
                  "stratum": ["S"] * 8, "psu": [1, 1, 2, 2, 3, 3, 4, 4]}).to_csv(data, index=False)
    out = tmp_path / "est.csv"
    r = runner.invoke(main, ["estimate", str(data), "--weight-col", "final_weight", "--var", "y", "--by", "=grp",
                             "--variance", "linearization", "-o", str(out)])
    assert r.exit_code == 0, r.output + r.stderr
    assert _live_formulas(out) == []
    assert {"'=grp=A", "'=grp=B"} <= set(pd.read_csv(out, dtype=str)["domain"])
    r = runner.invoke(main, ["estimate", str(data), "--weight-col", "final_weight", "--var", "y", "--by", "=grp",
                             "--variance", "linearization", "-o", "-"])
    assert r.exit_code == 0 and ",'=grp=A," in r.stdout and ",=grp" not in r.stdout
