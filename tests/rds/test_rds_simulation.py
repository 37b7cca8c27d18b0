"""RDS simulated on the fauxmadrona population network (N = 1000, prevalence of disease 0.20,
tests/data/rds_oracle/data/fauxmadrona.network_*.csv): SS and HCG beat RDS-II at n/N = 0.5, and
tree-bootstrap intervals cover the truth. The long version is validation/rds_simulation.py.

Monte Carlo arithmetic for the fast variant (figures from a 100-sample pilot run, rng 1; the long run
in docs/rds-variance.md agrees): at n = 500 the per-sample sd of each estimator is about 0.014, so the
mean of 30 samples has MC sd 0.014/sqrt(30) = 0.0026. RDS-II averages about 0.173 (bias -0.027, ~10 MC
sd), SS 0.204 and HCG 0.2015. The per-sample difference |RDS-II - 0.2| - |SS - 0.2| averages about
0.015 with sd about 0.014, so over 30 samples its mean is ~6 MC sd above 0.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from hiddenpop.errors import DesignError, EstimationError
from hiddenpop.rds.simulate import population_network, rds_simulation_study, simulate_rds
from tests.conftest import RDS_ORACLE

NODES = pd.read_csv(RDS_ORACLE / "data" / "fauxmadrona.network_nodes.csv")
EDGES = pd.read_csv(RDS_ORACLE / "data" / "fauxmadrona.network_edges.csv")
NET = population_network(NODES, EDGES)
TRUTH = 0.20


def test_network_matches_node_table():
    # the node table carries R's vertex degree and disease: our CSR degrees must equal it
    assert NET.size == 1000
    np.testing.assert_array_equal(NET.degree, NODES["degree"].to_numpy())
    assert NODES["disease"].mean() == pytest.approx(TRUTH)


def test_simulated_sample_is_a_valid_rds_sample():
    s = simulate_rds(NET, 500, n_seeds=10, max_coupons=2, rng=3)
    assert s.n == 500 and len(set(s.ids)) == 500                      # without replacement
    assert s.tree.n_recruits.max() <= 2                                 # coupon limit
    assert s.is_seed.sum() >= 10
    pos = {v: i for i, v in enumerate(NET.ids.astype(str))}
    par = s.tree.parent
    for i in np.flatnonzero(par >= 0)[:200]:                            # every link is a network edge
        a, b = pos[s.ids[i]], pos[s.ids[par[i]]]
        assert b in NET.neighbours[NET.offsets[a]:NET.offsets[a + 1]]
        assert par[i] < i                                               # recruiter interviewed first
    np.testing.assert_array_equal(s.degree, NET.degree[[pos[v] for v in s.ids]])


def test_ss_and_hcg_beat_rds_ii_at_large_sample_fraction():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = rds_simulation_study(NET, outcome="disease", level="1", truth=TRUTH, n=500, reps=30, rng=2024,
                                   estimators=("rds-ii", "ss", "hcg"))
    err = {e: np.abs(out[e] - TRUTH) for e in ("rds-ii", "ss", "hcg")}
    assert out["rds-ii"].mean() < 0.19                 # 0.173 + 3.5 * 0.0026 = 0.182
    for e in ("ss", "hcg"):
        assert abs(out[e].mean() - TRUTH) < 0.015        # |bias| <= 0.004 plus 3.5 MC sd (0.009)
        assert (err["rds-ii"] - err[e]).mean() > 0     # ~6 MC sd margin
        assert err[e].mean() < err["rds-ii"].mean()


def test_tree_bootstrap_coverage():
    # 20 samples, tree bootstrap B = 200, percentile 95 % interval for RDS-II. The pilot (100 samples) and
    # the long run cover in >= 97 % of samples; if the true rate were 0.95, P(<= 15 of 20) = 0.016.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = rds_simulation_study(NET, outcome="disease", level="1", truth=TRUTH, n=500, reps=20, rng=7,
                                   estimators=("rds-ii",), bootstrap_reps=200, bootstrap_estimators=("rds-ii",))
    assert out["rds-ii_covers"].sum() >= 16
    assert ((out["rds-ii_low"] <= out["rds-ii"]) & (out["rds-ii"] <= out["rds-ii_high"])).mean() > 0.9


def test_simulation_errors_and_reproducibility():
    a = simulate_rds(NET, 50, rng=1)
    b = simulate_rds(NET, 50, rng=1)
    assert a.ids.tolist() == b.ids.tolist()
    with pytest.raises(EstimationError, match="sample size"):
        simulate_rds(NET, 5000, rng=1)
    with pytest.raises(DesignError, match="not in the node table"):
        population_network(NODES, pd.DataFrame({"from": [1], "to": [99999]}))
    # a network that is used up: chains die and new seeds keep the sample growing up to n = N
    path = population_network(pd.DataFrame({"vertex": range(5)}), pd.DataFrame({"from": [0, 2], "to": [1, 3]}))
    with pytest.raises(EstimationError):
        simulate_rds(path, 5, n_seeds=1, rng=0)                         # vertex 4 has no neighbour
    s = simulate_rds(path, 4, n_seeds=1, rng=0)
    assert s.n == 4 and s.is_seed.sum() == 2
