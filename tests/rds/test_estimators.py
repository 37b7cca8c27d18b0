"""RDS point estimators against R RDS 0.9-10 (tests/data/rds_oracle) and hand calculations."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from hiddenpop.errors import DegreeImputedWarning, EstimationError
from hiddenpop.rds import (ESTIMATORS, RDSSample, build_tree, estimate, rds_i_weights, rds_sample_from_table,
                           rds_weights, stationary_distribution, vh_weights)
from tests.conftest import RDS_ORACLE

R_LABEL = {"rds-i": "RDS-I", "rds-i-ds": "RDS-I (DS)", "rds-ii": "RDS-II", "mean": "Arithmetic Mean",
           "ss": "Gile's SS", "hcg": "HCG"}
DATASETS = pd.read_csv(RDS_ORACLE / "datasets.csv")
REFERENCE = pd.read_csv(RDS_ORACLE / "reference.csv", dtype={"level": str})
WEIGHTS = pd.read_csv(RDS_ORACLE / "weights.csv", dtype={"id": str})


def oracle_sample(name: str) -> RDSSample:
    row = DATASETS.set_index("dataset").loc[name]
    table = pd.read_csv(RDS_ORACLE / "data" / row["file"])
    return rds_sample_from_table(table, degree_col=row["network.size"], seed_marker=str(row["seed_recruiter_id"]),
                                 population_size=(row["population.size.low"], row["population.size.mid"],
                                                  row["population.size.high"]), source=row["file"])


CASES = [(d, o) for d in DATASETS["dataset"] for o in REFERENCE.loc[REFERENCE["dataset"] == d, "outcome"].unique()]


def reference_rows(dataset: str, outcome: str, estimator: str) -> pd.Series:
    """reference.csv rows (dataset, outcome, R estimator name); point estimates repeat across
    uncertainty rows, so the first row per level is taken."""
    r = REFERENCE[(REFERENCE["dataset"] == dataset) & (REFERENCE["outcome"] == outcome)
                  & (REFERENCE["estimator"] == R_LABEL[estimator])]
    return r.drop_duplicates("level").set_index("level")["estimate"]


@pytest.mark.parametrize("dataset,outcome", CASES)
@pytest.mark.parametrize("estimator", ["rds-i", "rds-i-ds", "rds-ii", "mean"])
def test_deterministic_estimators_match_r_to_1e9(dataset, outcome, estimator):
    # Source: reference.csv rows (dataset, outcome, estimator in {RDS-I, RDS-I (DS), RDS-II, Arithmetic Mean}).
    s = oracle_sample(dataset)
    ours = estimate(s, outcome, estimator=estimator).set_index("level")["estimate"]
    ref = reference_rows(dataset, outcome, estimator)
    assert list(ours.index) == sorted(ref.index)
    np.testing.assert_allclose(ours.loc[ref.index].to_numpy(), ref.to_numpy(), rtol=0, atol=1e-9)


@pytest.mark.parametrize("dataset", list(DATASETS["dataset"]))
@pytest.mark.parametrize("estimator", ["rds-i", "rds-i-ds", "rds-ii", "mean"])
def test_weights_match_r_compute_weights_to_1e9(dataset, estimator):
    # Source: weights.csv rows (dataset, estimator); R compute.weights scaled to N = 1000.
    s = oracle_sample(dataset)
    ref = WEIGHTS[(WEIGHTS["dataset"] == dataset) & (WEIGHTS["estimator"] == R_LABEL[estimator])]
    assert len(ref)
    for outcome, rows in ref.groupby(ref["outcome"].fillna("")):
        w = rds_weights(s, estimator, outcome=outcome or None)
        assert w.sum() == pytest.approx(1000.0)
        np.testing.assert_allclose(w.reindex(rows["id"]).to_numpy(), rows["weight"].to_numpy(), rtol=0, atol=1e-9)


@pytest.mark.parametrize("dataset,outcome", [c for c in CASES if c[1] != "Y"])
def test_rds_i_ds_equals_rds_i_for_binary(dataset, outcome):
    # Any two-state Markov chain is reversible, so smoothing changes nothing (rds-reference §4.10).
    s = oracle_sample(dataset)
    a = estimate(s, outcome, estimator="rds-i")["estimate"].to_numpy()
    b = estimate(s, outcome, estimator="rds-i-ds")["estimate"].to_numpy()
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_rds_i_hand_calculation():
    # T = [[0,2],[1,0]] -> P = [[0,1],[1,0]], q = (1/2, 1/2); h_0 = 2/(1/2+1/4) = 8/3, h_1 = 2/(1/2+1/4) = 8/3
    # -> p = (1/2, 1/2); weights p_k / n_k = 1/4 each.  (Periodic chain: R refuses, we accept.)
    w = rds_i_weights(np.array([0, 1, 1, 0]), np.array([2., 2., 4., 4.]), np.array([-1, 0, 0, 1]), n_groups=2)
    np.testing.assert_allclose(w, [0.25, 0.25, 0.25, 0.25])


def test_vh_weights_inverse_degree():
    w = vh_weights([1., 2., 4.])
    assert w[0] / w[2] == pytest.approx(4.0)
    assert w.sum() == pytest.approx(3.0)


def test_stationary_distribution_hand_value_and_reducible_chain():
    # q P = q for P = [[.9,.1],[.3,.7]]: q_0 * .1 = q_1 * .3 -> q = (3/4, 1/4)
    np.testing.assert_allclose(stationary_distribution(np.array([[.9, .1], [.3, .7]])), [.75, .25])
    with pytest.raises(EstimationError, match="no unique equilibrium"):
        stationary_distribution(np.eye(2))


def tiny(**cols) -> RDSSample:
    base = {"id": [1, 2, 3, 4, 5, 6], "recruiter.id": [0, 1, 1, 2, 0, 5], "network.size": [2, 4, 4, 8, 2, 3]}
    base.update(cols)
    return rds_sample_from_table(pd.DataFrame(base), population_size=100)


def test_one_seed_sample():
    s = rds_sample_from_table(pd.DataFrame({"id": [1, 2, 3], "recruiter.id": [0, 1, 2], "network.size": [2, 4, 4],
                                            "g": ["a", "b", "a"]}))
    for est in ("rds-i", "rds-ii", "mean"):
        e = estimate(s, "g", estimator=est)
        assert e["estimate"].sum() == pytest.approx(1.0)
    # RDS-II by hand: a = (1/2 + 1/4) / (1/2 + 1/4 + 1/4) = 0.75
    assert estimate(s, "g", estimator="rds-ii")["estimate"].iloc[0] == pytest.approx(0.75)


def test_seed_with_no_recruits_is_weighted_like_anyone():
    # respondent 7 is a seed with no recruits; RDS-II weight still 1/d
    t = pd.DataFrame({"id": [1, 2, 3, 7], "recruiter.id": [0, 1, 1, 0], "network.size": [2, 4, 4, 1],
                      "g": ["a", "b", "a", "b"]})
    s = rds_sample_from_table(t)
    w = rds_weights(s, "rds-ii")
    assert w["7"] / w["1"] == pytest.approx(2.0)
    e = estimate(s, "g", estimator="rds-i")
    assert e["estimate"].sum() == pytest.approx(1.0)


def test_all_respondents_in_one_group():
    s = tiny(g=["a"] * 6)
    for est in ESTIMATORS:
        e = estimate(s, "g", estimator=est)
        assert e["level"].tolist() == ["a"] and e["estimate"].tolist() == [pytest.approx(1.0)]


def test_group_with_no_transitions_and_level_only_among_seeds():
    # level "z" only on seed 5 (it recruits 6 of level "a"): no recruit is "z", so the Markov chain
    # never enters z: RDS-I gives it 0 (as R). RDS-II still counts the seed.
    s = tiny(g=["a", "b", "a", "b", "z", "a"])
    e = estimate(s, "g", estimator="rds-i").set_index("level")["estimate"]
    assert e["z"] == pytest.approx(0.0)
    assert e.sum() == pytest.approx(1.0)
    ii = estimate(s, "g", estimator="rds-ii").set_index("level")["estimate"]
    assert ii["z"] == pytest.approx((1 / 2) / (1 / 2 + 1 / 4 + 1 / 4 + 1 / 8 + 1 / 2 + 1 / 3))
    # a group that recruits nobody (row of zeros -> 0.1 fill, as R): level "b" respondents 2 and 4
    # recruit 4 only via 2->4; give "c" to 4 so "c" has no outgoing transitions
    e2 = estimate(tiny(g=["a", "b", "a", "c", "a", "a"]), "g", estimator="rds-i-ds")
    assert e2["estimate"].sum() == pytest.approx(1.0) and (e2["estimate"] > 0).all()


def test_n_equals_population_size():
    s = tiny(g=["a", "b", "a", "b", "a", "a"])
    for est in ("ss", "hcg"):
        e = estimate(s, "g", estimator=est, population_size=6).set_index("level")["estimate"]
        # census: every inclusion probability is 1, so the estimate is the sample share 4/6
        assert e["a"] == pytest.approx(4 / 6)
    with pytest.raises(EstimationError, match="smaller than the sample size"):
        estimate(s, "g", estimator="ss", population_size=5)


def test_zero_and_missing_degrees_use_rule():
    s = rds_sample_from_table(pd.DataFrame({"id": [1, 2, 3, 4], "recruiter.id": [0, 1, 1, 2],
                                            "network.size": [2, 0, None, 8], "g": list("abab")}))
    with pytest.warns(DegreeImputedWarning, match="2 of 4"):
        w = rds_weights(s, "rds-ii")
    # rule "max": both replaced by 8 -> weights 1/2, 1/8, 1/8, 1/8 (scaled)
    np.testing.assert_allclose(w.to_numpy() / w.iloc[3], [4, 1, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegreeImputedWarning)
        w2 = rds_weights(s, "rds-ii", degree_rule="median")
    # median of {2, 8} = 5 ; respondent 2 has 1 recruit + recruiter -> minimum 2; respondent 3 minimum 1
    np.testing.assert_allclose(w2.to_numpy() / w2.iloc[3], [4, 8 / 5, 8 / 5, 1])


def test_numeric_outcome_mean_and_missing_outcomes():
    s = tiny(age=[20, 30, None, 50, 25, 35])
    e = estimate(s, "age", estimator="rds-ii")
    d = np.array([2, 4, 8, 2, 3.])
    y = np.array([20, 30, 50, 25, 35.])
    assert e["kind"].iloc[0] == "numeric" and e["n_valid"].iloc[0] == 5
    assert e["estimate"].iloc[0] == pytest.approx(np.sum(y / d) / np.sum(1 / d))
    # RDS-I on a numeric outcome builds weights from tertile groups; still a proper mean
    assert 20 <= estimate(s, "age", estimator="rds-i")["estimate"].iloc[0] <= 50


def test_ss_and_hcg_need_population_size_and_unknown_estimator():
    s = rds_sample_from_table(pd.DataFrame({"id": [1, 2], "recruiter.id": [0, 1], "network.size": [2, 3],
                                            "g": ["a", "b"]}))
    for est in ("ss", "hcg"):
        with pytest.raises(EstimationError, match="needs the population size"):
            estimate(s, "g", estimator=est)
    with pytest.raises(EstimationError, match="unknown estimator"):
        estimate(s, "g", estimator="vh")


def test_weights_scaled_to_population_size_or_n():
    s = tiny(g=list("ababaa"))
    assert rds_weights(s, "rds-ii").sum() == pytest.approx(100)
    s2 = RDSSample(s.tree, s.degree, s.data)
    assert rds_weights(s2, "rds-ii").sum() == pytest.approx(6)
    assert list(rds_weights(s2, "mean").index) == ["1", "2", "3", "4", "5", "6"]


def test_population_size_sensitivity_table():
    from hiddenpop.rds import population_size_sensitivity

    s = oracle_sample("fauxmadrona")
    tab = population_size_sensitivity(s, "disease", estimator="ss")
    assert tab["scenario"].tolist() == ["low", "low", "mid", "mid", "high", "high"]
    p1 = tab[tab["level"] == "1"].set_index("scenario")["estimate"]
    # N = 500 = n is a census: SS = sample share 129/500 (reference.csv 'Sample proportion' row)
    assert p1["low"] == pytest.approx(129 / 500)
    # larger N -> closer to RDS-II (0.164149, reference.csv RDS-II row)
    assert p1["low"] > p1["mid"] > p1["high"] > 0.164149
    assert tab.loc[tab["scenario"] == "mid", "change_from_mid"].abs().max() == 0


def test_build_tree_sample_roundtrip():
    s = RDSSample(build_tree(["a", "b"], [None, "a"]), np.array([3.0, 4.0]), pd.DataFrame({"x": [1, 0]}))
    assert s.n == 2 and s.order().tolist() == [0, 1]


def test_rds_i_ds_level_only_among_seeds_gets_zero_and_matches_bootstrap_route():
    # A level present only among seeds is never recruited into: its stationary share is 0, so
    # RDS-I and RDS-I (DS) give it 0 (rds-reference §3.3; R's plain RDS-I does the same). Two
    # routes must agree: the estimator module and the vectorised RDS-I (DS) of the bootstrap
    # module (hiddenpop.rds.bootstrap, which handles empty rows the same way).
    import numpy as np

    from hiddenpop.rds import rds_sample_from_table
    from hiddenpop.rds.bootstrap import tree_bootstrap
    from hiddenpop.rds.estimators import estimate

    d = pd.read_csv(RDS_ORACLE / "data" / "faux.csv", dtype={"id": str, "recruiter.id": str})
    d.loc[d["recruiter.id"] == "seed", "Y"] = "purple"
    sample = rds_sample_from_table(d, seed_marker="seed")
    plain = estimate(sample, "Y", estimator="rds-i").set_index("level")["estimate"]
    smooth = estimate(sample, "Y", estimator="rds-i-ds").set_index("level")["estimate"]
    assert plain["purple"] == 0.0 and smooth["purple"] == 0.0
    assert np.isclose(smooth.sum(), 1.0)
    boot = tree_bootstrap(sample, estimator="rds-i-ds", outcome="Y", reps=2, rng=1)
    np.testing.assert_allclose(np.asarray(boot.estimate, float),
                               smooth.reindex([str(v) for v in boot.levels]).to_numpy(), rtol=1e-9)
