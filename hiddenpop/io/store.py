"""The survey store: one SQLite file holding every accepted interview, import and correction.

This module only stores. What an import does with each row (new, unchanged, changed, conflict,
quarantined, waiting for its recruiter, released) is decided by
:func:`hiddenpop.referrals.intake.plan_import`, a pure function; the store reads its current rows
for the planner and applies the plan.

Guarantees
----------
* **Idempotent.** A file whose SHA-256 was imported before is a no-op; rows already stored with
  the same content add nothing, so cumulative daily exports can be imported every evening.
* **Atomic.** An import is one SQLite transaction (rollback journal, ``synchronous=FULL``, a page
  cache large enough that nothing is written before the commit): a crash or ``kill -9`` mid-import
  leaves the store exactly as it was. :meth:`ReferralStore.check_file` plans without writing.
* **Every version kept.** Corrections are explicit (:meth:`ReferralStore.correct`,
  :meth:`ReferralStore.withdraw`) and every version is kept in ``history`` with its reason. An
  import writes no history row per new row (``imports`` records the file, checksum and counts;
  each row keeps its import, file and row); the first change of a row writes the imported version
  to the history before replacing it.
* **Privacy.** Personal columns (:data:`~hiddenpop.referrals.schema.DEFAULT_PERSONAL` plus the
  mapping file's ``[privacy] personal``) reach the store only as salted SHA-256 hashes
  ``_hash_<column>`` (the salt is drawn at creation and kept in the store); exports never contain them.

Layout
------
The referral-log columns of docs/data-contract.md are real SQLite columns of ``respondents`` (and ``pending``, the rows
waiting for their recruiter): text, except the network sizes, stored as numbers. Every
carried-through column becomes a text column ``x:<name>``, added when a file first brings it, so
reading the store back is one ``SELECT``. :meth:`ReferralStore.respondents` gives carried-through
columns back as numbers when every value is one (``"007"``-style codes stay text);
:meth:`ReferralStore.raw_respondents` gives the text as typed, for exact round trips.

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

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from hiddenpop.errors import InputFileError, OutputExistsError, RecruitmentError
from hiddenpop.io import PathLike, sha256_file
from hiddenpop.io.referrals import ReferralMapping, numeric_or_text, read_mapping, read_referrals, restore_numbers
from hiddenpop.referrals.coupons import normalise_coupons
from hiddenpop.referrals.derive import derive_columns
from hiddenpop.referrals.intake import (ImportPlan, ImportResult, cell_text, content_hashes,
                                        check_withdrawal, plan_correction, plan_import)
from hiddenpop.referrals.schema import (CORE_COLUMNS, DERIVED_COLUMNS, HASH_PREFIX, IMPORT_FORMATS, NUMERIC_CORE,
                                        SOURCE_COLUMNS, WAITING_RULES)
from hiddenpop.referrals.validate import DEFAULT_MAX_NETWORK_SIZE

__all__ = ["ReferralStore", "ImportResult", "DERIVED_COLUMNS", "IMPORT_FORMATS", "SCHEMA_VERSION",
           "TEST_SLEEP_ENV", "WAITING_RULES"]

SCHEMA_VERSION = "2"
#: test hook: seconds to sleep inside the import transaction after half the rows are written
TEST_SLEEP_ENV = "HIDDENPOP_TEST_IMPORT_SLEEP"

_X = "x:"  # SQLite name prefix of carried-through columns
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

def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()

def _q(name: str) -> str:
    """Quoted SQLite identifier."""
    return '"' + name.replace('"', '""') + '"'


def _object(values: Any) -> pd.Series:
    """An object Series (pandas 3 would otherwise infer its own string dtype)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return pd.Series(arr, dtype=object)

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
    for c in NUMERIC_CORE:
        out[c] = numeric_or_text(out[c])
    out["source_file"] = df["source_file"]
    out["source_row"] = pd.to_numeric(df["source_row"]).astype(np.int64) if len(df) else \
        pd.Series([], dtype=np.int64)
    for c in extras:
        out[c[len(_X):]] = df[c]
    return out


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
            :data:`hiddenpop.referrals.validate.DEFAULT_MAX_NETWORK_SIZE`).
        """
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
    def import_file(self, path: PathLike, *, mapping: ReferralMapping | PathLike | None = None,
                    fmt: str = "auto", strict: bool = False, accept_changes: bool = False,
                    progress: Callable[[int], None] | None = None, rules: str = "field") -> ImportResult:
        """Import a referral log (CSV/XLSX export, RDSAT file or R ``RDS`` CSV).

        The rows are read (:func:`~hiddenpop.io.referrals.read_referrals`), the import is planned
        against the stored rows (:func:`~hiddenpop.referrals.intake.plan_import`) and the plan is
        applied in one transaction (:meth:`apply_plan`).

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
        rules
            ``"field"`` (default, the evening loop) or ``"finished"`` (a completed study from another
            tool: linked like R's ``rid.from.coupons``, every row that can be stored lands, problems
            are warnings); see :func:`~hiddenpop.referrals.intake.plan_import`. The same file imported
            again under the same rules is a no-op; under the other rules it is planned again (rows kept
            out before may land) and recorded. Once a finished import landed, the store derives
            recruiters with the finished rules.

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
            done = [(i, json.loads(h or "{}").get("link_rules", "field")) for i, h in con.execute(
                "SELECT import_id, hints FROM imports WHERE sha256=? AND status='done' ORDER BY import_id",
                (digest,)).fetchall()]
        same = [i for i, r in done if r == rules]
        if same:
            return ImportResult(file=str(p), sha256=digest, import_id=same[0], already_imported=True)
        table = read_referrals(p, fmt, mapping)
        plan = self.plan(table, file=str(p), sha256=digest, mapping=mapping, strict=strict,
                         accept_changes=accept_changes, rules=rules)
        return self.apply_plan(plan, strict=strict, progress=progress)

    def check_file(self, path: PathLike, *, mapping: ReferralMapping | PathLike | None = None,
                   fmt: str = "auto", rules: str = "field") -> ImportResult:
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
        table = read_referrals(p, fmt, mapping)
        return self.plan(table, file=str(p), sha256=sha256_file(p), mapping=mapping, rules=rules).result

    def plan(self, table: pd.DataFrame, *, file: str, sha256: str, mapping: ReferralMapping | None = None,
             strict: bool = False, accept_changes: bool = False, rules: str = "field") -> ImportPlan:
        """Plan the import of ``table`` against what the store holds now (nothing is written)."""
        settings = self.settings
        with self._connect() as con:
            salt = self._salt(con)
            stored = _select(con, "SELECT respondent_id, redeemed_coupon, issued_coupons, recruiter_id, point_id, "
                                  "network_size, network_size_eligible, interview_time, source_file, source_row, "
                                  "content_hash FROM respondents WHERE withdrawn=0 ORDER BY pos")
            pending = _unprefixed(_select(con, "SELECT * FROM pending ORDER BY pos"))
            versions = con.execute("SELECT respondent_id, content_hash FROM history "
                                   "WHERE content_hash IS NOT NULL").fetchall()
            known = self._known_coupons(con)
        if known is not None:
            settings = {**settings, "printed_coupons": known}
        return plan_import(table, file=file, sha256=sha256, salt=salt, stored=stored, pending=pending,
                           versions=[(str(r), str(h)) for r, h in versions], settings=settings, mapping=mapping,
                           strict=strict, accept_changes=accept_changes, rules=rules)

    # ---------------------------------------------------------------------- printed coupons
    @staticmethod
    def _has_printed(con: sqlite3.Connection) -> bool:
        return con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='printed_coupons'").fetchone() \
            is not None

    def _used_codes(self, con: sqlite3.Connection) -> set[str]:
        """Every coupon number in the stored and waiting rows (issued or redeemed), as typed and as
        matched (``100014.0`` is ``100014``: :func:`hiddenpop.referrals.coupons.normalise_coupons`)."""
        out: set[str] = set()
        for table in ("respondents", "pending"):
            for red, iss in con.execute(f"SELECT redeemed_coupon, issued_coupons FROM {table}"):
                if red:
                    out.add(str(red).strip())
                if iss:
                    out.update(c.strip() for c in str(iss).split(";") if c.strip())
        return out | set(normalise_coupons(np.array(sorted(out), dtype=object)).tolist())

    def _known_coupons(self, con: sqlite3.Connection) -> frozenset[str] | None:
        """Printed numbers plus every number already in the data; ``None`` before any coupon is printed."""
        if not self._has_printed(con):
            return None
        printed = {r[0] for r in con.execute("SELECT code FROM printed_coupons")}
        if not printed:
            return None
        return frozenset(printed | self._used_codes(con))

    @contextlib.contextmanager
    def print_coupons(self, n: int, *, for_respondents: list[str | None] | None = None, printed_on: str,
                      expires: str | None = None) -> Iterator[list[str]]:
        """Reserve ``n`` new coupon numbers and register them as printed, not yet issued.

        A context manager: the numbers are yielded inside one transaction, which commits only if
        the block succeeds (write the PDF inside it: a failed write registers nothing). Serials
        continue after the largest serial printed or used in the data, so a new number never
        collides with one already in the field.

        >>> import tempfile, pathlib
        >>> st = ReferralStore.create(pathlib.Path(tempfile.mkdtemp()) / "s.hpstore")
        >>> with st.print_coupons(2, printed_on="2024-03-07") as codes:
        ...     codes
        ['100014', '100023']
        >>> st.printed_coupons()[["code", "status"]].values.tolist()
        [['100014', 'printed'], ['100023', 'printed']]
        """
        from hiddenpop.field.codes import FIRST_SERIAL, LAST_SERIAL, is_valid_code, make_code

        owners = list(for_respondents) if for_respondents is not None else [None] * n
        if len(owners) != n or n < 1:
            raise ValueError("give one owner (or None) per coupon, and at least one coupon")
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.execute("CREATE TABLE IF NOT EXISTS printed_coupons(serial INTEGER PRIMARY KEY, code TEXT NOT NULL "
                            "UNIQUE, batch INTEGER NOT NULL, printed_on TEXT NOT NULL, expires TEXT, "
                            "for_respondent TEXT, registered_at TEXT NOT NULL)")
                top, batch = con.execute("SELECT MAX(serial), MAX(batch) FROM printed_coupons").fetchone()
                used = [int(c[:-1]) for c in self._used_codes(con) if is_valid_code(c)]
                start = max([FIRST_SERIAL - 1, top or 0] + used) + 1
                if start + n - 1 > LAST_SERIAL:
                    raise RecruitmentError(f"only {max(0, LAST_SERIAL - start + 1)} coupon numbers are left",
                                           where=str(self.path), fix="print fewer coupons")
                codes = [make_code(s) for s in range(start, start + n)]
                now, b = _now(), (batch or 0) + 1
                con.executemany("INSERT INTO printed_coupons VALUES (?,?,?,?,?,?,?)",
                                [(start + k, c, b, printed_on, expires, owners[k], now) for k, c in enumerate(codes)])
                yield codes
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def printed_coupons(self) -> pd.DataFrame:
        """Coupons printed by ``hiddenpop field coupons``: ``code, batch, printed_on, expires,
        for_respondent, status`` (``printed``: not yet seen in the data; ``issued``: recorded as
        handed out; ``redeemed``: a recruit came with it), in number order."""
        cols = ["code", "batch", "printed_on", "expires", "for_respondent"]
        with self._connect() as con:
            if not self._has_printed(con):
                return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols + ["status"]})
            t = _select(con, f"SELECT {', '.join(cols)} FROM printed_coupons ORDER BY serial")
            red = {str(r[0]).strip() for r in con.execute("SELECT redeemed_coupon FROM respondents WHERE withdrawn=0 "
                                                          "AND redeemed_coupon IS NOT NULL")}
            iss = {c.strip() for (cell,) in con.execute("SELECT issued_coupons FROM respondents WHERE withdrawn=0 AND "
                                                        "issued_coupons IS NOT NULL") for c in str(cell).split(";")}
        # as matched: a number typed 100014.0 or 0100014 is coupon 100014
        red, iss = ({*x, *normalise_coupons(np.array(sorted(x), dtype=object)).tolist()} for x in (red, iss))
        t["status"] = ["redeemed" if c in red else "issued" if c in iss else "printed" for c in t["code"]]
        return t

    def apply_plan(self, plan: ImportPlan, *, strict: bool = False,
                   progress: Callable[[int], None] | None = None) -> ImportResult:
        """Write a plan in one transaction (all of it or, after a crash, nothing) and return its result.

        The plan must come from :meth:`plan` on this store with no write in between.
        """
        res = dataclasses.replace(plan.result, problems=list(plan.result.problems))  # the plan stays as planned
        file, now = res.file, _now()
        sleep = float(os.environ.get(TEST_SLEEP_ENV, "0") or 0)
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                cur = con.execute(
                    "INSERT INTO imports(file, sha256, format, imported_at, status, strict, n_rows, n_new, n_unchanged,"
                    " n_changed, n_conflicts, n_quarantined, n_released, n_pending, n_warnings, mapping, hints) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (file, res.sha256, plan.fmt, now, "done" if res.landed else "refused", int(strict), res.n_rows,
                     res.n_new, res.n_unchanged, res.n_changed, res.n_conflicts, res.n_quarantined, res.n_released,
                     res.n_pending, len(res.warnings), json.dumps(plan.mapping) if plan.mapping else None,
                     json.dumps(plan.hints)))
                res.import_id = import_id = cur.lastrowid
                if res.landed:
                    self._add_columns(con, list(plan.extras))
                    # released rows keep their own data and source file/row; then this file's rows in file order
                    rel = plan.released.copy()
                    rel["import_id"] = import_id
                    fresh = plan.fresh.assign(import_id=import_id)
                    rows_in = pd.concat([rel, fresh], ignore_index=True) if len(rel) else fresh
                    rows_in["revision"] = 1
                    changed = plan.changed.assign(import_id=import_id)
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
                                         for r, i in zip(rel["respondent_id"], plan.released["import_id"])]
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
                    fresh_w = plan.waiting_new.assign(import_id=import_id)
                    wait = pd.concat([plan.waiting_kept, fresh_w], ignore_index=True) if len(plan.waiting_kept) \
                        else fresh_w
                    self._insert(con, "pending", wait)
                con.executemany("INSERT INTO quarantine VALUES (?,?,?,?,?,?,?,?,?)",
                                [(import_id, q.source, q.row, q.respondent_id, q.rule, q.column, cell_text(q.value),
                                  q.message, q.fix) for q in plan.quarantine])
                con.executemany("INSERT INTO warnings VALUES (?,?,?,?,?,?,?,?,?)",
                                [(import_id, q.source, q.row, q.respondent_id, q.rule, q.column, cell_text(q.value),
                                  q.message, q.fix) for q in plan.warnings])
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
        # the linking of the stored rows: finished once a finished import landed (its rows may hold links
        # only those rules resolve, e.g. a coupon nobody issued)
        out.attrs["link_rules"] = "finished" if any(h.get("link_rules") == "finished" for h in hints) else "field"
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

        Columns: docs/data-contract.md, "Referral log" (``respondent_id, redeemed_coupon, issued_coupons, recruiter_id,
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
        carried = [c for c in raw.columns if c not in CORE_COLUMNS and c not in SOURCE_COLUMNS
                   and not c.startswith(HASH_PREFIX)]
        for c in carried:
            name = f"{c}_reported" if f"{c}_reported" in out.columns and c in DERIVED_COLUMNS else c
            if name in out.columns:
                out[name] = restore_numbers(out[name])
        return out

    def imports(self) -> pd.DataFrame:
        """One row per import (file, checksum, time, status, linking rules, counts)."""
        with self._connect() as con:
            out = pd.read_sql_query("SELECT import_id, file, sha256, format, imported_at, status, strict, n_rows, "
                                    "n_new, n_unchanged, n_changed, n_conflicts, n_quarantined, n_released, "
                                    "n_pending, n_warnings, hints FROM imports ORDER BY import_id", con)
        rules = [json.loads(h or "{}").get("link_rules", "field") for h in out.pop("hints")]
        out.insert(out.columns.get_loc("status") + 1, "rules", rules)
        return out

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

    # ----------------------------------------------------------------------------- corrections
    def correct(self, respondent_id: str, changes: Mapping[str, Any], *, reason: str) -> None:
        """Change fields of one stored respondent, keeping the previous version in the history.

        The change is refused (:class:`RecruitmentError`) if it would create an error in the
        store (e.g. a duplicate coupon) or touches a personal field
        (:func:`hiddenpop.referrals.intake.plan_correction`).
        """
        if not reason or not reason.strip():
            raise RecruitmentError("a correction needs a reason", fix="pass --reason \"...\" (kept in the history)")
        with self._connect() as con:
            known = self._known_coupons(con)
        settings = self.settings if known is None else {**self.settings, "printed_coupons": known}
        row = plan_correction(self.raw_respondents(), respondent_id, changes, settings=settings,
                              source=str(self.path))
        self._write_revision(str(respondent_id), row, "correct", reason)

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
        check_withdrawal(self.respondents(), rid, source=str(self.path))
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            self._ensure_history(con, [rid])
            con.execute("UPDATE respondents SET withdrawn=1, revision=revision+1 WHERE respondent_id=?", (rid,))
            rev = con.execute("SELECT revision FROM respondents WHERE respondent_id=?", (rid,)).fetchone()[0]
            con.execute("INSERT INTO history(respondent_id, revision, action, content_hash, data, import_id, reason, at)"
                        " VALUES (?,?,?,?,?,?,?,?)", (rid, rev, "withdraw", None, None, None, reason, _now()))
            con.execute("COMMIT")

    def _write_revision(self, rid: str, row: pd.DataFrame, action: str, reason: str) -> None:
        """Replace the stored data of ``rid`` by the one-row ``row`` (storage names) and log it."""
        h = content_hashes(row)[0]
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
