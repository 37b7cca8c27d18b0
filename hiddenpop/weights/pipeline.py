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
every replicate** (methods §2.8.1), so the replicate weights carry the variability of ĥ,
κ̂, the nonresponse factors and the calibration.

The weights table follows data-contract §6: ``hh_id``, ``stratum``, ``psu`` (root point),
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

from hiddenpop.errors import DesignError, HiddenPopWarning
from hiddenpop.weights.nonresponse import cell_labels, nonresponse_factors
from hiddenpop.weights.referral import (ColumnMap, TwoStageSample, _stage1_weights, base_weights,
                                        prepare_sample, referral_share)
from hiddenpop.weights.stage1 import STAGE1_METHODS, from_manifest

__all__ = ["WeightingOptions", "WeightsResult", "compute_weights", "kish_deff"]


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
        ``rake``, ``linear`` or ``raking`` (bounded raking) and the bounds on g.
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


def kish_deff(weights: Any) -> float:
    """Kish's design effect due to unequal weights, 1 + CV²(w) = n Σw² / (Σw)².

    >>> kish_deff([1, 1, 1, 1])
    1.0
    >>> kish_deff([1, 3])
    1.25
    """
    w = np.asarray(weights, float)
    w = w[w > 0]
    return float(len(w) * np.sum(w ** 2) / np.sum(w) ** 2)


def _stage1_table(households: pd.DataFrame, manifest: Any, options: WeightingOptions, columns: ColumnMap,
                  source: str) -> pd.DataFrame | None:
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
        out = from_manifest(households, manifest, lon_col=options.lon_col, lat_col=options.lat_col, source=source)
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
        pid = points["point_id"].astype(str).str.strip().to_numpy()
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
    elif isinstance(manifest, dict) and isinstance(manifest.get("strata"), dict):
        seen = pd.Series(strata).value_counts().to_dict()
        short = {h: (int(info.get("n", 0)), seen.get(str(h), 0)) for h, info in manifest["strata"].items()
                 if isinstance(info, dict) and int(info.get("n", 0)) > seen.get(str(h), 0)}
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
                    progress: Callable[[int], None] | None = None, source: str = "households") -> WeightsResult:
    """Weights of every household of a two-stage (points + referral) sample.

    Parameters
    ----------
    households
        One row per household (data-contract §4); non-respondents found at a point may be
        included with ``responded`` = 0.
    design_manifest
        The manifest dict of the spatial stage (RGCS stage-1 probabilities from locations).
    method
        ``gwsm`` (default), ``union`` or ``multiplicity``; overrides ``options.method``.
    selections
        Optional one row per selection event (households reached twice), see
        :func:`~hiddenpop.weights.referral.prepare_sample`.
    points
        All first-stage points (``point_id``, ``stratum``), so empty points enter the
        replicates as zeros.
    margins
        Calibration margins (data-contract §5 table or dict); ``None``: no calibration.
    replicates, reps, rng
        ``bootstrap``, ``jk1`` or ``jkn`` at point level; B and the random generator.
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
    stage1 = _stage1_table(hh, design_manifest, options, columns, source)
    if stage1 is not None and "stratum" in stage1:  # the manifest knows the stratum of each location
        found = stage1["stratum"].where(stage1["stratum"].notna() & (stage1["stratum"].astype(str) != "nan"))
        if columns.stratum in hh:
            hh[columns.stratum] = hh[columns.stratum].where(hh[columns.stratum].notna(), found)
        else:
            hh[columns.stratum] = found
    s = prepare_sample(hh, stage1=stage1, selections=selections, columns=columns,
                       referral_target=options.referral_target, redemption_cells=options.redemption_cells,
                       stage1_form=options.stage1_form, source=source)
    psu_all, psu_stratum_all = _points_table(s, points, design_manifest)

    # rows kept in the weights table: respondents with a positive design weight
    bw0 = base_weights(s, options.method, deeper_waves=options.deeper_waves, theta=options.theta,
                       referral_fraction=options.referral_fraction)
    keep = s.responded & (bw0.weight > 0)
    excluded = pd.DataFrame({"hh_id": s.ids[~keep],
                             "reason": np.where(~s.responded[~keep], "non-respondent",
                                                np.where(s.eligible[~keep], "deeper wave excluded",
                                                         "referred but not referral-eligible"))})
    odd = excluded["reason"] == "referred but not referral-eligible"
    if odd.any():
        warnings.warn(HiddenPopWarning(
            f"{int(odd.sum())} referred household(s) are not referral-eligible (e.g. registered) and have no "
            f"design-based weight; they are left out of the weights table: "
            f"{', '.join(map(str, excluded.hh_id[odd][:5]))}"), stacklevel=2)

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

    info: dict[str, Any] = {}

    def weigh(f: np.ndarray, *, full: bool = False) -> np.ndarray:
        fs = np.asarray(f[: s.n_psu], float)
        nr = None
        if nr_needed:
            a0 = _stage1_weights(s, fs, None)
            nr, report = nonresponse_factors(a0, s.responded, cells, eligible=s.in_s1)
            if full:
                info["nonresponse"] = report
        bw = base_weights(s, options.method, fs, nonresponse=nr, deeper_waves=options.deeper_waves,
                          theta=options.theta, referral_fraction=options.referral_fraction)
        if full:
            info["base"] = bw
        return bw.weight[keep]

    w_nr = weigh(np.ones(len(psu_all)), full=True)
    bw = info.pop("base")
    data_out = hh.loc[keep].reset_index(drop=True)
    if calibrator is not None:
        calibrator.fit(data_out, w_nr, margins, source=getattr(margins, "attrs", {}).get("source", "margins"))
        w_final = calibrator.weights_
        info["calibration"] = {"method": calibrator.method, "converged": bool(calibrator.converged_),
                               "n_iter": int(calibrator.n_iter_),
                               "max_margin_error": float(calibrator.max_margin_error_),
                               "margins": calibrator.result_.margin_table}
    else:
        w_final = w_nr

    rep_w, factors = None, None
    if replicates is not None:
        from hiddenpop.weights.design import Design
        from hiddenpop.weights.replicates import make_replicates

        psu_df = pd.DataFrame({"w": 1.0, "stratum": psu_stratum_all.astype(str), "psu": psu_all.astype(str)})
        factors = make_replicates(psu_df, Design(weight_col="w", stratum_col="stratum", psu_col="psu",
                                                 lonely_psu="certainty"),
                                  method=replicates, reps=reps, rng=rng)

        # the PSU table has one row per point, so row multipliers are the point factors;
        # the whole weighting is redone per replicate (a vector statistic: with_replicates
        # would also form its n × n covariance, which is not needed here)
        rep_w = np.empty((int(keep.sum()), factors.n_replicates))
        for r in range(factors.n_replicates):
            rep_w[:, r] = weigh(factors.row_multipliers(r))
            if progress is not None:
                progress(1)
        if calibrator is not None:
            rep_w = calibrator.apply(rep_w)

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
        "base_weight": bw0.weight[keep],
        "nonresponse_weight": w_nr,
        "final_weight": w_final,
        "weight_method": bw.method[keep],
        "model_based": bw.model_based[keep],
        "share_from_referral": bw.share_from_referral[keep],
    })
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
        "population_size": float(w_final.sum()),
        "share_from_referral": referral_share(w_final, bw.share_from_referral[keep]) if w_final.sum() > 0 else 0.0,
        "share_from_referral_unregistered": (referral_share(w_final, bw.share_from_referral[keep], domain=unreg)
                                             if unreg is not None and unreg.any() else None),
        "kish_deff_base": kish_deff(bw0.weight[keep]),
        "kish_deff_final": kish_deff(w_final),
        **s.info,
    })
    return WeightsResult(table=table, replicate_weights=rep_w, factors=factors, info=info, excluded=excluded)
