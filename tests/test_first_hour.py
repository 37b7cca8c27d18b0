"""A new user's first hour (issue 13): Excel files, repeat selections, child populations and weights.

Uses the bundled example (examples/data) and the first-stage points the demo draws from it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hiddenpop.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """The demo's points and referral store for the bundled example, and its weights."""
    from click.testing import CliRunner

    runner = CliRunner()
    out = tmp_path_factory.mktemp("field")

    def run(*args):
        res = runner.invoke(main, [str(a) for a in args])
        assert res.exit_code == 0, res.output
        return res

    run("frame", "sample", DATA / "frame.geojson", "--stratum-col", "stratum", "--n", "40", "--radius", "250",
        "--rng-seed", "7", "--exclude", DATA / "exclusion.geojson", "--no-map", "-o", out / "points.csv")
    run("referrals", "init", out / "r.db")
    for log in sorted(DATA.glob("referral_log_*.csv")):
        runner.invoke(main, ["referrals", "import", str(out / "r.db"), str(log)])
    run("weights", "compute", "--households", DATA / "households.csv", "--children", DATA / "children.csv",
        "--children-out", out / "cw.csv", "--design", out / "points.design.json", "--points", out / "points.csv",
        "--store", out / "r.db", "--selections", DATA / "selections.csv", "-o", out / "w.csv")
    return out


def test_leaving_out_selections_is_warned(runner, field):
    base = ["weights", "compute", "--households", str(DATA / "households.csv"), "--design",
            str(field / "points.design.json"), "--points", str(field / "points.csv"), "--store", str(field / "r.db")]
    res = runner.invoke(main, base + ["-o", str(field / "w_nosel.csv")])
    assert res.exit_code == 0, res.output
    # households within 250 m of two points (haversine distances, hiddenpop.weights.selections) whose
    # second selection only selections.csv records
    assert "lie within 250 m of two or more points" in res.stderr and "--selections" in res.stderr
    with_sel = pd.read_csv(field / "w.csv")["final_weight"].sum()
    without = pd.read_csv(field / "w_nosel.csv")["final_weight"].sum()
    assert without > 1.02 * with_sel                     # the silent shift of the total the warning is about
    res = runner.invoke(main, base + ["--selections", str(DATA / "selections.csv"), "-o", str(field / "w2.csv")])
    assert res.exit_code == 0 and "two or more points" not in res.stderr


def test_points_within_radius_matches_the_repeat_point_selections(field):
    # every household that selections.csv says two points reached lies within 250 m of both
    # (the example was drawn with these very points: examples/make_example.py)
    from hiddenpop.weights.selections import points_within_radius

    hh = pd.read_csv(DATA / "households.csv", dtype={"hh_id": str})
    sel = pd.read_csv(DATA / "selections.csv", dtype=str)
    twice = sel[sel["found_by"] == "point"].groupby("hh_id")["point_id"].apply(lambda s: ";".join(sorted(s)))
    twice = twice[twice.str.contains(";")]
    assert len(twice) > 0
    near = points_within_radius(hh, pd.read_csv(field / "points.csv"), 250).set_index("hh_id")
    for hid, pts in twice.items():
        assert set(pts.split(";")) <= set(near.loc[hid, "point_ids"].split(";"))


def test_excel_tables_are_read_and_frames_say_excel(runner, field, tmp_path):
    w = pd.read_csv(field / "w.csv")
    w.to_excel(tmp_path / "w.xlsx", index=False)
    args = ["--var", "n_working", "--stat", "total", "--by", "registered"]
    xl = runner.invoke(main, ["estimate", str(tmp_path / "w.xlsx"), *args, "--json"])
    csv = runner.invoke(main, ["estimate", str(field / "w.csv"), *args, "--json"])
    assert xl.exit_code == 0, xl.output
    # the same numbers from the workbook (Excel stores the doubles of the CSV's 17-digit text; the last
    # digit may differ after the round trip through openpyxl)
    a, b = pd.read_json(__import__("io").StringIO(xl.stdout)), pd.read_json(__import__("io").StringIO(csv.stdout))
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)
    pd.read_csv(DATA / "households.csv").to_excel(tmp_path / "hh.xlsx", index=False)
    res = runner.invoke(main, ["weights", "compute", "--households", str(tmp_path / "hh.xlsx"), "--design",
                               str(field / "points.design.json"), "--points", str(field / "points.csv"),
                               "--store", str(field / "r.db"), "--selections", str(DATA / "selections.csv"),
                               "-o", str(tmp_path / "wx.csv")])
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "wx.csv"), w, rtol=1e-12)
    res = runner.invoke(main, ["frame", "check", str(tmp_path / "hh.xlsx")])
    assert res.exit_code == 1 and "this is an Excel file" in res.output and "Traceback" not in res.output
    (tmp_path / "broken.xlsx").write_bytes((tmp_path / "hh.xlsx").read_bytes()[:2000])
    res = runner.invoke(main, ["estimate", str(tmp_path / "broken.xlsx"), "--var", "x"])
    assert res.exit_code == 1 and "this is an Excel file, but it cannot be read" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_subpop_is_domain_estimation(runner, field, tmp_path):
    # school attendance among children aged 6-17, by registration: the weighted share computed by
    # hand from the child weights equals the estimate, and the SE is the domain SE (rows outside
    # the subpopulation stay in the design): the same as blanking the variable for ages 0-5
    cw = pd.read_csv(field / "cw.csv")
    res = runner.invoke(main, ["estimate", str(field / "cw.csv"), "--var", "attends_school", "--subpop", "age>=6",
                               "--by", "registered", "-o", str(tmp_path / "e.csv")])
    assert res.exit_code == 0, res.output
    est = pd.read_csv(tmp_path / "e.csv").set_index("domain")
    assert (est["population"] == "age>=6").all()
    for reg in (0, 1):
        sel = (cw["age"] >= 6) & (cw["registered"] == reg)
        share = np.average(cw.loc[sel, "attends_school"], weights=cw.loc[sel, "final_weight"])
        assert est.loc[f"registered={reg}", "estimate"] == pytest.approx(share, rel=1e-12)
        assert est.loc[f"registered={reg}", "n"] == sel.sum()
    blank = cw.assign(attends_school=cw["attends_school"].where(cw["age"] >= 6))
    blank.to_csv(tmp_path / "blank.csv", index=False)
    res = runner.invoke(main, ["estimate", str(tmp_path / "blank.csv"), "--var", "attends_school", "--by",
                               "registered", "-o", str(tmp_path / "b.csv")])
    other = pd.read_csv(tmp_path / "b.csv").set_index("domain")
    assert np.allclose(est["se"], other["se"], rtol=1e-12)
    bad = runner.invoke(main, ["estimate", str(field / "cw.csv"), "--var", "works", "--subpop", "agee>=6"])
    assert bad.exit_code == 1 and "did you mean 'age'" in bad.output


def test_children_get_the_calibrated_household_weights(runner, field, tmp_path):
    margins = pd.read_csv(DATA / "margins.csv")
    w = pd.read_csv(field / "w.csv")
    extra = pd.DataFrame({"variable": "stratum x registered", "total": "survey",
                          "level": [f"{s}|0" for s in sorted(w.loc[w["registered"] == 0, "stratum"].unique())]})
    pd.concat([margins, extra]).to_csv(tmp_path / "m.csv", index=False)
    res = runner.invoke(main, ["weights", "calibrate", str(field / "w.csv"), "--margins", str(tmp_path / "m.csv"),
                               "-o", str(tmp_path / "wc.csv"), "--children", str(field / "cw.csv"),
                               "--children-out", str(tmp_path / "cwc.csv")])
    assert res.exit_code == 0, res.output
    hh, kids = pd.read_csv(tmp_path / "wc.csv"), pd.read_csv(tmp_path / "cwc.csv")
    # two routes to the same total: household counts of children 6-17 x household weights, and the
    # children's own weights summed over children aged 6-17, per registration status and in every replicate
    for col in ["final_weight"] + [c for c in hh if c.startswith("rep_")][:5]:
        for reg in (0, 1):
            h = (hh[col] * hh["n_children_6_17"])[hh["registered"] == reg].sum()
            k = kids.loc[(kids["age"] >= 6) & (kids["registered"] == reg), col].sum()
            assert k == pytest.approx(h, rel=1e-12)
    # registered households meet the registry totals after calibration (examples/data/margins.csv)
    reg = hh[hh["registered"] == 1].groupby("stratum")["final_weight"].sum()
    assert reg.to_dict() == pytest.approx({r.level.split("|")[0]: r.total for r in margins.itertuples()})
    settings = __import__("json").loads((tmp_path / "wc.settings.json").read_text())
    assert settings["step"] == "weights calibrate" and settings["computed"]["method"] == "gwsm"


def test_weights_compute_json_summary(runner, field):
    import json

    res = runner.invoke(main, ["weights", "compute", "--households", str(DATA / "households.csv"), "--design",
                               str(field / "points.design.json"), "--points", str(field / "points.csv"),
                               "--store", str(field / "r.db"), "--selections", str(DATA / "selections.csv"),
                               "-o", str(field / "wj.csv"), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)                       # stdout holds only the JSON object
    w = pd.read_csv(field / "wj.csv")
    # the summary's figures are those of the file it wrote: 504 households (households.csv rows)
    assert info["command"] == "weights compute" and info["households"] == len(w) == 504
    assert info["estimated_households"] == pytest.approx(w["final_weight"].sum(), rel=1e-9)
    assert str(field / "wj.settings.json") in info["files"]
