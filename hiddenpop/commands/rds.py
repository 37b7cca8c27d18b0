"""``hiddenpop rds``: respondent-driven-sampling estimates and diagnostics.

``hiddenpop rds estimate DATA --var hiv --estimator ss --population-size 500,1000,1500 --variance tree``
``hiddenpop rds diagnose DATA --var hiv -o diagnostics/``

DATA is a referral store (SQLite, detected by its first bytes) or a CSV in R ``RDS`` format.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from hiddenpop.commands._common import (echo_err, format_intervals, json_option, json_summary_option,
                                        overwrite_option, progress, renamed_option, screen_format_option,
                                        wants_table)

# The choices of the options below, spelled out so that `--help` and every other command start
# without importing scipy/statsmodels (hiddenpop.rds); tests/test_cli_vocabulary.py checks that
# they equal the library registries (ESTIMATORS, BOOTSTRAP_METHODS, CI_TYPES, DEGREE_RULES, SS_METHODS,
# regression.MODEL_VARIANCES, REGRESSION_FAMILIES, OUTCOME_FREE_ESTIMATORS and analytic.ANALYTIC_VARIANCES).
ESTIMATORS = ("rds-i", "rds-i-ds", "rds-ii", "ss", "hcg", "mean")
BOOTSTRAP_METHODS = ("salganik", "tree", "ss", "neighbourhood")
ANALYTIC_VARIANCES = ("el",)
CI_TYPES = ("percentile", "t")
DEGREE_RULES = ("max", "median")
SS_METHODS = ("deterministic", "simulation")
MODEL_VARIANCES = ("tree", "neighbourhood", "chain")
REGRESSION_FAMILIES = ("gaussian", "binomial", "poisson")
FIT_ESTIMATORS = ("rds-ii", "ss", "mean")

__all__ = ["rds", "load_rds_sample"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_CSV_DEFAULTS = {"id_col": "id", "recruiter_col": "recruiter.id", "degree_col": "network.size", "time_col": None}
_STORE_DEFAULTS = {"id_col": "respondent_id", "recruiter_col": "recruiter_id", "degree_col": "network_size",
                   "time_col": "interview_time"}


def _is_store(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == _SQLITE_MAGIC
    except IsADirectoryError:
        return False


def load_rds_sample(path: str | Path, *, id_col: str | None = None, recruiter_col: str | None = None,
                    degree_col: str | None = None, seed_marker: str | None = None, time_col: str | None = None,
                    population_size: Any = None):
    """Read DATA (a referral store or an R-style CSV) into an :class:`~hiddenpop.rds.RDSSample`."""
    from hiddenpop.rds.sample import rds_sample_from_table

    path = Path(path)
    if not path.exists():
        raise click.BadParameter(f"{path}: no such file", param_hint="DATA")
    if _is_store(path):
        from hiddenpop.io.store import ReferralStore

        table = ReferralStore.open(path).respondents()
        defaults = _STORE_DEFAULTS
        if time_col is None and (defaults["time_col"] not in table.columns or table[defaults["time_col"]].isna().all()):
            defaults = {**defaults, "time_col": None}
    else:
        from hiddenpop.io import read_csv

        table = read_csv(path)
        defaults = _CSV_DEFAULTS
    cols = {k: (v if v is not None else defaults[k]) for k, v in
            dict(id_col=id_col, recruiter_col=recruiter_col, degree_col=degree_col, time_col=time_col).items()}
    return rds_sample_from_table(table, seed_marker=seed_marker, population_size=population_size,
                                 source=str(path), **cols)


def _data_options(f):
    for opt in reversed([
        click.option("--id-col", default=None, help="Respondent id column [CSV: id; store: respondent_id]."),
        click.option("--recruiter-col", default=None,
                     help="Recruiter id column [CSV: recruiter.id; store: recruiter_id]."),
        click.option("--degree-col", default=None,
                     help="Network size (degree) column [CSV: network.size; store: network_size]."),
        click.option("--seed-marker", default=None,
                     help="Recruiter id that marks seeds (default: empty, or the one recruiter id that is not a "
                          "respondent id, e.g. 'seed' or 0)."),
        click.option("--time-col", default=None,
                     help="Recruitment/interview time column (numbers or date-times) used to order respondents "
                          "for HCG and convergence plots [store: interview_time; CSV: none, wave order]."),
        click.option("--population-size", default=None, metavar="N|LOW,MID,HIGH",
                     help="Population size N, or low,mid,high guesses (SS and HCG are then reported at each)."),
        click.option("--degree-rule", type=click.Choice(list(DEGREE_RULES)), default="max", show_default=True,
                     help="Zero/missing network sizes: 'max' = largest degree (R RDS); 'median' = median degree, "
                          "at least recruits+1."),
        click.option("--ss-method", type=click.Choice(list(SS_METHODS)), default="deterministic",
                     show_default=True,
                     help="SS inclusion probabilities of the point estimate: exact deterministic fixed point, or "
                          "R's simulation. Bootstrap replicates always use the deterministic one, so "
                          "the interval carries no extra simulation noise."),
    ]):
        f = opt(f)
    return f


def _se_title(variance: str | None) -> str:
    return "no" if not variance else "analytic (EL)" if variance == "el" else f"bootstrap {variance}"


def _parse_population(value: str | None):
    from hiddenpop.rds.sample import parse_population_size

    if value is None:
        return None
    try:
        return parse_population_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--population-size") from None


@click.group()
def rds() -> None:
    """RDS estimators (RDS-I, RDS-II, SS, HCG), bootstraps and diagnostics."""


def _clean(v: Any) -> Any:
    import numpy as np

    if v is None:
        return None
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


@rds.command("estimate")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--var", "outcomes", multiple=True,
              help="Variable to estimate (repeat, or separate with commas). Text and 0/1 columns give one "
                   "proportion per level; other numbers give a mean.")
@renamed_option("--outcome", "--var", "old_outcomes", multiple=True)
@click.option("--categorical", "categorical", multiple=True, metavar="COL",
              help="Variable coded as numbers that are categories (1/2/3, as in RDSAT files and most forms): one "
                   "proportion per level, as R RDS gives for a factor (to.factor=TRUE). Repeatable; implies "
                   "--var COL.")
@click.option("--estimator", "estimators", type=click.Choice(list(ESTIMATORS)), multiple=True,
              help="Estimator (repeatable) [default: ss when a population size is known, else rds-ii]. "
                   "ss and hcg need --population-size.")
@_data_options
@click.option("--variance", type=click.Choice(BOOTSTRAP_METHODS + ANALYTIC_VARIANCES), default=None,
              help="Standard errors and intervals: a bootstrap, or el, R RDS's default analytic SE for proportions "
                   "(rds-i, rds-i-ds, rds-ii, ss; no random seed; interval estimate ± 1.96·se at --level 0.95, as R "
                   "prints it). Without it se, ci_low and ci_high are empty.")
@click.option("--reps", type=click.IntRange(min=2), default=1000, show_default=True, help="Bootstrap replicates.")
@click.option("--ci", "ci_type", type=click.Choice(list(CI_TYPES)), default="t", show_default=True,
              help="Interval: estimate ± z·se ('t', R's default) or bootstrap percentiles.")
@click.option("--level", "conf_level", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True,
              help="Confidence level.")
@click.option("--rng-seed", type=int, default=None,
              help="Seed of the random number generator (needed with --variance or --ss-method simulation).")
@json_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the estimates as CSV here (default: standard output, a table on a terminal).")
@screen_format_option
@click.option("--weights-output", type=click.Path(dir_okay=False), default=None,
              help="Also write per-respondent weights (id, outcome, estimator, population_size, weight) as CSV.")
@overwrite_option
def estimate_cmd(data, outcomes, old_outcomes, categorical, estimators, id_col, recruiter_col, degree_col, seed_marker,
                 time_col, population_size, degree_rule, ss_method, variance, reps, ci_type, conf_level, rng_seed, as_json,
                 output, screen_format, weights_output, overwrite):
    """Population proportions / means from an RDS sample.

    \b
    Example:
      hiddenpop rds estimate tests/data/rds_oracle/data/fauxmadrona.csv --degree-col degree \\
          --var disease --estimator ss \\
          --population-size 500,1000,1500 --variance tree --reps 1000 --rng-seed 1 --json

    With low,mid,high population sizes, SS and HCG are estimated at each (column scenario), so you
    see how much the answer depends on N; the other estimators do not use N.
    Without --variance the se/ci columns are empty (no interval is computed).
    A column of category codes (1 = Kurdish, 2 = Arab, …) gives a mean unless declared with
    --categorical COL.
    """
    import numpy as np
    import pandas as pd

    from hiddenpop.io import check_writable, write_csv
    from hiddenpop.rds.analytic import el_for_estimates
    from hiddenpop.rds.bootstrap import BOOTSTRAP_METHODS as bootstraps
    from hiddenpop.rds.estimators import estimate, rds_weights

    outcomes = [v.strip() for item in (*outcomes, *old_outcomes) for v in str(item).split(",") if v.strip()]
    outcomes = tuple(outcomes) + tuple(c for c in dict.fromkeys(categorical) if c not in outcomes)
    if not outcomes:
        raise click.UsageError("name the variable to estimate with --var COLUMN (or --categorical COLUMN for "
                               "category codes)")
    pops = _parse_population(population_size)
    bootstrap = variance in BOOTSTRAP_METHODS
    if (bootstrap or ss_method == "simulation") and rng_seed is None:
        raise click.UsageError("--rng-seed is required with a bootstrap --variance or --ss-method simulation")
    for p in (output, weights_output):
        if p:
            check_writable(p, overwrite=overwrite)
    sample = load_rds_sample(data, id_col=id_col, recruiter_col=recruiter_col, degree_col=degree_col,
                             seed_marker=seed_marker, time_col=time_col, population_size=pops)
    if categorical:
        sample = sample.with_categorical(list(dict.fromkeys(categorical)))
    if not estimators:
        estimators = ("ss",) if sample.population_size[1] is not None else ("rds-ii",)
    if variance == "el" and sample.population_size[1] is None:
        echo_err("note: no --population-size, so the EL standard errors have no finite-population factor "
                 "(R applies (N - n)/(N - 1) with the data's population size)")
    if "hcg" in estimators and sample.time is None:
        echo_err("note: no interview times (--time-col), so HCG orders respondents by wave, as R does")
    rng = np.random.default_rng(rng_seed) if rng_seed is not None else None
    scenarios = [("mid", sample.population_size[1])]
    if sample.population_size[0] is not None or sample.population_size[2] is not None:
        scenarios = [(lab, v) for lab, v in zip(("low", "mid", "high"), sample.population_size) if v is not None]
    rows, weight_frames = [], []
    for outcome in outcomes:
        sample.outcome(outcome)
        for est in estimators:
            uses_n = est in ("ss", "hcg")
            for label, N in (scenarios if uses_n else [("mid", sample.population_size[1])]):
                w = rds_weights(sample, est, outcome=outcome, population_size=N, degree_rule=degree_rule,
                                rng=rng, ss_method=ss_method)
                e = estimate(sample, outcome, estimator=est, population_size=N, weights=w.to_numpy(),
                             degree_rule=degree_rule)
                e.insert(0, "scenario", label if uses_n else "")
                e["se"] = np.nan
                e["ci_low"] = np.nan
                e["ci_high"] = np.nan
                e["design_effect"] = np.nan
                e["variance"] = variance or ""
                e["reps"] = reps if bootstrap else np.nan
                if variance == "el":
                    for col, values in el_for_estimates(sample, outcome, est, w, e, population_size=N,
                                                        level=conf_level).items():
                        e[col] = values
                elif variance:
                    with progress(reps, f"{variance} bootstrap {outcome} {est}") as advance:
                        res = bootstraps[variance](
                            sample, estimator=est, outcome=outcome, population_size=N, reps=reps, rng=rng,
                            progress=advance, degree_rule=degree_rule, ci=ci_type, level=conf_level)
                    bf = res.to_frame()
                    if e["kind"].iloc[0] == "numeric":
                        bf = bf.iloc[:1].assign(level=None)
                    key = e["level"].astype(str)
                    bf = bf.set_index(bf["level"].astype(str))
                    for col in ("se", "ci_low", "ci_high", "design_effect"):
                        e[col] = bf[col].reindex(key).to_numpy(dtype=float)
                rows.append(e)
                if weights_output:
                    weight_frames.append(pd.DataFrame({"id": w.index, "outcome": outcome, "estimator": est,
                                                       "scenario": label if uses_n else "",
                                                       "population_size": N, "weight": w.to_numpy()}))
    table = pd.concat(rows, ignore_index=True)
    cols = ["outcome", "level", "kind", "estimator", "scenario", "population_size", "estimate", "se", "ci_low",
            "ci_high", "design_effect", "variance", "reps", "n", "n_valid", "n_level"]
    table = table[cols]
    if weights_output:
        write_csv(weights_output, pd.concat(weight_frames, ignore_index=True), overwrite=overwrite)
    if output:
        write_csv(output, table, overwrite=overwrite)
        echo_err(f"wrote {len(table)} estimates to {output}")
    if as_json:
        records = [{k: _clean(v) for k, v in r.items()} for r in table.to_dict("records")]
        click.echo(json.dumps(records, indent=2))
    elif not output:
        if wants_table(screen_format):
            with_n = [f"{e} (N={float(n):,.0f})" if sc and n is not None and n == n else e
                      for e, sc, n in zip(table["estimator"], table["scenario"], table["population_size"])]
            shown = table.assign(estimator=with_n, level=table["level"].map(lambda v: "" if v is None else v))
            for var, part in shown.groupby("outcome", sort=False):
                click.echo(format_intervals(part.drop(columns="n").rename(columns={"n_valid": "n"}),
                                            label_cols=["level", "estimator"], level=conf_level,
                                            title=f"{var} ({_se_title(variance)} SE)"))
                click.echo("")
            if not variance:
                click.echo("no standard errors: add --variance tree --rng-seed N for SEs and intervals")
        else:
            write_csv("-", table)


@rds.command("model")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--formula", required=True,
              help='Model, outcome ~ predictors, e.g. "hiv ~ age + C(sex)" (C(...) for a categorical predictor).')
@click.option("--family", type=click.Choice(REGRESSION_FAMILIES), default="gaussian",
              show_default=True, help="gaussian: linear; binomial: logistic (0/1 outcome); poisson: counts.")
@click.option("--estimator", type=click.Choice(FIT_ESTIMATORS), default=None,
              help="Weights of the fit [default: ss when a population size is known, else rds-ii]; mean: every "
                   "respondent weighs the same (the unweighted fit, to compare with).")
@_data_options
@click.option("--variance", type=click.Choice(MODEL_VARIANCES), default="tree", show_default=True,
              help="Standard errors: refit the model in every tree or neighbourhood bootstrap replicate, or "
                   "'chain' = cluster-robust by recruitment chain (unreliable with fewer than ~20 chains).")
@click.option("--reps", type=click.IntRange(min=2), default=1000, show_default=True, help="Bootstrap replicates.")
@click.option("--level", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True,
              help="Confidence level.")
@click.option("--ratios", is_flag=True, default=False,
              help="Also show odds ratios (binomial) or rate ratios (poisson): exp(coefficient) and its interval.")
@click.option("--rng-seed", type=int, default=None, help="Seed of the random number generator (bootstrap).")
@json_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the coefficient table as CSV here (default: a readable table).")
@overwrite_option
def model_cmd(data, formula, family, estimator, id_col, recruiter_col, degree_col, seed_marker, time_col,
              population_size, degree_rule, ss_method, variance, reps, level, ratios, rng_seed, as_json, output,
              overwrite):
    """A weighted regression on an RDS sample, with bootstrap standard errors.

    The same shape as `hiddenpop model` for a survey: coefficient, SE, interval and
    p-value per term. The SEs come from refitting the model with the weights of every
    bootstrap replicate of the recruitment trees.

    \b
    Example:
      hiddenpop rds model tests/data/rds_oracle/data/fauxmadrona.csv --degree-col degree \\
          --formula "disease ~ degree" --family binomial --ratios --reps 500 --rng-seed 1
    """
    import numpy as np   # inside the command: --help loads no heavy library

    from hiddenpop.io import check_writable, write_csv
    from hiddenpop.rds.regression import rds_model

    if variance != "chain" and rng_seed is None:
        raise click.UsageError("--rng-seed is required for the bootstrap (--variance tree or neighbourhood)")
    if ratios and family == "gaussian":
        raise click.UsageError("--ratios needs --family binomial (odds ratios) or poisson (rate ratios)")
    if output:
        check_writable(output, overwrite=overwrite)
    pops = _parse_population(population_size)
    sample = load_rds_sample(data, id_col=id_col, recruiter_col=recruiter_col, degree_col=degree_col,
                             seed_marker=seed_marker, time_col=time_col, population_size=pops)
    est = estimator or ("ss" if sample.population_size[1] is not None else "rds-ii")
    with progress(reps if variance != "chain" else 1, f"{variance} bootstrap model") as advance:
        table = rds_model(sample, formula, family=family, estimator=est, variance=variance, reps=reps,
                          rng=np.random.default_rng(rng_seed), level=level, ratios=ratios,
                          population_size=sample.population_size[1], degree_rule=degree_rule, progress=advance)
    if output:
        write_csv(output, table, overwrite=overwrite)
        echo_err(f"wrote {len(table)} coefficient(s) to {output}")
    if as_json:
        click.echo(json.dumps({"formula": formula, "family": family, "estimator": est, "variance": variance,
                               "n": int(sample.n), "level": level,
                               "coefficients": [{k: _clean(v) for k, v in r.items()}
                                                for r in table.to_dict("records")]}, indent=2))
    elif not output:
        from hiddenpop.weights.estimate import round_sig

        head = ["term", "estimate", "se", f"{100 * level:g}% CI", "p-value"] + (
            ["odds ratio" if family == "binomial" else "rate ratio", "ratio CI"] if ratios else [])
        rows = []
        for r in table.to_dict("records"):
            se, p = r["se"], r["p_value"]
            row = [r["term"], round_sig(r["estimate"], se), round_sig(se, se),
                   f"{round_sig(r['ci_low'], se)} to {round_sig(r['ci_high'], se)}",
                   "" if not np.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")]
            if ratios:
                row += [f"{r['ratio']:.3g}", f"{r['ratio_ci_low']:.3g} to {r['ratio_ci_high']:.3g}"]
            rows.append(row)
        widths = [max(len(head[j]), *(len(row[j]) for row in rows)) for j in range(len(head))]
        reps_used = table["reps"].iloc[0]
        how = "chain-clustered SE" if variance == "chain" else f"{variance} bootstrap SE, {int(reps_used)} replicates"
        lines = [f"{formula}  ({family}, {est} weights, {how}, n {sample.n:,})"]
        for row in [head] + rows:
            lines.append(("  " + "  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j])
                                           for j, c in enumerate(row))).rstrip())
        click.echo("\n".join(lines))


@rds.command("diagnose")
@json_summary_option
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--var", "variables", multiple=True, required=True,
              help="Categorical variable to diagnose (repeat for several).")
@click.option("--categorical", "categorical", multiple=True, metavar="COL",
              help="A --var coded as numbers that are categories (1/2/3): treat its codes as levels (repeatable).")
@click.option("--estimator", type=click.Choice(list(ESTIMATORS)), default=None,
              help="Estimator for the convergence/bottleneck curves, population homophily and differential "
                   "activity [default: ss when N is known, else rds-ii].")
@_data_options
@click.option("--rng-seed", type=int, default=None, help="Seed (only for --ss-method simulation).")
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False), required=True,
              help="Folder for the plots and tables.")
@overwrite_option
def diagnose_cmd(data, variables, categorical, estimator, id_col, recruiter_col, degree_col, seed_marker, time_col,
                 population_size, degree_rule, ss_method, rng_seed, outdir, overwrite):
    """Convergence and bottleneck plots, homophily, transition matrices.

    \b
    Writes into the folder:
      convergence_<var>.png, bottleneck_<var>.png   cumulative estimates in recruitment order
      transitions_<var>.csv                        recruiter x recruit counts, proportions, equilibrium
      homophily.csv                                recruitment and population homophily per level
      differential_activity.csv                    weighted mean degree per level and ratio to the rest

    \b
    Example:
      hiddenpop rds diagnose tests/data/rds_oracle/data/fauxmadrona.csv --degree-col degree \\
          --var disease --population-size 1000 -o diag/
    """
    from hiddenpop.io import OutputSet
    from hiddenpop.rds import diagnostics as dg

    if ss_method == "simulation" and rng_seed is None:
        raise click.UsageError("--rng-seed is required with --ss-method simulation")
    pops = _parse_population(population_size)
    sample = load_rds_sample(data, id_col=id_col, recruiter_col=recruiter_col, degree_col=degree_col,
                             seed_marker=seed_marker, time_col=time_col, population_size=pops)
    if categorical:
        sample = sample.with_categorical(list(dict.fromkeys(categorical)))
    est = estimator or dg.default_diagnostic_estimator(sample)
    if est == "hcg" and sample.time is None:
        echo_err("note: no interview times (--time-col), so HCG orders respondents by wave, as R does")
    kw = dict(degree_rule=degree_rule, rng=rng_seed, ss_method=ss_method)
    out = Path(outdir)
    figures, tables = {}, {}
    homo, act = [], []
    for var in variables:
        figures[f"convergence_{var}.png"] = dg.convergence_plot(sample, var, estimator=est, **kw)
        figures[f"bottleneck_{var}.png"] = dg.bottleneck_plot(sample, var, estimator=est, **kw)
        tables[f"transitions_{var}.csv"] = dg.transition_matrix(sample, var)
        rh = dg.recruitment_homophily(sample, var)
        ph = dg.population_homophily(sample, var, estimator=est, **kw)
        ph["recruitment_homophily"] = float(rh["recruitment_homophily"].iloc[0])
        ph["n_transitions"] = int(rh["n_transitions"].iloc[0])
        homo.append(ph)
        act.append(dg.differential_activity(sample, var, estimator=est, **kw))
    import pandas as pd

    tables["homophily.csv"] = pd.concat(homo, ignore_index=True)
    tables["differential_activity.csv"] = pd.concat(act, ignore_index=True)
    with OutputSet(overwrite=overwrite) as outputs:
        for name, fig in figures.items():
            outputs.add(out / name, lambda p, f=fig: f.savefig(p, format="png", dpi=120, metadata={"Software": None},
                                                               bbox_inches="tight"))
        for name, tab in tables.items():
            outputs.add_csv(out / name, tab)
    echo_err(f"wrote {len(figures) + len(tables)} files to {out}/ (estimator {est})")
