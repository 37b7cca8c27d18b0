"""``hiddenpop simulate population`` and ``simulate study`` through the CLI (small, fast)."""
from __future__ import annotations

import pandas as pd

from hiddenpop.cli import main
from hiddenpop.io.population import read_population
from hiddenpop.simulate import generate_population

PARAMS_TOML = "[households]\nn = 1500\n\n[area]\nwidth_m = 12000.0\nheight_m = 9000.0\n"


def test_population_folder_round_trips_and_study_writes_its_outputs(runner, tmp_path):
    (tmp_path / "params.toml").write_text(PARAMS_TOML)
    (tmp_path / "design.toml").write_text("[stage1]\npoints = 30\n")
    res = runner.invoke(main, ["simulate", "population", str(tmp_path / "params.toml"), "-o", str(tmp_path / "pop"),
                               "--rng-seed", "3"])
    assert res.exit_code == 0, res.output
    # Two routes: the folder read back holds the same truth as the population generated in memory.
    pop = read_population(tmp_path / "pop")
    direct = generate_population({"households": {"n": 1500}, "area": {"width_m": 12000.0, "height_m": 9000.0}},
                                 rng=3)
    assert pop.truth() == direct.truth()
    assert len(pop.edges) == len(direct.edges)
    res = runner.invoke(main, ["simulate", "study", str(tmp_path / "pop"), "--design", str(tmp_path / "design.toml"),
                               "--reps", "2", "--bootstrap-reps", "3", "--methods", "gwsm", "-o",
                               str(tmp_path / "study"), "--rng-seed", "4"])
    assert res.exit_code == 0, res.output
    assert {p.name for p in (tmp_path / "study").iterdir()} == {"summary.csv", "summary.md", "replicates.csv",
                                                                "errors.png", "coverage.png"}
    # 2 replications x 1 method x 3 targets
    assert len(pd.read_csv(tmp_path / "study" / "replicates.csv")) == 6


def test_bad_design_file_names_the_file(runner, tmp_path):
    (tmp_path / "params.toml").write_text("[households]\nn = \n")
    res = runner.invoke(main, ["simulate", "population", str(tmp_path / "params.toml"), "-o", str(tmp_path / "pop"),
                               "--rng-seed", "3"])
    assert res.exit_code == 1
    assert "params.toml: not valid TOML" in res.output and "Fix:" in res.output
    assert not (tmp_path / "pop").exists()


def test_bad_values_are_reported_with_the_file_and_section(runner, tmp_path):
    (tmp_path / "params.toml").write_text("[households]\nmean_size = 40\n")
    res = runner.invoke(main, ["simulate", "population", str(tmp_path / "params.toml"), "-o", str(tmp_path / "pop"),
                               "--rng-seed", "3"])
    assert res.exit_code == 1
    assert "params.toml, section [households]: mean_size = 40 must lie between 1 and 20" in res.output
    # the design is checked before the (missing) population folder is read
    (tmp_path / "design.toml").write_text("[referral]\ncoupons = -1\n")
    res = runner.invoke(main, ["simulate", "study", str(tmp_path / "nopop"), "--design", str(tmp_path / "design.toml"),
                               "-o", str(tmp_path / "study"), "--rng-seed", "4"])
    assert res.exit_code == 1
    assert "design.toml, section [referral]: coupons = -1 must be an integer >= 0" in res.output
