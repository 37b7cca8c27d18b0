"""The referral store read as plain Python rows (stdlib ``sqlite3`` only, no pandas).

``hiddenpop referrals status`` answers in a fraction of a second because it neither imports
pandas nor numpy: it reads the store here and counts with
:mod:`hiddenpop.referrals.quickstatus`. Everything else reads the store through
:class:`hiddenpop.io.store.ReferralStore`, which gives DataFrames; both read the same tables
(``tests/referrals/test_quickstatus.py`` checks that they agree).

Examples
--------
>>> import tempfile, pathlib
>>> from hiddenpop.io.store import ReferralStore
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "day1.csv").write_text("respondent_id,redeemed_coupon,issued_coupons,team\\nA,,c1;c2,t1\\nB,c1,,t2\\n")
>>> _ = ReferralStore.create(d / "s.db").import_file(d / "day1.csv")
>>> rows = read_store_rows(d / "s.db")
>>> [(r["respondent_id"], r["issued_coupons"], r["team"]) for r in rows.respondents]
[('A', 'c1;c2', 't1'), ('B', None, 't2')]
>>> rows.link_rules, rows.settings["expiry_days"]
('field', None)
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hiddenpop.errors import InputFileError
from hiddenpop.referrals.schema import CORE_COLUMNS, stored_link_rules

__all__ = ["StoreRows", "read_store_rows", "SCHEMA_VERSION", "X", "STORE_SETTINGS"]

#: the store layout (the one definition: :mod:`hiddenpop.io.storedb` and the store import it from here,
#: the lowest module that reads the store, so the pandas-free status needs no copy)
SCHEMA_VERSION = "2"
X = "x:"  #: SQLite name prefix of carried-through columns
#: the design settings kept in the store's ``meta`` table (JSON values)
STORE_SETTINGS = ("design_requires_point", "max_coupons", "expiry_days", "max_network_size")


@dataclass
class StoreRows:
    """A store's accepted respondents, waiting rows and last quarantine as lists of dicts.

    Attributes
    ----------
    respondents : accepted rows (not withdrawn) in store order: the core columns (text, ``None`` when
        empty; network sizes as stored), the carried-through columns under their own names
        (text), ``source_file`` and ``source_row``.
    pending : rows waiting for their recruiter, in store order (same keys).
    quarantine : the problems of the latest import (``source_file, source_row, respondent_id, rule,
        column_name, value, message, fix``).
    settings : the design settings (``expiry_days``, ``max_coupons``, …).
    link_rules : ``"finished"`` once a finished-study import landed, else ``"field"``.
    columns : the respondents' column names in store order.
    """

    respondents: list[dict[str, Any]]
    pending: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    settings: dict[str, Any]
    link_rules: str
    columns: list[str] = field(default_factory=list)


def _rows(con: sqlite3.Connection, sql: str, params: tuple = ()) -> tuple[list[str], list[dict[str, Any]]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return names, [dict(zip(names, r)) for r in cur.fetchall()]


def _named(names: list[str], rows: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Stored names → the names of the respondents table (``x:team`` → ``team``)."""
    keep = [c for c in names if c in CORE_COLUMNS or c.startswith(X) or c in ("source_file", "source_row")]
    out_names = [c[len(X):] if c.startswith(X) else c for c in keep]
    return out_names, [{o: r[c] for o, c in zip(out_names, keep)} for r in rows]


def read_store_rows(path: Path | str) -> StoreRows:
    """Read what the evening status needs from the store at ``path``.

    Raises
    ------
    InputFileError
        No such file, or not a hiddenpop store of this version (the messages of
        :meth:`hiddenpop.io.store.ReferralStore.open`).
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError("store not found", where=str(p), fix="create it first: hiddenpop referrals init " + str(p))
    try:
        con = sqlite3.connect(p, timeout=30)  # nothing is written
    except sqlite3.Error as exc:
        raise InputFileError(f"not a hiddenpop store ({exc})", where=str(p),
                             fix="give the file made by `hiddenpop referrals init`") from exc
    try:
        try:
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise InputFileError(f"not a hiddenpop store ({exc})", where=str(p),
                                 fix="give the file made by `hiddenpop referrals init`") from exc
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise InputFileError("not a hiddenpop store of this version", where=str(p),
                                 fix="give the file made by `hiddenpop referrals init`")
        settings = {k: json.loads(meta[k]) for k in STORE_SETTINGS if k in meta}
        settings["created_at"] = meta.get("created_at")
        names, rows = _rows(con, "SELECT * FROM respondents WHERE withdrawn=0 ORDER BY pos")
        columns, respondents = _named(names, rows)
        pnames, prows = _rows(con, "SELECT * FROM pending ORDER BY pos")
        _, pending = _named(pnames, prows)
        hints = [json.loads(h) for (h,) in con.execute("SELECT hints FROM imports WHERE status='done' "
                                                       "ORDER BY import_id").fetchall() if h]
        last = con.execute("SELECT max(import_id) FROM imports").fetchone()[0] or 0
        q = "SELECT * FROM quarantine" + ("" if last == 0 else " WHERE import_id=?")
        _, quarantine = _rows(con, q, () if last == 0 else (last,))
    finally:
        con.close()
    rules = stored_link_rules(hints)
    return StoreRows(respondents=respondents, pending=pending, quarantine=quarantine, settings=settings,
                     link_rules=rules, columns=columns)
