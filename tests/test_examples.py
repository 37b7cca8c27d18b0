"""The bundled example: its deliberate errors are caught, everything else is valid; the demo runs."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hiddenpop.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"
LOGS = sorted(DATA.glob("referral_log_*.csv"))


def test_example_files_are_small_and_complete():
    names = {p.name for p in DATA.iterdir()}
    assert {"frame.geojson", "exclusion.geojson", "households.csv", "children.csv", "margins.csv",
            "selections.csv"} <= names
    assert len(LOGS) == 3
    hh = pd.read_csv(DATA / "households.csv")
    assert 200 <= len(hh) <= 600                       # "a few hundred households"
    assert set(hh["found_by"]) == {"point", "referral"}


def test_store_import_quarantines_exactly_the_deliberate_errors(runner, tmp_path):
    # The generator (examples/make_example.py) adds four errors: a duplicated row (day 2), a coupon
    # redeemed twice (R09001), a mistyped coupon '100203' (two digits of 100023 swapped; R09002), and a network size of 950 (R09003).
    store = tmp_path / "r.db"
    assert runner.invoke(main, ["referrals", "init", str(store)]).exit_code == 0
    outputs = []
    for log, code in zip(LOGS, (0, 3, 3)):  # exit code 3: the good rows landed, some were quarantined
        res = runner.invoke(main, ["referrals", "import", str(store), str(log)])
        assert res.exit_code == code, res.output + res.stderr
        outputs.append(res.output)  # click >= 8.2: output holds stdout and stderr
    text = "\n".join(outputs)
    assert "duplicate respondent id" in outputs[1]
    assert "never issued" in outputs[2] and "'100203'" in outputs[2]
    # rules by harm: R09001 came with a coupon another recruit of the same recruiter brought too; the recruiter
    # is not in doubt, so both are linked to them with a warning (as R and RDSAT do), not quarantined
    assert "also redeemed" in outputs[2]
    assert "950" in outputs[2]                           # implausible network size reported
    assert text.count("ERROR") == 2                       # nothing else is an error
    res = runner.invoke(main, ["referrals", "status", str(store)])
    assert "R09002" in res.output


def test_first_day_is_clean(runner):
    # Day 1 holds only households found at points and the referrals of that day: no error at all.
    res = runner.invoke(main, ["referrals", "validate", str(LOGS[0]), "--requires-point"])
    assert res.exit_code == 0, res.output + res.stderr


def test_households_agree_with_the_logs():
    # Every household record (data-contract §4) is an interview of the logs; the only log rows
    # without a household record are the deliberate errors.
    hh = pd.read_csv(DATA / "households.csv", dtype=str)
    logs = pd.concat([pd.read_csv(p, dtype=str) for p in LOGS])
    extra = set(logs["respondent_id"]) - set(hh["hh_id"])
    assert extra == {"R09001", "R09002", "R09003"}
    assert set(hh["hh_id"]) <= set(logs["respondent_id"])


def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    res = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"), "--out", str(out)],
                         # a guard against a hang, not a speed test: the demo takes about 40 s on an
                         # idle 2-core machine (it prints its own time) but several times that under load
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for name in ("points.gpkg", "points.design.json", "referrals.db", "weights.csv", "weights_calibrated.csv",
                 "estimates_households.csv", "estimates_children.csv", "report.html", "report.md"):
        assert (out / name).exists(), name
    est = pd.read_csv(out / "estimates_children.csv")
    assert est["domain"].str.contains("registered=0").any() and est["se"].notna().all()
    # the field loop at the end: questionnaire with its mapping, one page of coupons (8), the dashboard
    for name in ("survey.xlsx", "survey.mapping.toml", "coupons.pdf", "dashboard.html"):
        assert (out / name).exists(), name
    assert len(re.findall(rb"/Type /Page(?!s)", (out / "coupons.pdf").read_bytes())) == 1   # one page
