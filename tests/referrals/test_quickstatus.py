"""`referrals status` without pandas: the plain-Python route against the DataFrame route.

Expected numbers come from two independent routes that must agree: the DataFrame functions of
hiddenpop.referrals.fieldstatus/coupons/households (`status_data(..., tables=True)`, the route
`referrals status` took before) and the plain rows of hiddenpop.referrals.quickstatus
(`tables=False`), on the bundled example's three field days and on stores with the quirks of real
field logs (tests/referrals/data: a Kobo export over 10 days with teams and expiring coupons, the
finished quirks study and study264 imported with --rules finished, the quirks study in the field
loop with quarantined rows). The table printer is compared with pandas' own `to_string`.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hiddenpop.cli import main
from hiddenpop.commands.referrals import _frame_text, status_data
from hiddenpop.referrals import quickstatus

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
EXAMPLE = ROOT / "examples" / "data"

STORES = {
    "example": ([], [[f] for f in sorted(EXAMPLE.glob("referral_log_*.csv"))]),
    "kobo-10-days": (["--expiry-days", "3"], [[DATA / "example_day1.csv", "--mapping", DATA / "team_mapping.toml"],
                                               [DATA / "example_day2.csv", "--mapping", DATA / "team_mapping.toml"]]),
    "quirks-finished": ([], [[DATA / "quirks.rdsat", "--rules", "finished"]]),
    "study264-finished": (["--expiry-days", "10"], [[DATA / "study264.rdsat", "--rules", "finished"]]),
    "quirks-field": ([], [[DATA / "quirks_rds.csv"]]),
    "quirks-kobo-field": (["--expiry-days", "1"], [[DATA / "quirks_kobo.csv", "--mapping", DATA / "quirks_kobo.toml"]]),
}


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    from click.testing import CliRunner

    runner, folder, out = CliRunner(), tmp_path_factory.mktemp("stores"), {}
    for name, (init, imports) in STORES.items():
        s = folder / f"{name}.db"
        assert runner.invoke(main, ["referrals", "init", str(s), *init]).exit_code == 0
        for args in imports:
            r = runner.invoke(main, ["referrals", "import", str(s), *map(str, args)])
            assert r.exit_code in (0, 3), r.output    # 3: some rows quarantined (the quirks)
        out[name] = s
    return out


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def same_values(a, b) -> bool:
    """Plain rows equal: floats to 1e-12, NaN and None alike where one side is a float, dicts on the
    keys of ``a`` (shared with test_quickstatus_property.py)."""
    if _missing(a) and _missing(b) and (isinstance(a, float) or isinstance(b, float)):
        return True     # NaN in plain rows, pandas' <NA> (None) in a Float64 column: both print NaN
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() <= b.keys() and all(same_values(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_values(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return a == b


@pytest.mark.parametrize("name", list(STORES))
@pytest.mark.parametrize("opts", [{}, {"as_of": "2024-03-05"}, {"stall_days": 0.5},
                                  {"as_of": "2030-01-01T00:00"}])
def test_plain_route_agrees_with_the_dataframe_route(stores, name, opts, monkeypatch):
    # the plain route must really run here (no silent fall-back to the DataFrame route)
    monkeypatch.setattr(quickstatus, "NeedsTables", type("Unexpected", (BaseException,), {}))
    plain = status_data(str(stores[name]), **opts)
    monkeypatch.undo()
    tables = status_data(str(stores[name]), tables=True, **opts)
    assert plain["reminder_table"] is None and tables["reminder_table"] is not None
    for part in ("summary", "by_wave", "by_seed", "pending", "duplicates"):
        assert same_values(plain[part], tables[part]), (part, plain[part], tables[part])
    # reminders: the columns of the plain rows (interview_time and point_id are only in the CSV file)
    assert (plain["reminders"] is None) == (tables["reminders"] is None)
    if plain["reminders"] is not None:
        t = [{k: (None if isinstance(v, float) and k == "team" and math.isnan(v) else v) for k, v in r.items()}
             for r in tables["reminders"]]
        assert same_values(plain["reminders"], t)
    q = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
         for r in tables["quarantine"]]
    assert same_values(plain["quarantine"], q)


def test_the_stores_exercise_what_the_status_shows(stores):
    # the comparison above means something only if these stores have stalled chains, expired
    # coupons, quarantined and waiting rows, teams and a finished-study linking between them
    datas = {n: status_data(str(s), stall_days=0.5) for n, s in stores.items()}
    assert any(r["state"] == "stalled" for d in datas.values() for r in d["by_seed"] or [])
    assert any(d["summary"].get("coupons_expired") for d in datas.values())
    assert any(d["quarantine"] for d in datas.values()) and any(d["pending"] for d in datas.values())
    assert any(r["team"] for d in datas.values() for r in d["reminders"] or [])
    assert datas["example"]["summary"]["respondents"] == 506   # docs/simulation.md: 506 interviews in the store


@pytest.mark.parametrize("name", list(STORES))
def test_status_text_is_the_same_on_both_routes(stores, name, runner, tmp_path):
    # `--reminders` takes the DataFrame route (it writes a table); the printed report is the same
    # apart from the lines that name the file
    plain = runner.invoke(main, ["referrals", "status", str(stores[name]), "--stall-days", "0.5"])
    tables = runner.invoke(main, ["referrals", "status", str(stores[name]), "--stall-days", "0.5",
                                  "--reminders", str(tmp_path / "calls.csv")])
    assert plain.exit_code == 0 and tables.exit_code == 0

    def cut(text):
        return [ln for ln in text.replace(" (in the --reminders file)", " (write them all with --reminders calls.csv)")
                .replace(" (listed in the --reminders file)", "").splitlines() if not ln.startswith("wrote ")]

    assert cut(plain.output) == cut(tables.output)


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"wave": [0, 1], "respondents": [379, 127], "coupons_issued": pd.array([418, None], dtype="Int64"),
                  "return_rate": [0.3, float("nan")]}),
    pd.DataFrame({"call": ["R00005", "R1"], "team": ["team-a", ""], "out": [2, 10], "days": [2.4, 12.25]}),
    pd.DataFrame({"seed": ["7"], "respondents": [3], "days_quiet": [float("nan")]}),
    pd.DataFrame({"a": ["x", "yyy"], "b": [1.0, 2.0], "c": [100.5, -2.25], "d": [-1, 0]}),
    pd.DataFrame({"respondent_id": ["R1", "R22"], "same_as": ["R9", "R10"], "field": ["phone", "phone"]}),
])
def test_table_printer_matches_pandas(frame):
    rows = [[None if v is pd.NA else (v.item() if hasattr(v, "item") else v) for v in r]
            for r in frame.astype(object).itertuples(index=False)]
    assert _frame_text(list(frame.columns), rows) == frame.to_string(index=False)


def test_referrals_status_imports_neither_pandas_nor_numpy(stores):
    code = ("import sys\nfrom click.testing import CliRunner\nfrom hiddenpop.cli import main\n"
            f"r = CliRunner().invoke(main, ['referrals', 'status', {str(stores['example'])!r}])\n"
            "assert r.exit_code == 0, r.output\nassert 'reminder calls' in r.output\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'numpy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_time_that_is_not_iso_8601_goes_to_the_dataframe_route():
    with pytest.raises(quickstatus.NeedsTables):
        quickstatus.parse_time("5 March 2024")


def test_as_of_that_is_not_a_date_is_a_usage_error(stores, runner):
    # was an internal error (pandas' DateParseError) on both routes
    r = runner.invoke(main, ["referrals", "status", str(stores["example"]), "--as-of", "yesterday"])
    assert r.exit_code == 2 and "'yesterday' is not an ISO 8601 date or time" in r.output
