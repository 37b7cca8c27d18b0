"""The recruitment graph: a plain ``networkx.DiGraph``, edge recruiter → recruit.

Built in linear time from a referral table through :func:`hiddenpop.rds.tree.build_tree` (waves,
seeds and recruit counts are array computations, not graph searches).

Attribute schema
----------------
Graph (``G.graph``): ``n_respondents``, ``n_seeds``, ``max_wave``.

Nodes (key = respondent id, text):

=========================  ===========================================================
``wave``                   0 for seeds, recruiter's wave + 1 otherwise
``seed_id``                id of the seed at the root of the respondent's chain
``is_seed``                True for seeds
``chain_size``             number of respondents in the respondent's chain (tree)
``n_recruits``             recruits of this respondent in the data
``coupons_issued``         coupons recorded as issued (NaN when the data has no coupons)
``coupons_redeemed``       coupons of this respondent that came back (= ``n_recruits``)
``return_rate``            ``coupons_redeemed / coupons_issued`` (NaN if none issued)
``days_to_redemption``     days between the recruiter's and this interview (NaN for seeds)
``interview_time``         ISO 8601 text
``degree``                 reported network size (NaN if missing/invalid)
``network_size_eligible``  eligible contacts (NaN if missing)
``point_id``               first-stage point (seeds), or None
``found_by``               ``"point"`` (seeds) or ``"referral"``
``redeemed_coupon``        coupon the respondent came with, or None
(carried columns)          every other non-personal column of the table, as given
=========================  ===========================================================

Edges: ``coupon`` (the redeemed coupon, or None for explicit recruiter ids) and
``days_to_redemption``.

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"respondent_id": ["A", "B", "C"], "redeemed_coupon": [None, "c1", "c2"],
...                   "issued_coupons": ["c1;c2", "c3", None], "network_size": [5, 3, 2],
...                   "interview_time": ["2024-05-01T10:00", "2024-05-02T10:00", "2024-05-04T22:00"]})
>>> G = build_graph(t)
>>> sorted(G.edges(data="coupon"))
[('A', 'B', 'c1'), ('A', 'C', 'c2')]
>>> G.nodes["C"]["wave"], G.nodes["C"]["seed_id"], G.nodes["A"]["return_rate"], G.nodes["C"]["days_to_redemption"]
(1, 'A', 1.0, 3.5)
"""
from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from hiddenpop.rds.coupons import coupons_per_recruiter, link_coupons, parse_times, recruiter_positions
from hiddenpop.rds.tree import RecruitmentTree, _as_str

__all__ = ["build_graph", "graph_frame", "NODE_ATTRIBUTES", "EDGE_ATTRIBUTES", "LOCATION_COLUMNS"]

NODE_ATTRIBUTES = ("wave", "seed_id", "is_seed", "chain_size", "n_recruits", "coupons_issued", "coupons_redeemed",
                   "return_rate", "days_to_redemption", "interview_time", "degree", "network_size_eligible",
                   "point_id", "found_by", "redeemed_coupon")
EDGE_ATTRIBUTES = ("coupon", "days_to_redemption")
_SKIP = {"respondent_id", "issued_coupons", "recruiter_id", "network_size", "source_row", "source_file",
         "coupons_outstanding", "coupons_expired"}


def graph_frame(table: pd.DataFrame, *, source: str | None = None) -> pd.DataFrame:
    """Per-respondent node attributes (:data:`NODE_ATTRIBUTES`) as a table, in input order.

    Raises
    ------
    RecruitmentError
        Unmatched coupons, unknown recruiters, duplicate ids, self-recruitment or cycles
        (validate first with :func:`hiddenpop.rds.validate.validate_log` for the full list).
    """
    source = source or table.attrs.get("source", "referral data")
    links = link_coupons(table)  # matched once, for the recruiters and the coupon counts
    parent = recruiter_positions(table, source=source, links=links)
    ids = _as_str(table["respondent_id"])
    from hiddenpop.rds.tree import parent_positions

    # duplicate ids / self-recruitment are checked by the tree core
    rec_ids = np.where(parent >= 0, ids[np.maximum(parent, 0)] if len(ids) else None, None)
    parent = parent_positions(ids, rec_ids, source=source)
    tree = RecruitmentTree(ids=ids, parent=parent)
    cp = coupons_per_recruiter(table, links=links)
    times = parse_times(table["interview_time"] if "interview_time" in table else [None] * len(table))
    tv = times.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    has = parent >= 0
    days = np.full(len(ids), np.nan)
    if has.any():
        delta = (tv[has] - tv[parent[has]]).astype("timedelta64[s]").astype(float) / 86400.0
        days[has] = delta
    deg = pd.to_numeric(table["network_size"].astype(object), errors="coerce").to_numpy(dtype=float) \
        if "network_size" in table else np.full(len(ids), np.nan)
    out = pd.DataFrame({
        "respondent_id": pd.Series(ids, dtype=object),
        "recruiter_id": pd.Series(rec_ids, dtype=object),
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


#: household coordinates: never attached to the graph by default
LOCATION_COLUMNS = ("lon", "lat")


def build_graph(table: pd.DataFrame, *, attributes: list[str] | None = None,
                source: str | None = None, include_location: bool = False) -> nx.DiGraph:
    """Build the recruitment graph (recruiter → recruit) with the documented attribute schema.

    Parameters
    ----------
    table
        A referral table (normalised columns, e.g. ``ReferralStore.respondents()`` or
        :func:`hiddenpop.io.referrals.read_referral_log`).
    attributes
        Carried columns to attach to nodes (default: every column that is not personal, not a
        ``_hash_`` column, not a household coordinate (``lon``/``lat``) and not already in the
        schema).
    source
        Name used in error messages.
    include_location
        Also attach ``lon``/``lat`` by default (exact household coordinates: left out of
        shareable graphs unless asked).

    Returns
    -------
    networkx.DiGraph
        A branching (``nx.is_branching(G)`` is True): one tree per seed.
    """
    frame = graph_frame(table, source=source)
    personal = set(table.attrs.get("personal_columns", []))
    if attributes is None:
        from hiddenpop.io.store import DERIVED_COLUMNS

        attributes = [c for c in table.columns if c not in _SKIP and c not in frame.columns and c not in personal
                      and c not in DERIVED_COLUMNS and not str(c).startswith("_hash_")
                      and (include_location or c not in LOCATION_COLUMNS)]
    G = nx.DiGraph(n_respondents=len(frame), n_seeds=int(frame["is_seed"].sum()),
                   max_wave=int(frame["wave"].max()) if len(frame) else 0)
    cols = list(NODE_ATTRIBUTES)
    data = {c: frame[c].tolist() for c in cols}
    extra = {c: table[c].tolist() for c in attributes if c in table.columns}
    ids = frame["respondent_id"].tolist()
    G.add_nodes_from((ids[i], {**{c: _py(data[c][i]) for c in cols}, **{c: _py(extra[c][i]) for c in extra}})
                     for i in range(len(ids)))
    rec = frame["recruiter_id"].tolist()
    coupon = frame["redeemed_coupon"].tolist()
    days = frame["days_to_redemption"].tolist()
    G.add_edges_from((rec[i], ids[i], {"coupon": _py(coupon[i]), "days_to_redemption": days[i]})
                     for i in range(len(ids)) if rec[i] is not None)
    return G


def _py(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if v is pd.NA:
        return None
    return v
