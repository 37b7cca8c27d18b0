"""The report's registered/unregistered comparison section (issue #15, item 3).

Expected numbers: R survey 4.5, tests/data/survey_reference_compare/compare.csv, case
hh_mean_children_working_by_registered with R's exported subbootstrap replicates (reference.R).
"""
from __future__ import annotations

import pandas as pd

from hiddenpop.cli import main
from hiddenpop.report import ReportInputs, build_report
from tests.weights._compare_reference import DIR, load_data, reference


def _child_weights(tmp_path):
    """A child_weights.csv as the pipeline writes it (final_weight, stratum, psu, registered, rep_*),
    made from households.csv: 'works' is children_working (a mean, the R case) and R's replicate weights."""
    d = load_data("hh")
    mult = pd.read_csv(DIR / "rep_hh_boot_mult.csv.gz").set_index("group").to_numpy()
    idx = pd.read_csv(DIR / "rep_hh_boot_index.csv")["group"].to_numpy() - 1
    reps = pd.DataFrame(d["weight"].to_numpy()[:, None] * mult[idx],
                        columns=[f"rep_{i + 1}" for i in range(mult.shape[1])])
    kids = pd.DataFrame({"final_weight": d["weight"], "stratum": d["stratum"], "psu": d["psu"],
                         "registered": d["registered"], "works": d["children_working"]})
    pd.concat([kids, reps], axis=1).to_csv(tmp_path / "child_weights.csv", index=False, float_format="%.17g")


def test_report_shows_the_difference_with_r_interval(runner, tmp_path):
    _child_weights(tmp_path)
    res = runner.invoke(main, ["report", str(tmp_path), "-o", str(tmp_path / "r.html"), "--markdown",
                               str(tmp_path / "r.md")])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "r.md").read_text()
    ref = reference("compare.csv")
    r = ref[(ref["case"] == "hh_mean_children_working_by_registered") & (ref["method"] == "bootstrap")
            & (ref["contrast"] == "difference")].iloc[0]
    # R compares registered=1 with 0; the report shows unregistered - registered: the negative, in points
    line = next(x for x in md.splitlines() if x.startswith("| Child works"))
    assert line == (f"| Child works | {-100 * r.estimate:+.1f} | {-100 * r.ci_high:+.1f} to {-100 * r.ci_low:+.1f} "
                    "| higher among the unregistered |")
    assert "## " in md and "Registered and unregistered compared" in md
    assert "Registered and unregistered compared" in (tmp_path / "r.html").read_text()


def test_not_distinguishable_is_said():
    t = pd.DataFrame([{"variable": "works", "within": "all", "level": "0", "reference": "1", "estimate": 0.01,
                       "ci_low": -0.02, "ci_high": 0.04, "p_value": 0.5, "suppressed": False},
                      {"variable": "attends_school", "within": "all", "level": "0", "reference": "1",
                       "estimate": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
                       "p_value": float("nan"), "suppressed": True}])
    page, md = build_report(ReportInputs(title="T", comparisons=t))
    assert "| Child works | +1.0 | -2.0 to +4.0 | not distinguishable from zero |" in md
    assert "| Child attends school |  |  | suppressed: too few interviews in a group |" in md
    page0, md0 = build_report(ReportInputs(title="T"))
    assert "compared" not in md0
