"""Robustness of the survey engine on input variations (empty domains, zero denominators, FPC forms).

Every expected number has a source: a hand calculation or two routes that must agree.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from hiddenpop.cli import main
from hiddenpop.errors import DesignError, HiddenPopWarning
from hiddenpop.weights import Design
from hiddenpop.weights.estimate import EmptyDomainWarning, estimate_table
from tests.conftest import SURVEY_REFERENCE

DESIGN = Design(weight_col="weight", stratum_col="stratum", psu_col="psu")


@pytest.fixture(scope="module")
def hh() -> pd.DataFrame:
    df = pd.read_csv(SURVEY_REFERENCE / "households.csv")
    return df[df.stratum.isin(["PRV01", "PRV02", "PRV03", "PRV11"])].reset_index(drop=True)


def test_domain_without_valid_values_is_blank_with_a_warning(hh):
    # every F head has income missing: the F domain has no data, M is unaffected
    df = hh.copy()
    df.loc[df.sex_head == "F", "income"] = np.nan
    with pytest.warns(EmptyDomainWarning, match="sex_head=F"):
        t = estimate_table(df, DESIGN, variables="income", by="sex_head")
    f = t[t.domain == "sex_head=F"].iloc[0]
    assert f.n == 0 and np.isnan(f.estimate) and np.isnan(f.se)
    # route 2 for M: the weighted mean by hand over M rows with income known
    m = (df.sex_head == "M") & df.income.notna()
    expected = (df.weight[m] * df.income[m]).sum() / df.weight[m].sum()
    assert t[t.domain == "sex_head=M"].estimate.iloc[0] == pytest.approx(expected, rel=1e-12)


def test_all_missing_variable_warns_for_every_statistic(hh):
    df = hh.assign(income=np.nan)
    for stat in ("mean", "total", "quantile"):
        with pytest.warns(EmptyDomainWarning, match="income"):
            t = estimate_table(df, DESIGN, variables="income", statistic=stat)
        assert t.estimate.isna().all()


def test_full_data_gives_no_empty_domain_warning(hh):
    with warnings.catch_warnings():
        warnings.simplefilter("error", HiddenPopWarning)
        estimate_table(hh, DESIGN, variables="income", by="sex_head")


def test_ratio_zero_denominator_in_one_domain_blanks_only_that_domain(hh):
    # heads aged 60+ have no children in this variant: their ratio is 0/0 (R svyby gives NaN);
    # the other age groups must be exactly those of the unmodified data (the domain masks do not overlap)
    df = hh.copy()
    old = df.age_group_head == "60+"
    df.loc[old, ["n_children", "children_working"]] = 0
    with pytest.warns(EmptyDomainWarning, match="age_group_head=60\\+.*denominator"):
        t = estimate_table(df, DESIGN, variables="children_working", statistic="ratio",
                           denominator="n_children", by="age_group_head")
    ref = estimate_table(hh, DESIGN, variables="children_working", statistic="ratio",
                         denominator="n_children", by="age_group_head")
    blank = t.domain == "age_group_head=60+"
    assert t.loc[blank, "estimate"].isna().all() and t.loc[blank, "n"].iloc[0] == int(old.sum())
    pd.testing.assert_frame_equal(t[~blank].reset_index(drop=True), ref[~blank].reset_index(drop=True))


def test_cli_ratio_zero_denominator_exits_0_with_one_warning_line(runner, hh, tmp_path):
    df = hh.copy()
    df.loc[df.age_group_head == "60+", ["n_children", "children_working"]] = 0
    p = tmp_path / "hh.csv"
    df.to_csv(p, index=False)
    res = runner.invoke(main, ["estimate", str(p), "--weight-col", "weight", "--var", "children_working",
                               "--stat", "ratio", "--denominator", "n_children", "--by", "age_group_head",
                               "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["estimate"] is None for r in rows] == [r["domain"] == "age_group_head=60+" for r in rows]
    assert "denominator" in res.stderr and "Traceback" not in res.stderr


def test_fpc_fraction_and_count_agree_and_shrink_se_by_sqrt_1_minus_f(hh):
    # f = 1/3 in every stratum, given once as a fraction and once as a count (3 × sampled PSUs):
    # both must give the same SE, = sqrt(1 - 1/3) × the with-replacement SE (hand formula, one stage)
    n_h = hh.groupby("stratum").psu.transform("nunique")
    frac = hh.assign(fpc=1 / 3)
    count = hh.assign(fpc=3 * n_h)
    d_fpc = Design(weight_col="weight", stratum_col="stratum", psu_col="psu", fpc_col="fpc")
    a = estimate_table(frac, d_fpc, variables="income")
    b = estimate_table(count, d_fpc, variables="income")
    wr = estimate_table(hh, DESIGN, variables="income")
    assert a.se.iloc[0] == pytest.approx(b.se.iloc[0], rel=1e-12)
    assert a.se.iloc[0] == pytest.approx(np.sqrt(2 / 3) * wr.se.iloc[0], rel=1e-12)


def test_fpc_error_shows_plain_numbers(hh):
    df = hh.assign(fpc=np.where(np.arange(len(hh)) % 2 == 0, 40.0, 50.0))
    d_fpc = Design(weight_col="weight", stratum_col="stratum", psu_col="psu", fpc_col="fpc")
    with pytest.raises(DesignError) as info:
        estimate_table(df, d_fpc, variables="income")
    msg = str(info.value)
    assert "np.float64" not in msg and "40" in msg and "50" in msg


def test_numeric_and_text_strata_and_psus_agree(hh):
    # the same design spelled with integer strata and text PSU ids must give identical numbers
    alt = hh.assign(stratum=hh.stratum.str[3:].astype(int), psu="c " + hh.psu.astype(str))
    a = estimate_table(hh, DESIGN, variables="income", by="sex_head")
    b = estimate_table(alt, DESIGN, variables="income", by="sex_head")
    np.testing.assert_allclose(a[["estimate", "se"]], b[["estimate", "se"]], rtol=1e-12)


def test_categorical_proportion_in_a_domain_with_no_known_level(hh):
    # age group unknown for every unregistered head: those 4 cells are blank, the warning names the
    # levels as the user wrote them; the registered cells equal weighted shares computed by hand
    df = hh.copy()
    df.loc[df.registered == 0, "age_group_head"] = np.nan
    with pytest.warns(EmptyDomainWarning, match=r"proportion\(age_group_head=60\+\) \[registered=0\]"):
        t = estimate_table(df, DESIGN, variables="age_group_head", statistic="proportion", by="registered")
    assert t[t.domain == "registered=0"].estimate.isna().all()
    reg = df[df.registered == 1]
    share = reg.groupby("age_group_head").weight.sum() / reg.weight.sum()
    got = t[t.domain == "registered=1"].set_index("variable").estimate
    np.testing.assert_allclose(got.to_numpy(), share.to_numpy(), rtol=1e-12)
    assert list(got.index) == [f"age_group_head={lv}" for lv in share.index]
