"""The report: a self-contained HTML file checked in a real headless browser (Chromium)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from hiddenpop.cli import main
from hiddenpop.io import save_figure
from hiddenpop.report import ReportInputs, build_report

ROOT = Path(__file__).resolve().parents[2]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "chromium"], capture_output=True, timeout=600)
        exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("headless Chromium is not installed and `apt-get install -y chromium` was not possible here")
    return exe


def _workdir(tmp: Path) -> Path:
    wd = tmp / "work"
    wd.mkdir()
    # the manifest of `hiddenpop frame sample` on the bundled example (3 strata, 40 points, radius 250 m)
    shutil.copy(ROOT / "tests" / "field" / "data" / "points.design.json", wd / "points.design.json")
    for name in ("points.png", "recruitment_tree.png"):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1], [0, 1])
        save_figure(wd / name, fig)
        plt.close(fig)
    pd.DataFrame({"hh_id": ["a", "b", "c"], "found_by": ["point", "point", "referral"], "registered": [1, 0, 0],
                  "final_weight": [10.0, 12.0, 30.0], "share_from_referral": [0.0, 0.2, 1.0]}
                 ).to_csv(wd / "weights.csv", index=False)
    pd.DataFrame({"variable": ["works", "works"], "statistic": "mean", "domain": ["registered=0", "registered=1"],
                  "estimate": [0.21, 0.11], "se": [0.03, 0.02], "ci_low": [0.15, 0.07], "ci_high": [0.27, 0.15],
                  "deff": 1.2, "cv": [0.14, 0.18], "n": [120, 300], "suppressed": False, "method": "bootstrap"}
                 ).to_csv(wd / "estimates_children.csv", index=False)
    return wd


def test_report_command_writes_html_and_markdown(runner, tmp_path):
    wd = _workdir(tmp_path)
    res = runner.invoke(main, ["report", str(wd), "-o", str(tmp_path / "r.html"), "--markdown", str(tmp_path / "r.md")])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "r.html").read_text()
    # self-contained: 3 images embedded (map, tree, weights histogram), no external resource, no script
    assert page.count("data:image/png;base64,") == 3
    assert "<script" not in page and "http://" not in page and "https://" not in page
    # readable estimates: 0.21 (se 0.03, CI 0.15-0.27) of the fixture shown as a percentage with its
    # plain-language group; the design in words (40 points in 3 strata from the manifest, radius 250 m)
    assert "Unregistered" in page and "registered=0" not in page
    assert "21.0%" in page and "15.0% – 27.0%" in page and "3.0 pp" in page and "How to read the tables" in page
    assert "40 first-stage points" in page and "in 3 strata (Centre 14, East 13, West 13)" in page
    assert "within 250 m" in page and "random seed of the first-stage points (frame sample --rng-seed)</b>: 7" in page
    assert (tmp_path / "r.md").read_text().count("|") > 10
    again = runner.invoke(main, ["report", str(wd), "-o", str(tmp_path / "r.html")])
    assert again.exit_code == 1 and "already exists" in again.output


def test_report_of_an_empty_folder_is_a_clear_error(runner, tmp_path):
    (tmp_path / "empty").mkdir()
    res = runner.invoke(main, ["report", str(tmp_path / "empty"), "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 1 and "nothing to report" in res.output
    assert not (tmp_path / "r.html").exists()


@pytest.mark.browser
def test_report_renders_in_headless_chromium(runner, tmp_path):
    exe = _chromium()
    wd = _workdir(tmp_path)
    html = tmp_path / "report.html"
    assert runner.invoke(main, ["report", str(wd), "-o", str(html)]).exit_code == 0
    # The DOM after rendering: the tables and every image are there, and each image decoded
    # (naturalWidth > 0 is written into the title by a check page that embeds the report).
    profile = tempfile.mkdtemp()
    dom = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                          "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<table>") >= 3 and dom.stdout.count("<img") == 3
    # Console errors appear on stderr as "CONSOLE(...)" / "Uncaught" lines with --enable-logging.
    console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln
               or "Failed to load resource" in ln]
    assert console == [], console
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "report_screenshot.png"
    profile2 = tempfile.mkdtemp()
    res = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile2}", f"--screenshot={shot}",
                          "--window-size=1200,1600", html.as_uri()], capture_output=True, text=True, timeout=90)
    assert res.returncode == 0 and shot.exists() and shot.stat().st_size > 10_000


def test_build_report_escapes_text():
    est = pd.DataFrame({"variable": ["<b>x</b>"], "estimate": [1.0]})
    page, _ = build_report(ReportInputs(title="A & B", estimates={"t": est}))
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "A &amp; B" in page


@pytest.mark.browser
def test_console_error_detector_catches_a_broken_page(tmp_path):
    # Second route for the check above: a page with a script error must be caught by the same filter.
    exe = _chromium()
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>throw new Error('boom')</script></body></html>")
    dom = subprocess.run([exe, *FLAGS, f"--user-data-dir={tempfile.mkdtemp()}", "--enable-logging=stderr", "--v=0",
                          "--dump-dom", bad.as_uri()], capture_output=True, text=True, timeout=90)
    assert any("Uncaught" in ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln)


def test_readable_estimates_marks_suppressed_unreliable_and_clipped_cells():
    from hiddenpop.report import readable_estimates

    est = pd.DataFrame({"variable": ["works"] * 3, "statistic": "mean",
                        "domain": ["registered=0, age_group=12-17", "registered=0, age_group=6-11",
                                   "registered=1, age_group=6-11"],
                        "estimate": [0.35, 0.022, 0.4], "se": [0.038, 0.0145, 0.1],
                        "ci_low": [0.276, -0.0063, 0.2], "ci_high": [0.424, 0.0506, 0.6],
                        "cv": [0.108, 0.66, 0.25], "n": [199, 176, 3], "suppressed": [False, False, True]})
    table, notes = readable_estimates(est)
    # age groups sort numerically (6-11 before 12-17), then registration status
    assert table["Group"].tolist() == ["Unregistered, aged 6–11", "Unregistered, aged 12–17", "Registered, aged 6–11"]
    # 0.022 -> 2.2%, CV 0.66 > 0.30 flagged; lower limit -0.0063 < 0 shown as 0.0 with a mark
    assert table.iloc[0]["Estimate"] == "2.2% †" and table.iloc[0]["95% interval"] == "0.0%* – 5.1%"
    # the suppressed cell (n = 3) shows no figure at all
    row = table.iloc[2]
    assert row["Estimate"].startswith("suppressed") and row["Std. error"] == "" and row["95% interval"] == ""
    # one note per mark used above: † (CV 66%), ‡ (suppressed row), * (clipped lower limit), and the
    # unit of the standard errors of percentages (percentage points)
    assert [n[0] for n in notes] == ["†", "‡", "*", "S"]
    assert table.iloc[0]["Std. error"] == "1.5 pp" and table.iloc[0]["CV"] == "66.0%"


def test_totals_stay_numbers_and_labels_can_be_extended():
    from hiddenpop.report import readable_estimates

    est = pd.DataFrame({"variable": ["n_hh"], "statistic": ["total"], "domain": ["stratum=East"],
                        "estimate": [1596.6], "se": [62.4], "ci_low": [1474.3], "ci_high": [1718.9],
                        "cv": [0.039], "n": [201]})
    table, notes = readable_estimates(est, labels={"n_hh": "Households"})
    # counts are whole numbers in every column; the CV in % as in the terminal tables (0.039 -> 3.9%)
    assert table.iloc[0].tolist() == ["Households (total number)", "stratum East", "1,597", "62",
                                      "1,474 – 1,719", "3.9%", "201"]
    assert notes == []


def test_recruitment_summary_replaces_the_field_tree_plot(runner, tmp_path):
    wd = _workdir(tmp_path)
    # two waves: a -> b -> c, a -> d (one chain of 4), e alone (a chain of 1)
    pd.DataFrame({"hh_id": list("abcde"), "recruiter_id": [None, "a", "b", "a", None],
                  "found_by": ["point", "referral", "referral", "referral", "point"], "registered": [1, 0, 0, 0, 1],
                  "wave": [0, 1, 2, 1, 0], "final_weight": [10.0, 5.0, 4.0, 5.0, 9.0]}).to_csv(wd / "weights.csv",
                                                                                          index=False)
    res = runner.invoke(main, ["report", str(wd), "-o", str(tmp_path / "r.html"), "--markdown", str(tmp_path / "r.md")])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "r.md").read_text()
    assert "report_referrals.png" in md and "recruitment_tree.png" not in md
    assert (tmp_path / "report_referrals.png").stat().st_size > 5_000
    # the words: 2 households at points, 3 referred, up to 2 waves
    assert "2 households were interviewed at the points" in md and "3 households came with a coupon" in md
    assert "up to 2 waves" in md


def test_recruitment_figure_draws_the_largest_chains():
    from hiddenpop.report import recruitment_figure

    hh = pd.DataFrame({"hh_id": list("abcdef"), "recruiter_id": [None, "a", "b", "a", None, "zz"],
                       "registered": [1, 0, 0, 0, 1, 0]})
    fig = recruitment_figure(hh)
    # f's recruiter zz is not among the interviews: f starts its own chain -> 3 chains, 1 with referrals
    assert fig.axes[1].get_title() == ("The 1 largest of 1 chains with referrals "
                                       "(2 households found at points referred nobody)")
    # left panel: wave 0 holds a, e, f (3), wave 1 b, d (2), wave 2 c (1): bar heights summed over statuses
    heights = {}
    for patch in fig.axes[0].patches:
        x = round(patch.get_x() + patch.get_width() / 2)
        heights[x] = heights.get(x, 0) + patch.get_height()
    assert heights == {0: 3, 1: 2, 2: 1}
    plt.close(fig)


def test_child_weights_not_calibrated_are_said_to_be_and_totals_compared():
    # households calibrated (weights 10 and 20), children still carrying the weights before
    # calibration (8 and 16): the report says so, and the totals of children disagree
    # (hand calculation: from households 10·2 + 20·1 = 40; from children 8 + 8 + 16 = 32)
    from hiddenpop.report import ReportInputs, _child_weight_check

    w = pd.DataFrame({"hh_id": ["a", "b"], "final_weight": [10.0, 20.0], "registered": [0, 1], "n_children": [2, 1]})
    kids = pd.DataFrame({"hh_id": ["a", "a", "b"], "final_weight": [8.0, 8.0, 16.0], "registered": [0, 0, 1],
                         "age": [4, 9, 12]})
    text, table = _child_weight_check(ReportInputs(weights=w, calibrated=True, child_weights=kids))
    assert "before calibration" in text and "--children" in text
    row = table[(table["Children"] == "Children") & (table["Group"] == "All")].iloc[0]
    assert (row["from household counts"], row["from children's weights"], row["agree"]) == ("40", "32", "no")
    text, table = _child_weight_check(ReportInputs(weights=w, calibrated=True, child_weights_calibrated=True,
                                                   child_weights=kids.assign(final_weight=[10.0, 10.0, 20.0])))
    assert "after calibration" in text and set(table["agree"]) == {"yes"}


def test_headline_comes_first_with_direct_and_ratio():
    from hiddenpop.report import ReportInputs, build_report

    # weights popsize output of the bundled demo (rounded): direct 963 (791-1,172), ratio 731 (548-977)
    pop = pd.DataFrame({"estimator": ["direct", "ratio"], "estimate": [963.2, 731.4], "se": [97.0, 108.0],
                        "ci_low": [791.0, 548.0], "ci_high": [1172.0, 977.0], "n": 231, "level": 0.95})
    page, md = build_report(ReportInputs(popsize={"households": pop}, registry_total=1851))
    assert md.index("## 1. How many unregistered refugees") < md.index("An estimated 963 unregistered")
    assert "(1,851 registered households)" in page and "791 – 1,172" in page and "548 – 977" in page
