"""The bundled example: its deliberate errors are caught, everything else is valid; the demo runs."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

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
    # nothing else is an error: the ERROR lines name the two deliberately wrong rows that are quarantined,
    # the duplicated last row of day 2 and R09002 (the last row of day 3; R09001 on the row before it is a
    # warning). Row numbers count the header as row 1 (a run of the three imports: rows 170 and 171)
    rows = {(Path(m.group(1)).name, int(m.group(2)))
            for m in re.finditer(r"ERROR: (\S+\.csv), row (\d+),", text)}
    assert rows == {(LOGS[1].name, len(pd.read_csv(LOGS[1])) + 1), (LOGS[2].name, len(pd.read_csv(LOGS[2])))}, rows
    assert text.count("ERROR") == 2
    res = runner.invoke(main, ["referrals", "status", str(store)])
    assert "R09002" in res.output


def test_first_day_is_clean(runner):
    # Day 1 holds only households found at points and the referrals of that day: no error at all.
    res = runner.invoke(main, ["referrals", "validate", str(LOGS[0]), "--requires-point"])
    assert res.exit_code == 0, res.output + res.stderr


def test_households_agree_with_the_logs():
    # Every household record (docs/data-contract.md, 'Survey records') is an interview of the logs; the only log rows
    # without a household record are the deliberate errors.
    hh = pd.read_csv(DATA / "households.csv", dtype=str)
    logs = pd.concat([pd.read_csv(p, dtype=str) for p in LOGS])
    extra = set(logs["respondent_id"]) - set(hh["hh_id"])
    assert extra == {"R09001", "R09002", "R09003"}
    assert set(hh["hh_id"]) <= set(logs["respondent_id"])


def test_demo_runs_end_to_end(demo_run):
    out, stdout = demo_run
    for name in ("points.gpkg", "points.design.json", "referrals.db", "weights.csv", "weights_calibrated.csv",
                 "estimates_households.csv", "estimates_children.csv", "report.html", "report.md"):
        assert (out / name).exists(), name
    est = pd.read_csv(out / "estimates_children.csv")
    assert est["domain"].str.contains("registered=0").any() and est["se"].notna().all()
    # the field loop at the end: questionnaire with its mapping, one page of coupons (8), the dashboard
    for name in ("survey.xlsx", "survey.mapping.toml", "coupons.pdf", "dashboard.html"):
        assert (out / name).exists(), name
    assert len(re.findall(rb"/Type /Page(?!s)", (out / "coupons.pdf").read_bytes())) == 1   # one page
    _check_demo_report(out, stdout)


def _cells(page: str) -> list[list[str]]:
    """Rows of every HTML table of the report as lists of cell texts."""
    import html
    import re

    rows = re.findall(r"<tr>(.*?)</tr>", page, flags=re.S)
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r)]
            for r in rows]


def _check_demo_report(out: Path, stdout: str) -> None:
    """Issue 13: what the report says, parsed from the HTML the demo wrote."""
    import re

    # the README promises the last line ends with the report path
    assert stdout.strip().splitlines()[-1].endswith(f"Open {out / 'report.html'} in a browser.")
    page = (out / "report.html").read_text(encoding="utf-8")
    rows = _cells(page)
    # (2) the first section is the number of unregistered households and children, from the
    # popsize files the demo wrote (the same numbers, rounded to whole households)
    first = re.search(r"<h2>1\. ([^<]+)</h2>", page).group(1)
    assert first == "How many unregistered refugees"
    pop = pd.read_csv(out / "popsize_households.csv").set_index("estimator")
    kids = pd.read_csv(out / "popsize_children.csv").set_index("estimator")
    by_method = {(r[0], r[1].split(":")[0]): r for r in rows if r and r[0].startswith(("Unregistered households",
                                                                                      "Children in unregistered"))}
    for (what, method), table in (("Unregistered households", "direct"), pop), (("Unregistered households", "ratio"),
                                                                              pop), (("Children in unregistered "
                                                                                      "households", "direct"), kids):
        row = by_method[(what, method)]
        assert row[2] == f"{table.loc[method, 'estimate']:,.0f}"
        assert row[3] == f"{table.loc[method, 'ci_low']:,.0f} – {table.loc[method, 'ci_high']:,.0f}"
    # (1) child indicators among children aged 6-17, computed here by hand from the calibrated child
    # weights: the weighted share of attends_school == 1 among registered children aged 6 to 17
    cw = pd.read_csv(out / "child_weights_calibrated.csv", usecols=["age", "registered", "sex", "attends_school",
                                                                     "final_weight"])
    sel = (cw["age"] >= 6) & (cw["registered"] == 1) & (cw["sex"] == "F")
    share = (cw.loc[sel, "final_weight"] * cw.loc[sel, "attends_school"]).sum() / cw.loc[sel, "final_weight"].sum()
    school = [r for r in rows
              if r[0] == "Child attends school (% of children aged 6–17)" and r[1] == "Registered, Female"]
    assert school and school[0][2] == f"{100 * share:.1f}%"
    assert 65 < 100 * share < 80                           # the issue: about 73%, not 49% over all ages
    # no structural zero shown as an estimate: no age group 0-5, no "0.0%" with SE "0.0 pp"
    assert not any("aged 0–5" in r[1] for r in rows if len(r) > 1)
    assert not any(r[2:4] == ["0.0%", "0.0 pp"] for r in rows if len(r) > 3)
    # (3) child and household totals of the same group agree, and the report says the children
    # carry the calibrated household weights
    agree = [r for r in rows if r and r[0] in ("Children", "Children aged 6–17") and len(r) == 5 and r[1] != "Group"]
    assert len(agree) == 6 and all(r[4] == "yes" for r in agree)
    assert "Each child carries the weight of its household after calibration" in page
    # (4) percentages with SEs in percentage points, counts whole, CV in %
    est_rows = [r for r in rows
                if len(r) == 7 and r[0].startswith(("Child ", "Working", "Children aged", "Children out"))]
    for r in est_rows:
        if "(%" in r[0]:
            assert re.fullmatch(r"\d+\.\d pp", r[3]), r
        else:
            assert re.fullmatch(r"[\d,]+", r[2].split()[0]) and re.fullmatch(r"[\d,]+", r[3]), r
        assert re.fullmatch(r"\d+\.\d%|–", r[5]), r
    # (5) technical details: stage-2 method, replicates and both seeds, margins, survey dates
    for words in ("generalised weight share method (GWSM)", "100 bootstrap replicates",
                  "random seed of the first-stage points (frame sample --rng-seed)</b>: 7",
                  "random seed of the replicates (weights compute --rng-seed)</b>: 11",
                  "Centre|1: 1,010", "survey estimate kept", "2024-03-04 to 2024-03-06"):
        assert words in page, words
