"""The evening status's plain-Python linking against the one derivation, over many referral logs.

`referrals status` computes its numbers in plain Python (hiddenpop.referrals.quickstatus) so that
it answers without importing pandas; every other command derives recruiters, waves, seeds and
coupon counts in hiddenpop.referrals.derive. The two must agree on every valid log, in every row
order: hypothesis draws recruitment forests (several seeds, recruits redeeming one of their
recruiter's coupons, unused and expiring coupons, teams, interview times hours to days apart),
writes them as a referral log in a random row order, and both routes must give the same recruiter,
wave and seed of every respondent and the same status tables (the DataFrame functions of
hiddenpop.referrals.fieldstatus on derive_columns). Expected values: the two routes themselves.
"""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from hiddenpop.commands.referrals import _records
from hiddenpop.referrals import quickstatus
from hiddenpop.referrals.derive import derive_columns, recruitment
from hiddenpop.referrals.fieldstatus import recruitment_by_seed, recruitment_by_wave, reminder_list, status_summary
from tests.referrals.test_quickstatus import same_values as _same

START = dt.datetime(2024, 3, 4, 8, 0)


@st.composite
def referral_logs(draw):
    """A valid referral log as plain rows (the store's text cells) in a random order."""
    n_seeds = draw(st.integers(1, 4))
    n = draw(st.integers(n_seeds, 30))
    parent = [-1] * n_seeds + [draw(st.integers(0, i - 1)) for i in range(n_seeds, n)]
    hours = [draw(st.floats(0.5, 240, allow_nan=False)) for _ in range(n)]
    when = []
    for i in range(n):
        when.append(START + dt.timedelta(hours=hours[i]) if parent[i] < 0
                    else when[parent[i]] + dt.timedelta(hours=hours[i]))
    recruits = [[j for j in range(n) if parent[j] == i] for i in range(n)]
    code = iter(range(100100, 100100 + 10 * n))
    issued, redeemed = [[] for _ in range(n)], [None] * n
    for i in range(n):
        extra = draw(st.integers(0, 3))
        issued[i] = [str(next(code)) for _ in range(len(recruits[i]) + extra)]
        order = draw(st.permutations(issued[i]))
        for j, c in zip(recruits[i], order):
            redeemed[j] = c
    teams = draw(st.lists(st.sampled_from(["team-a", "team-b", None]), min_size=n, max_size=n))
    rows = [{"respondent_id": f"R{i + 1:03d}", "redeemed_coupon": redeemed[i],
             "issued_coupons": ";".join(issued[i]) or None, "recruiter_id": None,
             "interview_time": when[i].isoformat(timespec="seconds"), "network_size": str(3 + i % 7),
             "team": teams[i]} for i in range(n)]
    return draw(st.permutations(rows)), max(when)


@settings(max_examples=60, deadline=None)
@given(log=referral_logs(), expiry=st.sampled_from([None, 1.0, 4.0]), later=st.floats(0, 200),
       stall=st.sampled_from([0.5, 7.0]))
def test_plain_status_agrees_with_the_one_derivation(log, expiry, later, stall):
    rows, last = log
    as_of = (last + dt.timedelta(hours=later)).isoformat(timespec="seconds")
    table = pd.DataFrame(rows)

    links = quickstatus.link(rows)
    rec = recruitment(table)
    assert links.parent == rec.parent.tolist()
    assert links.wave == rec.tree.wave.tolist()
    assert [links.ids[s] for s in links.seed] == list(rec.tree.seed_ids())
    assert links.n_recruits == rec.tree.n_recruits.tolist()

    plain = quickstatus.status(rows, columns=list(rows[0]), expiry_days=expiry, as_of=as_of, stall_days=stall)
    t = derive_columns(table, expiry_days=expiry, as_of=as_of)
    assert _same(plain.summary, status_summary(t, expiry_days=expiry, as_of=as_of))
    assert _same(plain.by_wave, _records(recruitment_by_wave(t)))
    assert _same(plain.by_seed, _records(recruitment_by_seed(t, stall_days=stall, as_of=as_of)))
    calls = _records(reminder_list(t, expiry_days=expiry, as_of=as_of))
    calls = [{k: (None if k == "team" and isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
             for r in calls]
    assert _same(plain.reminders, calls)
