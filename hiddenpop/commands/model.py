"""``hiddenpop model``: a survey-weighted regression model from the command line (R ``svyglm``).

The design options are those of ``hiddenpop estimate`` (weights, strata, PSUs, FPC,
lonely-PSU policy, replicate weight columns), so the same survey file gives estimates,
differences and models with the same standard errors.
"""
from __future__ import annotations

import click

from hiddenpop.commands._common import (VARIANCE_METHODS, design_options, echo_err, json_option, output_option,
                                        overwrite_option, subpop_option)

__all__ = ["model"]

#: the families of hiddenpop.weights.model.MODEL_FAMILIES offered on the command line (its quasi- names are
#: aliases), spelled out so that ``model --help`` does not import scipy; tests/test_cli_vocabulary.py checks them
FAMILIES = ("gaussian", "binomial", "poisson")


@click.command()
@click.argument("survey_file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--formula", required=True,
              help='Model, outcome ~ predictors, e.g. "works ~ registered + sex + C(age_group)" '
                   "(C(...) for a categorical predictor; its first level is the reference).")
@click.option("--family", type=click.Choice(FAMILIES), default="gaussian",
              show_default=True,
              help="gaussian: linear model; binomial: logistic, for a 0/1 outcome (R quasibinomial); poisson: "
                   "log-linear, for counts (R quasipoisson).")
@click.option("--ratios", is_flag=True, default=False,
              help="Also show odds ratios (binomial) or rate ratios (poisson): exp(coefficient) and its interval.")
@subpop_option
@click.option("--variance", type=click.Choice(VARIANCE_METHODS), default="linearization", show_default=True,
              help="Variance method (replicate = replicate weight columns named by --replicate-cols).")
@click.option("--reps", type=click.IntRange(2), default=500, show_default=True, help="Bootstrap replicates.")
@click.option("--rng-seed", type=int, default=None, help="Seed of the random number generator (bootstrap).")
@click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Confidence level.")
@design_options
@output_option(required=False, help="Write the coefficient table as CSV here (default: a readable table).")
@json_option
@overwrite_option
def model(survey_file, formula, family, ratios, subpop, variance, reps, rng_seed, level, weight_col, stratum_col,
          psu_col, fpc_col, ultimate_cluster, calibration, lonely_psu, zero_weights, replicate_cols, replicate_method,
          replicate_scale, output, as_json, overwrite) -> None:
    """Fit a regression model with design-based standard errors (as R svyglm).

    Prints, for every coefficient: the estimate, its standard error, interval and p-value
    (t on the design's residual degrees of freedom) and its design effect. A model that
    cannot be estimated (collinear columns, or an outcome a predictor separates perfectly)
    is refused with the columns named. Rows with a missing model variable are left out.

    \b
    Examples:
      hiddenpop model child_weights.csv --formula "works ~ registered + sex + C(age_group)" \\
          --family binomial --ratios
      hiddenpop model hh.csv --weight-col weight --formula "children_working ~ registered + n_children" \\
          --family poisson --variance jkn --json
      hiddenpop model child_weights.csv --formula "attends_school ~ registered + sex" --subpop "age>=6" \\
          --family binomial
    """
    import json

    from hiddenpop.commands._common import prepared_design, replicate_columns
    from hiddenpop.errors import EstimationError
    from hiddenpop.io import OutputSet, check_writable, read_csv
    from hiddenpop.weights.model import fit_model, format_model

    if variance == "bootstrap" and rng_seed is None:
        raise click.UsageError("--variance bootstrap needs --rng-seed N (same seed, same replicates)")
    if replicate_method == "other" and variance == "replicate" and replicate_scale is None:
        raise click.UsageError("--replicate-method other needs --replicate-scale")
    if ratios and family == "gaussian":
        raise click.UsageError("--ratios needs --family binomial (odds ratios) or poisson (rate ratios)")
    if output and output != "-":
        check_writable(output, overwrite=overwrite)
    data = read_csv(survey_file)
    rep_cols = replicate_columns(data, replicate_cols, needed=variance == "replicate", source=str(survey_file))
    # the default design columns are optional: a survey without them is unstratified / unclustered
    prepared, refit, stratum_col, psu_col = prepared_design(
        data, survey_file, weight_col=weight_col, stratum_col=stratum_col, psu_col=psu_col, fpc_col=fpc_col,
        ultimate_cluster=ultimate_cluster, lonely_psu=lonely_psu, rep_cols=rep_cols,
        replicate_method=replicate_method, replicate_scale=replicate_scale, zero_weights=zero_weights,
        calibration=calibration, variance=variance, optional_defaults=True)
    replicates = None
    if variance in ("jk1", "jkn", "bootstrap"):
        from hiddenpop.weights.replicates import make_replicates

        replicates = make_replicates(data, prepared, method=variance, reps=reps, rng=rng_seed)
        if refit is not None:
            from hiddenpop.weights.calibrate import recalibrated_replicates

            replicates = recalibrated_replicates(refit, replicates, data, source=str(survey_file))
    inside = None
    if subpop:
        from hiddenpop.commands._common import subpop_conditions, subpop_mask

        inside = subpop_mask(data, subpop, survey_file)
        population = " and ".join(subpop_conditions(subpop))
    try:
        result = fit_model(data, formula, prepared, family=family, variance=variance, replicates=replicates,
                           reps=reps, rng=rng_seed, level=level, ratios=ratios, subpop=inside)
    except EstimationError as exc:    # name the file
        if exc.where:
            raise
        raise EstimationError(exc.message, where=str(survey_file), fix=exc.fix) from None
    table = result.table
    if subpop:  # which population the coefficients are about, as estimate's 'population' column
        table = table.copy()
        table.insert(1, "population", population)
    if output and output != "-":
        with OutputSet(overwrite=overwrite) as out:
            out.add_csv(output, table, float_format="%.17g")
        echo_err(f"wrote {len(result.table)} coefficient(s) to {output}", level=1)
    if as_json:
        click.echo(json.dumps({**result.to_dict(), **({"population": population} if subpop else {})}, indent=2,
                              allow_nan=False))
    elif output == "-":
        from hiddenpop.io import write_csv

        write_csv("-", table)
    elif not output:
        if subpop:
            click.echo(f"population: rows with {population} (--subpop)\n")
        click.echo(format_model(result))
