"""``hiddenpop simulate``: synthetic populations and repeated-sampling studies."""
from __future__ import annotations

from pathlib import Path

import click

from hiddenpop.commands._common import echo_err, overwrite_option, progress, rng_seed_option

__all__ = ["simulate"]


@click.group()
def simulate() -> None:
    """Synthetic populations and simulation studies of whole designs.

    \b
    hiddenpop simulate population PARAMS.toml -o popdir/ --rng-seed 1
    hiddenpop simulate study popdir/ --design design.toml --reps 1000 --jobs 2 -o study/ --rng-seed 2
    """


@simulate.command("population")
@click.argument("params", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(file_okay=False), required=True,
              help="Folder to write (frame.gpkg, population.tif, households.csv, children.csv, network.csv, ...).")
@rng_seed_option
@overwrite_option
def population_cmd(params: str, output: str, rng_seed: int, overwrite: bool) -> None:
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
    echo_err(f"wrote {output}: {int(t['households'])} households ({int(t['unregistered_households'])} unregistered), "
             f"{int(t['children'])} children, {len(pop.units)} neighbourhoods, mean degree {t['mean_degree']:.1f}")


@simulate.command("study")
@click.argument("popdir", type=click.Path(file_okay=False))
@click.option("--design", "design_path", type=click.Path(dir_okay=False), required=True,
              help="Design settings (TOML: [stage1] points, radius_m, ...; [referral] coupons, waves, ...).")
@click.option("--reps", type=click.IntRange(min=2), default=200, show_default=True, help="Replications.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine (results do not depend on it).")
@click.option("--variance", type=click.Choice(["bootstrap", "linearization"]), default="bootstrap", show_default=True,
              help="Standard errors of each replicate: PSU bootstrap redoing the weighting, or linearisation.")
@click.option("--bootstrap-reps", type=click.IntRange(min=2), default=100, show_default=True,
              help="Bootstrap replicates inside each replication.")
@click.option("--methods", default="stage1,gwsm,union,multiplicity", show_default=True,
              help="Comma-separated weighting methods to score.")
@click.option("-o", "--output", type=click.Path(file_okay=False), required=True,
              help="Folder for summary.csv, summary.md, replicates.csv and the plots.")
@rng_seed_option
@overwrite_option
def study_cmd(popdir: str, design_path: str, reps: int, jobs: int, variance: str, bootstrap_reps: int, methods: str,
              output: str, rng_seed: int, overwrite: bool) -> None:
    """Draw the design REPS times from POPDIR and score every weighting method.

    Writes bias, relative RMSE, CV and 95% CI coverage with Monte Carlo SEs, and the cost in
    interviews, per method and target (summary.csv / summary.md), every replicate's estimates
    (replicates.csv) and two plots.

    \b
    Example:
      hiddenpop simulate study pop/ --design examples/design.toml --reps 20 \\
          --jobs 2 -o study/ --rng-seed 2
    """
    from hiddenpop.io import OutputSet
    from hiddenpop.io.population import read_params, read_population
    from hiddenpop.simulate.study import run_study, study_figures, summary_markdown

    from hiddenpop.simulate.sampler import merge_design

    design = merge_design(read_params(design_path), source=design_path)   # checked before the population is read
    pop = read_population(popdir)
    method_list = tuple(m.strip() for m in methods.split(",") if m.strip())
    out = Path(output)
    with progress(reps, "replications") as advance:
        result = run_study(pop, design, reps=reps, rng=rng_seed, jobs=jobs, methods=method_list, variance=variance,
                           bootstrap_reps=bootstrap_reps, progress=advance)
    figs = study_figures(result)
    header = (f"# Simulation study\n\n{reps} replications, design {Path(design_path).name}, population {popdir}, "
              f"--rng-seed {rng_seed}, standard errors by {variance}.\n\n")
    with OutputSet(overwrite=overwrite) as outputs:
        outputs.add_csv(out / "summary.csv", result.summary)
        outputs.add(out / "summary.md", lambda p: p.write_text(header + summary_markdown(result.summary),
                                                               encoding="utf-8"))
        outputs.add_csv(out / "replicates.csv", result.replicates)
        for name, fig in figs.items():
            outputs.add_figure(out / f"{name}.png", fig, dpi=110)
    click.echo(summary_markdown(result.summary), nl=False)
