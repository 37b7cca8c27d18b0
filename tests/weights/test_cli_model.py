"""``hiddenpop estimate --compare`` and ``hiddenpop model`` against R survey 4.5.

Expected numbers: tests/data/survey_reference_compare/{compare,glm}.csv (its reference.R, R 4.2.2, survey 4.5).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hiddenpop.cli import main
from tests.weights._compare_reference import DIR, HH_FILE, load_data, reference

HH = str(HH_FILE)
CMP = reference("compare.csv")
GLM = reference("glm.csv")


def _ref(table, case, method):
    return table[(table["case"] == case) & (table["method"] == method)]


def test_estimate_compare_json_matches_r(runner):
    res = runner.invoke(main, ["estimate", HH, "--weight-col", "weight", "--var", "children_working", "--by",
                               "registered", "--compare", "registered", "--reference", "0", "--ratio", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) == {"estimates", "differences"} and len(out["estimates"]) == 2
    ref = _ref(CMP, "hh_mean_children_working_by_registered", "linearization")
    for r in ref.to_dict("records"):
        d = next(x for x in out["differences"] if x["contrast"] == r["contrast"])
        for col in ("estimate", "se", "ci_low", "ci_high", "p_value"):
            assert d[col] == pytest.approx(r[col], rel=1e-8), col
        assert (d["level"], d["reference"], d["within"]) == ("1", "0", "all")


def test_estimate_compare_replicate_columns_match_r(runner, tmp_path):
    # R's subbootstrap replicate analysis weights of households.csv as columns rep_1..rep_80, with R's scale
    # (--replicate-method other); its rscales are all 1, which the CLI assumes for replicate columns
    data = load_data("hh")
    mult = pd.read_csv(DIR / "rep_hh_boot_mult.csv.gz").set_index("group").to_numpy()
    idx = pd.read_csv(DIR / "rep_hh_boot_index.csv")["group"].to_numpy() - 1
    params = pd.read_csv(DIR / "rep_hh_boot_params.csv")
    rw = data["weight"].to_numpy()[:, None] * mult[idx]
    reps = pd.DataFrame(rw, columns=[f"rep_{i + 1}" for i in range(rw.shape[1])])
    path = tmp_path / "hh_reps.csv"
    pd.concat([data, reps], axis=1).to_csv(path, index=False, float_format="%.17g")
    res = runner.invoke(main, ["estimate", str(path), "--weight-col", "weight", "--var", "works_any", "--by",
                               "registered,sex_head", "--compare", "registered", "--variance", "replicate",
                               "--replicate-method", "other", "--replicate-scale", repr(float(params["scale"][0])),
                               "--json"])
    assert res.exit_code == 0, res.output
    diffs = json.loads(res.stdout)["differences"]
    ref = _ref(CMP, "hh_mean_works_any_by_registered_sex", "bootstrap")
    ref = ref[ref["contrast"] == "difference"]
    assert len(diffs) == len(ref) == 2
    for r in ref.to_dict("records"):
        d = next(x for x in diffs if x["within"] == r["within"])
        assert d["se"] == pytest.approx(r["se"], rel=1e-8) and d["estimate"] == pytest.approx(r["estimate"], rel=1e-8)


def test_estimate_compare_writes_both_files_or_none(runner, tmp_path):
    out = tmp_path / "est.csv"
    args = ["estimate", HH, "--weight-col", "weight", "--var", "children_working", "--by", "registered,sex_head",
            "--compare", "registered", "--min-cell", "400", "-o", str(out)]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    diffs = pd.read_csv(tmp_path / "est_differences.csv")
    # registered=0 & sex_head=F has 321 households (< 400): its difference is suppressed, M's is not
    assert diffs.set_index("within")["suppressed"].to_dict() == {"sex_head=F": True, "sex_head=M": False}
    (tmp_path / "est.csv").unlink()
    res = runner.invoke(main, args)      # the differences file exists: refuse before writing anything
    assert res.exit_code == 1 and "already exists" in res.output and not out.exists()


def test_estimate_compare_usage_errors(runner):
    res = runner.invoke(main, ["estimate", HH, "--weight-col", "weight", "--var", "children_working", "--by",
                               "sex_head", "--compare", "registered"])
    assert res.exit_code == 2 and "must also be a --by variable" in res.output
    res = runner.invoke(main, ["estimate", HH, "--weight-col", "weight", "--var", "children_working", "--by",
                               "registered", "--compare", "registered", "--reference", "9"])
    assert res.exit_code == 1 and f"{HH}: reference level '9'" in res.output and "Traceback" not in res.output


def test_model_json_matches_r(runner):
    path = str(DIR / "api_strat.csv")
    res = runner.invoke(main, ["model", path, "--formula", "sch_wide ~ ell + meals + C(stype)", "--family",
                               "binomial", "--weight-col", "pw", "--stratum-col", "stype", "--fpc-col", "fpc",
                               "--ratios", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    ref = _ref(GLM, "strat_quasibinomial", "linearization").set_index("term")
    assert out["df_residual"] == ref["df_residual"].iloc[0] and out["family"] == "quasibinomial"
    for c in out["coefficients"]:
        r = ref.loc["(Intercept)" if c["term"] == "Intercept" else c["term"].replace("=", "")]
        for col in ("estimate", "se", "ci_low", "ci_high", "p_value", "deff"):
            assert c[col] == pytest.approx(r[col], rel=1e-8), (c["term"], col)
        assert c["ratio"] == pytest.approx(np.exp(r["estimate"]), rel=1e-12)


def test_model_table_and_csv(runner, tmp_path):
    path = str(DIR / "api_clus1.csv")
    args = ["model", path, "--formula", "api00 ~ ell + meals + C(stype)", "--weight-col", "pw", "--psu-col", "dnum",
            "--fpc-col", "fpc"]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0].startswith("api00 ~ ell + meals + C(stype)  (gaussian, linearization SE, n 183")
    assert "stype=H" in res.stdout
    res = runner.invoke(main, args + ["-o", str(tmp_path / "coef.csv")])
    t = pd.read_csv(tmp_path / "coef.csv")
    ref = _ref(GLM, "clus1_gaussian", "linearization")
    np.testing.assert_allclose(t["se"].to_numpy(), ref.set_index("term").loc[
        [("(Intercept)" if x == "Intercept" else x.replace("=", "")) for x in t["term"]], "se"].to_numpy(), rtol=1e-8)


def test_model_refuses_unidentifiable(runner, tmp_path):
    data = load_data("hh")
    data["any_child"] = (data["n_children"] > 0).astype(int)
    path = tmp_path / "hh.csv"
    data.to_csv(path, index=False)
    res = runner.invoke(main, ["model", str(path), "--weight-col", "weight", "--formula",
                               "works_any ~ registered + any_child", "--family", "binomial"])
    assert res.exit_code == 1 and "perfectly separated" in res.output and "'any_child'" in res.output
    assert len(res.output.strip().splitlines()) == 1 and f"{path}: " in res.output
    res = runner.invoke(main, ["model", str(path), "--weight-col", "weight", "--formula",
                               "n_children ~ registered", "--family", "binomial"])
    # the first household with more than one child is on file row 3 (header = row 1)
    first = int(np.flatnonzero(data["n_children"].to_numpy() > 1)[0]) + 2
    assert res.exit_code == 1 and f"row {first}, column 'n_children' has" in res.output
    res = runner.invoke(main, ["model", str(path), "--weight-col", "weight", "--formula",
                               "works_any ~ registered", "--ratios"])
    assert res.exit_code == 2 and "--ratios needs" in res.output


def test_estimate_compare_jkn_built_here_matches_r(runner):
    # --variance jkn builds the stratified jackknife from the strata and PSUs (PSU-level factors);
    # R's as.svrepdesign(type="JKn") on the same design gives the same replicates (compare.csv, method jkn)
    res = runner.invoke(main, ["estimate", HH, "--weight-col", "weight", "--var", "children_working", "--stat",
                               "ratio", "--denominator", "n_children", "--by", "registered", "--compare", "registered",
                               "--ratio", "--variance", "jkn", "--json"])
    assert res.exit_code == 0, res.output
    diffs = json.loads(res.stdout)["differences"]
    ref = _ref(CMP, "hh_ratio_working_children_by_registered", "jkn")
    for r in ref.to_dict("records"):
        d = next(x for x in diffs if x["contrast"] == r["contrast"])
        assert d["variable"] == "children_working/n_children" and d["method"] == "jkn"
        for col in ("estimate", "se", "ci_low", "ci_high", "p_value"):
            assert d[col] == pytest.approx(r[col], rel=1e-8), (r["contrast"], col)


def test_model_two_stage_design_matches_r(runner):
    # apiclus2 with both stages without replacement: svydesign(id=~dnum+snum, fpc=~fpc1+fpc2) (glm.csv clus2fpc)
    res = runner.invoke(main, ["model", str(DIR / "api_clus2.csv"), "--formula", "api00 ~ ell + meals",
                               "--weight-col", "pw", "--psu-col", "dnum,snum", "--fpc-col", "fpc1,fpc2", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    ref = _ref(GLM, "clus2fpc_gaussian", "linearization").set_index("term")
    for c in out["coefficients"]:
        r = ref.loc["(Intercept)" if c["term"] == "Intercept" else c["term"]]
        assert c["se"] == pytest.approx(r["se"], rel=1e-8) and c["p_value"] == pytest.approx(r["p_value"], rel=1e-8)
    assert out["df_residual"] == ref["df_residual"].iloc[0]


def test_calibrated_weights_through_the_cli_match_r(runner, tmp_path):
    # weights calibrate (linear, to ../survey_reference/margins.csv) writes cal.calibration.json; model and
    # estimate --compare linearise through it: R calibrate(dhh, ..., calfun="linear") (cases hhcal_*)
    data = load_data("hh")
    data["region_registered"] = data["region"] + "_" + data["registered"].astype(str)
    data.to_csv(tmp_path / "hh.csv", index=False)
    res = runner.invoke(main, ["weights", "calibrate", str(tmp_path / "hh.csv"), "--margins",
                               str(HH_FILE.parent / "margins.csv"), "--method", "linear", "--weight-col", "weight",
                               "-o", str(tmp_path / "cal.csv")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["model", str(tmp_path / "cal.csv"), "--formula", "income ~ registered + sex_head + "
                               "n_children", "--weight-col", "weight", "--json"])
    assert res.exit_code == 0, res.output
    ref = _ref(GLM, "hhcal_gaussian", "linearization").set_index("term")
    for c in json.loads(res.stdout)["coefficients"]:
        r = ref.loc["(Intercept)" if c["term"] == "Intercept" else c["term"].replace("=", "")]
        assert c["estimate"] == pytest.approx(r["estimate"], rel=1e-8)
        assert c["se"] == pytest.approx(r["se"], rel=1e-8), c["term"]
    res = runner.invoke(main, ["estimate", str(tmp_path / "cal.csv"), "--var", "children_working", "--by",
                               "registered", "--compare", "registered", "--weight-col", "weight", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)["differences"][0]
    r = _ref(CMP, "hhcal_mean_children_working_by_registered", "linearization").iloc[0]
    assert d["se"] == pytest.approx(r["se"], rel=1e-8) and d["estimate"] == pytest.approx(r["estimate"], rel=1e-8)


@pytest.mark.parametrize("command", [["estimate", "--var", "api00"], ["model", "--formula", "api00 ~ ell"]])
def test_replicate_variance_without_replicate_columns_names_the_file(runner, command):
    # R's api_strat has no rep_* columns: estimate and model (one shared check) say which file and what to do
    path = str(DIR / "api_strat.csv")
    res = runner.invoke(main, [command[0], path, *command[1:], "--weight-col", "pw", "--variance", "replicate"])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert f"{path} has no rep_1 ... rep_B columns" in res.output and "--replicate-cols" in res.output
