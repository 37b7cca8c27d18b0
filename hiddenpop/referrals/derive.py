"""The one derivation of recruiters, waves, seeds and coupon counts from a referral table.

:func:`recruitment` matches the coupons once (:func:`hiddenpop.referrals.coupons.link_coupons`),
resolves every respondent's recruiter, builds the recruitment forest
(:class:`hiddenpop.rds.tree.RecruitmentTree`) and counts coupons. Two views are built from it:

* :func:`derive_columns`: the store's respondents table (``ReferralStore.respondents()``): the
  data-contract columns with ``recruiter_id`` filled in, the :data:`~hiddenpop.referrals.schema.DERIVED_COLUMNS`,
  the carried-through columns and ``source_file``/``source_row``;
* :func:`graph_frame`: one row of node attributes per respondent for the recruitment graph
  (:func:`hiddenpop.referrals.graph.build_graph`).

The evening ``referrals status`` must answer without importing pandas, so
:func:`hiddenpop.referrals.quickstatus.link` follows these rules in plain Python for the valid rows
of a store (anything else goes to this module); tests/referrals/test_quickstatus_property.py keeps the
two in agreement over random referral logs in every row order.

Missing values (decided once, here)
-----------------------------------
=================================  ======================  =====================================
column                             respondents table       graph frame / graph nodes
=================================  ======================  =====================================
ids, ``recruiter_id``, ``seed_id``  text, ``None`` if none  text, ``None`` if none
``wave``, ``n_recruits``,           ``int64``, never        ``int64`` (nodes: ``int``)
``chain_size``                      missing
``is_seed``                         ``bool``                ``bool``
``coupons_issued``, ``_redeemed``,  ``Int64``, ``<NA>``     ``float``, ``NaN`` when unknown
``_outstanding``, ``_expired``      when unknown
``return_rate``,                    ``float``, ``NaN``      ``float``, ``NaN``
``days_to_redemption``
=================================  ======================  =====================================

A coupon count is *unknown* only when the table records no coupons at all (R ``RDS`` CSV data with
explicit recruiter ids); the return rate is also ``NaN`` for respondents given no coupon. The
respondents table uses pandas' nullable ``Int64`` so counts print as whole numbers in CSV exports;
the graph keeps plain floats because GraphML and node-link JSON need one plain type per attribute
(``NaN`` is left out of those files).

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"respondent_id": ["A", "B", "C"], "redeemed_coupon": [None, "c1", "c3"],
...                   "issued_coupons": ["c1;c2", "c3", None], "network_size": [5, 3, 2]})
>>> r = recruitment(t)
>>> r.recruiter_ids.tolist(), r.tree.wave.tolist()
([None, 'A', 'B'], [0, 1, 2])
>>> derive_columns(t)[["respondent_id", "wave", "seed_id", "coupons_issued"]].values.tolist()
[['A', 0, 'A', 2], ['B', 1, 'A', 1], ['C', 2, 'A', 0]]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop.errors import RecruitmentError, truncate_list
from hiddenpop.rds.tree import RecruitmentTree
from hiddenpop.referrals.coupons import (CouponLinks, coupons_per_recruiter, link_coupons, parse_times,
                                         recruiter_positions)
from hiddenpop.referrals.schema import CORE_COLUMNS, HASH_PREFIX, SOURCE_COLUMNS

__all__ = ["Recruitment", "recruitment", "derive_columns", "graph_frame", "NODE_ATTRIBUTES"]

#: node attributes of the recruitment graph (columns of :func:`graph_frame` besides the two ids)
NODE_ATTRIBUTES = ("wave", "seed_id", "is_seed", "chain_size", "n_recruits", "coupons_issued", "coupons_redeemed",
                   "return_rate", "days_to_redemption", "interview_time", "degree", "network_size_eligible",
                   "point_id", "found_by", "redeemed_coupon")


@dataclass(frozen=True, eq=False)
class Recruitment:
    """Who recruited whom in one referral table, and the coupon counts.

    Attributes
    ----------
    links : CouponLinks
        The coupon matching (positions are row positions).
    tree : RecruitmentTree
        The recruitment forest over the rows (ids as text).
    coupons : pandas.DataFrame
        :func:`~hiddenpop.referrals.coupons.coupons_per_recruiter` (floats, ``NaN`` when unknown).
    """

    links: CouponLinks
    tree: RecruitmentTree
    coupons: pd.DataFrame

    @property
    def ids(self) -> np.ndarray:
        """Respondent ids as text, in table order."""
        return self.tree.ids

    @property
    def parent(self) -> np.ndarray:
        """Row position of each respondent's recruiter (``-1`` for seeds)."""
        return self.tree.parent

    @property
    def recruiter_ids(self) -> np.ndarray:
        """Recruiter id of each respondent (object array, ``None`` for seeds)."""
        ids, parent = self.tree.ids, self.tree.parent
        return np.where(parent >= 0, ids[np.maximum(parent, 0)] if len(ids) else None, None)


def recruitment(table: pd.DataFrame, *, expiry_days: float | None = None, as_of: Any = None,
                source: str | None = None) -> Recruitment:
    """Derive the recruitment forest and coupon counts of a valid referral table.

    Parameters
    ----------
    table
        A normalised referral table (``respondent_id``, ``redeemed_coupon``, ``issued_coupons`` or
        ``recruiter_id``, …).
    expiry_days, as_of
        Coupon expiry (days) and the reference time for outstanding/expired coupons.
    source
        Name used in error messages (default: ``table.attrs["source"]``).

    Raises
    ------
    RecruitmentError
        Unmatched coupons, unknown recruiters, duplicate ids, self-recruitment or cycles
        (validate first with :func:`hiddenpop.referrals.validate.validate_log` for the full list).
    """
    source = source or table.attrs.get("source", "referral data")
    links = link_coupons(table)
    parent = recruiter_positions(table, source=source, links=links)
    ids = links.ids
    index = pd.Index(ids)
    if index.has_duplicates:
        dup = index[index.duplicated()].unique()
        raise RecruitmentError(f"duplicate respondent ids: {truncate_list(dup)}", where=source,
                               fix="give every interview its own respondent id")
    selfrec = np.flatnonzero(parent == np.arange(len(parent)))
    if len(selfrec):
        raise RecruitmentError(f"self-recruitment: {truncate_list(ids[selfrec])}", where=source,
                               fix="a respondent cannot redeem their own coupon; correct the recruiter id")
    tree = RecruitmentTree(ids=ids, parent=parent)
    coupons = coupons_per_recruiter(table, expiry_days=expiry_days, as_of=as_of, links=links)
    return Recruitment(links=links, tree=tree, coupons=coupons)


def _object(values: Any) -> pd.Series:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return pd.Series(arr, dtype=object)


def derive_columns(raw: pd.DataFrame, *, expiry_days: float | None = None, as_of: Any = None,
                   include_personal_hashes: bool = False) -> pd.DataFrame:
    """The respondents table: a valid referral table with recruiters, waves, seeds and coupon counts.

    Columns: :data:`~hiddenpop.referrals.schema.CORE_COLUMNS` (``recruiter_id`` from the coupon
    matching), the :data:`~hiddenpop.referrals.schema.DERIVED_COLUMNS`, the carried-through columns
    (a carried column named like a derived one becomes ``<name>_reported``), ``source_file`` and
    ``source_row``. Personal-field hashes only with ``include_personal_hashes``.
    """
    rec = recruitment(raw, expiry_days=expiry_days, as_of=as_of, source=raw.attrs.get("source", "store"))
    tree, cp = rec.tree, rec.coupons
    missing = [c for c in CORE_COLUMNS if c not in raw.columns]  # e.g. no point_id: empty (None) columns
    if missing:
        raw = raw.assign(**{c: pd.Series(_object([None] * len(raw)).to_numpy(), index=raw.index, dtype=object)
                            for c in missing})
    out = raw[list(CORE_COLUMNS)].copy()
    out["recruiter_id"] = _object(rec.recruiter_ids)
    out["wave"] = tree.wave
    out["seed_id"] = _object(tree.seed_ids())
    out["is_seed"] = tree.is_seed
    out["n_recruits"] = tree.n_recruits
    out["chain_size"] = tree.chain_size
    for c in ("coupons_issued", "coupons_redeemed", "coupons_outstanding", "coupons_expired"):
        out[c] = pd.array(cp[c].to_numpy(), dtype="Int64")
    out["return_rate"] = cp["return_rate"].to_numpy()
    out["found_by"] = np.where(tree.is_seed, "point", "referral")
    for c in raw.columns:
        if c in CORE_COLUMNS or c in SOURCE_COLUMNS:
            continue
        if c.startswith(HASH_PREFIX) and not include_personal_hashes:
            continue
        out[f"{c}_reported" if c in out.columns else c] = raw[c]
    out["source_file"] = raw["source_file"] if "source_file" in raw else None
    out["source_row"] = raw["source_row"] if "source_row" in raw else np.arange(2, len(raw) + 2)
    out.attrs.update(raw.attrs)
    return out


def graph_frame(table: pd.DataFrame, *, source: str | None = None) -> pd.DataFrame:
    """Per-respondent node attributes (:data:`NODE_ATTRIBUTES`) as a table, in input order.

    Besides the derived columns: ``days_to_redemption`` (days between the recruiter's and the
    respondent's interview), ``degree`` (reported network size as a number, ``NaN`` if missing or
    not a number) and the respondent's ``point_id``, ``redeemed_coupon`` and eligible network size.

    Raises
    ------
    RecruitmentError
        As :func:`recruitment`.
    """
    rec = recruitment(table, source=source)
    tree, cp, ids, parent = rec.tree, rec.coupons, rec.ids, rec.parent
    times = parse_times(table["interview_time"] if "interview_time" in table else [None] * len(table))
    tv = times.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    has = parent >= 0
    days = np.full(len(ids), np.nan)
    if has.any():
        days[has] = (tv[has] - tv[parent[has]]).astype("timedelta64[s]").astype(float) / 86400.0
    deg = pd.to_numeric(table["network_size"].astype(object), errors="coerce").to_numpy(dtype=float) \
        if "network_size" in table else np.full(len(ids), np.nan)
    out = pd.DataFrame({
        "respondent_id": pd.Series(ids, dtype=object),
        "recruiter_id": pd.Series(rec.recruiter_ids, dtype=object),
        "wave": tree.wave, "seed_id": pd.Series(tree.seed_ids(), dtype=object), "is_seed": tree.is_seed,
        "chain_size": tree.chain_size, "n_recruits": tree.n_recruits,
        "coupons_issued": cp["coupons_issued"].to_numpy(), "coupons_redeemed": cp["coupons_redeemed"].to_numpy(),
        "return_rate": cp["return_rate"].to_numpy(), "days_to_redemption": days,
        "interview_time": table["interview_time"].astype(object).to_numpy() if "interview_time" in table else None,
        "degree": deg,
    })
    for c in ("network_size_eligible", "point_id", "redeemed_coupon"):
        out[c] = table[c].astype(object).to_numpy() if c in table else None
    if "network_size_eligible" in table:
        out["network_size_eligible"] = pd.to_numeric(out["network_size_eligible"], errors="coerce")
    out["found_by"] = np.where(tree.is_seed, "point", "referral")
    return out
