"""Privacy of every export format, and the coordinator's daily loop on the bundled example logs."""
import json
from pathlib import Path

import pytest

from hiddenpop.cli import main
from hiddenpop.errors import RecruitmentError
from hiddenpop.io.store import ReferralStore

EXAMPLE_LOGS = sorted((Path(__file__).resolve().parents[2] / "examples" / "data").glob("referral_log_*.csv"))

# three households with names, phone numbers and exact coordinates (made up for this test)
PERSONAL_LOG = (
    "respondent_id,redeemed_coupon,issued_coupons,point_id,network_size,interview_time,full_name,phone,lon,lat,"
    "registered,enumerator\n"
    "A,,c1;c2,P1,4,2024-05-01T10:00,Amina Yusuf,+254700111222,36.812345,-1.283456,1,team-a\n"
    "B,c1,c3,,3,2024-05-02T09:00,Omar Farah,0722 333 444,36.823456,-1.294567,0,team-b\n"
    "C,c2,,,5,2024-05-02T11:00,Leila Hassan,0733555666,36.834567,-1.305678,1,team-a\n")
# every name, phone number and coordinate of PERSONAL_LOG, as bytes to search for in the outputs
SECRETS = [b"Amina", b"Yusuf", b"Omar", b"Farah", b"Leila", b"Hassan", b"700111222", b"0722 333 444",
           b"0733555666", b"36.81", b"36.82", b"36.83", b"-1.28", b"-1.29", b"-1.30"]


def _invoke(runner, args, code=0):
    r = runner.invoke(main, [str(a) for a in args])
    assert r.exit_code == code, r.output + str(r.exception)
    return r


def test_no_output_format_holds_names_phones_or_coordinates(tmp_path, runner):
    log = tmp_path / "log.csv"
    log.write_text(PERSONAL_LOG)
    s = tmp_path / "s.db"
    _invoke(runner, ["referrals", "init", s])
    _invoke(runner, ["referrals", "import", s, log])
    outputs = {}
    for fmt in ("csv", "rdsat", "rds-csv", "graphml", "json", "events"):
        out = tmp_path / f"out.{fmt}"
        _invoke(runner, ["referrals", "export", s, "--format", fmt, "-o", out])
        outputs[fmt] = out.read_bytes()
    rem = tmp_path / "calls.csv"
    outputs["status"] = _invoke(runner, ["referrals", "status", s, "--as-of", "2024-05-20", "--reminders",
                                         rem]).output.encode()
    outputs["reminders"] = rem.read_bytes()
    outputs["status --json"] = _invoke(runner, ["referrals", "status", s, "--json"]).output.encode()
    outputs["history --json"] = _invoke(runner, ["referrals", "history", s, "--json"]).output.encode()
    outputs["history A"] = _invoke(runner, ["referrals", "history", s, "--respondent", "A", "--json"]).output.encode()
    for kind in ("tree", "convergence", "bottleneck"):
        png = tmp_path / f"{kind}.png"
        _invoke(runner, ["referrals", "plot", s, "--kind", kind, "--var", "registered", "-o", png])
        outputs[kind] = png.read_bytes()
    assert len(outputs) == 14  # 6 export formats, status (text, json, call list), history (2), 3 plots
    for name, data in outputs.items():
        assert data, name
        for secret in SECRETS:
            assert secret not in data, f"{secret!r} found in {name}"
    # the data are there otherwise: 3 households, the team, the outcome
    assert b"team-a" in outputs["csv"] and outputs["csv"].count(b"\n") == 4
    # whom to ask: B (coupon c3 still out; A's coupons c1, c2 came back), met by team-b, not a number
    assert outputs["reminders"].splitlines()[1].startswith(b"B,team-b,A,")
    # a personal column cannot be used to colour a plot either
    r = _invoke(runner, ["referrals", "plot", s, "--kind", "tree", "--var", "phone", "-o", tmp_path / "x.png"], code=1)
    assert "personal field" in r.output and not (tmp_path / "x.png").exists()
    r = _invoke(runner, ["referrals", "plot", s, "--kind", "tree", "--var", "regstered", "-o", tmp_path / "x.png"],
                code=1)
    assert "no column 'regstered'" in r.output and "choose one of registered, enumerator" in r.output
    # coordinates only when asked for
    _invoke(runner, ["referrals", "export", s, "--format", "json", "--include-location", "-o", tmp_path / "loc.json"])
    assert b"36.812345" in (tmp_path / "loc.json").read_bytes()
    # and the store itself keeps no name or phone in clear (coordinates are kept, for --include-location)
    assert not any(x in s.read_bytes() for x in SECRETS[:9])  # the names and phone numbers


@pytest.fixture
def field_store(tmp_path, runner):
    s = tmp_path / "field.hpstore"
    _invoke(runner, ["referrals", "init", s, "--expiry-days", "14", "--max-coupons", "2"])
    for log, code in zip(EXAMPLE_LOGS, (0, 3, 3)):  # days 2 and 3 quarantine rows: exit code 3
        _invoke(runner, ["referrals", "import", s, log], code=code)
    return s


def test_status_reads_in_80_columns_with_a_call_list_by_team(field_store, runner):
    assert len(EXAMPLE_LOGS) == 3
    rem = field_store.parent / "calls.csv"
    out = _invoke(runner, ["referrals", "status", field_store, "--as-of", "2024-03-20T00:00", "--reminders",
                           rem]).output
    lines = out.splitlines()
    # the first and the "wrote" lines name files as typed (a long path may run over); everything else fits
    long = [x for x in lines[1:] if len(x) > 80 and not x.startswith("wrote ")]
    assert not long, long
    assert "coupons:" in out and "came back" in out
    # the call list: who to call (respondent id) and which team met them, never a phone number
    head = next(i for i, x in enumerate(lines) if x.startswith("reminder calls"))
    assert lines[head + 2].split() == ["call", "team", "seed", "out", "coupons", "days"]
    first = lines[head + 3].split()
    assert first[1].startswith("team-")
    assert "look" in lines[head + 1] and "phone" in lines[head + 1]
    # the quarantined rows of the last import with column, value and what to do
    assert "referral/redeemed_coupon '100203'" in out and "what to do (coupon-never-issued)" in out
    # the waiting row is listed with its file and row
    assert "respondent R09002: referral_log_2024-03-06.csv, row 171" in out


def test_validate_a_daily_file_against_the_store(tmp_path, runner):
    # day 3 alone: its recruits redeem coupons issued on days 1-2 → reported as never issued, with a hint
    alone = _invoke(runner, ["referrals", "validate", EXAMPLE_LOGS[2]], code=1).output
    assert "--store" in alone and "more coupon-never-issued" in alone
    s = tmp_path / "s.db"
    _invoke(runner, ["referrals", "init", s])
    for log, code in zip(EXAMPLE_LOGS[:2], (0, 3)):  # day 2 quarantines a duplicate: exit code 3
        _invoke(runner, ["referrals", "import", s, log], code=code)
    before = ReferralStore(s).dump()
    checked = _invoke(runner, ["referrals", "validate", EXAMPLE_LOGS[2], "--store", s], code=1).output
    # of the deliberate faults of day 3 (examples/make_example.py) one is an error: the mistyped coupon '100203'
    # (two digits swapped) on row 171; the coupon redeemed twice on row 170 (one issuer) is a warning, both recruits
    # are linked to that issuer (rules by harm); and the implausible size 950 on row 172 is a warning
    errors = [x for x in checked.splitlines() if x.startswith("ERROR")]
    assert len(errors) == 1 and "row 171" in errors[0] and "'100203'" in errors[0]
    assert any(x.startswith("WARNING") and "row 170" in x and "also redeemed" in x for x in checked.splitlines())
    assert "value 950" in checked
    assert ReferralStore(s).dump() == before  # a dry run


def test_history_shows_changes_and_correct_refuses_unknown_columns(field_store, runner):
    st = ReferralStore(field_store)
    with pytest.raises(RecruitmentError, match="no column 'netwrk_size'"):
        st.correct("R00269", {"netwrk_size": "9"}, reason="typo")
    _invoke(runner, ["referrals", "correct", field_store, "R00269", "--set", "network_size=95", "--reason",
                     "extra digit"])
    old = st.history("R00269")
    assert old["action"].tolist() == ["import", "correct"]
    before = json.loads(old["data"].iloc[0])["network_size"]
    out = _invoke(runner, ["referrals", "history", field_store, "--respondent", "R00269"]).output
    assert f"network_size: {int(before)} -> 95" in out and "extra digit" in out
    out = _invoke(runner, ["referrals", "history", field_store]).output
    assert all(len(x) <= 80 for x in out.splitlines())
    assert "R00269" in out and "referral_log_2024-03-04.csv" in out
