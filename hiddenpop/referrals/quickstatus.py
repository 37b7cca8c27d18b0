"""The evening status in plain Python: the numbers of ``hiddenpop referrals status`` without pandas.

A coordinator runs ``referrals status`` every evening and waits for it at the prompt; importing
pandas and numpy alone takes about 0.35 s. This module computes the same headline numbers, the
recruitment by wave and by seed and the reminder calls from plain rows (the store read by
:func:`hiddenpop.io.storerows.read_store_rows`), following the same definitions as the
DataFrame functions it mirrors, line for line:

======================================  ===================================================
here                                    DataFrame version
======================================  ===================================================
:func:`link`                            :func:`hiddenpop.referrals.coupons.link_coupons`,
                                        ``recruiter_positions`` and the recruitment tree
:func:`coupon_rows`                     :func:`hiddenpop.referrals.coupons.coupon_table`
:func:`summary`                         :func:`hiddenpop.referrals.fieldstatus.status_summary`
:func:`by_wave`                         :func:`~hiddenpop.referrals.fieldstatus.recruitment_by_wave`
:func:`by_seed`                         :func:`~hiddenpop.referrals.fieldstatus.recruitment_by_seed`
:func:`reminders`                       :func:`~hiddenpop.referrals.fieldstatus.reminder_list`
:func:`duplicates`                      :func:`hiddenpop.referrals.households.possible_duplicates`
======================================  ===================================================

``tests/referrals/test_quickstatus.py`` checks both routes on the bundled example and on stores
with the quirks of real field logs. Anything this module does not handle the way the DataFrame
route does (a link the store's validation should have refused, a time that is not ISO 8601, a
team column of numbers) raises :class:`NeedsTables`, and the command falls back to the
DataFrame route, which gives the same answer or the precise error.

Examples
--------
>>> rows = [{"respondent_id": "A", "redeemed_coupon": None, "issued_coupons": "c1;c2",
...          "interview_time": "2024-05-01T00:00"},
...         {"respondent_id": "B", "redeemed_coupon": "c1", "issued_coupons": None,
...          "interview_time": "2024-05-02T12:00"}]
>>> s = status(rows, expiry_days=None)
>>> s.summary["coupons_issued"], s.summary["coupons_redeemed"], s.summary["median_days_to_redemption"]
(2, 1, 1.5)
>>> [(w["wave"], w["respondents"], w["recruits_made"]) for w in s.by_wave]
[(0, 1, 1), (1, 1, 0)]
>>> [(r["recruiter_id"], r["outstanding_coupons"], r["days_since_interview"]) for r in s.reminders]
[('A', 'c2', 1.5)]
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

from hiddenpop.referrals.schema import COUPON_SEP, HASH_PREFIX, TEAM_COLUMNS

__all__ = ["NeedsTables", "Links", "Status", "link", "coupon_rows", "summary", "by_wave", "by_seed", "reminders",
           "duplicates", "status", "parse_time", "round_half_even"]

NAN = float("nan")
_DIGITS = re.compile(r"^\+?0*(\d+?)(?:\.0*)?$")  # as hiddenpop.referrals.coupons.normalise_coupons
_UTC = dt.timezone.utc


class NeedsTables(Exception):
    """The plain route does not handle this store: use the DataFrame route (same answer, or its error)."""


def _text(v: Any) -> str:
    if v is None:
        return ""
    if type(v) is str:
        return v.strip()
    raise NeedsTables(f"a value of type {type(v).__name__} where text was expected")


def _code(c: str) -> str:
    m = _DIGITS.match(c) if c else None
    return m.group(1) if m is not None else c


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO 8601 interview time as an aware UTC datetime (naive = UTC); ``None`` when empty.

    >>> parse_time("2024-03-04T09:00+03:00"), parse_time(None)
    (datetime.datetime(2024, 3, 4, 6, 0, tzinfo=datetime.timezone.utc), None)

    Raises :class:`NeedsTables` for text that is not ISO 8601 (pandas decides what it means).
    """
    s = _text(value)
    if not s:
        return None
    try:
        t = dt.datetime.fromisoformat(s)
    except ValueError:
        raise NeedsTables(f"time {s!r} is not ISO 8601") from None
    return t.replace(tzinfo=_UTC) if t.tzinfo is None else t.astimezone(_UTC)


def round_half_even(x: float, digits: int) -> float:
    """Round as numpy (and pandas ``.round``) do: ``rint(x * 10**d) / 10**d``.

    >>> round_half_even(0.25, 1), round_half_even(2.35, 1), round_half_even(float("nan"), 1)
    (0.2, 2.4, nan)
    """
    if math.isnan(x):
        return x
    f = 10.0 ** digits
    return round(x * f) / f


def _days(a: dt.datetime | None, b: dt.datetime | None) -> float:
    return NAN if a is None or b is None else (a - b).total_seconds() / 86400.0


@dataclass
class Links:
    """Who recruited whom (positions are row positions; ``-1`` for a seed).

    ``coupon``, ``issuer``, ``first``, ``redeemer``: every issued coupon (normalised code, once per
    respondent), the row it was issued to, whether it is the first issuance of that code, and the
    first row linked through it (``-1`` if none). ``wave``, ``seed``, ``n_recruits``: the
    recruitment forest. ``any_coupons``: the rows record coupons at all (else coupon counts are
    unknown, as for R ``RDS`` CSV data).
    """

    ids: list[str]
    parent: list[int]
    coupon: list[str]
    issuer: list[int]
    first: list[bool]
    redeemer: list[int]
    wave: list[int]
    seed: list[int]
    n_recruits: list[int]
    any_coupons: bool


def link(rows: list[dict[str, Any]], *, rules: str = "field") -> Links:
    """Match coupons, resolve recruiters and build the forest (the rules of ``link_coupons``).

    Raises :class:`NeedsTables` where ``recruiter_positions``/``RecruitmentTree`` would raise
    (never for a store's accepted rows, which were validated on import).
    """
    n = len(rows)
    ids = [_text(r.get("respondent_id")) for r in rows]
    if len(set(ids)) != n:
        raise NeedsTables("duplicate respondent ids")
    code_at: dict[str, list[int]] = {}          # code -> positions in the issuance lists
    coupon: list[str] = []
    issuer: list[int] = []
    for i, r in enumerate(rows):
        cell = _text(r.get("issued_coupons"))
        if not cell:
            continue
        for part in cell.split(COUPON_SEP):
            raw = part.strip()
            if not raw:
                continue
            code = _code(raw)
            at = code_at.setdefault(code, [])
            if at and issuer[at[-1]] == i:  # written twice on one form: once
                continue
            at.append(len(coupon))
            coupon.append(code)
            issuer.append(i)
    first = [False] * len(coupon)
    for at in code_at.values():
        first[at[0]] = True
    position = {rid: i for i, rid in enumerate(ids)}
    parent = [-1] * n
    any_redeemed = False
    for i, r in enumerate(rows):
        red = _code(_text(r.get("redeemed_coupon")))
        if red:
            any_redeemed = True
            at = code_at.get(red)
            if at is None:                      # never issued
                if rules == "field":
                    raise NeedsTables("a redeemed coupon was never issued")
                continue
            if len(at) > 1 and rules == "field":
                raise NeedsTables("a redeemed coupon was issued to several respondents")
            parent[i] = issuer[at[0] if len(at) == 1 else at[-1]]
        else:
            explicit = _text(r.get("recruiter_id"))
            if explicit:
                if explicit not in position:
                    if rules == "field":
                        raise NeedsTables("a recruiter id is not a respondent")
                    continue
                parent[i] = position[explicit]
        if parent[i] == i:
            if rules == "field":
                raise NeedsTables("self-recruitment")
            parent[i] = -1
    # the first row linked through each issuance (coupon, issuer)
    redeemer = [-1] * len(coupon)
    for i, r in enumerate(rows):
        red = _code(_text(r.get("redeemed_coupon")))
        if red and parent[i] >= 0:
            for k in code_at[red]:
                if issuer[k] == parent[i]:
                    if redeemer[k] < 0:
                        redeemer[k] = i
                    break
    # the forest: waves breadth-first from the seeds, seeds along the chains
    children: list[list[int]] = [[] for _ in range(n)]
    for i, p in enumerate(parent):
        if p >= 0:
            children[p].append(i)
    wave = [-1] * n
    seed = [-1] * n
    frontier = [i for i in range(n) if parent[i] < 0]
    for i in frontier:
        wave[i], seed[i] = 0, i
    level, done = 0, len(frontier)
    while frontier:
        level += 1
        nxt = []
        for p in frontier:
            for c in children[p]:
                wave[c], seed[c] = level, seed[p]
                nxt.append(c)
        done += len(nxt)
        frontier = nxt
    if done < n:
        raise NeedsTables("a recruitment cycle")
    return Links(ids=ids, parent=parent, coupon=coupon, issuer=issuer, first=first, redeemer=redeemer, wave=wave,
                 seed=seed, n_recruits=[len(c) for c in children], any_coupons=bool(coupon) or any_redeemed)


def _reference(times: list[dt.datetime | None], as_of: Any) -> dt.datetime | None:
    """``as_of`` in UTC, else the latest interview, else ``None`` (``fieldstatus.reference_time``)."""
    if as_of is not None:
        return parse_time(as_of)
    known = [t for t in times if t is not None]
    return max(known) if known else None


def coupon_rows(links: Links, times: list[dt.datetime | None], *, expiry_days: float | None,
                ref: dt.datetime | None) -> list[dict[str, Any]]:
    """One dict per issued coupon (first issuance of each code): ``coupon, issuer, status,
    days_to_redemption, days_outstanding`` (as ``coupon_table``; ``issuer`` is a row position)."""
    out = []
    for k, code in enumerate(links.coupon):
        if not links.first[k]:
            continue
        iss, red = links.issuer[k], links.redeemer[k]
        issued_at = times[iss]
        if red >= 0:
            status, to_red, out_days = "redeemed", _days(times[red], issued_at), NAN
        else:
            out_days = _days(ref, issued_at)
            status = "expired" if expiry_days is not None and out_days > float(expiry_days) else "outstanding"
            to_red = NAN
        out.append({"coupon": code, "issuer": iss, "status": status, "days_to_redemption": to_red,
                    "days_outstanding": out_days})
    return out


def _median(values: list[float]) -> float:
    v = sorted(values)
    m = len(v) // 2
    return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2


def summary(links: Links, coupons: list[dict[str, Any]], ref: dt.datetime | None) -> dict[str, Any]:
    """The headline numbers (the keys and values of ``fieldstatus.status_summary``)."""
    n = len(links.ids)
    count = {s: sum(1 for c in coupons if c["status"] == s) for s in ("redeemed", "outstanding", "expired")}
    days = [c["days_to_redemption"] for c in coupons if not math.isnan(c["days_to_redemption"])]
    return {
        "as_of": None if ref is None else ref.isoformat(),
        "respondents": n,
        "seeds": sum(1 for p in links.parent if p < 0),
        "max_wave": max(links.wave) if n else 0,
        "coupons_issued": len(coupons),
        "coupons_redeemed": count["redeemed"],
        "coupons_outstanding": count["outstanding"],
        "coupons_expired": count["expired"],
        "return_rate": count["redeemed"] / len(coupons) if coupons else None,
        "median_days_to_redemption": _median(days) if days else None,
    }


def _per_issuer(links: Links, coupons: list[dict[str, Any]], status: str | None = None) -> list[int]:
    out = [0] * len(links.ids)
    for c in coupons:
        if status is None or c["status"] == status:
            out[c["issuer"]] += 1
    return out


def by_wave(links: Links, coupons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per wave: ``wave, respondents, recruiters, recruits_made, coupons_issued, return_rate``
    (``coupons_issued`` ``None`` and ``return_rate`` NaN when coupons are unknown or none were issued)."""
    issued = _per_issuer(links, coupons)
    out: dict[int, dict[str, Any]] = {}
    for i, w in enumerate(links.wave):
        row = out.setdefault(w, {"wave": w, "respondents": 0, "recruiters": 0, "recruits_made": 0,
                                 "coupons_issued": 0 if links.any_coupons else None})
        row["respondents"] += 1
        row["recruiters"] += links.n_recruits[i] > 0
        row["recruits_made"] += links.n_recruits[i]
        if links.any_coupons:
            row["coupons_issued"] += issued[i]
    rows = [out[w] for w in sorted(out)]
    for row in rows:
        c = row["coupons_issued"]
        row["return_rate"] = row["recruits_made"] / c if c else NAN
    return rows


def by_seed(links: Links, coupons: list[dict[str, Any]], times: list[dt.datetime | None],
            ref: dt.datetime | None, *, stall_days: float = 7.0) -> list[dict[str, Any]]:
    """Per seed, in order of first appearance: ``seed_id, chain_size, max_wave, outstanding_coupons,
    days_since_last_interview, state`` (``growing``, ``stalled`` or ``ended``)."""
    out_c = _per_issuer(links, coupons, "outstanding") if links.any_coupons else [0] * len(links.ids)
    seeds: dict[int, dict[str, Any]] = {}
    for i, s in enumerate(links.seed):
        row = seeds.setdefault(s, {"seed_id": links.ids[s], "chain_size": 0, "max_wave": 0,
                                   "outstanding_coupons": 0, "last": None})
        row["chain_size"] += 1
        row["max_wave"] = max(row["max_wave"], links.wave[i])
        row["outstanding_coupons"] += out_c[i]
        if times[i] is not None and (row["last"] is None or times[i] > row["last"]):
            row["last"] = times[i]
    rows = list(seeds.values())
    for row in rows:
        days = _days(ref, row.pop("last"))
        row["days_since_last_interview"] = days
        row["state"] = ("ended" if row["outstanding_coupons"] <= 0 else
                        "growing" if days <= stall_days else "stalled")
    return rows


def reminders(links: Links, coupons: list[dict[str, Any]], rows: list[dict[str, Any]],
              columns: list[str]) -> list[dict[str, Any]]:
    """Recruiters with coupons still out or expired, most outstanding and most overdue first:
    ``recruiter_id, team, seed_id, issued, redeemed, outstanding, expired, outstanding_coupons,
    days_since_interview`` (``reminder_list``; ``team`` from the first of ``TEAM_COLUMNS`` in
    ``columns``, ``None`` without one)."""
    if all(c["status"] == "redeemed" for c in coupons):
        return []
    team = next((c for c in TEAM_COLUMNS if c in columns), None)
    if team is not None:
        present = [_text(r.get(team)) for r in rows if r.get(team) is not None]
        if present and all(_is_number(v) for v in present):
            raise NeedsTables("a team column of numbers")  # the DataFrame route reads it as numbers
    agg: dict[int, dict[str, Any]] = {}
    for c in coupons:
        a = agg.setdefault(c["issuer"], {"issued": 0, "redeemed": 0, "outstanding": 0, "expired": 0, "days": NAN,
                                         "codes": []})
        a["issued"] += 1
        a[c["status"]] += 1
        d = c["days_outstanding"]
        if not math.isnan(d) and (math.isnan(a["days"]) or d > a["days"]):
            a["days"] = d
        if c["status"] == "outstanding":
            a["codes"].append(c["coupon"])
    out = []
    for i, a in agg.items():
        if a["outstanding"] + a["expired"] <= 0:
            continue
        out.append({"recruiter_id": links.ids[i], "team": rows[i].get(team) if team else None,
                    "seed_id": links.ids[links.seed[i]], "issued": a["issued"], "redeemed": a["redeemed"],
                    "outstanding": a["outstanding"], "expired": a["expired"],
                    "outstanding_coupons": " ".join(a["codes"]),
                    "days_since_interview": round_half_even(a["days"], 1)})
    # outstanding, then days, both descending; NaN days last; ties keep their order (a stable sort)
    out.sort(key=lambda r: (-r["outstanding"], math.isnan(r["days_since_interview"]),
                            0.0 if math.isnan(r["days_since_interview"]) else -r["days_since_interview"]))
    return out


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def duplicates(rows: list[dict[str, Any]], columns: list[str]) -> list[dict[str, Any]]:
    """Pairs sharing a hashed personal field: ``respondent_id`` (the first), ``same_as``, ``field``."""
    out = []
    for c in [c for c in columns if c.startswith(HASH_PREFIX)]:
        first: dict[Any, Any] = {}
        for r in rows:
            v, rid = r.get(c), r.get("respondent_id")
            if v is None or rid is None:
                continue
            f = first.setdefault(v, rid)
            if f != rid:
                out.append({"respondent_id": f, "same_as": rid, "field": c[len(HASH_PREFIX):]})
    return out


@dataclass
class Status:
    """Everything the evening status prints (see :func:`status`)."""

    summary: dict[str, Any]
    by_wave: list[dict[str, Any]]
    by_seed: list[dict[str, Any]]
    reminders: list[dict[str, Any]]


def status(rows: list[dict[str, Any]], *, columns: list[str] | None = None, expiry_days: float | None = None,
           as_of: Any = None, stall_days: float = 7.0, rules: str = "field") -> Status:
    """The evening status of the accepted rows ``rows`` (store order).

    Raises :class:`NeedsTables` where the DataFrame route must decide (see the module notes).
    """
    columns = list(rows[0]) if columns is None and rows else (columns or [])
    links = link(rows, rules=rules)
    times = [parse_time(r.get("interview_time")) for r in rows]
    ref = _reference(times, as_of)
    coupons = coupon_rows(links, times, expiry_days=expiry_days, ref=ref)
    return Status(summary=summary(links, coupons, ref), by_wave=by_wave(links, coupons),
                  by_seed=by_seed(links, coupons, times, ref, stall_days=stall_days),
                  reminders=reminders(links, coupons, rows, columns))
