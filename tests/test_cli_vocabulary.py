"""The command line speaks one vocabulary, explains every option and answers at once (issue 13)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pandas as pd
import pytest

from hiddenpop.cli import main

ROOT = Path(__file__).resolve().parents[1]

#: Visible option name -> what it must mean (a word its help text contains). One flag, one meaning.
VOCABULARY = {
    "--var": ("variable", "column"),
    "--level": ("confidence level",),
    "--reps": ("replicate",),
    "--rng-seed": ("seed",),
    "--overwrite": ("replace output files",),
    "--json": ("json",),
    "--output": ("output", "file", "folder", "write", "manifest", "points", "png", "csv"),
}
#: Names that must not appear as visible options (their replacement in brackets).
RETIRED = {"--outcome": "--var", "--confidence": "--level", "--methods": "--method", "--conf-level": "--level",
           "--alpha": "--level", "--replicates-n": "--reps"}


def _commands(group: click.Group = main, path: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, path + (name,))
        else:
            yield path + (name,), cmd


def _visible_options(cmd: click.Command):
    return [p for p in cmd.params if isinstance(p, click.Option) and not p.hidden]


COMMANDS = list(_commands())


def test_the_tree_has_every_group():
    groups = {path[0] for path, _ in COMMANDS}
    assert {"frame", "referrals", "rds", "weights", "estimate", "simulate", "report"} <= groups
    assert len(COMMANDS) >= 24                          # the 24 commands of today; new ones join the checks


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_has_help_and_one_meaning(path, cmd):
    assert (cmd.help or "").strip(), f"hiddenpop {' '.join(path)} has no help text"
    for opt in _visible_options(cmd):
        where = f"hiddenpop {' '.join(path)} {'/'.join(opt.opts)}"
        assert (opt.help or "").strip(), f"{where}: no help text"
        for name in opt.opts + opt.secondary_opts:
            assert name not in RETIRED, f"{where}: use {RETIRED[name]} (keep {name} as a hidden alias)"
            if name in VOCABULARY:
                words = VOCABULARY[name]
                assert any(w in opt.help.lower() for w in words), f"{where}: help should say {words}: {opt.help!r}"
    # simulation replications are not replicates: `simulate study` counts them with --replications
    if path == ("simulate", "study"):
        assert "--replications" in {n for p in _visible_options(cmd) for n in p.opts}


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_commands_that_write_results_have_json(path, cmd):
    names = {n for p in _visible_options(cmd) for n in p.opts}
    writes = bool(names & {"-o", "--output"}) or path in (("referrals", "init"), ("referrals", "correct"),
                                                          ("referrals", "withdraw"))
    if writes or path[-1] in ("status", "history", "check", "size", "popsize", "calibrate"):
        assert "--json" in names, f"hiddenpop {' '.join(path)} writes results but has no --json"


def test_choices_spelled_out_for_speed_equal_the_library_registries():
    # commands/rds.py spells its choices out so that --help does not import scipy; they must stay
    # equal to the registries of the library
    from hiddenpop.commands import rds as cmd
    from hiddenpop.rds.bootstrap import BOOTSTRAP_METHODS, CI_TYPES
    from hiddenpop.rds.estimators import ESTIMATORS
    from hiddenpop.rds.sample import DEGREE_RULES
    from hiddenpop.rds.ss import SS_METHODS

    assert tuple(ESTIMATORS) == cmd.ESTIMATORS and tuple(BOOTSTRAP_METHODS) == cmd.BOOTSTRAP_METHODS
    assert tuple(CI_TYPES) == cmd.CI_TYPES and tuple(DEGREE_RULES) == cmd.DEGREE_RULES
    assert tuple(SS_METHODS) == cmd.SS_METHODS
    from hiddenpop.rds.regression import MODEL_VARIANCES, OUTCOME_FREE_ESTIMATORS, REGRESSION_FAMILIES

    assert tuple(MODEL_VARIANCES) == cmd.MODEL_VARIANCES and tuple(REGRESSION_FAMILIES) == cmd.REGRESSION_FAMILIES
    assert tuple(OUTCOME_FREE_ESTIMATORS) == cmd.FIT_ESTIMATORS
    from hiddenpop.rds.analytic import ANALYTIC_VARIANCES

    assert tuple(ANALYTIC_VARIANCES) == cmd.ANALYTIC_VARIANCES
    # hiddenpop model: the families of the survey GLM without their quasi- aliases
    from hiddenpop.commands import model as model_cmd
    from hiddenpop.weights.model import MODEL_FAMILIES

    assert tuple(f for f in MODEL_FAMILIES if not f.startswith("quasi")) == model_cmd.FAMILIES
    # and so does estimate --variance
    from hiddenpop.commands import estimate as est_cmd
    from hiddenpop.weights.design import LonelyPSU
    from hiddenpop.weights.estimate import DOMAIN_DF, STATISTICS, VARIANCE_METHODS

    assert tuple(VARIANCE_METHODS) == est_cmd.VARIANCE_METHODS and tuple(STATISTICS) == est_cmd.STATISTICS
    from hiddenpop.commands import _common as common_cmd

    assert tuple(str(k) for k in LonelyPSU) == common_cmd.LONELY_PSU
    assert tuple(DOMAIN_DF) == est_cmd.DOMAIN_DF
    from hiddenpop.weights.design import REPLICATE_KINDS
    from hiddenpop.weights.estimate import PROPORTION_INTERVALS

    assert tuple(REPLICATE_KINDS) == common_cmd.REPLICATE_KINDS
    assert tuple(PROPORTION_INTERVALS) == est_cmd.PROPORTION_INTERVALS
    from hiddenpop.commands import simulate as sim_cmd
    from hiddenpop.simulate.study import VARIANCES

    assert tuple(VARIANCES) == sim_cmd.VARIANCES


def test_help_and_version_import_no_heavy_library():
    # the start-up goal (< 0.5 s, benchmarks/bench_startup.py) rests on this: a fresh interpreter
    # running --help and every group's --help loads none of the heavy libraries
    code = ("import sys\nfrom click.testing import CliRunner\nfrom hiddenpop.cli import main\n"
            "for args in (['--version'], ['--help'], ['frame', '--help'], ['referrals', '--help'], "
            "['rds', 'estimate', '--help'], ['weights', '--help'], ['estimate', '--help'], ['simulate', '--help'], "
            "['report', '--help']):\n    assert CliRunner().invoke(main, args).exit_code == 0, args\n"
            "heavy = ('scipy', 'statsmodels', 'matplotlib', 'geopandas', 'shapely', 'pyproj', 'networkx', 'pandas')\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_referral_status_loads_no_estimation_library(runner, tmp_path):
    store = tmp_path / "s.db"
    assert runner.invoke(main, ["referrals", "init", str(store)]).exit_code == 0
    code = ("import sys\nfrom click.testing import CliRunner\nfrom hiddenpop.cli import main\n"
            f"r = CliRunner().invoke(main, ['referrals', 'status', {str(store)!r}])\n"
            "assert r.exit_code == 0, r.output\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'statsmodels', 'matplotlib', "
            "'geopandas', 'networkx'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert out.stdout.strip() == "[]", out.stdout


FAUX = str(ROOT / "tests" / "data" / "rds_oracle" / "data" / "fauxmadrona.csv")


def test_old_option_names_still_work_with_a_one_line_note(runner):
    new = runner.invoke(main, ["rds", "estimate", FAUX, "--degree-col", "degree", "--var", "disease"])
    old = runner.invoke(main, ["rds", "estimate", FAUX, "--degree-col", "degree", "--outcome", "disease"])
    assert new.exit_code == 0 and old.exit_code == 0
    assert old.stdout == new.stdout                     # same estimates
    notes = [ln for ln in old.stderr.splitlines() if ln.startswith("note:")]
    assert notes == ["note: --outcome is now --var; the old name still works but will go away"]
    size_old = runner.invoke(main, ["frame", "size", "--margin", "0.05", "--households-per-point", "4",
                                    "--confidence", "0.9", "--json"])
    size_new = runner.invoke(main, ["frame", "size", "--margin", "0.05", "--households-per-point", "4",
                                    "--level", "0.9", "--json"])
    assert size_old.exit_code == 0 and size_old.stdout == size_new.stdout
    assert "--confidence is now --level" in size_old.stderr
    # hidden from --help
    assert "--outcome" not in runner.invoke(main, ["rds", "estimate", "--help"]).output


def test_rds_estimate_and_popsize_print_readable_tables(runner, tmp_path):
    res = runner.invoke(main, ["rds", "estimate", FAUX, "--degree-col", "degree", "--var", "disease",
                               "--estimator", "rds-ii", "--format", "table"])
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[1].split() == ["level", "estimator", "estimate", "se", "95%", "CI", "cv%", "n"]
    # RDS-II share with disease = 1 in fauxmadrona is 0.1641 (README table, R RDS 0.9-10); 4 digits
    # when there is no SE, never 16
    assert any(ln.split()[:3] == ["1", "rds-ii", "0.1641"] for ln in lines)
    # weights popsize: two unregistered households of weight 10 and 20 -> 30; ratio 1000·30/40 = 750
    # (hand calculation, as in hiddenpop.weights.popsize)
    w = pd.DataFrame({"final_weight": [10.0, 20.0, 10.0, 30.0], "registered": [0, 0, 1, 1],
                      "psu": ["a", "b", "a", "b"], "stratum": "S"})
    w.to_csv(tmp_path / "w.csv", index=False)
    res = runner.invoke(main, ["weights", "popsize", str(tmp_path / "w.csv"), "--registry-total", "1000",
                               "--format", "table"])
    assert res.exit_code == 0, res.output
    rows = {ln.split()[0]: ln.split() for ln in res.stdout.splitlines()[2:]}
    assert rows["direct"][1] == "30" and rows["ratio"][1] == "750"
    csv = runner.invoke(main, ["weights", "popsize", str(tmp_path / "w.csv"), "--registry-total", "1000"])
    assert csv.stdout.startswith("estimator,estimate,se")    # piped: CSV as before


def test_json_summary_of_a_command_that_writes_files(runner, tmp_path):
    res = runner.invoke(main, ["referrals", "init", str(tmp_path / "s.db"), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["command"] == "referrals init" and info["outputs"] == [str(tmp_path / "s.db")]


def test_progress_lines_when_stderr_is_not_a_terminal(runner, monkeypatch):
    from hiddenpop.commands import _common

    monkeypatch.setattr(_common, "PROGRESS_EVERY", 0.0)

    @click.command()
    def slow():
        with _common.progress(3, "replications") as advance:
            for _ in range(3):
                time.sleep(0.01)
                advance(1)

    res = runner.invoke(slow, [])
    lines = res.stderr.splitlines()
    assert lines[0].startswith("replications: 1/3 (33%), ") and "left" in lines[0]
    assert lines[-1].startswith("replications: 3/3 (100%)")


def test_simulate_study_keeps_finished_replications_on_ctrl_c(tmp_path):
    (tmp_path / "p.toml").write_text("[households]\nn = 3000\n")
    (tmp_path / "d.toml").write_text("[stage1]\npoints = 40\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "hiddenpop.cli"]
    subprocess.run(cli + ["simulate", "population", str(tmp_path / "p.toml"), "-o", str(tmp_path / "pop"),
                          "--rng-seed", "1"], check=True, capture_output=True, env=env)
    proc = subprocess.Popen(cli + ["simulate", "study", str(tmp_path / "pop"), "--design", str(tmp_path / "d.toml"),
                                   "--replications", "100000", "--bootstrap-reps", "5", "--method", "gwsm",
                                   "-o", str(tmp_path / "study"), "--rng-seed", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    # wait for the first progress line (replications are running), then press Ctrl-C
    first = proc.stderr.readline()
    assert first.startswith("replications: "), first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: wrote the" in err and str(tmp_path / "study") in err
    reps = pd.read_csv(tmp_path / "study" / "replicates.csv")
    done = reps["replicate"].nunique()
    assert 0 < done < 100000
    assert f"Interrupted** after {done} of 100000" in (tmp_path / "study" / "summary.md").read_text()


def test_estimate_and_model_share_one_set_of_design_options():
    # one definition (commands._common.design_options): the same names, defaults, choices and help in both
    from hiddenpop.commands.estimate import estimate
    from hiddenpop.commands.model import model

    def design(cmd):
        return {p.name: (p.opts, p.default, getattr(p.type, "choices", None), p.help) for p in cmd.params
                if p.name in {"weight_col", "stratum_col", "psu_col", "fpc_col", "ultimate_cluster", "calibration",
                              "lonely_psu", "zero_weights", "replicate_cols", "replicate_method", "replicate_scale",
                              "subpop"}}

    assert len(design(estimate)) == 12 and design(estimate) == design(model)
