"""``hiddenpop estimate`` on the R reference survey (tests/data/survey_reference/households.csv)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from hiddenpop.cli import main
from tests.conftest import SURVEY_REFERENCE
from tests.weights.test_estimate import ref_row

HH = str(SURVEY_REFERENCE / "households.csv")
HL = str(SURVEY_REFERENCE / "households_lonely.csv")
COLS = ["variable", "statistic", "domain", "estimate", "se", "ci_low", "ci_high", "deff", "cv", "n", "suppressed",
        "method"]


def test_domains_to_csv_match_r(runner, tmp_path):
    out = tmp_path / "est.csv"
    res = runner.invoke(main, ["estimate", HH, "--weight-col", "weight", "--var", "children_working",
                               "--stat", "mean", "--by", "registered,sex_head", "-o", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    t = pd.read_csv(out)
    assert list(t.columns) == COLS and len(t) == 4
    for row in t.to_dict("records"):  # rows base/mean/children_working/registered=..&sex_head=..
        r = ref_row("base", "mean", "children_working", row["domain"])
        assert row["se"] == pytest.approx(r.se, rel=1e-8) and row["deff"] == pytest.approx(r.deff, rel=1e-8)


def test_json_ratio_and_suppression(runner):
    res = runner.invoke(main, ["estimate", HH, "--weight-col", "weight", "--var", "children_working", "--stat",
                               "ratio", "--denominator", "n_children", "--by", "sex_head", "--min-cell", "1000",
                               "--json"])
    assert res.exit_code == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [list(r) for r in rows] == [COLS, COLS]
    f, m = rows  # sex_head=F has 1036 rows (kept), M 1810
    r = ref_row("base", "ratio", "children_working/n_children", "sex_head=F")
    assert f["estimate"] == pytest.approx(r.estimate, rel=1e-12) and not f["suppressed"]
    res = runner.invoke(main, ["estimate", HH, "--weight-col", "weight", "--var", "income", "--by", "registered",
                               "--min-cell", "1000", "--json"])
    rows = json.loads(res.stdout)
    assert rows[0]["suppressed"] and rows[0]["estimate"] is None and rows[0]["n"] < 1000


def test_lonely_policy_option_and_fail_message(runner):
    res = runner.invoke(main, ["estimate", HL, "--weight-col", "weight", "--var", "income", "--json"])
    assert res.exit_code == 1
    assert "Stratum (PRV11) has only one PSU at stage 1" in res.stderr and "Traceback" not in res.stderr
    res = runner.invoke(main, ["estimate", HL, "--weight-col", "weight", "--var", "income", "--lonely-psu",
                               "adjust", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)[0]["se"] == pytest.approx(ref_row("lonely_adjust", "mean", "income").se, rel=1e-8)


def test_quantile_jkn_and_bootstrap_export(runner, tmp_path):
    res = runner.invoke(main, ["estimate", HH, "--weight-col", "weight", "--var", "income", "--stat", "quantile",
                               "--quantile", "0.9", "--json"])
    q = json.loads(res.stdout)[0]
    assert q["estimate"] == ref_row("quantile_math_mean", "quantile_0.9", "income").estimate
    res = runner.invoke(main, ["estimate", HH, "--weight-col", "weight", "--var", "children_working",
                               "--variance", "jkn", "--json"])
    assert json.loads(res.stdout)[0]["se"] == pytest.approx(ref_row("rep_jkn", "mean", "children_working").se,
                                                             rel=1e-8)
    rw = tmp_path / "rw.csv"
    res = runner.invoke(main, ["estimate", HH, "--weight-col", "weight", "--var", "children_working",
                               "--variance", "bootstrap", "--reps", "20", "--rng-seed", "5",
                               "--replicate-weights-out", str(rw), "-o", str(tmp_path / "e.csv")])
    assert res.exit_code == 0, res.stderr
    frame = pd.read_csv(rw)
    assert list(frame.columns[:3]) == ["hh_id", "weight", "rep_1"] and frame.shape == (2846, 22)
    assert "svrepdesign" in res.stderr and "bsrweight(rep_1-rep_20)" in res.stderr


def test_usage_and_data_errors_write_nothing(runner, tmp_path):
    out = tmp_path / "e.csv"
    res = runner.invoke(main, ["estimate", HH, "--weight-col", "weight", "--var", "income", "--variance",
                               "bootstrap", "-o", str(out)])
    assert res.exit_code == 2 and "--rng-seed" in res.stderr
    bad = tmp_path / "bad.csv"
    pd.read_csv(HH).assign(weight=lambda d: d.weight.where(d.index != 9, -1)).to_csv(bad, index=False)
    res = runner.invoke(main, ["estimate", str(bad), "--weight-col", "weight", "--var", "income", "-o", str(out)])
    assert res.exit_code == 1
    assert "row 11, column 'weight', value -1" in res.stderr
    assert not out.exists()
    res = runner.invoke(main, ["estimate", HH, "--var", "income", "-o", str(out)])
    assert res.exit_code == 1 and "'final_weight'" in res.stderr and not out.exists()
    out.write_text("x")
    res = runner.invoke(main, ["estimate", HH, "--weight-col", "weight", "--var", "income", "-o", str(out)])
    assert res.exit_code == 1 and "already exists" in res.stderr


def test_zero_weight_rows_flagged_are_kept_and_change_nothing(runner, tmp_path):
    # Two routes must agree: estimates with flagged zero-weight rows kept in the file equal the
    # estimates with those rows removed (each such row sits in a PSU that keeps other rows, so
    # the PSU counts per stratum, and hence the linearised SEs, are the same).
    hh = pd.read_csv(SURVEY_REFERENCE / "households.csv")
    extra = hh.groupby(["stratum", "psu"]).head(1).head(20).copy()
    extra["hh_id"] = extra["hh_id"].astype(str) + "-dup"
    extra["weight"] = 0.0
    hh["weight_flag"] = ""
    extra["weight_flag"] = "referred-not-eligible"
    with_zero = tmp_path / "with_zero.csv"
    pd.concat([hh, extra]).to_csv(with_zero, index=False)
    common = ["--var", "income", "--stat", "mean", "--by", "registered", "--weight-col", "weight", "--json"]
    a = runner.invoke(main, ["estimate", str(with_zero), *common])
    b = runner.invoke(main, ["estimate", str(SURVEY_REFERENCE / "households.csv"), *common])
    assert a.exit_code == 0, a.output
    ra, rb = json.loads(a.stdout), json.loads(b.stdout)
    for x, y in zip(ra, rb):
        assert x["estimate"] == pytest.approx(y["estimate"], rel=1e-12)
        assert x["se"] == pytest.approx(y["se"], rel=1e-12)
        assert x["n"] == y["n"]
    # the same zero weights without a reason are refused, naming the row and the way out
    unflagged = tmp_path / "unflagged.csv"
    pd.concat([hh, extra]).drop(columns="weight_flag").to_csv(unflagged, index=False)
    res = runner.invoke(main, ["estimate", str(unflagged), *common])
    assert res.exit_code == 1
    assert "not > 0" in res.stderr and "--zero-weights allow" in res.stderr
    assert f"row {len(hh) + 2}" in res.stderr
    res = runner.invoke(main, ["estimate", str(unflagged), *common, "--zero-weights", "allow"])
    assert res.exit_code == 0


def test_replicate_columns_by_pattern_match_r_jk1(runner, tmp_path):
    # Source: reference.csv case rep_jk1_unstratified (R survey as.svrepdesign(type="JK1") on the
    # unstratified design; multipliers in repmult_jk1_unstratified_psu.csv, analysis weight =
    # weight x multiplier). The columns rep001..rep157 are found by the pattern 'rep*' and
    # ordered by their number.
    hh = pd.read_csv(SURVEY_REFERENCE / "households.csv")
    mult = pd.read_csv(SURVEY_REFERENCE / "repmult_jk1_unstratified_psu.csv")
    merged = hh.merge(mult, on=["stratum", "psu"], how="left", validate="many_to_one")
    rep_cols = [c for c in mult.columns if c.startswith("rep")]
    merged[rep_cols] = merged[rep_cols].to_numpy() * merged[["weight"]].to_numpy()
    path = tmp_path / "jk1.csv"
    merged[list(hh.columns) + rep_cols[::-1]].to_csv(path, index=False)  # reversed on purpose
    res = runner.invoke(main, ["estimate", str(path), "--var", "children_working", "--stat", "mean",
                               "--weight-col", "weight", "--stratum-col", "none", "--psu-col", "psu",
                               "--variance", "replicate", "--replicate-cols", "rep*",
                               "--replicate-method", "jk1", "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)[0]
    r = ref_row("rep_jk1_unstratified", "mean", "children_working")
    assert got["estimate"] == pytest.approx(float(r["estimate"]), rel=1e-10)
    assert got["se"] == pytest.approx(float(r["se"]), rel=1e-8)
    res = runner.invoke(main, ["estimate", str(path), "--var", "children_working", "--weight-col", "weight",
                               "--variance", "replicate", "--replicate-cols", "zz*"])
    assert res.exit_code == 2 and "no column matches" in res.stderr


def test_replicate_domain_with_no_weight_in_a_replicate_warns(runner, tmp_path):
    # rep_2 gives the two registered=1 rows weight 0: the replicate mean of that domain is 0/0, so
    # its SE is NaN (as in R survey) — with one warning line naming the domain and "1 of 3".
    pd.DataFrame({"final_weight": [1.0, 1.0, 2.0, 2.0], "registered": [0, 0, 1, 1], "works": [0, 1, 1, 0],
                  "rep_1": [1.0, 1.0, 2.0, 2.0], "rep_2": [2.0, 2.0, 0.0, 0.0], "rep_3": [0.5, 1.5, 3.0, 1.0]}
                 ).to_csv(tmp_path / "w.csv", index=False)
    r = runner.invoke(main, ["estimate", str(tmp_path / "w.csv"), "--var", "works", "--by", "registered",
                             "--variance", "replicate", "--json"])
    assert r.exit_code == 0, r.output + r.stderr
    rows = {x["domain"]: x for x in json.loads(r.stdout)}
    assert rows["registered=1"]["se"] is None and rows["registered=0"]["se"] is not None
    warn = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(warn) == 1, r.stderr
    assert "registered=1 (1 of 3 replicates)" in warn[0] and "collapse" in warn[0] and "fewer" in warn[0]
    from hiddenpop.weights.design import Design
    from hiddenpop.weights.estimate import EmptyReplicateDomainWarning, mean

    d = pd.read_csv(tmp_path / "w.csv")
    with pytest.warns(EmptyReplicateDomainWarning, match="1 of 3"):
        mean(d, "works", Design(weight_col="final_weight", replicate_cols=("rep_1", "rep_2", "rep_3"),
                                replicate_method="bootstrap"), domain={"registered": 1}, variance="replicate")


def test_screen_table_fits_80_columns_and_reads_domains(runner):
    # Values: reference.csv gives the income mean of registered=0, sex_head=F as 313.3 (SE 21.9);
    # rounded to two significant digits of the SE: 313 and 22.
    r = runner.invoke(main, ["estimate", str(SURVEY_REFERENCE / "households.csv"), "--weight-col", "weight",
                             "--var", "income,children_working", "--by", "registered,sex_head", "--format", "table"])
    assert r.exit_code == 0, r.output + r.stderr
    lines = r.stdout.splitlines()
    assert max(len(x) for x in lines) <= 80
    assert lines[0] == "income (mean, linearization SE)"
    row = next(x for x in lines if x.strip().startswith("registered=0, sex_head=F"))
    assert row.split()[2:4] == ["313", "22"]
    # piped (not a terminal) the default stays CSV
    r = runner.invoke(main, ["estimate", str(SURVEY_REFERENCE / "households.csv"), "--weight-col", "weight",
                             "--var", "income"])
    assert r.stdout.startswith("variable,statistic,domain,")


@pytest.mark.parametrize("args, exit_code, words", [
    (["--var", "income", "--by", "registered,regoin"], 1, ["households.csv", "'regoin'", "--by", "'region'"]),
    (["--var", "incme"], 1, ["households.csv", "'incme'", "--var", "'income'"]),
    (["--var", "income", "--stat", "ratio", "--denominator", "nope"], 1, ["'nope'", "--denominator"]),
    (["--var", "income", "--stat", "ratio"], 2, ["--denominator"]),
    (["--var", "income", "--weight-col", "wt"], 1, ["households.csv", "'wt'"]),
])
def test_estimate_bad_columns_one_line_nothing_written(runner, tmp_path, args, exit_code, words):
    out = tmp_path / "e.csv"
    base = ["--weight-col", "weight"] if "--weight-col" not in args else []
    r = runner.invoke(main, ["estimate", str(SURVEY_REFERENCE / "households.csv"), *base, *args, "-o", str(out)])
    assert r.exit_code == exit_code, r.output + r.stderr
    err = [x for x in r.stderr.splitlines() if x.startswith("Error")]
    assert len(err) == 1 and all(w in err[0] for w in words), r.stderr
    assert not out.exists()
