"""Referral stage: store, readers/writers, validation rules, graph, field status, CLI daily loop.

Sources of expected values: R RDS 0.9-10's own `.wave`, `.seed_id`, `.n_recruits` columns in
tests/data/rds_oracle/data/*.csv (computed by get.wave / get.seed.id / get.number.of.recruits),
hand calculations written next to each assertion, and round trips (two routes must agree).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from hiddenpop.cli import main
from hiddenpop.errors import InputFileError, RecruitmentError
from hiddenpop.io.referrals import read_rdsat, read_referral_log, write_rdsat
from hiddenpop.io.store import TEST_SLEEP_ENV, ReferralStore
from hiddenpop.referrals.coupons import coupon_table, recruiter_ids
from hiddenpop.referrals.fieldstatus import (cumulative_composition, recruitment_by_seed, recruitment_homophily,
                                       reminder_list, status_summary)
from hiddenpop.referrals.graph import build_graph
from hiddenpop.referrals.validate import RULES, validate_log
from tests.conftest import RDS_ORACLE

HERE = Path(__file__).parent / "data"
DAY1, DAY2, MAPPING = HERE / "example_day1.csv", HERE / "example_day2.csv", HERE / "team_mapping.toml"
ORACLE_FILES = ["faux.csv", "fauxmadrona.csv", "fauxmadrona2_rds1.csv"]


# ------------------------------------------------------------------------------------ R oracle
@pytest.mark.parametrize("name", ORACLE_FILES)
def test_waves_seeds_recruits_match_r_through_store_and_graph(tmp_path, name):
    # expected: R's own .wave/.seed_id/.n_recruits columns of the same file
    ref = pd.read_csv(RDS_ORACLE / "data" / name, dtype=str)
    store = ReferralStore.create(tmp_path / "s.db")
    store.import_file(RDS_ORACLE / "data" / name)
    t = store.respondents()
    assert t["respondent_id"].tolist() == ref["id"].tolist()
    assert t["wave"].astype(str).tolist() == ref[".wave"].tolist()
    assert t["seed_id"].tolist() == ref[".seed_id"].tolist()
    assert t["n_recruits"].astype(str).tolist() == ref[".n_recruits"].tolist()
    G = build_graph(t)
    assert nx.is_branching(G)
    assert [G.nodes[i]["wave"] for i in ref["id"]] == ref[".wave"].astype(int).tolist()
    assert [G.nodes[i]["seed_id"] for i in ref["id"]] == ref[".seed_id"].tolist()
    assert [G.out_degree(i) for i in ref["id"]] == ref[".n_recruits"].astype(int).tolist()


# ----------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", ORACLE_FILES)
def test_rds_csv_round_trip_through_store(tmp_path, runner, name):
    src = RDS_ORACLE / "data" / name
    assert runner.invoke(main, ["referrals", "init", str(tmp_path / "s.db")]).exit_code == 0
    assert runner.invoke(main, ["referrals", "import", str(tmp_path / "s.db"), str(src)]).exit_code == 0
    res = runner.invoke(main, ["referrals", "export", str(tmp_path / "s.db"), "--format", "rds-csv",
                               "-o", str(tmp_path / "out.csv")])
    assert res.exit_code == 0, res.output
    a = pd.read_csv(src, dtype=str, keep_default_na=False)
    b = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    # the file comes back as it was (faux and fauxmadrona carry R's own wave and seed columns, which agree);
    # an export always has R's wave and seed (get.wave, get.seed.id: the source's .wave and .seed_id)
    pd.testing.assert_frame_equal(a, b[a.columns])
    assert list(b.columns[len(a.columns):]) == [c for c in ("wave", "seed") if c not in a.columns]
    assert b["wave"].tolist() == a[".wave"].tolist() and b["seed"].tolist() == a[".seed_id"].tolist()


def test_rdsat_round_trip_through_store(tmp_path):
    # route 1: the example store written as RDSAT; route 2: that file imported into a new store and
    # written again. Both files and both parsed tables must be identical.
    s1 = ReferralStore.create(tmp_path / "a.db")
    s1.import_file(DAY2, mapping=MAPPING)
    raw = s1.raw_respondents()
    write_rdsat(tmp_path / "one.rdsat", raw)
    s2 = ReferralStore.create(tmp_path / "b.db")
    r = s2.import_file(tmp_path / "one.rdsat")
    assert r.n_new == len(raw) and r.n_quarantined == 0
    write_rdsat(tmp_path / "two.rdsat", s2.raw_respondents())
    assert (tmp_path / "one.rdsat").read_bytes() == (tmp_path / "two.rdsat").read_bytes()
    t1, t2 = read_rdsat(tmp_path / "one.rdsat"), read_rdsat(tmp_path / "two.rdsat")
    pd.testing.assert_frame_equal(t1, t2)
    assert s1.respondents()["wave"].tolist() == s2.respondents()["wave"].tolist()


def test_rdsat_reader_na_symbol_and_layout(tmp_path):
    p = tmp_path / "x.rdsat"
    p.write_text("RDS\n3 2 0 sex\n1 5 0 11 12 m\n2 0 11 21 0 f\n3 4 12 0 0 f\n")
    t = read_rdsat(p)
    # NA symbol 0: the own coupon of the seed and the zero network size of respondent 2 are missing (R read.rdsat)
    assert t["redeemed_coupon"].tolist() == [None, "11", "12"]
    assert np.isnan(t["network_size"].iloc[1])
    assert t["issued_coupons"].tolist() == ["11;12", "21", None]
    assert t["source_row"].tolist() == [3, 4, 5]
    assert recruiter_ids(t).tolist() == [None, "1", "1"]
    p.write_text("RDS\n4 2 0 sex\n1 5 0 11 12 m\n")
    with pytest.raises(InputFileError, match="announces 4 respondents"):
        read_rdsat(p)


# ------------------------------------------------------------------------------------- readers
def test_kobo_prefixes_mapping_and_personal_fields(tmp_path):
    t = read_referral_log(DAY1, mapping=MAPPING)
    assert t["respondent_id"].iloc[0] == "R0002" and t["point_id"].iloc[0] == "P-IST-0003"
    assert t["issued_coupons"].iloc[0] == "C1003;C1004;C1005"  # coupon_1..coupon_3 joined
    assert t.attrs["personal_columns"] == ["phone"]
    assert t.attrs["column_names"]["network_size"] == "group_net/q_know"


def test_xlsx_and_single_coupon_column(tmp_path):
    df = pd.DataFrame({"respondent_id": ["A", "B"], "redeemed_coupon": [None, "c2"],
                       "issued_coupons": ["c1, c2", None], "network_size": [3, 4],
                       "interview_time": [pd.Timestamp("2024-05-01 10:00"), pd.Timestamp("2024-05-02 11:30")]})
    df.to_excel(tmp_path / "log.xlsx", index=False)
    t = read_referral_log(tmp_path / "log.xlsx")
    assert t["issued_coupons"].tolist() == ["c1;c2", None]
    assert t["interview_time"].tolist() == ["2024-05-01T10:00:00", "2024-05-02T11:30:00"]
    assert recruiter_ids(t).tolist() == [None, "A"]


def test_yaml_mapping_needs_pyyaml_or_works(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("columns:\n  respondent_id: code\n")
    try:
        import yaml  # noqa: F401
    except ImportError:
        with pytest.raises(InputFileError, match="PyYAML"):
            read_referral_log(DAY1, mapping=p)


# --------------------------------------------------------------------------- validation rules
HEAD = "respondent_id,redeemed_coupon,issued_coupons,recruiter_id,point_id,network_size,network_size_eligible,interview_time\n"
OK_SEED = "S,,c1;c2,,P1,5,2,2024-05-01T10:00\n"
BAD = {  # rule -> (rows after the header, expected row number of the problem)
    "missing-id": (OK_SEED + ",c1,,,,3,,2024-05-02T10:00\n", 3),
    "duplicate-id": (OK_SEED + "S,c1,,,,3,,2024-05-02T10:00\n", 3),
    "coupon-issued-twice": (OK_SEED + "A,c1,c2,,,3,,2024-05-02T10:00\n", 3),  # c2 unredeemed: a warning
    "coupon-issuer-ambiguous": (OK_SEED + "A,c1,c2,,,3,,2024-05-02T10:00\nB,c2,,,,3,,2024-05-02T11:00\n", 4),
    "coupon-repeated-on-form": ("S,,c1;c1,,P1,5,,2024-05-01T10:00\n", 2),
    "coupon-spelling-differs": ("S,,0101;c2,,P1,5,,2024-05-01T10:00\nA,101.0,,,,3,,2024-05-02T10:00\n", 3),
    "coupon-never-issued": (OK_SEED + "A,c9,,,,3,,2024-05-02T10:00\n", 3),
    "coupon-redeemed-twice": (OK_SEED + "A,c1,,,,3,,2024-05-02T10:00\nB,c1,,,,3,,2024-05-02T11:00\n", 4),
    "self-recruitment": ("S,c1,c1,,P1,5,,2024-05-01T10:00\n", 2),
    "unknown-recruiter": (OK_SEED + "A,,,Z,,3,,2024-05-02T10:00\n", 3),
    "recruiter-mismatch": (OK_SEED + "B,,c5,S,,3,,2024-05-02T10:00\nA,c1,,B,,3,,2024-05-02T10:00\n", 4),
    "recruitment-cycle": (OK_SEED + "A,c7,c8,,,3,,2024-05-02T10:00\nB,c8,c7,,,3,,2024-05-02T10:00\n", 3),
    "seed-without-point": ("S,,c1,,,5,,2024-05-01T10:00\n", 2),
    "time-not-iso": (OK_SEED + "A,c1,,,,3,,02/05/2024 10:00\n", 3),
    "network-size-not-number": (OK_SEED + "A,c1,,,,ten,,2024-05-02T10:00\n", 3),
    "network-size-negative": (OK_SEED + "A,c1,,,,-3,,2024-05-02T10:00\n", 3),
    "time-missing": (OK_SEED + "A,c1,,,,3,,\n", 3),
    "recruit-before-recruiter": (OK_SEED + "A,c1,,,,3,,2024-04-30T10:00\n", 3),
    "more-recruits-than-coupons": ("S,,c1,,P1,5,,2024-05-01T10:00\nA,c1,,,,3,,2024-05-02T10:00\n"
                                   "B,,,S,,3,,2024-05-02T10:00\n", 2),
    "more-coupons-than-allowed": ("S,,c1;c2;c3;c4,,P1,5,,2024-05-01T10:00\n", 2),
    "network-size-missing": (OK_SEED + "A,c1,,,,,,2024-05-02T10:00\n", 3),
    "network-size-zero": (OK_SEED + "A,c1,,,,0,,2024-05-02T10:00\n", 3),
    "network-size-not-whole": (OK_SEED + "A,c1,,,,2.5,,2024-05-02T10:00\n", 3),
    "network-size-implausible": (OK_SEED + "A,c1,,,,5000,,2024-05-02T10:00\n", 3),
    "network-size-below-recruits": ("S,,c1;c2,,P1,1,,2024-05-01T10:00\nA,c1,,,,3,,2024-05-02T10:00\n"
                                    "B,c2,,,,3,,2024-05-02T10:00\n", 2),
    "eligible-above-network-size": (OK_SEED + "A,c1,,,,3,7,2024-05-02T10:00\n", 3),
}


# rules that apply once the store has printed coupons (`hiddenpop field coupons`): 100014 and 100023
# are printed (serials 10001-2 with their Damm digits); 100041 swaps two digits of 100014, 999999 is a
# valid number (serial 99999, check digit 9) that was never printed
PRINTED = frozenset({"100014", "100023"})
BAD_PRINTED = {
    "coupon-check-digit": ("S,,100014;100023,,P1,5,2,2024-05-01T10:00\nA,100041,,,,3,,2024-05-02T10:00\n", 3),
    "coupon-not-printed": ("S,,100014;999999,,P1,5,2,2024-05-01T10:00\n", 2),
}


def test_every_rule_has_a_bad_file_test():
    assert set(BAD) | set(BAD_PRINTED) | {"recruiter-quarantined"} == set(RULES)


@pytest.mark.parametrize("rule", sorted(BAD_PRINTED))
def test_printed_coupon_rules_report_row_column_value_and_fix(tmp_path, rule):
    body, row = BAD_PRINTED[rule]
    p = tmp_path / f"{rule}.csv"
    p.write_text(HEAD + body)
    problems = validate_log(read_referral_log(p), printed_coupons=PRINTED)
    hits = [q for q in problems if q.rule == rule]
    assert len(hits) == 1 and hits[0].row == row and "Fix:" in str(hits[0]), [str(q) for q in problems]
    # without printed coupons (older stores) the same numbers are not checked
    assert not [q for q in validate_log(read_referral_log(p)) if q.rule == rule]


def test_printed_coupon_rules_check_numbers_as_matched_and_soften_under_finished(tmp_path):
    # the rules by harm match 01901 = 1901 and 100014.0 = 100014 (coupon-spelling-differs); the printed-coupon
    # check must see the same numbers: a number already in the data as typed ('01901', a legacy book number)
    # stays valid, a spreadsheet's '.0' is no typing error, and a wrong check digit is reported as typed.
    # 100041 swaps two digits of 100014 (a Damm check digit rejects every adjacent transposition)
    p = tmp_path / "log.csv"
    p.write_text(HEAD + "S,,01901;100014;100023,,P1,5,2,2024-05-01T10:00\nA,01901,,,,3,,2024-05-02T10:00\n"
                 "B,100014.0,,,,3,,2024-05-02T11:00\nC,0100041,,,,3,,2024-05-02T12:00\n")
    known = PRINTED | {"01901"}
    field = validate_log(read_referral_log(p), printed_coupons=known)
    assert [(q.respondent_id, q.rule, q.severity, q.value) for q in field] == [
        ("B", "coupon-spelling-differs", "warning", "100014.0"),
        ("C", "coupon-check-digit", "error", "0100041"),
        ("C", "coupon-never-issued", "error", "0100041")]
    # a finished study lands every row: both printed-coupon rules are warnings that say what was done
    p.write_text(HEAD + "S,,100014;999999,,P1,5,2,2024-05-01T10:00\nC,100041,,,,3,,2024-05-02T12:00\n")
    fin = validate_log(read_referral_log(p), printed_coupons=PRINTED, rules="finished")
    assert [(q.respondent_id, q.rule, q.severity) for q in fin] == [
        ("S", "coupon-not-printed", "warning"), ("C", "coupon-check-digit", "warning"),
        ("C", "coupon-never-issued", "warning")]
    assert all("kept as typed" in q.message for q in fin if q.rule in ("coupon-not-printed", "coupon-check-digit"))
    assert {q.rule for q in validate_log(read_referral_log(p), printed_coupons=PRINTED) if q.severity == "error"} \
        == {"coupon-not-printed", "coupon-check-digit", "coupon-never-issued"}


@pytest.mark.parametrize("rule", sorted(BAD))
def test_validation_rule_reports_row_column_value_and_fix(tmp_path, rule):
    body, row = BAD[rule]
    p = tmp_path / f"{rule}.csv"
    p.write_text(HEAD + body)
    problems = validate_log(read_referral_log(p), design_requires_point=True, max_coupons=3)
    hits = [q for q in problems if q.rule == rule]
    assert hits, [str(q) for q in problems]
    assert hits[0].row == row and hits[0].source == str(p)
    # the column is named as in the user's file (here the canonical names), and shown in the message
    assert hits[0].column in HEAD.strip().split(",") and f"column '{hits[0].column}'" in str(hits[0])
    assert str(p) in str(hits[0]) and "Fix:" in str(hits[0])
    # the clean seed alone has no problem at all
    clean = tmp_path / "clean.csv"
    clean.write_text(HEAD + OK_SEED)
    assert validate_log(read_referral_log(clean), design_requires_point=True, max_coupons=3) == []


def test_quarantine_cascades_and_strict_lands_nothing(tmp_path):
    p = tmp_path / "log.csv"
    # A is fine; B redeemed an unknown coupon (error); C was recruited by B (cascade); D by A
    p.write_text(HEAD + OK_SEED + "A,c1,c5,,,3,,2024-05-02T10:00\nB,c9,c6,,,3,,2024-05-02T10:00\n"
                 "C,c6,,,,3,,2024-05-03T10:00\nD,c5,,,,3,,2024-05-03T10:00\n")
    st = ReferralStore.create(tmp_path / "s.db")
    before = st.dump()
    r = st.import_file(p, strict=True)
    assert not r.landed
    assert st.respondents().empty and st.imports()["status"].tolist() == ["refused"]
    r = st.import_file(p)
    assert r.landed and r.n_new == 3 and r.n_quarantined == 2
    assert st.respondents()["respondent_id"].tolist() == ["S", "A", "D"]
    q = st.quarantine()
    assert set(q["rule"]) == {"coupon-never-issued", "recruiter-quarantined"}
    assert before != st.dump()


# ------------------------------------------------------------------------------- store semantics
def test_idempotent_cumulative_imports_conflicts_and_history(tmp_path):
    st = ReferralStore.create(tmp_path / "s.db")
    # 32 and 137: the data rows of the bundled example_day1.csv and example_day2.csv (wc -l minus the header)
    assert st.import_file(DAY1, mapping=MAPPING).n_new == 32
    dump = st.dump()
    assert st.import_file(DAY1, mapping=MAPPING).already_imported
    assert st.dump() == dump  # a re-import adds nothing, not even an import record
    r2 = st.import_file(DAY2, mapping=MAPPING)
    assert (r2.n_new, r2.n_unchanged) == (137 - 32, 32)  # day2 is the cumulative export
    # a later export where the team edited one stored row: reported, not applied
    edited = pd.read_csv(DAY2, dtype=str, keep_default_na=False)
    edited.loc[0, "group_net/q_know"] = "11"
    edited.to_csv(tmp_path / "day3.csv", index=False)
    r3 = st.import_file(tmp_path / "day3.csv", mapping=MAPPING)
    assert r3.n_conflicts == 1 and r3.n_new == 0
    rid = edited.loc[0, "group_hh/resp_code"]
    # the conflicting edit is not applied: the stored value is still the one in example_day2.csv
    assert st.respondents().set_index("respondent_id").loc[rid, "network_size"] == \
        int(pd.read_csv(DAY2, dtype=str).loc[0, "group_net/q_know"])
    edited.to_csv(tmp_path / "day3b.csv", index=False, lineterminator="\r\n")  # same rows, new checksum
    r4 = st.import_file(tmp_path / "day3b.csv", mapping=MAPPING, accept_changes=True)
    assert r4.n_changed == 1
    assert st.respondents().set_index("respondent_id").loc[rid, "network_size"] == 11  # the edit made above
    h = st.history(rid)
    assert h["action"].tolist() == ["import", "import-change"] and h["revision"].tolist() == [1, 2]


def test_corrections_keep_history_and_refuse_breaking_changes(tmp_path):
    st = ReferralStore.create(tmp_path / "s.db")
    st.import_file(DAY2, mapping=MAPPING)
    st.correct("R0005", {"network_size": "9"}, reason="re-asked")
    assert st.respondents().set_index("respondent_id").loc["R0005", "network_size"] == 9
    assert st.history("R0005")["action"].tolist() == ["import", "correct"]
    other = st.respondents().iloc[1]
    with pytest.raises(RecruitmentError, match="refused"):
        st.correct("R0005", {"respondent_id": other["respondent_id"]}, reason="typo")
    with pytest.raises(RecruitmentError, match="reason"):
        st.correct("R0005", {"network_size": "3"}, reason=" ")
    # the corrected row's original version in tomorrow's export is not a conflict
    again = pd.read_csv(DAY2, dtype=str, keep_default_na=False)
    again.to_csv(tmp_path / "same.csv", index=False, lineterminator="\r\n")
    assert st.import_file(tmp_path / "same.csv", mapping=MAPPING).n_conflicts == 0
    leaf = st.respondents().query("n_recruits == 0").iloc[0]["respondent_id"]
    st.withdraw(leaf, reason="entered twice")
    assert leaf not in st.respondents()["respondent_id"].tolist()
    with pytest.raises(RecruitmentError, match="recruited"):
        st.withdraw("R0002", reason="x")


def test_personal_fields_only_as_salted_hashes(tmp_path):
    st = ReferralStore.create(tmp_path / "s.db")
    st.import_file(DAY2, mapping=MAPPING)
    phones = pd.read_csv(DAY2, dtype=str)["phone"]
    blob = (tmp_path / "s.db").read_bytes()
    assert not any(ph.encode() in blob for ph in phones)
    t = st.respondents(include_personal_hashes=True)
    assert "phone" not in t.columns and t["_hash_phone"].str.len().eq(64).all()
    st2 = ReferralStore.create(tmp_path / "s2.db")  # another store has another salt
    st2.import_file(DAY2, mapping=MAPPING)
    assert (st2.respondents(include_personal_hashes=True)["_hash_phone"] != t["_hash_phone"]).all()
    from hiddenpop.io.referrals import weighting_table
    assert not any(c in weighting_table(st.respondents()).columns for c in ("phone", "_hash_phone", "lon", "lat"))


def test_kill_during_import_leaves_store_unchanged(tmp_path):
    st = ReferralStore.create(tmp_path / "s.db")
    st.import_file(DAY1, mapping=MAPPING)
    before = st.dump()
    env = dict(os.environ, **{TEST_SLEEP_ENV: "30"})
    code = ("from hiddenpop.io.store import ReferralStore; import sys; "
            "ReferralStore.open(sys.argv[1]).import_file(sys.argv[2], mapping=sys.argv[3])")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "s.db"), str(DAY2), str(MAPPING)], env=env)
    journal = tmp_path / "s.db-journal"
    deadline = time.time() + 30
    while not journal.exists() and time.time() < deadline:  # the transaction has started writing
        time.sleep(0.05)
    time.sleep(0.3)
    assert journal.exists() and proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert st.dump() == before  # hot journal rolled back on open: nothing of the import is left
    r = st.import_file(DAY2, mapping=MAPPING)
    assert r.n_new == 137 - 32 and not r.already_imported  # day2's rows not already stored from day1
    assert st.import_file(DAY2, mapping=MAPPING).already_imported


# ------------------------------------------------------------------------------ graph & status
def test_graph_schema_and_coupon_timing():
    t = read_referral_log(DAY2, mapping=MAPPING)
    G = build_graph(t)
    assert nx.is_branching(G) and G.number_of_nodes() == 137  # one node per data row of example_day2.csv
    node = G.nodes["R0002"]
    for key in ("wave", "seed_id", "chain_size", "n_recruits", "coupons_issued", "coupons_redeemed",
                "return_rate", "days_to_redemption", "registered"):
        assert key in node
    assert "phone" not in node
    # R0002 issued 3 coupons; return rate = recruits / 3
    assert node["return_rate"] == pytest.approx(G.out_degree("R0002") / 3)
    u, v = next(iter(G.edges("R0002")))
    dt = (pd.Timestamp(G.nodes[v]["interview_time"]) - pd.Timestamp(node["interview_time"])).total_seconds() / 86400
    assert G.edges[u, v]["days_to_redemption"] == pytest.approx(dt)


def test_coupon_status_and_reminders():
    t = pd.DataFrame({"respondent_id": ["A", "B"], "redeemed_coupon": [None, "a1"], "issued_coupons": ["a1;a2;a3", "b1"],
                      "interview_time": ["2024-05-01T00:00", "2024-05-09T00:00"], "wave": [0, 1], "seed_id": ["A", "A"]})
    ct = coupon_table(t, expiry_days=7, as_of="2024-05-10T00:00")
    # a2, a3 issued 9 days before as_of > 7 → expired; b1 1 day → outstanding
    assert dict(zip(ct["coupon"], ct["status"])) == {"a1": "redeemed", "a2": "expired", "a3": "expired",
                                                     "b1": "outstanding"}
    assert ct.loc[ct["coupon"] == "a1", "days_to_redemption"].item() == 8.0
    rem = reminder_list(t, expiry_days=7, as_of="2024-05-10T00:00")
    assert rem["recruiter_id"].tolist() == ["B", "A"] and rem["expired"].tolist() == [0, 2]
    # a raw log has no waves yet: the error names the table, the missing column and the fix
    raw = t.drop(columns=["wave"])
    raw.attrs["source"] = "log.csv"
    with pytest.raises(RecruitmentError, match=r"log.csv: missing derived column\(s\) 'wave'.*respondents\(\)"):
        recruitment_by_seed(raw)
    # the status report matches the coupons once and passes the table to both: same results
    assert reminder_list(t, expiry_days=7, as_of="2024-05-10T00:00", coupons=ct).equals(rem)
    assert status_summary(t, expiry_days=7, as_of="2024-05-10T00:00", coupons=ct) == \
        status_summary(t, expiry_days=7, as_of="2024-05-10T00:00")


def test_homophily_and_convergence_by_hand():
    # recruitments: x→x, x→x, x→y, y→y. P_x = 2/4, S_x = 2/3 → H_x = (2/3-1/2)/(1/2) = 1/3;
    # P_y = 2/4, S_y = 1 → H_y = 1.
    t = pd.DataFrame({"respondent_id": list("ABCDE"), "recruiter_id": [None, "A", "A", "A", "D"],
                      "wave": [0, 1, 1, 1, 2], "seed_id": list("AAAAA"), "g": ["x", "x", "x", "y", "y"]})
    h = recruitment_homophily(t, "g").set_index("level")
    assert h.loc["x", "homophily"] == pytest.approx(1 / 3) and h.loc["y", "homophily"] == pytest.approx(1.0)
    c = cumulative_composition(t, "g")
    assert c["x"].tolist() == pytest.approx([1.0, 0.75, 0.6])  # 1/1, 3/4, 3/5


# --------------------------------------------------------------------------------------- CLI
def test_cli_daily_loop(tmp_path, runner):
    s = str(tmp_path / "survey.hpstore")
    assert runner.invoke(main, ["referrals", "init", s, "--expiry-days", "7", "--requires-point"]).exit_code == 0
    assert runner.invoke(main, ["referrals", "init", s]).exit_code == 1  # never clobbers
    r = runner.invoke(main, ["referrals", "import", s, str(DAY1), "--mapping", str(MAPPING)])
    assert r.exit_code == 0 and "32 new" in r.output
    r = runner.invoke(main, ["referrals", "import", s, str(DAY2), "--mapping", str(MAPPING)])
    assert r.exit_code == 0 and "105 new" in r.output
    r = runner.invoke(main, ["referrals", "import", s, str(DAY2), "--mapping", str(MAPPING)])
    assert "already imported" in r.output
    r = runner.invoke(main, ["referrals", "status", s, "--as-of", "2024-05-12T00:00+03:00"])
    assert r.exit_code == 0 and "respondents 137" in r.output and "reminder calls" in r.output
    for kind in ("tree", "convergence", "bottleneck"):
        r = runner.invoke(main, ["referrals", "plot", s, "--kind", kind, "--var", "registered",
                                 "-o", str(tmp_path / f"{kind}.png")])
        assert r.exit_code == 0 and (tmp_path / f"{kind}.png").stat().st_size > 1000
    for fmt in ("csv", "rdsat", "rds-csv", "graphml", "json", "events"):
        r = runner.invoke(main, ["referrals", "export", s, "--format", fmt, "-o", str(tmp_path / f"o.{fmt}")])
        assert r.exit_code == 0, r.output
        assert b"phone" not in (tmp_path / f"o.{fmt}").read_bytes()
    hh = pd.read_csv(tmp_path / "o.csv")
    assert list(hh.columns[:11]) == ["hh_id", "found_by", "point_id", "recruiter_id", "network_size",
                                     "network_size_eligible", "referrals_given", "coupons_redeemed",
                                     "interview_time", "wave", "seed_id"]
    r = runner.invoke(main, ["referrals", "correct", s, "R0005", "--set", "network_size=9", "--reason", "re-asked"])
    assert r.exit_code == 0
    r = runner.invoke(main, ["referrals", "history", s])
    assert r.exit_code == 0 and "re-asked" in r.output and "example_day2.csv" in r.output
    r = runner.invoke(main, ["referrals", "plot", s, "--kind", "convergence", "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 2


def test_cli_validate_exit_codes(tmp_path, runner):
    p = tmp_path / "bad.csv"
    p.write_text(HEAD + BAD["coupon-never-issued"][0])
    r = runner.invoke(main, ["referrals", "validate", str(p)])
    assert r.exit_code == 1 and "row 3, column 'redeemed_coupon', value 'c9'" in r.output
    assert "Traceback" not in r.output + r.stderr
    p.write_text(HEAD + OK_SEED)
    assert runner.invoke(main, ["referrals", "validate", str(p)]).exit_code == 0
    r = runner.invoke(main, ["referrals", "import", str(tmp_path / "nostore.db"), str(p)])
    assert r.exit_code == 1 and "referrals init" in r.stderr
