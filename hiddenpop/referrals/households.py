"""From respondents to households: repeated interviews, selection events, the join onto household records.

The weighting engine works on **households**; the referral stage records **interviews**. A household
can be interviewed twice (found at a point and again through a coupon, or through two coupons):
the store notices it when two respondents share a hashed personal field (a phone number, a name).
These functions turn the store's respondents table into what ``hiddenpop weights compute --store``
needs. They take and return DataFrames (never a path).

* :func:`possible_duplicates`: pairs of respondents that share a hashed personal field;
* :func:`selection_events`: one row per way a household was selected (a point hit or a redeemed
  coupon), repeated interviews of a household under its first respondent's id;
* :func:`join_referrals`: the referral columns of each household row, taken from the store;
* :func:`selections_table`: the selection events as ``--selections`` rows for the weighting engine.

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"respondent_id": ["A", "B", "C"], "recruiter_id": [None, "A", "A"],
...                   "point_id": ["P1", None, "P2"], "redeemed_coupon": [None, "c1", "c2"],
...                   "interview_time": [None] * 3, "_hash_phone": ["h1", "h2", "h1"]})
>>> possible_duplicates(t).values.tolist()
[['A', 'C', 'phone']]
>>> selection_events(t)[["household", "respondent_id", "event"]].values.tolist()
[['A', 'A', 'point'], ['B', 'B', 'coupon'], ['A', 'C', 'point'], ['A', 'C', 'coupon']]
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop._checks import id_texts
from hiddenpop.errors import DesignError, HiddenPopWarning, format_where
from hiddenpop.referrals.schema import HASH_PREFIX

__all__ = ["possible_duplicates", "selection_events", "join_referrals", "selections_table", "JOINED_COLUMNS"]

#: columns :func:`join_referrals` takes from the store onto the household rows
JOINED_COLUMNS = ("found_by", "point_id", "recruiter_id", "network_size", "network_size_eligible", "coupons_issued",
                  "stratum")


def _object(values: Any) -> pd.Series:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return pd.Series(arr, dtype=object)


def possible_duplicates(table: pd.DataFrame) -> pd.DataFrame:
    """Pairs of respondents sharing a hashed personal field (same household reached twice?).

    Parameters
    ----------
    table
        Respondents with their ``_hash_<column>`` columns (``ReferralStore.raw_respondents()`` or
        ``respondents(include_personal_hashes=True)``), in store order.

    Returns
    -------
    pandas.DataFrame
        One row per later respondent: ``respondent_id`` is the first one with that value,
        ``same_as`` the later one, ``field`` the personal column.
    """
    parts = []
    for c in [c for c in table.columns if c.startswith(HASH_PREFIX)]:
        vals = table[["respondent_id", c]].dropna()
        first = vals.groupby(c, sort=False)["respondent_id"].transform("first")
        later = (vals["respondent_id"] != first).to_numpy()
        parts.append(pd.DataFrame({"respondent_id": _object(first.to_numpy(dtype=object)[later]),
                                   "same_as": _object(vals["respondent_id"].to_numpy(dtype=object)[later]),
                                   "field": c[len(HASH_PREFIX):]}))
    if not parts:
        return pd.DataFrame({"respondent_id": _object([]), "same_as": _object([]), "field": _object([])})
    return pd.concat(parts, ignore_index=True)


def selection_events(respondents: pd.DataFrame) -> pd.DataFrame:
    """One row per selection event: a point hit (``point``) or a redeemed coupon (``coupon``).

    Parameters
    ----------
    respondents
        The respondents table with recruiters derived and the personal-field hashes
        (``ReferralStore.respondents(include_personal_hashes=True)``); without hashes every
        respondent is a household of their own.

    Returns
    -------
    pandas.DataFrame
        Columns ``household, respondent_id, event, point_id, coupon, recruiter_id, interview_time``.
        ``household`` links events of the same household: respondents sharing a hashed personal
        field (:func:`possible_duplicates`) get the first one's id (chains a → b → c resolve to a).
        Events are ordered by respondent (store order), a point event before a coupon event of
        the same respondent.
    """
    t = respondents
    dup = possible_duplicates(t)
    rid = t["respondent_id"].astype(object).to_numpy()
    household = pd.Series(rid, index=rid, dtype=object)
    if len(dup):
        # chains a → b → c (b same as a, c same as b) resolve to a: follow the map to its fixed point
        link = pd.Series(dup["respondent_id"].to_numpy(dtype=object), index=dup["same_as"].to_numpy(dtype=object))
        link = link[~link.index.duplicated()]
        hh = household.copy()
        for _ in range(len(link) + 1):
            step = link.reindex(hh.to_numpy()).to_numpy(dtype=object)
            nxt = np.where(pd.isna(step), hh.to_numpy(dtype=object), step)
            if (nxt == hh.to_numpy(dtype=object)).all():
                break
            hh = pd.Series(nxt, index=hh.index, dtype=object)
        household = hh
    hh = household.to_numpy(dtype=object)
    pt = t["point_id"].astype(object).to_numpy()
    has_pt = np.array([isinstance(v, str) and v != "" for v in pt], dtype=bool)
    has_rec = t["recruiter_id"].notna().to_numpy()
    order = np.concatenate([np.flatnonzero(has_pt) * 2, np.flatnonzero(has_rec) * 2 + 1])
    pos = np.concatenate([np.flatnonzero(has_pt), np.flatnonzero(has_rec)])
    is_pt = np.concatenate([np.ones(has_pt.sum(), bool), np.zeros(has_rec.sum(), bool)])
    srt = np.argsort(order, kind="stable")
    pos, is_pt = pos[srt], is_pt[srt]
    none = np.full(len(pos), None, dtype=object)
    return pd.DataFrame({
        "household": _object(hh[pos]), "respondent_id": _object(rid[pos]),
        "event": _object(np.where(is_pt, "point", "coupon")),
        "point_id": _object(np.where(is_pt, pt[pos], none)),
        "coupon": _object(np.where(is_pt, none, t["redeemed_coupon"].astype(object).to_numpy()[pos])),
        "recruiter_id": _object(np.where(is_pt, none, t["recruiter_id"].astype(object).to_numpy()[pos])),
        "interview_time": _object(t["interview_time"].astype(object).to_numpy()[pos]),
    })


def join_referrals(households: pd.DataFrame, respondents: pd.DataFrame, *, source: str = "households") -> pd.DataFrame:
    """Take the referral structure of each household row from the store (``hh_id`` = ``respondent_id``).

    The :data:`JOINED_COLUMNS` present in ``respondents`` replace those of ``households``, except a
    ``stratum`` the household file already has.

    Raises
    ------
    DesignError
        A household that is not in the store (naming its row of ``source``).
    """
    st = respondents.rename(columns={"respondent_id": "hh_id"})
    st["hh_id"] = id_texts(st["hh_id"])
    key = pd.Series(id_texts(households["hh_id"]), index=households.index)
    pos = st.set_index("hh_id").index.get_indexer(key)
    if (pos < 0).any():
        i = int(np.flatnonzero(pos < 0)[0])
        raise DesignError("household not found in the referral store",
                          where=format_where(source, row=i + 2, column="hh_id", value=key.iloc[i]),
                          fix="import the day's referral log into the store, or correct the id")
    cols = [c for c in JOINED_COLUMNS if c in st.columns]
    take = st.iloc[pos].reset_index(drop=True)
    out = households.copy()
    for c in cols:
        if c == "stratum" and "stratum" in households:
            continue
        out[c] = take[c].to_numpy()
    return out


def selections_table(events: pd.DataFrame, respondents: pd.DataFrame, households: pd.DataFrame, *,
                     extra: pd.DataFrame | None = None, store_name: str = "store") -> pd.DataFrame:
    """Selection events as ``--selections`` rows (``hh_id, found_by, point_id, recruiter_id``).

    An event belongs to the household row of its respondent; a respondent without a row of its
    own (a second interview linked to an earlier respondent through a shared personal field)
    belongs to that earlier respondent's household. Recruiters are mapped the same way. Events of
    ``extra`` (a ``--selections`` file) are added; an event given twice counts once. The hidden
    columns ``_source``/``_row`` say where each event was typed (for error messages).

    Warns
    -----
    HiddenPopWarning
        Respondents of the store with no household row (their events are left out).
    """
    where = respondents[["respondent_id", "source_file", "source_row"]]
    where = where.assign(respondent_id=id_texts(where["respondent_id"])).set_index("respondent_id")
    ids = set(id_texts(households["hh_id"]))
    resp, house = id_texts(events["respondent_id"]), id_texts(events["household"])
    own = pd.Series(resp).isin(ids).to_numpy()
    hh_id = pd.Series(resp).where(own, pd.Series(house)).to_numpy(dtype=object)
    to_household = dict(zip(resp, hh_id))
    rec = id_texts(events["recruiter_id"])
    rec = pd.Series([r if (r == "" or r in ids) else to_household.get(r, r) for r in rec], dtype=object)
    found_by = pd.Series(events["event"]).map({"point": "point", "coupon": "referral"}).to_numpy()
    table = pd.DataFrame({"hh_id": hh_id, "found_by": found_by, "point_id": id_texts(events["point_id"]),
                          "recruiter_id": rec.to_numpy(dtype=object)})
    # where each event was typed (the daily export and its row), for error messages
    at = where.reindex(resp)
    table["_source"] = at["source_file"].fillna(store_name).astype(str).to_numpy()
    table["_row"] = pd.to_numeric(at["source_row"], errors="coerce").fillna(2).astype(int).to_numpy()
    missing = ~table["hh_id"].isin(ids)
    if missing.any():
        gone = sorted(set(table.loc[missing, "hh_id"]))
        warnings.warn(HiddenPopWarning(
            f"{len(gone)} respondent(s) of the referral store have no row in the household file, so their "
            f"selection events are left out: {', '.join(gone[:5])}{' …' if len(gone) > 5 else ''}"), stacklevel=2)
        table = table.loc[~missing]
    if extra is not None:
        cols = {c: (id_texts(extra[c]) if c in extra else "") for c in ("hh_id", "found_by", "point_id",
                                                                        "recruiter_id")}
        more = pd.DataFrame(cols)
        more["found_by"] = more["found_by"].str.lower()
        more["_source"] = str(extra.attrs.get("source", "selections"))
        more["_row"] = np.arange(2, len(more) + 2)
        table = pd.concat([table, more], ignore_index=True)
    table = table.drop_duplicates(["hh_id", "found_by", "point_id", "recruiter_id"]).reset_index(drop=True)
    table.attrs["source"] = f"{store_name} (selection events)" + (f" + {extra.attrs.get('source')}"
                                                                  if extra is not None else "")
    return table
