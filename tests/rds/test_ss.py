"""Gile's SS: deterministic and simulated inclusion probabilities against R and each other."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hiddenpop.errors import DesignError, EstimationError
from hiddenpop.rds import estimate, ss_inclusion_probabilities
from hiddenpop.rds.ss import ss_class_probabilities
from tests.rds.test_estimators import CASES, oracle_sample, reference_rows

# Tolerance 0.005 on a proportion: R's SS is Monte Carlo (500 successive samples per iteration,
# 1 + 5 iterations; README of rds_oracle: "agrees within Monte Carlo error (about 0.005)"). The largest
# difference we see is 0.0005 (deterministic) and 0.0012 (simulation, rng=1).
SS_TOL = 0.005


@pytest.mark.parametrize("dataset,outcome", CASES)
@pytest.mark.parametrize("method", ["deterministic", "simulation"])
def test_ss_matches_r_within_monte_carlo_error(dataset, outcome, method):
    # Source: reference.csv rows estimator "Gile's SS" (N = 1000, attribute).
    s = oracle_sample(dataset)
    ours = estimate(s, outcome, estimator="ss", ss_method=method, rng=20240905).set_index("level")["estimate"]
    ref = reference_rows(dataset, outcome, "ss")
    np.testing.assert_allclose(ours.loc[ref.index].to_numpy(), ref.to_numpy(), atol=SS_TOL)


def test_deterministic_and_simulation_agree_on_inclusion_probabilities():
    # Two independent routes to the same fixed point: the exact Poisson-process solution and R's
    # Monte Carlo scheme with many samples (5000 per iteration) must agree to ~1% for common degrees.
    s = oracle_sample("fauxmadrona")
    d = s.clean_degree()
    det = ss_inclusion_probabilities(d, 1000)
    sim = ss_inclusion_probabilities(d, 1000, method="simulation", rng=3, samples_per_iteration=5000)
    common = np.isin(d, pd.Series(d).value_counts().index[pd.Series(d).value_counts() >= 20])
    np.testing.assert_allclose(sim[common], det[common], rtol=0.03)


def test_deterministic_fixed_point_identities():
    d = np.array([1., 2, 2, 3, 5, 8, 8, 13, 21, 40])
    N = 25
    pi = ss_inclusion_probabilities(d, N)
    # Hájek-consistent fixed point: the HT estimate of N equals N, and pi = 1 - exp(-c t) for one t
    assert np.sum(1 / pi) == pytest.approx(N, rel=1e-12)
    t = -np.log1p(-pi) / d
    np.testing.assert_allclose(t, t[0], rtol=1e-9)
    assert np.all(np.diff(pi[np.argsort(d)]) >= 0)


def test_small_sampling_fraction_tends_to_rds_ii():
    d = np.array([2., 4, 4, 10])
    pi = ss_inclusion_probabilities(d, 1e8)
    np.testing.assert_allclose(pi / pi[0], d / d[0], rtol=1e-6)
    # R's simulation scheme switches to RDS-II exactly below SS.infinity = 0.01
    sim = ss_inclusion_probabilities(d, 1000, method="simulation", rng=1)
    np.testing.assert_allclose(sim / sim[0], d / d[0], rtol=1e-12)


def test_census_and_errors():
    assert ss_class_probabilities([3., 7.], [1, 1], 2).tolist() == [1.0, 1.0]
    with pytest.raises(EstimationError, match="smaller than the sample size"):
        ss_inclusion_probabilities(np.array([1., 2, 3]), 2)
    with pytest.raises(EstimationError, match="needs the population size"):
        ss_inclusion_probabilities(np.array([1., 2]), None)
    with pytest.raises(DesignError, match="random number generator"):
        ss_inclusion_probabilities(np.array([1., 2, 3]), 10, method="simulation")
    with pytest.raises(EstimationError, match="unknown SS method"):
        ss_inclusion_probabilities(np.array([1., 2, 3]), 10, method="exact")


def test_simulation_is_reproducible_with_rng():
    d = np.array([1., 2, 3, 4, 5, 6, 7, 8])
    a = ss_inclusion_probabilities(d, 20, method="simulation", rng=5)
    b = ss_inclusion_probabilities(d, 20, method="simulation", rng=5)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("margin_sd", [4.5, 0.0])
def test_per_class_race_has_the_distribution_of_the_direct_race(margin_sd):
    # Two routes to the class counts of a successive sample (PPS without replacement = exponential
    # race): one exponential key per population unit (_race_direct) and the per-class window method
    # (_race_class_counts). margin_sd=0 makes most samples fall outside the window, exercising the exact
    # redraw path. Means and variances of every class count must agree within Monte Carlo error:
    # means within 4.5 standard errors of the difference; variances within 4.5 se, where
    # se(var) ~ var * sqrt(2/R) per side for near-normal counts (classes with variance > 0.5 only).
    from hiddenpop.rds.ss import _race_class_counts, _race_direct
    rng = np.random.default_rng(11)
    c = np.array([1., 2, 5, 10, 30])
    nk = np.array([40, 30, 15, 10, 5])
    n, R = 40, 20000
    a = _race_direct(c, nk, n, R, rng)
    b = _race_class_counts(c, nk, n, R, rng, margin_sd=margin_sd)
    assert np.all(b.sum(axis=1) == n) and np.all(b <= nk) and np.all(b >= 0)
    se = np.sqrt(a.var(0) / R + b.var(0) / R)
    assert np.all(np.abs(a.mean(0) - b.mean(0)) <= 4.5 * se + 1e-12)
    va, vb = a.var(0), b.var(0)
    big = va > 0.5
    assert np.all(np.abs(va - vb)[big] <= 4.5 * np.sqrt(2 / R) * np.sqrt(va ** 2 + vb ** 2)[big])
    # a sample of everyone: all counts equal the class sizes
    np.testing.assert_array_equal(_race_class_counts(c, nk, int(nk.sum()), 3, rng), np.tile(nk, (3, 1)))


def test_per_class_race_on_a_large_population_matches_the_expected_counts():
    # N = 100,000 units in 4 classes, n = 20,000: the mean class counts over 200 samples must match
    # the exact-race expectation N_k (1 - exp(-c_k t)) at the t where the expected total is n
    # (Rosén 1997: first-order inclusion of order sampling), up to 4.5 Monte Carlo se plus the O(1)
    # bias of that first-order approximation (0.5 unit, conservative).
    from hiddenpop.rds.ss import _race_class_counts, _race_time
    rng = np.random.default_rng(12)
    c = np.array([1., 3, 10, 40])
    nk = np.array([50_000, 30_000, 15_000, 5_000])
    n = 20_000
    x = _race_class_counts(c, nk, n, 200, rng)
    t = _race_time(c, nk, n)
    expected = nk * -np.expm1(-c * t)
    se = x.std(0, ddof=1) / np.sqrt(200)
    assert np.all(np.abs(x.mean(0) - expected) <= 4.5 * se + 0.5)
