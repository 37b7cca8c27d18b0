"""GWSM and its comparison methods: exact enumeration on tiny populations (the main proof).

Source of every expected number: exact enumeration (tests/weights/_enumeration.py) of every
stage-1 Poisson sample, every random referral choice and every coupon-redemption pattern
with its probability; E[Ŷ] is an exact finite sum, compared with the population total Y.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hiddenpop.errors import DesignError, RecruitmentError
from hiddenpop.weights.referral import base_weights, gwsm_weights, prepare_sample, referral_share
from tests.weights._enumeration import expectations, population

# Six households; 0 and 1 registered (not referral-eligible), 2..5 unregistered.
EDGES = [(0, 2), (0, 3), (1, 3), (1, 4), (2, 3), (2, 5), (3, 4), (4, 5)]
REGISTERED = [1, 1, 0, 0, 0, 0]
PI1 = [0.5, 0.3, 0.4, 0.25, 0.6, 0.35]
Y = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0])   # Y = 23
UNREG = np.array([0, 0, 1, 1, 1, 1], float)     # N_U = 4


@pytest.fixture(scope="module")
def pop():
    return population(EDGES, REGISTERED, PI1)


@pytest.fixture(scope="module")
def exact_m1(pop):
    specs = {"gwsm": {"method": "gwsm"}, "mult_exact": {"method": "multiplicity"}}
    e = expectations(pop, np.vstack([Y, UNREG]), 1, specs, oracle_hits=True)
    return {k: v[0] for k, v in e.items()}, {k: v[1] for k, v in e.items()}


def test_gwsm_exactly_unbiased_by_enumeration(exact_m1):
    # m = 1 referral among eligible contacts, 729 outcomes enumerated: E[Ŷ] = Y = 23, E[N̂_U] = 4.
    ey, en = exact_m1
    assert ey["gwsm"] == pytest.approx(23.0, abs=1e-12)
    assert en["gwsm"] == pytest.approx(4.0, abs=1e-12)


def test_multiplicity_with_exact_expected_hits_unbiased(exact_m1):
    # Hansen–Hurwitz: E[c_k] = e_k exactly when e_k = π¹_k + Σ_j π¹_j ρ_jk (oracle column).
    ey, en = exact_m1
    assert ey["mult_exact"] == pytest.approx(23.0, abs=1e-12)
    assert en["mult_exact"] == pytest.approx(4.0, abs=1e-12)


def test_gwsm_unbiased_with_two_referrals_and_union_biased(pop):
    # m = 2: most households refer all their eligible contacts (ρ = 1); still exact.
    specs = {"gwsm": {"method": "gwsm"}, "union": {"method": "union"}, "mult_mf": {"method": "multiplicity"}}
    e = expectations(pop, Y, 2, specs)
    assert e["gwsm"] == pytest.approx(23.0, abs=1e-12)
    # Union probability (mean-field π̄κ̂, independence of routes): E = 23.4356, bias +1.89%
    # (value of this enumeration); mean-field multiplicity: E = 23.3669 (+1.6%).
    assert e["union"] - 23.0 == pytest.approx(0.435559409984414, abs=1e-9)
    assert e["mult_mf"] - 23.0 == pytest.approx(0.36685076859741, abs=1e-9)


def test_redemption_rate_correction_unbiased():
    # Four households, m = 1, each coupon redeemed with probability 0.7 (625 outcomes).
    # ρ = (c/d^E)·ĥ with ĥ = redeemed/issued: given ≥ 1 redemption, the redeemed coupons are
    # a simple random sample of the issued ones, so P(redeemed | R) = R/C = ĥ and the GWSM
    # is exactly unbiased conditional on R ≥ 1: E = Y = 18.
    pop4 = population([(0, 1), (0, 2), (1, 2), (2, 3), (1, 3)], [1, 0, 0, 0], [0.5, 0.4, 0.3, 0.6])
    y = np.array([2.0, 7.0, 1.0, 8.0])
    specs = {"rate": {"method": "gwsm"}, "issued": {"method": "gwsm", "referral_fraction": "issued"}}
    cond = expectations(pop4, y, 1, specs, redeem=0.7, condition_on_redemption=True)
    assert cond["rate"] == pytest.approx(18.0, abs=1e-12)
    # dividing by coupons issued ignores non-redemption: E = 15.5115 (−13.8%), as in docs/methods.md, 'Findings
    # from the simulation study'.
    assert cond["issued"] == pytest.approx(15.511461990323053, abs=1e-9)
    assert cond["issued"] < 17.0


def test_redemption_rate_unconditional_bias_when_no_coupon_is_redeemed():
    # Same population as above. Unconditionally, outcomes where coupons were issued but none
    # was redeemed (probability 0.3^C given C coupons) have no referral term at all, so the
    # GWSM with ĥ loses, on average, exactly the referral part it would have had:
    #   E[Ŷ] = Y − Σ_g P(g) · 0.3^{C_g} · T(g),
    # where g = (stage-1 sample, referral choice) and T(g) = Σ_k y_k Σ_j a_j d^E_j/c_j / L_k is
    # the referral part with every coupon redeemed (ĥ = 1): given R = r ≥ 1 redemptions each
    # coupon is redeemed with probability r/C = ĥ, so E[referral part | g, R ≥ 1] = T(g) for
    # every r (this is why the estimator is conditionally unbiased).
    # Route 1: full enumeration with redemption probability 0.7 (625 outcomes).
    # Route 2: the formula above from the 0.7-free outcomes (redeem = 1) and 0.3^C by hand.
    from tests.weights._enumeration import outcomes, sample_tables

    pop4 = population([(0, 1), (0, 2), (1, 2), (2, 3), (1, 3)], [1, 0, 0, 0], [0.5, 0.4, 0.3, 0.6])
    y = np.array([2.0, 7.0, 1.0, 8.0])  # Y = 18
    uncond = expectations(pop4, y, 1, {"rate": {"method": "gwsm"}}, redeem=0.7)["rate"]
    lost = 0.0
    for prob, s1, events, issued, coupons in outcomes(pop4, 1, 1.0):
        if not coupons:
            continue
        hh, sel = sample_tables(pop4, s1, events, issued)
        s = prepare_sample(hh, selections=sel, redemption_cells=None)
        bw = base_weights(s, "gwsm", referral_fraction="issued")
        t_g = float(y[[int(i[1:]) for i in s.ids]] @ (bw.referral_term / bw.links))
        lost += prob * 0.3 ** len(coupons) * t_g
    assert uncond == pytest.approx(18.0 - lost, abs=1e-12)
    # the value: E = 16.95997, bias −1.04003 = −5.78% of Y (P(coupons issued, none redeemed)
    # = 0.130 here; in a stratum with C = 50 coupons and h = 0.7 it is 0.3^50 ≈ 7e−27)
    assert uncond == pytest.approx(16.95996635, abs=1e-8)
    assert (uncond - 18.0) / 18.0 == pytest.approx(-0.05778, abs=1e-5)


def _three():
    # Hand-worked example (see gwsm_weights docstring): A registered, π¹ = 0.5, refers C;
    # B unregistered, π¹ = 0.25, d_B = 3; C: d_C = 1, ρ_AC = 1/2 (1 coupon, 2 eligible contacts).
    return pd.DataFrame({"hh_id": ["A", "B", "C"], "found_by": ["point", "point", "referral"],
                         "point_id": ["P1", "P2", None], "recruiter_id": [None, None, "A"],
                         "stage1_prob": [0.5, 0.25, None], "registered": [1, 0, 0],
                         "network_size": [4, 3, 1], "network_size_eligible": [2, 1, 0],
                         "referrals_given": [1, 0, 0], "y": [1.0, 2.0, 3.0]})


def test_hand_worked_three_households():
    # w_A = 1/0.5 = 2 (registered: 1/π¹); w_B = (1/0.25)/(1+3) = 1; w_C = [1/(0.5·0.5)]/(1+1) = 2.
    bw = gwsm_weights(prepare_sample(_three()))
    assert bw.weight.tolist() == [2.0, 1.0, 2.0]
    assert bw.share_from_referral.tolist() == [0.0, 0.0, 1.0]
    # share of N̂ = 5 from referral: 2/5
    assert referral_share(bw.weight, bw.share_from_referral) == pytest.approx(0.4)


def test_no_referrals_equals_stage1_ht():
    # Without referral events and with no eligible households, GWSM = 1/π¹ (HT).
    hh = pd.DataFrame({"hh_id": ["a", "b", "c"], "found_by": "point", "point_id": ["P1", "P1", "P2"],
                       "stage1_prob": [0.2, 0.5, 0.1], "registered": [1, 1, 1]})
    w = gwsm_weights(prepare_sample(hh)).weight
    assert w.tolist() == [5.0, 2.0, 10.0]


def test_no_coupons_issued_means_no_referral_links():
    # A design that hands out no coupons has no referral stage: eligible (unregistered)
    # households found at points have only their self-link, so GWSM must equal the stage-1
    # HT weight 1/π¹ (issue 5: "GWSM with no referrals equals the stage-1 HT estimator").
    # Counting L = 1 + d would give b: (1/0.5)/(1+4) = 0.4 instead of 2 (the -27% bias the
    # design-comparison simulation found).
    hh = pd.DataFrame({"hh_id": ["a", "b", "c"], "found_by": "point", "point_id": ["P1", "P1", "P2"],
                       "stage1_prob": [0.2, 0.5, 0.1], "registered": [1, 0, 0],
                       "network_size": [3, 4, 6], "network_size_eligible": [1, 2, 2],
                       "referrals_given": [0, 0, 0]})
    s = prepare_sample(hh)
    assert s.info["referral_stage"] is False
    bw = gwsm_weights(s)
    assert bw.weight.tolist() == [5.0, 2.0, 10.0]
    assert bw.links.tolist() == [1.0, 1.0, 1.0]
    # with one coupon handed out (none redeemed) the referral stage exists and L = 1 + d
    hh.loc[1, "referrals_given"] = 1
    s = prepare_sample(hh)
    assert s.info["referral_stage"] is True
    assert gwsm_weights(s).links.tolist() == [1.0, 5.0, 7.0]


def test_household_reached_twice_counts_both_links():
    # C referred by A (π¹=.5, ρ=1/2) and found at point P3 (π¹=.2): w = (1/.2 + 4)/(1+1) = 4.5
    hh = _three()
    hh.loc[2, "stage1_prob"] = 0.2
    sel = pd.DataFrame({"hh_id": ["A", "B", "C", "C"], "found_by": ["point", "point", "point", "referral"],
                        "point_id": ["P1", "P2", "P3", None], "recruiter_id": [None, None, None, "A"]})
    s = prepare_sample(hh, selections=sel)
    assert gwsm_weights(s).weight[2] == pytest.approx(4.5)
    assert s.info["n_reached_twice"] == 1


def test_deeper_wave_gets_model_based_rds_weights():
    # D (wave 2, recruited by C) has no design-based weight; RDS-II scaled to N̂_E.
    hh = _three()
    hh = pd.concat([hh, pd.DataFrame({"hh_id": ["D"], "found_by": ["referral"], "recruiter_id": ["C"],
                                      "registered": [0], "network_size": [2], "network_size_eligible": [1],
                                      "referrals_given": [0]})], ignore_index=True)
    hh.loc[2, ["referrals_given", "network_size_eligible"]] = [1, 1]
    bw = base_weights(prepare_sample(hh), "gwsm")
    # design part: eligible B (1) and C (2) → N̂_E = 3; θ = 2/3; D gets (1 − θ)·3 = 1
    assert bw.theta == pytest.approx(2 / 3)
    assert bw.weight.tolist() == pytest.approx([2.0, 2 / 3, 4 / 3, 1.0])
    assert bw.model_based.tolist() == [False, False, False, True]
    assert bw.weight[1:].sum() == pytest.approx(3.0)


def test_unknown_recruiter_is_an_error():
    hh = _three()
    hh.loc[2, "recruiter_id"] = "Z"
    with pytest.raises(RecruitmentError, match=r"households, row 4, column 'recruiter_id', value 'Z'"):
        prepare_sample(hh)


def test_unknown_root_point_is_an_error():
    # C and D refer each other: the chain never reaches a household found at a point.
    hh = _three()
    hh = pd.concat([hh, pd.DataFrame({"hh_id": ["D"], "found_by": ["referral"], "recruiter_id": ["C"],
                                      "registered": [0], "network_size": [2]})], ignore_index=True)
    hh.loc[2, "recruiter_id"] = "D"
    with pytest.raises(RecruitmentError, match="root first-stage point of household C is unknown"):
        prepare_sample(hh)


@pytest.mark.parametrize("value", [0.0, 1.5, -0.2, None])
def test_bad_stage1_probability_names_row(value):
    hh = _three()
    hh["stage1_prob"] = hh["stage1_prob"].astype(object)
    hh.loc[1, "stage1_prob"] = value
    with pytest.raises(DesignError, match=r"households, row 3, column 'stage1_prob'"):
        prepare_sample(hh)


def test_more_recruits_than_coupons_is_an_error():
    hh = _three()
    hh.loc[0, "referrals_given"] = 0
    with pytest.raises(RecruitmentError, match="has 1 recruits but was given only 0"):
        prepare_sample(hh)
