"""Weights of households found at a point or through a referral (docs/methods.md, 'Stage 2: referrals and the
generalised weight share method' and 'Findings from the simulation study').

A two-stage sample is a set of households plus a set of **selection events**: a point
hit (the household was found at first-stage point t) or a redeemed coupon (household k
was referred by household j). A household reached twice keeps one row, and each event
keeps its own row (docs/methods.md, 'Households reached more than once'). :func:`prepare_sample` checks and
packs both into arrays once; :func:`base_weights` then computes the weights of one method for any vector of PSU
(point) replicate factors, so the bootstrap can redo every step cheaply.

Methods (registry :data:`REFERRAL_METHODS`):

``gwsm`` (default, design-based)
    Generalised weight share with link subsampling (Deville & Lavallée 2006; Lavallée
    2007):  w_k = (1/L_k) Σ_{j∈S1} l*_jk / (π¹_j ρ_jk), with the self-link (ρ_kk = 1),
    L_k = 1 + d_k for referral-eligible households and 1 otherwise, and
    ρ_jk = min(1, c_j / d^E_j) · ĥ, where c_j is the number of coupons j was given and
    ĥ = Σ redeemed / Σ issued is the sample redemption rate of j's cell (docs/methods.md, 'Findings from the
    simulation study': dividing by coupons issued alone is biased by −20%, by coupons redeemed by −7%).
    Households that are not referral-eligible get 1/π¹. Unbiased when L_k is right (symmetric contacts),
    referrals are random among eligible contacts, and one wave is used; conditional on at least one redemption
    per cell when ĥ is estimated.
``union`` (for comparison only)
    π = 1 − (1 − π¹)(1 − π²), π² = 1 − (1 − π̄¹_h κ̂_h)^{d_k}; biased under local
    networks (docs/methods.md, 'Findings from the simulation study': −17.6%). Needs π¹ of every household.
``multiplicity`` (expected hits, for comparison)
    Hansen–Hurwitz: w_k = c_k / e_k with c_k the number of selection events and
    e_k = e¹_k + d_k π̄¹_h κ̂_h (mean field) or a given exact Σ_j π¹_j ρ_jk.

Households reached only at wave ≥ 2 get RDS-II (or SS) weights scaled to the GWSM
estimate N̂_E of the eligible population and combined with the design-based part by a
composite factor θ (2-C). They are flagged ``model_based``.

References
----------
Deville & Lavallée (2006), Survey Methodology 32(1); Lavallée (2007), *Indirect
Sampling*, Springer; Sirken (1970), JASA 65; Volz & Heckathorn (2008), J. Official
Statistics 24(1); Gile (2011), JASA 106.
"""
from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop._checks import check_columns, id_text, id_texts
from hiddenpop.errors import DegreeImputedWarning, DesignError, RecruitmentError, format_where, truncate_list

__all__ = [
    "STAGE1_FORMS",
    "REFERRAL_TARGETS",
    "ColumnMap",
    "TwoStageSample",
    "BaseWeights",
    "prepare_sample",
    "base_weights",
    "gwsm_weights",
    "union_weights",
    "multiplicity_weights",
    "REFERRAL_METHODS",
    "DEEPER_WAVE_METHODS",
    "referral_share",
    "found_by_any",
    "stage1_weights",
    "responded_mask",
]


#: stage-1 weight of a household found at a point: ``ht`` 1/π¹ per household, ``hh`` 1/expected hits per point hit
STAGE1_FORMS = ("ht", "hh")
#: which households referrals were asked for (eligibility for the referral stage)
REFERRAL_TARGETS = ("unregistered", "all")


@dataclass(frozen=True)
class ColumnMap:
    """Names of the household columns (docs/data-contract.md, 'Survey records'); every name can be changed.

    ``coupons_issued`` defaults to ``referrals_given`` (the number of coupons handed to
    the household). ``eligible`` names an optional 0/1 column of referral eligibility;
    without it eligibility follows ``referral_target`` (unregistered, or everybody).
    """

    hh_id: str = "hh_id"
    found_by: str = "found_by"
    point_id: str = "point_id"
    recruiter_id: str = "recruiter_id"
    network_size: str = "network_size"
    network_size_eligible: str = "network_size_eligible"
    coupons_issued: str = "referrals_given"
    registered: str = "registered"
    stratum: str = "stratum"
    stage1_prob: str = "stage1_prob"
    expected_hits: str = "expected_hits"
    responded: str = "responded"
    eligible: str | None = None
    expected_referral_hits: str = "expected_referral_hits"


@dataclass(frozen=True)
class TwoStageSample:
    """Households and selection events packed as arrays (built by :func:`prepare_sample`).

    Households are numbered 0..n−1 in input order; PSUs (first-stage points) 0..P−1.
    """

    ids: np.ndarray
    stratum: np.ndarray
    in_s1: np.ndarray          # household has at least one point event
    responded: np.ndarray      # interviewed (non-respondents only carry stage-1 weight)
    eligible: np.ndarray       # referral-eligible (links from contacts exist)
    stage1_prob: np.ndarray    # π¹ (NaN where unknown)
    expected_hits: np.ndarray  # e¹ (NaN where unknown)
    degree: np.ndarray         # d_k (NaN where unknown)
    degree_eligible: np.ndarray  # d^E_k
    issued: np.ndarray         # coupons issued c_k
    redeemed: np.ndarray       # referral events with k as recruiter r_k
    wave: np.ndarray           # 0 = found at a point, 1 = referred by a point household, ...
    root_psu: np.ndarray       # PSU index of the root first-stage point
    ev_point_hh: np.ndarray    # point events: household
    ev_point_psu: np.ndarray   # point events: PSU index
    ev_ref_hh: np.ndarray      # referral events: recruit
    ev_ref_rec: np.ndarray     # referral events: recruiter
    psu_labels: np.ndarray
    psu_stratum: np.ndarray
    redemption_cell: np.ndarray  # cell index of each household for the redemption rate
    referral_hits: np.ndarray  # exact Σ_j π¹_j ρ_jk when given (NaN otherwise)
    stage1_form: str = "ht"
    source: str = "households"
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def n_psu(self) -> int:
        return len(self.psu_labels)


@dataclass(frozen=True)
class BaseWeights:
    """Weights of one method for one set of replicate factors (arrays over households)."""

    weight: np.ndarray
    self_term: np.ndarray       # Σ over own point events of the stage-1 weight
    referral_term: np.ndarray   # Σ over referral links of 1/(π¹_j ρ_jk)
    links: np.ndarray           # L_k
    method: np.ndarray          # label per household
    model_based: np.ndarray
    share_from_referral: np.ndarray
    stage2_prob: np.ndarray     # π² (union) / e_k (multiplicity) / NaN
    redemption_rate: dict
    kappa: dict
    theta: float | None
    wave1_weight: np.ndarray | None = None  # design-based weights alone (deeper waves 0, no θ)
    deep_weight: np.ndarray | None = None   # RDS weights of deeper waves summing to N̂_E (before 1 − θ)


# --------------------------------------------------------------------------------------
# preparation
# --------------------------------------------------------------------------------------

def _num(table: pd.DataFrame, col: str) -> np.ndarray:
    if col not in table:
        return np.full(len(table), np.nan)
    values = table[col]
    if values.dtype.kind in "fiub":
        return values.to_numpy(dtype=float)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def _fail_row(exc: type, message: str, source: str, row: int, column: str, value: Any, fix: str):
    raise exc(message, where=format_where(source, row=row + 2, column=column, value=value), fix=fix)


def prepare_sample(households: pd.DataFrame, *, stage1: pd.DataFrame | None = None,
                   selections: pd.DataFrame | None = None, columns: ColumnMap = ColumnMap(),
                   referral_target: str = "unregistered", redemption_cells: str | None = "stratum",
                   stage1_form: str = "ht", source: str = "households") -> TwoStageSample:
    """Check the household table (and optional selection events) and pack them as arrays.

    Parameters
    ----------
    households
        One row per household (docs/data-contract.md, 'Survey records'). ``found_by`` is ``point`` or
        ``referral``; ``recruiter_id`` names the recruiter of a referred household.
    stage1
        Stage-1 probabilities aligned with ``households`` (``stage1_prob`` and
        ``expected_hits``), e.g. from :mod:`hiddenpop.weights.stage1`. ``None``: read the
        ``stage1_prob`` (and optional ``expected_hits``) columns of ``households``.
    selections
        Optional selection events, one row per point hit or redeemed coupon: ``hh_id``,
        ``found_by`` and ``point_id`` or ``recruiter_id``. ``None``: one event per
        household, from its own ``found_by``/``point_id``/``recruiter_id``.
    referral_target
        ``"unregistered"`` (only unregistered households may be referred; ``registered``
        = 0 means eligible) or ``"all"``.
    redemption_cells
        Column whose levels form the cells of the redemption rate (``None``: one cell).
    stage1_form
        ``"ht"``: a household found at a point has stage-1 weight 1/π¹ (and its PSU is its
        first point); ``"hh"``: each point hit has weight 1/e¹ (Hansen–Hurwitz, points
        drawn with replacement), each hit in its own PSU.

    Raises
    ------
    DesignError, RecruitmentError
        Missing columns, probabilities outside (0, 1], unknown recruiter or root point,
        degrees that contradict the referrals, naming file, row, column and value.
    """
    c = columns
    if stage1_form not in STAGE1_FORMS:
        raise DesignError(f"unknown stage-1 form {stage1_form!r}", fix="use " + " or ".join(STAGE1_FORMS))
    if referral_target not in REFERRAL_TARGETS:
        raise DesignError(f"unknown referral target {referral_target!r}", fix="use " + " or ".join(REFERRAL_TARGETS))
    check_columns(households, [c.hh_id, c.found_by], source=source)
    hh = households.reset_index(drop=True)
    n = len(hh)
    ids = id_texts(hh[c.hh_id])
    index = pd.Index(ids)
    if index.has_duplicates:
        dup = np.flatnonzero(index.duplicated())[0]
        _fail_row(DesignError, "duplicate household id", source, int(dup), c.hh_id, ids[dup],
                  "keep one row per household; a household reached twice is one row plus one row per "
                  "selection event in the selections table")
    found = np.array([id_text(v).lower() for v in hh[c.found_by].to_numpy(dtype=object)], dtype=object)
    bad = ~np.isin(found, ["point", "referral"])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        _fail_row(DesignError, "found_by must be 'point' or 'referral'", source, i, c.found_by, found[i],
                  "write 'point' for households found at a first-stage point, 'referral' for referred ones")

    # ---- selection events
    ev_sources = None
    if selections is None:
        ev = {"hh_id": ids, "found_by": found,
              "point_id": id_texts(hh[c.point_id]) if c.point_id in hh else np.full(n, "", dtype=object),
              "recruiter_id": id_texts(hh[c.recruiter_id]) if c.recruiter_id in hh else np.full(n, "", dtype=object)}
        ev_source, ev_rows = source, np.arange(n)
        id_col, pid_col, rid_col = c.hh_id, c.point_id, c.recruiter_id
    else:
        check_columns(selections, ["hh_id", "found_by"], source="selections")
        sel = selections.reset_index(drop=True)
        m = len(sel)
        ev = {"hh_id": id_texts(sel["hh_id"]),
              "found_by": np.array([id_text(v).lower() for v in sel["found_by"].to_numpy(dtype=object)], dtype=object),
              "point_id": id_texts(sel["point_id"]) if "point_id" in sel else np.full(m, "", dtype=object),
              "recruiter_id": id_texts(sel["recruiter_id"]) if "recruiter_id" in sel else np.full(m, "", dtype=object)}
        ev_source, ev_rows = str(selections.attrs.get("source", "selections")), np.arange(len(sel))
        if {"_source", "_row"} <= set(sel.columns):  # events gathered from several files (e.g. a store)
            ev_sources = sel["_source"].astype(str).to_numpy(dtype=object)
            ev_rows = pd.to_numeric(sel["_row"], errors="coerce").fillna(2).astype(int).to_numpy() - 2
        id_col, pid_col, rid_col = "hh_id", "point_id", "recruiter_id"

    def ev_at(i: int) -> tuple[str, int]:
        """File and (0-based data) row of selection event i, for error messages."""
        return (ev_sources[i] if ev_sources is not None else ev_source), int(ev_rows[i])

    ev_hh = index.get_indexer(ev["hh_id"])
    if (ev_hh < 0).any():
        i = int(np.flatnonzero(ev_hh < 0)[0])
        _fail_row(DesignError, "selection event of a household that is not in the household table", *ev_at(i), id_col,
                  ev["hh_id"][i], "add the household or correct its id")
    is_point = ev["found_by"] == "point"
    is_ref = ev["found_by"] == "referral"
    if (~(is_point | is_ref)).any():
        i = int(np.flatnonzero(~(is_point | is_ref))[0])
        _fail_row(DesignError, "found_by must be 'point' or 'referral'", *ev_at(i), "found_by",
                  ev["found_by"][i], "write 'point' or 'referral'")
    pids = ev["point_id"]
    miss = is_point & (pids == "")
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        _fail_row(DesignError, "household found at a point has no point id (its PSU)", *ev_at(i), pid_col,
                  None, "give the id of the first-stage point where it was found")
    rids = ev["recruiter_id"]
    ev_rec = index.get_indexer(rids)
    unknown = is_ref & (ev_rec < 0)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        what = "has no recruiter id" if rids[i] == "" else "names a recruiter who is not in the household table"
        _fail_row(RecruitmentError, f"referred household {ev['hh_id'][i]} {what}", *ev_at(i), rid_col,
                  rids[i] or None,
                  "add the recruiter's interview, correct the coupon/recruiter id, or mark the household as "
                  "found at a point")
    selfref = is_ref & (ev_rec == ev_hh)
    if selfref.any():
        i = int(np.flatnonzero(selfref)[0])
        _fail_row(RecruitmentError, "self-referral", *ev_at(i), rid_col, rids[i],
                  "a household cannot redeem its own coupon")

    # ---- PSUs (points) and root points
    p_hh, p_lab = ev_hh[is_point], pids[is_point]
    order = np.lexsort((np.arange(len(p_hh)), p_hh))
    p_hh, p_lab = p_hh[order], p_lab[order]
    psu_labels, p_psu = np.unique(p_lab.astype(str), return_inverse=True)
    in_s1 = np.zeros(n, bool)
    in_s1[p_hh] = True
    r_hh, r_rec = ev_hh[is_ref], ev_rec[is_ref]
    root_psu = np.full(n, -1, dtype=np.int64)
    first = np.unique(p_hh, return_index=True)
    root_psu[first[0]] = p_psu[first[1]]
    wave = np.where(in_s1, 0, -1).astype(np.int64)
    level = 0
    frontier = in_s1.copy()
    while frontier.any():
        step = frontier[r_rec] & (wave[r_hh] < 0)
        if not step.any():
            break
        level += 1
        new = np.unique(r_hh[step])
        # root of a newly reached household: root of its first recruiter (in input order)
        first_rec = pd.Series(r_rec[step]).groupby(r_hh[step]).first()
        wave[new] = level
        root_psu[first_rec.index.to_numpy()] = root_psu[first_rec.to_numpy()]
        frontier = np.zeros(n, bool)
        frontier[new] = True
    orphan = wave < 0
    if orphan.any():
        i = int(np.flatnonzero(orphan)[0])
        _fail_row(RecruitmentError,
                  f"the root first-stage point of household {ids[i]} is unknown: its chain of recruiters does "
                  f"not lead to a household found at a point ({int(orphan.sum())} household(s): "
                  f"{truncate_list(ids[orphan])})", source, i, c.recruiter_id,
                  hh[c.recruiter_id].iloc[i] if c.recruiter_id in hh else None,
                  "check the recruiter ids; every chain must start at a household found at a point "
                  "(cycles of referrals are not allowed)")

    # ---- stratum of households and points
    stratum = (hh[c.stratum].astype(object).where(hh[c.stratum].notna(), "").astype(str).to_numpy(dtype=object)
               if c.stratum in hh else np.full(n, "", dtype=object))
    psu_stratum = np.empty(len(psu_labels), dtype=object)
    psu_stratum[p_psu] = stratum[p_hh]
    # a PSU lies in one stratum: households reached only by referral take the stratum of
    # their root point (not the stratum where they live, which may differ)
    stratum = np.where(~in_s1 & (root_psu >= 0), psu_stratum[np.maximum(root_psu, 0)], stratum)

    # ---- stage-1 probabilities
    if stage1 is None:
        s1 = pd.DataFrame({"stage1_prob": _num(hh, c.stage1_prob), "expected_hits": _num(hh, c.expected_hits)})
        if c.stage1_prob not in hh:
            raise DesignError(f"no stage-1 probabilities (column '{c.stage1_prob}' missing)", where=source,
                              fix="give the design manifest (--design) or a stage1_prob column")
        pcol = c.stage1_prob
    else:
        s1 = stage1.reset_index(drop=True)
        pcol = "stage1_prob"
    pi1 = pd.to_numeric(s1["stage1_prob"], errors="coerce").to_numpy(float)
    e1 = (pd.to_numeric(s1["expected_hits"], errors="coerce").to_numpy(float)
          if "expected_hits" in s1 else np.full(n, np.nan))
    e1 = np.where(np.isnan(e1), pi1, e1)
    raw = (hh[c.stage1_prob] if stage1 is None else s1["stage1_prob"]).to_numpy(dtype=object)
    bad = in_s1 & ~((pi1 > 0) & (pi1 <= 1))
    # π¹ = 0 is a valid value for a household that was not found at a point (e.g. it lives
    # outside the frame and could only be reached by referral)
    bad |= ~np.isnan(pi1) & ~(((pi1 > 0) | ((pi1 == 0) & ~in_s1)) & (pi1 <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        value = None if pd.isna(raw[i]) else raw[i]
        _fail_row(DesignError, ("stage-1 probability missing for a household found at a point" if value is None
                                else "stage-1 probability outside (0, 1]") + f" (household {ids[i]})",
                  source, i, pcol, value,
                  "a probability must be > 0 and <= 1; give household locations with the design manifest or "
                  "correct the stage1_prob column")
    bad = in_s1 & ~(e1 > 0)
    if stage1_form == "hh" and bad.any():
        i = int(np.flatnonzero(bad)[0])
        _fail_row(DesignError, "expected hits must be > 0", source, i, c.expected_hits, e1[i],
                  "give expected_hits = n·p for points drawn with replacement")

    # ---- eligibility, degrees, coupons
    registered = _num(hh, c.registered)
    if c.eligible is not None:
        check_columns(hh, [c.eligible], source=source)
        eligible = _num(hh, c.eligible) == 1
    elif referral_target == "all":
        eligible = np.ones(n, bool)
    else:
        if c.registered not in hh:
            raise DesignError(f"column '{c.registered}' is needed to know who is referral-eligible", where=source,
                              fix="add the 0/1 registration column, name it with --registered-col, or use "
                                  "--referral-target all")
        badr = ~np.isin(registered, [0, 1]) & (found == "referral")
        badr |= ~np.isin(registered, [0, 1]) & in_s1
        if badr.any():
            i = int(np.flatnonzero(badr)[0])
            _fail_row(DesignError, "registration status must be 0 or 1", source, i, c.registered,
                      hh[c.registered].iloc[i], "write 1 for registered, 0 for unregistered households")
        eligible = registered == 0
    degree = _num(hh, c.network_size)
    if c.network_size_eligible in hh or referral_target != "all":
        degree_e = _num(hh, c.network_size_eligible)
    else:
        degree_e = degree.copy()
    redeemed = np.bincount(r_rec, minlength=n).astype(float)
    if c.coupons_issued in hh:
        issued = _num(hh, c.coupons_issued)
        miss = (redeemed > 0) & np.isnan(issued)
        if miss.any():
            i = int(np.flatnonzero(miss)[0])
            _fail_row(RecruitmentError, f"household {ids[i]} recruited {int(redeemed[i])} household(s) but the number "
                      "of coupons it was given is missing", source, i, c.coupons_issued, None,
                      "fill in the coupons issued (the referral log keeps issued and redeemed coupons)")
        issued = np.where(np.isnan(issued), 0.0, issued)
        over = redeemed > issued
        if over.any():
            i = int(np.flatnonzero(over)[0])
            _fail_row(RecruitmentError, f"household {ids[i]} has {int(redeemed[i])} recruits but was given only "
                      f"{issued[i]:g} coupon(s)", source, i, c.coupons_issued, issued[i],
                      "correct the coupons issued or the recruiter ids of its recruits")
    else:
        issued = redeemed.copy()
    # referral-eligible households need their degree (links L_k = 1 + d_k)
    need_d = eligible & found_by_any(in_s1, wave) & responded_mask(hh, c)
    miss = need_d & ~(degree >= 0)
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        _fail_row(DesignError, f"network size missing or negative for referral-eligible household {ids[i]} "
                  "(its number of links L = 1 + network size is needed)", source, i, c.network_size,
                  hh[c.network_size].iloc[i] if c.network_size in hh else None,
                  "ask the network-size question of every household, or impute it before weighting")
    n_recruiters = np.bincount(r_hh, minlength=n)
    low = eligible & (degree < n_recruiters)
    if low.any():
        warnings.warn(DegreeImputedWarning(
            f"{int(low.sum())} referred household(s) report fewer contacts than the households that referred them "
            f"({truncate_list(ids[low])}); their network size was raised to the number of recruiters"), stacklevel=3)
        degree = np.where(low, n_recruiters, degree)
    rec = redeemed > 0
    miss = rec & ~(degree_e >= 0)
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        col = c.network_size_eligible
        _fail_row(DesignError, f"household {ids[i]} referred households but its number of referral-eligible "
                  "contacts is missing", source, i, col, hh[col].iloc[i] if col in hh else None,
                  "record network_size_eligible for every recruiter (or use --referral-target all)")
    low = rec & (degree_e < redeemed)
    if low.any():
        warnings.warn(DegreeImputedWarning(
            f"{int(low.sum())} recruiter(s) report fewer eligible contacts than recruits "
            f"({truncate_list(ids[low])}); raised to the number of recruits"), stacklevel=3)
        degree_e = np.where(low, redeemed, degree_e)

    responded = responded_mask(hh, c)
    if (~responded & ~in_s1).any():
        i = int(np.flatnonzero(~responded & ~in_s1)[0])
        _fail_row(DesignError, "a referred household is marked as not responding", source, i, c.responded, 0,
                  "leave unredeemed or refused referrals out of the household table; the redemption rate "
                  "accounts for them")
    if (~responded & (redeemed > 0)).any():
        i = int(np.flatnonzero(~responded & (redeemed > 0))[0])
        _fail_row(DesignError, "a household marked as not responding referred other households", source, i,
                  c.responded, 0, "correct the response status")

    if redemption_cells is None:
        cell = np.zeros(n, dtype=np.int64)
    else:
        cell = pd.factorize(stratum if redemption_cells == c.stratum or redemption_cells == "stratum"
                            else id_texts(hh[redemption_cells]))[0].astype(np.int64)

    # No coupon handed out to anyone found at a point: the design had no referral stage
    # (or none took place), so no household can be reached through a contact and its only
    # link is the self-link (L_k = 1, weight 1/π¹). Counting L_k = 1 + d_k here would divide
    # every eligible household's stage-1 weight by links that could never be realised.
    referral_stage = bool((issued[in_s1 & responded] > 0).any())
    if not referral_stage:
        eligible = np.zeros(n, bool)

    ref_hits = _num(hh, c.expected_referral_hits)
    if stage1_form == "hh":
        ev_point_hh, ev_point_psu = p_hh, p_psu
    else:
        ev_point_hh, ev_point_psu = first[0], p_psu[first[1]]
    return TwoStageSample(
        ids=ids, stratum=stratum, in_s1=in_s1, responded=responded, eligible=eligible, stage1_prob=pi1,
        expected_hits=e1, degree=degree, degree_eligible=degree_e, issued=issued, redeemed=redeemed,
        wave=wave, root_psu=root_psu, ev_point_hh=ev_point_hh, ev_point_psu=ev_point_psu,
        ev_ref_hh=r_hh, ev_ref_rec=r_rec, psu_labels=psu_labels, psu_stratum=psu_stratum,
        redemption_cell=cell, referral_hits=ref_hits, stage1_form=stage1_form, source=source,
        info={"n_point_hits": int(is_point.sum()), "n_referral_events": int(is_ref.sum()),
              "n_reached_twice": int((np.bincount(ev_hh, minlength=n) > 1).sum()),
              "max_wave": int(wave.max()) if n else 0, "referral_stage": referral_stage})


def found_by_any(in_s1: np.ndarray, wave: np.ndarray) -> np.ndarray:
    """Households in the sample (found at a point or reached by a referral)."""
    return in_s1 | (wave >= 1)


def responded_mask(hh: pd.DataFrame, c: ColumnMap) -> np.ndarray:
    """True for interviewed households (all, when there is no response column)."""
    if c.responded not in hh:
        return np.ones(len(hh), bool)
    v = pd.to_numeric(hh[c.responded], errors="coerce").to_numpy(float)
    bad = ~np.isin(v, [0, 1])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        _fail_row(DesignError, "response status must be 0 or 1", "households", i, c.responded,
                  hh[c.responded].iloc[i], "write 1 for interviewed households, 0 for refusals/non-contacts")
    return v == 1


# --------------------------------------------------------------------------------------
# weights for given replicate factors
# --------------------------------------------------------------------------------------

def stage1_weights(s: TwoStageSample, factors: np.ndarray, nonresponse: np.ndarray | None) -> np.ndarray:
    """a_j: stage-1 weight of each household (0 outside S1), replicate factors applied."""
    denom = s.stage1_prob if s.stage1_form == "ht" else s.expected_hits
    contrib = factors[s.ev_point_psu] / denom[s.ev_point_hh]
    a = np.bincount(s.ev_point_hh, weights=contrib, minlength=s.n)
    if nonresponse is not None:
        a = a * nonresponse
    return a


def _redemption_rate(s: TwoStageSample, a_factor: np.ndarray) -> np.ndarray:
    """ĥ per household's cell: Σ f r / Σ f c over stage-1 recruiters of the cell."""
    use = s.in_s1 & s.responded & (s.issued > 0)
    f = np.where(use, a_factor, 0.0)
    k = s.redemption_cell.max() + 1 if s.n else 1
    num = np.bincount(s.redemption_cell, weights=f * s.redeemed, minlength=k)
    den = np.bincount(s.redemption_cell, weights=f * s.issued, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(den > 0, num / den, np.nan)
    return rate


REFERRAL_FRACTIONS = ("issued-rate", "issued", "redeemed")


def _rho(s: TwoStageSample, rate: np.ndarray, referral_fraction: str = "issued-rate") -> np.ndarray:
    """ρ_j = min(1, c_j / d^E_j) · ĥ for every household as recruiter.

    ``referral_fraction`` ``"issued"`` (ĥ = 1) and ``"redeemed"`` (r_j / d^E_j) exist only
    to reproduce the biased alternatives of docs/methods.md, 'Findings from the simulation study'.
    """
    if referral_fraction not in REFERRAL_FRACTIONS:
        raise DesignError(f"unknown referral fraction {referral_fraction!r}",
                          fix=f"use one of {', '.join(REFERRAL_FRACTIONS)}")
    with np.errstate(invalid="ignore", divide="ignore"):
        if referral_fraction == "redeemed":
            return np.minimum(1.0, s.redeemed / s.degree_eligible)
        frac = np.minimum(1.0, s.issued / s.degree_eligible)
    if referral_fraction == "issued":
        return frac
    return frac * rate[s.redemption_cell]


def gwsm_weights(s: TwoStageSample, factors: np.ndarray | None = None, *,
                 nonresponse: np.ndarray | None = None, referral_fraction: str = "issued-rate") -> BaseWeights:
    """Generalised weight share with link subsampling for households at wave ≤ 1.

    Returns weights for every household; those reached only at wave ≥ 2 get 0 here
    (see :func:`base_weights` for the 2-C composite).

    Examples
    --------
    Hand-worked: three households; A (registered) and B (unregistered) found at points
    with π¹ = 0.5 and 0.25; B knows 3 households (d_B = 3); A knows 4 households of which
    2 are unregistered and refers one of them, C, which knows 1 household (d_C = 1).
    A: not eligible, w = 1/0.5 = 2. B: w = (1/0.25)/(1 + 3) = 1. C: ρ_AC = 1/2, so
    w = [1/(0.5 · 0.5)]/(1 + 1) = 2.

    >>> hh = pd.DataFrame({"hh_id": ["A", "B", "C"], "found_by": ["point", "point", "referral"],
    ...     "point_id": ["P1", "P2", None], "recruiter_id": [None, None, "A"],
    ...     "stage1_prob": [0.5, 0.25, None], "registered": [1, 0, 0],
    ...     "network_size": [4, 3, 1], "network_size_eligible": [2, 1, 0], "referrals_given": [1, 0, 0]})
    >>> gwsm_weights(prepare_sample(hh)).weight.tolist()
    [2.0, 1.0, 2.0]
    """
    f = np.ones(s.n_psu) if factors is None else np.asarray(factors, float)
    a = stage1_weights(s, f, nonresponse)
    rate = _redemption_rate(s, a * _pi_or_one(s))
    rho = _rho(s, rate, referral_fraction)
    wave1 = s.wave[s.ev_ref_rec] == 0
    rec, hh = s.ev_ref_rec[wave1], s.ev_ref_hh[wave1]
    # a recruiter whose point is out of a replicate (a = 0) adds nothing, even when ĥ of
    # its cell is undefined in that replicate (no issued coupons left: 0/0)
    with np.errstate(invalid="ignore", divide="ignore"):
        contrib = np.where(s.eligible[hh] & (a[rec] > 0), a[rec] / rho[rec], 0.0)
    ref = np.bincount(hh, weights=contrib, minlength=s.n)
    links = np.where(s.eligible, 1.0 + np.nan_to_num(s.degree, nan=0.0), 1.0)
    total = a + ref
    weight = total / links
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, ref / total, 0.0)
    label = np.where(~s.eligible, "stage1", "gwsm")
    return BaseWeights(weight=weight, self_term=a, referral_term=ref, links=links, method=label.astype(object),
                       model_based=np.zeros(s.n, bool), share_from_referral=share,
                       stage2_prob=np.full(s.n, np.nan), redemption_rate=_cell_dict(s, rate), kappa={},
                       theta=None)


def _pi_or_one(s: TwoStageSample) -> np.ndarray:
    """Turn a_j back into the replicate factor f_j (a_j · π_j), for the redemption rate."""
    denom = s.stage1_prob if s.stage1_form == "ht" else s.expected_hits
    return np.where(s.in_s1, np.nan_to_num(denom, nan=0.0), 0.0)


def _cell_dict(s: TwoStageSample, rate: np.ndarray) -> dict:
    """Redemption rate by cell, labelled by the stratum (or cell) of its first household."""
    out = {}
    for i_cell in np.unique(s.redemption_cell):
        first = int(np.flatnonzero(s.redemption_cell == i_cell)[0])
        out[str(s.stratum[first]) or "all"] = float(rate[i_cell])
    return out


def _kappa_pibar(s: TwoStageSample, a: np.ndarray, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """κ̂_h = Σ a m / Σ a d^E and π̄_h = Σ a π¹ / Σ a over stage-1 households of stratum h."""
    strata, sidx = np.unique(s.stratum, return_inverse=True)
    use = s.in_s1 & s.responded & (s.degree_eligible >= 0)
    m_eff = np.nan_to_num(np.minimum(s.issued, np.nan_to_num(s.degree_eligible, nan=0.0))
                          * rate[s.redemption_cell], nan=0.0)
    wa = np.where(use, a, 0.0)
    num = np.bincount(sidx, weights=wa * m_eff, minlength=len(strata))
    den = np.bincount(sidx, weights=wa * np.nan_to_num(s.degree_eligible, nan=0.0), minlength=len(strata))
    w_all = np.where(s.in_s1 & s.responded, a, 0.0)
    pnum = np.bincount(sidx, weights=w_all * np.nan_to_num(s.stage1_prob, nan=0.0), minlength=len(strata))
    pden = np.bincount(sidx, weights=w_all, minlength=len(strata))
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.where(den > 0, num / den, 0.0)
        pibar = np.where(pden > 0, pnum / pden, 0.0)
    return kappa[sidx], pibar[sidx], {str(h): float(k) for h, k in zip(strata, kappa)}


def union_weights(s: TwoStageSample, factors: np.ndarray | None = None, *,
                  nonresponse: np.ndarray | None = None, **_: Any) -> BaseWeights:
    """Union probability π = 1 − (1 − π¹)(1 − π²), **for comparison only**.

    π²_k = 1 − (1 − π̄¹_h κ̂_h)^{d_k} for referral-eligible households, 0 otherwise.
    It assumes the two routes are independent, which local networks violate (docs/methods.md,
    "Comparison weights"). Needs π¹ of every household, also of those found only by referral.
    """
    f = np.ones(s.n_psu) if factors is None else np.asarray(factors, float)
    miss = found_by_any(s.in_s1, s.wave) & ~((s.stage1_prob > 0) & (s.stage1_prob <= 1))
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        raise DesignError(f"the union-probability method needs the stage-1 probability of every household, also "
                          f"of referred ones; household {s.ids[i]} has none ({int(miss.sum())} in all)",
                          where=format_where(s.source, row=i + 2, column="stage1_prob"),
                          fix="give household locations with the design manifest, or use --method gwsm")
    a = stage1_weights(s, f, nonresponse)
    rate = _redemption_rate(s, a * _pi_or_one(s))
    kappa, pibar, kd = _kappa_pibar(s, a, rate)
    d = np.nan_to_num(s.degree, nan=0.0)
    pi2 = np.where(s.eligible, 1.0 - (1.0 - np.clip(pibar * kappa, 0, 1)) ** d, 0.0)
    pi = 1.0 - (1.0 - s.stage1_prob) * (1.0 - pi2)
    g = f[np.maximum(s.root_psu, 0)]
    if nonresponse is not None:
        g = g * np.where(s.in_s1, nonresponse, 1.0)
    weight = g / pi
    share = np.where(s.in_s1, 0.0, 1.0)
    return BaseWeights(weight=weight, self_term=np.where(s.in_s1, weight, 0.0),
                       referral_term=np.where(s.in_s1, 0.0, weight), links=np.ones(s.n),
                       method=np.where(s.eligible, "union (for comparison)", "stage1").astype(object),
                       model_based=np.zeros(s.n, bool), share_from_referral=share, stage2_prob=pi2,
                       redemption_rate=_cell_dict(s, rate), kappa=kd, theta=None)


def multiplicity_weights(s: TwoStageSample, factors: np.ndarray | None = None, *,
                         nonresponse: np.ndarray | None = None, **_: Any) -> BaseWeights:
    """Expected-hits (Hansen–Hurwitz / multiplicity) weights, **for comparison**.

    w_k = Σ_{selection events of k} f / e_k with e_k = e¹_k + Σ_{j∈N(k)} π¹_j ρ_jk.
    The sum over contacts is taken from the ``expected_referral_hits`` column when given
    (e.g. exact, in a simulation), else approximated by d_k π̄¹_h κ̂_h (mean field).
    """
    f = np.ones(s.n_psu) if factors is None else np.asarray(factors, float)
    a = stage1_weights(s, f, nonresponse)
    rate = _redemption_rate(s, a * _pi_or_one(s))
    kappa, pibar, kd = _kappa_pibar(s, a, rate)
    d = np.nan_to_num(s.degree, nan=0.0)
    ref_e = np.where(np.isnan(s.referral_hits), d * pibar * kappa, s.referral_hits)
    e = np.nan_to_num(s.expected_hits, nan=0.0) + np.where(s.eligible, ref_e, 0.0)
    miss = found_by_any(s.in_s1, s.wave) & ~(e > 0)
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        raise DesignError(f"expected hits of household {s.ids[i]} are 0 or unknown",
                          where=format_where(s.source, row=i + 2, column="expected_hits"),
                          fix="give household locations with the design manifest, or use --method gwsm")
    nr = np.ones(s.n) if nonresponse is None else nonresponse
    hits_self = np.bincount(s.ev_point_hh, weights=f[s.ev_point_psu] * nr[s.ev_point_hh], minlength=s.n)
    wave1 = s.wave[s.ev_ref_rec] == 0
    rec, hh = s.ev_ref_rec[wave1], s.ev_ref_hh[wave1]
    # each redeemed coupon counts 1/ĥ selection events' worth (expected hits include ĥ)
    g = f[np.maximum(s.root_psu[rec], 0)] * nr[rec]
    hits_ref = np.bincount(hh, weights=np.where(s.eligible[hh], g, 0.0), minlength=s.n)
    weight = (hits_self + hits_ref) / e
    total = hits_self + hits_ref
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, hits_ref / total, 0.0)
    return BaseWeights(weight=weight, self_term=hits_self / e, referral_term=hits_ref / e, links=np.ones(s.n),
                       method=np.where(s.eligible, "multiplicity (for comparison)", "stage1").astype(object),
                       model_based=np.zeros(s.n, bool), share_from_referral=share, stage2_prob=e,
                       redemption_rate=_cell_dict(s, rate), kappa=kd, theta=None)


REFERRAL_METHODS: dict[str, Callable[..., BaseWeights]] = {
    "gwsm": gwsm_weights,
    "union": union_weights,
    "multiplicity": multiplicity_weights,
}


def _rds_ii(degree: np.ndarray, population_size: float) -> np.ndarray:
    """Volz–Heckathorn RDS-II weights ∝ 1/d (:func:`hiddenpop.rds.estimators.vh_weights`), summing to
    ``population_size``."""
    from hiddenpop.rds.estimators import vh_weights

    w = vh_weights(degree)
    return population_size * w / w.sum()


def _ss(degree: np.ndarray, population_size: float) -> np.ndarray:
    """Gile's successive-sampling weights from the RDS module, summing to ``population_size``."""
    from hiddenpop.rds.ss import ss_inclusion_probabilities

    w = 1.0 / np.asarray(ss_inclusion_probabilities(degree, max(population_size, float(len(degree)))), float)
    return population_size * w / w.sum()


DEEPER_WAVE_METHODS: dict[str, Callable[[np.ndarray, float], np.ndarray] | None] = {
    "rds-ii": _rds_ii,
    "ss": _ss,
    "exclude": None,
}


def base_weights(s: TwoStageSample, method: str = "gwsm", factors: np.ndarray | None = None, *,
                 nonresponse: np.ndarray | None = None, deeper_waves: str = "rds-ii",
                 theta: float | None = None, referral_fraction: str = "issued-rate") -> BaseWeights:
    """Weights of ``method`` plus the 2-C composite for households reached at wave ≥ 2.

    Households reached only at wave ≥ 2 have no design-based weight. With
    ``deeper_waves`` ``"rds-ii"`` or ``"ss"`` they get RDS weights (∝ 1/d, or Gile's SS)
    summing to N̂_E, the design-based estimate of the referral-eligible population; the
    eligible households with a design-based weight are multiplied by θ and the deeper
    ones by 1 − θ (θ defaults to the design-based share of the eligible sample). These
    weights are model-based (flagged). ``"exclude"`` leaves them at weight 0.

    Degrees of the deeper waves follow the package's single zero/missing rule,
    :func:`hiddenpop.rds.sample.clean_degree` (``"max"``, R ``RDS``'s "largest valid degree").
    With a sample from :func:`prepare_sample` it never acts: missing degrees of
    referral-eligible households were refused there (they enter the design-based link count
    L = 1 + d) and degrees below the number of recruiters were raised to it.
    """
    if method not in REFERRAL_METHODS:
        raise DesignError(f"unknown weighting method {method!r}", fix=f"use one of {', '.join(REFERRAL_METHODS)}")
    if deeper_waves not in DEEPER_WAVE_METHODS:
        raise DesignError(f"unknown method for deeper waves {deeper_waves!r}",
                          fix=f"use one of {', '.join(DEEPER_WAVE_METHODS)}")
    bw = REFERRAL_METHODS[method](s, factors, nonresponse=nonresponse, referral_fraction=referral_fraction)
    bw = dataclasses.replace(bw, wave1_weight=bw.weight)
    deep = (s.wave >= 2) & (bw.weight <= 0) & s.eligible
    if not deep.any() or DEEPER_WAVE_METHODS[deeper_waves] is None:
        return bw
    design = s.eligible & (bw.weight > 0)
    n_hat_e = float(bw.weight[design].sum())
    # default θ: the design-based share of the eligible sample (one θ for every outcome);
    # θ by inverse bootstrap variance of a chosen outcome: compute_weights(theta_var=...)
    th = float(design.sum() / (design.sum() + deep.sum())) if theta is None else float(theta)
    if not 0 < th <= 1:
        raise DesignError(f"composite factor theta must lie in (0, 1], got {th}")
    f = np.ones(s.n_psu) if factors is None else np.asarray(factors, float)
    g = f[s.root_psu[deep]]
    d = s.degree[deep]
    if (~(d > 0)).any():
        # the package's one zero/missing degree rule (R RDS's "largest valid degree",
        # hiddenpop.rds.sample.clean_degree); prepare_sample already refused missing degrees
        # and raised low ones to the number of recruiters, so this only acts on samples built
        # by other routes (imported here: hiddenpop.rds is slow to import)
        from hiddenpop.rds.sample import clean_degree

        d = clean_degree(d, rule="max", ids=s.ids[deep])
    weight = bw.weight.copy()
    weight[design] *= th
    # a replicate drops the chains of unselected points (g = 0) and repeats the others
    rds_w = np.zeros(int(deep.sum()))
    keep = g > 0
    if keep.any():
        rds_w[keep] = DEEPER_WAVE_METHODS[deeper_waves](d[keep] / g[keep], n_hat_e)
    weight[deep] = (1.0 - th) * rds_w
    deep_w = np.zeros(s.n)
    deep_w[deep] = rds_w
    method_lab = bw.method.copy()
    method_lab[deep] = f"{deeper_waves} (model-based)"
    model_based = bw.model_based.copy()
    model_based[deep] = True
    share = bw.share_from_referral.copy()
    share[deep] = 1.0
    ref = bw.referral_term.copy()
    ref[deep] = weight[deep]
    return BaseWeights(weight=weight, self_term=bw.self_term, referral_term=ref, links=bw.links,
                       method=method_lab, model_based=model_based, share_from_referral=share,
                       stage2_prob=bw.stage2_prob, redemption_rate=bw.redemption_rate, kappa=bw.kappa, theta=th,
                       wave1_weight=bw.weight, deep_weight=deep_w)


def referral_share(weights: Any, share: Any, y: Any = None, *, domain: Any = None) -> float:
    """Share of an estimate's weight that comes from referral links.

    For a total Σ w_k y_k over a domain, the share is Σ w_k s_k y_k / Σ w_k y_k, with
    s_k the share of household k's weight from referral links (``share_from_referral``).
    Without ``y`` it is the share of the estimated number of households.

    >>> referral_share([2.0, 1.0, 2.0], [0.0, 0.0, 1.0])
    0.4
    >>> referral_share([2.0, 1.0, 2.0], [0.0, 0.0, 1.0], y=[0, 1, 1])
    0.6666666666666666
    """
    w = np.asarray(weights, float)
    sh = np.asarray(share, float)
    yy = np.ones_like(w) if y is None else np.asarray(y, float)
    dm = np.ones_like(w, bool) if domain is None else np.asarray(domain, bool)
    den = float(np.sum(w * yy * dm))
    if den == 0:
        raise DesignError("the estimate is 0, so the share from referral is undefined",
                          fix="choose a variable or domain with a non-zero total")
    return float(np.sum(w * sh * yy * dm) / den)


