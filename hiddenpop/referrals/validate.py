"""Validation of referral logs: one :class:`Problem` per fault, with row, column, value and a fix.

Rules (:data:`RULES`; ``error`` rows are quarantined by the store, ``warning`` rows are kept)
-----------------------------------------------------------------------------------------------
Rules go by harm: what cannot change the recruitment graph is a warning; what makes it ambiguous is an
error. The severity below is the one of the ``field`` rules (the evening loop); under the ``finished``
rules (a completed study from another tool, linked like R ``RDS``'s ``rid.from.coupons``) every rule
marked *w* is a warning too, so every row lands, and only rows that cannot be stored or placed at all
(no id, a repeated id, a recruitment cycle, and their recruits) are kept out.

==============================  ========  =====================================================
rule                            severity  meaning
==============================  ========  =====================================================
``missing-id``                  error     the respondent id is empty
``duplicate-id``                error     the respondent id was used by an earlier row
``coupon-issuer-ambiguous``     error *w* the redeemed coupon was issued to several respondents
                                          (``finished``: linked to the last of them, as R)
``coupon-never-issued``         error *w* the redeemed coupon was not issued to anyone
                                          (``finished``: the respondent is a seed, as in R)
``self-recruitment``            error *w* the respondent redeemed a coupon issued to themself
                                          (``finished``: a seed)
``unknown-recruiter``           error *w* explicit recruiter id that is not a respondent (``finished``: a seed)
``recruiter-mismatch``          error *w* explicit recruiter id disagrees with the coupon's owner
                                          (``finished``: the coupon decides, as in R)
``recruitment-cycle``           error     following recruiters never reaches a seed
``seed-without-point``          error *w* a seed has no ``point_id`` but the design needs one
``time-not-iso``                error *w* interview time is not an ISO 8601 date-time
``network-size-not-number``     error *w* network size is text, not a number
``network-size-negative``       error *w* network size below 0
``recruiter-quarantined``       error     (store only) the recruiter's row was quarantined
``coupon-check-digit``          error *w* (printed coupons) the coupon number's check digit is wrong
``coupon-not-printed``          error *w* (printed coupons) a well-formed number that was never printed
``coupon-redeemed-twice``       warning   two people came with the same coupon, one issuer: both
                                          are linked to that issuer (as R and RDSAT do)
``coupon-issued-twice``         warning   a coupon nobody redeemed was issued to two respondents
``coupon-repeated-on-form``     warning   the same coupon is written twice on one form
``coupon-spelling-differs``     warning   the redeemed coupon matches an issued one only once spelled
                                          alike (``01901``, ``1901.0`` and ``1901`` are one coupon)
``time-missing``                warning   no interview time (time order cannot be checked)
``recruit-before-recruiter``    warning   the recruit's interview is earlier than the recruiter's
``more-recruits-than-coupons``  warning   more recruits than coupons recorded as issued
``more-coupons-than-allowed``   warning   more coupons issued than the design's maximum
``network-size-missing``        warning   no network size
``network-size-zero``           warning   network size 0
``network-size-not-whole``      warning   network size is not a whole number
``network-size-implausible``    warning   network size above the plausible maximum
``network-size-below-recruits`` warning   fewer contacts reported than recruits made
``eligible-above-network-size`` warning   more eligible contacts than contacts
==============================  ========  =====================================================

Network-size rule for the estimators
------------------------------------
Negative or non-numeric network sizes are errors: those rows never reach the estimators. Missing
and zero network sizes are kept and flagged; the estimators replace them by the **largest valid
network size in the sample**, R ``RDS``'s rule in ``RDS.estimates.local`` ("k of n network sizes
were missing or zero. The estimator will presume these are <max>"), with a
:class:`~hiddenpop.errors.DegreeImputedWarning` (:func:`network_size_for_estimation`, which applies
the package's single rule :func:`hiddenpop.rds.sample.clean_degree`; its alternative ``"median"``
rule is available everywhere as ``degree_rule="median"``).
Implausibly large values and values below the respondent's number of recruits are flagged but
used as reported: change them with ``hiddenpop referrals correct`` if the interview notes
support a correction (the change is kept in the history).

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"respondent_id": ["A", "B", "B"], "redeemed_coupon": [None, "c1", "c9"],
...                   "issued_coupons": ["c1", None, None], "network_size": [3, 0, 2],
...                   "interview_time": ["2024-05-01T10:00", "2024-05-02T09:00", "2024-05-02T11:00"]})
>>> for p in validate_log(t, source="log.csv"):
...     print(p)
log.csv, row 3, column 'network_size', value 0: network size is 0 (the respondent was recruited, so they know at least one household). Fix: check the answer; if it cannot be recovered, leave it: the estimators use the largest network size in the sample.
log.csv, row 4, column 'respondent_id', value 'B': duplicate respondent id (first used on row 3). Fix: give every interview its own respondent id; if this is the same interview entered twice, delete one copy in the source.
log.csv, row 4, column 'redeemed_coupon', value 'c9': redeemed coupon was never issued to any respondent. Fix: check the coupon number on the form (typing error?) and the recruiter's issued coupons; if the recruiter's interview is not uploaded yet, import again once it is.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop.errors import format_where
from hiddenpop.referrals.coupons import CouponLinks, link_coupons, normalise_coupons, parse_times, source_rows
from hiddenpop.rds.tree import children_csr

__all__ = ["Problem", "RULES", "validate_log", "located_problems", "quarantine_rows", "cascade_quarantine",
           "network_size_for_estimation", "DEFAULT_MAX_NETWORK_SIZE"]

#: network sizes above this are flagged as implausible (households known *and* contacted recently)
DEFAULT_MAX_NETWORK_SIZE = 500

#: rule → (severity, what to do)
RULES: dict[str, tuple[str, str]] = {
    "missing-id": ("error", "fill in the respondent id on the form or in the spreadsheet"),
    "duplicate-id": ("error", "give every interview its own respondent id; if this is the same interview entered "
                              "twice, delete one copy in the source"),
    "coupon-issuer-ambiguous": ("error", "check the coupon number on the forms of the respondents it was issued to "
                                         "against the coupon book, and correct the wrong one"),
    "coupon-never-issued": ("error", "check the coupon number on the form (typing error?) and the recruiter's issued "
                                     "coupons; if the recruiter's interview is not uploaded yet, import again once it is"),
    "coupon-redeemed-twice": ("warning", "nothing to do if the interview notes agree; otherwise correct the coupon "
                                         "number of the respondent who came with another coupon"),
    "coupon-issued-twice": ("warning", "nobody came with this coupon, so the recruitment is not affected; check the "
                                       "numbers on the forms against the coupon book"),
    "coupon-repeated-on-form": ("warning", "counted once; check whether another coupon number was meant"),
    "coupon-spelling-differs": ("warning", "nothing to do: leading zeros, spaces and a spreadsheet's '.0' do not make "
                                           "another coupon"),
    "self-recruitment": ("error", "a respondent cannot redeem their own coupon: correct the redeemed or issued "
                                  "coupon number"),
    "unknown-recruiter": ("error", "correct the recruiter id, or import the recruiter's interview first"),
    "recruiter-mismatch": ("error", "the coupon and the recruiter id name different recruiters: correct one of them"),
    "recruitment-cycle": ("error", "every chain must start at a seed: correct the coupon numbers of these rows"),
    "seed-without-point": ("error", "the design says seeds come from first-stage points: fill in point_id, or the "
                                    "coupon the household came with if it was referred"),
    "time-not-iso": ("error", "write times as ISO 8601, e.g. 2024-05-01T14:30 or 2024-05-01T14:30:00+03:00"),
    "network-size-not-number": ("error", "enter the number of households the respondent knows, as a number"),
    "network-size-negative": ("error", "a count cannot be negative: correct the answer from the interview notes"),
    "recruiter-quarantined": ("error", "fix the recruiter's row (see its own problem) and import again"),
    "coupon-check-digit": ("error", "a typing error: read the number on the coupon (or scan its QR code) and correct it "
                                    "in the form, or with `hiddenpop referrals correct`"),
    "coupon-not-printed": ("error", "this number was never printed for this survey: check it against the coupon; a "
                                    "coupon of another survey or a typing error that kept the check digit right"),
    "time-missing": ("warning", "fill in the interview time so the time order of recruitment can be checked"),
    "recruit-before-recruiter": ("warning", "check the tablet clocks and the dates; the recruit cannot be interviewed "
                                            "before the recruiter received the coupon"),
    "more-recruits-than-coupons": ("warning", "record every coupon handed out in the recruiter's issued coupons"),
    "more-coupons-than-allowed": ("warning", "check the coupon numbers; the design allows fewer coupons per respondent"),
    "network-size-missing": ("warning", "ask again if possible; otherwise the estimators use the largest network "
                                        "size in the sample"),
    "network-size-zero": ("warning", "check the answer; if it cannot be recovered, leave it: the estimators use the "
                                     "largest network size in the sample"),
    "network-size-not-whole": ("warning", "network size is a count: round it or correct the answer"),
    "network-size-implausible": ("warning", "check the answer (extra zero?); correct it with `hiddenpop referrals "
                                            "correct` if the notes support it"),
    "network-size-below-recruits": ("warning", "a respondent knows at least everyone they recruited: check the answer"),
    "eligible-above-network-size": ("warning", "eligible contacts are part of all contacts: check both answers"),
}


#: rules that are warnings under the ``finished`` rules (the others keep their severity)
FINISHED_WARNINGS = frozenset({"coupon-issuer-ambiguous", "coupon-never-issued", "self-recruitment",
                               "unknown-recruiter", "recruiter-mismatch", "seed-without-point", "time-not-iso",
                               "network-size-not-number", "network-size-negative", "coupon-check-digit",
                               "coupon-not-printed"})
#: what the ``finished`` rules did instead (added to the warning's message)
_FINISHED_ACTION = {
    "coupon-never-issued": "the respondent is a seed, as in R's rid.from.coupons",
    "self-recruitment": "the respondent is a seed (R refuses such a file)",
    "unknown-recruiter": "the respondent is a seed",
    "recruiter-mismatch": "the coupon decides, as in R's rid.from.coupons",
    "coupon-check-digit": "kept as typed: it links only to a form that lists the same number",
    "coupon-not-printed": "kept as typed: it links only to a form that lists the same number",
}


def severity(rule: str, rules: str = "field") -> str:
    """Severity of ``rule`` under the linking policy ``rules`` (``field`` or ``finished``).

    >>> severity("coupon-never-issued"), severity("coupon-never-issued", "finished")
    ('error', 'warning')
    """
    sev = RULES[rule][0]
    return "warning" if rules == "finished" and rule in FINISHED_WARNINGS else sev


@dataclass(frozen=True)
class Problem:
    """One problem in a referral log.

    Attributes
    ----------
    rule, severity : the rule (key of :data:`RULES`) and ``"error"`` or ``"warning"``.
    source, row, column, value : where, as the user sees it (file name, row number with the header
        as row 1, the column name in the user's file, the offending value).
    message, fix : what is wrong and what to do.
    respondent_id : the respondent the problem is about.
    """

    rule: str
    severity: str
    source: str
    row: int | None
    column: str | None
    value: Any
    message: str
    fix: str
    respondent_id: str | None = None

    def __str__(self) -> str:
        where = format_where(self.source, row=self.row, column=self.column, value=self.value)
        return f"{where}: {self.message}. Fix: {self.fix.rstrip('.')}."

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["value"] = None if d["value"] is None else (d["value"] if isinstance(d["value"], (int, float, str))
                                                      else str(d["value"]))
        return d


def _value(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (np.floating, float)):
        return int(v) if float(v).is_integer() else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


class _Collector:
    def __init__(self, table: pd.DataFrame, source: str, rules: str = "field"):
        self.rules = rules
        self.rows = source_rows(table)
        self.ids = table["respondent_id"].astype(object).to_numpy()
        self.names = table.attrs.get("column_names", {})
        files = table["source_file"].astype(object).to_numpy() if "source_file" in table.columns else None
        self.files = files
        self.source = source
        self.items: list[tuple[int, int, Problem]] = []

    def add(self, rule: str, positions: np.ndarray, column: str, values: Any, message: Any) -> None:
        sev, fix = severity(rule, self.rules), RULES[rule][1]
        action = _FINISHED_ACTION.get(rule) if self.rules == "finished" else None
        col = self.names.get(column, column)
        values = np.asarray(values, dtype=object)
        for k, i in enumerate(np.asarray(positions, dtype=np.int64)):
            msg = message(k, int(i)) if callable(message) else message
            if action:
                msg = f"{msg}; {action}"
            src = self.source if self.files is None or self.files[i] is None else str(self.files[i])
            rid = self.ids[i]
            self.items.append((int(i), len(self.items), Problem(
                rule=rule, severity=sev, source=src, row=int(self.rows[i]), column=col,
                value=_value(values[k]), message=msg, fix=fix,
                respondent_id=None if rid is None or (isinstance(rid, float) and np.isnan(rid)) else str(rid))))

    def result(self) -> list[Problem]:
        return [p for _, _, p in sorted(self.items, key=lambda t: (t[0], t[1]))]


def validate_log(table: pd.DataFrame, *, source: str | None = None, design_requires_point: bool = False,
                 max_coupons: int | None = None, max_network_size: float = DEFAULT_MAX_NETWORK_SIZE,
                 only_rows: np.ndarray | None = None, links: CouponLinks | None = None,
                 rules: str | None = None,
                 printed_coupons: frozenset[str] | None = None) -> list[Problem]:
    """Check a referral table against every rule in :data:`RULES` (except the store's cascade rule).

    Parameters
    ----------
    table
        The normalised referral table (:func:`hiddenpop.io.referrals.read_referral_log`). Row numbers
        come from its ``source_row`` column; a ``source_file`` column (store) names each row's file.
    source
        File name used in messages (default ``table.attrs["source"]``).
    design_requires_point
        Seeds must carry a ``point_id`` (two-stage designs where seeds are found at points).
    max_coupons
        Maximum coupons per respondent in the design (``None``: not checked).
    max_network_size
        Network sizes above this are flagged as implausible.
    only_rows
        Boolean mask: report only problems located on these rows (the store checks new rows
        against the stored ones this way).
    links
        :func:`~hiddenpop.referrals.coupons.link_coupons` of ``table`` if already computed.
    rules
        ``"field"`` (default) or ``"finished"``: the severities and the linking
        (:data:`hiddenpop.referrals.coupons.LINK_RULES`); default ``links.rules`` or ``table.attrs["link_rules"]``.
    printed_coupons
        Coupon numbers the store knows: printed by ``hiddenpop field coupons`` or already in its
        data. When given (the store has printed coupons), every other coupon number is checked:
        a wrong check digit (:func:`hiddenpop.field.codes.is_valid_code`) is ``coupon-check-digit``,
        a well-formed unknown number ``coupon-not-printed``. ``None``: no check (coupon names of any
        form are accepted).

    Returns
    -------
    list of Problem
        In row order; empty when the log is clean. Never raises for bad data.
    """
    out = _check(table, source=source, design_requires_point=design_requires_point, max_coupons=max_coupons,
                 max_network_size=max_network_size, links=links, rules=rules,
                 printed_coupons=printed_coupons)
    if only_rows is None:
        return out.result()
    return [p for i, _, p in sorted(out.items, key=lambda t: (t[0], t[1])) if only_rows[i]]


def located_problems(table: pd.DataFrame, *, source: str | None = None, design_requires_point: bool = False,
                     max_coupons: int | None = None, max_network_size: float = DEFAULT_MAX_NETWORK_SIZE,
                     links: CouponLinks | None = None, rules: str | None = None,
                     accepted: int = 0,
                     printed_coupons: frozenset[str] | None = None) -> list[tuple[int, int, Problem]]:
    """As :func:`validate_log`, each problem with its row position: ``(position, order found, problem)``.

    The import planner (:mod:`hiddenpop.referrals.intake`) uses the positions to tell stored rows
    from rows of the incoming file. ``accepted``: the first rows are already in the store; a coupon
    that becomes ambiguous because a new row issued it again, while all its redeemers are stored,
    is reported on that new row (a stored row cannot be quarantined).
    """
    return _check(table, source=source, design_requires_point=design_requires_point, max_coupons=max_coupons,
                  max_network_size=max_network_size, links=links, rules=rules, accepted=accepted,
                  printed_coupons=printed_coupons).items


def _check(table: pd.DataFrame, *, source: str | None, design_requires_point: bool, max_coupons: int | None,
           max_network_size: float, links: CouponLinks | None, rules: str | None = None,
           accepted: int = 0, printed_coupons: frozenset[str] | None = None) -> "_Collector":
    """All rules; the collector keeps each problem's row position (``items``).

    ``accepted``: the first rows are already in the store (they cannot be quarantined): an ambiguous
    coupon whose redeemers are all among them is reported on the new rows that issued it again.
    """
    source = source or table.attrs.get("source", "referral log")
    n = len(table)
    if links is None:
        links = link_coupons(table, rules=rules)
    rules = links.rules
    out = _Collector(table, source, rules)
    if n == 0:
        return out
    ids = links.ids
    rows = out.rows

    # ids
    missing = np.flatnonzero(ids == "")
    out.add("missing-id", missing, "respondent_id", [None] * len(missing), "respondent id is empty")
    dup = pd.Series(ids, dtype=object).duplicated(keep="first").to_numpy() & (ids != "")
    if dup.any():
        first = pd.Series(np.arange(n)).groupby(ids).transform("first").to_numpy()
        d = np.flatnonzero(dup)
        out.add("duplicate-id", d, "respondent_id", ids[d],
                lambda k, i: f"duplicate respondent id (first used on row {rows[first[i]]}"
                             + (f" of {out.files[first[i]]}" if out.files is not None and out.files[first[i]]
                                and out.files[first[i]] != out.files[i] else "") + ")")

    def who(i: int) -> str:
        return f"{ids[i]} (row {rows[i]}" + (f" of {out.files[i]}" if out.files is not None and out.files[i]
                                             and out.files[i] != source else "") + ")"

    # a coupon written twice on one form: harmless
    rep = links.repeated_issuer
    out.add("coupon-repeated-on-form", rep, "issued_coupons", links.repeated_coupon,
            lambda k, i: f"coupon {links.repeated_coupon[k]} is written twice on this form")
    # coupons issued to several respondents
    multi = links.coupon_n_issuers > 1  # only codes issued to several respondents
    issuers_of = pd.Series(links.coupon_issuer[multi]).groupby(links.coupon[multi]).agg(list) if multi.any() else \
        pd.Series(dtype=object)
    twice = np.flatnonzero(~links.coupon_first)
    redeemed_codes = set(links.redeemed[links.redeemed != ""].tolist()) if len(twice) else set()
    unredeemed = [k for k in twice if links.coupon[k] not in redeemed_codes]
    if unredeemed:
        firsts = pd.Series(links.coupon_issuer[links.coupon_first], index=links.coupon[links.coupon_first])
        codes = links.coupon_raw[unredeemed]
        norm = links.coupon[unredeemed]
        out.add("coupon-issued-twice", links.coupon_issuer[unredeemed], "issued_coupons", codes,
                lambda k, i: f"coupon {codes[k]} was also issued to respondent {who(firsts[norm[k]])}; "
                             "nobody came with it")
    # redeemers of such a code: their recruiter is ambiguous (codes are never empty, so "" never matches)
    amb = np.flatnonzero(pd.Index(issuers_of.index).get_indexer(links.redeemed) >= 0) if len(issuers_of) else \
        np.zeros(0, dtype=np.int64)
    if len(amb):
        def amb_msg(k: int, i: int, code: str) -> str:
            iss = issuers_of[code]
            red = np.flatnonzero(links.redeemed == code)
            text = (f"coupon {code} was issued to {len(iss)} respondents ({', '.join(who(j) for j in iss)}) and "
                    f"redeemed by {', '.join(who(j) for j in red)}: the recruiter is ambiguous")
            if rules == "finished":
                text += f"; linked to {ids[iss[-1]]}, the last row that lists it, as R's rid.from.coupons does"
            return text
        new_red = amb[amb >= accepted]
        codes = links.redeemed[new_red]
        out.add("coupon-issuer-ambiguous", new_red, "redeemed_coupon", links.redeemed_raw[new_red],
                lambda k, i: amb_msg(k, i, codes[k]))
        # every redeemer already stored: the new rows that issued the coupon again carry the problem
        stored_only = sorted(set(links.redeemed[amb[amb < accepted]]) - set(codes))
        for code in stored_only:
            late = [j for j in issuers_of[code] if j >= accepted]
            out.add("coupon-issuer-ambiguous", np.array(late, dtype=np.int64), "issued_coupons", [code] * len(late),
                    lambda k, i, c=code: amb_msg(k, i, c))
    # printed coupons: a mistyped number (check digit) or one that was never printed
    if printed_coupons is not None:
        _check_printed(out, links, printed_coupons)
    # redeemed
    never = np.flatnonzero(links.redeemed_issuer == -2)
    out.add("coupon-never-issued", never, "redeemed_coupon", links.redeemed_raw[never],
            "redeemed coupon was never issued to any respondent")
    again = np.flatnonzero((links.redeemed != "") & ~links.redeem_first & (links.redeemed_issuer >= 0)
                           & (links.redeemed_issuer != -3))
    if len(again):
        first_red = pd.Series(np.arange(n)).groupby(links.redeemed).transform("first").to_numpy()
        out.add("coupon-redeemed-twice", again, "redeemed_coupon", links.redeemed_raw[again],
                lambda k, i: f"coupon was also redeemed by respondent {who(first_red[i])}; both are linked to "
                             f"{ids[links.redeemed_issuer[i]]}, who was issued it")
    spell = np.flatnonzero(links.spelling_differs)
    if len(spell):
        first_raw = pd.Series(links.coupon_raw[links.coupon_first], index=links.coupon[links.coupon_first])
        out.add("coupon-spelling-differs", spell, "redeemed_coupon", links.redeemed_raw[spell],
                lambda k, i: f"coupon '{links.redeemed_raw[i]}' was issued as '{first_raw[links.redeemed[i]]}'; "
                             "taken as the same coupon")
    selfrec = np.flatnonzero((links.redeemed_issuer == np.arange(n)) | (links.parent == np.arange(n)))
    out.add("self-recruitment", selfrec, "redeemed_coupon", links.redeemed_raw[selfrec],
            "the respondent redeemed a coupon that was issued to themself")
    unknown = np.flatnonzero((links.redeemed == "") & (links.explicit_pos == -2))
    out.add("unknown-recruiter", unknown, "recruiter_id", links.explicit[unknown],
            "recruiter id is not a respondent in the data")
    mism = np.flatnonzero((links.redeemed_issuer >= 0) & (links.explicit != "")
                          & (links.explicit != ids[np.maximum(links.redeemed_issuer, 0)]))
    out.add("recruiter-mismatch", mism, "recruiter_id", links.explicit[mism],
            lambda k, i: f"the redeemed coupon {links.redeemed_raw[i]} was issued to "
                         f"{ids[links.redeemed_issuer[i]]}, not to this recruiter")

    parent = links.parent.copy()
    parent[selfrec] = -1
    # cycles
    cyc = _cycle_members(parent)
    if len(cyc):
        out.add("recruitment-cycle", cyc, "redeemed_coupon", links.redeemed[cyc],
                lambda k, i: "recruitment cycle: " + _cycle_text(i, parent, ids))
        parent[cyc] = -1

    # seeds without point
    if design_requires_point:
        pt = table["point_id"].astype(object).to_numpy() if "point_id" in table.columns else np.full(n, None)
        no_pt = pd.isna(pt) | (pd.Series(pt, dtype=object).astype(str).str.strip() == "").to_numpy()
        is_seed = (links.redeemed == "") & (links.explicit == "")
        bad = np.flatnonzero(is_seed & no_pt)
        out.add("seed-without-point", bad, "point_id", [None] * len(bad),
                "seed (no redeemed coupon) without a point_id")

    # times
    raw_t = table["interview_time"].astype(object).to_numpy() if "interview_time" in table.columns else np.full(n, None)
    t_missing = pd.isna(raw_t)
    times = parse_times(raw_t)
    bad_t = np.flatnonzero(~t_missing & times.isna().to_numpy())
    out.add("time-not-iso", bad_t, "interview_time", raw_t[bad_t], "interview time is not an ISO 8601 date-time")
    # a log without any interview time (e.g. R RDS data) gets no per-row "missing" warning
    tm = np.flatnonzero(t_missing) if (~t_missing).any() else np.array([], dtype=np.int64)
    out.add("time-missing", tm, "interview_time", [None] * len(tm), "interview time is missing")
    has_p = np.flatnonzero(parent >= 0)
    tv = times.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    early = has_p[(tv[has_p] < tv[parent[has_p]])]
    out.add("recruit-before-recruiter", early, "interview_time", raw_t[early],
            lambda k, i: f"interviewed before the recruiter {ids[parent[i]]} (row {rows[parent[i]]}, "
                         f"{raw_t[parent[i]]})")

    # coupons per recruiter
    n_rec = np.bincount(parent[parent >= 0], minlength=n)
    n_iss = np.bincount(links.coupon_issuer, minlength=n)
    recorded = len(links.coupon) > 0
    if recorded:
        over = np.flatnonzero(n_rec > n_iss)
        out.add("more-recruits-than-coupons", over, "issued_coupons", [None] * len(over),
                lambda k, i: f"{n_rec[i]} recruits but {n_iss[i]} coupon(s) recorded as issued")
    if max_coupons is not None:
        over = np.flatnonzero(n_iss > max_coupons)
        out.add("more-coupons-than-allowed", over, "issued_coupons", n_iss[over],
                lambda k, i: f"{n_iss[i]} coupons issued, the design allows {max_coupons}")

    # network sizes
    for col in ("network_size", "network_size_eligible"):
        if col not in table.columns:
            continue
        raw = table[col].astype(object).to_numpy()
        num = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(dtype=float)
        miss = pd.isna(raw)
        text = np.flatnonzero(~miss & np.isnan(num))
        out.add("network-size-not-number", text, col, raw[text], f"{col.replace('_', ' ')} is not a number")
        neg = np.flatnonzero(num < 0)
        out.add("network-size-negative", neg, col, num[neg], f"{col.replace('_', ' ')} is negative")
        frac = np.flatnonzero((num >= 0) & (np.mod(num, 1) != 0))
        out.add("network-size-not-whole", frac, col, num[frac], f"{col.replace('_', ' ')} is not a whole number")
        big = np.flatnonzero(num > max_network_size)
        out.add("network-size-implausible", big, col, num[big],
                f"{col.replace('_', ' ')} above the plausible maximum of {max_network_size:g}")
        if col == "network_size":
            m = np.flatnonzero(miss)
            out.add("network-size-missing", m, col, [None] * len(m), "network size is missing")
            z = np.flatnonzero(num == 0)
            out.add("network-size-zero", z, col, num[z],
                    lambda k, i: "network size is 0" + (" (the respondent was recruited, so they know at least one "
                                                        "household)" if parent[i] >= 0 else ""))
            below = np.flatnonzero((num > 0) & (num < n_rec))
            out.add("network-size-below-recruits", below, col, num[below],
                    lambda k, i: f"network size {num[i]:g} is below the {n_rec[i]} recruits made")
            deg = num
        elif "network_size" in table.columns:
            above = np.flatnonzero(num > deg)
            out.add("eligible-above-network-size", above, col, num[above],
                    lambda k, i: f"{num[i]:g} eligible contacts but a network size of {deg[i]:g}")
    return out


def _check_printed(out: "_Collector", links: CouponLinks, known: frozenset[str]) -> None:
    """``coupon-check-digit`` / ``coupon-not-printed`` on the redeemed and the issued coupons.

    Numbers are checked as matched (:func:`~hiddenpop.referrals.coupons.normalise_coupons`: a
    spreadsheet's ``100014.0`` or a leading zero is not a typing error of the digits; printed numbers
    never start with 0), against the known numbers spelled the same way (a number already in the data
    as ``01901`` stays valid); problems show the number as typed.
    """
    from hiddenpop.field.codes import is_valid_code

    known = frozenset(known) | frozenset(normalise_coupons(np.array(sorted(known), dtype=object)).tolist())
    red = np.flatnonzero(links.redeemed != "")
    for column, pos, vals, typed in (("redeemed_coupon", red, links.redeemed[red], links.redeemed_raw[red]),
                                     ("issued_coupons", links.coupon_issuer, links.coupon, links.coupon_raw)):
        unknown = np.array([v not in known for v in vals], dtype=bool)
        if not unknown.any():
            continue
        valid = np.array([is_valid_code(v) for v in vals], dtype=bool)
        what = "redeemed coupon" if column == "redeemed_coupon" else "issued coupon"
        vals = typed
        bad = unknown & ~valid
        out.add("coupon-check-digit", pos[bad], column, vals[bad],
                lambda k, i, vb=vals[bad], w=what: f"{w} {vb[k]} is not a valid coupon number (wrong check digit "
                                                   "or not six digits: a typing error)")
        nop = unknown & valid
        out.add("coupon-not-printed", pos[nop], column, vals[nop],
                lambda k, i, vn=vals[nop], w=what: f"{w} {vn[k]} has a valid check digit but was never printed "
                                                   "for this survey")


def _cycle_members(parent: np.ndarray) -> np.ndarray:
    """Positions on a directed cycle of the recruiter map (linear time)."""
    n = len(parent)
    reached = np.zeros(n, dtype=bool)
    offsets, kids = children_csr(parent)
    frontier = np.flatnonzero(parent < 0)
    while len(frontier):
        reached[frontier] = True
        starts, ends = offsets[frontier], offsets[frontier + 1]
        cnt = ends - starts
        if cnt.sum() == 0:
            break
        idx = np.repeat(starts - np.concatenate(([0], np.cumsum(cnt)[:-1])), cnt) + np.arange(cnt.sum())
        frontier = kids[idx]
    stuck = np.flatnonzero(~reached)
    if not len(stuck):
        return stuck
    state = np.zeros(n, dtype=np.int8)  # 0 new, 1 on path, 2 done
    on_cycle = []
    for s in stuck:
        path = []
        v = s
        while v >= 0 and state[v] == 0:
            state[v] = 1
            path.append(v)
            v = parent[v]
        if v >= 0 and state[v] == 1:
            on_cycle.extend(path[path.index(v):])
        for p in path:
            state[p] = 2
    return np.array(sorted(on_cycle), dtype=np.int64)


def _cycle_text(i: int, parent: np.ndarray, ids: np.ndarray) -> str:
    """``A → B → C → A`` (recruiter → recruit) for the cycle through position ``i``."""
    up = [i]
    v = int(parent[i])
    while v != i and len(up) < 50:
        up.append(v)
        v = int(parent[v])
    return f"{ids[i]} → " + " → ".join(str(ids[x]) for x in reversed(up)) + " (recruiter → recruit)"


def quarantine_rows(table: pd.DataFrame, problems: list[Problem], *,
                    links: CouponLinks | None = None) -> dict[int, list[Problem]]:
    """Positions of rows to quarantine: rows with an error, and every row recruited below one.

    Returns a dict position → the problems that send it to quarantine (cascaded rows get a
    ``recruiter-quarantined`` problem naming the recruiter). Problems are matched to rows by
    file and row number.
    """
    n = len(table)
    if not problems:
        return {}
    rows = source_rows(table)
    files = table["source_file"].astype(object).to_numpy() if "source_file" in table.columns else None
    src = table.attrs.get("source", "referral log")
    key = {}
    for i in range(n):
        key.setdefault(((files[i] if files is not None else None) or src, int(rows[i])), i)
    bad: dict[int, list[Problem]] = {}
    for p in problems:
        if p.severity != "error":
            continue
        i = key.get((p.source, p.row))
        if i is not None:
            bad.setdefault(i, []).append(p)
    return cascade_quarantine(table, bad, links=links)


def cascade_quarantine(table: pd.DataFrame, bad: dict[int, list[Problem]], *,
             links: CouponLinks | None = None) -> dict[int, list[Problem]]:
    """Add every row recruited (directly or not) below a row of ``bad`` (position → its errors)."""
    n = len(table)
    if not bad:
        return bad
    rows = source_rows(table)
    ids = table["respondent_id"].astype(object).to_numpy()
    files = table["source_file"].astype(object).to_numpy() if "source_file" in table.columns else None
    src = table.attrs.get("source", "referral log")
    parent = (link_coupons(table) if links is None else links).parent.copy()
    parent[parent == np.arange(n)] = -1
    offsets, kids = children_csr(parent)
    fix = RULES["recruiter-quarantined"][1]
    stack = list(bad)
    while stack:
        v = stack.pop()
        for c in kids[offsets[v]:offsets[v + 1]]:
            c = int(c)
            if c not in bad:
                bad[c] = [Problem("recruiter-quarantined", "error",
                                  (files[c] if files is not None else None) or src, int(rows[c]), None, None,
                                  f"recruiter {ids[v]} (row {rows[v]}) is quarantined", fix, str(ids[c]))]
                stack.append(c)
    return bad


def network_size_for_estimation(network_size: Any, *, rule: str = "max", minimum: Any = None, warn: bool = True,
                                ids: Any = None) -> np.ndarray:
    """Network sizes as the estimators use them: missing or zero → the largest valid size.

    This parses a raw network-size column (non-numeric → missing), refuses negative values
    and then applies the package's single zero/missing rule,
    :func:`hiddenpop.rds.sample.clean_degree` (default ``"max"``, R ``RDS``'s rule in its
    estimation path, chosen so our estimates compare with R's; ``"median"`` the alternative),
    which is also what :meth:`hiddenpop.rds.sample.RDSSample.clean_degree` and the weighting
    engine's deeper-wave weights use. Negative values are invalid data (quarantined by the
    store) and raise :class:`~hiddenpop.errors.RecruitmentError` here.

    >>> network_size_for_estimation([3, 0, None, 7], warn=False).tolist()
    [3.0, 7.0, 7.0, 7.0]
    >>> network_size_for_estimation([3, 0, None, 7], rule="median", warn=False).tolist()
    [3.0, 5.0, 5.0, 7.0]
    >>> network_size_for_estimation([3, -2], ids=["A", "B"], warn=False)
    Traceback (most recent call last):
    ...
    hiddenpop.errors.RecruitmentError: column 'network_size', value -2: 1 negative network size(s): respondent B (-2). Fix: ...
    """
    from hiddenpop.rds.sample import clean_degree

    d = pd.to_numeric(pd.Series(network_size, dtype=object), errors="coerce").to_numpy(dtype=float)
    if (d < 0).any():
        from hiddenpop.errors import RecruitmentError, truncate_list

        neg = np.flatnonzero(d < 0)
        who = list(ids) if ids is not None else None
        shown = truncate_list(f"{'respondent ' + str(who[i]) if who is not None else 'position ' + str(i)} "
                              f"({d[i]:g})" for i in neg)
        raise RecruitmentError(f"{len(neg)} negative network size(s): {shown}",
                               where=format_where(column="network_size", value=_value(d[neg[0]])),
                               fix="correct them (`hiddenpop referrals validate` lists the rows)")
    return clean_degree(d, rule=rule, minimum=minimum, warn=warn, ids=ids)
