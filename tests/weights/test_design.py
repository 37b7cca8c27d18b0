"""Design spec and preparation: codes, nesting, FPC, lonely PSUs, bad input."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hiddenpop.errors import DesignError, LonelyPSUError
from hiddenpop.weights.design import Design, LonelyPSU
from tests.weights.test_estimate import DESIGN, HH, HL, ref_row


def test_spec_is_frozen_and_validated():
    d = Design(weight_col="w")
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.weight_col = "x"
    assert dataclasses.replace(d, lonely_psu="average").lonely_psu is LonelyPSU.AVERAGE
    with pytest.raises(DesignError, match="unknown lonely-PSU policy 'skip'"):
        Design(lonely_psu="skip")
    with pytest.raises(DesignError, match="'psu_col' must be a non-empty"):
        Design(psu_col="")


def test_psus_are_nested_in_strata_like_r():
    # README: psu is numbered within stratum -> 157 PSUs, 12 strata, degf 145 (row base/degf)
    p = DESIGN.prepare(HH)
    assert p.n_psu == 157 and p.n_strata == 12
    assert p.degf == ref_row("base", "degf", "design").estimate
    assert p.psu_weight_totals.sum() == pytest.approx(HH.weight.sum(), rel=1e-14)


def test_lonely_fail_message_is_rs():
    # reference_log / README c: "Stratum (PRV11) has only one PSU at stage 1"
    with pytest.raises(LonelyPSUError, match=r"Stratum \(PRV11\) has only one PSU at stage 1"):
        DESIGN.prepare(HL, source="households_lonely.csv")


def test_fpc_fraction_and_population_count_agree():
    # Two routes: fpc as a sampling fraction n_h/N_h and as a population PSU count N_h give
    # the same fractions; the variance is then (1 - f) times the with-replacement one.
    n_h = HH.groupby("stratum").psu.transform("nunique")
    a = Design(weight_col="weight", stratum_col="stratum", psu_col="psu", fpc_col="f").prepare(HH.assign(f=n_h / 40))
    b = Design(weight_col="weight", stratum_col="stratum", psu_col="psu", fpc_col="N").prepare(HH.assign(N=40))
    np.testing.assert_allclose(a.fpc_fraction, b.fpc_fraction, rtol=1e-15)
    from hiddenpop.weights.estimate import total

    v_wr = total(HH, "income", DESIGN).se ** 2
    v_a = total(HH, "income", a).se ** 2
    # all strata have the same N = 40, but different n_h: check one-stratum subset by hand instead
    one = HH[HH.stratum == "PRV01"]
    d1 = Design(weight_col="weight", stratum_col="stratum", psu_col="psu")
    f = one.psu.nunique() / 40
    d1f = dataclasses.replace(d1, fpc_col="N")
    assert total(one.assign(N=40), "income", d1f).se ** 2 == pytest.approx((1 - f) * total(one, "income", d1).se ** 2,
                                                                          rel=1e-12)
    assert v_a < v_wr


def test_bad_design_input():
    with pytest.raises(DesignError, match=r"missing column\(s\) 'wt'"):
        Design(weight_col="wt").prepare(HH)
    with pytest.raises(DesignError, match=r"row 3, column 'stratum'"):
        DESIGN.prepare(HH.assign(stratum=np.where(HH.index == 1, None, HH.stratum)))
    with pytest.raises(DesignError, match="FPC differs within stratum"):
        Design(weight_col="weight", stratum_col="stratum", psu_col="psu", fpc_col="N").prepare(
            HH.assign(N=np.arange(len(HH)) + 100))
    with pytest.raises(DesignError, match="smaller than the"):
        Design(weight_col="weight", stratum_col="stratum", psu_col="psu", fpc_col="N").prepare(HH.assign(N=5))
    with pytest.raises(DesignError, match=r"row 2, column 'weight', value 'abc'"):
        DESIGN.prepare(HH.assign(weight=["abc"] + list(HH.weight[1:])))
    with pytest.raises(DesignError, match="no rows"):
        DESIGN.prepare(HH.iloc[:0])
