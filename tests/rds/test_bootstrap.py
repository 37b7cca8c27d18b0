"""RDS bootstraps: SEs against R RDS 0.9-10 (tests/data/rds_oracle/reference.csv), structure, errors.

Tolerance for the R comparisons. R's bootstrap SE is a standard deviation over B_R = 200 replicates;
ours over B = 2000. The relative standard error of a sample SD over B draws is
sqrt((kappa - 1) / (4 B)) (kappa = kurtosis of the replicate distribution; 1/sqrt(2B) for a normal).
We estimate kappa from our own replicates and accept |ours/R - 1| <= 3.5 * sqrt((kappa-1)/(4*200) +
(kappa-1)/(4*2000)): for normal replicates that is 3.5 * 5.2 % = 18 %. With about 60 level-rows
compared, a 3.5-sigma band gives a family-wise false-alarm rate below 3 %.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hiddenpop.errors import DesignError, EstimationError
from hiddenpop.rds.bootstrap import (BOOTSTRAP_METHODS, BootstrapResult, bootstrap, design_effect,
                                     replicate_counts, tree_bootstrap)
from hiddenpop.rds.sample import rds_sample_from_table
from tests.conftest import RDS_ORACLE

B = 2000
R_B = 200
REF = pd.read_csv(RDS_ORACLE / "reference.csv", dtype={"level": str})
DATASETS = pd.read_csv(RDS_ORACLE / "datasets.csv").set_index("dataset")
R_NAMES = {"RDS-I": "rds-i", "RDS-I (DS)": "rds-i-ds", "RDS-II": "rds-ii", "Gile's SS": "ss"}
METHOD = {"Salganik_aligned": "salganik", "Treeboot": "tree", "Gile": "ss"}


def _sample(dataset: str):
    row = DATASETS.loc[dataset]
    table = pd.read_csv(RDS_ORACLE / "data" / row["file"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rds_sample_from_table(table, degree_col=row["network.size"],
                                     seed_marker=str(row["seed_recruiter_id"]),
                                     population_size=row["population.size.mid"])


SAMPLES = {d: _sample(d) for d in DATASETS.index}


def _cases():
    rows = REF[REF.uncertainty.isin(list(METHOD))]
    keys = rows[["dataset", "outcome", "estimator", "uncertainty"]].drop_duplicates()
    return [tuple(k) for k in keys.itertuples(index=False)]


def _r_se(dataset: str, outcome: str, estimator: str, uncertainty: str) -> pd.Series:
    rows = REF[(REF.dataset == dataset) & (REF.outcome == outcome) & (REF.estimator == estimator)
               & (REF.uncertainty == uncertainty)]
    se = rows.set_index("level")["se"].astype(float)
    if uncertainty == "Treeboot" and len(se) > 2:
        # R 0.9-10 labels Treeboot replicate columns by first appearance (rds-reference §4.1). faux Y appears
        # in the order black, green, blue, so R's "green" column holds blue's SE and vice versa. Evidence:
        # faux Y "blue" is the same indicator as faux Z "blue" (both n_level = 169, identical SS estimate
        # 0.41307...), and R's faux Y "green" SE equals R's faux Z "blue" SE digit for digit (0.193784743...).
        order = list(pd.unique(pd.read_csv(RDS_ORACLE / "data" / DATASETS.loc[dataset, "file"])[outcome]))
        se = pd.Series(se.loc[order].to_numpy(), index=sorted(order))
    return se


@pytest.mark.parametrize("dataset,outcome,estimator,uncertainty", _cases())
def test_bootstrap_se_matches_r(dataset, outcome, estimator, uncertainty):
    sample = SAMPLES[dataset]
    res = bootstrap(sample, METHOD[uncertainty], estimator=R_NAMES[estimator], outcome=outcome, reps=B,
                    rng=20240905, ci="t")
    assert_bootstrap_se_agrees(res, _r_se(dataset, outcome, estimator, uncertainty))


def assert_bootstrap_se_agrees(res: BootstrapResult, r_se: pd.Series) -> None:
    """Our SE (B replicates) against R's (R_B replicates) per level, within 3.5 x the combined relative
    sampling error of two bootstrap SDs (module notes)."""
    assert res.replicates.shape[0] == B
    for k, level in enumerate(res.levels):
        reps = res.replicates[:, k]
        kappa = max(stats.kurtosis(reps, fisher=False), 1.5)
        rel = np.sqrt((kappa - 1) / (4 * R_B) + (kappa - 1) / (4 * B))
        ratio = res.se[k] / r_se[str(level)]
        assert abs(ratio - 1) <= 3.5 * rel, (level, res.se[k], r_se[str(level)], rel)


def test_salganik_fixes_level_order_bug():
    # rds-reference §4.1: with the first respondent in level "1", R 0.9-10's Salganik replicates of
    # p(disease = 1) average 0.36 (wrong rows of T); the aligned R run averages 0.1684 (reference.csv,
    # fauxmadrona RDS-II Salganik_aligned boot_mean). Our coding is by sorted level whatever the row
    # order, so both row orders must give a replicate mean near 0.168 (MC sd of the mean ≈ 0.021/sqrt(2000)).
    sample = SAMPLES["fauxmadrona"]
    assert sample.data["disease"].iloc[0] == 1           # the buggy order in R
    order = np.argsort(sample.data["disease"].to_numpy(), kind="stable")   # a "0" respondent first
    for s in (sample, sample.subset(order)):
        res = bootstrap(s, "salganik", estimator="rds-ii", outcome="disease", reps=B, rng=5)
        assert abs(res.replicates[:, 1].mean() - 0.168441) < 0.004


def test_tree_bootstrap_structure():
    # every replicate has exactly n respondents and its links point to earlier respondents
    # in the same replicate (R treeboot fixed.size = TRUE)
    from hiddenpop.rds.bootstrap import _prepare, _tree_batch
    sample = SAMPLES["fauxmadrona"]
    prep = _prepare(sample, estimator="rds-ii", outcome="disease", population_size=None, degree_rule="max")
    batch = _tree_batch(prep, 50, np.random.default_rng(3))
    assert np.all(np.bincount(batch.rep, minlength=50) == sample.n)
    has = batch.parent >= 0
    assert np.all(batch.rep[batch.parent[has]] == batch.rep[has])
    # a resampled recruit is always one of its resampled recruiter's original recruits
    orig_parent = sample.tree.parent[batch.idx[has]]
    assert np.all(orig_parent == batch.idx[batch.parent[has]])
    # seeds of the replicate are seeds of the sample
    assert np.all(sample.tree.is_seed[batch.idx[~has]])


def test_vectorised_rds_i_equals_estimator_module():
    # two routes: the batch RDS-I of the bootstrap on one replicate vs rds_i_weights + Hajek
    from hiddenpop.rds.bootstrap import _Batch, _prepare, _rds_i, _tree_batch
    from hiddenpop.rds.estimators import hajek, rds_i_weights
    sample = SAMPLES["faux"]
    for smoothed in (False, True):
        prep = _prepare(sample, estimator="rds-i-ds" if smoothed else "rds-i", outcome="Y",
                        population_size=None, degree_rule="max")
        batch = _tree_batch(prep, 3, np.random.default_rng(11))
        ours = _rds_i(prep, batch, smoothed)
        for b in range(3):
            sel = batch.rep == b
            idx = batch.idx[sel]
            local = np.where(batch.parent[sel] >= 0, batch.parent[sel] - np.flatnonzero(sel)[0], -1)
            w = rds_i_weights(prep.codes[idx], prep.degree[idx], local, n_groups=3, smoothed=smoothed)
            np.testing.assert_allclose(ours[b], hajek(w, prep.codes[idx], 3), rtol=1e-9, atol=1e-12)


def test_design_effect_formula_reproduces_r():
    # R's bootstrap design effect = se^2 / [p(1-p)/n * (N-n)/(N-1)]; reproduce every bootstrap row of
    # reference.csv from its own se, estimate, n and N_used.
    rows = REF[REF.uncertainty.isin(list(METHOD))]
    deff = design_effect(rows.se, rows.estimate, n=rows.n.to_numpy(), population_size=1000)
    np.testing.assert_allclose(deff, rows.design_effect, rtol=1e-9)


def test_intervals_percentile_and_t():
    sample = SAMPLES["fauxmadrona"]
    t = bootstrap(sample, "tree", estimator="rds-ii", outcome="disease", reps=400, rng=9, ci="t", level=0.9)
    p = bootstrap(sample, "tree", estimator="rds-ii", outcome="disease", reps=400, rng=9, ci="percentile",
                  level=0.9)
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(t.ci_high - t.estimate, z * t.se)
    np.testing.assert_allclose(p.ci_low, np.quantile(p.replicates, 0.05, axis=0))
    np.testing.assert_array_equal(t.replicates, p.replicates)        # same rng -> same replicates
    frame = t.to_frame()
    assert list(frame.level) == ["0", "1"] and (frame.reps == 400).all()


def test_numeric_outcome_mean_and_progress():
    rng = np.random.default_rng(2)
    sample = SAMPLES["fauxmadrona"]
    data = sample.data.assign(score=rng.normal(10, 2, sample.n))
    s = type(sample)(sample.tree, sample.degree, data, None, sample.population_size)
    ticks = []
    r = tree_bootstrap(s, estimator="rds-ii", outcome="score", reps=300, rng=1, progress=ticks.append)
    assert sum(ticks) == 300 and r.levels == ("score",)
    w = 1 / s.clean_degree(warn=False)
    assert r.estimate[0] == pytest.approx(np.sum(w * data.score) / w.sum(), rel=1e-12)


def test_replicate_counts_sum_to_n():
    c = replicate_counts(SAMPLES["fauxmadrona"], "tree", reps=20, rng=4, outcome="disease")
    assert c.shape == (20, 500) and (c.sum(axis=1) == 500).all()
    c = replicate_counts(SAMPLES["fauxmadrona"], "ss", reps=5, rng=4, outcome="disease", population_size=1000)
    assert (c.sum(axis=1) == 500).all()


def test_all_methods_registered_and_reproducible():
    s = SAMPLES["fauxmadrona"]
    for name in BOOTSTRAP_METHODS:
        a = bootstrap(s, name, estimator="rds-ii", outcome="disease", reps=30, rng=7)
        b = bootstrap(s, name, estimator="rds-ii", outcome="disease", reps=30, rng=7)
        assert isinstance(a, BootstrapResult) and a.method == name
        np.testing.assert_array_equal(a.replicates, b.replicates)


def test_edge_cases():
    t = pd.DataFrame({"id": [1, 2, 3, 4], "recruiter.id": [0, 0, 1, 1], "network.size": [3, 0, 2, 5],
                      "y": ["a", "a", "a", "a"], "z": [1.5, 2.0, 3.0, 4.5]})
    s = rds_sample_from_table(t)
    r = tree_bootstrap(s, estimator="rds-ii", outcome="y", reps=20, rng=1)   # one level: estimate 1, se 0
    assert r.estimate.tolist() == [1.0] and r.se.tolist() == [0.0]
    with pytest.raises(EstimationError, match="categorical"):
        bootstrap(s, "salganik", estimator="rds-ii", outcome="z", reps=10, rng=1)
    with pytest.raises(EstimationError, match="population size"):
        bootstrap(s, "tree", estimator="ss", outcome="y", reps=10, rng=1)
    with pytest.raises(EstimationError, match="at least 2"):
        bootstrap(s, "tree", estimator="rds-ii", outcome="y", reps=1, rng=1)
    with pytest.raises(EstimationError, match="unknown bootstrap"):
        bootstrap(s, "jackknife", estimator="rds-ii", outcome="y", reps=10, rng=1)
    with pytest.raises(DesignError, match="random number generator"):
        bootstrap(s, "tree", estimator="rds-ii", outcome="y", reps=10, rng=None)
    seeds_only = rds_sample_from_table(t.assign(**{"recruiter.id": 0}))
    with pytest.raises(EstimationError, match="every respondent is a seed"):
        bootstrap(seeds_only, "neighbourhood", estimator="rds-ii", outcome="y", reps=10, rng=1)
    # n = N: SS weights are all equal, replicates still defined
    r = tree_bootstrap(s, estimator="ss", outcome="y", population_size=4, reps=10, rng=1)
    assert r.estimate.tolist() == [1.0]


def test_capped_tree_growth_keeps_the_fixed_size_tree_bootstrap_distribution():
    # Two routes to the fixed-size tree bootstrap: growing every resampled tree completely and then
    # trimming (cap=False), and stopping a tree's growth once the replicate is known to reach n
    # (cap=True, the default; it only skips nodes that trimming would drop). Over 3000 replicates of
    # fauxmadrona2_rds1 (two seeds' worth of large chains), the mean number of times each wave is
    # represented and the mean RDS-II replicate estimate must agree within 4.5 Monte Carlo se.
    from hiddenpop.rds.bootstrap import _evaluate, _prepare, _tree_batch
    s = SAMPLES["fauxmadrona2_rds1"]
    prep = _prepare(s, estimator="rds-ii", outcome="disease", population_size=None, degree_rule="max",
                    estimator_options=None)
    waves = s.tree.wave
    top = int(waves.max()) + 1

    def run(cap: bool, seed: int):
        b = _tree_batch(prep, 3000, np.random.default_rng(seed), contiguous=False, cap=cap)
        assert np.all(np.bincount(b.rep, minlength=3000) == s.n)       # fixed size n in every replicate
        per_wave = np.bincount(b.rep * top + waves[b.idx], minlength=3000 * top).reshape(3000, top)
        return per_wave, _evaluate(prep, b)[:, 1]

    wa, ea = run(True, 1)
    wb, eb = run(False, 2)
    se = np.sqrt(wa.var(0) / 3000 + wb.var(0) / 3000)
    assert np.all(np.abs(wa.mean(0) - wb.mean(0)) <= 4.5 * se + 1e-9)
    assert abs(ea.mean() - eb.mean()) <= 4.5 * np.sqrt(ea.var() / 3000 + eb.var() / 3000)
    # sd of the replicates: relative se of a difference of two sds is sqrt((kappa - 1) / (2 B)) per side,
    # i.e. 2/sqrt(B) for both sides with kurtosis kappa = 5 (allowing heavier tails than normal)
    assert ea.std() == pytest.approx(eb.std(), rel=4.5 * 2 / np.sqrt(3000))
