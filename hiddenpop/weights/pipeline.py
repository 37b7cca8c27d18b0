"""From household records and the design manifest to final weights (and replicates).

:func:`compute_weights` runs the whole weighting of the two-stage design:

1. stage-1 probabilities (:mod:`hiddenpop.weights.stage1`: RGCS from the manifest, or a
   column, cell/segment PPS, list-frame SRS);
2. nonresponse adjustment of the stage-1 weights within cells (default: the first-stage
   point, i.e. the factor M_t / k_t) (:mod:`hiddenpop.weights.nonresponse`);
3. stage-2 weights by GWSM (default), union or multiplicity, with the redemption rate and
   κ̂ estimated from the sample, and RDS weights for deeper waves
   (:mod:`hiddenpop.weights.referral`);
4. optional calibration to registry margins (:mod:`hiddenpop.weights.calibrate`).

With ``replicates="bootstrap"`` (Rao–Wu–Yue rescaling, B ≥ 500) or a jackknife, the
replicate factors are drawn at first-stage point level, with **every referred household
attached to its root point** and empty points included, and steps 2–4 are **redone in
every replicate** (docs/methods.md, 'Variance: the point bootstrap and linearisation'), so the replicate weights
carry the variability of ĥ, κ̂, the nonresponse factors and the calibration.

The weights table follows docs/data-contract.md, 'Weights': ``hh_id``, ``stratum``, ``psu`` (root point),
``found_by``, ``wave``, ``stage1_prob``, ``stage2_prob``, the weight-share terms
(``weight_share_self``, ``weight_share_referral``, ``links``), ``base_weight`` (design
weight), ``nonresponse_weight``, ``final_weight``, ``weight_method``, ``model_based``,
``share_from_referral``, and ``rep_1 … rep_B`` when asked for. Other household columns
are carried through, except the location columns (privacy).
"""
from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop._checks import check_columns, id_texts
from hiddenpop.errors import DesignError, HiddenPopWarning
from hiddenpop.weights.calibrate import calibrate_replicates
from hiddenpop.weights.nonresponse import cell_labels, nonresponse_factors
from hiddenpop.weights.referral import (ColumnMap, TwoStageSample, stage1_weights, base_weights,
                                        prepare_sample, referral_share)
from hiddenpop.weights.stage1 import STAGE1_METHODS, from_manifest
from hiddenpop.weights.trim import kish_deff  # the one implementation; re-exported here

__all__ = ["WeightingOptions", "WeightsResult", "compute_weights", "kish_deff", "deeper_wave_summary"]

@dataclass(frozen=True)
class WeightingOptions:
    """Choices of the weighting (all have defaults a careful statistician would pick).

    Attributes
    ----------
    method
        ``gwsm`` (default), ``union`` or ``multiplicity`` (the last two for comparison).
    referral_target
        ``unregistered`` (only unregistered households may be referred) or ``all``.
    stage1_method
        ``None``: ``rgcs`` when a design manifest is given, else ``column``; or any key of
        :data:`~hiddenpop.weights.stage1.STAGE1_METHODS`.
    stage1_form
        ``ht`` (1/π¹ per household) or ``hh`` (1/e¹ per point hit, points with replacement).
    redemption_cells
        Column whose levels are the cells of the coupon redemption rate (``None``: one cell).
    referral_fraction
        ``issued-rate`` (default, unbiased); ``issued``/``redeemed`` reproduce biased choices.
    deeper_waves, theta
        RDS method for households reached only at wave ≥ 2 (``rds-ii``, ``ss``, ``exclude``)
        and the composite factor θ (default: design-based share of the eligible sample).
    nonresponse_cells
        Columns forming nonresponse cells (``psu`` means the root first-stage point).
    calibration, bounds
        ``rake``, ``linear``, ``raking`` (bounded raking) or ``logit`` (bounds required) and the
        bounds on g.
    lon_col, lat_col
        Household location columns (used for π¹, never written out).
    frame_sizes
        List-frame sizes N_h for ``stage1_method="list-srs"``.
    """

    method: str = "gwsm"
    referral_target: str = "unregistered"
    stage1_method: str | None = None
    stage1_form: str = "ht"
    redemption_cells: str | None = "stratum"
    referral_fraction: str = "issued-rate"
    deeper_waves: str = "rds-ii"
    theta: float | None = None
    nonresponse_cells: tuple[str, ...] = ("psu",)
    calibration: str = "rake"
    bounds: tuple[float, float] | None = None
    lon_col: str = "lon"
    lat_col: str = "lat"
    frame_sizes: dict | None = None


@dataclass(frozen=True, eq=False)
class WeightsResult:
    """Weights table, optional replicate weights (n × B, the weighting redone) and a report."""

    table: pd.DataFrame
    replicate_weights: np.ndarray | None = None
    factors: Any = None
    info: dict = field(default_factory=dict)
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["hh_id", "reason"]))

    def to_frame(self, *, replicates: bool = True) -> pd.DataFrame:
        """The weights table, with ``rep_1 … rep_B`` columns when replicates were made."""
        if not replicates or self.replicate_weights is None:
            return self.table.copy()
        reps = pd.DataFrame(self.replicate_weights, columns=[f"rep_{b + 1}" for b in
                                                             range(self.replicate_weights.shape[1])])
        return pd.concat([self.table.reset_index(drop=True), reps], axis=1)


def _found_at_point(households: pd.DataFrame, selections: pd.DataFrame | None, columns: ColumnMap) -> np.ndarray:
    """Households with a point selection event (their π¹ is needed and must be in the frame)."""
    def at_point(v: pd.Series) -> np.ndarray:
        return v.astype(str).str.strip().str.lower().eq("point").to_numpy()

    need = at_point(households[columns.found_by]) if columns.found_by in households else np.ones(len(households), bool)
    if selections is not None and {"hh_id", "found_by"} <= set(selections.columns):
        ids = id_texts(selections["hh_id"])[at_point(selections["found_by"])]
        need = need | np.isin(id_texts(households[columns.hh_id]), list(set(ids)))
    return need


def _calibration_model(calibrator: Any, renamed: dict[str, str]) -> dict[str, Any]:
    """The calibration model of ``compute_weights`` (input ``nonresponse_weight``, output
    ``final_weight``), for linearised SEs through the calibration (see
    :func:`hiddenpop.weights.calibrate.calibration_model`).

    ``renamed``: margin variables the weights file holds under another column (the households'
    own stratum, :func:`_household_stratum`); the model names the file's columns, so a refit on
    the file calibrates on the same values as here.
    """
    from hiddenpop.weights.calibrate import calibration_model

    table = pd.DataFrame([{"variable": " x ".join(renamed.get(v, v) for v in m.variables), "level": "|".join(lev),
                           "total": float(t)}
                          for m in calibrator.margins_ for lev, t in zip(m.levels, m.totals)])
    return calibration_model(calibrator, table, weight_col="final_weight", input_weight_col="nonresponse_weight")


def _household_stratum(data: pd.DataFrame, design_stratum: np.ndarray) -> pd.Series | None:
    """The households' own ``stratum`` where the weights file's design stratum differs, else ``None``.

    The weights file's ``stratum`` is the design stratum: a household reached only by referral
    takes its root point's stratum (a PSU lies in one stratum). Where it lives may be another
    stratum; that value is what a registry margin by stratum counts and what a domain "by
    region" means, so the file keeps it as ``household_stratum`` when any household differs.

    >>> d = pd.DataFrame({"stratum": ["A", "B"]})
    >>> _household_stratum(d, np.array(["A", "A"], dtype=object)).tolist()
    ['A', 'B']
    >>> _household_stratum(d, np.array(["A", "B"], dtype=object)) is None
    True
    """
    if "stratum" not in data:
        return None
    own = data["stratum"].reset_index(drop=True)
    text = own.astype(object).where(own.notna(), "").astype(str).to_numpy()
    return None if np.array_equal(text, np.asarray(design_stratum, dtype=object).astype(str)) else own


def _inverse_variance_theta(s: TwoStageSample, hh: pd.DataFrame, variable: str, weigh: Callable, factors: Any, *,
                            source: str, progress: Callable[[int], None] | None) -> tuple[float | None, dict]:
    """θ = V_R / (V_G + V_R) from the replicate variances of the two eligible-domain totals."""
    if factors is None:
        raise DesignError("choosing θ by inverse bootstrap variance needs replicates", where=source,
                          fix="also ask for replicates (--replicates bootstrap --reps 500 --rng-seed N)")
    check_columns(hh, [variable], source=source)
    y = pd.to_numeric(hh[variable], errors="coerce").to_numpy(float)
    elig = s.eligible & s.responded
    bad = elig & ~np.isfinite(y)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DesignError("the variable that chooses θ is missing for a referral-eligible household",
                          where=f"{source}, row {i + 2}, column '{variable}'",
                          fix="choose a variable recorded for every household, or give theta directly")
    y = np.where(elig, np.nan_to_num(y), 0.0)

    def parts(bw: Any) -> tuple[float, float]:
        deep = bw.deep_weight if bw.deep_weight is not None else np.zeros(s.n)
        return float(bw.wave1_weight @ y), float(deep @ y)

    full = weigh(np.ones(factors.n_psu if hasattr(factors, "n_psu") else s.n_psu), th=1.0)
    if full.deep_weight is None:
        return None, {"variable": variable, "theta": None, "note": "no household reached only at wave >= 2"}
    g0, r0 = parts(full)
    reps = np.empty((factors.n_replicates, 2))
    for r in range(factors.n_replicates):
        reps[r] = parts(weigh(factors.row_multipliers(r), th=1.0))
        if progress is not None:
            progress(1)
    cov = np.cov(reps.T)
    v_g, v_r = float(cov[0, 0]), float(cov[1, 1])
    theta = v_r / (v_g + v_r) if v_g + v_r > 0 else 1.0
    theta = float(min(1.0, max(theta, 1e-6)))
    return theta, {"variable": variable, "theta": theta, "estimate_wave1": g0, "estimate_rds": r0,
                   "estimate_composite": theta * g0 + (1 - theta) * r0, "var_wave1": v_g, "var_rds": v_r,
                   "cov": float(cov[0, 1]), "n_replicates": int(factors.n_replicates),
                   "note": "replicate variances without the bootstrap scale, which cancels in the ratio"}


def deeper_wave_summary(result: "WeightsResult", variable: str | None = None) -> pd.DataFrame:
    """The wave-1-only GWSM total next to the composite total with deeper waves (2-C).

    docs/methods.md, 'Stage 2: referrals and the generalised weight share method' asks to always report the
    design-based wave-1-only estimate alongside the model-based composite. ``variable=None`` counts households.

    >>> hh = pd.DataFrame({"hh_id": ["A", "B", "C", "D"], "found_by": ["point", "point", "referral", "referral"],
    ...     "point_id": ["P1", "P2", None, None], "recruiter_id": [None, None, "A", "C"],
    ...     "stage1_prob": [0.5, 0.25, None, None], "registered": [1, 0, 0, 0], "stratum": "S",
    ...     "network_size": [4, 3, 1, 2], "network_size_eligible": [2, 1, 1, 1], "referrals_given": [1, 0, 1, 0]})
    >>> deeper_wave_summary(compute_weights(hh))[["estimate", "model_based"]].values.tolist()
    [[5.0, False], [5.0, True]]
    """
    t = result.table
    y = np.ones(len(t)) if variable is None else pd.to_numeric(t[variable], errors="coerce").to_numpy(float)
    rows = []
    for label, col, mb in (("wave-1 only (GWSM, design-based)", "wave1_weight", False),
                           (f"composite with deeper waves (theta={result.info.get('theta')})", "final_weight", True)):
        w = t[col].to_numpy(float)
        rows.append({"estimator": label, "variable": variable or "households", "estimate": float(np.nansum(w * y)),
                     "n": int(np.sum(w > 0)), "model_based": mb and bool(t["model_based"].any())})
    return pd.DataFrame(rows)


def _stage1_table(households: pd.DataFrame, manifest: Any, options: WeightingOptions, columns: ColumnMap,
                  source: str, selections: pd.DataFrame | None = None) -> pd.DataFrame | None:
    method = options.stage1_method or ("rgcs" if manifest is not None else "column")
    if method == "column":
        return None  # prepare_sample reads and checks the column itself (rows that need it)
    if method == "rgcs":
        if manifest is None:
            raise DesignError("the rgcs stage-1 method needs the design manifest", where=source,
                              fix="pass --design points.design.json")
        has = (options.lon_col in households) and (options.lat_col in households)
        if not has:
            if columns.stage1_prob in households:
                return None
            raise DesignError(f"household locations ('{options.lon_col}', '{options.lat_col}') are needed with the "
                              "design manifest", where=source,
                              fix="keep the GPS columns in the household file, or give a stage1_prob column")
        out = from_manifest(households, manifest, lon_col=options.lon_col, lat_col=options.lat_col,
                            required=_found_at_point(households, selections, columns), source=source)
        if columns.stage1_prob in households:  # fill households without a location from the column
            given = pd.to_numeric(households[columns.stage1_prob], errors="coerce")
            out["stage1_prob"] = out["stage1_prob"].astype(float).fillna(given)
            out["expected_hits"] = out["expected_hits"].astype(float).fillna(given)
        return out
    kwargs: dict[str, Any] = {"source": source, "stratum_col": columns.stratum, "frame_sizes": options.frame_sizes}
    return STAGE1_METHODS[method](households, **kwargs)


def _points_table(s: TwoStageSample, points: pd.DataFrame | None, manifest: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels and strata of every first-stage point: points with households first, then empty ones."""
    labels = list(s.psu_labels.astype(str))
    strata = list(s.psu_stratum.astype(str))
    if points is not None:
        if "point_id" not in points:
            raise DesignError("the points table needs a 'point_id' column", where="points",
                              fix="give the points file written by 'hiddenpop frame sample'")
        if "reserve_rank" in points:
            points = points[pd.to_numeric(points["reserve_rank"], errors="coerce").fillna(0) == 0]
        pid = id_texts(points["point_id"])
        pst = (points["stratum"].astype(str).to_numpy() if "stratum" in points else np.full(len(pid), ""))
        known = set(labels)
        missing = sorted(known - set(pid))
        if missing:
            raise DesignError(f"households were found at point(s) not in the points table: {missing[:5]}",
                              where="points", fix="give the full points file of the design (main sample and "
                                                  "the reserves used)")
        for p, h in zip(pid, pst):
            if p not in known:
                labels.append(p)
                strata.append(h)
                known.add(p)
    elif manifest is not None:
        seen = pd.Series(strata).value_counts().to_dict()
        short = {h: (n, seen.get(str(h), 0)) for h, n in manifest.n_points.items() if n > seen.get(str(h), 0)}
        if short:
            warnings.warn(HiddenPopWarning(
                "some first-stage points have no household in the data (empty points are valid zeros) but the points "
                f"file was not given, so the replicates leave them out and understate the variance: "
                f"{ {h: f'{a} drawn, {b} with households' for h, (a, b) in short.items()} }; pass points=/--points"),
                stacklevel=3)
    return np.asarray(labels, dtype=object), np.asarray(strata, dtype=object)


def compute_weights(households: pd.DataFrame, *, design_manifest: Any = None, method: str | None = None,
                    selections: pd.DataFrame | None = None, points: pd.DataFrame | None = None,
                    columns: ColumnMap = ColumnMap(), options: WeightingOptions = WeightingOptions(),
                    margins: Any = None, replicates: str | None = None, reps: int = 500, rng: Any = None,
                    theta_var: str | None = None, empty_levels: str = "collapse",
                    replicate_vars: Any = None,
                    progress: Callable[[int], None] | None = None, source: str = "households") -> WeightsResult:
    """Weights of every household of a two-stage (points + referral) sample.

    Parameters
    ----------
    households
        One row per household (docs/data-contract.md, 'Survey records'); non-respondents found at a point may be
        included with ``responded`` = 0.
    design_manifest
        The first-stage design (:class:`hiddenpop.spatial.inclusion.FirstStageDesign`, e.g.
        :func:`hiddenpop.io.spatial.read_design`) or its manifest dict (RGCS stage-1 probabilities
        from locations).
    method
        ``gwsm`` (default), ``union`` or ``multiplicity``; overrides ``options.method``.
    selections
        Optional one row per selection event (households reached twice), see
        :func:`~hiddenpop.weights.referral.prepare_sample`.
    points
        All first-stage points (``point_id``, ``stratum``), so empty points enter the
        replicates as zeros.
    margins
        Calibration margins (docs/data-contract.md, 'Registry margins' table or dict); ``None``: no calibration.
    replicates, reps, rng
        ``bootstrap``, ``jk1`` or ``jkn`` at point level; B and the random generator.
    theta_var
        Choose the composite factor θ of deeper waves (2-C) by inverse bootstrap variance
        of the total of this column (docs/methods.md, 'Stage 2: referrals and the generalised weight share
        method'): θ = V_R / (V_G + V_R), with V_G and V_R the replicate variances of the wave-1 GWSM total and
        of the RDS total (N̂_E × RDS mean) of the eligible households. Needs ``replicates``; the replicates are
        run twice (once to choose θ, once with θ fixed). ``None``: ``options.theta`` or the design-based share
        of the eligible sample.
    replicate_vars
        ``None`` (default): keep the replicate weights (n × B, for ``rep_*`` columns).
        A list of columns: keep only their replicate totals Σ_k w_k^(b) y_k
        (``info["replicate_totals"]``, B × k), so memory stays at the P × B point factors
        plus O(n) whatever B is.
    empty_levels
        What to do when a calibration margin level has no row with a positive weight in a
        replicate (:func:`calibrate_replicates`): ``collapse`` (default) or ``fail``.
    progress
        Callback advanced once per replicate.

    Returns
    -------
    WeightsResult

    Examples
    --------
    >>> hh = pd.DataFrame({"hh_id": ["A", "B", "C"], "found_by": ["point", "point", "referral"],
    ...     "point_id": ["P1", "P2", None], "recruiter_id": [None, None, "A"],
    ...     "stage1_prob": [0.5, 0.25, None], "registered": [1, 0, 0], "stratum": "S",
    ...     "network_size": [4, 3, 1], "network_size_eligible": [2, 1, 0], "referrals_given": [1, 0, 0]})
    >>> res = compute_weights(hh)
    >>> res.table[["hh_id", "psu", "final_weight", "share_from_referral"]].to_dict("list")
    {'hh_id': ['A', 'B', 'C'], 'psu': ['P1', 'P2', 'P1'], 'final_weight': [2.0, 1.0, 2.0], 'share_from_referral': [0.0, 0.0, 1.0]}
    """
    if method is not None:
        options = dataclasses.replace(options, method=method)
    hh = households.reset_index(drop=True)
    design = None
    if design_manifest is not None:  # decoded once (stage-1 probabilities, strata of the points)
        from hiddenpop.spatial.inclusion import FirstStageDesign

        design = FirstStageDesign.from_manifest(design_manifest)
    stage1 = _stage1_table(hh, design, options, columns, source, selections)
    if stage1 is not None and "stratum" in stage1:  # the manifest knows the stratum of each location
        found = stage1["stratum"].where(stage1["stratum"].notna() & (stage1["stratum"].astype(str) != "nan"))
        if columns.stratum in hh:
            hh[columns.stratum] = hh[columns.stratum].where(hh[columns.stratum].notna(), found)
        else:
            hh[columns.stratum] = found
    s = prepare_sample(hh, stage1=stage1, selections=selections, columns=columns,
                       referral_target=options.referral_target, redemption_cells=options.redemption_cells,
                       stage1_form=options.stage1_form, source=source)
    psu_all, psu_stratum_all = _points_table(s, points, design)

    # rows kept in the weights table: every respondent. Households with no design-based
    # weight stay with weight 0 and a flag, so nothing silently leaves the record count.
    bw0 = base_weights(s, options.method, deeper_waves=options.deeper_waves, theta=options.theta,
                       referral_fraction=options.referral_fraction)
    keep = s.responded.copy()
    flag = np.full(s.n, "", dtype=object)
    ref_event = np.zeros(s.n, bool)
    ref_event[s.ev_ref_hh] = True
    flag[ref_event & ~s.eligible] = "referred-not-eligible"
    flag[s.eligible & ~s.in_s1 & (s.wave >= 2) & ~(bw0.weight > 0)] = "deeper-wave-excluded"
    excluded = pd.DataFrame({"hh_id": s.ids[~keep], "reason": "non-respondent"})
    odd = keep & (flag == "referred-not-eligible")
    if odd.any():
        zero = odd & ~s.in_s1
        warnings.warn(HiddenPopWarning(
            f"{int(odd.sum())} referred household(s) are not referral-eligible (e.g. registered): their referral "
            f"link carries no weight; {int(zero.sum())} of them (reached only by referral) are kept with weight 0 "
            f"and weight_flag 'referred-not-eligible': {', '.join(map(str, s.ids[odd][:5]))}"), stacklevel=2)
    pos = keep & (bw0.weight > 0)  # rows that take part in calibration
    pos_k = pos[keep]

    nr_needed = (~s.responded).any()
    if nr_needed:
        psu_lab = np.where(s.root_psu >= 0, s.psu_labels[np.maximum(s.root_psu, 0)], "")
        cell_frame = hh.assign(psu=psu_lab)
        cells = cell_labels(cell_frame, list(options.nonresponse_cells), source=source, rows=s.in_s1)

    calibrator = None
    if margins is not None:
        from hiddenpop.weights.calibrate import Calibrator

        cal_method = options.calibration
        if options.bounds is not None and cal_method == "rake":
            cal_method = "raking"
        calibrator = Calibrator(cal_method, bounds=options.bounds)
        calibrator._check()  # settings refused now, before the weights are computed (e.g. logit without bounds)

    info: dict[str, Any] = {}
    theta = options.theta

    def weigh(f: np.ndarray, *, full: bool = False, th: float | None = None) -> Any:
        fs = np.asarray(f[: s.n_psu], float)
        nr = None
        if nr_needed:
            a0 = stage1_weights(s, fs, None)
            nr, report = nonresponse_factors(a0, s.responded, cells, eligible=s.in_s1)
            if full:
                info["nonresponse"] = report
        bw = base_weights(s, options.method, fs, nonresponse=nr, deeper_waves=options.deeper_waves,
                          theta=th, referral_fraction=options.referral_fraction)
        if full:
            info["base"] = bw
        return bw

    factors = None
    if replicates is not None:
        from hiddenpop.weights.design import Design
        from hiddenpop.weights.replicates import make_replicates

        psu_df = pd.DataFrame({"w": 1.0, "stratum": psu_stratum_all.astype(str), "psu": psu_all.astype(str)})
        # PSU × B factors only; an n × B matrix is formed below only for the replicate weights
        factors = make_replicates(psu_df, Design(weight_col="w", stratum_col="stratum", psu_col="psu",
                                                 lonely_psu="certainty"),
                                  method=replicates, reps=reps, rng=rng)

    theta_report = None
    if theta_var is not None:
        theta, theta_report = _inverse_variance_theta(s, hh, theta_var, weigh, factors, source=source,
                                                      progress=progress)

    bw = weigh(np.ones(len(psu_all)), full=True, th=theta)
    info.pop("base")
    theta_fixed = bw.theta if bw.theta is not None else theta  # θ is held fixed across replicates
    w_nr = bw.weight[keep]
    w1_nr = bw.wave1_weight[keep]
    data_out = hh.loc[keep].reset_index(drop=True)
    margin_src = getattr(margins, "attrs", {}).get("source", "margins")
    w_final, w1_final = w_nr.copy(), w1_nr.copy()
    if calibrator is not None:
        calibrator.fit(data_out.loc[pos_k], w_nr[pos_k], margins, source=margin_src)
        w_final[pos_k] = calibrator.weights_
        info["calibration"] = {"method": calibrator.method, "converged": bool(calibrator.converged_),
                               "n_iter": int(calibrator.n_iter_),
                               "max_margin_error": float(calibrator.max_margin_error_),
                               "margins": calibrator.result_.margin_table}
        p1 = w1_nr > 0
        if p1.any() and not np.array_equal(p1, pos_k):
            from hiddenpop.weights.calibrate import Calibrator

            c1 = Calibrator(calibrator.method, bounds=calibrator.bounds).fit(data_out.loc[p1], w1_nr[p1], margins,
                                                                              source=margin_src)
            w1_final = np.zeros_like(w1_nr)
            w1_final[p1] = c1.weights_
        else:
            w1_final = w_final.copy()

    rep_w = None
    if factors is not None:
        # the PSU table has one row per point, so row multipliers are the point factors;
        # the whole weighting is redone per replicate (a vector statistic: with_replicates
        # would also form its n × n covariance, which is not needed here)
        n_keep, n_rep = int(keep.sum()), factors.n_replicates
        if replicate_vars is not None:
            check_columns(data_out, list(replicate_vars), source=source)
            # (k × n), contiguous; summed with einsum, not BLAS: a threaded BLAS call per
            # replicate leaves spinning threads that slow every later numpy step on few cores
            y_rep = np.ascontiguousarray(data_out[list(replicate_vars)].apply(pd.to_numeric, errors="coerce")
                                         .fillna(0.0).to_numpy(float).T)
            rep_tot = np.empty((n_rep, y_rep.shape[0]))
        else:
            rep_w = np.empty((n_keep, n_rep))
        rep_report = {"n_replicates": 0, "levels": {}}
        data_pos = data_out.loc[pos_k] if calibrator is not None else None
        for r in range(n_rep):
            w_b = weigh(factors.row_multipliers(r), th=theta_fixed).weight[keep]
            if replicate_vars is not None:
                # memory stays P × B (factors) + n: only the replicate totals are kept
                if calibrator is not None:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", HiddenPopWarning)
                        cb, rr = calibrate_replicates(calibrator, data_pos, w_b[pos_k],
                                                      empty_levels=empty_levels, source=margin_src)
                    w_b[pos_k] = cb
                    rep_report["n_replicates"] += rr["n_replicates"]
                    for k, v in rr["levels"].items():
                        rep_report["levels"][k] = rep_report["levels"].get(k, 0) + v
                rep_tot[r] = np.einsum("kn,n->k", y_rep, w_b)
            else:
                rep_w[:, r] = w_b
            if progress is not None:
                progress(1)
        if calibrator is not None and replicate_vars is None:
            cal_rep, rep_report = calibrate_replicates(calibrator, data_pos, rep_w[pos_k],
                                                       empty_levels=empty_levels, source=margin_src)
            rep_w[pos_k] = cal_rep
        if calibrator is not None:
            info["calibration"]["replicates_collapsed"] = rep_report
        if replicate_vars is not None:
            info["replicate_totals"] = pd.DataFrame(rep_tot, columns=list(replicate_vars),
                                                    index=pd.RangeIndex(1, n_rep + 1, name="replicate"))

    psu_label = np.where(s.root_psu >= 0, s.psu_labels[np.maximum(s.root_psu, 0)], "")
    drop = {options.lon_col, options.lat_col}
    carried = data_out[[c for c in data_out.columns if c not in drop]]
    design_cols = pd.DataFrame({
        "stratum": s.stratum[keep],
        "psu": psu_label[keep],
        "found_by": np.where(s.in_s1, "point", "referral")[keep],
        "wave": s.wave[keep],
        "stage1_prob": s.stage1_prob[keep],
        "stage2_prob": bw.stage2_prob[keep],
        "weight_share_self": bw.self_term[keep],
        "weight_share_referral": bw.referral_term[keep],
        "links": bw.links[keep],
        "base_weight": bw0.weight[keep] if theta_var is None else bw.weight[keep],
        "nonresponse_weight": w_nr,
        "final_weight": w_final,
        "wave1_weight": w1_final,
        "weight_method": np.where(flag == "referred-not-eligible",
                                  np.where(s.in_s1, "stage1", "none (referred, not eligible)"), bw.method)[keep],
        "weight_flag": flag[keep],
        "model_based": bw.model_based[keep],
        "share_from_referral": bw.share_from_referral[keep],
    })
    own_stratum = _household_stratum(data_out, design_cols["stratum"].to_numpy())
    if own_stratum is not None:
        design_cols["household_stratum"] = own_stratum.to_numpy()
    if calibrator is not None:  # the calibration used the households' own stratum (data_out)
        info["calibration"]["model"] = _calibration_model(
            calibrator, {} if own_stratum is None else {"stratum": "household_stratum"})
    table = pd.concat([carried.drop(columns=[c for c in design_cols.columns if c in carried.columns]),
                       design_cols], axis=1)
    table.insert(0, "hh_id", table.pop(columns.hh_id) if columns.hh_id in table else s.ids[keep])

    unreg = (pd.to_numeric(data_out[columns.registered], errors="coerce").to_numpy() == 0
             if columns.registered in data_out else None)
    info.update({
        "method": options.method,
        "n_households": int(keep.sum()),
        "n_points_with_households": int(s.n_psu),
        "n_points": int(len(psu_all)),
        "redemption_rate": bw.redemption_rate,
        "kappa": bw.kappa,
        "theta": bw.theta,
        "theta_choice": theta_report,
        "population_size_wave1": float(w1_final.sum()),
        "n_flagged": {k: int(v) for k, v in pd.Series(flag[keep]).value_counts().items() if k},
        "population_size": float(w_final.sum()),
        "share_from_referral": referral_share(w_final, bw.share_from_referral[keep]) if w_final.sum() > 0 else 0.0,
        "share_from_referral_unregistered": (referral_share(w_final, bw.share_from_referral[keep], domain=unreg)
                                             if unreg is not None and unreg.any() else None),
        "kish_deff_base": kish_deff(bw0.weight[keep], positive_only=True),  # zero weights are left out
        "kish_deff_final": kish_deff(w_final, positive_only=True),
        **s.info,
    })
    return WeightsResult(table=table, replicate_weights=rep_w, factors=factors, info=info, excluded=excluded)
