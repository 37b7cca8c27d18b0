"""Column names of the referral stage, in one place.

The readers (:mod:`hiddenpop.io.referrals`) produce the **normalised referral table**: the
:data:`CORE_COLUMNS`, ``source_row`` (and ``source_file`` once stored), then every other column of
the export carried through as text. The store keeps those rows; :mod:`hiddenpop.referrals.derive`
adds the :data:`DERIVED_COLUMNS`. Everything else (validation, field status, graphs, exports, the
weighting join) reads these names from here.

>>> CORE_COLUMNS[:3]
('respondent_id', 'redeemed_coupon', 'issued_coupons')
>>> "wave" in DERIVED_COLUMNS and "wave" not in CORE_COLUMNS
True
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["CORE_COLUMNS", "NUMERIC_CORE", "COUPON_SEP", "DEFAULT_PERSONAL", "DERIVED_COLUMNS", "SOURCE_COLUMNS",
           "LOCATION_COLUMNS", "WAITING_RULES", "IMPORT_FORMATS", "HASH_PREFIX", "RULE_SETS", "TEAM_COLUMNS",
           "stored_link_rules"]

#: the columns (docs/data-contract.md, "Referral log") of every referral table, in this order
CORE_COLUMNS = ("respondent_id", "redeemed_coupon", "issued_coupons", "recruiter_id", "point_id",
                "network_size", "network_size_eligible", "interview_time")
#: core columns holding numbers (the raw text is kept when a cell is not a number)
NUMERIC_CORE = ("network_size", "network_size_eligible")
#: separator of the issued coupons inside the one ``issued_coupons`` cell
COUPON_SEP = ";"
#: where a row was typed: the file and the row number the user sees (header = row 1)
SOURCE_COLUMNS = ("source_file", "source_row")
#: column names treated as personal (hashed in the store, never exported) even without a mapping file
DEFAULT_PERSONAL = ("name", "full_name", "respondent_name", "head_name", "phone", "phone_number",
                    "telephone", "mobile", "mobile_number")
#: prefix of the salted hash that replaces a personal column in the store (``_hash_phone``)
HASH_PREFIX = "_hash_"
#: exact household coordinates: carried through, but never in shareable outputs unless asked
LOCATION_COLUMNS = ("lon", "lat")
#: columns :func:`hiddenpop.referrals.derive.derive_columns` adds to the stored data
DERIVED_COLUMNS = ("wave", "seed_id", "is_seed", "n_recruits", "chain_size", "coupons_issued", "coupons_redeemed",
                   "coupons_outstanding", "coupons_expired", "return_rate", "found_by")
#: quarantined rows with only these problems wait in the store's ``pending`` table for their recruiter
WAITING_RULES = frozenset({"coupon-never-issued", "unknown-recruiter", "recruiter-quarantined"})
#: file formats a referral log can be read from (``auto`` looks at the extension and first line)
IMPORT_FORMATS = ("auto", "log", "rds-csv", "rdsat")
#: import policies (``referrals import --rules``): the evening loop, and a finished study from another tool
#: (meanings: :data:`hiddenpop.referrals.coupons.LINK_RULES`)
RULE_SETS = ("field", "finished")
#: carried-through columns that name the team or interviewer who met the recruiter (first found is used)
TEAM_COLUMNS = ("team", "team_id", "enumerator", "enumerator_id", "interviewer", "interviewer_id", "username",
                "_submitted_by")


def stored_link_rules(hints: Iterable[Mapping[str, Any]]) -> str:
    """The linking rules of stored rows, from the ``hints`` of the imports that landed (in order).

    ``finished`` once a finished import landed (its rows may hold links only those rules resolve,
    e.g. a coupon nobody issued), ``field`` otherwise. Here, not in :mod:`~hiddenpop.referrals.intake`,
    because the evening status (:mod:`hiddenpop.io.storerows`) asks it without importing pandas.

    >>> stored_link_rules([{"link_rules": "field"}, {"link_rules": "finished"}]), stored_link_rules([{}])
    ('finished', 'field')
    """
    return "finished" if any(h.get("link_rules") == "finished" for h in hints) else "field"
