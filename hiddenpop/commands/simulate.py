"""``hiddenpop simulate``: synthetic populations and repeated-sampling studies."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from hiddenpop.commands._common import (EXIT_INTERRUPTED, echo_err, json_option, overwrite_option, progress,
                                        renamed_option, rng_seed_option)

__all__ = ["simulate"]

#: spelled out so that ``simulate --help`` does not import the study (numpy, pandas); equal to
#: hiddenpop.simulate.study.VARIANCES (tests/test_cli_vocabulary.py)
VARIANCES = ("bootstrap", "linearization")


@click.group()
def simulate() -> None:
    """Synthetic populations and simulation studies of whole designs.

    \b
    hiddenpop simulate population PARAMS.toml -o popdir/ --rng-seed 1
    hiddenpop simulate study popdir/ --design design.toml --replications 1000 --jobs 2 -o study/ --rng-seed 2
    """


@simulate.command("population")
@click.argument("params", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(file_okay=False), required=True,
              help="Folder to write (frame.gpkg, population.tif, households.csv, children.csv, network.csv, ...).")
@rng_seed_option
@json_option
@overwrite_option
def population_cmd(params: str, output: str, rng_seed: int, as_json: bool, overwrite: bool) -> None:
    """Generate a synthetic province with refugee households from PARAMS (TOML).

    Every parameter is documented in examples/params.toml; missing ones take their defaults.
    """
    from hiddenpop.io.population import read_params, write_population
    from hiddenpop.simulate.population import generate_population

    from hiddenpop.simulate.population import merge_params

    p = merge_params(read_params(params), source=params)      # errors name the file
    pop = generate_population(p, rng=rng_seed)
    write_population(output, pop, overwrite=overwrite)
    t = pop.truth()
    if as_json:
        import json

        click.echo(json.dumps({"output": str(output), **{k: float(v) for k, v in t.items()}}, indent=2))
    echo_err(f"wrote {output}: {int(t['households'])} households ({int(t['unregistered_households'])} unregistered), "
             f"{int(t['children'])} children, {len(pop.units)} neighbourhoods, mean degree {t['mean_degree']:.1f}")


@simulate.command("study")
@click.argument("popdir", type=click.Path(file_okay=False))
@click.option("--design", "design_path", type=click.Path(dir_okay=False), required=True,
              help="Design settings (TOML: [stage1] points, radius_m, ...; [referral] coupons, waves, ...).")
@click.option("--replications", type=click.IntRange(min=2), default=None,
              help="How many times the whole design is drawn from the population [default: 200]. (Not --reps: "
                   "that is the number of bootstrap replicates elsewhere; here it is --bootstrap-reps.)")
@renamed_option("--reps", "--replications", "old_reps", type=click.IntRange(min=2), default=None)
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine (results do not depend on it).")
@click.option("--variance", type=click.Choice(VARIANCES), default="bootstrap", show_default=True,
              help="Standard errors of each replicate: PSU bootstrap redoing the weighting, or linearisation.")
@click.option("--bootstrap-reps", type=click.IntRange(min=2), default=100, show_default=True,
              help="Bootstrap replicates inside each replication.")
@click.option("--method", "methods", multiple=True,
              help="Weighting method(s) to score: stage1, gwsm, union, multiplicity (repeat or separate with "
                   "commas) [default: all four].")
@renamed_option("--methods", "--method", "old_methods", default=None)
@click.option("-o", "--output", type=click.Path(file_okay=False), required=True,
              help="Folder for summary.csv, summary.md, replicates.csv and the plots.")
@rng_seed_option
@json_option
@overwrite_option
def study_cmd(popdir: str, design_path: str, replications: int | None, old_reps: int | None, jobs: int, variance: str,
              bootstrap_reps: int, methods: tuple[str, ...], old_methods: str | None, output: str, rng_seed: int,
              as_json: bool, overwrite: bool) -> None:
    """Draw the design from POPDIR again and again and score every weighting method.

    Writes bias, relative RMSE, CV and 95% CI coverage with Monte Carlo SEs, and the cost in
    interviews, per method and target (summary.csv / summary.md), every replicate's estimates
    (replicates.csv) and two plots. Progress goes to stderr (a line every few seconds when
    stderr is a log file). Ctrl-C stops the study and still writes the replications finished
    so far (marked "interrupted" in summary.md), then exits with 130.

    \b
    Example:
      hiddenpop simulate study pop/ --design examples/design.toml --replications 20 \\
          --jobs 2 -o study/ --rng-seed 2
    """
    from hiddenpop.io import OutputSet
    from hiddenpop.io.population import read_params, read_population
    from hiddenpop.simulate.study import run_study, study_figures, summary_markdown

    from hiddenpop.simulate.sampler import merge_design

    design = merge_design(read_params(design_path), source=design_path)   # checked before the population is read
    pop = read_population(popdir)
    from hiddenpop.io import check_writable

    reps = replications or old_reps or 200
    method_list = tuple(m.strip() for item in (*methods, *([old_methods] if old_methods else []))
                        for m in item.split(",") if m.strip()) or ("stage1", "gwsm", "union", "multiplicity")
    out = Path(output)
    for name in ("summary.csv", "summary.md", "replicates.csv"):
        check_writable(out / name, overwrite=overwrite)   # refuse before hours of work, not after
    with progress(reps, "replications") as advance:
        result = run_study(pop, design, reps=reps, rng=rng_seed, jobs=jobs, methods=method_list, variance=variance,
                           bootstrap_reps=bootstrap_reps, progress=advance)
    done = int(result.replicates["replicate"].nunique())
    figs = study_figures(result)
    header = (f"# Simulation study\n\n{done} replications, design {Path(design_path).name}, population {popdir}, "
              f"--rng-seed {rng_seed}, standard errors by {variance}.\n\n")
    if result.interrupted:
        header += (f"**Interrupted** after {done} of {reps} replications (Ctrl-C): the figures below use the "
                   "replications finished so far.\n\n")
    with OutputSet(overwrite=overwrite) as outputs:
        outputs.add_csv(out / "summary.csv", result.summary)
        outputs.add(out / "summary.md", lambda p: p.write_text(header + summary_markdown(result.summary),
                                                               encoding="utf-8"))
        outputs.add_csv(out / "replicates.csv", result.replicates)
        for name, fig in figs.items():
            outputs.add_figure(out / f"{name}.png", fig, dpi=110)
    if as_json:
        import json

        click.echo(json.dumps({"replications": done, "requested": reps, "interrupted": result.interrupted,
                               "output": str(out), "summary": json.loads(result.summary.to_json(orient="records"))},
                              indent=2))
    else:
        click.echo(summary_markdown(result.summary), nl=False)
    if result.interrupted:
        echo_err(f"interrupted: wrote the {done} replication(s) finished so far (of {reps}) to {out}/ "
                 "(summary.md, summary.csv, replicates.csv)")
        sys.exit(EXIT_INTERRUPTED)
