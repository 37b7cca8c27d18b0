"""Coupon matching: who recruited whom, and which coupons are redeemed, outstanding or expired.

The recruiter of a respondent is the respondent who was **issued** the coupon they **redeemed**
(``docs/data-contract.md``, "Referral log"). Sources without coupon numbers (R ``RDS`` CSV) give the recruiter id
directly in ``recruiter_id``; both ways can be mixed in one table. Everything here is vectorised
(pandas/numpy, linear in the number of coupons), so 10^5 respondents take well under a second.

Coupon status
-------------
``redeemed``     a respondent in the data came with it;
``expired``      not redeemed, and issued more than ``expiry_days`` before ``as_of``;
``outstanding``  neither (still in the field: a candidate for a reminder call).

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"respondent_id": ["A", "B", "C"], "redeemed_coupon": [None, "c1", "c2"],
...                   "issued_coupons": ["c1;c2;c3", "c4", None],
...                   "interview_time": ["2024-05-01", "2024-05-03", "2024-05-09"]})
>>> recruiter_ids(t).tolist()
[None, 'A', 'A']
>>> coupon_table(t, expiry_days=7)[["coupon", "recruiter_id", "redeemed_by", "status"]].values.tolist()
[['c1', 'A', 'B', 'redeemed'], ['c2', 'A', 'C', 'redeemed'], ['c3', 'A', None, 'expired'], ['c4', 'B', None, 'outstanding']]
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from hiddenpop._checks import id_text
from hiddenpop.errors import RecruitmentError, format_where
from hiddenpop.referrals.schema import COUPON_SEP, RULE_SETS

__all__ = ["CouponLinks", "LINK_RULES", "normalise_coupons", "link_coupons", "recruiter_ids", "recruiter_positions", "coupon_table",
           "coupons_per_recruiter", "parse_times", "source_rows", "COUPON_STATUSES", "PRINTED_STATUSES",
           "coupon_numbers", "known_coupons", "printed_status"]

COUPON_STATUSES = ("redeemed", "outstanding", "expired")
_SPACE = re.compile(r"\s")
_EDGE_SPACE = re.compile(r"\x00\s|\s\x00")


def _text(col: Any, n: int) -> np.ndarray:
    """Object array of stripped strings, ``""`` for missing (one pass over plain Python objects)."""
    if col is None:
        return np.full(n, "", dtype=object)
    vals = col.to_numpy(dtype=object) if isinstance(col, (pd.Series, pd.Index)) else \
        pd.Series(col, dtype=object).to_numpy(dtype=object)
    if infer_dtype(vals, skipna=True) in ("string", "empty"):
        present = vals[~pd.isna(vals)]
        big = "\x00" + "\x00".join(present.tolist()) + "\x00"
        if not _EDGE_SPACE.search(big):  # nothing to strip: one C-level search instead of a loop
            out = vals.copy()
            out[pd.isna(out)] = ""
            return out
    out = np.empty(n, dtype=object)
    out[:] = [v.strip() if type(v) is str else id_text(v) for v in vals]
    return out


#: linking policies: ``field`` (the evening loop) and ``finished`` (a completed study from another tool)
LINK_RULES: dict[str, str] = {
    "field": "a redeemed coupon with two issuers, or never issued, leaves the recruiter unknown (the row is "
             "quarantined or waits for its recruiter)",
    "finished": "link like R RDS's rid.from.coupons: the recruiter is the last row (in file order) whose issued "
                "coupons hold the redeemed coupon; a coupon nobody issued makes the respondent a seed",
}
assert tuple(LINK_RULES) == RULE_SETS
_DIGITS = re.compile(r"^\+?0*(\d+?)(?:\.0*)?$")
# something to normalise in "\0"-joined codes: a leading "+" or zero before a digit, or a decimal point
_NOT_PLAIN_CODE = re.compile(r"\x00(?:\+|0\d)|\.")


def normalise_coupons(codes: np.ndarray) -> np.ndarray:
    """Coupon codes as matched: whole numbers without leading zeros, ``+`` or a ``.0`` tail.

    A coupon number that went through a spreadsheet comes back as ``1401.0``; one typed with the
    book's leading zeros is ``01401``: both are coupon 1401. Codes that are not whole numbers
    (``C0012``) are kept as they are. Input: stripped strings (``""`` for none).

    >>> normalise_coupons(np.array(["01901", "1401.0", "0", "000", "C0012", "", "+7"], dtype=object)).tolist()
    ['1901', '1401', '0', '0', 'C0012', '', '7']
    """
    if not len(codes) or not _NOT_PLAIN_CODE.search("\x00" + "\x00".join(codes.tolist())):
        return codes
    out = codes.copy()
    for i, c in enumerate(codes.tolist()):
        m = _DIGITS.match(c) if c else None
        if m is not None:
            out[i] = m.group(1)
    return out


def coupon_numbers(redeemed: Iterable[Any], issued: Iterable[Any]) -> set[str]:
    """Every coupon number in ``redeemed`` cells and ``issued`` cells (several per cell, separated by
    :data:`~hiddenpop.referrals.schema.COUPON_SEP`), as typed and as matched (:func:`normalise_coupons`:
    ``100014.0`` is ``100014``). Empty cells and blanks are skipped.

    >>> sorted(coupon_numbers(["100014.0", None], ["100023; 0100032", ""]))
    ['0100032', '100014', '100014.0', '100023', '100032']
    """
    out = {str(r).strip() for r in redeemed if r is not None and str(r).strip()}
    out.update(c.strip() for cell in issued if cell for c in str(cell).split(COUPON_SEP) if c.strip())
    return out | set(normalise_coupons(np.array(sorted(out), dtype=object)).tolist())


def known_coupons(printed: Iterable[str], used: set[str]) -> frozenset[str] | None:
    """The coupon numbers an import may meet: the printed ones plus every number already in the data
    (``used``: :func:`coupon_numbers`). ``None`` before any coupon is printed: then any number is
    accepted (the coupons were not printed by hiddenpop).

    >>> sorted(known_coupons(["100014"], {"A7"})), known_coupons([], {"A7"})
    (['100014', 'A7'], None)
    """
    printed = set(printed)
    return frozenset(printed | used) if printed else None


#: status of a printed coupon: not yet seen in the data, recorded as handed out, a recruit came with it
PRINTED_STATUSES = ("printed", "issued", "redeemed")


def printed_status(codes: Iterable[str], *, redeemed: Iterable[Any], issued: Iterable[Any]) -> list[str]:
    """The :data:`PRINTED_STATUSES` of printed coupon ``codes``, given the data's ``redeemed`` and
    ``issued`` cells (a number typed ``100014.0`` or ``0100014`` is coupon ``100014``).

    >>> printed_status(["100014", "100023", "100032"], redeemed=["100014.0"], issued=["100014;100023"])
    ['redeemed', 'issued', 'printed']
    """
    red, iss = coupon_numbers(redeemed, ()), coupon_numbers((), issued)
    return ["redeemed" if c in red else "issued" if c in iss else "printed" for c in codes]


@dataclass(frozen=True)
class CouponLinks:
    """Coupon matching of one referral table (positions are row positions, 0-based).

    Attributes
    ----------
    ids : respondent ids (strings).
    rules : the linking policy used (:data:`LINK_RULES`).
    coupon, coupon_issuer : every issued coupon (normalised code) and the position of the respondent it
        was issued to, once per respondent (a code written twice on one form counts once).
    coupon_raw : the code as typed (first spelling on that form).
    repeated_issuer, repeated_coupon : a code written again on the same form (position, code as typed).
    coupon_first : True for the first respondent a code was issued to (later ones: "issued twice").
    coupon_n_issuers : number of different respondents each code was issued to.
    coupon_redeemer : position of the first respondent linked through this issuance, -1 if nobody.
    redeemed : the coupon each respondent came with (normalised; ``""`` for none).
    redeemed_raw : the same as typed.
    redeemed_issuer : issuer position of the redeemed coupon; -1 no coupon; -2 coupon never issued;
        -3 issued to several respondents (under ``finished``: the last of them, as R).
    redeem_first : True unless an earlier row redeemed the same coupon.
    spelling_differs : the redeemed coupon matched an issued one only once spelled alike ("01901" = "1901").
    explicit : explicit recruiter id per row ("" for none); explicit_pos its position (-1 none, -2 unknown).
    parent : resolved recruiter position (coupon first, explicit id otherwise), -1 for seeds and
        unresolvable links (never issued, ambiguous under ``field``); a self-recruitment stays in
        ``parent`` under ``field`` (validation reports it) and is a seed under ``finished``.
    """

    ids: np.ndarray
    rules: str
    coupon: np.ndarray
    coupon_raw: np.ndarray
    coupon_issuer: np.ndarray
    repeated_issuer: np.ndarray
    repeated_coupon: np.ndarray
    coupon_first: np.ndarray
    coupon_n_issuers: np.ndarray
    coupon_redeemer: np.ndarray
    redeemed: np.ndarray
    redeemed_raw: np.ndarray
    redeemed_issuer: np.ndarray
    redeem_first: np.ndarray
    spelling_differs: np.ndarray
    explicit: np.ndarray
    explicit_pos: np.ndarray
    parent: np.ndarray


def _rules(table: pd.DataFrame, rules: str | None) -> str:
    rules = rules if rules is not None else table.attrs.get("link_rules", "field")
    if rules not in LINK_RULES:
        raise RecruitmentError(f"unknown linking rules '{rules}'", fix=f"use one of {', '.join(LINK_RULES)}")
    return rules


def link_coupons(table: pd.DataFrame, *, rules: str | None = None) -> CouponLinks:
    """Match redeemed coupons to the respondents they were issued to (linear time).

    Parameters
    ----------
    table
        Referral table (normalised columns).
    rules
        ``"field"`` or ``"finished"`` (:data:`LINK_RULES`); default ``table.attrs["link_rules"]``, else
        ``"field"``. Both link every redeemer of a coupon with one issuer to that issuer (also when two
        people came with it) and match ``01901``, ``1901`` and ``1901.0``. They differ where the
        recruiter is not known: a coupon issued to several respondents, or to nobody.

    Examples
    --------
    >>> t = pd.DataFrame({"respondent_id": ["A", "B", "C", "D", "E"],
    ...                   "redeemed_coupon": [None, "07", "7.0", "9", "5"],
    ...                   "issued_coupons": ["7;9", "9", None, None, None]})
    >>> link_coupons(t).parent.tolist()          # 9 was issued to A and B: D's recruiter is unknown
    [-1, 0, 0, -1, -1]
    >>> link_coupons(t, rules="finished").parent.tolist()   # R: the last row that lists 9 (B)
    [-1, 0, 0, 1, -1]
    """
    rules = _rules(table, rules)
    n = len(table)
    ids = _text(table["respondent_id"], n)
    issued = _text(table["issued_coupons"] if "issued_coupons" in table else None, n)
    # one split of all issued coupons joined together (no per-row pandas string calls)
    lengths = np.fromiter((s.count(COUPON_SEP) + 1 if s else 0 for s in issued), dtype=np.int64, count=n)
    big = COUPON_SEP.join(s for s in issued if s)
    parts = big.split(COUPON_SEP) if big else []
    if _SPACE.search(big):
        parts = [c.strip() for c in parts]
    raw_flat = np.empty(len(parts), dtype=object)
    raw_flat[:] = parts
    issuer = np.repeat(np.arange(n), lengths)
    keep = raw_flat != ""
    if not keep.all():
        raw_flat, issuer = raw_flat[keep], issuer[keep]
    flat = normalise_coupons(raw_flat)
    # codes as integers (one hash pass); flat is in row order, so issuers are non-decreasing
    code_id, uniques = pd.factorize(flat) if len(flat) else (np.zeros(0, np.int64), [])
    uniques = pd.Index(uniques, dtype=object)
    code_id = np.asarray(code_id, dtype=np.int64)
    # a code written twice on one form: once
    pair_key = code_id * max(n, 1) + issuer
    again = pd.Series(pair_key).duplicated(keep="first").to_numpy() if len(flat) else np.zeros(0, bool)
    repeated_issuer, repeated_coupon = issuer[again], raw_flat[again]
    if again.any():
        flat, raw_flat, issuer, code_id, pair_key = (flat[~again], raw_flat[~again], issuer[~again],
                                                     code_id[~again], pair_key[~again])
    k = len(uniques)
    first_at = np.full(k, -1, dtype=np.int64)
    first_at[code_id[::-1]] = np.arange(len(code_id))[::-1]   # first position of each code
    last_at = np.full(k, -1, dtype=np.int64)
    last_at[code_id] = np.arange(len(code_id))                  # last position (R: later rows overwrite)
    coupon_first = np.zeros(len(flat), dtype=bool)
    coupon_first[first_at[first_at >= 0]] = True
    per_code = np.bincount(code_id, minlength=k)
    n_issuers = per_code[code_id]

    redeemed_raw = _text(table["redeemed_coupon"] if "redeemed_coupon" in table else None, n)
    redeemed = normalise_coupons(redeemed_raw)
    has_red = redeemed != ""
    rcode = uniques.get_indexer(redeemed) if k else np.full(n, -1, dtype=np.int64)
    rcode = np.where(has_red, rcode, -1)
    known = rcode >= 0
    safe = np.maximum(rcode, 0)
    redeemed_issuer = np.where(has_red, -2, -1).astype(np.int64)
    if k:
        redeemed_issuer[known] = issuer[first_at[safe[known]]]
        several = known & (per_code[safe] > 1)
        if several.any():
            redeemed_issuer[several] = -3 if rules == "field" else issuer[last_at[safe[several]]]
    redeem_first = ~(pd.Series(redeemed, dtype=object).duplicated(keep="first").to_numpy() & has_red)
    spelling = np.zeros(n, dtype=bool)
    if k:
        spelling[known] = redeemed_raw[known] != raw_flat[first_at[safe[known]]]

    explicit = _text(table["recruiter_id"] if "recruiter_id" in table else None, n)
    first_id = ~pd.Series(ids, dtype=object).duplicated(keep="first").to_numpy()
    id_index = pd.Index(ids[first_id])
    has_explicit = explicit != ""
    epos = id_index.get_indexer(explicit) if has_explicit.any() else np.full(n, -1, dtype=np.int64)
    fpos = np.concatenate((np.flatnonzero(first_id), [-2])).astype(np.int64)
    explicit_pos = np.where(explicit == "", -1, np.where(epos >= 0, fpos[epos], -2)).astype(np.int64)

    parent = np.where(redeemed_issuer >= 0, redeemed_issuer,
                      np.where(~has_red & (explicit_pos >= 0), explicit_pos, -1)).astype(np.int64)
    if rules == "finished":
        parent[parent == np.arange(n)] = -1  # R cannot place a self-recruitment either: a seed

    # the first respondent linked through each issuance (coupon, issuer)
    coupon_redeemer = np.full(len(flat), -1, dtype=np.int64)
    linked = np.flatnonzero(known & (redeemed_issuer >= 0) & (parent >= 0))
    if len(linked):
        hit = pd.Index(pair_key).get_indexer(rcode[linked] * max(n, 1) + parent[linked])
        ok = hit >= 0
        first_hit = ~pd.Series(hit[ok]).duplicated(keep="first").to_numpy()
        coupon_redeemer[hit[ok][first_hit]] = linked[ok][first_hit]
    return CouponLinks(ids=ids, rules=rules, coupon=flat, coupon_raw=raw_flat, coupon_issuer=issuer,
                       repeated_issuer=repeated_issuer, repeated_coupon=repeated_coupon, coupon_first=coupon_first,
                       coupon_n_issuers=n_issuers, coupon_redeemer=coupon_redeemer, redeemed=redeemed,
                       redeemed_raw=redeemed_raw, redeemed_issuer=redeemed_issuer, redeem_first=redeem_first,
                       spelling_differs=spelling, explicit=explicit, explicit_pos=explicit_pos, parent=parent)


def recruiter_positions(table: pd.DataFrame, *, source: str = "referral data",
                        links: CouponLinks | None = None, rules: str | None = None) -> np.ndarray:
    """Recruiter position of every respondent (``-1`` for seeds); raises on any unresolved link.

    Use on a validated table (the store's respondents). For a full list of problems, use
    :func:`hiddenpop.referrals.validate.validate_log`.

    Raises
    ------
    RecruitmentError
        A redeemed coupon that was never issued or was issued to several respondents (``field``
        rules), an unknown recruiter id, or a respondent who recruited themself.
    """
    links = link_coupons(table, rules=rules) if links is None else links
    if links.rules == "finished":  # everything unresolved is a seed, as in R
        return links.parent
    rows = source_rows(table)
    n = len(links.ids)
    for mask, what, col, vals in (
            (links.redeemed_issuer == -2, "redeemed coupon was never issued", "redeemed_coupon", links.redeemed_raw),
            (links.redeemed_issuer == -3, "redeemed coupon was issued to several respondents", "redeemed_coupon",
             links.redeemed_raw),
            ((links.redeemed == "") & (links.explicit_pos == -2), "recruiter id is not a respondent in the data",
             "recruiter_id", links.explicit),
            (links.parent == np.arange(n), "respondent redeemed a coupon issued to themself", "redeemed_coupon",
             links.redeemed_raw)):
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            raise RecruitmentError(f"{what} ({int(mask.sum())} row(s), e.g. respondent {links.ids[i]})",
                                   where=format_where(table.attrs.get("source", source), row=int(rows[i]),
                                                      column=col, value=vals[i]),
                                   fix="run `hiddenpop referrals validate` for the full list and correct the log")
    return links.parent


def source_rows(table: pd.DataFrame) -> np.ndarray:
    """Row numbers as the user sees them (``source_row`` column, else 2, 3, … as in a CSV)."""
    if "source_row" in table.columns:
        return table["source_row"].to_numpy()
    return np.arange(2, len(table) + 2)


def recruiter_ids(table: pd.DataFrame, *, source: str = "referral data", rules: str | None = None) -> pd.Series:
    """Recruiter id of every respondent (``None`` for seeds), via coupons or explicit recruiter ids
    (``rules`` as in :func:`link_coupons`)."""
    links = link_coupons(table, rules=rules)
    parent = recruiter_positions(table, source=source, links=links)
    ids = links.ids
    out = np.where(parent >= 0, ids[np.maximum(parent, 0)] if len(ids) else None, None)
    return pd.Series(out, index=table.index, name="recruiter_id", dtype=object)


def parse_times(values: Any) -> pd.Series:
    """Parse ISO 8601 interview times to UTC timestamps (naive times are taken as UTC; bad → NaT)."""
    s = pd.Series(values, dtype=object)
    return pd.to_datetime(s, format="ISO8601", utc=True, errors="coerce")


def _as_of(times: pd.Series, as_of: Any) -> pd.Timestamp | None:
    if as_of is not None:
        ts = pd.Timestamp(as_of)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return None if times.isna().all() else times.max()


def coupon_table(table: pd.DataFrame, *, expiry_days: float | None = None, as_of: Any = None,
                 links: CouponLinks | None = None) -> pd.DataFrame:
    """One row per issued coupon with its recruiter, redeemer and status.

    Parameters
    ----------
    table
        Referral table (normalised columns).
    expiry_days
        Days after the recruiter's interview after which an unredeemed coupon counts as expired;
        ``None``: coupons never expire.
    as_of
        Reference time for expiry (default: the latest interview time in the table, so the result
        does not depend on when it is computed).
    links
        :func:`link_coupons` of ``table`` if already computed (saves matching the coupons again).

    Returns
    -------
    pandas.DataFrame
        ``coupon, recruiter_id, issued_at, redeemed_by, redeemed_at, days_to_redemption,
        days_outstanding, status``.
    """
    links = link_coupons(table) if links is None else links
    times = parse_times(table["interview_time"] if "interview_time" in table else [None] * len(table))
    ref = _as_of(times, as_of)
    # UTC instants as datetime64 (no per-element Timestamp objects)
    tv = times.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    issued_at = pd.Series(pd.to_datetime(tv[links.coupon_issuer], utc=True))
    red = links.coupon_redeemer
    redeemed_at = pd.Series(pd.to_datetime(np.where(red >= 0, tv[np.maximum(red, 0)] if len(tv) else
                                                    np.datetime64("NaT", "ns"), np.datetime64("NaT", "ns")), utc=True))
    redeemed_at[red < 0] = pd.NaT
    days = (redeemed_at - issued_at).dt.total_seconds() / 86400.0
    outstanding_days = ((ref - issued_at).dt.total_seconds() / 86400.0) if ref is not None else \
        pd.Series(np.nan, index=issued_at.index)
    status = np.where(red >= 0, "redeemed", "outstanding").astype(object)
    if expiry_days is not None:
        expired = (red < 0) & (outstanding_days.to_numpy() > float(expiry_days))
        status[expired] = "expired"
    out = pd.DataFrame({
        "coupon": pd.Series(links.coupon, dtype=object),
        "recruiter_id": pd.Series(links.ids[links.coupon_issuer] if len(links.coupon) else [], dtype=object),
        "issued_at": issued_at,
        "redeemed_by": pd.Series(np.where(red >= 0, links.ids[np.maximum(red, 0)] if len(links.ids) else None, None),
                                 dtype=object),
        "redeemed_at": redeemed_at,
        "days_to_redemption": days.to_numpy(),
        "days_outstanding": np.where(red >= 0, np.nan, outstanding_days.to_numpy()),
        "status": status,
    })
    return out[links.coupon_first].reset_index(drop=True)


def coupons_per_recruiter(table: pd.DataFrame, *, expiry_days: float | None = None,
                          as_of: Any = None, links: CouponLinks | None = None) -> pd.DataFrame:
    """Coupons issued, redeemed, outstanding and expired per respondent, and the return rate.

    ``coupons_redeemed`` counts recruits (respondents whose recruiter this is), so it is also right
    for data with explicit recruiter ids. ``coupons_issued`` is the number of coupons recorded for
    the respondent; when the table records no coupons at all (R ``RDS`` CSV) it is unknown (NA)
    and so is the return rate. Indexed by respondent id, in table order.

    >>> import pandas as pd
    >>> t = pd.DataFrame({"respondent_id": ["A", "B"], "redeemed_coupon": [None, "c1"],
    ...                   "issued_coupons": ["c1;c2", None], "interview_time": ["2024-05-01", "2024-05-02"]})
    >>> coupons_per_recruiter(t)[["coupons_issued", "coupons_redeemed", "return_rate"]].values.tolist()
    [[2.0, 1.0, 0.5], [0.0, 0.0, nan]]
    """
    links = link_coupons(table) if links is None else links
    n = len(links.ids)
    has = links.parent >= 0
    redeemed = np.bincount(links.parent[has], minlength=n).astype(float)
    any_coupons = len(links.coupon) > 0 or (links.redeemed != "").any()
    issued = np.bincount(links.coupon_issuer[links.coupon_first], minlength=n).astype(float)
    if not any_coupons:
        issued[:] = np.nan
    ct = coupon_table(table, expiry_days=expiry_days, as_of=as_of, links=links)
    # coupon_table keeps the first issuance of each coupon, in order: its issuer positions are known
    pos = links.coupon_issuer[links.coupon_first].astype(np.int64)
    outstanding = np.bincount(pos[ct["status"].to_numpy() == "outstanding"], minlength=n).astype(float)
    expired = np.bincount(pos[ct["status"].to_numpy() == "expired"], minlength=n).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(issued > 0, redeemed / np.where(issued > 0, issued, 1), np.nan)
    return pd.DataFrame({"coupons_issued": issued, "coupons_redeemed": redeemed,
                         "coupons_outstanding": outstanding if any_coupons else np.nan,
                         "coupons_expired": expired if any_coupons else np.nan,
                         "return_rate": rate}, index=pd.Index(links.ids, name="respondent_id"))
