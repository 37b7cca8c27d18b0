"""R RDS's analytic ("EL") standard error against R RDS 0.9-10 on every data set of rds_oracle and rds_oracle_more.

Sources: the ``uncertainty = EL`` rows (N_source = attribute) of tests/data/rds_oracle/reference.csv (faux,
fauxmadrona, fauxmadrona2_rds1) and tests/data/rds_oracle_more/reference.csv (fauxsycamore, fauxtime,
fauxsycamore_na), and the "Gile's SS" rows of both weights.csv.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tests.rds.test_estimators as old
import tests.rds.test_more_oracle as more
from hiddenpop.errors import EstimationError
from hiddenpop.rds import el_intervals, el_standard_error
from hiddenpop.rds.analytic import _median_of_products

pytestmark = pytest.mark.filterwarnings("ignore::hiddenpop.errors.DegreeImputedWarning")

INV = {v: k for k, v in old.R_LABEL.items()}
SOURCES = {"old": (old.REFERENCE, old.WEIGHTS, old.oracle_sample),
           "more": (more.REFERENCE, more.WEIGHTS, more.more_sample)}


def _el_rows(ref: pd.DataFrame) -> pd.DataFrame:
    return ref[(ref.uncertainty == "EL") & (ref.N_source == "attribute")]


CASES = [(src, *key) for src, (ref, _, _) in SOURCES.items()
         for key in _el_rows(ref)[["dataset", "outcome", "estimator"]].drop_duplicates().itertuples(index=False)]


def _ours_and_r(src: str, dataset: str, outcome: str, estimator: str):
    ref, _, load = SOURCES[src]
    rows = _el_rows(ref)
    rows = rows[(rows.dataset == dataset) & (rows.outcome == outcome) & (rows.estimator == estimator)]
    ours = el_intervals(load(dataset), outcome, estimator=INV[estimator]).set_index("level")
    return ours.loc[rows["level"]], rows.set_index("level")


@pytest.mark.parametrize("src,dataset,outcome,estimator", [c for c in CASES if c[3] != "Gile's SS"])
def test_el_se_interval_and_design_effect_match_r(src, dataset, outcome, estimator):
    # RDS-I, RDS-I (DS), RDS-II: deterministic weights, so R's EL.se is reproduced to rounding (observed
    # < 2e-16 in se, < 3e-14 in design effect); 1e-9 as the point estimates.
    ours, r = _ours_and_r(src, dataset, outcome, estimator)
    for col in ("estimate", "se", "ci_low", "ci_high", "design_effect"):
        np.testing.assert_allclose(ours[col].to_numpy(), r[col].to_numpy(), rtol=0, atol=1e-9, err_msg=col)
    assert (ours["variance"] == "el").all()


@pytest.mark.parametrize("src,dataset,outcome,estimator", [c for c in CASES if c[3] == "Gile's SS"])
def test_ss_el_se_matches_r_within_monte_carlo_error(src, dataset, outcome, estimator):
    # R's SS weights are simulated, ours exact: the SE differs through the weights only (next test).
    # Observed relative difference at most 2.7 % (fauxsycamore); 5 % allowed.
    ours, r = _ours_and_r(src, dataset, outcome, estimator)
    np.testing.assert_allclose(ours["se"].to_numpy(), r["se"].to_numpy(), rtol=0.05)


@pytest.mark.parametrize("src,dataset,outcome", sorted({c[:3] for c in CASES if c[3] == "Gile's SS"}))
def test_ss_el_se_from_r_own_weights_is_exact(src, dataset, outcome):
    # Two routes: el_standard_error on R's own SS weights (weights.csv, same seed as the estimate) must give
    # R's SS EL se exactly, so the formula is R's and only the Monte Carlo of R's weights separates us.
    ref, weights, load = SOURCES[src]
    s = load(dataset)
    w = weights[(weights.dataset == dataset) & (weights.estimator == "Gile's SS")].set_index("id")["weight"]
    rows = _el_rows(ref)
    rows = rows[(rows.dataset == dataset) & (rows.outcome == outcome) & (rows.estimator == "Gile's SS")]
    values = s.data[outcome]
    for level, r in rows.set_index("level").iterrows():
        y = np.where(values.isna(), np.nan, (values.astype(str).str.replace(r"\.0$", "", regex=True) == level))
        got = el_standard_error(w.reindex(s.ids).to_numpy(), y.astype(float), population_size=r["N_used"])
        assert got == pytest.approx(r["se"], abs=1e-12), level


def test_hand_calculation_and_no_fpc():
    # w = (1, 2, 1), y = (1, 0, 0): var = 4 * (0.8² + 1.0²) / 9² (docstring of el_standard_error).
    assert el_standard_error([1.0, 2.0, 1.0], [1, 0, 0]) == pytest.approx(np.sqrt(4 * 1.64 / 81), rel=1e-12)
    # with N the factor (N - n)/(N - 1) counts the respondent whose outcome is missing (n = 4)
    fpc = el_standard_error([1.0, 2.0, 1.0, 5.0], [1, 0, 0, np.nan], population_size=10)
    assert fpc == pytest.approx(np.sqrt(4 * 1.64 / 81 * 6 / 9), rel=1e-12)
    # the cap: one huge weight is cut to 10 x the median product, so the SE stays finite and scale-free
    a = el_standard_error([1.0, 1.0, 1.0, 1e9, 1.0], [1, 0, 1, 0, 0])
    b = el_standard_error([2.0, 2.0, 2.0, 2e9, 2.0], [1, 0, 1, 0, 0])
    assert np.isfinite(a) and a == pytest.approx(b, rel=1e-12)


def test_median_of_products_by_bisection_equals_the_full_table():
    rng = np.random.default_rng(5)
    for n in (7, 8, 51, 300):
        w = rng.gamma(2.0, size=n)
        w[3] = 0.0
        w[5] = w[6]
        assert _median_of_products(w, exact_limit=0) == pytest.approx(np.median(np.multiply.outer(w, w)), rel=1e-12)


def test_blocks_do_not_change_the_answer(monkeypatch):
    import hiddenpop.rds.analytic as analytic

    s = old.oracle_sample("fauxmadrona")
    full = el_intervals(s, "disease", estimator="rds-ii")["se"].to_numpy()
    monkeypatch.setattr(analytic, "_BLOCK", 7)
    np.testing.assert_allclose(el_intervals(s, "disease", estimator="rds-ii")["se"].to_numpy(), full, rtol=1e-12)


def test_refusals():
    s = old.oracle_sample("faux")
    with pytest.raises(EstimationError, match="no analytic"):
        el_intervals(s, "X", estimator="mean")
    t = pd.DataFrame({"id": [1, 2, 3, 4], "recruiter.id": [0, 1, 1, 2], "network.size": [2, 4, 4, 2],
                      "age": [20, 31, 45, 60]})
    from hiddenpop.rds import rds_sample_from_table

    with pytest.raises(EstimationError, match="many values"):
        el_intervals(rds_sample_from_table(t), "age")


@pytest.mark.parametrize("dataset", more.NAMES)
def test_cli_variance_el_gives_r_default_standard_errors(runner, dataset):
    # `hiddenpop rds estimate --variance el` as a user runs it on the exported CSVs: R RDS 0.9-10's EL rows
    # (tests/data/rds_oracle_more/reference.csv) for RDS-I, RDS-I (DS) and RDS-II to 1e-9; no seed needed.
    import json

    from hiddenpop.cli import main

    ds = more.DATASETS.loc[dataset]
    args = ["rds", "estimate", str(more.MORE / "data" / ds["file"]), "--var", more.outcome(dataset),
            "--degree-col", ds["network.size"], "--population-size", str(int(float(ds["population.size.mid"]))),
            "--variance", "el", "--json"]
    if ds["id"] != "id":
        args += ["--id-col", ds["id"]]
    for est in ("rds-i", "rds-i-ds", "rds-ii"):
        args += ["--estimator", est]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    got = {(r["estimator"], r["level"]): r for r in json.loads(res.stdout)}
    rows = _el_rows(more.REFERENCE)
    rows = rows[(rows.dataset == dataset) & rows.estimator.isin(["RDS-I", "RDS-I (DS)", "RDS-II"])]
    assert len(rows) >= 6
    for r in rows.itertuples(index=False):
        g = got[(INV[r.estimator], r.level)]
        assert g["variance"] == "el" and g["reps"] is None
        for col in ("estimate", "se", "ci_low", "ci_high", "design_effect"):
            assert g[col] == pytest.approx(getattr(r, col), abs=1e-9), (r.estimator, r.level, col)


def test_cli_variance_el_refuses_what_r_does_not_define(runner):
    from hiddenpop.cli import main

    from tests.conftest import RDS_ORACLE

    faux = str(RDS_ORACLE / "data" / "fauxmadrona.csv")
    mean = runner.invoke(main, ["rds", "estimate", faux, "--degree-col", "degree", "--var", "disease",
                                "--estimator", "mean", "--variance", "el"])
    assert mean.exit_code == 1 and "no analytic (EL) standard error for the mean estimator" in mean.stderr
    assert "Traceback" not in mean.output
    numeric = runner.invoke(main, ["rds", "estimate", faux, "--degree-col", "degree", "--var", "degree",
                                   "--estimator", "rds-ii", "--variance", "el"])
    assert numeric.exit_code == 1 and "--categorical degree" in numeric.stderr
    # without N there is no finite-population factor, and the user is told (R's (N - n)/(N - 1) with
    # fauxmadrona's N = 1000 and n = 500 would shrink the SE by sqrt(500/999))
    plain = runner.invoke(main, ["rds", "estimate", faux, "--degree-col", "degree", "--var", "disease",
                                 "--estimator", "rds-ii", "--variance", "el", "--json"])
    with_n = runner.invoke(main, ["rds", "estimate", faux, "--degree-col", "degree", "--var", "disease",
                                  "--estimator", "rds-ii", "--variance", "el", "--population-size", "1000", "--json"])
    assert plain.exit_code == 0 and "no finite-population factor" in plain.stderr
    import json

    se0, se1 = json.loads(plain.stdout)[0]["se"], json.loads(with_n.stdout)[0]["se"]
    assert se1 == pytest.approx(se0 * np.sqrt(500 / 999), rel=1e-12)
