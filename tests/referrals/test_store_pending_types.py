"""Store behaviour added in the second round: rows waiting for their recruiter, typed carried-through
columns, selection events, and files re-exported under the same name.

Every expected value is written out by hand from the small logs in each test (the comments say why).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hiddenpop.cli import main
from hiddenpop.errors import RecruitmentError
from hiddenpop.io.referrals import weighting_table, write_weighting_csv
from hiddenpop.io.store import WAITING_RULES, ReferralStore
from hiddenpop.referrals.households import possible_duplicates, selection_events

HEAD = "respondent_id,redeemed_coupon,issued_coupons,point_id,network_size,interview_time\n"
SEED = "S,,c1;c2,P1,5,2024-05-01T10:00\n"
# B came with c9, issued to A, whose interview is uploaded only on day 2; C came with B's coupon b1;
# D has an error of its own (network size "ten").
DAY1 = HEAD + SEED + "B,c9,b1,,3,2024-05-02T10:00\nC,b1,,,3,2024-05-03T10:00\nD,c1,,,ten,2024-05-02T12:00\n"
DAY2 = HEAD + "A,c2,c9,,4,2024-05-01T18:00\n"


def _write(path, text):
    path.write_text(text)
    return path


def test_recruit_waits_for_a_recruiter_uploaded_later(tmp_path):
    st = ReferralStore.create(tmp_path / "s.db")
    r1 = st.import_file(_write(tmp_path / "day1.csv", DAY1))
    # S lands; B (coupon never issued), C (its recruiter B is out) and D (own error) are quarantined;
    # B and C only wait for a recruiter, D does not (it must come back corrected).
    assert (r1.n_new, r1.n_quarantined, r1.n_pending) == (1, 3, 2)
    assert st.pending()["respondent_id"].tolist() == ["B", "C"]
    assert {q.rule for q in r1.errors} == {"coupon-never-issued", "recruiter-quarantined", "network-size-not-number"}
    r2 = st.import_file(_write(tmp_path / "day2.csv", DAY2))
    # A arrives (recruited by S with c2) and brings coupon c9: B and then C land with their day-1 rows
    assert (r2.n_new, r2.n_released, r2.n_pending, r2.n_quarantined) == (1, 2, 0, 0)
    assert "2 earlier row(s) released" in r2.summary()
    t = st.respondents().set_index("respondent_id")
    assert sorted(t.index) == ["A", "B", "C", "S"]
    # waves by hand: S seed (0) → A (1) → B (2) → C (3)
    assert t.loc[["S", "A", "B", "C"], "wave"].tolist() == [0, 1, 2, 3]
    assert t.loc["B", "source_file"].endswith("day1.csv") and t.loc["B", "source_row"] == 3
    assert st.pending().empty and st.quarantine().empty
    h = st.history("B")
    assert h["action"].tolist() == ["import"] and "waited in quarantine" in h["reason"].iloc[0]
    assert st.imports()[["n_released", "n_pending"]].values.tolist() == [[0, 2], [2, 0]]


def test_waiting_rows_are_listed_every_import_and_strict_ignores_them(tmp_path):
    st = ReferralStore.create(tmp_path / "s.db")
    st.import_file(_write(tmp_path / "day1.csv", DAY1))
    # day 2 brings an unrelated clean seed: B and C still wait and are listed again under import #2
    r = st.import_file(_write(tmp_path / "day2.csv", HEAD + "T,,t1,P2,6,2024-05-02T09:00\n"), strict=True)
    assert r.landed and (r.n_new, r.n_pending, r.n_quarantined) == (1, 2, 0)
    q = st.quarantine()
    assert sorted(set(q["respondent_id"])) == ["B", "C"] and set(q["rule"]) <= WAITING_RULES
    assert all(f.endswith("day1.csv") for f in q["source_file"])
    # a strict import that itself has an error lands nothing and leaves the waiting rows as they were
    r = st.import_file(_write(tmp_path / "day3.csv", DAY2 + "E,zz,,,2,2024-05-03T09:00\n"), strict=True)
    assert not r.landed and st.pending()["respondent_id"].tolist() == ["B", "C"]
    assert "A" not in st.respondents()["respondent_id"].tolist()


def test_newer_version_replaces_a_waiting_row_and_withdraw_drops_one(tmp_path):
    st = ReferralStore.create(tmp_path / "s.db")
    st.import_file(_write(tmp_path / "day1.csv", DAY1))
    # the team corrects B's coupon to c2 (issued to S): the file's B lands, the waiting copy is gone,
    # and C (recruited by B with b1) is released
    r = st.import_file(_write(tmp_path / "day2.csv", HEAD + "B,c2,b1,,3,2024-05-02T10:00\n"))
    assert (r.n_new, r.n_released, r.n_pending) == (1, 1, 0)
    t = st.respondents().set_index("respondent_id")
    assert t.loc["B", "recruiter_id"] == "S" and t.loc["C", "recruiter_id"] == "B"
    assert t.loc["B", "source_file"].endswith("day2.csv")
    st2 = ReferralStore.create(tmp_path / "s2.db")
    st2.import_file(tmp_path / "day1.csv")
    with pytest.raises(RecruitmentError, match="reason"):
        st2.withdraw("C", reason="")
    st2.withdraw("C", reason="interview cancelled")
    assert st2.pending()["respondent_id"].tolist() == ["B"]
    assert st2.history("C")["action"].tolist() == ["withdraw-pending"]


def test_same_file_name_exported_again_keeps_errors_on_the_right_row(tmp_path):
    # Kobo exports often overwrite the same file name. Yesterday's export.csv row 2 is the seed S;
    # today's export.csv row 2 is X with a coupon nobody was issued: the error belongs to X, not S.
    st = ReferralStore.create(tmp_path / "s.db")
    p = tmp_path / "export.csv"
    st.import_file(_write(p, HEAD + SEED))
    r = st.import_file(_write(p, HEAD + "X,q7,,,3,2024-05-02T10:00\n"))
    assert r.n_new == 0 and r.n_quarantined == 1 and r.n_pending == 1
    assert st.respondents()["respondent_id"].tolist() == ["S"]


def test_carried_columns_come_back_typed(tmp_path):
    body = ("respondent_id,redeemed_coupon,issued_coupons,network_size,interview_time,registered,code,score,note\n"
            "S,,c1;c2,5,2024-05-01T10:00,1,007,1.5,ok\n"
            "A,c1,,3,2024-05-02T10:00,,12,2,x\n"
            "B,c2,,4,2024-05-02T11:00,0,3,-0.25,\n")
    st = ReferralStore.create(tmp_path / "s.db")
    st.import_file(_write(tmp_path / "log.csv", body))
    t = st.respondents()
    # registered: numbers with one missing → float64 (NaN), as pandas.read_csv would give
    assert t["registered"].dtype == np.float64 and np.isnan(t["registered"].iloc[1])
    assert t["registered"].tolist()[::2] == [1.0, 0.0]
    assert t["score"].dtype == np.float64 and t["score"].tolist() == [1.5, 2.0, -0.25]
    assert t["code"].tolist() == ["007", "12", "3"]  # a leading zero makes it a code: text
    assert t["note"].tolist() == ["ok", "x", None]
    # the raw table keeps the text exactly as typed (round trips)
    raw = st.raw_respondents()
    assert raw["score"].tolist() == ["1.5", "2", "-0.25"] and raw["registered"].tolist() == ["1", None, "0"]
    # the weighting CSV: whole numbers without ".0", missing left empty
    write_weighting_csv(tmp_path / "hh.csv", t)
    hh = pd.read_csv(tmp_path / "hh.csv", dtype=str, keep_default_na=False)
    assert hh["registered"].tolist() == ["1", "", "0"] and hh["score"].tolist() == ["1.5", "2.0", "-0.25"]
    assert weighting_table(t)["registered"].dtype == np.float64


def test_typed_outcomes_feed_the_rds_estimators(tmp_path, runner):
    st = ReferralStore.create(tmp_path / "s.db")
    st.import_file(_write(tmp_path / "log.csv", "respondent_id,redeemed_coupon,issued_coupons,network_size,y,score\n"
                                                 "S,,c1;c2,5,1,1.5\nA,c1,,3,0,2\nB,c2,,4,1,-0.25\n"))
    t = st.respondents()
    assert t["y"].dtype == np.int64 and t["y"].tolist() == [1, 0, 1]
    res = runner.invoke(main, ["rds", "estimate", str(tmp_path / "s.db"), "--var", "score", "--estimator",
                               "rds-ii", "--json"])
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    # a numeric outcome, not categories of text: RDS-II mean with weights 1/degree (5, 3, 4):
    # (1.5/5 + 2/3 - 0.25/4) / (1/5 + 1/3 + 1/4) = 0.9041667 / 0.7833333 = 1.1542553
    assert row["kind"] == "numeric" and row["estimate"] == pytest.approx(0.9041666667 / 0.7833333333)


def test_selection_events_and_possible_duplicates_by_hand(tmp_path):
    # S found at point P1 and recruits A and B; B is the same phone as S (the household was reached
    # twice); C is a second seed found at P2 and, by phone, the same household as B (hence as S).
    body = ("respondent_id,redeemed_coupon,issued_coupons,point_id,network_size,interview_time,phone\n"
            "S,,c1;c2,P1,5,2024-05-01T10:00,0555 1\n"
            "A,c1,,,3,2024-05-02T10:00,0555 2\n"
            "B,c2,,,4,2024-05-02T11:00,0555  1\n"
            "C,,,P2,4,2024-05-03T11:00,0555 1\n")
    st = ReferralStore.create(tmp_path / "s.db")
    st.import_file(_write(tmp_path / "log.csv", body))
    dup = possible_duplicates(st.raw_respondents())
    # "0555  1" equals "0555 1" after whitespace normalisation: S, B and C share one hash
    assert dup.values.tolist() == [["S", "B", "phone"], ["S", "C", "phone"]]
    ev = selection_events(st.respondents(include_personal_hashes=True))
    assert ev[["household", "respondent_id", "event", "point_id", "coupon", "recruiter_id"]].values.tolist() == [
        ["S", "S", "point", "P1", None, None],
        ["A", "A", "coupon", None, "c1", "S"],
        ["S", "B", "coupon", None, "c2", "S"],
        ["S", "C", "point", "P2", None, None]]
    assert ev["interview_time"].tolist()[0] == "2024-05-01T10:00"


def test_history_data_holds_every_version(tmp_path):
    st = ReferralStore.create(tmp_path / "s.db")
    st.import_file(_write(tmp_path / "log.csv", HEAD + SEED + "A,c1,,,3,2024-05-02T10:00\n"))
    st.correct("A", {"network_size": "7"}, reason="re-asked")
    h = st.history("A")
    first, second = (json.loads(x) for x in h["data"])
    assert first["network_size"] == 3 and second["network_size"] == 7
    assert first["redeemed_coupon"] == "c1" and "point_id" not in first  # empty fields are left out
    assert st.respondents().set_index("respondent_id").loc["A", "network_size"] == 7


def test_cli_import_reports_released_rows(tmp_path, runner):
    s = str(tmp_path / "s.db")
    assert runner.invoke(main, ["referrals", "init", s]).exit_code == 0
    r = runner.invoke(main, ["referrals", "import", s, str(_write(tmp_path / "day1.csv", DAY1))])
    assert r.exit_code == 3 and "2 row(s) waiting for their recruiter" in r.output  # 3: rows held back
    r = runner.invoke(main, ["referrals", "status", s])
    assert r.exit_code == 0 and "2 row(s) wait for their recruiter's interview" in r.output
    r = runner.invoke(main, ["referrals", "import", s, str(_write(tmp_path / "day2.csv", DAY2))])
    assert r.exit_code == 0 and "2 earlier row(s) released from quarantine" in r.output
    r = runner.invoke(main, ["referrals", "status", s])
    assert r.exit_code == 0 and "respondents 4" in r.output


def test_tree_plot_keys_and_layout():
    from hiddenpop.referrals.plots import plot_recruitment_trees, tree_layout

    # S recruits A and B; A recruits C and D; T is a seed without recruits. Leaves C, D, B, T.
    t = pd.DataFrame({"respondent_id": list("SABCDT"), "recruiter_id": [None, "S", "S", "A", "A", None],
                      "g": ["x", "y", "x", None, "y", "x"], "size": [3, 5, 7, 9, 11, 13]})
    lay = tree_layout(t).set_index("respondent_id")
    # by hand: S's tree has 3 leaves (C, D, B) at x = 0.5, 1.5, 2.5; A over C and D (1.0); S over its
    # leaves (1.5); T after a gap of one: 3 + 1 + 0.5 = 4.5
    assert lay.loc[list("CDBAST"), "x"].tolist() == [0.5, 1.5, 2.5, 1.0, 1.5, 4.5]
    assert lay.loc[list("SACT"), "y"].tolist() == [0.0, -1.0, -2.0, 0.0]
    fig = plot_recruitment_trees(t, color_by="g")
    labels = [x.get_text() for x in fig.axes[0].get_legend().get_texts()]
    assert labels == ["x (3)", "y (2)", "(missing) (1)", "seed", "recruit"]
    # a numeric variable with more values than colours gets a colour scale (a second axes)
    fig = plot_recruitment_trees(t, color_by="size", max_levels=4)
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "size"
