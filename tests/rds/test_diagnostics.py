"""Diagnostics: homophily, differential activity, transitions, convergence and bottleneck."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from hiddenpop.errors import EstimationError
from hiddenpop.rds import (bottleneck_plot, convergence_plot, cumulative_estimates, differential_activity, estimate,
                           population_homophily, rds_sample_from_table, recruitment_homophily, transition_matrix)
from tests.conftest import RDS_ORACLE
from tests.rds.test_estimators import oracle_sample


def small():
    # recruitments: 1(a)->2(a), 1(a)->3(b), 2(a)->4(b), 3(b)->5(a), 3(b)->6(b)
    t = pd.DataFrame({"id": range(1, 7), "recruiter.id": [0, 1, 1, 2, 3, 3],
                      "network.size": [3, 4, 2, 5, 3, 6], "g": list("aabbab")})
    return rds_sample_from_table(t)


def test_recruitment_homophily_hand_calculation():
    # T = [[1,2],[1,1]]: diag 2; rows (3,2), cols (2,3): expected same-group = (3*2 + 2*3)/5 = 2.4 -> 2/2.4
    r = recruitment_homophily(small(), "g")
    assert r["recruitment_homophily"].iloc[0] == pytest.approx(2 / 2.4)
    assert r["n_transitions"].iloc[0] == 5


def test_transition_matrix_and_equilibrium_match_rds_i():
    tm = transition_matrix(small(), "g")
    assert tm[["to_a", "to_b"]].values.tolist() == [[1, 2], [1, 1]]
    # P = [[1/3,2/3],[1/2,1/2]]: q_a (2/3) = q_b (1/2) -> q = (3/7, 4/7)
    np.testing.assert_allclose(tm["equilibrium"], [3 / 7, 4 / 7])
    np.testing.assert_allclose(tm["sample_share"], [0.5, 0.5])


def test_population_homophily_hand_calculation():
    # RDS-II weights; respondents with recruits: 1 (d=3, a; recruits a,b), 2 (d=4, a; recruit b), 3 (d=2, b; a,b)
    # level a: y=(1,1,0), w=(1/3,1/4,1/2); deg1=(1.5,0,1) deg0=(1.5,4,1)
    sw = 1 / 3 + 1 / 4 + 1 / 2
    p = (1 / 3 + 1 / 4) / sw
    d1 = (1 / 3 * 3 + 1 / 4 * 4) / sw / p
    d0 = (1 / 2 * 2) / sw / (1 - p)
    dbar = 3 / sw
    s01 = (1 / 3 * 1.5 + 1 / 4 * 4 + 1 / 2 * 1) / sw
    expected = 2 * p * d1 * (1 - p) * d0 / (s01 * dbar)
    ph = population_homophily(small(), "g", estimator="rds-ii").set_index("level")["population_homophily"]
    assert ph["a"] == pytest.approx(expected)
    assert ph["b"] == pytest.approx(expected)  # binary: symmetric


def test_differential_activity_rds_ii_is_harmonic_mean_ratio():
    # Under RDS-II the weighted mean degree of a group is its harmonic mean degree.
    s = oracle_sample("fauxmadrona")
    da = differential_activity(s, "disease", estimator="rds-ii").set_index("level")
    d = s.degree
    y = s.data["disease"].to_numpy()
    hm = lambda x: len(x) / np.sum(1 / x)  # noqa: E731
    assert da.loc["1", "mean_degree"] == pytest.approx(hm(d[y == 1]))
    assert da.loc["1", "activity_ratio"] == pytest.approx(hm(d[y == 1]) / hm(d[y == 0]))
    # default estimator: SS because N is known (R's default)
    assert differential_activity(s, "disease")["estimator"].iloc[0] == "ss"


def test_cumulative_estimates_end_at_full_estimate():
    s = oracle_sample("faux")
    for est in ("rds-ii", "ss"):
        c = cumulative_estimates(s, "Y", estimator=est, n_points=10)
        last = c[c["n_respondents"] == s.n].set_index("level")["estimate"]
        full = estimate(s, "Y", estimator=est).set_index("level")["estimate"]
        np.testing.assert_allclose(last.loc[full.index], full, atol=1e-12)
    by_seed = cumulative_estimates(s, "X", by_seed=True)
    assert by_seed.groupby("seed_id")["n_respondents"].max().sum() == s.n


def test_plots_are_figures():
    s = oracle_sample("fauxmadrona")
    assert isinstance(convergence_plot(s, "disease"), Figure)
    fig = bottleneck_plot(s, "disease", estimator="ss", n_points=5)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert len(convergence_plot(oracle_sample("faux"), "Y").axes) == 3


def test_numeric_variable_refused_for_group_diagnostics():
    t = pd.DataFrame({"id": [1, 2], "recruiter.id": [0, 1], "network.size": [1, 2], "age": [20.5, 30.1]})
    with pytest.raises(EstimationError, match="numeric"):
        transition_matrix(rds_sample_from_table(t), "age")


def test_cumulative_estimates_report_the_degree_rule_once_not_per_prefix():
    # fauxmadrona with two zero degrees: the rule is reported by the whole-sample estimate, and
    # the ~50 prefixes a recomputed convergence curve needs must not repeat it (it buried the
    # CLI output under ~80 identical lines).
    import warnings

    from hiddenpop.errors import DegreeImputedWarning
    from hiddenpop.rds import rds_sample_from_table
    from hiddenpop.rds.diagnostics import cumulative_estimates

    d = pd.read_csv(RDS_ORACLE / "data" / "fauxmadrona.csv", dtype={"id": str, "recruiter.id": str})
    d.loc[[3, 7], "degree"] = 0
    s = rds_sample_from_table(d, degree_col="degree", seed_marker="seed")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = cumulative_estimates(s, "disease", estimator="ss", population_size=1000, n_points=10)
    assert not [w for w in caught if issubclass(w.category, DegreeImputedWarning)]
    assert out["n_respondents"].max() == len(d)
