"""Exact enumeration of a tiny two-stage design (shared by the weights tests).

A population of households with a symmetric contact graph; stage 1 is Poisson sampling
with known π¹ (each household found at a point is its own PSU); stage 2: every stage-1
household gives coupons to m_j = min(m, d^E_j) of its referral-eligible (unregistered)
contacts drawn at random without replacement; each coupon is redeemed independently with
probability ``redeem``. Every stage-1 sample, every referral choice and every redemption
pattern is enumerated with its probability, so expectations are exact sums.
"""
from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pandas as pd

from hiddenpop.weights.referral import base_weights, prepare_sample


def population(edges, registered, pi1):
    n = len(registered)
    nbrs = [set() for _ in range(n)]
    for a, b in edges:
        nbrs[a].add(b)
        nbrs[b].add(a)
    degree = np.array([len(x) for x in nbrs])
    degree_e = np.array([sum(1 for k in x if registered[k] == 0) for x in nbrs])
    return {"n": n, "nbrs": [sorted(x) for x in nbrs], "degree": degree, "degree_e": degree_e,
            "registered": np.asarray(registered), "pi1": np.asarray(pi1, float)}


def outcomes(pop, m, redeem=1.0):
    """Yield (probability, s1, redeemed referral events [(j, k)], issued {j: c_j}, coupons) per outcome."""
    n = pop["n"]
    for mask in itertools.product([0, 1], repeat=n):
        s1 = [j for j in range(n) if mask[j]]
        p_s1 = float(np.prod([pop["pi1"][j] if mask[j] else 1 - pop["pi1"][j] for j in range(n)]))
        if p_s1 == 0:
            continue
        choices = []
        for j in s1:
            elig = [k for k in pop["nbrs"][j] if pop["registered"][k] == 0]
            mj = min(m, len(elig))
            combos = list(itertools.combinations(elig, mj))
            choices.append([(j, c, 1.0 / comb(len(elig), mj)) for c in combos])
        for pick in itertools.product(*choices):
            p_ref = float(np.prod([x[2] for x in pick])) if pick else 1.0
            coupons = [(j, k) for j, c, _ in pick for k in c]
            issued = {j: len(c) for j, c, _ in pick}
            for red in itertools.product([1, 0] if redeem < 1 else [1], repeat=len(coupons)):
                p_red = float(np.prod([redeem if r else 1 - redeem for r in red])) if coupons else 1.0
                events = [cp for cp, r in zip(coupons, red) if r]
                yield p_s1 * p_ref * p_red, s1, events, issued, tuple(coupons)


def sample_tables(pop, s1, events, issued, *, exact_referral_hits=None):
    """Household table (one row per reached household) and selection events."""
    reached = sorted(set(s1) | {k for _, k in events})
    first = {}
    for j in s1:
        first.setdefault(j, ("point", f"P{j}", None))
    for j, k in events:
        first.setdefault(k, ("referral", None, f"H{j}"))
    hh = pd.DataFrame({
        "hh_id": [f"H{k}" for k in reached],
        "found_by": [first[k][0] for k in reached],
        "point_id": [first[k][1] for k in reached],
        "recruiter_id": [first[k][2] for k in reached],
        "stage1_prob": [pop["pi1"][k] for k in reached],
        "registered": [int(pop["registered"][k]) for k in reached],
        "network_size": [int(pop["degree"][k]) for k in reached],
        "network_size_eligible": [int(pop["degree_e"][k]) for k in reached],
        "referrals_given": [issued.get(k, 0) for k in reached],
    })
    if exact_referral_hits is not None:
        hh["expected_referral_hits"] = [exact_referral_hits[k] for k in reached]
    sel = pd.DataFrame(
        [{"hh_id": f"H{j}", "found_by": "point", "point_id": f"P{j}", "recruiter_id": None} for j in s1]
        + [{"hh_id": f"H{k}", "found_by": "referral", "point_id": None, "recruiter_id": f"H{j}"} for j, k in events])
    return hh, sel


def exact_referral_hits(pop, m, redeem=1.0):
    """Σ_{j∈N(k)} π¹_j ρ_jk with ρ_jk = min(1, m/d^E_j)·redeem, for every household."""
    out = np.zeros(pop["n"])
    for k in range(pop["n"]):
        if pop["registered"][k]:
            continue
        for j in pop["nbrs"][k]:
            de = pop["degree_e"][j]
            out[k] += pop["pi1"][j] * min(m, de) / de * redeem
    return out


def expectations(pop, y, m, specs, *, redeem=1.0, condition_on_redemption=False, oracle_hits=False):
    """Exact E[Ŷ] of several estimators at once, by enumeration (one pass over the outcomes).

    ``specs`` maps a label to keyword arguments of :func:`base_weights` (``method`` etc.).
    With ``condition_on_redemption`` the expectation is taken, for each stage-1 sample and
    referral choice that issued coupons, conditional on at least one coupon being redeemed,
    then averaged over those with their probabilities (E over S1 of E[Ŷ | S1, R ≥ 1]).
    """
    hits = exact_referral_hits(pop, m, redeem) if oracle_hits else None
    total = dict.fromkeys(specs, 0.0)
    groups = {}
    for prob, s1, events, issued, coupons in outcomes(pop, m, redeem):
        if not s1:
            continue  # empty stage-1 sample: every estimate is 0
        hh, sel = sample_tables(pop, s1, events, issued, exact_referral_hits=hits)
        s = prepare_sample(hh, selections=sel, redemption_cells=None)
        yk = np.asarray(y, float)[..., [int(i[1:]) for i in s.ids]]  # y may hold several variables (rows)
        est = {lab: yk @ base_weights(s, **kw).weight for lab, kw in specs.items()}
        if condition_on_redemption and coupons:
            g = groups.setdefault((tuple(s1), coupons), [0.0, 0.0, dict.fromkeys(specs, 0.0)])
            g[0] += prob
            if events:
                g[1] += prob
                for lab in specs:
                    g[2][lab] += prob * est[lab]
        else:
            for lab in specs:
                total[lab] += prob * est[lab]
    for p_all, p_pos, sums in groups.values():
        for lab in specs:
            total[lab] += p_all * sums[lab] / p_pos
    return total
