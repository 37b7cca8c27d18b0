"""``hiddenpop weights compute / calibrate / popsize`` (exit codes, outputs, errors)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hiddenpop.cli import main
from tests.weights.test_pipeline import _city


@pytest.fixture
def files(tmp_path):
    hh, points = _city(np.random.default_rng(7), n_points=40)
    hh["lon"] = 29.0  # a location column must never reach the output
    hh["lat"] = 41.0
    hh.to_csv(tmp_path / "hh.csv", index=False)
    points.to_csv(tmp_path / "points.csv", index=False)
    kids = pd.DataFrame({"hh_id": hh.hh_id.repeat(2).to_numpy(), "child_id": range(2 * len(hh)),
                         "works": np.arange(2 * len(hh)) % 3 == 0})
    kids.to_csv(tmp_path / "children.csv", index=False)
    pd.DataFrame({"variable": ["registered", "registered"], "level": ["0", "1"],
                  "total": [700.0, 1600.0]}).to_csv(tmp_path / "margins.csv", index=False)
    return tmp_path


def test_compute_calibrate_popsize_flow(runner, files):
    r = runner.invoke(main, ["weights", "compute", "--households", str(files / "hh.csv"), "--points",
                             str(files / "points.csv"), "--children", str(files / "children.csv"),
                             "--children-out", str(files / "cw.csv"), "--replicates", "bootstrap", "--reps", "50",
                             "--rng-seed", "1", "-o", str(files / "w.csv")])
    assert r.exit_code == 0, r.output + r.stderr
    w = pd.read_csv(files / "w.csv")
    for col in ("hh_id", "stage1_prob", "base_weight", "final_weight", "weight_method", "stratum", "psu",
                "found_by", "share_from_referral", "rep_1", "rep_50"):
        assert col in w.columns
    assert "lon" not in w.columns and "lat" not in w.columns
    cw = pd.read_csv(files / "cw.csv")
    assert len(cw) == 2 * len(w)  # every child gets its household's weight
    r = runner.invoke(main, ["weights", "calibrate", str(files / "w.csv"), "--margins", str(files / "margins.csv"),
                             "-o", str(files / "c.csv")])
    assert r.exit_code == 0, r.output + r.stderr
    c = pd.read_csv(files / "c.csv")
    assert c.final_weight.sum() == pytest.approx(2300.0)  # margins total 700 + 1600
    assert np.allclose(c.filter(like="rep_").sum(), 2300.0)
    r = runner.invoke(main, ["weights", "popsize", str(files / "c.csv"), "--registry-total", "1600", "--json"])
    assert r.exit_code == 0, r.output + r.stderr
    rows = json.loads(r.stdout)
    # after calibration the direct and the ratio estimates coincide: 1600 · 700/1600 = 700
    assert [x["estimator"] for x in rows] == ["direct", "ratio"]
    assert rows[0]["estimate"] == pytest.approx(700.0) and rows[1]["estimate"] == pytest.approx(700.0)


def test_compute_bad_probability_exit_1_nothing_written(runner, files):
    hh = pd.read_csv(files / "hh.csv")
    hh.loc[0, "stage1_prob"] = 1.7
    hh.to_csv(files / "bad.csv", index=False)
    r = runner.invoke(main, ["weights", "compute", "--households", str(files / "bad.csv"), "-o", str(files / "o.csv")])
    assert r.exit_code == 1
    assert "bad.csv, row 2, column 'stage1_prob', value" in r.stderr and "1.7" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (files / "o.csv").exists()


def test_compute_unknown_recruiter_exit_1(runner, files):
    hh = pd.read_csv(files / "hh.csv")
    i = int(np.flatnonzero(hh.found_by == "referral")[0])
    hh.loc[i, "recruiter_id"] = "NOBODY"
    hh.to_csv(files / "bad.csv", index=False)
    r = runner.invoke(main, ["weights", "compute", "--households", str(files / "bad.csv"), "-o", str(files / "o.csv")])
    assert r.exit_code == 1
    assert f"row {i + 2}, column 'recruiter_id', value 'NOBODY'" in r.stderr
    assert not (files / "o.csv").exists()


def test_calibrate_bad_weight_and_unknown_level(runner, files):
    runner.invoke(main, ["weights", "compute", "--households", str(files / "hh.csv"), "-o", str(files / "w.csv")])
    w = pd.read_csv(files / "w.csv")
    w.loc[3, "final_weight"] = -2.0
    w.to_csv(files / "bad.csv", index=False)
    r = runner.invoke(main, ["weights", "calibrate", str(files / "bad.csv"), "--margins", str(files / "margins.csv"),
                             "-o", str(files / "c.csv")])
    assert r.exit_code == 1 and "final_weight" in r.stderr and "-2" in r.stderr
    pd.DataFrame({"variable": ["registered"] * 3, "level": ["0", "1", "9"], "total": [1.0, 2.0, 3.0]}).to_csv(
        files / "m9.csv", index=False)
    r = runner.invoke(main, ["weights", "calibrate", str(files / "w.csv"), "--margins", str(files / "m9.csv"),
                             "-o", str(files / "c.csv")])
    assert r.exit_code == 1 and "9" in r.stderr
    assert not (files / "c.csv").exists()


def test_bad_bounds_is_usage_error(runner, files):
    r = runner.invoke(main, ["weights", "calibrate", str(files / "hh.csv"), "--margins", str(files / "margins.csv"),
                             "--bounds", "2,3", "-o", str(files / "c.csv")])
    assert r.exit_code == 2


def test_flagged_zero_weight_rows_pass_calibrate_and_popsize(runner, files):
    # A referred household that turns out registered is kept with weight 0 and a flag; calibrate
    # leaves it at 0 and hits the margins (source: margins.csv, 700 + 1600); popsize counts it for
    # nothing: direct = Σ w over unregistered = 700 after calibration.
    hh = pd.read_csv(files / "hh.csv")
    i = int(np.flatnonzero(hh.found_by == "referral")[0])
    hh.loc[i, "registered"] = 1
    hh.to_csv(files / "hh2.csv", index=False)
    r = runner.invoke(main, ["weights", "compute", "--households", str(files / "hh2.csv"), "--points",
                             str(files / "points.csv"), "--replicates", "jk1", "-o", str(files / "w.csv")])
    assert r.exit_code == 0, r.output + r.stderr
    assert "1 referred-not-eligible" in r.stderr
    w = pd.read_csv(files / "w.csv")
    assert len(w) == len(hh)
    r = runner.invoke(main, ["weights", "calibrate", str(files / "w.csv"), "--margins", str(files / "margins.csv"),
                             "-o", str(files / "c.csv")])
    assert r.exit_code == 0, r.output + r.stderr
    c = pd.read_csv(files / "c.csv").set_index("hh_id")
    assert c.loc[hh.hh_id[i], "final_weight"] == 0 and c.final_weight.sum() == pytest.approx(2300.0)
    r = runner.invoke(main, ["weights", "popsize", str(files / "c.csv"), "--replicate-method", "jk1", "--json"])
    assert r.exit_code == 0, r.output + r.stderr
    assert json.loads(r.stdout)[0]["estimate"] == pytest.approx(700.0)


def test_calibrate_empty_replicate_level_fail_or_collapse(runner, tmp_path):
    # rep_2 has no weight on level "1": 'fail' stops naming replicate, margin and level; 'collapse'
    # merges it into level "0" in that replicate (total 30 + 70 = 100 on the two level-0 rows).
    pd.DataFrame({"hh_id": ["a", "b", "c"], "registered": [0, 0, 1], "final_weight": [1.0, 1.0, 1.0],
                  "rep_1": [1.0, 1.0, 1.0], "rep_2": [2.0, 1.0, 0.0]}).to_csv(tmp_path / "w.csv", index=False)
    pd.DataFrame({"variable": "registered", "level": ["0", "1"], "total": [30.0, 70.0]}).to_csv(
        tmp_path / "m.csv", index=False)
    r = runner.invoke(main, ["weights", "calibrate", str(tmp_path / "w.csv"), "--margins", str(tmp_path / "m.csv"),
                             "--empty-replicate-levels", "fail", "-o", str(tmp_path / "c.csv")])
    assert r.exit_code == 1 and "replicate rep_2: level '1' of margin 'registered'" in r.stderr
    assert not (tmp_path / "c.csv").exists()
    r = runner.invoke(main, ["weights", "calibrate", str(tmp_path / "w.csv"), "--margins", str(tmp_path / "m.csv"),
                             "-o", str(tmp_path / "c.csv")])
    assert r.exit_code == 0, r.output + r.stderr
    c = pd.read_csv(tmp_path / "c.csv")
    assert c.rep_2.tolist() == pytest.approx([200 / 3, 100 / 3, 0.0])
    assert c.rep_1.tolist() == pytest.approx([15.0, 15.0, 70.0])
    assert "merged into its" in r.stderr


def _store_from_log(runner, d, log_text):
    (d / "log.csv").write_text(log_text)
    assert runner.invoke(main, ["referrals", "init", str(d / "s.db")]).exit_code == 0
    r = runner.invoke(main, ["referrals", "import", str(d / "s.db"), str(d / "log.csv")])
    assert r.exit_code == 0, r.output + r.stderr
    return d / "s.db"


# A (point P1, π¹ = .5) issues K1, K2 to its 2 eligible contacts, both redeemed (ĥ = 1, ρ = 1);
# B is found at point P2 (π¹ = .25) AND redeems K1; C redeems K2. All unregistered.
# GWSM (docs/weights.md §1), w_k = (1/L_k) Σ_j l_jk/(π¹_j ρ_jk), L_k = 1 + d_k:
#   w_A = (1/.5)/(1+2) = 2/3;  w_B = (1/.25 + 1/.5)/(1+3) = 6/4 = 1.5;  w_C = (1/.5)/(1+1) = 1.
# Without B's point hit (the store's found_by alone says 'referral'), w_B would be 2/4 = 0.5.
_HH = "hh_id,stage1_prob,registered,stratum,works\nA,0.5,0,S,1\nB,0.25,0,S,0\nC,,0,S,1\n"


def test_compute_store_household_found_at_point_and_by_coupon(runner, tmp_path):
    store = _store_from_log(runner, tmp_path, (
        "respondent_id,redeemed_coupon,issued_coupons,point_id,network_size,network_size_eligible,interview_time\n"
        "A,,K1;K2,P1,2,2,2024-05-01T10:00\nB,K1,,P2,3,1,2024-05-01T11:00\nC,K2,,,1,1,2024-05-01T12:00\n"))
    (tmp_path / "hh.csv").write_text(_HH)
    r = runner.invoke(main, ["weights", "compute", "--households", str(tmp_path / "hh.csv"), "--store", str(store),
                             "-o", str(tmp_path / "w.csv")])
    assert r.exit_code == 0, r.output + r.stderr
    w = pd.read_csv(tmp_path / "w.csv", dtype={"hh_id": str}).set_index("hh_id")
    assert list(w.index) == ["A", "B", "C"]  # B keeps one row
    assert w.final_weight.to_dict() == pytest.approx({"A": 2 / 3, "B": 1.5, "C": 1.0}, rel=1e-12)
    assert w.loc["B", "links"] == 4 and w.loc["B", "weight_share_referral"] == pytest.approx(2.0)
    assert w.loc["B", "psu"] == "P2" and w.loc["B", "found_by"] == "point"
    # the same events also given in a --selections file: merged, each counted once
    pd.DataFrame({"hh_id": ["B", "B", "A"], "found_by": ["point", "referral", "point"],
                  "point_id": ["P2", None, "P1"], "recruiter_id": [None, "A", None]}).to_csv(
        tmp_path / "sel.csv", index=False)
    r = runner.invoke(main, ["weights", "compute", "--households", str(tmp_path / "hh.csv"), "--store", str(store),
                             "--selections", str(tmp_path / "sel.csv"), "-o", str(tmp_path / "w2.csv")])
    assert r.exit_code == 0, r.output + r.stderr
    w2 = pd.read_csv(tmp_path / "w2.csv", dtype={"hh_id": str}).set_index("hh_id")
    assert np.allclose(w2.final_weight, w.final_weight, rtol=1e-12)


def test_compute_store_second_interview_linked_by_phone_is_the_same_household(runner, tmp_path):
    # B1 is interviewed at point P2, and again (as B2) when redeeming A's coupon K1; the store links
    # the two through the hashed phone and the household file has one row (B1): same weights as above.
    store = _store_from_log(runner, tmp_path, (
        "respondent_id,redeemed_coupon,issued_coupons,point_id,network_size,network_size_eligible,interview_time,"
        "phone\n"
        "A,,K1;K2,P1,2,2,2024-05-01T10:00,0555000001\nB1,,,P2,3,1,2024-05-01T11:00,0555000002\n"
        "B2,K1,,,3,1,2024-05-02T09:00,0555000002\nC,K2,,,1,1,2024-05-01T12:00,0555000003\n"))
    (tmp_path / "hh.csv").write_text(_HH.replace("\nB,", "\nB1,"))
    r = runner.invoke(main, ["weights", "compute", "--households", str(tmp_path / "hh.csv"), "--store", str(store),
                             "-o", str(tmp_path / "w.csv")])
    assert r.exit_code == 0, r.output + r.stderr
    w = pd.read_csv(tmp_path / "w.csv", dtype={"hh_id": str}).set_index("hh_id")
    assert w.final_weight.to_dict() == pytest.approx({"A": 2 / 3, "B1": 1.5, "C": 1.0}, rel=1e-12)
    assert "0555" not in (tmp_path / "w.csv").read_text()


def test_compute_store_unknown_recruiter_names_the_log_row(runner, tmp_path):
    # C's recruiter A has no household record: the error points at the row of the daily export
    store = _store_from_log(runner, tmp_path, (
        "respondent_id,redeemed_coupon,issued_coupons,point_id,network_size,network_size_eligible,interview_time\n"
        "A,,K1;K2,P1,2,2,2024-05-01T10:00\nB,,,P2,3,1,2024-05-01T11:00\nX,,K3,P3,2,1,2024-05-01T11:30\n"
        "C,K3,,,1,1,2024-05-01T12:00\n"))
    (tmp_path / "hh.csv").write_text(_HH)
    r = runner.invoke(main, ["weights", "compute", "--households", str(tmp_path / "hh.csv"), "--store", str(store),
                             "-o", str(tmp_path / "w.csv")])
    assert r.exit_code == 1
    warn, msg = r.stderr.strip().splitlines()  # X's missing household row is reported, then the error
    assert "no row in the household file" in warn and "X" in warn
    assert msg.startswith("Error:") and "log.csv, row 5, column 'recruiter_id', value 'X'" in msg, msg
    assert not (tmp_path / "w.csv").exists()


def test_flagged_household_children_and_replicate_estimates(runner, files):
    # Children of a household kept with weight 0 and a flag carry the flag, so 'estimate' accepts
    # them, with replicate variance too. Two routes must agree: the estimate on the full child file
    # equals the estimate on the file without those children (zero weight in every replicate).
    hh = pd.read_csv(files / "hh.csv")
    i = int(np.flatnonzero(hh.found_by == "referral")[0])
    hh.loc[i, "registered"] = 1
    hh.to_csv(files / "hh2.csv", index=False)
    r = runner.invoke(main, ["weights", "compute", "--households", str(files / "hh2.csv"), "--points",
                             str(files / "points.csv"), "--children", str(files / "children.csv"), "--children-out",
                             str(files / "cw.csv"), "--replicates", "jk1", "-o", str(files / "w.csv")])
    assert r.exit_code == 0, r.output + r.stderr
    cw = pd.read_csv(files / "cw.csv", dtype={"hh_id": str}, keep_default_na=False)
    flagged = cw.hh_id == str(hh.hh_id[i])
    assert flagged.sum() == 2 and (cw.loc[flagged, "weight_flag"] == "referred-not-eligible").all()
    assert (cw.loc[flagged].filter(regex=r"^(final_weight|rep_\d+)$").to_numpy() == 0).all()
    cw.loc[~flagged].to_csv(files / "cw_pos.csv", index=False)
    args = ["--var", "works", "--stat", "mean", "--variance", "replicate", "--replicate-method", "jk1", "--json"]
    a = runner.invoke(main, ["estimate", str(files / "cw.csv"), *args])
    b = runner.invoke(main, ["estimate", str(files / "cw_pos.csv"), *args])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + a.stderr + b.stderr
    ra, rb = json.loads(a.stdout)[0], json.loads(b.stdout)[0]
    assert ra["estimate"] == pytest.approx(rb["estimate"], rel=1e-12) and ra["se"] == pytest.approx(rb["se"], rel=1e-12)
    assert ra["n"] == rb["n"] == len(cw) - 2


def test_calibrate_keeps_flagged_rows_at_zero_in_every_replicate(runner, files):
    # calibrate path with replicates: the flagged row stays 0 in final_weight and every rep_*, and every
    # replicate still hits the margins (700 + 1600 = 2300, margins.csv).
    hh = pd.read_csv(files / "hh.csv")
    i = int(np.flatnonzero(hh.found_by == "referral")[0])
    hh.loc[i, "registered"] = 1
    hh.to_csv(files / "hh2.csv", index=False)
    r = runner.invoke(main, ["weights", "compute", "--households", str(files / "hh2.csv"), "--points",
                             str(files / "points.csv"), "--replicates", "bootstrap", "--reps", "20", "--rng-seed", "3",
                             "-o", str(files / "w.csv")])
    assert r.exit_code == 0, r.output + r.stderr
    r = runner.invoke(main, ["weights", "calibrate", str(files / "w.csv"), "--margins", str(files / "margins.csv"),
                             "-o", str(files / "c.csv")])
    assert r.exit_code == 0, r.output + r.stderr
    c = pd.read_csv(files / "c.csv", dtype={"hh_id": str}).set_index("hh_id")
    reps = c.filter(regex=r"^rep_\d+$")
    assert (reps.loc[str(hh.hh_id[i])] == 0).all() and c.loc[str(hh.hh_id[i]), "final_weight"] == 0
    assert np.allclose(reps.sum(), 2300.0)
    r = runner.invoke(main, ["weights", "popsize", str(files / "c.csv"), "--registry-total", "1600", "--json"])
    assert r.exit_code == 0, r.output + r.stderr
    rows = json.loads(r.stdout)
    # direct = Σ w over unregistered = 700 (calibrated); its replicate SE is 0 since every replicate is
    # calibrated to the same 700; the flagged (registered) row adds nothing
    assert rows[0]["estimate"] == pytest.approx(700.0) and rows[0]["se"] == pytest.approx(0.0, abs=1e-6)


def _reference_weights(tmp_path):
    from tests.conftest import SURVEY_REFERENCE

    d = pd.read_csv(SURVEY_REFERENCE / "households.csv")
    d.assign(final_weight=d.weight).to_csv(tmp_path / "w.csv", index=False)
    return tmp_path / "w.csv"


@pytest.mark.parametrize("margins, args, words", [
    ("var,lev,tot\nsex,F,3\n", [], ["m.csv", "missing column(s) variable, level, total", "(found: var, lev, tot)"]),
    ("variable,level,total\nregistered,7,300\nregistered,0,300\nregistered,1,300\n", [],
     ["m.csv, row 2, column 'level', value '7'", "levels in the data: 0, 1"]),
    ("variable,level,total\nregistred,1,300\n", [], ["m.csv, row 2, column 'variable'", "did you mean 'registered'"]),
    ("variable,level,total\nregistered,0,abc\n", [], ["m.csv, row 2, column 'total', value 'abc'"]),
    # weights sum to 125,526; bounded raking cannot shrink them to 5,100 within factors 0.9–1.1
    ("variable,level,total\nregistered,0,100\nregistered,1,5000\n", ["--bounds", "0.9,1.1"],
     ["did not converge", "widen the bounds"]),
    ("variable,level,total\nregistered,0,1000\nregistered,1,2000\n", ["--weight-col", "nope"], ["'nope'"]),
])
def test_calibrate_bad_input_one_line_nothing_written(runner, tmp_path, margins, args, words):
    w = _reference_weights(tmp_path)
    (tmp_path / "m.csv").write_text(margins)
    r = runner.invoke(main, ["weights", "calibrate", str(w), "--margins", str(tmp_path / "m.csv"), *args,
                             "-o", str(tmp_path / "c.csv")])
    assert r.exit_code == 1, r.output + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and all(x in lines[0] for x in words), r.stderr
    assert not (tmp_path / "c.csv").exists()


@pytest.mark.parametrize("value, shown", [(-2, "value -2"), (None, "row 5, column 'final_weight'")])
def test_calibrate_and_popsize_negative_or_missing_weight(runner, tmp_path, value, shown):
    w = _reference_weights(tmp_path)
    d = pd.read_csv(w)
    d.loc[3, "final_weight"] = value
    d.to_csv(w, index=False)
    (tmp_path / "m.csv").write_text("variable,level,total\nregistered,0,1000\nregistered,1,2000\n")
    for cmd in (["weights", "calibrate", str(w), "--margins", str(tmp_path / "m.csv"), "-o", str(tmp_path / "c.csv")],
                ["weights", "popsize", str(w), "-o", str(tmp_path / "c.csv")]):
        r = runner.invoke(main, cmd)
        assert r.exit_code == 1
        line = r.stderr.strip()
        assert "\n" not in line and "w.csv, row 5" in line and shown in line and "np." not in line, line
        assert not (tmp_path / "c.csv").exists()


def test_trim_reports_kish_deff_before_and_after(runner, tmp_path):
    # Source: R trimWeights(des, upper = 3*median(weights(des))) on the reference survey:
    # 182 weights trimmed (survey_reference README), trimmed weights in trimmed_weights.csv. The
    # deffs printed must equal n Σw²/(Σw)² of the input weights and of R's trimmed weights.
    from tests.conftest import SURVEY_REFERENCE

    w = _reference_weights(tmp_path)
    r = runner.invoke(main, ["weights", "trim", str(w), "--upper-median", "3", "-o", str(tmp_path / "t.csv")])
    assert r.exit_code == 0, r.output + r.stderr
    before = pd.read_csv(w).final_weight.to_numpy()
    r_trim = pd.read_csv(SURVEY_REFERENCE / "trimmed_weights.csv").weight.to_numpy()

    def kish(x):
        return len(x) * (x ** 2).sum() / x.sum() ** 2

    assert f"trimmed 182 of {len(before)} weights" in r.stderr
    assert f"Kish deff {kish(before):.3f} → {kish(r_trim):.3f}" in r.stderr and "--strict" in r.stderr
    t = pd.read_csv(tmp_path / "t.csv")
    np.testing.assert_allclose(t.final_weight, r_trim, rtol=1e-12)
    np.testing.assert_allclose(t.pretrim_weight, before, rtol=0)
    # usage: exactly one of --upper / --upper-median (exit 2), nothing written
    r = runner.invoke(main, ["weights", "trim", str(w), "-o", str(tmp_path / "u.csv")])
    assert r.exit_code == 2 and not (tmp_path / "u.csv").exists()


def test_calibrate_survey_cells_keep_their_replicate_variance(runner, tmp_path):
    # Margins on disjoint cells (stratum x registered) are a post-stratification: each cell's
    # weights are multiplied by target / own total. A 'survey' cell's target is its own total,
    # in the full sample and in every replicate, so its factor is exactly 1 everywhere and the
    # replicate spread of the unregistered total survives calibration (docs/methods.md, 'Registration status and
    # calibration'). Registered cells reach the registry totals in every replicate (A|1: 30, B|1: 12).
    t = pd.DataFrame({"hh_id": [f"h{i}" for i in range(8)], "stratum": list("AAAABBBB"),
                      "registered": [1, 1, 0, 0, 1, 0, 0, 0],
                      "final_weight": [10.0, 12.0, 5.0, 7.0, 9.0, 4.0, 6.0, 8.0]})
    rng = np.random.default_rng(3)
    for b in range(1, 5):
        t[f"rep_{b}"] = t["final_weight"] * rng.uniform(0.5, 1.5, len(t))
    src, margins, out = tmp_path / "w.csv", tmp_path / "m.csv", tmp_path / "c.csv"
    t.to_csv(src, index=False)
    margins.write_text("variable,level,total\nstratum x registered,A|1,30\nstratum x registered,B|1,12\n"
                       "stratum x registered,A|0,survey\nstratum x registered,B|0,Survey\n")
    res = runner.invoke(main, ["weights", "calibrate", str(src), "--margins", str(margins), "-o", str(out)])
    assert res.exit_code == 0, res.output
    c = pd.read_csv(out)
    unreg, reg = c["registered"] == 0, c["registered"] == 1
    cols = ["final_weight"] + [f"rep_{b}" for b in range(1, 5)]
    np.testing.assert_allclose(c.loc[unreg, cols].to_numpy(), t.loc[unreg, cols].to_numpy(), rtol=1e-12)
    for col in cols:
        sums = c.loc[reg].groupby("stratum")[col].sum()
        assert sums["A"] == pytest.approx(30) and sums["B"] == pytest.approx(12)
    # 'survey' is refused where it cannot be honoured
    res = runner.invoke(main, ["weights", "compute", "--households", str(src), "--margins", str(margins),
                               "-o", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "'survey' totals" in res.stderr


def test_calibrate_replicate_that_cannot_reach_bounds_is_named(runner, tmp_path):
    # Replicate rep_2 keeps half of the registered weight of stratum A, so reaching the registry
    # total 30 needs g = 30 / (22 x 0.5) = 2.7 > 2 = the upper bound: it cannot converge, and
    # the error must name the replicate column and the options that help.
    t = pd.DataFrame({"hh_id": [f"h{i}" for i in range(4)], "stratum": "A", "registered": [1, 1, 0, 0],
                      "final_weight": [10.0, 12.0, 5.0, 7.0]})
    t["rep_1"] = t["final_weight"]
    t["rep_2"] = t["final_weight"] * [0.5, 0.5, 1.0, 1.0]
    src, margins = tmp_path / "w.csv", tmp_path / "m.csv"
    t.to_csv(src, index=False)
    margins.write_text("variable,level,total\nstratum x registered,A|1,30\nstratum x registered,A|0,survey\n")
    res = runner.invoke(main, ["weights", "calibrate", str(src), "--margins", str(margins), "--bounds", "0.5,2",
                               "--max-iter", "20", "-o", str(tmp_path / "c.csv")])
    assert res.exit_code == 1
    assert "replicate rep_2" in res.stderr and "--max-iter" in res.stderr and "--bounds" in res.stderr
    assert not (tmp_path / "c.csv").exists()
