"""``hiddenpop weights``: two-stage weights, calibration and the size of the unregistered population.

Flow: ``weights compute`` (stage-1 probabilities, nonresponse, GWSM stage-2 weights,
optional replicates) → ``weights calibrate`` (registry margins) → ``hiddenpop estimate``.
"""
from __future__ import annotations

import json

import click

from hiddenpop.commands._common import (add_result, echo_err, format_intervals, json_option, json_summary_option,
                                        output_option, overwrite_option, progress, screen_format_option,
                                        wants_table)
from hiddenpop.commands._common import RegistryChoice

__all__ = ["weights"]


def _bounds(ctx, param, value):
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("give two numbers, e.g. 0.5,3") from None
    if not lo < 1 < hi:
        raise click.BadParameter("bounds must satisfy lower < 1 < upper, e.g. 0.5,3")
    return lo, hi


def _check_bounds_given(method: str, bounds, option: str) -> None:
    """Logit calibration keeps g inside the bounds, so it cannot run without them."""
    if method == "logit" and bounds is None:
        raise click.UsageError(f"{option} logit needs --bounds lower,upper (lower < 1 < upper, e.g. --bounds 0.5,2): "
                               "logit calibration keeps every calibration factor inside them")


def _cols(value: str | None) -> tuple[str, ...]:
    if value is None or value.strip().lower() in ("", "none"):
        return ()
    return tuple(v.strip() for v in value.split(",") if v.strip())


@click.group()
def weights() -> None:
    """Weighting engine: inclusion probabilities, weights, calibration, population size."""


@weights.command()
@json_summary_option
@click.option("--households", "households_path", type=click.Path(dir_okay=False), required=True,
              help="Household records (docs/data-contract.md, 'Survey records'): hh_id, found_by, point_id, "
                   "recruiter_id, network_size, network_size_eligible, referrals_given, registered, stratum, "
                   "outcomes.")
@click.option("--children", "children_path", type=click.Path(dir_okay=False), default=None,
              help="Child records (hh_id, child_id, …): child weights are written to --children-out.")
@click.option("--children-out", type=click.Path(dir_okay=False), default=None,
              help="Output CSV of child weights (required with --children).")
@click.option("--design", "design_path", type=click.Path(dir_okay=False), default=None,
              help="Design manifest (points.design.json): RGCS stage-1 probabilities from household locations.")
@click.option("--points", "points_path", type=click.Path(dir_okay=False), default=None,
              help="Points file of the design, so that empty points count as zeros in the replicates.")
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
              help="Referral store (SQLite): takes found_by, recruiter, coupons issued, network sizes and the "
                   "selection events (point hits, redeemed coupons) from it.")
@click.option("--selections", "selections_path", type=click.Path(dir_okay=False), default=None,
              help="Selection events (hh_id, found_by, point_id, recruiter_id) for households reached twice; "
                   "with --store, added to the store's own events (duplicates counted once).")
@click.option("--method", type=RegistryChoice("hiddenpop.weights.referral:REFERRAL_METHODS"), default="gwsm", show_default=True,
              help="Stage-2 weights: GWSM (design-based), or union/multiplicity for comparison only.")
@click.option("--stage1", "stage1_method", type=RegistryChoice("hiddenpop.weights.stage1:STAGE1_METHODS", exclude=["list-srs"]), default=None,
              help="Stage-1 probabilities (default: rgcs with --design, else the stage1_prob column).")
@click.option("--stage1-form", type=RegistryChoice("hiddenpop.weights.referral:STAGE1_FORMS"), default="ht", show_default=True,
              help="ht: 1/π¹ per household; hh: 1/expected hits per point hit.")
@click.option("--referral-target", type=RegistryChoice("hiddenpop.weights.referral:REFERRAL_TARGETS"), default="unregistered",
              show_default=True, help="Which households referrals were asked for.")
@click.option("--deeper-waves", type=RegistryChoice("hiddenpop.weights.referral:DEEPER_WAVE_METHODS"), default="rds-ii", show_default=True,
              help="Weights of households reached only at wave ≥ 2 (model-based, flagged).")
@click.option("--nonresponse-cells", default="psu", show_default=True,
              help="Columns of the nonresponse cells (psu = root first-stage point), comma-separated.")
@click.option("--margins", "margins_path", type=click.Path(dir_okay=False), default=None,
              help="Calibrate to these margins (variable,level,total) in the same run (and in every replicate).")
@click.option("--calibration", type=RegistryChoice("hiddenpop.weights.calibrate:CALIBRATION_METHODS", exclude=["raking"]),
              default="rake", show_default=True,
              help="With --margins: raking (multiplicative), linear calibration (GREG) or logit calibration "
                   "(every factor strictly inside --bounds, which it requires).")
@click.option("--bounds", callback=_bounds, default=None,
              help="Bounds on the calibration factor, e.g. 0.5,3 (required with --calibration logit).")
@click.option("--replicates", type=RegistryChoice("hiddenpop.weights.replicates:REPLICATE_METHODS"), default=None,
              help="Replicate weights at point level, the whole weighting redone per replicate.")
@click.option("--reps", type=click.IntRange(2), default=500, show_default=True, help="Bootstrap replicates.")
@click.option("--theta-var", default=None,
              help="Choose the composite factor θ of deeper waves by inverse bootstrap variance of this column's "
                   "total (needs --replicates); default: the design-based share of the eligible sample.")
@click.option("--empty-replicate-levels", "empty_levels", type=RegistryChoice("hiddenpop.weights.calibrate:EMPTY_LEVEL_POLICIES"),
              default="collapse",
              show_default=True, help="With --margins: a level with no weight in a replicate is merged into the "
                                      "next level in that replicate, or stops with an error.")
@click.option("--rng-seed", type=int, default=None, help="Seed of the random number generator (bootstrap).")
@click.option("--lon-col", default="lon", show_default=True, help="Longitude column of the households (WGS84).")
@click.option("--lat-col", default="lat", show_default=True, help="Latitude column of the households (WGS84).")
@output_option(help="Output weights CSV (docs/data-contract.md, 'Weights').")
@overwrite_option
def compute(households_path, children_path, children_out, design_path, points_path, store_path, selections_path,
            method, stage1_method, stage1_form, referral_target, deeper_waves, nonresponse_cells, margins_path,
            calibration, bounds, replicates, reps, theta_var, empty_levels, rng_seed, lon_col, lat_col, output,
            overwrite):
    """Compute household (and child) weights of the two-stage design.

    \b
    Example:
      hiddenpop weights compute --households hh.csv --design points.design.json \\
          --points points.csv --replicates bootstrap --reps 500 --rng-seed 1 -o weights.csv
    """
    from hiddenpop.io import OutputSet, check_writable, read_csv
    from hiddenpop.weights.children import child_weights
    from hiddenpop.weights.pipeline import WeightingOptions, compute_weights
    from hiddenpop.weights.referral import ColumnMap

    if replicates == "bootstrap" and rng_seed is None:
        raise click.UsageError("--replicates bootstrap needs --rng-seed")
    _check_bounds_given(calibration, bounds, "--calibration")
    if children_path and not children_out:
        raise click.UsageError("--children needs --children-out")
    check_writable(output, overwrite=overwrite)
    if children_out:
        check_writable(children_out, overwrite=overwrite)
        if margins_path:
            from hiddenpop.weights.calibrate import calibration_sidecar

            check_writable(calibration_sidecar(children_out), overwrite=overwrite)
    hh = read_csv(households_path, dtype={"hh_id": str, "point_id": str, "recruiter_id": str, "stratum": str})
    columns = ColumnMap()
    if store_path:
        from hiddenpop.io.store import ReferralStore
        from hiddenpop.referrals.households import join_referrals, selection_events, selections_table

        # the store is read once: respondents with recruiters derived and the hashes that link households
        respondents = ReferralStore.open(store_path).respondents(include_personal_hashes=True)
        hh = join_referrals(hh, respondents, source=str(households_path))
        columns = ColumnMap(coupons_issued="coupons_issued")
    manifest = None
    if design_path:
        from hiddenpop.io.spatial import read_design

        manifest = read_design(design_path)
    points = None
    if points_path:
        from hiddenpop.io.spatial import read_points

        points = read_points(points_path)
    selections = read_csv(selections_path, dtype=str) if selections_path else None
    if selections is not None:
        selections.attrs["source"] = str(selections_path)
    if store_path:
        selections = selections_table(selection_events(respondents), respondents, hh, extra=selections,
                                      store_name=str(store_path))
    if not selections_path and manifest is not None and points is not None:
        _warn_unrecorded_repeats(hh, points, manifest, selections, lon_col, lat_col)
    margins = None
    if margins_path:
        from hiddenpop.io.tables import read_margins

        margins = read_margins(margins_path)
        if margins["from_survey"].any():
            raise click.UsageError(f"{margins_path}: 'survey' totals are for 'hiddenpop weights calibrate'; "
                                   "compute the weights without --margins, then calibrate them")
        margins = margins.drop(columns="from_survey")
        _check_margin_variables(margins, hh, margins_path, households_path)
    options = WeightingOptions(method=method, referral_target=referral_target, stage1_method=stage1_method,
                               stage1_form=stage1_form, deeper_waves=deeper_waves,
                               nonresponse_cells=_cols(nonresponse_cells), calibration=calibration, bounds=bounds,
                               lon_col=lon_col, lat_col=lat_col)
    n_reps = 0 if replicates is None else (reps if replicates == "bootstrap" else 0)
    if theta_var is not None:
        n_reps *= 2  # once to choose θ, once with θ fixed
    with progress(n_reps, "replicates") as advance:
        res = compute_weights(hh, design_manifest=manifest, selections=selections, points=points, columns=columns,
                              options=options, margins=margins, replicates=replicates, reps=reps, rng=rng_seed,
                              theta_var=theta_var, empty_levels=empty_levels, progress=advance,
                              source=str(households_path))
    table = res.to_frame()
    kids = None
    if children_path:
        ch = read_csv(children_path, dtype={"hh_id": str, "child_id": str})
        kids = child_weights(ch, table, source=str(children_path))
    model = (res.info.get("calibration") or {}).get("model")
    settings = {
        "step": "weights compute", "method": method, "stage1": stage1_method or ("rgcs" if manifest else None),
        "stage1_form": stage1_form, "referral_target": referral_target, "deeper_waves": deeper_waves,
        "nonresponse_cells": nonresponse_cells, "replicates": replicates, "reps": reps if replicates else None,
        "rng_seed": rng_seed, "design_rng_seed": manifest.rng_seed if manifest is not None else None,
        "margins": str(margins_path) if margins_path else None, "calibration": calibration if margins_path else None,
        "inputs": {k: str(v) for k, v in {"households": households_path, "children": children_path,
                                            "design": design_path, "points": points_path, "store": store_path,
                                            "selections": selections_path}.items() if v},
        "children_out": str(children_out) if children_out else None,
    }
    with OutputSet(overwrite=overwrite) as out:
        out.add_csv(output, table)
        out.add(settings_path(output), lambda p: p.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8"))
        if kids is not None:
            out.add_csv(children_out, kids)
        if model is not None:
            # the calibration model, so that 'estimate' linearises through it (docs/estimation.md, calibration)
            from hiddenpop.io import json_text
            from hiddenpop.weights.calibrate import calibration_sidecar

            out.add(calibration_sidecar(output), lambda p: p.write_text(json_text(model), encoding="utf-8"))
            if kids is not None:   # calibrated with their households: the children's model names them
                kid_model = children_model(model, output, children_out)
                out.add(calibration_sidecar(children_out),
                        lambda p: p.write_text(json_text(kid_model), encoding="utf-8"))
    info = res.info
    add_result(households=int(info["n_households"]), estimated_households=float(info["population_size"]),
               share_from_referral=float(info["share_from_referral"]), kish_deff=float(info["kish_deff_final"]),
               files=[str(output), str(settings_path(output))] + ([str(children_out)] if children_out else []))
    echo_err(f"{info['n_households']} households weighted ({method}); estimated households "
             f"{info['population_size']:.1f}; share of weight from referral {info['share_from_referral']:.1%}"
             + (f" (unregistered: {info['share_from_referral_unregistered']:.1%})"
                if info.get("share_from_referral_unregistered") is not None else "")
             + f"; Kish deff {info['kish_deff_final']:.2f}")
    flagged = res.info.get("n_flagged") or {}
    if flagged:
        echo_err("kept with a flag: " + ", ".join(f"{v} {k}" for k, v in flagged.items())
                 + (" (not referral-eligible: weight 0 unless also found at a point)"
                    if "referred-not-eligible" in flagged else ""))
    if res.info.get("theta") is not None:
        echo_err(f"deeper waves: composite θ = {res.info['theta']:.3f}; wave-1-only (design-based) estimate of "
                 f"households {res.info['population_size_wave1']:.1f} (column wave1_weight)")
    cal_rep = (res.info.get("calibration") or {}).get("replicates_collapsed")
    if cal_rep and cal_rep["n_replicates"]:
        echo_err(f"{cal_rep['n_replicates']} replicate(s) had an empty calibration level, merged into its "
                 f"neighbour: {cal_rep['levels']}")
    if len(res.excluded):
        echo_err(f"{len(res.excluded)} household(s) left out: "
                 + ", ".join(f"{k} {v}" for k, v in res.excluded.reason.value_counts().items()))
    if method != "gwsm":
        echo_err(f"note: the {method} weights are offered for comparison only (see docs/weights.md)")


def _warn_unrecorded_repeats(hh, points, design, selections, lon_col, lat_col) -> None:
    """Without --selections: warn when households lie within the circles of two or more points.

    Such a household was reached (or should have been) by each of those points; GWSM counts
    every selection, so leaving them out makes its weight, and the totals, too large.
    """
    import warnings

    from hiddenpop.errors import HiddenPopWarning
    from hiddenpop.weights.selections import points_within_radius

    radius = design.radius_m   # a FirstStageDesign (hiddenpop.io.spatial.read_design)
    if not radius or lon_col not in hh or lat_col not in hh or not {"lon", "lat", "point_id"} <= set(points.columns):
        return
    near = points_within_radius(hh, points, float(radius), lon_col=lon_col, lat_col=lat_col)
    near = near[near["n_points"] > 1]
    if near.empty:
        return
    recorded = {}
    if selections is not None and len(selections):
        pts = selections[selections["found_by"].astype(str) == "point"]
        recorded = pts.groupby(pts["hh_id"].astype(str))["point_id"].nunique().to_dict()
    missed = near[[recorded.get(h, 1) < n for h, n in zip(near["hh_id"], near["n_points"])]]
    if missed.empty:
        return
    first = missed.iloc[0]
    warnings.warn(HiddenPopWarning(
        f"{len(missed)} household(s) lie within {float(radius):g} m of two or more points (e.g. {first['hh_id']}: "
        f"{first['point_ids'].replace(';', ', ')}) but only one selection is recorded, so their weights are too "
        "large: give --selections with one row per selection (hh_id, found_by, point_id, recruiter_id), which also "
        "lists households reached by a point and a coupon or by two coupons (docs/data-contract.md, "
        "'Selections')"), stacklevel=2)


def _warn_design_stratum_margin(margins, table, margins_path) -> None:
    """Margins on ``stratum`` when the weights file also has ``household_stratum``: say which is which.

    ``weights compute`` writes the design stratum (a household reached by referral takes its root
    point's) as ``stratum`` and, where it differs, the stratum the household lives in as
    ``household_stratum``. A registry counts households where they live.
    """
    if "household_stratum" not in table.columns:
        return
    names = [str(n) for n in margins["variable"]]
    if any("stratum" in (v.strip() for v in n.split(" x ")) for n in names):
        import warnings

        from hiddenpop.errors import HiddenPopWarning

        differ = int((table["household_stratum"].astype(str) != table["stratum"].astype(str)).sum())
        warnings.warn(HiddenPopWarning(
            f"{margins_path}: the margins name 'stratum', the design stratum of the weights file, where {differ} "
            "household(s) reached by referral take their root point's stratum; if the registry counts households "
            "where they live, name 'household_stratum' in the margins instead"), stacklevel=2)


def _check_margin_variables(margins, table, margins_path, data_path) -> None:
    """Every variable a margin names (``a x b`` for a combined margin) must be a column of the data."""
    import difflib

    from hiddenpop.errors import InputFileError, format_where

    for i, name in enumerate(margins["variable"]):
        for var in (v.strip() for v in str(name).split(" x ")):
            if var not in table.columns:
                close = difflib.get_close_matches(var, [str(c) for c in table.columns], n=1)
                raise InputFileError(
                    f"margin variable {var!r} is not a column of {data_path}",
                    where=format_where(margins_path, row=i + 2, column="variable", value=name),
                    fix=(f"did you mean {close[0]!r}? " if close else "")
                    + "name a column of the weights file (combined margins join columns with ' x ')")


@weights.command()
@click.argument("weights_path", metavar="WEIGHTS_CSV", type=click.Path(dir_okay=False))
@click.option("--margins", "margins_path", type=click.Path(dir_okay=False), required=True,
              help="Registry totals: variable,level,total (combined margins 'a x b' with levels 'x|y').")
@click.option("--method", type=RegistryChoice("hiddenpop.weights.calibrate:CALIBRATION_METHODS", exclude=["raking"]), default="rake", show_default=True,
              help="Raking (multiplicative), linear calibration (GREG) or logit calibration (every factor g "
                   "strictly inside --bounds, which it requires).")
@click.option("--bounds", callback=_bounds, default=None,
              help="Bounds on the calibration factor g, e.g. 0.5,3 (required with --method logit).")
@click.option("--max-iter", type=click.IntRange(1), default=None,
              help="Iteration limit of the calibration (default: 1000 for raking, 50 for Newton steps).")
@click.option("--weight-col", default="final_weight", show_default=True, help="Weight column.")
@click.option("--empty-replicate-levels", "empty_levels", type=RegistryChoice("hiddenpop.weights.calibrate:EMPTY_LEVEL_POLICIES"),
              default="collapse",
              show_default=True, help="A margin level with no weight in a replicate: merge it into the next level "
                                      "in that replicate, or stop with an error (as R survey would).")
@click.option("--children", "children_path", type=click.Path(dir_okay=False), default=None,
              help="Children of the households (children.csv, or the child weights 'weights compute' wrote): "
                   "they get the calibrated household weights, so child and household totals agree.")
@click.option("--children-out", type=click.Path(dir_okay=False), default=None,
              help="Output CSV of the children with the calibrated weights (with --children).")
@json_option
@output_option(help="Output CSV with calibrated final_weight (and replicates).")
@overwrite_option
def calibrate(weights_path, margins_path, method, bounds, max_iter, weight_col, empty_levels, children_path,
              children_out, as_json, output, overwrite):
    """Calibrate weights (and their replicates rep_*) to registry margins.

    The input weights are kept as precalibration_weight; replicate weights are
    recalibrated one by one with the same settings. The calibration model (margins,
    method, bounds) is written next to the output as <output>.calibration.json, so
    that 'hiddenpop estimate --variance linearization' can linearise through it. With
    --children/--children-out,
    each child gets its household's calibrated weight and replicate weights (divided by
    its within-household selection probability, if the file has child_selection_prob), and
    <children-out>.calibration.json points to the households' calibration (so child
    estimates linearise through it too; keep the household output next to it).

    \b
    Example:
      hiddenpop weights calibrate weights.csv --margins margins.csv -o calibrated.csv
    """
    import numpy as np
    import pandas as pd

    from hiddenpop._checks import check_columns, check_probability_columns, check_unique_ids, check_weights
    from hiddenpop.io import OutputSet, check_writable, json_text, read_csv
    from hiddenpop.io.tables import read_margins
    from hiddenpop.weights.calibrate import Calibrator, calibrate_replicates, calibration_model, calibration_sidecar

    _check_bounds_given(method, bounds, "--method")
    check_writable(output, overwrite=overwrite)
    check_writable(calibration_sidecar(output), overwrite=overwrite)
    if bool(children_path) != bool(children_out):
        raise click.UsageError("--children and --children-out go together (the children file and where to write "
                               "their calibrated weights)")
    if children_out:
        check_writable(children_out, overwrite=overwrite)
        check_writable(calibration_sidecar(children_out), overwrite=overwrite)
    table = read_csv(weights_path, dtype={"hh_id": str, "child_id": str, "psu": str, "stratum": str})
    margins = read_margins(margins_path)
    check_unique_ids(table, source=str(weights_path))
    check_probability_columns(table, source=str(weights_path))
    check_columns(table, [weight_col], source=str(weights_path))
    # rows that 'weights compute' kept with weight 0 and a flag (e.g. referred but not
    # eligible) stay at 0; every other row needs a weight > 0
    flagged = (table["weight_flag"].astype(object).fillna("").astype(str).str.len() > 0).to_numpy() if "weight_flag" in table \
        else np.zeros(len(table), bool)
    zero = flagged & (pd.to_numeric(table[weight_col], errors="coerce").to_numpy(float) == 0)
    w = np.zeros(len(table))
    w[~zero] = check_weights(table.loc[~zero, weight_col], column=weight_col, source=str(weights_path),
                             fix="every household needs a weight > 0 (rows kept with weight 0 need a reason in "
                                 "weight_flag, as 'weights compute' writes); correct the weight or name the "
                                 "weight column with --weight-col")
    _check_margin_variables(margins, table, margins_path, weights_path)
    _warn_design_stratum_margin(margins, table, margins_path)
    cal_method = "raking" if (bounds is not None and method == "rake") else method
    live = table.loc[~zero]
    own = margins["from_survey"].to_numpy(bool) if "from_survey" in margins else np.zeros(len(margins), bool)
    margins = margins.drop(columns="from_survey", errors="ignore")
    own_masks = _survey_cell_masks(margins[own], live, margins_path)
    full_margins = _fill_survey_totals(margins, own, own_masks, w[~zero])
    cal = Calibrator(cal_method, bounds=bounds, max_iter=max_iter).fit(live, w[~zero], full_margins, source=str(margins_path))
    out = table.copy()
    out["precalibration_weight"] = w
    new_w = np.zeros(len(table))
    new_w[~zero] = cal.weights_
    out[weight_col] = new_w
    reps = [c for c in table.columns if str(c).startswith("rep_")]
    collapsed = None
    if reps:
        rep_w = np.zeros((len(table), len(reps)))
        base = live[reps].to_numpy(dtype=float)
        targets = None
        if own.any():
            # survey-estimated cells: in each replicate the target is that replicate's own
            # total, so the cell's sampling variance survives calibration; rows of the
            # targets follow the fitted margins' levels (Margin.rows: margins-file rows)
            by_row = np.repeat(full_margins["total"].to_numpy(float)[:, None], len(reps), axis=1)
            by_row[np.flatnonzero(own)] = np.vstack([base[m].sum(axis=0) for m in own_masks])
            targets = by_row[[r - 2 for m in cal.margins_ for r in m.rows]]
        rep_w[~zero], collapsed = calibrate_replicates(cal, live, base, targets=targets, names=reps,
                                                       empty_levels=empty_levels, source=str(margins_path))
        out[reps] = rep_w
    model = calibration_model(cal, full_margins, weight_col=weight_col, from_survey=own)
    child_table = None
    if children_path:
        from hiddenpop.weights.children import child_weights

        kids = read_csv(children_path, dtype={"hh_id": str, "child_id": str, "psu": str, "stratum": str})
        carried = [c for c in out.columns if c in ("base_weight", "precalibration_weight", weight_col)
                   or str(c).startswith("rep_")]
        kids = kids.drop(columns=[c for c in carried if c in kids.columns])
        child_table = child_weights(kids, out, weight_cols=carried,
                                    selection_prob_col="child_selection_prob" if "child_selection_prob" in kids
                                    else None, source=str(children_path))
    before = settings_path(weights_path)
    settings = {"step": "weights calibrate", "method": cal_method, "bounds": list(bounds) if bounds else None,
                "margins_file": str(margins_path),
                "margins": [{"variable": str(v), "level": str(lv), "total": ("survey" if o else float(t))}
                            for v, lv, t, o in zip(full_margins["variable"], full_margins["level"],
                                                   full_margins["total"], own)],
                "children_out": str(children_out) if children_out else None,
                "weights": str(weights_path),
                "computed": json.loads(before.read_text(encoding="utf-8")) if before.exists() else None}
    with OutputSet(overwrite=overwrite) as outputs:
        outputs.add_csv(output, out)
        outputs.add(calibration_sidecar(output), lambda p: p.write_text(json_text(model), encoding="utf-8"))
        outputs.add(settings_path(output),
                    lambda p: p.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8"))
        if child_table is not None:
            outputs.add_csv(children_out, child_table)
            # the children's weights are the households' calibrated weights: their model is the
            # households' calibration (estimate refits it on the household file it names)
            kid_model = children_model(model, output, children_out)
            outputs.add(calibration_sidecar(children_out),
                        lambda p: p.write_text(json_text(kid_model), encoding="utf-8"))
    if collapsed and collapsed["n_replicates"]:
        echo_err(f"{collapsed['n_replicates']} replicate(s) had an empty calibration level, merged into its "
                 f"neighbour: {collapsed['levels']}")
    report = cal.result_.margin_table
    if as_json:
        click.echo(json.dumps(report.to_dict("records"), default=float))
    from hiddenpop.weights.trim import kish_deff

    echo_err(f"{cal_method} calibration converged in {cal.n_iter_} iteration(s), largest margin error "
             f"{cal.max_margin_error_:.3g}; weights {w.sum():,.1f} → {cal.weights_.sum():,.1f}; Kish deff "
             f"{kish_deff(w[~zero]):.3f} → {kish_deff(cal.weights_):.3f}")


@weights.command()
@json_summary_option
@click.argument("weights_path", metavar="WEIGHTS_CSV", type=click.Path(dir_okay=False))
@click.option("--upper", type=click.FloatRange(0, min_open=True), default=None,
              help="Upper bound on a weight (weights above it are set to it).")
@click.option("--upper-median", type=click.FloatRange(1, min_open=True), default=None,
              help="Upper bound as a multiple of the median weight, e.g. 3 (Potter; R trimWeights examples).")
@click.option("--lower", type=click.FloatRange(0, min_open=True), default=None,
              help="Lower bound on a weight (weights below it are raised to it).")
@click.option("--strict", is_flag=True, default=False,
              help="Repeat until no weight is outside the bounds (R strict=TRUE); default one pass.")
@click.option("--weight-col", default="final_weight", show_default=True, help="Weight column.")
@output_option(help="Output CSV with trimmed weight column (and rep_* trimmed with the same bounds).")
@overwrite_option
def trim(weights_path, upper, upper_median, lower, strict, weight_col, output, overwrite):
    """Trim extreme weights (R trimWeights), keeping their sum.

    Kish's design effect is reported before and after.

    The excess above the bound is shared equally among the untrimmed weights, so the
    estimated population size does not change. The weights before trimming are kept as
    pretrim_weight. Replicate weights rep_* are trimmed with the same bounds.

    \b
    Example:
      hiddenpop weights trim calibrated.csv --upper-median 3 -o trimmed.csv
    """
    import numpy as np
    import pandas as pd

    from hiddenpop._checks import check_columns
    from hiddenpop.io import check_writable, read_csv, write_csv
    from hiddenpop._checks import check_weights
    from hiddenpop.weights.trim import trim_weights

    if (upper is None) == (upper_median is None):
        raise click.UsageError("give the upper bound with --upper X or --upper-median K (one of them)")
    check_writable(output, overwrite=overwrite)
    table = read_csv(weights_path, dtype={"hh_id": str, "child_id": str, "psu": str, "stratum": str})
    check_columns(table, [weight_col], source=str(weights_path))
    flagged = (table["weight_flag"].astype(object).fillna("").astype(str).str.len() > 0).to_numpy() \
        if "weight_flag" in table else np.zeros(len(table), bool)
    zero = flagged & (pd.to_numeric(table[weight_col], errors="coerce").to_numpy(float) == 0)
    w = np.zeros(len(table))
    w[~zero] = check_weights(table.loc[~zero, weight_col], column=weight_col, source=str(weights_path),
                             fix="every row needs a weight > 0 (rows kept with weight 0 need a reason in "
                                 "weight_flag); correct the weight or name the column with --weight-col")
    live = ~zero
    bound = upper if upper is not None else upper_median * float(np.median(w[live]))
    low = -np.inf if lower is None else lower
    res = trim_weights(w[live], upper=bound, lower=low, strict=strict)
    out = table.copy()
    out.insert(out.columns.get_loc(weight_col) + 1, "pretrim_weight", w)
    new = np.zeros(len(table))
    new[live] = res.weights
    out[weight_col] = new
    for c in [c for c in table.columns if str(c).startswith("rep_")]:
        rw = pd.to_numeric(table[c], errors="coerce").to_numpy(float)
        pos = rw > 0
        if pos.any():
            rw = rw.copy()
            rw[pos] = trim_weights(rw[pos], upper=max(bound, rw[pos].mean()), lower=low, strict=strict).weights
        out[c] = rw
    write_csv(output, out, overwrite=overwrite)
    how = f"{bound:,.4g}" + (f" ({upper_median:g} × median)" if upper_median is not None else "")
    echo_err(f"trimmed {res.n_trimmed} of {int(live.sum())} weights at {how}; sum of weights kept at "
             f"{res.weights.sum():,.1f}; Kish deff {res.deff_before:.3f} → {res.deff_after:.3f}"
             + (f"; {res.n_outside} weight(s) pushed above the bound again by the sharing (use --strict)"
                if res.n_outside else ""))


@weights.command()
@click.argument("weights_path", metavar="WEIGHTS_CSV", type=click.Path(dir_okay=False))
@click.option("--registry-total", type=click.FloatRange(0, min_open=True), default=None,
              help="Registered population N_R (same units) for the ratio/multiplier estimator.")
@click.option("--size-col", default=None, help="Persons per household to count (default: households).")
@click.option("--weight-col", default="final_weight", show_default=True, help="Weight column.")
@click.option("--registered-col", default="registered", show_default=True,
              help="Registration status column (1 registered, 0 unregistered).")
@click.option("--interval", type=RegistryChoice("hiddenpop.weights.popsize:INTERVALS"), default="log", show_default=True,
              help="Interval: on the log scale (never below 0, asymmetric) or estimate ± z·se.")
@click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95, show_default=True,
              help="Confidence level.")
@click.option("--replicate-method", type=RegistryChoice("hiddenpop.weights.popsize:POPSIZE_REPLICATES"), default="bootstrap", show_default=True,
              help="How the rep_* columns were made (linearisation when there are none).")
@json_option
@output_option(required=False, help="Output CSV (default: standard output, a table on a terminal).")
@screen_format_option
@overwrite_option
def popsize(weights_path, registry_total, size_col, weight_col, registered_col, interval, level, replicate_method,
            as_json, output, screen_format, overwrite):
    """Size of the unregistered population: direct and ratio to the registry.

    \b
    Example:
      hiddenpop weights popsize weights.csv --registry-total 1851
    """
    from hiddenpop.io import read_csv, write_csv
    from hiddenpop.weights.popsize import population_size

    table = read_csv(weights_path, dtype={"hh_id": str, "psu": str, "stratum": str})
    res = population_size(table, registry_total=registry_total, weight_col=weight_col,
                          registered_col=registered_col, size_col=size_col, interval=interval, level=level,
                          replicate_method=replicate_method, source=str(weights_path))
    if output:
        write_csv(output, res, overwrite=overwrite)
    if as_json:
        click.echo(json.dumps(res.to_dict("records"), default=float))
    elif not output:
        if wants_table(screen_format):
            units = str(res["units"].iloc[0]) if "units" in res and len(res) else "households"
            what = "households" if units == "households" else f"{units} (persons in unregistered households)"
            click.echo(format_intervals(res, label_cols=["estimator"], level=level,
                                        title=f"unregistered {what}, {res['method'].iloc[0]} SE"))
            if registry_total is None:
                click.echo("(the ratio estimator needs --registry-total: the registered count in the same units)")
        else:
            write_csv("-", res)


def settings_path(weights_csv) -> "Path":
    """The settings file written next to a weights file: ``weights.csv`` → ``weights.settings.json``.

    It records how the weights were made (method, replicates, both random seeds, margins), for
    the report's technical details and for reproducing the figures.
    """
    from pathlib import Path

    p = Path(str(weights_csv))
    return p.with_name(p.name[: -len(p.suffix)] + ".settings.json" if p.suffix else p.name + ".settings.json")


def _survey_cell_masks(own_rows, data, margins_path) -> list:
    """Row masks of the margin cells whose target is the survey's own estimate."""
    import numpy as np

    from hiddenpop.weights.calibrate import level_text

    masks = []
    for _, r in own_rows.iterrows():
        variables = [v.strip() for v in str(r["variable"]).split(" x ")]
        levels = [v.strip() for v in str(r["level"]).split("|")]
        mask = np.ones(len(data), bool)
        for v, lev in zip(variables, levels):
            mask &= data[v].map(level_text).astype(str).str.strip().to_numpy() == lev
        masks.append(mask)
    return masks


def _fill_survey_totals(margins, own, masks, weights):
    """Margins with every 'survey' cell's total set to the weighted total of ``weights``."""
    import numpy as np

    out = margins.copy()
    if own.any():
        totals = out["total"].to_numpy(dtype=float).copy()
        totals[np.flatnonzero(own)] = [float(np.sum(weights[m])) for m in masks]
        out["total"] = totals
    return out


def children_model(model: dict, households_out: str, children_out: str) -> dict:
    """The calibration model of children who carry their households' calibrated weights: the
    households' model, with the household output named relative to the children's file (so the
    two can move together) and the columns that link them. ``estimate`` refits it on the
    household file (:func:`hiddenpop.weights.calibrate.refit_children_model`).

    >>> children_model({"method": "rake"}, "out/hh.csv", "out/kids.csv")["households_file"]
    'hh.csv'
    """
    import os

    return {**model, "unit": "children", "id_col": "hh_id", "selection_prob_col": "child_selection_prob",
            "households_file": os.path.relpath(os.path.abspath(households_out),
                                               os.path.dirname(os.path.abspath(children_out)))}
