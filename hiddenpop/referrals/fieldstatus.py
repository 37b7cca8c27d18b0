"""Field status: reminders, recruitment by wave and seed, convergence, bottlenecks, homophily.

All functions take the respondents table of the store (``ReferralStore.respondents()``: it has
``wave``, ``seed_id``, ``recruiter_id`` and the coupon counts) and return plain DataFrames.

Definitions
-----------
* **Cumulative composition by wave** (convergence): share of each level of a variable among
  respondents of waves ``0..w``; it should settle as waves are added (R ``RDS::convergence.plot``
  shows the same idea with weighted estimates by sample order).
* **Per-seed composition** (bottleneck): the same shares within each seed's chain, cumulative by
  wave; chains that stay apart from each other suggest a bottleneck (R ``bottleneck.plot``).
* **Recruitment homophily** (Heckathorn 2002, with sample shares): for level k,
  ``S_k`` = share of recruits of k-recruiters who are k, ``P_k`` = share of k among all recruits;
  ``H_k = (S_k - P_k)/(1 - P_k)`` if ``S_k >= P_k`` else ``(S_k - P_k)/P_k``. 0 means recruits are
  drawn regardless of the level, 1 only within the level, -1 only outside it. (The statisticians'
  :func:`hiddenpop.rds.diagnostics.recruitment_homophily` is a different quantity: R's single
  observed/expected ratio of same-group recruitments, 1 = none.)

These are **unweighted sample** summaries for the field coordinators. The weighted RDS
estimates by recruitment order (R ``convergence.plot``/``bottleneck.plot``) are
:func:`hiddenpop.rds.diagnostics.cumulative_estimates`, ``convergence_plot`` and ``bottleneck_plot``.

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"respondent_id": list("ABCD"), "recruiter_id": [None, "A", "A", "B"],
...                   "wave": [0, 1, 1, 2], "seed_id": list("AAAA"), "g": ["x", "x", "y", "x"]})
>>> cumulative_composition(t, "g").round(3).values.tolist()
[[0.0, 1.0, 0.0], [1.0, 0.667, 0.333], [2.0, 0.75, 0.25]]
>>> recruitment_homophily(t, "g")[["level", "recruits", "same_level_share", "homophily"]].round(3).values.tolist()
[['x', 3, 0.667, 0.0], ['y', 0, nan, nan]]
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hiddenpop.errors import RecruitmentError, truncate_list
from hiddenpop.referrals.coupons import coupon_table, parse_times
from hiddenpop.referrals.schema import (CORE_COLUMNS, DERIVED_COLUMNS, HASH_PREFIX, LOCATION_COLUMNS, SOURCE_COLUMNS,
                                        TEAM_COLUMNS)

__all__ = ["TEAM_COLUMNS", "variable_names", "reminder_list", "recruitment_by_wave", "recruitment_by_seed",
           "cumulative_composition",
           "seed_composition", "recruitment_homophily", "status_summary", "reference_time"]


def _need(table: pd.DataFrame, cols: tuple[str, ...]) -> None:
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise RecruitmentError(f"missing derived column(s) {truncate_list(repr(c) for c in missing)}",
                               where=str(table.attrs.get("source", "respondents table")),
                               fix="use ReferralStore.respondents() (or hiddenpop.referrals.derive.derive_columns), "
                                   "which derives recruiters, waves and seeds")


_REMINDER_COLUMNS = ["recruiter_id", "team", "seed_id", "point_id", "interview_time", "issued", "redeemed",
                     "outstanding", "expired", "outstanding_coupons", "days_since_interview"]


def reminder_list(table: pd.DataFrame, *, expiry_days: float | None = None, as_of: Any = None,
                  coupons: pd.DataFrame | None = None) -> pd.DataFrame:
    """Recruiters with coupons still out: whom to call (no personal data; look them up by id).

    Returns ``recruiter_id, team, seed_id, point_id, interview_time, issued, redeemed,
    outstanding, expired, outstanding_coupons, days_since_interview`` (days to one decimal),
    recruiters with outstanding coupons first, most overdue first. ``team`` is the first of
    :data:`TEAM_COLUMNS` in the table (the team that interviewed the recruiter and has the
    contact in its own records), else empty. Phone numbers and names are never part of it.
    ``coupons``: :func:`~hiddenpop.referrals.coupons.coupon_table` of ``table`` with the same
    ``expiry_days`` and ``as_of``, if already computed.

    >>> t = pd.DataFrame({"respondent_id": ["A", "B"], "redeemed_coupon": [None, "a1"],
    ...                   "issued_coupons": ["a1;a2", None], "enumerator": ["team-a", "team-b"],
    ...                   "interview_time": ["2024-05-01T00:00", "2024-05-02T00:00"]})
    >>> reminder_list(t, as_of="2024-05-03T12:00")[["recruiter_id", "team", "outstanding_coupons",
    ...                                             "days_since_interview"]].values.tolist()
    [['A', 'team-a', 'a2', 2.5]]
    """
    ct = coupon_table(table, expiry_days=expiry_days, as_of=as_of) if coupons is None else coupons
    open_ = ct[ct["status"] != "redeemed"]
    if open_.empty:
        return pd.DataFrame(columns=_REMINDER_COLUMNS)
    status = ct["status"].to_numpy()
    flags = pd.DataFrame({"recruiter_id": ct["recruiter_id"], "coupon": ct["coupon"],
                          **{s: (status == s).astype(np.int64) for s in ("redeemed", "outstanding", "expired")},
                          "days": ct["days_outstanding"]})
    # built-in aggregations only (a Python lambda per recruiter made this the slow part of `referrals status`)
    agg = flags.groupby("recruiter_id", sort=False).agg(issued=("coupon", "size"), redeemed=("redeemed", "sum"),
                                                        outstanding=("outstanding", "sum"),
                                                        expired=("expired", "sum"),
                                                        days_since_interview=("days", "max"))
    coupons = open_[open_["status"] == "outstanding"].groupby("recruiter_id")["coupon"].agg(" ".join)
    agg["outstanding_coupons"] = coupons.reindex(agg.index).fillna("")
    agg = agg[(agg["outstanding"] + agg["expired"]) > 0]
    info = table.set_index(table["respondent_id"].astype(str))
    team = next((c for c in TEAM_COLUMNS if c in info.columns), None)
    for col, src in (("team", team), ("interview_time", "interview_time"), ("point_id", "point_id"),
                     ("seed_id", "seed_id")):
        agg[col] = info[src].reindex(agg.index).to_numpy() if src in info.columns else None
    agg["days_since_interview"] = agg["days_since_interview"].round(1)
    agg = agg.reset_index()
    agg = agg.sort_values(["outstanding", "days_since_interview"], ascending=[False, False], kind="stable")
    return agg[_REMINDER_COLUMNS].reset_index(drop=True)


def recruitment_by_wave(table: pd.DataFrame) -> pd.DataFrame:
    """Per wave: respondents, recruiters (respondents with ≥ 1 recruit), recruits made, coupons, return rate."""
    _need(table, ("wave", "n_recruits"))
    g = table.groupby("wave")
    out = pd.DataFrame({"respondents": g.size(), "recruiters": g["n_recruits"].apply(lambda s: int((s > 0).sum())),
                        "recruits_made": g["n_recruits"].sum()})
    if "coupons_issued" in table:
        issued = pd.to_numeric(table["coupons_issued"], errors="coerce")
        out["coupons_issued"] = issued.groupby(table["wave"]).sum(min_count=1)
        out["return_rate"] = out["recruits_made"] / out["coupons_issued"].where(out["coupons_issued"] > 0)
    return out.reset_index()


def recruitment_by_seed(table: pd.DataFrame, *, stall_days: float = 7.0, as_of: Any = None) -> pd.DataFrame:
    """Per seed: chain size, deepest wave, outstanding coupons, last interview, and a state.

    ``state`` is ``growing`` (an interview within ``stall_days`` of ``as_of``), ``stalled`` (no
    recent interview but coupons still out) or ``ended`` (no coupon left to redeem).
    """
    _need(table, ("seed_id", "wave"))
    times = parse_times(table["interview_time"]) if "interview_time" in table else pd.Series(pd.NaT, index=table.index)
    ref = reference_time(table, as_of)
    ref = pd.NaT if ref is None else ref
    out_c = pd.to_numeric(table.get("coupons_outstanding", pd.Series(0, index=table.index)), errors="coerce")
    df = pd.DataFrame({"seed_id": table["seed_id"], "wave": table["wave"], "t": times, "out": out_c.fillna(0)})
    g = df.groupby("seed_id", sort=False)
    res = pd.DataFrame({"chain_size": g.size(), "max_wave": g["wave"].max(), "outstanding_coupons": g["out"].sum(),
                        "last_interview": g["t"].max()})
    days = (ref - res["last_interview"]).dt.total_seconds() / 86400.0 if pd.notna(ref) else np.nan
    res["days_since_last_interview"] = days
    state = np.where(res["outstanding_coupons"] <= 0, "ended",
                     np.where(pd.Series(days, index=res.index) <= stall_days, "growing", "stalled"))
    res["state"] = state
    return res.reset_index()


def variable_names(table: pd.DataFrame, limit: int = 25) -> str:
    """The columns one would follow in a plot, answer columns first (for error messages).

    >>> variable_names(pd.DataFrame(columns=["respondent_id", "wave", "registered", "_hash_phone"]))
    'registered, wave'
    """
    skip = set(CORE_COLUMNS) | set(DERIVED_COLUMNS) | set(SOURCE_COLUMNS) | set(LOCATION_COLUMNS)
    names = [str(c) for c in table.columns if c not in skip and not str(c).startswith(HASH_PREFIX)]
    names += [str(c) for c in ("wave", "found_by", "network_size", "point_id") if c in table.columns]
    return ", ".join(names[:limit]) + (" …" if len(names) > limit else "")


def _levels(table: pd.DataFrame, var: str) -> pd.Series:
    if var not in table.columns:
        raise RecruitmentError(f"no column '{var}'", where=f"--var {var}", fix=f"choose one of {variable_names(table)}")
    return table[var].astype(object).where(table[var].notna(), None)


def cumulative_composition(table: pd.DataFrame, var: str) -> pd.DataFrame:
    """Share of each level of ``var`` among respondents of waves ``0..w`` (rows: waves; missing excluded)."""
    _need(table, ("wave",))
    lv = _levels(table, var)
    ok = lv.notna()
    counts = pd.crosstab(table.loc[ok, "wave"], lv[ok].astype(str))
    cum = counts.sort_index().cumsum()
    shares = cum.div(cum.sum(axis=1), axis=0)
    shares.columns.name = None
    return shares.reset_index()


def seed_composition(table: pd.DataFrame, var: str, *, cumulative_by_wave: bool = True) -> pd.DataFrame:
    """Per seed (and wave, cumulatively): share of each level of ``var``; columns ``seed_id, wave, n, <levels>``."""
    _need(table, ("wave", "seed_id"))
    lv = _levels(table, var)
    ok = lv.notna()
    df = pd.DataFrame({"seed_id": table.loc[ok, "seed_id"], "wave": table.loc[ok, "wave"], "lv": lv[ok].astype(str)})
    counts = pd.crosstab([df["seed_id"], df["wave"]], df["lv"])
    if cumulative_by_wave:
        counts = counts.groupby(level=0).cumsum()
    else:
        counts = counts.groupby(level=0).sum()
    n = counts.sum(axis=1)
    shares = counts.div(n, axis=0)
    shares.insert(0, "n", n)
    shares.columns.name = None
    return shares.reset_index()


def recruitment_homophily(table: pd.DataFrame, var: str) -> pd.DataFrame:
    """Recruitment homophily per level of ``var`` (see the module notes) and the transition counts.

    Heckathorn's (2002) per-level index ``H_k`` on a -1..1 scale (0 = recruits drawn regardless
    of the level), computed from the store's respondents table, for the field report. This is
    **not** the same number as :func:`hiddenpop.rds.diagnostics.recruitment_homophily`, which
    follows R ``homophily.estimates(recruitment=TRUE)``: one ratio per variable, observed over
    expected same-group recruitments (1 = none). Both are computed from the same
    recruiter-level × recruit-level counts (the ``to_*`` columns here), so they are kept apart
    on purpose rather than merged.
    """
    _need(table, ("recruiter_id",))
    lv = _levels(table, var).astype(object)
    by_id = pd.Series(lv.to_numpy(), index=table["respondent_id"].astype(str))
    rec = table["recruiter_id"]
    has = rec.notna() & lv.notna()
    rec_lv = by_id.reindex(rec[has].astype(str)).to_numpy()
    pairs = pd.DataFrame({"from": rec_lv, "to": lv[has].to_numpy()}).dropna()
    levels = sorted(set(lv.dropna().astype(str)))
    pairs = pairs.astype(str)
    T = pd.crosstab(pairs["from"], pairs["to"]).reindex(index=levels, columns=levels, fill_value=0)
    total = T.to_numpy().sum()
    rows = []
    for k in levels:
        made = int(T.loc[k].sum())
        P = T[k].sum() / total if total else np.nan
        S = T.loc[k, k] / made if made else np.nan
        if np.isnan(S) or np.isnan(P) or P in (0.0, 1.0):
            H = np.nan if (np.isnan(S) or np.isnan(P)) else 0.0
        else:
            H = (S - P) / (1 - P) if S >= P else (S - P) / P
        rows.append({"level": k, "recruits": made, "same_level_share": S, "share_among_recruits": P, "homophily": H,
                     **{f"to_{j}": int(T.loc[k, j]) for j in levels}})
    return pd.DataFrame(rows)


def reference_time(table: pd.DataFrame, as_of: Any = None) -> pd.Timestamp | None:
    """The time "days quiet" and coupon expiry are counted to: ``as_of`` (UTC), else the latest
    interview in ``table`` (so a finished study from 2024 is seen as it was when it ended, not as
    1,000 days quiet), else ``None``.

    >>> t = pd.DataFrame({"interview_time": ["2024-03-04T09:00+03:00", "2024-03-08T10:00+03:00"]})
    >>> str(reference_time(t)), str(reference_time(t, "2024-04-01"))
    ('2024-03-08 07:00:00+00:00', '2024-04-01 00:00:00+00:00')
    """
    if as_of is not None:
        ts = pd.Timestamp(as_of)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if "interview_time" not in table or not len(table):
        return None
    latest = parse_times(table["interview_time"]).max()
    return None if pd.isna(latest) else latest


def status_summary(table: pd.DataFrame, *, expiry_days: float | None = None, as_of: Any = None,
                   coupons: pd.DataFrame | None = None) -> dict[str, Any]:
    """Headline numbers for the evening report (plain dict, JSON-ready).

    ``as_of`` in the result is the reference time (:func:`reference_time`: the given ``as_of``, else
    the latest interview) as ISO 8601 in UTC, ``None`` without interview times.
    ``coupons``: :func:`~hiddenpop.referrals.coupons.coupon_table` of ``table`` with the same
    ``expiry_days`` and ``as_of``, if already computed (the status report shares one).
    """
    ct = coupon_table(table, expiry_days=expiry_days, as_of=as_of) if coupons is None else coupons
    counts = ct["status"].value_counts()
    ref = reference_time(table, as_of)
    return {
        "as_of": None if ref is None else ref.isoformat(),
        "respondents": int(len(table)),
        "seeds": int(table["is_seed"].sum()) if "is_seed" in table else None,
        "max_wave": int(table["wave"].max()) if len(table) else 0,
        "coupons_issued": int(len(ct)),
        "coupons_redeemed": int(counts.get("redeemed", 0)),
        "coupons_outstanding": int(counts.get("outstanding", 0)),
        "coupons_expired": int(counts.get("expired", 0)),
        "return_rate": float(counts.get("redeemed", 0) / len(ct)) if len(ct) else None,
        "median_days_to_redemption": (float(ct["days_to_redemption"].median())
                                      if ct["days_to_redemption"].notna().any() else None),
    }
