"""``hiddenpop rds estimate`` and ``hiddenpop rds diagnose``."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from hiddenpop.cli import main
from tests.conftest import RDS_ORACLE
from tests.rds.test_estimators import reference_rows

FAUXMADRONA = str(RDS_ORACLE / "data" / "fauxmadrona.csv")
FAUX = str(RDS_ORACLE / "data" / "faux.csv")


def test_estimate_json_matches_reference(runner):
    res = runner.invoke(main, ["rds", "estimate", FAUXMADRONA, "--degree-col", "degree", "--var", "disease",
                               "--estimator", "rds-ii", "--estimator", "rds-i", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    keys = {"outcome", "level", "estimator", "estimate", "se", "ci_low", "ci_high", "n", "population_size"}
    assert all(keys <= set(r) for r in rows)
    got = {(r["estimator"], r["level"]): r["estimate"] for r in rows}
    # Source: reference.csv RDS-II / RDS-I rows for fauxmadrona disease
    for est in ("rds-ii", "rds-i"):
        for level, value in reference_rows("fauxmadrona", "disease", est).items():
            assert got[(est, level)] == pytest.approx(value, abs=1e-9)
    assert all(r["se"] is None for r in rows)  # no --variance: no interval


def test_estimate_population_size_sensitivity_and_variance(runner, tmp_path):
    out = tmp_path / "est.csv"
    wts = tmp_path / "w.csv"
    res = runner.invoke(main, ["rds", "estimate", FAUXMADRONA, "--degree-col", "degree", "--var", "disease",
                               "--estimator", "ss", "--population-size", "600,1000,1500", "--variance", "tree",
                               "--reps", "50", "--rng-seed", "1", "-o", str(out), "--weights-output", str(wts)])
    assert res.exit_code == 0, res.output
    tab = pd.read_csv(out, dtype={"level": str})
    assert tab["scenario"].tolist() == ["low", "low", "mid", "mid", "high", "high"]
    assert tab["population_size"].tolist() == [600, 600, 1000, 1000, 1500, 1500]
    assert (tab["se"] > 0).all() and (tab["ci_low"] < tab["estimate"]).all()
    w = pd.read_csv(wts)
    assert w.groupby("scenario")["weight"].sum().round(6).to_dict() == {"high": 1500, "low": 600, "mid": 1000}
    # refuses to overwrite
    res = runner.invoke(main, ["rds", "estimate", FAUXMADRONA, "--degree-col", "degree", "--var", "disease",
                               "-o", str(out)])
    assert res.exit_code == 1 and "already exists" in res.stderr


def test_estimate_errors(runner):
    res = runner.invoke(main, ["rds", "estimate", FAUX, "--var", "X", "--estimator", "ss"])
    assert res.exit_code == 1 and "needs the population size" in res.stderr
    res = runner.invoke(main, ["rds", "estimate", FAUX, "--var", "nope"])
    assert res.exit_code == 1 and "no outcome column 'nope'" in res.stderr
    res = runner.invoke(main, ["rds", "estimate", FAUX, "--var", "X", "--estimator", "vh"])
    assert res.exit_code == 2
    res = runner.invoke(main, ["rds", "estimate", FAUX, "--var", "X", "--variance", "tree"])
    assert res.exit_code == 2 and "--rng-seed" in res.stderr
    res = runner.invoke(main, ["rds", "estimate", FAUX, "--var", "X", "--population-size", "2,1"])
    assert res.exit_code != 0


def test_estimate_from_referral_store(runner, tmp_path):
    from hiddenpop.io.store import ReferralStore

    store = ReferralStore.create(tmp_path / "survey.sqlite")
    store.import_file(FAUXMADRONA)
    res = runner.invoke(main, ["rds", "estimate", str(tmp_path / "survey.sqlite"), "--var", "disease",
                               "--estimator", "rds-ii", "--json"])
    assert res.exit_code == 0, res.output
    got = {r["level"]: r["estimate"] for r in json.loads(res.stdout)}
    # same numbers as the CSV (reference.csv RDS-II rows)
    for level, value in reference_rows("fauxmadrona", "disease", "rds-ii").items():
        assert got[level] == pytest.approx(value, abs=1e-9)


def test_diagnose_writes_all_outputs(runner, tmp_path):
    out = tmp_path / "diag"
    res = runner.invoke(main, ["rds", "diagnose", FAUX, "--var", "X", "--var", "Y", "--population-size", "1000",
                               "-o", str(out)])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["bottleneck_X.png", "bottleneck_Y.png", "convergence_X.png", "convergence_Y.png",
                     "differential_activity.csv", "homophily.csv", "transitions_X.csv", "transitions_Y.csv"]
    homo = pd.read_csv(out / "homophily.csv")
    assert set(homo.columns) >= {"population_homophily", "recruitment_homophily"}
    assert (out / "convergence_X.png").read_bytes()[:4] == b"\x89PNG"
    res = runner.invoke(main, ["rds", "diagnose", FAUX, "--var", "X", "-o", str(out)])
    assert res.exit_code == 1 and "already exists" in res.stderr


def _edited(tmp_path, name, edit):
    """fauxmadrona.csv with one edit applied (row numbers below count the header as row 1)."""
    t = pd.read_csv(FAUXMADRONA, dtype=str, keep_default_na=False)
    edit(t)
    path = tmp_path / name
    t.to_csv(path, index=False)
    return str(path)


def _one_line_error(res, *parts):
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), res.output
    assert "Traceback" not in res.output
    for p in parts:
        assert p in lines[0], (p, lines[0])


@pytest.mark.parametrize("case", ["typo", "unknown", "duplicate", "negative"])
def test_bad_rows_are_named_with_row_column_and_value(runner, tmp_path, case):
    def edit(t):
        first_seed = t.index[t["recruiter.id"] == "seed"][1]
        if case == "typo":
            t.loc[first_seed, "recruiter.id"] = "Seed"          # CSV row first_seed + 2
        elif case == "unknown":
            t.loc[20, "recruiter.id"] = "99999"
        elif case == "duplicate":
            t.loc[8, "id"] = t.loc[3, "id"]
        else:
            t.loc[5, "degree"] = "-3"
        t.attrs["row"] = {"typo": first_seed + 2, "unknown": 22, "duplicate": 10, "negative": 7}[case]

    t_row = {}

    def capture(t):
        edit(t)
        t_row.update(t.attrs)

    path = _edited(tmp_path, f"{case}.csv", capture)
    out = tmp_path / "est.csv"
    res = runner.invoke(main, ["rds", "estimate", path, "--degree-col", "degree", "--var", "disease",
                               "-o", str(out)])
    column, value = {"typo": ("recruiter.id", "'Seed'"), "unknown": ("recruiter.id", "'99999'"),
                     "duplicate": ("id", ""), "negative": ("degree", "value -3")}[case]
    _one_line_error(res, f"{case}.csv, row {t_row['row']}", f"column '{column}'", value, "Fix:")
    assert not out.exists()


def test_population_size_errors_name_the_file_and_the_fix(runner, tmp_path):
    out = tmp_path / "d"
    res = runner.invoke(main, ["rds", "diagnose", FAUX, "--var", "X", "--population-size", "100", "-o", str(out)])
    _one_line_error(res, "faux.csv", "population size 100 is smaller than the 389 respondents", "at least 389")
    assert not out.exists()
    res = runner.invoke(main, ["rds", "estimate", FAUX, "--var", "X", "--population-size", "abc"])
    assert res.exit_code == 2 and "'abc' is not a number" in res.output
    res = runner.invoke(main, ["rds", "estimate", FAUX, "--var", "X", "--estimator", "ss"])
    _one_line_error(res, "needs the population size", "--population-size")


def test_hcg_without_times_says_it_uses_wave_order(runner):
    res = runner.invoke(main, ["rds", "estimate", FAUX, "--var", "X", "--estimator", "hcg",
                               "--population-size", "1000"])
    assert res.exit_code == 0, res.output
    assert "no interview times (--time-col), so HCG orders respondents by wave" in res.stderr
