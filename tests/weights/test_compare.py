"""Domain differences and ratios against R survey 4.5 (svyby covmat=TRUE + svycontrast).

Every expected number comes from tests/data/survey_reference_compare/compare.csv, written by
its reference.R (R 4.2.2, survey 4.5). Replicate designs use R's exported replicate weights.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hiddenpop.errors import EstimationError
from hiddenpop.weights.compare import compare_domains, headline_comparisons
from hiddenpop.weights.design import Design
from hiddenpop.weights.estimate import estimate_table
from tests.weights._compare_reference import (DESIGNS, REPLICATES, design_for, load_data, reference,
                                              replicate_weights)

REF = reference("compare.csv")
# case suffix -> (variable(s), statistic, by variables in R's order, compare, denominator)
CASES = {
    "strat_mean_api00_by_schwide": ("api00", "mean", ["sch_wide"], None),
    "strat_mean_api00_by_awards_stype": ("api00", "mean", ["awards", "stype"], None),
    "strat_total_enroll_by_awards": ("enroll", "total", ["awards"], None),
    "strat_ratio_api00_api99_by_schwide": ("api00", "ratio", ["sch_wide"], "api99"),
    "clus1_mean_api00_by_stype": ("api00", "mean", ["stype"], None),
    "clus1_total_enroll_by_stype": ("enroll", "total", ["stype"], None),
    "clus1_mean_compimp_by_stype_awards": ("comp_imp", "mean", ["stype", "awards"], None),
    "clus2_mean_enroll_by_stype": ("enroll", "mean", ["stype"], None),
    "clus2_mean_api00_by_schwide": ("api00", "mean", ["sch_wide"], None),
    "hh_mean_children_working_by_registered": ("children_working", "mean", ["registered"], None),
    "hh_mean_works_any_by_registered_sex": ("works_any", "mean", ["registered", "sex_head"], None),
    "hh_total_children_working_by_registered": ("children_working", "total", ["registered"], None),
    "hh_ratio_working_children_by_registered": ("children_working", "ratio", ["registered"], "n_children"),
    "hh_proportion_age_group_by_registered": ("age_group_head", "proportion", ["registered"], None),
    "hh_mean_school_attending_by_region_registered": ("school_attending", "mean", ["registered", "region"], None),
    "clus2fpc_mean_api00_by_stype": ("api00", "mean", ["stype"], None),
    "clus2fpc_total_enroll_by_schwide": ("enroll", "total", ["sch_wide"], None),
    "hhcal_mean_children_working_by_registered": ("children_working", "mean", ["registered"], None),
    "hhcal_mean_income_by_sex_registered": ("income", "mean", ["sex_head", "registered"], None),
}
PAIRS = sorted(set(zip(REF["case"], REF["method"])))


def _ours(case: str, method: str) -> pd.DataFrame:
    key = case.split("_")[0]
    variable, statistic, byvars, denominator = CASES[case]
    part = REF[(REF["case"] == case) & (REF["method"] == method)]
    compare, reference_level = part["compare"].iloc[0], part["reference"].iloc[0]
    data, design = design_for(key)
    replicates = None
    if method != "linearization":
        replicates = replicate_weights(REPLICATES[key, method], data[design.weight_col].to_numpy(), method)
    return compare_domains(data, design, variables=variable, compare=compare, reference=reference_level,
                           statistic=statistic, by=byvars, denominator=denominator, replicates=replicates, ratio=True)


@pytest.mark.parametrize("case,method", PAIRS, ids=[f"{c}-{m}" for c, m in PAIRS])
def test_differences_and_ratios_match_r(case, method):
    ours = _ours(case, method)
    ref = REF[(REF["case"] == case) & (REF["method"] == method)]
    assert len(ours) == len(ref)
    for r in ref.to_dict("records"):
        var = r["variable"] if CASES[case][1] != "ratio" else f"{r['variable']}/{CASES[case][3]}"
        row = ours[(ours["variable"] == var) & (ours["within"] == r["within"]) & (ours["level"] == r["level"])
                   & (ours["contrast"] == r["contrast"])]
        assert len(row) == 1, (var, r["within"], r["level"], r["contrast"])
        row = row.iloc[0]
        for col in ("estimate", "se", "ci_low", "ci_high", "p_value"):
            np.testing.assert_allclose(row[col], r[col], rtol=1e-8, atol=1e-300,
                                       err_msg=f"{case} {method} {r['within']} {r['level']} {r['contrast']} {col}")


def test_difference_is_difference_of_the_estimate_table():
    # two routes: the difference equals the difference of estimate_table's domain means
    name, design = DESIGNS["hh"]
    data = load_data(name)
    est = estimate_table(data, design, variables="works_any", by="registered,sex_head")
    cmp = compare_domains(data, design, variables="works_any", compare="registered", by="sex_head")
    for sex in ("F", "M"):
        a = est.set_index("domain").loc[f"registered=1, sex_head={sex}", "estimate"]
        b = est.set_index("domain").loc[f"registered=0, sex_head={sex}", "estimate"]
        got = cmp[cmp["within"] == f"sex_head={sex}"]["estimate"].iloc[0]
        assert got == pytest.approx(a - b, rel=1e-12)


def test_independent_domains_add_variances():
    # domains made of disjoint strata are independent: V(a - b) = V(a) + V(b) (hand rule)
    df = pd.DataFrame({"w": [1.0, 2.0, 1.5, 1.0, 3.0, 1.0, 2.0, 1.0], "h": list("AAAABBBB"),
                       "c": [1, 2, 3, 4, 1, 2, 3, 4], "y": [1.0, 3.0, 2.0, 5.0, 4.0, 4.5, 1.0, 0.0]})
    df["g"] = df["h"]
    design = Design(weight_col="w", stratum_col="h", psu_col="c")
    est = estimate_table(df, design, variables="y", by="g").set_index("domain")
    cmp = compare_domains(df, design, variables="y", compare="g", reference="A")
    assert cmp["se"].iloc[0] ** 2 == pytest.approx(est.loc["g=A", "se"] ** 2 + est.loc["g=B", "se"] ** 2, rel=1e-12)


def test_small_cells_give_no_difference():
    name, design = DESIGNS["hh"]
    data = load_data(name)
    n = data.groupby(["registered", "region"]).size()
    min_cell = int(n.min()) + 1        # the smallest region x registration cell is suppressed
    small = n.idxmin()
    cmp = compare_domains(data, design, variables="school_attending", compare="registered", by="region",
                          min_cell=min_cell, ratio=True)
    hit = cmp["within"] == f"region={small[1]}"
    assert cmp.loc[hit, "suppressed"].all() and cmp.loc[hit, "estimate"].isna().all()
    assert not cmp.loc[~hit, "suppressed"].any() and cmp.loc[~hit, "se"].notna().all()


def test_headline_comparisons_flag_distinguishable():
    name, design = DESIGNS["hh"]
    data = load_data(name)
    t = headline_comparisons(data, design, indicators=["works_any", "school_attending", "no_such"],
                             compare="registered", reference=1)
    assert t["variable"].tolist() == ["works_any", "school_attending"]
    assert (t["distinguishable"] == ((t["ci_low"] > 0) | (t["ci_high"] < 0))).all()


def test_bad_requests():
    name, design = DESIGNS["hh"]
    data = load_data(name)
    with pytest.raises(EstimationError, match="reference level '7'"):
        compare_domains(data, design, variables="works_any", compare="registered", reference=7)
    with pytest.raises(EstimationError, match="quantile"):
        compare_domains(data, design, variables="income", compare="registered", statistic="quantile")


def test_subpopulation_is_domain_estimation():
    # two routes: a subpopulation mask equals adding the subpopulation as a further by variable
    name, design = DESIGNS["hh"]
    data = load_data(name)
    data["big"] = (data["n_children"] >= 3).astype(int)
    sub = compare_domains(data, design, variables="school_attending", compare="registered",
                          subpop=data["big"].to_numpy() == 1, ratio=True)
    by = compare_domains(data, design, variables="school_attending", compare="registered", by="big", ratio=True)
    by = by[by["within"] == "big=1"]
    for col in ("estimate", "se", "n", "n_reference"):
        np.testing.assert_allclose(sub[col].to_numpy(float), by[col].to_numpy(float), rtol=1e-12)


def test_headline_comparisons_use_children_6_to_17():
    df = pd.DataFrame({"w": [1.0] * 10, "c": range(10), "age": [3, 4, 8, 9, 12, 3, 4, 7, 10, 15],
                       "registered": [1] * 5 + [0] * 5, "works": [0, 0, 1, 0, 0, 0, 0, 1, 1, 0]})
    t = headline_comparisons(df, Design(weight_col="w", psu_col="c"), indicators=["works"])
    # aged 6-17: registered 1/3 work, unregistered 2/3 (hand count); all ages: 1/5 and 2/5
    assert t["estimate"].iloc[0] == pytest.approx(1 / 3, rel=1e-12) and t["ages"].iloc[0] == "6-17"
    t = headline_comparisons(df, Design(weight_col="w", psu_col="c"), indicators=["works"], ages=None)
    assert t["estimate"].iloc[0] == pytest.approx(1 / 5, rel=1e-12)
