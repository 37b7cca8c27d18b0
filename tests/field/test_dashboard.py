"""The coordinator's dashboard: one offline HTML file, checked in headless Chromium."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from hiddenpop.cli import main

ROOT = Path(__file__).resolve().parents[2]
LOGS = sorted((ROOT / "examples" / "data").glob("referral_log_*.csv"))
POINTS = Path(__file__).parent / "data" / "points.csv"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-extensions", "--disable-background-networking", "--hide-scrollbars"]
AS_OF = "2024-03-06T23:59"


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("headless Chromium is not installed")
    return exe


def _invoke(runner, args, code=0):
    r = runner.invoke(main, [str(a) for a in args])
    assert r.exit_code == code, r.output + str(r.exception)
    return r


@pytest.fixture(scope="module")
def example_dashboard(tmp_path_factory):
    from click.testing import CliRunner

    runner = CliRunner()
    d = tmp_path_factory.mktemp("dash")
    store = d / "field.hpstore"
    mapping = d / "survey.mapping.toml"
    _invoke(runner, ["field", "form", POINTS.with_name("points.design.json"), "--points", POINTS, "-o",
                     d / "survey.xlsx"])
    _invoke(runner, ["referrals", "init", store, "--expiry-days", "14", "--max-coupons", "2"])
    for log, code in zip(LOGS, (0, 3, 3)):  # exit code 3: days 2 and 3 quarantine rows
        _invoke(runner, ["referrals", "import", store, log, "--mapping", mapping], code=code)
    html = d / "dashboard.html"
    _invoke(runner, ["referrals", "dashboard", store, "--points", POINTS, "--as-of", AS_OF, "-o", html])
    return store, html


def _figure(page: str, key: str) -> str:
    m = re.search(rf'data-figure="{key}">([^<]*)<', page)
    assert m, key
    return m.group(1)


def test_dashboard_figures_agree_with_the_store(example_dashboard):
    from hiddenpop.io.store import ReferralStore
    from hiddenpop.referrals.coupons import coupon_table

    store, html = example_dashboard
    page = html.read_text(encoding="utf-8")
    t = ReferralStore.open(store).respondents(as_of=AS_OF)
    ct = coupon_table(t, expiry_days=14, as_of=AS_OF)
    # second route for each figure: counted directly from the store's tables
    # 504 households (examples/make_example.py prints "504 households") + R09003, whose network size of
    # 950 is a warning, + R09001 (a coupon redeemed twice, one issuer: a warning under the rules by harm);
    # only R09002 (the mistyped coupon) stays in quarantine: 506
    assert int(_figure(page, "interviews")) == len(t) == 506
    assert int(_figure(page, "seeds")) == int(t["recruiter_id"].isna().sum())
    assert int(_figure(page, "coupons_issued")) == len(ct)
    assert int(_figure(page, "coupons_returned")) == int(ct["redeemed_by"].notna().sum())
    assert _figure(page, "return_rate") == f"{100 * ct['redeemed_by'].notna().mean():.0f}%"
    assert int(_figure(page, "points_visited")) == t["point_id"].dropna().nunique()
    # per day and team: the table row of the first day adds up to that day's interviews
    day1 = int((pd.to_datetime(t["interview_time"]).dt.date.astype(str) == "2024-03-04").sum())
    row = re.search(r"<tr><td>2024-03-04</td>((?:<td>\d+</td>)+)</tr>", page).group(1)
    cells = [int(x) for x in re.findall(r"<td>(\d+)</td>", row)]
    assert sum(cells[:-1]) == cells[-1] == day1
    # the quarantined rows and their messages are listed
    assert "R09002" in page and "coupon-never-issued" in page
    # the self-containment rules: no script, no external resource
    assert "<script" not in page and not re.search(r'(src|href)="(https?:)?//', page)


def test_dashboard_shows_no_names_phones_or_coordinates(tmp_path, runner):
    log = tmp_path / "log.csv"
    log.write_text("respondent_id,redeemed_coupon,issued_coupons,point_id,network_size,interview_time,full_name,"
                   "phone,lon,lat,registered,enumerator\n"
                   "A,,c1;c2,P1,4,2024-05-01T10:00,Amina Yusuf,+254700111222,36.812345,-1.283456,1,team-a\n"
                   "B,c1,c3,,3,2024-05-02T09:00,Omar Farah,0722 333 444,36.823456,-1.294567,0,team-b\n")
    store = tmp_path / "s.db"
    _invoke(runner, ["referrals", "init", store])
    _invoke(runner, ["referrals", "import", store, log])
    out = tmp_path / "d.html"
    _invoke(runner, ["referrals", "dashboard", store, "-o", out])
    data = out.read_bytes()
    for secret in (b"Amina", b"Yusuf", b"Omar", b"Farah", b"700111222", b"333 444", b"36.81", b"36.82", b"-1.28",
                   b"-1.29"):
        assert secret not in data, secret
    assert b"team-a" in data


@pytest.mark.browser
def test_dashboard_renders_in_headless_chromium(example_dashboard):
    exe = _chromium()
    _, html = example_dashboard
    dom = subprocess.run([exe, *FLAGS, f"--user-data-dir={tempfile.mkdtemp()}", "--enable-logging=stderr", "--v=0",
                          "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln
               or "Failed to load resource" in ln]
    assert console == [], console
    # the key figures are in the rendered page, and every chart is an SVG the browser parsed
    text = dom.stdout
    for key in ("interviews", "coupons_issued", "coupons_returned", "return_rate", "registered_share",
                "registered_half_width"):
        assert f'data-figure="{key}"' in text, key
    assert text.count("<svg") >= 5 and "Reminder list" in text and "Quarantined rows" in text
    shot = Path(tempfile.mkdtemp()) / "dashboard.png"
    res = subprocess.run([exe, *FLAGS, f"--user-data-dir={tempfile.mkdtemp()}", f"--screenshot={shot}",
                          "--window-size=1200,1800", html.as_uri()], capture_output=True, text=True, timeout=90)
    assert res.returncode == 0 and shot.stat().st_size > 20_000


def test_dashboard_refuses_a_points_file_without_point_ids(example_dashboard, tmp_path, runner):
    store, _ = example_dashboard
    bad = tmp_path / "p.csv"
    bad.write_text("id,stratum\n1,A\n")
    r = _invoke(runner, ["referrals", "dashboard", store, "--points", bad, "-o", tmp_path / "d.html"], code=1)
    assert "p.csv" in r.output and "point_id" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "d.html").exists()


def test_dashboard_tells_zero_points_from_points_not_visited(example_dashboard, tmp_path, runner):
    store, _ = example_dashboard
    pts = pd.read_csv(POINTS, dtype=str)
    t = __import__("hiddenpop.io.store", fromlist=["ReferralStore"]).ReferralStore.open(store).respondents()
    without = sorted(set(pts["point_id"]) - set(t["point_id"].dropna()))
    # one point has no household in its circle (examples/data/households.csv: 378 households found at
    # points, at 39 of the 40 points)
    assert without == ["P-WEST-0001"]
    # an export of the point sheet (Kobo adds its own columns): the empty point unreachable, then zero
    visits = pd.DataFrame({"start": "2024-03-04T08:00", "enumerator": "team-a",
                           "point_id": [without[0], without[0], pts["point_id"].iloc[0]],
                           "visit_result": ["unreachable", "zero", "listed"],
                           "households_found": [None, None, 12], "_index": [1, 2, 3]})
    vfile = tmp_path / "points_export.csv"
    visits.to_csv(vfile, index=False)
    html = tmp_path / "d.html"
    _invoke(runner, ["referrals", "dashboard", store, "--points", POINTS, "--visits", vfile, "--as-of", AS_OF,
                     "-o", html])
    page = html.read_text()
    assert _figure(page, "points_zero") == "1" and _figure(page, "points_not_visited") == "0"
    # the same export as an Excel workbook (Kobo's XLSX download; empty cells stay empty): the same figures
    visits.to_excel(tmp_path / "points_export.xlsx", index=False)
    _invoke(runner, ["referrals", "dashboard", store, "--points", POINTS, "--visits", tmp_path / "points_export.xlsx",
                     "--as-of", AS_OF, "-o", tmp_path / "dx.html"])
    page_x = (tmp_path / "dx.html").read_text()
    assert _figure(page_x, "points_zero") == "1" and _figure(page_x, "points_not_visited") == "0"
    r = _invoke(runner, ["referrals", "dashboard", store, "--visits", vfile, "-o", tmp_path / "x.html"], code=2)
    assert "--visits needs --points" in r.output
    visits.loc[0, "visit_result"] = "empty"
    visits.to_csv(vfile, index=False)
    r = _invoke(runner, ["referrals", "dashboard", store, "--points", POINTS, "--visits", vfile, "-o",
                         tmp_path / "x.html"], code=1)
    assert "row 2, column visit_result" in r.output and "'empty'" in r.output
