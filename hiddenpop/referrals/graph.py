"""The recruitment graph: a plain ``networkx.DiGraph``, edge recruiter → recruit.

Built in linear time from a referral table through :func:`hiddenpop.referrals.derive.graph_frame`
(waves, seeds and recruit counts are array computations, not graph searches; the missing-value
rules are those of :mod:`hiddenpop.referrals.derive`).

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

from hiddenpop.referrals.derive import NODE_ATTRIBUTES, graph_frame
from hiddenpop.referrals.schema import DERIVED_COLUMNS, HASH_PREFIX, LOCATION_COLUMNS

__all__ = ["build_graph", "graph_frame", "NODE_ATTRIBUTES", "EDGE_ATTRIBUTES", "LOCATION_COLUMNS"]

EDGE_ATTRIBUTES = ("coupon", "days_to_redemption")
_SKIP = {"respondent_id", "issued_coupons", "recruiter_id", "network_size", "source_row", "source_file",
         "coupons_outstanding", "coupons_expired"}


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
        attributes = [c for c in table.columns if c not in _SKIP and c not in frame.columns and c not in personal
                      and c not in DERIVED_COLUMNS and not str(c).startswith(HASH_PREFIX)
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
