"""The questionnaire generated from the design: pyxform converts it cleanly, its exports import unmapped."""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hiddenpop.cli import main
from hiddenpop.errors import InputFileError
from hiddenpop.field.codes import coupon_constraint, damm_xpath, make_code
from hiddenpop.field.form import KOBO_SYSTEM_COLUMNS, FormSettings, build_form, build_point_form, distance_xpath
from hiddenpop.io.field import write_form
from hiddenpop.io.spatial import read_design
from hiddenpop.io.store import ReferralStore

pyxform = pytest.importorskip("pyxform")
from pyxform.xls2xform import convert  # noqa: E402

DATA = Path(__file__).parent / "data"
DESIGN = DATA / "points.design.json"  # `hiddenpop frame sample` of the bundled example (3 strata, 40 points)
POINTS = DATA / "points.csv"

SETTINGS_3_LANG = """
[form]
title = "Enquête ménages réfugiés"
form_id = "hh_2024"
version = "2024-03"
languages = ["English (en)", "French (fr)", "Arabic (ar)"]
[coupons]
per_respondent = 3
[eligibility]
network = "all"
[teams]
names = ["team-a", "team-b", "team-c"]
[respondent_id]
pattern = "^R[0-9]{5}$"
[personal]
name = true
phone = true
[children]
modules = ["school"]
assent_min_age = 8
[translations."French (fr)"]
consent_adult = "L'adulte accepte-t-il de participer ?"
network_size = "Combien de ménages réfugiés connaissez-vous personnellement ?"
"yes_no:yes" = "Oui"
[translations."Arabic (ar)"]
consent_adult = "هل يوافق المشارك البالغ على المشاركة؟"
"""


def _form(tmp_path: Path, settings: FormSettings, name: str = "survey.xlsx"):
    form = build_form(read_design(DESIGN), pd.read_csv(POINTS, dtype={"point_id": str}), settings)
    out = tmp_path / name
    write_form(out, form.sheets(), tmp_path / (out.stem + ".mapping.toml"), form.mapping())
    return form, out


def _convert(path: Path):
    warnings: list[str] = []
    result = convert(str(path), warnings=warnings)  # the ODK reference converter (ODK Validate not run)
    return result.xform, warnings


def test_pyxform_converts_the_example_form_without_error_or_warning(tmp_path):
    form, path = _form(tmp_path, FormSettings())
    xform, warnings = _convert(path)
    assert warnings == []
    root = ET.fromstring(xform)
    ns = {"h": "http://www.w3.org/1999/xhtml", "x": "http://www.w3.org/2002/xforms"}
    binds = {b.get("nodeset"): b.attrib for b in root.iter("{http://www.w3.org/2002/xforms}bind")}
    # every point of the design is a choice, with its coordinates for the radius check
    items = root.findall(".//x:instance[@id='points']/x:root/x:item", ns)
    assert len(items) == 40 and items[0].find("x:lat", ns) is not None
    # the coupon the household brought is checked in the form; coupons handed out too
    assert binds["/data/referral/redeemed_coupon"]["constraint"].startswith("regex(., '^[0-9]{6}$') and number(")
    assert "/data/referral/redeemed_coupon" in binds["/data/referral/coupon_2"]["constraint"]
    # plausibility: 0 <= eligible <= network <= 500
    assert binds["/data/network/network_size"]["constraint"] == ". >= 0 and . <= 500"
    assert binds["/data/network/network_size_eligible"]["constraint"].split() == [".", ">=", "0", "and", ".", "<=", "/data/network/network_size"]
    # nothing is asked before consent: every question after the consent group depends on it
    order = [b for b in binds if b.startswith("/data/")]
    after = order[order.index("/data/consent/consent_adult") + 1:]
    top = [b for b in after if b.count("/") == 2 and b != "/data/interview_time" and not b.startswith("/data/meta")]
    assert top and all("consent_adult" in binds[b].get("relevant", "") for b in top), top
    # the scanned QR code fills the typed coupon number (setvalue on value change)
    assert xform.count('event="xforms-value-changed"') == 2
    # no name or phone question unless asked for
    assert not any(re.search(r"name$|phone", b) for b in binds if "point" not in b and "form" not in b
                   and "instanceName" not in b)
    assert form.personal == ()


def test_pyxform_converts_a_form_with_three_languages_and_all_options(tmp_path):
    st = tmp_path / "settings.toml"
    st.write_text(SETTINGS_3_LANG, encoding="utf-8")
    from hiddenpop.io.field import read_form_settings

    settings = read_form_settings(st)
    form, path = _form(tmp_path, settings)
    xform, warnings = _convert(path)
    assert warnings == []
    assert xform.count("<translation ") == 3 and 'lang="Arabic (ar)"' in xform
    assert "L'adulte accepte-t-il de participer ?" in xform and "Oui" in xform
    assert "هل يوافق المشارك البالغ" in xform
    # eligibility "all": no eligible-network question; coupons bounded by the network size
    cols = form.export_columns()
    assert "network/network_size_eligible" not in cols
    assert [c for c in cols if re.fullmatch(r"referral/coupon_\d", c)] == [f"referral/coupon_{i}" for i in (1, 2, 3)]
    assert form.personal == ("head_name", "phone") and form.mapping()["privacy"]["personal"] == ["head_name", "phone"]
    assert "works" not in xform and "attends_school" in xform
    # the untranslated texts are listed (they fall back to English)
    assert "consent_adult" not in form.untranslated["French (fr)"] and "network_size_eligible" not in \
        form.untranslated["French (fr)"] and "gps" in form.untranslated["Arabic (ar)"]


def _synthetic_export(form, n_seeds: int = 3) -> pd.DataFrame:
    """Rows as KoboToolbox exports them (group prefixes, GPS parts, system columns), made by hand."""
    rows = []
    serial = iter(range(10001, 10100))
    coupons: list[str] = []
    for i in range(n_seeds):
        own = [make_code(next(serial)) for _ in range(2)]
        coupons += own
        rows.append({"reached_by": "point", "point_stratum": "Centre", "point_id": "P-CENTRE-0001",
                     "referral/coupon_1": own[0], "referral/coupon_2": own[1], "network/network_size": 5 + i,
                     "network/network_size_eligible": 2})
    for k, c in enumerate(coupons[:4]):
        rows.append({"reached_by": "coupon", "referral/redeemed_coupon": c, "network/network_size": 3,
                     "network/network_size_eligible": 0})
    out = []
    for r, row in enumerate(rows):
        base = {c: "" for c in form.export_columns(system=True)}
        lat, lon = 37.05 + r * 1e-4, 37.378 + r * 1e-4
        base.update({"start": f"2024-03-04T08:{r:02d}:00.000+03:00", "enumerator": "team-a",
                     "respondent_id": f"R{r + 1:05d}", "consent/consent_adult": "yes",
                     "location/gps": f"{lat} {lon} 812 4.5", "location/_gps_latitude": lat,
                     "location/_gps_longitude": lon, "location/_gps_altitude": 812, "location/_gps_precision": 4.5,
                     "household/registered": r % 2, "household/n_children": 1,
                     "interview_time": f"2024-03-04T08:{r:02d}:30.000+03:00", "_id": 9000 + r,
                     "_uuid": f"uuid-{r}", "_index": r + 1, "_submission_time": "2024-03-04T18:00:00"})
        base.update({f"referral/{k}_scan" if k.startswith("referral/coupon_") else k: v for k, v in row.items()
                     if k.startswith("referral/coupon_")})
        base.update(row)
        out.append(base)
    return pd.DataFrame(out, columns=form.export_columns(system=True))


def test_an_export_of_the_form_imports_with_the_written_mapping(tmp_path, runner):
    form, path = _form(tmp_path, FormSettings())
    export = _synthetic_export(form)
    assert list(export.columns)[:4] == ["start", "enumerator", "respondent_id", "consent/consent_adult"]
    assert "location/_gps_latitude" in export.columns and "_index" in export.columns
    csv = tmp_path / "export.csv"
    export.to_csv(csv, index=False)
    store = tmp_path / "s.hpstore"
    assert runner.invoke(main, ["referrals", "init", str(store)]).exit_code == 0
    res = runner.invoke(main, ["referrals", "import", str(store), str(csv), "--mapping",
                               str(tmp_path / "survey.mapping.toml")])
    assert res.exit_code == 0, res.output
    t = ReferralStore.open(store).respondents()
    # 3 seeds with 2 coupons each, 4 coupons came back: 7 interviews, 4 recruits at wave 1
    assert len(t) == 7 and t["wave"].tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert t["recruiter_id"].tolist()[3:] == ["R00001", "R00001", "R00002", "R00002"]
    assert t["network_size_eligible"].tolist() == [2, 2, 2, 0, 0, 0, 0]
    assert t["lat"].iloc[0] == pytest.approx(37.05)  # GPS mapped to the household coordinates
    # scan copies, GPS text/altitude/precision, the point's own coordinates and Kobo's columns are left out
    for gone in ("coupon_1_scan", "gps", "_gps_altitude", "_gps_precision", "_index", "_uuid", "_id"):
        assert gone not in t.columns
    assert {"reached_by", "registered", "enumerator", "n_children", "dist_m"} <= set(t.columns)


def test_the_demo_logs_have_exactly_the_columns_of_the_generated_form():
    from hiddenpop.io.field import read_form_settings

    settings = read_form_settings(Path(__file__).resolve().parents[2] / "examples" / "field.toml")
    form = build_form(read_design(DESIGN), pd.read_csv(POINTS, dtype={"point_id": str}), settings)
    logs = sorted((Path(__file__).resolve().parents[2] / "examples" / "data").glob("referral_log_*.csv"))
    assert len(logs) == 3
    for log in logs:
        assert pd.read_csv(log, nrows=0).columns.tolist() == form.export_columns(), log.name


def _py(expr: str) -> str:
    """An ODK XPath expression of this module as Python (same functions, Python operators)."""
    return (expr.replace(" div ", " / ").replace("selected-at(", "selected_at(").replace("pi()", "math.pi"))


def test_the_check_digit_constraint_in_the_form_agrees_with_python_stdnum():
    # Route 1: stdnum (make_code); route 2: the XPath of the form evaluated with ODK's substr semantics.
    def substr(s, a, b=None):
        return s[int(a):] if b is None else s[int(a):int(b)]

    interim = eval("lambda v: " + damm_xpath("v"), {"substr": substr, "number": int})
    rng = np.random.default_rng(5)
    for serial in rng.integers(10001, 100000, size=300):
        code = make_code(int(serial))
        assert interim(code) == 0
        for pos in range(6):
            for d in "0123456789":
                if d != code[pos]:
                    assert interim(code[:pos] + d + code[pos + 1:]) != 0
    assert coupon_constraint().startswith("regex(., '^[0-9]{6}$') and ")


def test_the_distance_check_in_the_form_matches_the_geodesic_distance():
    pyproj = pytest.importorskip("pyproj")
    geod = pyproj.Geod(ellps="WGS84")
    expr = _py(distance_xpath("gps", "lat0", "lon0"))
    rng = np.random.default_rng(3)
    for _ in range(50):
        lat0, lon0 = rng.uniform(-60, 60), rng.uniform(-170, 170)
        az, dist = rng.uniform(0, 360), rng.uniform(1, 400)
        lon1, lat1, _ = geod.fwd(lon0, lat0, az, dist)
        env = {"math": math, "gps": f"{lat1} {lon1} 0 5", "lat0": lat0, "lon0": lon0, "sqrt": math.sqrt,
               "pow": pow, "cos": math.cos, "number": float,
               "selected_at": lambda s, i: s.split(" ")[int(i)]}
        got = eval(expr, env)
        # the ellipsoid's radius of curvature differs from the mean radius by < 0.7%: within 1% of the
        # WGS84 geodesic, i.e. < 4 m at 400 m, below a phone GPS error
        assert got == pytest.approx(dist, rel=1e-2)
        # and the haversine great-circle distance on the same sphere (second route) to a few millimetres
        p0, p1 = math.radians(lat0), math.radians(lat1)
        h = math.sin((p1 - p0) / 2) ** 2 + math.cos(p0) * math.cos(p1) * math.sin(math.radians(lon1 - lon0) / 2) ** 2
        assert got == pytest.approx(2 * 6371008.8 * math.asin(math.sqrt(h)), abs=0.01)


def test_settings_and_input_errors_name_the_file_and_the_fix(tmp_path, runner):
    bad = tmp_path / "s.toml"
    bad.write_text("[form]\nlanguages = [\"English\"]\n")
    r = runner.invoke(main, ["field", "form", str(DESIGN), "--points", str(POINTS), "--settings", str(bad),
                             "-o", str(tmp_path / "f.xlsx")])
    assert r.exit_code == 1 and "s.toml" in r.output and "English (en)" in r.output
    bad.write_text("[coupon]\nper_respondent = 2\n")
    r = runner.invoke(main, ["field", "form", str(DESIGN), "--points", str(POINTS), "--settings", str(bad),
                             "-o", str(tmp_path / "f.xlsx")])
    assert r.exit_code == 1 and "unknown section [coupon]" in r.output
    pts = pd.read_csv(POINTS)
    pts.loc[3, "stratum"] = "Nowhere"
    pts.to_csv(tmp_path / "p.csv", index=False)
    r = runner.invoke(main, ["field", "form", str(DESIGN), "--points", str(tmp_path / "p.csv"),
                             "-o", str(tmp_path / "f.xlsx")])
    assert r.exit_code == 1 and "row 5" in r.output and "'Nowhere'" in r.output
    assert not (tmp_path / "f.xlsx").exists() and not (tmp_path / "f.mapping.toml").exists()
    with pytest.raises(InputFileError, match="per_respondent"):
        FormSettings.from_dict({"coupons": {"per_respondent": 0}})


def test_form_command_writes_the_form_and_its_mapping(tmp_path, runner):
    out = tmp_path / "survey.xlsx"
    r = runner.invoke(main, ["field", "form", str(DESIGN), "--points", str(POINTS), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.exists() and (tmp_path / "survey.mapping.toml").exists() and (tmp_path / "survey.points.xlsx").exists()
    assert "40 points" in r.output
    r = runner.invoke(main, ["field", "form", str(DESIGN), "--points", str(POINTS), "-o", str(out)])
    assert r.exit_code == 1 and "--overwrite" in r.output
    assert set(KOBO_SYSTEM_COLUMNS) <= set(__import__("tomllib").loads(
        (tmp_path / "survey.mapping.toml").read_text())["drop"])


def test_a_kobo_export_without_mapping_keeps_no_gps_column_outside_lon_lat(tmp_path, runner):
    # the bundled day-1 log is an export of the generated form; imported without the mapping file the
    # GPS parts become lon/lat (never exported unless asked) and nothing else carries coordinates
    log = Path(__file__).resolve().parents[2] / "examples" / "data" / "referral_log_2024-03-04.csv"
    lat0 = pd.read_csv(log, dtype=str)["location/_gps_latitude"].iloc[0]
    store = tmp_path / "s.hpstore"
    assert runner.invoke(main, ["referrals", "init", str(store)]).exit_code == 0
    assert runner.invoke(main, ["referrals", "import", str(store), str(log)]).exit_code == 0
    t = ReferralStore.open(store).respondents()
    assert not [c for c in t.columns if "gps" in c or c.endswith("_scan")]
    assert f"{t['lat'].iloc[0]:.7f}" == lat0
    out = tmp_path / "export.csv"
    assert runner.invoke(main, ["referrals", "export", str(store), "--format", "csv", "-o", str(out)]).exit_code == 0
    assert lat0[:7] not in out.read_text()


@pytest.mark.parametrize("three_languages", [False, True])
def test_pyxform_converts_the_point_sheet_without_error_or_warning(tmp_path, three_languages):
    from hiddenpop.io.field import read_form_settings, xlsform_bytes

    settings = FormSettings()
    if three_languages:
        (tmp_path / "s.toml").write_text(SETTINGS_3_LANG, encoding="utf-8")
        settings = read_form_settings(tmp_path / "s.toml")
    sheet = build_point_form(read_design(DESIGN), pd.read_csv(POINTS, dtype={"point_id": str}), settings)
    path = tmp_path / "points.xlsx"
    path.write_bytes(xlsform_bytes(sheet.sheets()))
    xform, warnings = _convert(path)
    assert warnings == []
    assert sheet.export_columns() == ["start", "enumerator", "point_stratum", "point_id", "visit_result",
                                      "households_found", "unreachable_reason", "visit_time"]
    # the unreachable reasons are the design's own (the manifest's reserves.allowed_reasons)
    reasons = sheet.choices.loc[sheet.choices["list_name"] == "unreachable", "name"].tolist()
    assert reasons == sorted(read_design(DESIGN).replacement_reasons) and "no_households" not in reasons
    assert xform.count("<item>") >= 40 + 3 + 3   # points, strata, visit results
