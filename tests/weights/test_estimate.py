"""Estimators against R survey 4.1-1 (tests/data/survey_reference/reference.csv).

Every expected number is a row of reference.csv, identified by (case, statistic,
variable, domain); R's domain label "a=0&b=F" is our "a=0, b=F".
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hiddenpop.errors import DesignError, EstimationError
from hiddenpop.weights.design import Design
from hiddenpop.weights.estimate import ESTIMATE_COLUMNS, estimate_table, mean, proportion, quantile, ratio, total
from tests.conftest import SURVEY_REFERENCE

REF = pd.read_csv(SURVEY_REFERENCE / "reference.csv")
HH = pd.read_csv(SURVEY_REFERENCE / "households.csv")
HL = pd.read_csv(SURVEY_REFERENCE / "households_lonely.csv")
DESIGN = Design(weight_col="weight", stratum_col="stratum", psu_col="psu")
VARS = ["children_working", "school_attending", "income", "n_children"]
RTOL = 1e-8


def ref_row(case: str, statistic: str, variable: str, domain: str = "all") -> pd.Series:
    rows = REF[(REF.case == case) & (REF.statistic == statistic) & (REF.variable == variable)
               & (REF.domain == domain.replace(", ", "&"))]
    assert len(rows) == 1, (case, statistic, variable, domain)
    return rows.iloc[0]


def assert_matches(case: str, statistic: str, variable: str, domain: str, got: dict,
                   cols=("estimate", "se", "ci_low", "ci_high", "deff"), rtol: float = RTOL) -> None:
    r = ref_row(case, statistic, variable, domain)
    for c in cols:
        if pd.isna(r[c]):
            continue
        np.testing.assert_allclose(got[c], r[c], rtol=rtol, err_msg=f"{case}/{statistic}/{variable}/{domain}/{c}")


@pytest.mark.parametrize("variable", VARS)
def test_whole_sample_mean_and_total_match_r(variable):
    # reference.csv rows base/mean/<variable>/all and base/total/<variable>/all (svymean, svytotal deff=TRUE)
    assert_matches("base", "mean", variable, "all", mean(HH, variable, DESIGN).to_dict())
    assert_matches("base", "total", variable, "all", total(HH, variable, DESIGN).to_dict())


def test_ratio_and_proportion_match_r():
    # rows base/ratio/children_working/n_children/all and base/proportion/registered/all
    assert_matches("base", "ratio", "children_working/n_children", "all",
                   ratio(HH, "children_working", "n_children", DESIGN).to_dict())
    assert_matches("base", "proportion", "registered", "all", proportion(HH, "registered", DESIGN)[0].to_dict())


def test_svyciprop_logit_interval():
    # row base/proportion_ciprop_logit/registered/all: svyciprop(method="logit"), t on degf=145.
    # R fits a logistic glm (IRLS tolerance 1e-8), so agreement is ~1e-12, well inside 1e-8.
    e = proportion(HH, "registered", DESIGN, ci="logit")[0]
    assert_matches("base", "proportion_ciprop_logit", "registered", "all", e.to_dict())


@pytest.mark.parametrize("statistic", ["mean", "total"])
@pytest.mark.parametrize("by", [["registered"], ["sex_head"], ["registered", "sex_head"]])
def test_domains_match_svyby(statistic, by):
    # rows base/<statistic>/<v>/<domain> from svyby(~v, BY, des, svymean|svytotal, deff=TRUE)
    table = estimate_table(HH, DESIGN, variables=VARS, statistic=statistic, by=by)
    assert len(table) == len(VARS) * (2 if len(by) == 1 else 4)
    for row in table.to_dict("records"):
        assert_matches("base", statistic, row["variable"], row["domain"], row)


def test_domain_ratio_and_proportion_match_svyby():
    # rows base/ratio/.../sex_head=F etc. (svyby(..., svyratio, denominator=~n_children))
    # and base/proportion/registered/sex_head=F|M (svyby(~registered, ~sex_head, svymean))
    for row in estimate_table(HH, DESIGN, variables="children_working", statistic="ratio", denominator="n_children",
                              by=[["registered"], ["sex_head"], ["registered", "sex_head"]]).to_dict("records"):
        assert_matches("base", "ratio", "children_working/n_children", row["domain"], row)
    for row in estimate_table(HH, DESIGN, variables="registered", statistic="proportion",
                              by="sex_head").to_dict("records"):
        assert_matches("base", "proportion", "registered", row["domain"], row)


def test_domains_keep_every_row():
    # Two routes: the domain estimate from estimate_table equals the estimate with an explicit
    # mask, and zero-weighting (not dropping) keeps the design's 145 degrees of freedom.
    mask = (HH.registered == 0).to_numpy()
    e = mean(HH, "income", DESIGN, domain=mask)
    assert e.df == 145
    row = estimate_table(HH, DESIGN, variables="income", by="registered").iloc[0]
    assert row.domain == "registered=0"
    assert e.estimate == pytest.approx(row.estimate, rel=1e-15) and e.se == pytest.approx(row.se, rel=1e-15)
    assert e.n == int(mask.sum())


@pytest.mark.parametrize("policy", ["adjust", "certainty", "remove", "average"])
def test_lonely_psu_policies_match_r(policy):
    # rows lonely_<policy>/... on households_lonely.csv (PRV11 has one PSU); options(survey.lonely.psu=policy)
    design = Design(weight_col="weight", stratum_col="stratum", psu_col="psu", lonely_psu=policy)
    # survey >= 4.3 centres a lonely PSU at the grand mean of the PSU totals under 'adjust', which
    # changes totals (not means) from these 4.1-1 rows: totals with 'adjust' are checked against
    # survey 4.5 in test_survey45.py
    for stat in ("mean",) if policy == "adjust" else ("mean", "total"):
        for by in (None, ["registered", "sex_head"]):
            for row in estimate_table(HL, design, variables=VARS, statistic=stat, by=by).to_dict("records"):
                assert_matches(f"lonely_{policy}", stat, row["variable"], row["domain"], row)
    for row in estimate_table(HL, design, variables="children_working", statistic="ratio",
                              denominator="n_children", by="sex_head").to_dict("records"):
        assert_matches(f"lonely_{policy}", "ratio", "children_working/n_children", row["domain"], row)
    assert design.prepare(HL).degf == ref_row(f"lonely_{policy}", "degf", "design").estimate  # 136


@pytest.mark.parametrize("p", [0.5, 0.9])
def test_quantiles_match_svyquantile(p):
    # rows quantile_math_mean/quantile_<p>/income: qrule="math", Woodruff interval, t on df=145;
    # SE = (ci_high - ci_low)/(2 qt(0.975, 145))
    e = quantile(HH, "income", DESIGN, p=p)
    assert_matches("quantile_math_mean", f"quantile_{p}", "income", "all", e.to_dict(),
                   cols=("estimate", "se", "ci_low", "ci_high"))


def test_quantile_hand_example():
    # weights 1,1,1,1 on 1..4: ECDF reaches 0.5 at 2 (the smallest x with F(x) >= p);
    # p = 0.6 lies between 0.5 and 0.75, so the next value, 3.
    df = pd.DataFrame({"y": [4.0, 2.0, 3.0, 1.0], "w": 1.0, "c": [1, 2, 3, 4]})
    d = Design(weight_col="w", psu_col="c")
    assert quantile(df, "y", d, p=0.5).estimate == 2.0
    assert quantile(df, "y", d, p=0.6).estimate == 3.0


def test_design_information_and_sum_of_weights():
    # rows base/degf, base/sum_weights, base/n_obs; Σ weights = N̂ (the total of a column of ones)
    prepared = DESIGN.prepare(HH)
    assert prepared.degf == ref_row("base", "degf", "design").estimate
    ones = HH.assign(one=1.0)
    np.testing.assert_allclose(total(ones, "one", DESIGN).estimate, ref_row("base", "sum_weights", "design").estimate,
                               rtol=1e-12)
    assert mean(HH, "income", DESIGN).n == ref_row("base", "n_obs", "design").estimate


def test_suppression_blanks_small_cells_and_keeps_n():
    table = estimate_table(HH, DESIGN, variables="income", by="registered,sex_head", min_cell=400)
    small = table[table.n < 400]
    assert list(table.columns) == ESTIMATE_COLUMNS
    assert len(small) == 1 and small.suppressed.all() and small.estimate.isna().all() and small.se.isna().all()
    assert not table[table.n >= 400].suppressed.any()


def test_categorical_proportion_levels_sum_to_one():
    # hand check: the level proportions of a categorical variable add up to 1 (same weights)
    ests = proportion(HH, "age_group_head", DESIGN)
    assert [e.variable for e in ests] == [f"age_group_head={a}" for a in ["18-29", "30-44", "45-59", "60+"]]
    assert sum(e.estimate for e in ests) == pytest.approx(1.0, abs=1e-12)


def test_missing_values_are_outside_the_domain():
    # Two routes: NaN in y gives the same estimate as the domain of non-missing rows.
    df = HH.copy()
    df.loc[::7, "income"] = np.nan
    a = mean(df, "income", DESIGN)
    b = mean(HH, "income", DESIGN, domain=df.income.notna().to_numpy())
    assert a.estimate == pytest.approx(b.estimate, rel=1e-14) and a.se == pytest.approx(b.se, rel=1e-12)


def test_bad_input_errors():
    with pytest.raises(DesignError, match=r"row 4, column 'weight'.*weight not > 0"):
        mean(HH.assign(weight=np.where(HH.index == 2, 0.0, HH.weight)), "income", DESIGN)
    with pytest.raises(DesignError, match=r"weight missing"):
        mean(HH.assign(weight=np.where(HH.index == 5, np.nan, HH.weight)), "income", DESIGN)
    with pytest.raises(EstimationError, match="needs a denominator"):
        estimate_table(HH, DESIGN, variables="income", statistic="ratio")
    with pytest.raises(EstimationError, match="not numeric"):
        mean(HH, "sex_head", DESIGN)
    with pytest.raises(DesignError, match="no random number generator"):
        mean(HH, "income", DESIGN, variance="bootstrap")
