"""The import planner without SQLite: stored rows and incoming rows in, a frozen plan out.

Every expected count below is worked out by hand from the rules in hiddenpop.referrals.intake
(module docstring) on the few rows of each test.
"""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from hiddenpop.referrals.intake import content_hashes, plan_import, storage_frame


def _log(rows):
    cols = ["respondent_id", "redeemed_coupon", "issued_coupons", "network_size", "interview_time"]
    t = pd.DataFrame([dict(zip(cols, r)) for r in rows], columns=cols).astype(object)
    t = t.where(t.notna(), None)
    t["source_row"] = range(2, len(t) + 2)
    return t


def _stored(table, file="day1.csv"):
    """What the store would hand the planner after importing ``table`` cleanly."""
    data = storage_frame(table, personal=[], salt="s")
    out = data[["respondent_id", "redeemed_coupon", "issued_coupons", "recruiter_id", "point_id", "network_size",
                "network_size_eligible", "interview_time"]].copy()
    out["source_file"] = file
    out["source_row"] = table["source_row"].tolist()
    out["content_hash"] = content_hashes(data)
    return out


DAY1 = _log([("S", None, "c1;c2", "5", "2024-05-01T10:00"), ("A", "c1", "c3", "3", "2024-05-02T10:00")])


def test_first_import_all_new():
    plan = plan_import(DAY1, file="day1.csv", sha256="x", salt="s")
    r = plan.result
    assert (r.n_rows, r.n_new, r.n_unchanged, r.n_quarantined, r.n_pending) == (2, 2, 0, 0, 0)
    assert plan.fresh["respondent_id"].tolist() == ["S", "A"]
    assert plan.fresh["source_row"].tolist() == [2, 3]
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.fresh = None  # the plan is frozen


def test_duplicate_coupon_against_stored_rows_is_quarantined_with_its_recruits():
    # day 2 (cumulative export): S and A again (unchanged); B redeems c2 and was given c3, which A holds already;
    # C redeems c3: issued to A and to B, so C's recruiter is ambiguous (coupon-issuer-ambiguous, an error of
    # C's own: dropped, it comes back corrected); D redeems c5 issued to C: quarantined below C, and as that is a
    # waiting rule, D waits for C. B lands (its coupon c2 is fine; the double c3 is C's problem).
    day2 = _log([("S", None, "c1;c2", "5", "2024-05-01T10:00"), ("A", "c1", "c3", "3", "2024-05-02T10:00"),
                 ("B", "c2", "c3", "2", "2024-05-03T10:00"), ("C", "c3", "c5", "2", "2024-05-04T10:00"),
                 ("D", "c5", None, "2", "2024-05-05T10:00")])
    plan = plan_import(day2, file="day2.csv", sha256="y", salt="s", stored=_stored(DAY1))
    r = plan.result
    assert (r.n_unchanged, r.n_new, r.n_quarantined, r.n_pending) == (2, 1, 2, 1)
    rules = {(q.respondent_id, q.rule) for q in plan.quarantine}
    assert rules == {("C", "coupon-issuer-ambiguous"), ("D", "recruiter-quarantined")}
    assert plan.fresh["respondent_id"].tolist() == ["B"]
    assert plan.waiting_new["respondent_id"].tolist() == ["D"]


def test_coupon_redeemed_twice_with_one_issuer_links_both_and_late_issuer_is_quarantined():
    # B came with c1 too (A already did): one issuer (S), so B lands with a warning, linked to S
    day2 = _log([("S", None, "c1;c2", "5", "2024-05-01T10:00"), ("A", "c1", "c3", "3", "2024-05-02T10:00"),
                 ("B", "c1", None, "2", "2024-05-03T10:00")])
    plan = plan_import(day2, file="day2.csv", sha256="y", salt="s", stored=_stored(DAY1))
    assert (plan.result.n_new, plan.result.n_quarantined) == (1, 0)
    assert [(q.respondent_id, q.rule) for q in plan.warnings] == [("B", "coupon-redeemed-twice")]
    # E is given c1 again after A (stored) redeemed it: A's recruiter would become ambiguous, and A cannot be
    # quarantined any more, so the new row E carries the error
    day3 = _log([("E", "c2", "c1", "2", "2024-05-06T10:00")])
    plan = plan_import(day3, file="day3.csv", sha256="z", salt="s", stored=_stored(DAY1))
    assert [(q.respondent_id, q.rule) for q in plan.quarantine] == [("E", "coupon-issuer-ambiguous")]
    assert "S (row 2" in plan.quarantine[0].message and "A (row 3" in plan.quarantine[0].message


def test_recruit_before_recruiter_waits_then_is_released():
    # day 1 brings only B, who redeems c3 issued to A (not uploaded yet): B waits.
    early = _log([("B", "c3", None, "2", "2024-05-03T10:00")])
    plan = plan_import(early, file="b.csv", sha256="b", salt="s", stored=_stored(DAY1.iloc[:1]))
    assert (plan.result.n_new, plan.result.n_pending, len(plan.waiting_new)) == (0, 1, 1)
    waiting = plan.waiting_new.assign(import_id=1)
    # the next file brings A: B is released and lands with its own file and row
    late = _log([("A", "c1", "c3", "3", "2024-05-02T10:00")])
    plan2 = plan_import(late, file="a.csv", sha256="a", salt="s", stored=_stored(DAY1.iloc[:1]), pending=waiting)
    assert (plan2.result.n_new, plan2.result.n_released, plan2.result.n_pending) == (1, 1, 0)
    assert plan2.released[["respondent_id", "source_file"]].values.tolist() == [["B", "b.csv"]]


def test_changed_row_is_a_conflict_unless_accepted():
    day2 = _log([("S", None, "c1;c2", "6", "2024-05-01T10:00"), ("A", "c1", "c3", "3", "2024-05-02T10:00")])
    plan = plan_import(day2, file="day2.csv", sha256="z", salt="s", stored=_stored(DAY1))
    assert (plan.result.n_conflicts, plan.result.n_changed) == (1, 0)
    assert [q.rule for q in plan.quarantine] == ["changed-since-import"]
    ok = plan_import(day2, file="day2.csv", sha256="z", salt="s", stored=_stored(DAY1), accept_changes=True)
    assert (ok.result.n_conflicts, ok.result.n_changed) == (0, 1)
    assert ok.changed["network_size"].tolist() == [6.0]
    # strict: a conflict means nothing lands
    strict = plan_import(day2, file="day2.csv", sha256="z", salt="s", stored=_stored(DAY1), strict=True)
    assert not strict.landed and strict.result.n_new == 0


def test_store_applies_the_plan_it_made(tmp_path):
    # the same plan through the SQLite store: what lands is what the plan said, and the plan is unchanged
    from hiddenpop.io.store import ReferralStore

    st = ReferralStore.create(tmp_path / "s.db")
    plan = st.plan(DAY1, file="day1.csv", sha256="x")
    res = st.apply_plan(plan)
    assert res.import_id == 1 and plan.result.import_id is None
    assert st.raw_respondents()["respondent_id"].tolist() == plan.fresh["respondent_id"].tolist() == ["S", "A"]
    assert st.imports()["n_new"].tolist() == [2]
