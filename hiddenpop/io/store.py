"""The survey store: one SQLite file holding every accepted interview, import and correction.

Guarantees
----------
* **Idempotent imports.** A file whose SHA-256 was imported before is a no-op. Rows are
  identified by respondent id + content hash: a row already stored with the same content (or a
  content that was later corrected in the store) adds nothing, so cumulative daily exports can be
  imported every evening.
* **Atomic imports.** Each import is one SQLite transaction (rollback journal, ``synchronous=FULL``,
  a page cache large enough that nothing is written before the commit): a crash or ``kill -9``
  mid-import leaves the store exactly as it was. :meth:`ReferralStore.check_file` is the same
  import as a dry run.
* **Quarantine, never half.** Rows with errors (:data:`hiddenpop.rds.validate.RULES`) and rows
  recruited below them are kept out of the data and listed in the ``quarantine`` table; the
  rest lands. With ``strict=True`` any error in the file means nothing lands.
* **Waiting rows come back by themselves.** A quarantined row whose only problem is that its
  recruiter is not in the store yet (:data:`WAITING_RULES`: its coupon was never issued, its
  recruiter id is unknown, or its recruiter is itself waiting) is kept in the ``pending`` table
  and checked again at every later import: it lands as soon as its recruiter does (e.g. a recruit
  uploaded on day 1 whose recruiter's interview arrives on day 2), keeping its own source file and
  row. A newer version of the same respondent id in a later file replaces it; ``withdraw`` drops it.
  Rows with errors of their own (bad values, duplicate ids or coupons, cycles) are not kept: they
  come back corrected in the next export.
* **No silent overwrite.** A row whose content changed in a later export is reported as a
  conflict and left as stored unless ``accept_changes=True``; corrections are explicit
  (:meth:`ReferralStore.correct`, :meth:`ReferralStore.withdraw`) and every version is kept in
  the ``history`` table with its reason. An import writes no history row per new row (the
  ``imports`` table records the file, its checksum and counts, and each stored row keeps its
  import, file and row); the first change of a row writes the imported version to the history
  before replacing it, and :meth:`ReferralStore.history` lists unchanged rows from the store.
* **Privacy.** Personal columns (names, phone numbers; :data:`~hiddenpop.io.referrals.DEFAULT_PERSONAL`
  plus the mapping file's ``[privacy] personal``) are replaced by salted SHA-256 hashes before
  anything is written (the salt is drawn at creation and kept in the store); they are used only
  to find households interviewed twice, and exports never contain them.

Layout
------
The data-contract §3 columns are real SQLite columns of ``respondents`` (and ``pending``): text,
except the network sizes, which are stored as numbers. Every carried-through column of an import
(outcomes such as ``registered``, ``_hash_<personal column>``) becomes a text column ``x:<name>``,
added when a file first brings it, so reading the store back is one ``SELECT``. The content hash
of a row is the SHA-256 of its non-empty ``column, value`` pairs in column-name order, so a later
export that adds an empty column does not turn every stored row into a conflict.
:meth:`ReferralStore.respondents` gives carried-through columns back as numbers when every value
is one (``"007"``-style codes stay text); :meth:`ReferralStore.raw_respondents` gives the text as
typed, for exact round trips.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "day1.csv").write_text("respondent_id,redeemed_coupon,issued_coupons,network_size,interview_time,phone\\n"
...     "A,,c1;c2,4,2024-05-01T10:00,0555 123\\nB,c1,c3,2,2024-05-02T09:00,0555 999\\n")
>>> store = ReferralStore.create(d / "survey.hpstore")
>>> r = store.import_file(d / "day1.csv")
>>> (r.n_new, r.n_quarantined, store.import_file(d / "day1.csv").already_imported)
(2, 0, True)
>>> store.respondents()[["respondent_id", "recruiter_id", "wave", "coupons_issued", "coupons_redeemed"]].values.tolist()
[['A', None, 0, 2, 1], ['B', 'A', 1, 1, 0]]
>>> "phone" in store.respondents().columns
False
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from hiddenpop.errors import InputFileError, OutputExistsError, RecruitmentError, format_where
from hiddenpop.io import PathLike, sha256_file
from hiddenpop.io.referrals import (CORE_COLUMNS, DEFAULT_PERSONAL, ReferralMapping, _numeric_or_text, read_mapping,
                                    read_rds_csv, read_rdsat, read_referral_log)

__all__ = ["ReferralStore", "ImportResult", "DERIVED_COLUMNS", "IMPORT_FORMATS", "SCHEMA_VERSION",
           "TEST_SLEEP_ENV", "WAITING_RULES"]

SCHEMA_VERSION = "2"
#: columns :meth:`ReferralStore.respondents` adds to the stored data
DERIVED_COLUMNS = ("wave", "seed_id", "is_seed", "n_recruits", "chain_size", "coupons_issued", "coupons_redeemed",
                   "coupons_outstanding", "coupons_expired", "return_rate", "found_by")
#: test hook: seconds to sleep inside the import transaction after half the rows are written
TEST_SLEEP_ENV = "HIDDENPOP_TEST_IMPORT_SLEEP"
IMPORT_FORMATS = ("auto", "log", "rds-csv", "rdsat")
#: quarantined rows with only these problems wait in ``pending`` for their recruiter
WAITING_RULES = frozenset({"coupon-never-issued", "unknown-recruiter", "recruiter-quarantined"})

_X = "x:"  # SQLite name prefix of carried-through columns
_NUMERIC_CORE = ("network_size", "network_size_eligible")
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


@dataclass
class ImportResult:
    """What an import did (also recorded in the store's ``imports`` table).

    ``n_quarantined`` counts rows of this file kept out (errors, their recruits, conflicts);
    ``n_released`` rows of earlier imports that waited for their recruiter and landed now;
    ``n_pending`` rows (of this or earlier files) still waiting for their recruiter.
    """

    file: str
    sha256: str
    import_id: int | None = None
    already_imported: bool = False
    landed: bool = True
    n_rows: int = 0
    n_new: int = 0
    n_unchanged: int = 0
    n_changed: int = 0
    n_conflicts: int = 0
    n_quarantined: int = 0
    n_released: int = 0
    n_pending: int = 0
    problems: list = field(default_factory=list)

    @property
    def errors(self) -> list:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list:
        return [p for p in self.problems if p.severity == "warning"]

    def summary(self) -> str:
        """One line for the coordinator."""
        if self.already_imported:
            return f"{self.file}: already imported (import #{self.import_id}); nothing to do"
        if not self.landed:
            return (f"{self.file}: NOT imported (--strict): {len(self.errors)} error(s) in "
                    f"{self.n_quarantined} row(s); the store is unchanged")
        return (f"{self.file}: import #{self.import_id}: {self.n_rows} rows, {self.n_new} new, "
                f"{self.n_unchanged} unchanged, {self.n_changed} changed, {self.n_conflicts} conflict(s), "
                f"{self.n_quarantined} quarantined, {len(self.warnings)} warning(s)"
                + (f"; {self.n_released} earlier row(s) released from quarantine" if self.n_released else "")
                + (f"; {self.n_pending} row(s) waiting for their recruiter" if self.n_pending else ""))


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _text(v: Any) -> Any:
    """Values as stored: text (integer-valued numbers without ``.0``), or None for missing/empty."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return None
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return str(int(v))
    s = str(v)
    return s if s != "" else None


def _texts(values: Any) -> Any:
    """:func:`_text` over a column: an object array of non-empty strings and None (vectorised when the
    column holds only text and missing values, as every reader gives)."""
    arr = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
    kind = infer_dtype(arr, skipna=True) if arr.ndim == 1 else ""
    if kind in ("string", "empty"):
        out = arr.copy()
        try:  # elementwise: None, empty text, and NaN (the only value not equal to itself)
            out[(out == None) | (out == "") | (out != out)] = None  # noqa: E711
        except TypeError:  # pd.NA refuses comparisons
            out[pd.isna(out)] = None
            out[out == ""] = None
        return out
    if kind == "floating":  # network sizes: integer-valued numbers without ".0", as _text
        f = np.array([np.nan if v is None or v is pd.NA else v for v in arr.tolist()], dtype=np.float64)
        out = np.full(len(arr), None, dtype=object)
        fin = np.isfinite(f)
        whole = fin & (np.floor(np.where(fin, f, 0)) == f) & (np.abs(np.where(fin, f, 0)) < 2 ** 62)
        out[whole] = f[whole].astype(np.int64).astype(str).astype(object)
        other = ~np.isnan(f) & ~whole
        if other.any():
            out[other] = [_text(float(v)) for v in f[other]]
        return out
    out = np.empty(len(arr), dtype=object)
    out[:] = [v if (type(v) is str and v) else (None if v is None else _text(v)) for v in arr]
    return out


def _numbers_or_texts(col: Any) -> list:
    """:func:`_number_or_text` over a column (vectorised when it is already numeric)."""
    if isinstance(col, pd.Series) and col.dtype.kind in "fiu":
        arr = col.to_numpy(dtype=float)
        out = arr.astype(object)
        out[np.isnan(arr)] = None
        return out.tolist()
    vals = col.to_numpy(dtype=object) if isinstance(col, pd.Series) else col
    return [None if v is None else (v if type(v) is float and v == v else _number_or_text(v)) for v in vals]


def _number_or_text(v: Any) -> Any:
    """Network sizes as stored: float, the raw text if it is not a number, or None."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (float, np.floating, int, np.integer)) and not isinstance(v, bool):
        return None if np.isnan(float(v)) else float(v)
    s = str(v).strip()
    if not s:
        return None
    try:
        return float(s)
    except ValueError:
        return s


def _q(name: str) -> str:
    """Quoted SQLite identifier."""
    return '"' + name.replace('"', '""') + '"'


def _object(values: Any) -> pd.Series:
    """An object Series (pandas 3 would otherwise infer its own string dtype)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return pd.Series(arr, dtype=object)


def _content_hashes(frame: pd.DataFrame) -> list[str]:
    """SHA-256 of each row's non-empty ``(column, text)`` pairs, columns in name order."""
    pieces = []
    for c in sorted(frame.columns):
        t = _texts(frame[c])
        miss = t == None  # noqa: E711 (elementwise: _texts gives only text and None)
        t[miss] = ""
        # object-array string additions run in numpy's C loop (no Python loop per column)
        pieces.append(np.where(miss, "", f"{c}\x1f" + t + "\x1e"))
    sha = hashlib.sha256
    if not pieces:
        return [sha(b"").hexdigest()] * len(frame)
    return [sha("".join(row).encode("utf-8")).hexdigest() for row in zip(*pieces)]


def _storage_frame(table: pd.DataFrame, *, personal: list[str], salt: str) -> pd.DataFrame:
    """The rows as stored: core columns (text; network sizes numeric), carried-through columns as
    text in file order, personal columns replaced by ``_hash_<name>`` salted hashes."""
    out: dict[str, pd.Series] = {}
    for c in CORE_COLUMNS:
        if c not in table.columns:
            out[c] = _object([None] * len(table))
        elif c in _NUMERIC_CORE:
            out[c] = _object(_numbers_or_texts(table[c]))
        else:
            out[c] = _object(_texts(table[c]))
    for c in table.columns:
        if c in CORE_COLUMNS or c in ("source_row", "source_file"):
            continue
        vals = _texts(table[c])
        if c in personal:
            vals = [None if v is None else hashlib.sha256((salt + " ".join(v.lower().split())).encode("utf-8"))
                    .hexdigest() for v in vals]
            out[f"_hash_{c}"] = _object(vals)
        else:
            out[c] = _object(vals)
    return pd.DataFrame(out, index=pd.RangeIndex(len(table)))


def _select(con: sqlite3.Connection, sql: str, params: tuple = ()) -> pd.DataFrame:
    """One SELECT into a DataFrame of object columns (None for NULL), names as in SQLite."""
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    cols = list(zip(*rows)) if rows else [()] * len(names)
    return pd.DataFrame({name: _object(col) for name, col in zip(names, cols)}, index=pd.RangeIndex(len(rows)))


def _data_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Stored rows → core columns, ``source_file``/``source_row``, carried-through columns (text)."""
    extras = [c for c in df.columns if c.startswith(_X)]
    out = df[list(CORE_COLUMNS)].copy()
    for c in _NUMERIC_CORE:
        out[c] = _numeric_or_text(out[c])
    out["source_file"] = df["source_file"]
    out["source_row"] = pd.to_numeric(df["source_row"]).astype(np.int64) if len(df) else \
        pd.Series([], dtype=np.int64)
    for c in extras:
        out[c[len(_X):]] = df[c]
    return out


# in "\0"-joined values: a leading "+" or zero before a digit, white space, "_", or hex/other letters
# a decimal point, an exponent or 16 digits and more: not for the integer shortcut
_NOT_PLAIN_INTEGER = re.compile(r"[.eE+]|[0-9]{16}")
_NOT_PLAIN_NUMBER = re.compile(r"\x00(?:\+|-?0[0-9])|[\s_]|[^0-9.eE+\-\x00]")


def _restore_types(col: pd.Series) -> pd.Series:
    """A carried-through text column as numbers when every value is one (``int64`` without missing
    values, else ``float64``); codes with leading zeros such as ``007`` keep the column text."""
    vals = col.to_numpy(dtype=object)
    miss = pd.isna(vals)
    if miss.all() or infer_dtype(vals, skipna=True) != "string":
        return col
    present = vals[~miss]
    joined = "\x00" + "\x00".join(present.tolist()) + "\x00"
    if _NOT_PLAIN_NUMBER.search(joined):
        return col  # "007", "+3", "1_000", " 2": codes or unusual text, not numbers
    if not miss.any() and not _NOT_PLAIN_INTEGER.search(joined):
        try:  # whole numbers below 2**53 (at most 15 digits), nothing missing: parse as integers directly
            return pd.Series(vals.astype(np.int64), index=col.index)
        except (ValueError, TypeError, OverflowError):
            return col  # e.g. "1-2": not a number (the float route would refuse it too)
    filled = vals.copy()
    filled[miss] = "nan"
    try:
        v = filled.astype(np.float64)
    except (ValueError, TypeError):
        return col
    if np.isnan(v[~miss]).any() or np.isinf(v).any():
        return col
    num = pd.Series(v, index=col.index)
    if not miss.any() and np.all(np.mod(v, 1) == 0) and np.all(np.abs(v) < 2 ** 53):
        return num.astype(np.int64)
    return num


class ReferralStore:
    """A referral-survey store in one SQLite file (see the module docstring for the guarantees).

    Create with :meth:`create`, open with :meth:`open`. The connection is opened per operation,
    so a store object is cheap and safe to keep.
    """

    def __init__(self, path: PathLike):
        self.path = Path(path)

    # ------------------------------------------------------------------------------ lifecycle
    @classmethod
    def create(cls, path: PathLike, *, design_requires_point: bool = False, max_coupons: int | None = None,
               expiry_days: float | None = None, max_network_size: float | None = None,
               overwrite: bool = False) -> "ReferralStore":
        """Create a new, empty store with a fresh random salt for personal-field hashes.

        Parameters
        ----------
        design_requires_point
            Seeds must have a ``point_id`` (seeds found at first-stage points).
        max_coupons
            Coupons per respondent allowed by the design (checked as a warning).
        expiry_days
            Days after which an unredeemed coupon counts as expired (status, reminders).
        max_network_size
            Network sizes above this are flagged (default
            :data:`hiddenpop.rds.validate.DEFAULT_MAX_NETWORK_SIZE`).
        """
        from hiddenpop.rds.validate import DEFAULT_MAX_NETWORK_SIZE

        p = Path(path)
        if p.exists():
            if not overwrite:
                raise OutputExistsError("the store already exists", where=str(p),
                                        fix="open it (import/status), choose another name, or pass --overwrite")
            p.unlink()
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.part")
        if tmp.exists():
            tmp.unlink()
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
            settings = {"schema_version": SCHEMA_VERSION, "salt": secrets.token_hex(32), "created_at": _now(),
                        "design_requires_point": json.dumps(bool(design_requires_point)),
                        "max_coupons": json.dumps(max_coupons), "expiry_days": json.dumps(expiry_days),
                        "max_network_size": json.dumps(max_network_size if max_network_size is not None
                                                       else DEFAULT_MAX_NETWORK_SIZE)}
            con.execute("BEGIN")
            con.executemany("INSERT INTO meta VALUES (?, ?)", list(settings.items()))
            con.execute("COMMIT")
        finally:
            con.close()
        os.replace(tmp, p)
        return cls(p)

    @classmethod
    def open(cls, path: PathLike) -> "ReferralStore":
        """Open an existing store (raises :class:`InputFileError` if it is not one)."""
        p = Path(path)
        if not p.exists():
            raise InputFileError("store not found", where=str(p),
                                 fix="create it first: hiddenpop referrals init " + str(p))
        store = cls(p)
        try:
            with store._connect() as con:
                version = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise InputFileError(f"not a hiddenpop store ({exc})", where=str(p),
                                 fix="give the file made by `hiddenpop referrals init`") from exc
        if version is None or version[0] != SCHEMA_VERSION:
            raise InputFileError("not a hiddenpop store of this version", where=str(p),
                                 fix="give the file made by `hiddenpop referrals init`")
        return store

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("PRAGMA synchronous=FULL")
        # a page cache large enough that an import never spills dirty pages (and syncs the journal)
        # before its commit; durability is unchanged (rollback journal, full sync at commit)
        con.execute("PRAGMA cache_size=-131072")
        con.execute("PRAGMA temp_store=MEMORY")
        return _Closing(con)

    @property
    def settings(self) -> dict[str, Any]:
        """Design settings kept in the store (``design_requires_point``, ``max_coupons``, …)."""
        with self._connect() as con:
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        out = {k: json.loads(meta[k]) for k in ("design_requires_point", "max_coupons", "expiry_days",
                                                "max_network_size") if k in meta}
        out["created_at"] = meta.get("created_at")
        return out

    def _salt(self, con: sqlite3.Connection) -> str:
        return con.execute("SELECT value FROM meta WHERE key='salt'").fetchone()[0]

    # ---------------------------------------------------------------------------------- import
    # ---------------------------------------------------------------------------------- import
    def import_file(self, path: PathLike, *, mapping: ReferralMapping | PathLike | None = None,
                    fmt: str = "auto", strict: bool = False, accept_changes: bool = False,
                    progress: Callable[[int], None] | None = None) -> ImportResult:
        """Import a referral log (CSV/XLSX export, RDSAT file or R ``RDS`` CSV).

        Parameters
        ----------
        path
            The file.
        mapping
            Mapping file or :class:`~hiddenpop.io.referrals.ReferralMapping` (column names, coupon
            columns, Kobo group prefixes, personal fields).
        fmt
            One of :data:`IMPORT_FORMATS`; ``auto`` looks at the extension and first line.
        strict
            Any error (or conflict) in the file → nothing lands. Rows of earlier imports still
            waiting for their recruiter do not count.
        accept_changes
            Rows whose content changed since they were stored replace the stored version (the old
            one stays in the history). Otherwise they are reported as conflicts and left alone.
        progress
            Called with the number of rows written, as they are written.

        Returns
        -------
        ImportResult
        """
        p = Path(path)
        if not p.exists():
            raise InputFileError("file not found", where=str(p), fix="check the path and the current folder")
        if mapping is not None and not isinstance(mapping, ReferralMapping):
            mapping = read_mapping(mapping)
        digest = sha256_file(p)
        with self._connect() as con:
            done = con.execute("SELECT import_id FROM imports WHERE sha256=? AND status='done' ORDER BY import_id "
                               "LIMIT 1", (digest,)).fetchone()
        if done is not None:
            return ImportResult(file=str(p), sha256=digest, import_id=done[0], already_imported=True)
        table = _read_any(p, fmt, mapping)
        return self._import_table(table, file=str(p), digest=digest, mapping=mapping, strict=strict,
                                  accept_changes=accept_changes, progress=progress)

    def check_file(self, path: PathLike, *, mapping: ReferralMapping | PathLike | None = None,
                   fmt: str = "auto") -> ImportResult:
        """What :meth:`import_file` would do with ``path``, without changing the store (a dry run).

        The file is checked together with the stored rows and the rows waiting for their
        recruiter, so coupons issued in earlier files are known (a daily, non-cumulative export
        checked alone would report them as never issued). ``import_id`` is None.
        """
        p = Path(path)
        if not p.exists():
            raise InputFileError("file not found", where=str(p), fix="check the path and the current folder")
        if mapping is not None and not isinstance(mapping, ReferralMapping):
            mapping = read_mapping(mapping)
        table = _read_any(p, fmt, mapping)
        return self._import_table(table, file=str(p), digest=sha256_file(p), mapping=mapping, strict=False,
                                  accept_changes=False, progress=None, dry_run=True)

    def _import_table(self, table: pd.DataFrame, *, file: str, digest: str, mapping: ReferralMapping | None,
                      strict: bool, accept_changes: bool, progress: Callable[[int], None] | None,
                      dry_run: bool = False) -> ImportResult:
        from hiddenpop.rds.coupons import link_coupons
        from hiddenpop.rds.validate import Problem, _cascade, _check

        settings = self.settings
        fmt = table.attrs.get("format", "csv")
        personal = [c for c in table.attrs.get("personal_columns", []) if c in table.columns]
        with self._connect() as con:
            salt = self._salt(con)
            stored = _select(con, "SELECT * FROM respondents WHERE withdrawn=0 ORDER BY pos")
            pending = _select(con, "SELECT * FROM pending ORDER BY pos")
            seen = _select(con, "SELECT respondent_id, content_hash FROM history WHERE content_hash IS NOT NULL")
        data = _storage_frame(table, personal=personal, salt=salt)
        hashes = np.array(_content_hashes(data), dtype=object)
        n = len(table)
        rid = data["respondent_id"].to_numpy(dtype=object)
        source_row = table["source_row"].to_numpy(dtype=np.int64)

        # status of each file row: new / unchanged / changed / conflict
        loc = pd.Index(stored["respondent_id"].to_numpy(dtype=object)).get_indexer(rid) if len(stored) else \
            np.full(n, -1)
        stored_hash = stored["content_hash"].to_numpy(dtype=object)
        same = np.zeros(n, dtype=bool)
        same[loc >= 0] = stored_hash[loc[loc >= 0]] == hashes[loc >= 0]
        versions = set(seen["respondent_id"].astype(str) + "\x1f" + seen["content_hash"].astype(str)) if len(seen) \
            else set()
        if versions:
            same |= np.array([f"{r}\x1f{h}" in versions for r, h in zip(rid, hashes)], dtype=bool)
        status = np.where(loc < 0, "new", np.where(same, "unchanged", "changed" if accept_changes else "conflict"))
        status = status.astype(object)
        # a repeated id inside the file: only its first occurrence can be "unchanged"/"changed"
        dup_in_file = _object(rid).duplicated().to_numpy()
        status[dup_in_file & (status != "new")] = "new"

        # combined table for validation: stored rows (changed ones replaced), rows waiting from earlier
        # imports (unless this file brings the same respondent again), then this file's candidates
        cand = np.flatnonzero((status == "new") | (status == "changed"))
        replaced = set(rid[status == "changed"])
        keep_stored = stored[~stored["respondent_id"].isin(replaced)].reset_index(drop=True)
        file_ids = set(r for r in rid if r is not None)
        stored_ids = set(stored["respondent_id"])
        keep_pending = pending[~pending["respondent_id"].isin(file_ids | stored_ids)].reset_index(drop=True)
        S, P, C = len(keep_stored), len(keep_pending), len(cand)
        cand_data = data.iloc[cand].reset_index(drop=True)
        core = list(CORE_COLUMNS)
        parts = [keep_stored[core + ["source_file", "source_row"]], keep_pending[core + ["source_file", "source_row"]],
                 pd.concat([cand_data[core], pd.DataFrame({"source_file": _object([file] * C),
                                                           "source_row": _object(source_row[cand].tolist())})],
                           axis=1)]
        combined = pd.concat([x for x in parts if len(x)] or [parts[-1]], ignore_index=True)
        combined["source_row"] = pd.to_numeric(combined["source_row"]).astype(np.int64) if len(combined) else \
            combined["source_row"]
        combined.attrs["source"] = file
        combined.attrs["column_names"] = table.attrs.get("column_names", {})
        items: list = []
        links = None
        if C + P:  # nothing new and nothing waiting (a re-export of stored rows): nothing to check
            links = link_coupons(combined)
            items = _check(combined, source=file, design_requires_point=settings["design_requires_point"],
                           max_coupons=settings["max_coupons"], max_network_size=settings["max_network_size"],
                           links=links).items
        bad: dict[int, list] = {}
        problems_at: list[tuple[int, Any]] = []
        for i, _, q in sorted(items, key=lambda t: (t[0], t[1])):
            if i < S:
                continue
            problems_at.append((i, q))
            if q.severity == "error":
                bad.setdefault(i, []).append(q)
        quarantined = {i: ps for i, ps in _cascade(combined, bad, links=links).items() if i >= S}
        cascade = [(i, ps[0]) for i, ps in sorted(quarantined.items()) if ps[0].rule == "recruiter-quarantined"]
        conflicts = np.flatnonzero(status == "conflict")
        conflict_problems = [Problem("changed-since-import", "error", file, int(source_row[i]), None, None,
                                     f"respondent {rid[i]} differs from the version already in the store",
                                     "if the change is right, import again with --accept-changes (the old version "
                                     "stays in the history), or use `hiddenpop referrals correct`", rid[i])
                             for i in conflicts]
        # rows that wait for their recruiter: new respondents whose only errors are WAITING_RULES
        cand_status = status[cand]
        waiting = sorted(i for i, ps in quarantined.items()
                         if all(q.rule in WAITING_RULES for q in ps)
                         and (i < S + P or cand_status[i - S - P] == "new") and combined["respondent_id"].iat[i])
        file_q = [i for i in quarantined if i >= S + P]
        ordered = sorted(problems_at + cascade, key=lambda t: (t[0] < S + P, t[1].row or 0, t[0]))
        all_problems = sorted([q for _, q in ordered] + conflict_problems,
                              key=lambda q: (q.source != file, q.row or 0))
        res = ImportResult(file=file, sha256=digest, n_rows=n, n_unchanged=int((status == "unchanged").sum()),
                           n_conflicts=len(conflicts), n_quarantined=len(file_q) + len(conflicts),
                           problems=all_problems)
        ok_file = [k for k in range(C) if (S + P + k) not in quarantined]
        released = [j for j in range(P) if (S + j) not in quarantined]
        res.n_new = sum(1 for k in ok_file if cand_status[k] == "new")
        res.n_changed = sum(1 for k in ok_file if cand_status[k] == "changed")
        res.n_released = len(released)
        res.n_pending = len(waiting)
        if strict and (file_q or len(conflicts)):
            res.landed = False
            res.n_new = res.n_changed = res.n_released = 0
            res.n_pending = len(pending)
        if dry_run:
            return res
        hints = {k: table.attrs[k] for k in ("rds_csv", "rdsat") if k in table.attrs}
        now = _now()
        sleep = float(os.environ.get(TEST_SLEEP_ENV, "0") or 0)
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                cur = con.execute(
                    "INSERT INTO imports(file, sha256, format, imported_at, status, strict, n_rows, n_new, n_unchanged,"
                    " n_changed, n_conflicts, n_quarantined, n_released, n_pending, n_warnings, mapping, hints) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (file, digest, fmt, now, "done" if res.landed else "refused", int(strict), n, res.n_new,
                     res.n_unchanged, res.n_changed, res.n_conflicts, res.n_quarantined, res.n_released,
                     res.n_pending, len(res.warnings), json.dumps(mapping.to_dict()) if mapping else None,
                     json.dumps(hints)))
                res.import_id = import_id = cur.lastrowid
                if res.landed:
                    extras = [c for c in data.columns if c not in CORE_COLUMNS]
                    extras += [c[len(_X):] for c in pending.columns if c.startswith(_X) and c[len(_X):] not in extras]
                    self._add_columns(con, extras)
                    new_k = cand[[k for k in ok_file if cand_status[k] == "new"]]
                    chg_k = cand[[k for k in ok_file if cand_status[k] == "changed"]]
                    # released rows keep their own data and source file/row; then this file's rows in file order
                    rel = _unprefixed(keep_pending.iloc[released])
                    rel["import_id"] = import_id
                    fresh = data.iloc[new_k].reset_index(drop=True)
                    fresh = fresh.assign(content_hash=hashes[new_k], import_id=import_id, source_file=file,
                                         source_row=source_row[new_k])
                    rows_in = pd.concat([rel, fresh], ignore_index=True) if len(rel) else fresh
                    rows_in["revision"] = 1
                    changed = data.iloc[chg_k].reset_index(drop=True).assign(
                        content_hash=hashes[chg_k], import_id=import_id, source_file=file, source_row=source_row[chg_k])
                    # the first version of a changed row goes into the history before it is replaced
                    self._ensure_history(con, list(changed["respondent_id"]))
                    self._write_rows(con, rows_in, changed, sleep=sleep, progress=progress)
                    # new rows need no history entry (the import table and the stored row say it all, see
                    # :meth:`history`); released rows and changed rows get one, with why
                    if len(rel) or len(changed):
                        con.execute("CREATE TEMP TABLE IF NOT EXISTS _hp_ids(respondent_id TEXT PRIMARY KEY, "
                                    "reason TEXT)")
                        con.execute("DELETE FROM _hp_ids")
                        con.executemany("INSERT OR REPLACE INTO _hp_ids VALUES (?, ?)",
                                        [(r, f"waited in quarantine for its recruiter since import #{int(i)}")
                                         for r, i in zip(rel["respondent_id"],
                                                         keep_pending["import_id"].iloc[released])]
                                        + [(r, None) for r in changed["respondent_id"]])
                        con.execute(f"INSERT INTO history(respondent_id, revision, action, content_hash, data, "
                                    f"import_id, reason, at) SELECT r.respondent_id, r.revision, CASE WHEN "
                                    f"r.revision=1 THEN 'import' ELSE 'import-change' END, r.content_hash, "
                                    f"{self._json_sql(con, 'r')}, r.import_id, i.reason, ? FROM respondents r "
                                    f"JOIN _hp_ids i ON i.respondent_id=r.respondent_id WHERE r.import_id=? "
                                    f"ORDER BY r.pos", (now, import_id))
                        con.execute("DROP TABLE _hp_ids")
                    # the pending table is replaced by the rows still waiting
                    con.execute("DELETE FROM pending")
                    old_w = [i - S for i in waiting if i < S + P]
                    new_w = cand[[i - S - P for i in waiting if i >= S + P]]
                    still = _unprefixed(keep_pending.iloc[old_w])
                    fresh_w = data.iloc[new_w].reset_index(drop=True).assign(
                        content_hash=hashes[new_w], import_id=import_id, source_file=file, source_row=source_row[new_w])
                    wait = pd.concat([still, fresh_w], ignore_index=True) if len(still) else fresh_w
                    self._insert(con, "pending", wait)
                qrows = []
                for i in sorted(quarantined, key=lambda i: (i < S + P, i)):
                    for q in quarantined[i]:
                        qrows.append((import_id, q.source, q.row, q.respondent_id, q.rule, q.column,
                                      _text(q.value), q.message, q.fix))
                qrows += [(import_id, q.source, q.row, q.respondent_id, q.rule, q.column, None, q.message, q.fix)
                          for q in conflict_problems]
                con.executemany("INSERT INTO quarantine VALUES (?,?,?,?,?,?,?,?,?)", qrows)
                con.executemany("INSERT INTO warnings VALUES (?,?,?,?,?,?,?,?,?)",
                                [(import_id, q.source, q.row, q.respondent_id, q.rule, q.column, _text(q.value),
                                  q.message, q.fix) for q in res.warnings])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return res

    def _table_columns(self, con: sqlite3.Connection, table: str = "respondents") -> list[str]:
        return [r[1] for r in con.execute(f"PRAGMA table_info({table})").fetchall()]

    def _add_columns(self, con: sqlite3.Connection, extras: list[str]) -> None:
        """Add a text column ``x:<name>`` to ``respondents`` and ``pending`` for each new carried column."""
        have = self._table_columns(con)
        new = [c for c in extras if _X + c not in have]
        if len(have) + len(new) > _MAX_COLUMNS:
            raise InputFileError(f"the store would hold {len(have) + len(new)} columns (at most {_MAX_COLUMNS})",
                                 where=str(self.path),
                                 fix="leave out the columns you do not need with drop = [...] in the mapping file")
        for c in new:
            for t in ("respondents", "pending"):
                con.execute(f"ALTER TABLE {t} ADD COLUMN {_q(_X + c)} TEXT")

    @staticmethod
    def _sql_names(cols: list[str]) -> list[str]:
        return [c if (c in CORE_COLUMNS or c in _META or c in ("revision", "withdrawn")) else _q(_X + c) for c in cols]

    def _insert(self, con: sqlite3.Connection, table: str, frame: pd.DataFrame) -> None:
        """INSERT the rows of ``frame``: columns that are empty in every row are left to their NULL
        default and columns with one value in every row (import id, file, revision) are bound once
        as SQL literals, so SQLite binds only what varies."""
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
        names = self._sql_names(cols) + self._sql_names(list(fixed))
        literals = [str(v) if type(v) is int else "'" + v.replace("'", "''") + "'" for v in fixed.values()]
        sql = f"INSERT INTO {table}({', '.join(names)}) VALUES ({', '.join(['?'] * len(cols) + literals)})"
        if cols:
            con.executemany(sql, zip(*values))
        else:
            con.executemany(sql, [()] * len(frame))

    def _write_rows(self, con: sqlite3.Connection, rows_in: pd.DataFrame, changed: pd.DataFrame, *, sleep: float,
                    progress: Callable[[int], None] | None) -> None:
        """Insert new rows and update changed ones (the test hook sleeps half-way, inside the transaction)."""
        half = len(rows_in) // 2
        if sleep > 0 and half:
            self._insert(con, "respondents", rows_in.iloc[:half])
            if progress:
                progress(half)
            time.sleep(sleep)
            self._insert(con, "respondents", rows_in.iloc[half:])
            if progress:
                progress(len(rows_in) - half)
        else:
            self._insert(con, "respondents", rows_in)
            if progress:
                progress(len(rows_in))
        if len(changed):
            cols = list(changed.columns)
            cleared = [c for c in self._table_columns(con) if c.startswith(_X) and c[len(_X):] not in cols]
            sets = [f"{n}=?" for n in self._sql_names(cols)] + [f"{_q(c)}=NULL" for c in cleared]
            values = [_plain_list(changed[c]) for c in cols] + [_plain_list(changed["respondent_id"])]
            con.executemany(f"UPDATE respondents SET {', '.join(sets)}, revision=revision+1 WHERE respondent_id=?",
                            zip(*values))
            if progress:
                progress(len(changed))

    def _json_sql(self, con: sqlite3.Connection, alias: str = "") -> str:
        """SQL expression: the row's non-empty data columns as a JSON object (for the history)."""
        cols = [c for c in self._table_columns(con) if c in CORE_COLUMNS or c.startswith(_X)]
        pre = f"{alias}." if alias else ""
        expr = "'{}'"
        for k in range(0, len(cols), 60):  # SQLite functions take at most 127 arguments
            pairs = ", ".join(f"'{(c[len(_X):] if c.startswith(_X) else c).replace(chr(39), chr(39) * 2)}', "
                              f"{pre}{_q(c)}" for c in cols[k:k + 60])
            expr = f"json_patch({expr}, json_object({pairs}))"
        return expr

    def _ensure_history(self, con: sqlite3.Connection, rids: list) -> None:
        """Write the imported version of respondents that have no history entry yet (before a change).

        Imports do not write one history row per new row (the ``imports`` table and the stored row
        say it); the first change of a row records the version it replaces.
        """
        rids = [r for r in rids if r is not None]
        if not rids:
            return
        con.execute("CREATE TEMP TABLE IF NOT EXISTS _hp_first(respondent_id TEXT PRIMARY KEY)")
        con.execute("DELETE FROM _hp_first")
        con.executemany("INSERT OR IGNORE INTO _hp_first VALUES (?)", [(str(r),) for r in rids])
        con.execute(f"INSERT INTO history(respondent_id, revision, action, content_hash, data, import_id, reason, at) "
                    f"SELECT r.respondent_id, r.revision, 'import', r.content_hash, {self._json_sql(con, 'r')}, "
                    f"r.import_id, NULL, coalesce(m.imported_at, '') FROM respondents r JOIN _hp_first f "
                    f"ON f.respondent_id=r.respondent_id LEFT JOIN imports m ON m.import_id=r.import_id "
                    f"WHERE NOT EXISTS (SELECT 1 FROM history h WHERE h.respondent_id=r.respondent_id) "
                    f"ORDER BY r.pos")
        con.execute("DROP TABLE _hp_first")

    # ------------------------------------------------------------------------------ read back
    def _load(self, con: sqlite3.Connection, *, include_withdrawn: bool = False, where: str = "",
              params: tuple = ()) -> pd.DataFrame:
        cond = [] if include_withdrawn else ["withdrawn=0"]
        cond += [where] if where else []
        cols = [c for c in self._table_columns(con) if c in CORE_COLUMNS or c.startswith(_X)]
        cols += ["source_file", "source_row", "revision"]
        df = _select(con, f"SELECT {', '.join(_q(c) for c in cols)} FROM respondents"
                     + (" WHERE " + " AND ".join(cond) if cond else "") + " ORDER BY pos", params)
        out = _data_frame(df)
        out["revision"] = pd.to_numeric(df["revision"]).astype(np.int64) if len(df) else pd.Series([], dtype=np.int64)
        return out

    def raw_respondents(self, *, include_withdrawn: bool = False) -> pd.DataFrame:
        """Stored rows as typed in the source (no derived columns), with ``source_file``/``source_row``.

        Network sizes are numbers; carried-through columns are the text as imported (exact round
        trips to RDSAT and R ``RDS`` CSV). Personal fields appear only as ``_hash_<column>``.
        """
        with self._connect() as con:
            out = self._load(con, include_withdrawn=include_withdrawn).drop(columns=["revision"])
            hints = [json.loads(h) for (h,) in con.execute("SELECT hints FROM imports WHERE status='done' "
                                                           "ORDER BY import_id").fetchall() if h]
        for h in hints:
            out.attrs.update(h)
        out.attrs["source"] = str(self.path)
        return out

    def pending(self) -> pd.DataFrame:
        """Rows waiting in quarantine for their recruiter (see :data:`WAITING_RULES`), with their source."""
        with self._connect() as con:
            df = _select(con, "SELECT * FROM pending ORDER BY pos")
        out = _data_frame(df)
        out["import_id"] = df["import_id"]
        return out

    def respondents(self, *, include_personal_hashes: bool = False, expiry_days: float | None = None,
                    as_of: Any = None) -> pd.DataFrame:
        """Accepted respondents with the derived recruitment columns.

        Columns: data-contract §3 (``respondent_id, redeemed_coupon, issued_coupons, recruiter_id,
        point_id, network_size, network_size_eligible, interview_time``), the derived
        :data:`DERIVED_COLUMNS` (``wave, seed_id, is_seed, n_recruits, chain_size, coupons_issued,
        coupons_redeemed, …, found_by``), then the carried-through columns (numbers when every
        value is a number, e.g. outcomes coded 0/1; text otherwise) and ``source_file, source_row``.
        ``recruiter_id`` is filled from coupon matching. Personal-field hashes (``_hash_<column>``)
        only with ``include_personal_hashes``.
        """
        raw = self.raw_respondents()
        out = derive_columns(raw, expiry_days=expiry_days if expiry_days is not None else
                             self.settings.get("expiry_days"), as_of=as_of,
                             include_personal_hashes=include_personal_hashes)
        carried = [c for c in raw.columns if c not in CORE_COLUMNS and c not in ("source_file", "source_row")
                   and not c.startswith("_hash_")]
        for c in carried:
            name = f"{c}_reported" if f"{c}_reported" in out.columns and c in DERIVED_COLUMNS else c
            if name in out.columns:
                out[name] = _restore_types(out[name])
        return out

    def imports(self) -> pd.DataFrame:
        """One row per import (file, checksum, time, status, counts)."""
        with self._connect() as con:
            return pd.read_sql_query("SELECT import_id, file, sha256, format, imported_at, status, strict, n_rows, "
                                     "n_new, n_unchanged, n_changed, n_conflicts, n_quarantined, n_released, "
                                     "n_pending, n_warnings FROM imports ORDER BY import_id", con)

    def quarantine(self, *, import_id: int | None = None) -> pd.DataFrame:
        """Quarantined rows with their problems (latest import by default; ``0`` for all)."""
        with self._connect() as con:
            if import_id is None:
                last = con.execute("SELECT max(import_id) FROM imports").fetchone()[0]
                import_id = last or 0
            q = "SELECT * FROM quarantine" + ("" if import_id == 0 else " WHERE import_id=?")
            return pd.read_sql_query(q, con, params=() if import_id == 0 else (import_id,))

    def warnings(self, *, import_id: int | None = None) -> pd.DataFrame:
        """Warnings recorded at import (latest import by default; ``0`` for all)."""
        with self._connect() as con:
            if import_id is None:
                import_id = con.execute("SELECT max(import_id) FROM imports").fetchone()[0] or 0
            q = "SELECT * FROM warnings" + ("" if import_id == 0 else " WHERE import_id=?")
            return pd.read_sql_query(q, con, params=() if import_id == 0 else (import_id,))

    def history(self, respondent_id: str | None = None) -> pd.DataFrame:
        """Every stored version of every row (or of one respondent): action, revision, reason, time.

        ``data`` is the version's non-empty fields as JSON (personal fields only as hashes). A row
        never changed since its import is listed from the store itself (action ``import``, the
        import's time); the first change writes that version to the ``history`` table.
        """
        with self._connect() as con:
            cols = "history_id, respondent_id, revision, action, import_id, reason, at, data"
            real = f"SELECT {cols}, 0 AS k, history_id AS o FROM history"
            synth = (f"SELECT NULL, r.respondent_id, r.revision, 'import', r.import_id, NULL, "
                     f"coalesce(m.imported_at, ''), {self._json_sql(con, 'r')}, 1 AS k, r.pos AS o FROM respondents r "
                     f"LEFT JOIN imports m ON m.import_id=r.import_id WHERE NOT EXISTS "
                     f"(SELECT 1 FROM history h WHERE h.respondent_id=r.respondent_id)")
            where, params = ("", ())
            if respondent_id is not None:
                real += " WHERE respondent_id=?"
                synth += " AND r.respondent_id=?"
                params = (str(respondent_id), str(respondent_id))
            q = f"SELECT {cols} FROM ({real} UNION ALL {synth}) ORDER BY at, k, o"
            out = pd.read_sql_query(q, con, params=params)
        out["history_id"] = out["history_id"].astype("Int64")
        return out

    def possible_duplicates(self, raw: pd.DataFrame | None = None) -> pd.DataFrame:
        """Pairs of respondents sharing a hashed personal field (same household reached twice?).

        One row per later respondent: ``respondent_id`` is the first one with that value, ``same_as``
        the later one, ``field`` the personal column.
        """
        raw = self.raw_respondents() if raw is None else raw
        parts = []
        for c in [c for c in raw.columns if c.startswith("_hash_")]:
            vals = raw[["respondent_id", c]].dropna()
            first = vals.groupby(c, sort=False)["respondent_id"].transform("first")
            later = (vals["respondent_id"] != first).to_numpy()
            parts.append(pd.DataFrame({"respondent_id": _object(first.to_numpy(dtype=object)[later]),
                                       "same_as": _object(vals["respondent_id"].to_numpy(dtype=object)[later]),
                                       "field": c[len("_hash_"):]}))
        if not parts:
            return pd.DataFrame({"respondent_id": _object([]), "same_as": _object([]), "field": _object([])})
        return pd.concat(parts, ignore_index=True)

    def selection_events(self) -> pd.DataFrame:
        """One row per selection event: a point hit (``point``) or a redeemed coupon (``coupon``).

        ``household`` links events of the same household: respondents sharing a hashed personal
        field (:meth:`possible_duplicates`) get the first one's id. Events are ordered by
        respondent (store order), a point event before a coupon event of the same respondent.
        """
        raw = self.raw_respondents()
        t = derive_columns(raw, expiry_days=self.settings.get("expiry_days"))
        dup = self.possible_duplicates(raw)
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
        ev = pd.DataFrame({
            "household": _object(hh[pos]), "respondent_id": _object(rid[pos]),
            "event": _object(np.where(is_pt, "point", "coupon")),
            "point_id": _object(np.where(is_pt, pt[pos], none)),
            "coupon": _object(np.where(is_pt, none, t["redeemed_coupon"].astype(object).to_numpy()[pos])),
            "recruiter_id": _object(np.where(is_pt, none, t["recruiter_id"].astype(object).to_numpy()[pos])),
            "interview_time": _object(t["interview_time"].astype(object).to_numpy()[pos]),
        })
        return ev

    # ----------------------------------------------------------------------------- corrections
    def correct(self, respondent_id: str, changes: Mapping[str, Any], *, reason: str) -> None:
        """Change fields of one stored respondent, keeping the previous version in the history.

        The change is refused (:class:`RecruitmentError`) if it would create an error in the
        store (e.g. a duplicate coupon) or touches a personal field.
        """
        from hiddenpop.rds.validate import validate_log

        if not reason or not reason.strip():
            raise RecruitmentError("a correction needs a reason", fix="pass --reason \"...\" (kept in the history)")
        rid = str(respondent_id)
        for col in changes:
            if col.startswith("_hash_") or col in DEFAULT_PERSONAL:
                raise RecruitmentError("personal fields cannot be corrected in the store",
                                       where=format_where(column=col), fix="correct them in the source form")
            if col in ("source_row", "source_file", *DERIVED_COLUMNS):
                raise RecruitmentError(f"'{col}' is derived, not data", where=format_where(column=col),
                                       fix="correct the coupons or recruiter id instead")
        raw = self.raw_respondents()
        known = [c for c in raw.columns if c not in ("source_file", "source_row") and not c.startswith("_hash_")]
        for col in changes:
            if col not in known:
                raise RecruitmentError(f"there is no column '{col}' in the store", where=format_where(column=col),
                                       fix="use one of: " + ", ".join(known[:40]))
        hit = np.flatnonzero(raw["respondent_id"].astype(object).to_numpy() == rid)
        if not len(hit):
            raise RecruitmentError("no such respondent in the store", where=format_where(str(self.path), value=rid),
                                   fix="check the id (`hiddenpop referrals export STORE --format csv` lists them all)")
        i = int(hit[0])
        before = validate_log(raw, source=str(self.path), **self._rule_settings())
        trial = raw.copy()
        for col, val in changes.items():
            v = None if val is None or str(val).strip() == "" else str(val).strip()
            if col not in trial.columns:
                trial[col] = _object([None] * len(trial))
            trial[col] = trial[col].astype(object)
            trial.iat[i, trial.columns.get_loc(col)] = _number_or_text(v) if col in _NUMERIC_CORE else v
        after = validate_log(trial, source=str(self.path), **self._rule_settings())
        old_err = {(p.rule, p.respondent_id) for p in before if p.severity == "error"}
        fresh = [p for p in after if p.severity == "error" and (p.rule, p.respondent_id) not in old_err]
        if fresh:
            raise RecruitmentError(f"correction refused, it would create a problem: {fresh[0]}",
                                   fix="correct the other rows first, or choose another value")
        row = trial.iloc[[i]].drop(columns=["source_file", "source_row"]).reset_index(drop=True)
        row = pd.DataFrame({c: _object([_number_or_text(v) if c in _NUMERIC_CORE else _text(v)
                                        for v in row[c].to_numpy(dtype=object)]) for c in row.columns})
        self._write_revision(rid, row, "correct", reason)

    def withdraw(self, respondent_id: str, *, reason: str) -> None:
        """Take a respondent out of the data (kept in the history), e.g. an interview entered twice.

        Refused while the respondent has recruits in the store. A row waiting in quarantine for its
        recruiter (:meth:`pending`) can be withdrawn too: it is then no longer checked at imports.
        """
        if not reason or not reason.strip():
            raise RecruitmentError("withdrawing needs a reason", fix="pass --reason \"...\" (kept in the history)")
        rid = str(respondent_id)
        with self._connect() as con:
            waiting = con.execute("SELECT content_hash, import_id FROM pending WHERE respondent_id=?",
                                  (rid,)).fetchone()
        if waiting is not None:
            with self._connect() as con:
                con.execute("BEGIN IMMEDIATE")
                con.execute("DELETE FROM pending WHERE respondent_id=?", (rid,))
                con.execute("INSERT INTO history(respondent_id, revision, action, content_hash, data, import_id, "
                            "reason, at) VALUES (?,?,?,?,?,?,?,?)",
                            (rid, 0, "withdraw-pending", waiting[0], None, waiting[1], reason, _now()))
                con.execute("COMMIT")
            return
        t = self.respondents()
        hit = t.index[t["respondent_id"].astype(str) == rid]
        if not len(hit):
            raise RecruitmentError("no such respondent in the store", where=format_where(str(self.path), value=rid),
                                   fix="check the id")
        kids = t.loc[t["recruiter_id"] == rid, "respondent_id"].tolist()
        if kids:
            raise RecruitmentError(f"cannot withdraw {rid}: this respondent recruited {', '.join(map(str, kids[:5]))}"
                                   + (" …" if len(kids) > 5 else ""), where=format_where(str(self.path), value=rid),
                                   fix="correct the recruits' coupons or withdraw the recruits first")
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            self._ensure_history(con, [rid])
            con.execute("UPDATE respondents SET withdrawn=1, revision=revision+1 WHERE respondent_id=?", (rid,))
            rev = con.execute("SELECT revision FROM respondents WHERE respondent_id=?", (rid,)).fetchone()[0]
            con.execute("INSERT INTO history(respondent_id, revision, action, content_hash, data, import_id, reason, at)"
                        " VALUES (?,?,?,?,?,?,?,?)", (rid, rev, "withdraw", None, None, None, reason, _now()))
            con.execute("COMMIT")

    def _rule_settings(self) -> dict[str, Any]:
        s = self.settings
        return {"design_requires_point": s["design_requires_point"], "max_coupons": s["max_coupons"],
                "max_network_size": s["max_network_size"]}

    def _write_revision(self, rid: str, row: pd.DataFrame, action: str, reason: str) -> None:
        """Replace the stored data of ``rid`` by the one-row ``row`` (storage names) and log it."""
        h = _content_hashes(row)[0]
        data = {c: v for c, v in zip(row.columns, _plain_list_row(row)) if v is not None}
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                self._ensure_history(con, [rid])
                self._add_columns(con, [c for c in row.columns if c not in CORE_COLUMNS])
                cols = list(row.columns)
                sets = ", ".join(f"{n}=?" for n in self._sql_names(cols))
                con.execute(f"UPDATE respondents SET {sets}, content_hash=?, revision=revision+1 WHERE respondent_id=? "
                            "AND withdrawn=0", (*_plain_list_row(row), h, rid))
                rev = con.execute("SELECT revision FROM respondents WHERE respondent_id=?", (row["respondent_id"].iat[0],)
                                  ).fetchone()[0]
                con.execute("INSERT INTO history(respondent_id, revision, action, content_hash, data, import_id, "
                            "reason, at) VALUES (?,?,?,?,?,?,?,?)",
                            (rid, rev, action, h, json.dumps(data, ensure_ascii=False), None, reason, _now()))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def dump(self) -> list[str]:
        """The store's full content as SQL statements (to compare stores in tests and audits)."""
        con = sqlite3.connect(self.path)
        try:
            return list(con.iterdump())
        finally:
            con.close()


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


def _plain_list_row(row: pd.DataFrame) -> list:
    return [_plain(row[c].iat[0]) for c in row.columns]


def _unprefixed(frame: pd.DataFrame) -> pd.DataFrame:
    """Stored rows (SQLite names) → storage names: core, carried-through (``x:`` removed), meta."""
    keep = [c for c in frame.columns if c in CORE_COLUMNS or c.startswith(_X) or c in _META]
    out = frame[keep].reset_index(drop=True)
    out.columns = [c[len(_X):] if c.startswith(_X) else c for c in keep]
    return out




class _Closing:
    """Context manager that closes the connection (sqlite3's own only ends transactions)."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def __enter__(self) -> sqlite3.Connection:
        return self.con

    def __exit__(self, *exc) -> None:
        self.con.close()


# --------------------------------------------------------------------------------- helpers
def _read_any(p: Path, fmt: str, mapping: ReferralMapping | None) -> pd.DataFrame:
    if fmt not in IMPORT_FORMATS:
        raise InputFileError(f"unknown format '{fmt}'", where=str(p), fix=f"use one of {', '.join(IMPORT_FORMATS)}")
    if fmt == "auto":
        with open(p, "rb") as fh:
            head = fh.read(64)
        if head.lstrip(b"\xef\xbb\xbf").upper().startswith(b"RDS") and p.suffix.lower() not in (".csv", ".xlsx"):
            fmt = "rdsat"
        elif p.suffix.lower() == ".csv" and mapping is None:
            first = head.split(b"\n")[0].decode("utf-8", "replace")
            cols = [c.strip().strip('"') for c in first.split(",")]
            fmt = "rds-csv" if ("recruiter.id" in cols and "id" in cols) else "log"
        else:
            fmt = "log"
    if fmt == "rdsat":
        return read_rdsat(p)
    if fmt == "rds-csv":
        return read_rds_csv(p)
    return read_referral_log(p, mapping=mapping)




def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in _NUMERIC_CORE:
        if c in df.columns:
            df[c] = _numeric_or_text(df[c].astype(object))
    return df


def derive_columns(raw: pd.DataFrame, *, expiry_days: float | None = None, as_of: Any = None,
                   include_personal_hashes: bool = False) -> pd.DataFrame:
    """Add recruiter ids, waves, seeds, chain sizes and coupon counts to a valid referral table.

    The coupons are matched once (:func:`hiddenpop.rds.coupons.link_coupons`) for everything.
    """
    from hiddenpop.rds.coupons import coupons_per_recruiter, link_coupons, recruiter_positions
    from hiddenpop.rds.tree import RecruitmentTree

    links = link_coupons(raw)
    parent = recruiter_positions(raw, source=raw.attrs.get("source", "store"), links=links)
    tree = RecruitmentTree(ids=links.ids, parent=parent)
    ids = tree.ids
    cp = coupons_per_recruiter(raw, expiry_days=expiry_days, as_of=as_of, links=links)
    out = raw[[c for c in CORE_COLUMNS]].copy()
    out["recruiter_id"] = _object(np.where(parent >= 0, ids[np.maximum(parent, 0)] if len(ids) else None, None))
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
        if c in CORE_COLUMNS or c in ("source_file", "source_row"):
            continue
        if c.startswith("_hash_") and not include_personal_hashes:
            continue
        out[f"{c}_reported" if c in out.columns else c] = raw[c]
    out["source_file"] = raw["source_file"] if "source_file" in raw else None
    out["source_row"] = raw["source_row"] if "source_row" in raw else np.arange(2, len(raw) + 2)
    out.attrs.update(raw.attrs)
    return out
