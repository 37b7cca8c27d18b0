"""The SQLite layer of the survey store: tables, connections, and moving rows in and out of SQLite.

:class:`hiddenpop.io.store.ReferralStore` decides what is written when (an import in one
transaction, the history, corrections, printed coupons). This module knows how: the schema and
its version, the connection settings that make a transaction atomic and durable, the conversion
of pandas values to what ``sqlite3`` binds (and of ``SELECT`` results back to tables), the
carried-through columns added on the fly, and the SQL that several store operations share.
Nothing here decides what an import does (:mod:`hiddenpop.referrals.intake`) or what a row means.

Layout
------
The referral-log columns of docs/data-contract.md are real SQLite columns of ``respondents`` (and
``pending``, the rows waiting for their recruiter): text, except the network sizes, stored as
numbers. Every carried-through column becomes a text column ``x:<name>`` (:data:`X`), added when a
file first brings it (:func:`add_columns`), so reading the store back is one ``SELECT``. ``meta``
holds the settings and the salt of the personal-field hashes, ``imports`` one row per import,
``history`` every replaced or withdrawn version, ``quarantine`` and ``warnings`` the problems of
each import; ``printed_coupons`` is created when coupons are first printed.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "s.hpstore"
>>> create_database(path, {"salt": "ab"})
>>> schema_version(path) == SCHEMA_VERSION
True
>>> with connect(path) as con:
...     select(con, "SELECT key, value FROM meta ORDER BY key").values.tolist()
[['salt', 'ab'], ['schema_version', '2']]
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from hiddenpop.errors import InputFileError
from hiddenpop.io.referrals import numeric_or_text
from hiddenpop.io.storerows import SCHEMA_VERSION, X
from hiddenpop.referrals.intake import cell_text
from hiddenpop.referrals.schema import CORE_COLUMNS, NUMERIC_CORE

__all__ = ["SCHEMA_VERSION", "X", "connect", "create_database", "schema_version", "read_meta", "now", "select",
           "load_rows", "stored_table", "unprefixed", "table_columns", "has_table", "add_columns", "insert",
           "update_rows", "update_one", "add_history", "history_from_rows", "ensure_history", "history_json_sql",
           "add_import", "add_problems", "plain_row", "create_printed_coupons", "dump"]

_META = ("content_hash", "import_id", "source_file", "source_row")
_MAX_COLUMNS = 1900  # SQLite's default limit is 2000 columns per table
_CORE_SQL = ("respondent_id TEXT, redeemed_coupon TEXT, issued_coupons TEXT, recruiter_id TEXT, point_id TEXT, "
             "network_size, network_size_eligible, interview_time TEXT")
_SCHEMA = f"""
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE imports(import_id INTEGER PRIMARY KEY, file TEXT NOT NULL, sha256 TEXT NOT NULL, format TEXT,
    imported_at TEXT NOT NULL, status TEXT NOT NULL, strict INTEGER NOT NULL, n_rows INTEGER, n_new INTEGER,
    n_unchanged INTEGER, n_changed INTEGER, n_conflicts INTEGER, n_quarantined INTEGER, n_released INTEGER,
    n_pending INTEGER, n_warnings INTEGER, mapping TEXT, hints TEXT);
CREATE TABLE respondents(pos INTEGER PRIMARY KEY, {_CORE_SQL.replace('respondent_id TEXT', 'respondent_id TEXT NOT NULL UNIQUE')},
    content_hash TEXT NOT NULL, import_id INTEGER, source_file TEXT, source_row INTEGER, revision INTEGER NOT NULL,
    withdrawn INTEGER NOT NULL DEFAULT 0);
CREATE TABLE pending(pos INTEGER PRIMARY KEY, {_CORE_SQL}, content_hash TEXT NOT NULL, import_id INTEGER,
    source_file TEXT, source_row INTEGER);
CREATE TABLE history(history_id INTEGER PRIMARY KEY, respondent_id TEXT NOT NULL, revision INTEGER NOT NULL,
    action TEXT NOT NULL, content_hash TEXT, data TEXT, import_id INTEGER, reason TEXT, at TEXT NOT NULL);
CREATE INDEX history_rid ON history(respondent_id);
CREATE TABLE quarantine(import_id INTEGER NOT NULL, source_file TEXT, source_row INTEGER, respondent_id TEXT,
    rule TEXT, column_name TEXT, value TEXT, message TEXT, fix TEXT);
CREATE TABLE warnings(import_id INTEGER NOT NULL, source_file TEXT, source_row INTEGER, respondent_id TEXT,
    rule TEXT, column_name TEXT, value TEXT, message TEXT, fix TEXT);
"""
_IMPORT_FIELDS = ("file", "sha256", "format", "imported_at", "status", "strict", "n_rows", "n_new", "n_unchanged",
                  "n_changed", "n_conflicts", "n_quarantined", "n_released", "n_pending", "n_warnings", "mapping",
                  "hints")


# ------------------------------------------------------------------------------ the file
def now() -> str:
    """The time stamps of the store: UTC, to the second, ISO 8601."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _q(name: str) -> str:
    """Quoted SQLite identifier."""
    return '"' + name.replace('"', '""') + '"'


def connect(path: Path) -> contextlib.closing[sqlite3.Connection]:
    """A connection in autocommit mode (transactions are explicit ``BEGIN``), closed at the end of ``with``.

    Rollback journal with a full sync at commit, and a page cache large enough that an import
    never spills dirty pages (and syncs the journal) before its commit: a crash or ``kill -9``
    mid-import leaves the file as it was before the ``BEGIN``.
    """
    con = sqlite3.connect(path, isolation_level=None, timeout=30)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA cache_size=-131072")
    con.execute("PRAGMA temp_store=MEMORY")
    return contextlib.closing(con)


def create_database(path: Path, meta: Mapping[str, str]) -> None:
    """Write a new store file at ``path`` (the schema and ``meta``), atomically: a half-made store
    never appears under the name. ``schema_version`` is added to ``meta``."""
    tmp = path.with_name(f".{path.name}.part")
    if tmp.exists():
        tmp.unlink()
    con = sqlite3.connect(tmp, isolation_level=None)
    try:
        con.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
        con.execute("BEGIN")
        con.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", SCHEMA_VERSION), *meta.items()])
        con.execute("COMMIT")
    finally:
        con.close()
    os.replace(tmp, path)


def schema_version(path: Path) -> str | None:
    """The schema version written in the file (``None`` if it has none; :class:`sqlite3.DatabaseError`
    if it is not an SQLite file)."""
    with connect(path) as con:
        row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return None if row is None else row[0]


def read_meta(con: sqlite3.Connection) -> dict[str, str]:
    """The ``meta`` table (settings as JSON text, the salt, the creation time)."""
    return dict(con.execute("SELECT key, value FROM meta").fetchall())


def dump(path: Path) -> list[str]:
    """The file's full content as SQL statements."""
    con = sqlite3.connect(path)
    try:
        return list(con.iterdump())
    finally:
        con.close()


# ------------------------------------------------------------------------------ reading rows
def _object(values: Any) -> pd.Series:
    """An object Series (pandas 3 would otherwise infer its own string dtype)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return pd.Series(arr, dtype=object)


def select(con: sqlite3.Connection, sql: str, params: tuple = ()) -> pd.DataFrame:
    """One SELECT into a DataFrame of object columns (None for NULL), names as in SQLite."""
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    cols = list(zip(*rows)) if rows else [()] * len(names)
    return pd.DataFrame({name: _object(col) for name, col in zip(names, cols)}, index=pd.RangeIndex(len(rows)))


def stored_table(df: pd.DataFrame) -> pd.DataFrame:
    """Stored rows → core columns, ``source_file``/``source_row``, carried-through columns (text)."""
    extras = [c for c in df.columns if c.startswith(X)]
    out = df[list(CORE_COLUMNS)].copy()
    for c in NUMERIC_CORE:
        out[c] = numeric_or_text(out[c])
    out["source_file"] = df["source_file"]
    out["source_row"] = pd.to_numeric(df["source_row"]).astype(np.int64) if len(df) else \
        pd.Series([], dtype=np.int64)
    for c in extras:
        out[c[len(X):]] = df[c]
    return out


def load_rows(con: sqlite3.Connection, *, include_withdrawn: bool = False) -> pd.DataFrame:
    """The ``respondents`` rows in import order as :func:`stored_table`, plus ``revision``."""
    cols = [c for c in table_columns(con) if c in CORE_COLUMNS or c.startswith(X)]
    cols += ["source_file", "source_row", "revision"]
    df = select(con, f"SELECT {', '.join(_q(c) for c in cols)} FROM respondents"
                + ("" if include_withdrawn else " WHERE withdrawn=0") + " ORDER BY pos")
    out = stored_table(df)
    out["revision"] = pd.to_numeric(df["revision"]).astype(np.int64) if len(df) else pd.Series([], dtype=np.int64)
    return out


def unprefixed(frame: pd.DataFrame) -> pd.DataFrame:
    """Stored rows (SQLite names) → storage names: core, carried-through (``x:`` removed), meta."""
    keep = [c for c in frame.columns if c in CORE_COLUMNS or c.startswith(X) or c in _META]
    out = frame[keep].reset_index(drop=True)
    out.columns = [c[len(X):] if c.startswith(X) else c for c in keep]
    return out


def table_columns(con: sqlite3.Connection, table: str = "respondents") -> list[str]:
    """The columns of ``table``, in order."""
    return [r[1] for r in con.execute(f"PRAGMA table_info({table})").fetchall()]


def has_table(con: sqlite3.Connection, name: str) -> bool:
    """True when the file has the table ``name`` (``printed_coupons`` exists once coupons were printed)."""
    return con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


# ------------------------------------------------------------------------------ writing rows
def _plain(v: Any) -> Any:
    """A value sqlite3 accepts: Python scalars, None for missing."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float):
        return None if v != v else v
    if isinstance(v, np.generic):
        v = v.item()
        return None if isinstance(v, float) and v != v else v
    return v


def _plain_list(col: pd.Series) -> list:
    """A column as values sqlite3 binds (fast paths for the dtypes a storage frame has)."""
    if col.dtype.kind in "iub":
        return col.to_numpy().tolist()
    if col.dtype.kind == "f":
        return [None if v != v else v for v in col.to_numpy().tolist()]
    arr = col.to_numpy(dtype=object)
    kind = infer_dtype(arr, skipna=True)
    if kind in ("string", "empty"):
        arr = arr.copy()
        arr[pd.isna(arr)] = None
        return arr.tolist()
    if kind in ("floating", "integer", "mixed-integer-float"):
        return [None if (v is None or v is pd.NA or v != v) else (v if type(v) in (float, int) else _plain(v))
                for v in arr.tolist()]
    return [v if (v is None or type(v) is str) else _plain(v) for v in arr]


def plain_row(row: pd.DataFrame) -> list:
    """The values of a one-row frame as sqlite3 binds them."""
    return [_plain(row[c].iat[0]) for c in row.columns]


def _sql_names(cols: list[str]) -> list[str]:
    return [c if (c in CORE_COLUMNS or c in _META or c in ("revision", "withdrawn")) else _q(X + c) for c in cols]


def add_columns(con: sqlite3.Connection, extras: list[str], *, where: str) -> None:
    """Add a text column ``x:<name>`` to ``respondents`` and ``pending`` for each new carried column."""
    have = table_columns(con)
    new = [c for c in extras if X + c not in have]
    if len(have) + len(new) > _MAX_COLUMNS:
        raise InputFileError(f"the store would hold {len(have) + len(new)} columns (at most {_MAX_COLUMNS})",
                             where=where,
                             fix="leave out the columns you do not need with drop = [...] in the mapping file")
    for c in new:
        for t in ("respondents", "pending"):
            con.execute(f"ALTER TABLE {t} ADD COLUMN {_q(X + c)} TEXT")


def insert(con: sqlite3.Connection, table: str, frame: pd.DataFrame) -> None:
    """INSERT the rows of ``frame`` (storage names): columns that are empty in every row are left to
    their NULL default and columns with one value in every row (import id, file, revision) are
    bound once as SQL literals, so SQLite binds only what varies."""
    if not len(frame):
        return
    cols, values, fixed = [], [], {}
    for c in frame.columns:
        vals = _plain_list(frame[c])
        first = vals[0]
        if (first is None or type(first) is int or (type(first) is str and "\x00" not in first)) \
                and vals.count(first) == len(vals):
            if first is not None:
                fixed[c] = first
            continue
        cols.append(c)
        values.append(vals)
    names = _sql_names(cols) + _sql_names(list(fixed))
    literals = [str(v) if type(v) is int else "'" + v.replace("'", "''") + "'" for v in fixed.values()]
    sql = f"INSERT INTO {table}({', '.join(names)}) VALUES ({', '.join(['?'] * len(cols) + literals)})"
    if cols:
        con.executemany(sql, zip(*values))
    else:
        con.executemany(sql, [()] * len(frame))


def update_rows(con: sqlite3.Connection, changed: pd.DataFrame) -> None:
    """Replace the data of the stored respondents in ``changed`` (storage names), one revision up;
    carried-through columns the new version lacks are emptied."""
    cols = list(changed.columns)
    cleared = [c for c in table_columns(con) if c.startswith(X) and c[len(X):] not in cols]
    sets = [f"{n}=?" for n in _sql_names(cols)] + [f"{_q(c)}=NULL" for c in cleared]
    values = [_plain_list(changed[c]) for c in cols] + [_plain_list(changed["respondent_id"])]
    con.executemany(f"UPDATE respondents SET {', '.join(sets)}, revision=revision+1 WHERE respondent_id=?",
                    zip(*values))


def update_one(con: sqlite3.Connection, rid: str, row: pd.DataFrame, content_hash: str, *, where: str) -> int:
    """Replace the data of respondent ``rid`` by the one-row ``row`` (storage names); its new revision."""
    add_columns(con, [c for c in row.columns if c not in CORE_COLUMNS], where=where)
    sets = ", ".join(f"{n}=?" for n in _sql_names(list(row.columns)))
    con.execute(f"UPDATE respondents SET {sets}, content_hash=?, revision=revision+1 WHERE respondent_id=? "
                "AND withdrawn=0", (*plain_row(row), content_hash, rid))
    return con.execute("SELECT revision FROM respondents WHERE respondent_id=?",
                       (row["respondent_id"].iat[0],)).fetchone()[0]


# ------------------------------------------------------------------------------ imports and history
def add_import(con: sqlite3.Connection, **fields: Any) -> int:
    """One row of ``imports`` (fields named as its columns; ``mapping`` and ``hints`` as JSON text); its id."""
    values = [fields[k] for k in _IMPORT_FIELDS]
    cur = con.execute(f"INSERT INTO imports({', '.join(_IMPORT_FIELDS)}) VALUES ({', '.join('?' * len(values))})",
                      values)
    return cur.lastrowid


def add_problems(con: sqlite3.Connection, table: str, import_id: int, problems: Iterable[Any]) -> None:
    """The problems of an import (:class:`~hiddenpop.referrals.validate.Problem`) into ``quarantine``
    or ``warnings``."""
    con.executemany(f"INSERT INTO {table} VALUES (?,?,?,?,?,?,?,?,?)",
                    [(import_id, q.source, q.row, q.respondent_id, q.rule, q.column, cell_text(q.value),
                      q.message, q.fix) for q in problems])


def add_history(con: sqlite3.Connection, rid: str, revision: int, action: str, *, content_hash: str | None = None,
                data: str | None = None, import_id: int | None = None, reason: str | None = None) -> None:
    """One row of ``history``, stamped now."""
    con.execute("INSERT INTO history(respondent_id, revision, action, content_hash, data, import_id, reason, at) "
                "VALUES (?,?,?,?,?,?,?,?)", (rid, revision, action, content_hash, data, import_id, reason, now()))


def history_json_sql(con: sqlite3.Connection, alias: str = "") -> str:
    """SQL expression: the row's non-empty data columns as a JSON object (for the history)."""
    cols = [c for c in table_columns(con) if c in CORE_COLUMNS or c.startswith(X)]
    pre = f"{alias}." if alias else ""
    expr = "'{}'"
    for k in range(0, len(cols), 60):  # SQLite functions take at most 127 arguments
        pairs = ", ".join(f"'{(c[len(X):] if c.startswith(X) else c).replace(chr(39), chr(39) * 2)}', "
                          f"{pre}{_q(c)}" for c in cols[k:k + 60])
        expr = f"json_patch({expr}, json_object({pairs}))"
    return expr


def _temp_ids(con: sqlite3.Connection, name: str, rows: list[tuple]) -> None:
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name}(respondent_id TEXT PRIMARY KEY, reason TEXT)")
    con.execute(f"DELETE FROM {name}")
    con.executemany(f"INSERT OR REPLACE INTO {name} VALUES (?, ?)", rows)


def history_from_rows(con: sqlite3.Connection, reasons: list[tuple[str, str | None]], *, import_id: int,
                      at: str) -> None:
    """Log the stored versions of the respondents in ``reasons`` (id, reason) written by import
    ``import_id``: action ``import`` for a first revision, ``import-change`` for a later one."""
    _temp_ids(con, "_hp_ids", reasons)
    con.execute(f"INSERT INTO history(respondent_id, revision, action, content_hash, data, import_id, reason, at) "
                f"SELECT r.respondent_id, r.revision, CASE WHEN r.revision=1 THEN 'import' ELSE 'import-change' END, "
                f"r.content_hash, {history_json_sql(con, 'r')}, r.import_id, i.reason, ? FROM respondents r "
                f"JOIN _hp_ids i ON i.respondent_id=r.respondent_id WHERE r.import_id=? ORDER BY r.pos",
                (at, import_id))
    con.execute("DROP TABLE _hp_ids")


def ensure_history(con: sqlite3.Connection, rids: list) -> None:
    """Write the imported version of respondents that have no history entry yet (before a change).

    Imports do not write one history row per new row (the ``imports`` table and the stored row
    say it); the first change of a row records the version it replaces.
    """
    rids = [r for r in rids if r is not None]
    if not rids:
        return
    _temp_ids(con, "_hp_first", [(str(r), None) for r in rids])
    con.execute(f"INSERT INTO history(respondent_id, revision, action, content_hash, data, import_id, reason, at) "
                f"SELECT r.respondent_id, r.revision, 'import', r.content_hash, {history_json_sql(con, 'r')}, "
                f"r.import_id, NULL, coalesce(m.imported_at, '') FROM respondents r JOIN _hp_first f "
                f"ON f.respondent_id=r.respondent_id LEFT JOIN imports m ON m.import_id=r.import_id "
                f"WHERE NOT EXISTS (SELECT 1 FROM history h WHERE h.respondent_id=r.respondent_id) "
                f"ORDER BY r.pos")
    con.execute("DROP TABLE _hp_first")


# ------------------------------------------------------------------------------ printed coupons
def create_printed_coupons(con: sqlite3.Connection) -> None:
    """The ``printed_coupons`` table, if it is not there yet."""
    con.execute("CREATE TABLE IF NOT EXISTS printed_coupons(serial INTEGER PRIMARY KEY, code TEXT NOT NULL "
                "UNIQUE, batch INTEGER NOT NULL, printed_on TEXT NOT NULL, expires TEXT, "
                "for_respondent TEXT, registered_at TEXT NOT NULL)")
