"""``hiddenpop estimate``: design-based estimates from any weighted survey file.

The design columns default to those ``hiddenpop weights compute`` writes
(``final_weight``, ``stratum``, ``psu``); name them with ``--weight-col``,
``--stratum-col``, ``--psu-col`` and ``--fpc-col`` for a survey from elsewhere
(``--stratum-col none`` / ``--psu-col none`` for an unstratified / unclustered design).
A two-stage design names both stages' ids and FPCs: ``--psu-col district,school
--fpc-col fpc1,fpc2``.

After ``weights calibrate``, linearised SEs go through the calibration recorded in
``<file>.calibration.json`` (R ``svymean`` on a calibrated design), and jk1/jkn/bootstrap
replicates are calibrated one by one; weights that were calibrated but come without that
model are refused.
"""
from __future__ import annotations

import json

import click

from hiddenpop.commands._common import (VARIANCE_METHODS, design_options, echo_err, subpop_option, json_option, output_option,
                                        overwrite_option, prepared_design, progress, replicate_columns,
                                        screen_format_option, split_values)
# --subpop and the column checks are shared with `hiddenpop model` (commands/_common.py)
from hiddenpop.commands._common import check_named_columns as _check_named_columns
from hiddenpop.commands._common import subpop_conditions as _conditions
from hiddenpop.commands._common import subpop_mask as _subpop_mask

__all__ = ["estimate"]

#: spelled out so that ``estimate --help`` does not import the estimators (scipy, pandas);
#: tests/test_cli_vocabulary.py keeps them equal to hiddenpop.weights.estimate.STATISTICS, DOMAIN_DF and
#: PROPORTION_INTERVALS (the design options, shared with ``hiddenpop model``, are commands._common.design_options)
STATISTICS = ("mean", "total", "proportion", "ratio", "quantile")
DOMAIN_DF = ("design", "domain")
PROPORTION_INTERVALS = ("wald", "logit")


def _plain(value):
    """JSON-ready scalar: NaN → null, numpy → Python."""
    import math

    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@click.command()
@click.argument("survey_file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--var", "variables", multiple=True, required=True,
              help="Variable(s) to estimate; repeat or separate with commas.")
@click.option("--stat", "statistic", type=click.Choice(STATISTICS),
              default="mean", show_default=True, help="Statistic.")
@click.option("--by", multiple=True,
              help="Domain variables crossed together, e.g. registered,sex; repeat --by for several tables.")
@subpop_option
@click.option("--denominator", default=None, help="Denominator column for --stat ratio.")
@click.option("--quantile", "quantiles", type=float, multiple=True,
              help="Probability for --stat quantile (repeatable; default 0.5).")
@click.option("--variance", type=click.Choice(VARIANCE_METHODS), default="linearization", show_default=True,
              help="Variance method (replicate = replicate weight columns named by --replicate-cols).")
@click.option("--reps", type=click.IntRange(2), default=500, show_default=True, help="Bootstrap replicates.")
@click.option("--rng-seed", type=int, default=None, help="Seed of the random number generator (bootstrap).")
@click.option("--min-cell", type=click.IntRange(0), default=None,
              help="Suppress estimates with fewer respondents than this.")
@click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Confidence level.")
@click.option("--proportion-ci", type=click.Choice(PROPORTION_INTERVALS), default="wald", show_default=True,
              help="Interval for proportions (logit = R svyciprop).")
@click.option("--domain-df", type=click.Choice(DOMAIN_DF), default="design", show_default=True,
              help="Degrees of freedom of domain intervals (quantiles, logit proportions): the whole design's, "
                   "or the domain's own PSUs minus strata (as R svyby; replicate designs: rank of the "
                   "replicate weights - 1).")
@design_options
@click.option("--replicate-weights-out", type=click.Path(dir_okay=False), default=None,
              help="Also write the replicate analysis weights (jk1/jkn/bootstrap) for R or Stata.")
@click.option("--id-col", default=None, help="Id column copied into --replicate-weights-out (default hh_id/child_id).")
@click.option("--compare", default=None, metavar="VAR",
              help="Also estimate the difference of every level of VAR (one of the --by variables) against "
                   "--reference, within each combination of the other --by variables, with its design-based SE, "
                   "interval and p-value. With -o the differences go to <output>_differences.csv; with --json "
                   "the output is {\"estimates\": [...], \"differences\": [...]}; CSV on standard output is the "
                   "differences.")
@click.option("--reference", default=None, metavar="LEVEL",
              help="Reference level of --compare (default: the first level in sorted order, e.g. 0).")
@click.option("--ratio", "compare_ratio", is_flag=True, default=False,
              help="With --compare, also give the ratio level / reference of the two domain estimates.")
@screen_format_option
@output_option(required=False, help="Output CSV (default: standard output).")
@json_option
@overwrite_option
def estimate(survey_file, variables, statistic, by, subpop, denominator, quantiles, variance, reps, rng_seed, min_cell,
             level, proportion_ci, weight_col, stratum_col, psu_col, fpc_col, ultimate_cluster, domain_df, calibration,
             lonely_psu, zero_weights, replicate_cols, replicate_method, replicate_scale, replicate_weights_out, id_col,
             compare, reference, compare_ratio, screen_format, output, as_json, overwrite) -> None:
    """Design-based estimates with standard errors, by domain.

    \b
    Examples:
      hiddenpop estimate weights.csv --var works --stat mean --by registered,sex -o est.csv
      hiddenpop estimate child_weights.csv --var attends_school --subpop "age>=6" --by registered
      hiddenpop estimate hh.csv --weight-col weight --var income --stat quantile --quantile 0.5 --json
      hiddenpop estimate weights.csv --var works --variance bootstrap --reps 500 --rng-seed 7 -o est.csv
      hiddenpop estimate children.csv --var works --by registered,sex --compare registered --reference 1
    """
    from hiddenpop.errors import DesignError
    from hiddenpop.io import OutputSet, check_writable, read_csv
    from hiddenpop.weights.estimate import domains, estimate_table, normalise_by

    if variance == "bootstrap" and rng_seed is None:
        raise click.UsageError("--variance bootstrap needs --rng-seed N (same seed, same replicates)")
    if replicate_method == "other" and variance == "replicate" and replicate_scale is None:
        raise click.UsageError("--replicate-method other needs --replicate-scale (the variance scale used when "
                               "the replicates were made, e.g. 1/(B-1) for a bootstrap)")
    if statistic == "ratio" and not denominator:
        raise click.UsageError("--stat ratio needs --denominator COLUMN")
    if (reference is not None or compare_ratio) and not compare:
        raise click.UsageError("--reference and --ratio need --compare VAR")
    if compare and statistic == "quantile":
        raise click.UsageError("--compare works with --stat mean, total, proportion or ratio, not quantile")
    if replicate_weights_out and variance not in ("jk1", "jkn", "bootstrap"):
        raise click.UsageError("--replicate-weights-out needs --variance jk1, jkn or bootstrap")
    # refuse to clobber before doing any work
    if output and output != "-":
        check_writable(output, overwrite=overwrite)
    if replicate_weights_out:
        check_writable(replicate_weights_out, overwrite=overwrite)
    if compare and output and output != "-":
        from hiddenpop.commands._compare import differences_path

        check_writable(differences_path(output), overwrite=overwrite)
    data = read_csv(survey_file)
    from hiddenpop._checks import check_unique_ids

    # one row per household (or child): a file of persons (person_id, member_id) may repeat hh_id
    if id_col or not {"person_id", "member_id", "individual_id"} & set(data.columns):
        check_unique_ids(data, source=str(survey_file), columns=(id_col,) if id_col else ("child_id", "hh_id"))
    rep_cols = replicate_columns(data, replicate_cols, needed=variance == "replicate", source=str(survey_file))
    # replicate weights carry the design: the default stratum/psu columns are optional then
    prepared, refit, stratum_col, psu_col = prepared_design(
        data, survey_file, weight_col=weight_col, stratum_col=stratum_col, psu_col=psu_col, fpc_col=fpc_col,
        ultimate_cluster=ultimate_cluster, lonely_psu=lonely_psu, rep_cols=rep_cols,
        replicate_method=replicate_method, replicate_scale=replicate_scale, zero_weights=zero_weights,
        calibration=calibration, variance=variance, optional_defaults=variance == "replicate")
    variables_l = split_values(variables)
    crossings = normalise_by(list(split_values((b,)) for b in by)) if by else []
    _check_named_columns(data, survey_file, {"--var": variables_l, "--by": [v for c in crossings for v in c],
                                             "--compare": [compare] if compare else [],
                                             "--denominator": [denominator] if denominator else []})
    if subpop:
        # outside the subpopulation the analysis and domain variables are blank: those rows keep
        # their place in the design but count in no estimate (R: subset() of a design, na.rm)
        inside = _subpop_mask(data, subpop, survey_file)
        outside = ~inside
        data = data.copy()
        for col in dict.fromkeys(variables_l + [v for c in crossings for v in c]
                                 + ([denominator] if denominator else [])):
            data[col] = data[col].astype(object).where(~outside, None) if data[col].dtype == object else \
                data[col].where(~outside)
    replicates = None
    if variance in ("jk1", "jkn", "bootstrap"):
        from hiddenpop.weights.replicates import make_replicates

        replicates = make_replicates(data, prepared, method=variance, reps=reps, rng=rng_seed)
        if refit is not None:
            # calibrated weights: the replicates start from the input weights and are calibrated
            # one by one (R: as.svrepdesign on the design, then rake/calibrate)
            from hiddenpop.weights.calibrate import recalibrated_replicates

            replicates = recalibrated_replicates(refit, replicates, data, source=str(survey_file))
    n_cells = sum(len(domains(data, c)) for c in crossings) if crossings else 1
    with progress(n_cells * len(variables_l), "estimating") as advance:
        table = estimate_table(data, prepared, variables=variables_l, statistic=statistic,
                               by=crossings or None, variance=variance if replicates is None else "linearization",
                               replicates=replicates, min_cell=min_cell, denominator=denominator,
                               quantiles=list(quantiles) or [0.5], level=level, proportion_ci=proportion_ci,
                               domain_df=domain_df, progress=advance)
    if subpop:
        table.insert(list(table.columns).index("domain") + 1 if "domain" in table else 0, "population",
                     " and ".join(_conditions(subpop)))
    diffs = None
    if compare:
        from hiddenpop.commands._compare import compute_differences

        diffs = compute_differences(data, prepared, crossings=crossings, compare=compare, reference=reference,
                                    variables=variables_l, statistic=statistic, denominator=denominator,
                                    variance=variance if replicates is None else "linearization",
                                    replicates=replicates, min_cell=min_cell, level=level, ratio=compare_ratio,
                                    subpop=inside if subpop else None, source=str(survey_file))
    rep_frame = None
    if replicate_weights_out:
        from hiddenpop.weights.replicates import replicate_weights_frame, stata_svyset_call, svrepdesign_call

        if id_col is None:
            id_col = next((c for c in ("hh_id", "child_id", "id") if c in data.columns), None)
        elif id_col not in data.columns:
            raise DesignError(f"id column {id_col!r} not found", where=str(survey_file), fix="name an existing column")
        rep_frame = replicate_weights_frame(replicates, prepared.weights, ids=data[id_col] if id_col else None,
                                            id_col=id_col or "id", weight_col=weight_col)
    with OutputSet(overwrite=overwrite) as out:
        if output and output != "-":
            out.add_csv(output, table)
            if diffs is not None:
                from hiddenpop.commands._compare import differences_path

                out.add_csv(differences_path(output), diffs)
        if rep_frame is not None:
            out.add_csv(replicate_weights_out, rep_frame, float_format="%.17g")
            if not __import__("numpy").allclose(replicates.rscales, replicates.rscales[0]):
                import pandas as pd

                side = str(replicate_weights_out).rsplit(".", 1)[0] + ".rscales.csv"
                rs = pd.DataFrame({"replicate": [f"rep_{i + 1}" for i in range(replicates.n_replicates)],
                                   "rscale": replicates.rscales})
                out.add_csv(side, rs, float_format="%.17g")
    if rep_frame is not None:
        echo_err("R:\n" + svrepdesign_call(replicates, file=str(replicate_weights_out), weight_col=weight_col))
        echo_err("Stata:\n" + stata_svyset_call(replicates, file=str(replicate_weights_out), weight_col=weight_col))
    if as_json:
        records = [{k: _plain(v) for k, v in row.items()} for row in table.to_dict("records")]
        if diffs is not None:
            records = {"estimates": records,
                       "differences": [{k: _plain(v) for k, v in r.items()} for r in diffs.to_dict("records")]}
        click.echo(json.dumps(records, indent=2, allow_nan=False))
    elif not output or output == "-":
        import shutil
        import sys

        as_table = screen_format == "table" or (screen_format == "auto" and not output and sys.stdout.isatty())
        if as_table:
            from hiddenpop.weights.estimate import format_estimates

            width = max(60, min(shutil.get_terminal_size((80, 24)).columns, 160))
            if subpop:
                click.echo(f"population: rows with {' and '.join(_conditions(subpop))} (--subpop)\n")
            click.echo(format_estimates(table, width=width, level=level))
            if diffs is not None:
                from hiddenpop.weights.compare import format_comparisons

                click.echo("\ndifferences\n\n" + format_comparisons(diffs, level=level))
        else:
            from hiddenpop.io import write_csv

            write_csv("-", table if diffs is None else diffs)
    else:
        echo_err(f"wrote {len(table)} estimate(s) to {output}", level=1)
        if diffs is not None:
            from hiddenpop.commands._compare import differences_path

            echo_err(f"wrote {len(diffs)} difference(s) to {differences_path(output)}", level=1)

