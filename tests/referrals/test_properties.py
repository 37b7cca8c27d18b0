"""Property-based tests: random valid forests are accepted; each random corruption is reported.

Expected behaviour comes from the rule definitions in hiddenpop.referrals.validate.RULES; the waves of a
random forest are checked against an independent route (walking up the recruiter chain).
"""
from __future__ import annotations

import contextlib

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hiddenpop.errors import HiddenPopError
from hiddenpop.referrals.graph import graph_frame
from hiddenpop.referrals.validate import validate_log


@st.composite
def forests(draw):
    n = draw(st.integers(1, 40))
    parents = [-1]
    for i in range(1, n):
        parents.append(draw(st.integers(-1, i - 1)))  # recruiter comes earlier (or a new seed)
    rows = []
    t0 = pd.Timestamp("2024-05-01T08:00")
    for i, p in enumerate(parents):
        rows.append({"respondent_id": f"R{i}", "redeemed_coupon": None if p < 0 else f"K{i}",
                     "issued_coupons": None, "point_id": f"P{i}" if p < 0 else None,
                     "network_size": float(draw(st.integers(1, 30))) + 40,  # ≥ 41 > max recruits (39)
                     "interview_time": (t0 + pd.Timedelta(hours=i)).isoformat()})
    for i, p in enumerate(parents):
        if p >= 0:
            prev = rows[p]["issued_coupons"]
            rows[p]["issued_coupons"] = f"K{i}" if pd.isna(prev) else prev + f";K{i}"
    return pd.DataFrame(rows), parents


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(forests())
def test_random_valid_forest_is_accepted(data):
    table, parents = data
    assert validate_log(table, source="f.csv", design_requires_point=True) == []
    frame = graph_frame(table)
    waves = []
    for i in range(len(parents)):  # independent route: count steps up to the seed
        w, v = 0, parents[i]
        while v >= 0:
            w, v = w + 1, parents[v]
        waves.append(w)
    assert frame["wave"].tolist() == waves


CORRUPTIONS = ["duplicate-id", "coupon-never-issued", "coupon-redeemed-twice", "coupon-issuer-ambiguous",
               "self-recruitment", "recruit-before-recruiter", "network-size-negative", "network-size-not-number",
               "missing-id", "time-not-iso", "recruitment-cycle", "seed-without-point"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(forests(), st.sampled_from(CORRUPTIONS), st.data())
def test_each_corruption_is_reported(data, corruption, pick):
    table, parents = data
    t = table.copy().astype(object)
    n = len(t)
    i = pick.draw(st.integers(0, n - 1))
    recruits = [k for k, p in enumerate(parents) if p >= 0]
    if corruption == "duplicate-id":
        if n < 2:
            return
        j = pick.draw(st.integers(0, n - 1).filter(lambda j: j != i))
        t.loc[max(i, j), "respondent_id"] = t.loc[min(i, j), "respondent_id"]
        row = max(i, j)
    elif corruption in ("coupon-never-issued", "coupon-redeemed-twice", "self-recruitment",
                        "recruit-before-recruiter", "recruitment-cycle"):
        if not recruits:
            return
        r = pick.draw(st.sampled_from(recruits))
        if corruption == "coupon-never-issued":
            t.loc[r, "redeemed_coupon"] = "NOPE"
            row = r
        elif corruption == "coupon-redeemed-twice":
            if n < 2:
                return
            other = pick.draw(st.integers(0, n - 1).filter(lambda j: j != r))
            t.loc[other, "redeemed_coupon"] = t.loc[r, "redeemed_coupon"]
            row = max(r, other)
        elif corruption == "self-recruitment":
            t.loc[r, "issued_coupons"] = t.loc[r, "redeemed_coupon"]
            t.loc[parents[r], "issued_coupons"] = None
            row = r
        elif corruption == "recruit-before-recruiter":
            t.loc[r, "interview_time"] = "2024-04-01T00:00"
            row = r
        else:  # make the seed of r's chain redeem a coupon issued to r: a cycle through the seed
            s = r
            while parents[s] >= 0:
                s = parents[s]
            prev = t.loc[r, "issued_coupons"]
            t.loc[r, "issued_coupons"] = "LOOP" if pd.isna(prev) else prev + ";LOOP"
            t.loc[s, "redeemed_coupon"] = "LOOP"
            row = s
    elif corruption == "coupon-issuer-ambiguous":  # r's coupon also written on another form: r's recruiter?
        if not recruits:
            return
        r = pick.draw(st.sampled_from(recruits))
        code = t.loc[r, "redeemed_coupon"]
        j = pick.draw(st.integers(0, n - 1).filter(lambda j: j != parents[r]))
        prev = t.loc[j, "issued_coupons"]
        t.loc[j, "issued_coupons"] = code if pd.isna(prev) else prev + ";" + code
        row = r  # reported on the redeemer, whose recruiter is ambiguous
    elif corruption == "network-size-negative":
        t.loc[i, "network_size"] = -float(pick.draw(st.integers(1, 9)))
        row = i
    elif corruption == "network-size-not-number":
        t.loc[i, "network_size"] = "many"
        row = i
    elif corruption == "missing-id":
        t.loc[i, "respondent_id"] = None
        row = i
    elif corruption == "time-not-iso":
        t.loc[i, "interview_time"] = "yesterday"
        row = i
    else:  # seed-without-point
        seeds = [k for k, p in enumerate(parents) if p < 0]
        row = pick.draw(st.sampled_from(seeds))
        t.loc[row, "point_id"] = None
    try:
        problems = validate_log(t, source="f.csv", design_requires_point=True)
    except HiddenPopError:  # only the project's own errors may escape
        raise AssertionError("validate_log must report, not raise")
    hits = [p for p in problems if p.rule == corruption]
    assert hits, (corruption, [str(p) for p in problems])
    assert row + 2 in [p.row for p in hits]
    # building the graph either works or raises a hiddenpop error, nothing else
    with contextlib.suppress(HiddenPopError):
        graph_frame(t)


@st.composite
def messy_logs(draw):
    """Random coupon logs with every quirk: codes on several forms, twice on one form, redeemed by several
    people, never issued, and a respondent's own coupon on their own form."""
    n = draw(st.integers(1, 30))
    codes = [f"K{k}" for k in range(draw(st.integers(1, 25)))]
    rows = []
    for i in range(n):
        issued = draw(st.lists(st.sampled_from(codes), max_size=4))
        own = draw(st.one_of(st.none(), st.sampled_from(codes + ["NEVER"])))
        rows.append({"respondent_id": f"R{i}", "redeemed_coupon": own,
                     "issued_coupons": ";".join(issued) or None})
    return pd.DataFrame(rows)


def _rid_from_coupons(table: pd.DataFrame) -> list:
    """R RDS 0.9-10's rid.from.coupons, line by line: for each row in order, every respondent whose own
    coupon is among the row's issued coupons gets this row as recruiter (later rows overwrite)."""
    own = table["redeemed_coupon"].tolist()
    rec = [None] * len(table)
    for row, given in enumerate(table["issued_coupons"].tolist()):
        given = set(given.split(";")) if isinstance(given, str) else set()
        for j, c in enumerate(own):
            if c is not None and c in given:
                rec[j] = row
    return rec


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_logs())
def test_finished_rules_link_exactly_like_r(table):
    from hiddenpop.referrals.coupons import link_coupons

    # independent route: the R loop above; where R would link a respondent to themself (R then stops with
    # "recruited themselves"), the finished rules make the respondent a seed
    expected = [-1 if r is None or r == i else r for i, r in enumerate(_rid_from_coupons(table))]
    assert link_coupons(table, rules="finished").parent.tolist() == expected
    # the field rules link the same respondents where exactly one respondent was issued the coupon, else none
    field = link_coupons(table, rules="field").parent.tolist()
    issuers = {}
    for i, given in enumerate(table["issued_coupons"].tolist()):
        for c in (set(given.split(";")) if isinstance(given, str) else set()):
            issuers.setdefault(c, set()).add(i)
    for i, c in enumerate(table["redeemed_coupon"].tolist()):
        one = c is not None and len(issuers.get(c, ())) == 1
        assert field[i] == (next(iter(issuers[c])) if one else -1)
