"""The survey store: one SQLite file holding every accepted interview, import and correction.

Guarantees
----------
* **Idempotent imports.** A file whose SHA-256 was imported before is a no-op. Rows are
  identified by respondent id + content hash: a row already stored with the same content (or a
  content that was later corrected in the store) adds nothing, so cumulative daily exports can be
  imported every evening.
* **Atomic imports.** Each import is one SQLite transaction (rollback journal, ``synchronous=FULL``):
  a crash or ``kill -9`` mid-import leaves the store exactly as it was.
* **Quarantine, never half.** Rows with errors (:data:`hiddenpop.rds.validate.RULES`) and rows
  recruited below them are kept out of the data and listed in the ``quarantine`` table; the
  rest lands. With ``strict=True`` any error means nothing lands.
* **No silent overwrite.** A row whose content changed in a later export is reported as a
  conflict and left as stored unless ``accept_changes=True``; corrections are explicit
  (:meth:`ReferralStore.correct`, :meth:`ReferralStore.withdraw`) and every version is kept in
  the ``history`` table with its reason.
* **Privacy.** Personal columns (names, phone numbers; :data:`~hiddenpop.io.referrals.DEFAULT_PERSONAL`
  plus the mapping file's ``[privacy] personal``) are replaced by salted SHA-256 hashes before
  anything is written (the salt is drawn at creation and kept in the store); they are used only
  to find households interviewed twice, and exports never contain them.

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
import secrets
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop.errors import InputFileError, OutputExistsError, RecruitmentError, format_where
from hiddenpop.io import PathLike, sha256_file
from hiddenpop.io.referrals import (CORE_COLUMNS, DEFAULT_PERSONAL, ReferralMapping, _numeric_or_text, read_mapping,
                                    read_rds_csv, read_rdsat, read_referral_log)

__all__ = ["ReferralStore", "ImportResult", "DERIVED_COLUMNS", "IMPORT_FORMATS", "SCHEMA_VERSION",
           "TEST_SLEEP_ENV"]

SCHEMA_VERSION = "1"
#: columns :meth:`ReferralStore.respondents` adds to the stored data
DERIVED_COLUMNS = ("wave", "seed_id", "is_seed", "n_recruits", "chain_size", "coupons_issued", "coupons_redeemed",
                   "coupons_outstanding", "coupons_expired", "return_rate", "found_by")
#: test hook: seconds to sleep inside the import transaction after half the rows are written
TEST_SLEEP_ENV = "HIDDENPOP_TEST_IMPORT_SLEEP"
IMPORT_FORMATS = ("auto", "log", "rds-csv", "rdsat")

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE imports(import_id INTEGER PRIMARY KEY, file TEXT NOT NULL, sha256 TEXT NOT NULL, format TEXT,
    imported_at TEXT NOT NULL, status TEXT NOT NULL, strict INTEGER NOT NULL, n_rows INTEGER, n_new INTEGER,
    n_unchanged INTEGER, n_changed INTEGER, n_conflicts INTEGER, n_quarantined INTEGER, n_warnings INTEGER,
    mapping TEXT, hints TEXT);
CREATE TABLE respondents(pos INTEGER PRIMARY KEY, respondent_id TEXT NOT NULL UNIQUE, content_hash TEXT NOT NULL,
    data TEXT NOT NULL, import_id INTEGER, source_file TEXT, source_row INTEGER, revision INTEGER NOT NULL,
    withdrawn INTEGER NOT NULL DEFAULT 0);
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
    """What an import did (also recorded in the store's ``imports`` table)."""

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
                f"{self.n_quarantined} quarantined, {len(self.warnings)} warning(s)")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _text(v: Any) -> Any:
    """Values as stored: text, or None."""
    if v is None:
        return None
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return None
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return str(int(v))
    if v is pd.NA or v is pd.NaT:
        return None
    s = str(v)
    return s


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
            Any error (or conflict) → nothing lands.
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

    def _import_table(self, table: pd.DataFrame, *, file: str, digest: str, mapping: ReferralMapping | None,
                      strict: bool, accept_changes: bool, progress: Callable[[int], None] | None) -> ImportResult:
        from hiddenpop.rds.validate import Problem, quarantine_rows, validate_log

        settings = self.settings
        fmt = table.attrs.get("format", "csv")
        personal = [c for c in table.attrs.get("personal_columns", []) if c in table.columns]
        with self._connect() as con:
            salt = self._salt(con)
            stored = pd.read_sql_query("SELECT pos, respondent_id, content_hash, data, source_file, source_row, "
                                       "revision FROM respondents WHERE withdrawn=0 ORDER BY pos", con)
            known_hashes = pd.read_sql_query("SELECT respondent_id, content_hash FROM history", con)
        records, hashes = _records(table, personal=personal, salt=salt)
        rid = table["respondent_id"].map(lambda v: None if v is None else str(v)).to_numpy(dtype=object)
        stored_hash = dict(zip(stored["respondent_id"], stored["content_hash"]))
        seen_versions = set(zip(known_hashes["respondent_id"], known_hashes["content_hash"]))
        n = len(table)
        status = np.empty(n, dtype=object)
        for i in range(n):
            r = rid[i]
            if r in stored_hash:
                status[i] = "unchanged" if (stored_hash[r] == hashes[i] or (r, hashes[i]) in seen_versions) \
                    else ("changed" if accept_changes else "conflict")
            else:
                status[i] = "new"
        # a repeated id inside the file: only its first occurrence can be "unchanged"/"changed"
        dup_in_file = pd.Series(rid, dtype=object).duplicated().to_numpy()
        status[dup_in_file & (status != "new")] = "new"

        # combined table: stored rows (changed ones replaced) + candidate rows of this file
        cand = np.flatnonzero((status == "new") | (status == "changed"))
        replaced = set(rid[status == "changed"])
        keep_stored = stored[~stored["respondent_id"].isin(replaced)]
        old = _frame_from_json(keep_stored["data"].tolist())
        old["source_file"] = keep_stored["source_file"].to_numpy(dtype=object)
        old["source_row"] = keep_stored["source_row"].to_numpy()
        new = _frame_from_json([records[i] for i in cand])
        new["source_file"] = pd.Series([file] * len(cand), dtype=object)
        new["source_row"] = table["source_row"].to_numpy()[cand]
        combined = pd.concat([old, new], ignore_index=True) if len(old) else new
        combined = _typed(combined)
        combined.attrs["source"] = file
        combined.attrs["column_names"] = table.attrs.get("column_names", {})
        is_new = np.zeros(len(combined), dtype=bool)
        is_new[len(old):] = True
        problems = validate_log(combined, source=file, design_requires_point=settings["design_requires_point"],
                                max_coupons=settings["max_coupons"], max_network_size=settings["max_network_size"],
                                only_rows=is_new)
        quarantined = {i: ps for i, ps in quarantine_rows(combined, problems).items() if is_new[i]}
        cascade = [ps[0] for i, ps in sorted(quarantined.items()) if ps[0].rule == "recruiter-quarantined"]
        conflicts = np.flatnonzero(status == "conflict")
        conflict_problems = [Problem("changed-since-import", "error", file, int(table["source_row"].iat[i]), None, None,
                                     f"respondent {rid[i]} differs from the version already in the store",
                                     "if the change is right, import again with --accept-changes (the old version "
                                     "stays in the history), or use `hiddenpop referrals correct`", rid[i])
                             for i in conflicts]
        all_problems = sorted(problems + cascade + conflict_problems, key=lambda q: (q.row or 0))
        q_rows = sorted(quarantined)
        res = ImportResult(file=file, sha256=digest, n_rows=n, n_unchanged=int((status == "unchanged").sum()),
                           n_conflicts=len(conflicts), n_quarantined=len(q_rows) + len(conflicts),
                           problems=all_problems)
        ok_new = [k for k in range(len(cand)) if (len(old) + k) not in quarantined]
        res.n_new = sum(1 for k in ok_new if status[cand[k]] == "new")
        res.n_changed = sum(1 for k in ok_new if status[cand[k]] == "changed")
        if strict and (q_rows or len(conflicts)):
            res.landed = False
            res.n_new = res.n_changed = 0
        hints = {k: table.attrs[k] for k in ("rds_csv", "rdsat") if k in table.attrs}
        now = _now()
        sleep = float(os.environ.get(TEST_SLEEP_ENV, "0") or 0)
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                cur = con.execute(
                    "INSERT INTO imports(file, sha256, format, imported_at, status, strict, n_rows, n_new, n_unchanged,"
                    " n_changed, n_conflicts, n_quarantined, n_warnings, mapping, hints) VALUES (?,?,?,?,?,?,?,?,?,?,?,"
                    "?,?,?,?)",
                    (file, digest, fmt, now, "done" if res.landed else "refused", int(strict), n, res.n_new,
                     res.n_unchanged, res.n_changed, res.n_conflicts, res.n_quarantined, len(res.warnings),
                     json.dumps(mapping.to_dict()) if mapping else None, json.dumps(hints)))
                res.import_id = cur.lastrowid
                if res.landed:
                    self._write_rows(con, res.import_id, [cand[k] for k in ok_new], status, rid, records, hashes,
                                     table, file, now, sleep, progress)
                qrows = []
                for i in q_rows:
                    for q in quarantined[i]:
                        qrows.append((res.import_id, q.source, q.row, q.respondent_id, q.rule, q.column,
                                      _text(q.value), q.message, q.fix))
                qrows += [(res.import_id, q.source, q.row, q.respondent_id, q.rule, q.column, None, q.message, q.fix)
                          for q in conflict_problems]
                con.executemany("INSERT INTO quarantine VALUES (?,?,?,?,?,?,?,?,?)", qrows)
                con.executemany("INSERT INTO warnings VALUES (?,?,?,?,?,?,?,?,?)",
                                [(res.import_id, q.source, q.row, q.respondent_id, q.rule, q.column, _text(q.value),
                                  q.message, q.fix) for q in res.warnings])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return res

    def _write_rows(self, con, import_id, positions, status, rid, records, hashes, table, file, now, sleep,
                    progress) -> None:
        half = len(positions) // 2
        batch_ins, batch_upd, hist = [], [], []
        rows = table["source_row"].to_numpy()
        revisions = dict(con.execute("SELECT respondent_id, revision FROM respondents").fetchall())
        for k, i in enumerate(positions):
            data = records[i]
            if status[i] == "changed":
                rev = revisions[rid[i]] + 1
                batch_upd.append((hashes[i], data, import_id, file, int(rows[i]), rev, rid[i]))
                hist.append((rid[i], rev, "import-change", hashes[i], data, import_id, None, now))
            else:
                batch_ins.append((rid[i], hashes[i], data, import_id, file, int(rows[i]), 1))
                hist.append((rid[i], 1, "import", hashes[i], data, import_id, None, now))
            if k + 1 == half and sleep > 0:
                self._flush(con, batch_ins, batch_upd, hist)
                batch_ins, batch_upd, hist = [], [], []
                if progress:
                    progress(half)
                time.sleep(sleep)
        self._flush(con, batch_ins, batch_upd, hist)
        if progress:
            progress(len(positions) - (half if sleep > 0 else 0))

    @staticmethod
    def _flush(con, ins, upd, hist) -> None:
        con.executemany("INSERT INTO respondents(respondent_id, content_hash, data, import_id, source_file, "
                        "source_row, revision) VALUES (?,?,?,?,?,?,?)", ins)
        con.executemany("UPDATE respondents SET content_hash=?, data=?, import_id=?, source_file=?, source_row=?, "
                        "revision=? WHERE respondent_id=?", upd)
        con.executemany("INSERT INTO history(respondent_id, revision, action, content_hash, data, import_id, reason, "
                        "at) VALUES (?,?,?,?,?,?,?,?)", hist)

    # ------------------------------------------------------------------------------ read back
    def raw_respondents(self, *, include_withdrawn: bool = False) -> pd.DataFrame:
        """Stored rows as text (no derived columns), with ``source_file``/``source_row``."""
        with self._connect() as con:
            df = pd.read_sql_query("SELECT respondent_id, data, source_file, source_row, revision, withdrawn "
                                   "FROM respondents" + ("" if include_withdrawn else " WHERE withdrawn=0")
                                   + " ORDER BY pos", con)
            hints = [json.loads(h) for (h,) in con.execute("SELECT hints FROM imports WHERE status='done' "
                                                           "ORDER BY import_id").fetchall() if h]
        out = _frame_from_json(df["data"].tolist())
        out["source_file"] = df["source_file"].to_numpy(dtype=object)
        out["source_row"] = df["source_row"].to_numpy()
        out = _typed(out)
        for h in hints:
            out.attrs.update(h)
        out.attrs["source"] = str(self.path)
        return out

    def respondents(self, *, include_personal_hashes: bool = False, expiry_days: float | None = None,
                    as_of: Any = None) -> pd.DataFrame:
        """Accepted respondents with the derived recruitment columns.

        Columns: data-contract §3 (``respondent_id, redeemed_coupon, issued_coupons, recruiter_id,
        point_id, network_size, network_size_eligible, interview_time``), the derived
        :data:`DERIVED_COLUMNS` (``wave, seed_id, is_seed, n_recruits, chain_size, coupons_issued,
        coupons_redeemed, …, found_by``), then carried-through columns (as text) and
        ``source_file, source_row``. ``recruiter_id`` is filled from coupon matching.
        Personal-field hashes (``_hash_<column>``) only with ``include_personal_hashes``.
        """
        raw = self.raw_respondents()
        return derive_columns(raw, expiry_days=expiry_days if expiry_days is not None else
                              self.settings.get("expiry_days"), as_of=as_of,
                              include_personal_hashes=include_personal_hashes)

    def imports(self) -> pd.DataFrame:
        """One row per import (file, checksum, time, status, counts)."""
        with self._connect() as con:
            return pd.read_sql_query("SELECT import_id, file, sha256, format, imported_at, status, strict, n_rows, "
                                     "n_new, n_unchanged, n_changed, n_conflicts, n_quarantined, n_warnings "
                                     "FROM imports ORDER BY import_id", con)

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
        """Every stored version of every row (or of one respondent): action, revision, reason, time."""
        with self._connect() as con:
            q = "SELECT history_id, respondent_id, revision, action, import_id, reason, at, data FROM history"
            if respondent_id is not None:
                return pd.read_sql_query(q + " WHERE respondent_id=? ORDER BY history_id", con,
                                         params=(str(respondent_id),))
            return pd.read_sql_query(q + " ORDER BY history_id", con)

    def possible_duplicates(self) -> pd.DataFrame:
        """Pairs of respondents sharing a hashed personal field (same household reached twice?)."""
        raw = self.raw_respondents()
        rows = []
        for c in [c for c in raw.columns if c.startswith("_hash_")]:
            vals = raw[["respondent_id", c]].dropna()
            for h, grp in vals.groupby(c):
                ids = grp["respondent_id"].tolist()
                rows += [(ids[0], other, c[len("_hash_"):]) for other in ids[1:]]
        return pd.DataFrame(rows, columns=["respondent_id", "same_as", "field"])

    def selection_events(self) -> pd.DataFrame:
        """One row per selection event: a point hit (``point``) or a redeemed coupon (``coupon``).

        ``household`` links events of the same household: respondents sharing a hashed personal
        field (:meth:`possible_duplicates`) get the first one's id.
        """
        t = self.respondents()
        dup = self.possible_duplicates()
        household = dict(zip(t["respondent_id"], t["respondent_id"]))
        for a, b in zip(dup["respondent_id"], dup["same_as"]):
            household[b] = household.get(a, a)
        ev = []
        for r in t.itertuples(index=False):
            hh = household[r.respondent_id]
            if isinstance(r.point_id, str) and r.point_id:
                ev.append((hh, r.respondent_id, "point", r.point_id, None, None, r.interview_time))
            if r.recruiter_id is not None and not (isinstance(r.recruiter_id, float)):
                ev.append((hh, r.respondent_id, "coupon", None, r.redeemed_coupon, r.recruiter_id, r.interview_time))
        return pd.DataFrame(ev, columns=["household", "respondent_id", "event", "point_id", "coupon", "recruiter_id",
                                         "interview_time"])

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
        with self._connect() as con:
            row = con.execute("SELECT data, revision FROM respondents WHERE respondent_id=? AND withdrawn=0",
                              (rid,)).fetchone()
        if row is None:
            raise RecruitmentError("no such respondent in the store", where=format_where(str(self.path), value=rid),
                                   fix="check the id (`hiddenpop referrals status` lists them)")
        data = json.loads(row[0])
        for col in changes:
            if col.startswith("_hash_") or col in DEFAULT_PERSONAL:
                raise RecruitmentError("personal fields cannot be corrected in the store",
                                       where=format_where(column=col), fix="correct them in the source form")
            if col in ("source_row", "source_file", *DERIVED_COLUMNS):
                raise RecruitmentError(f"'{col}' is derived, not data", where=format_where(column=col),
                                       fix="correct the coupons or recruiter id instead")
        raw = self.raw_respondents()
        before = validate_log(raw, source=str(self.path), **self._rule_settings())
        new = dict(data)
        for col, val in changes.items():
            new[col] = None if val is None or str(val).strip() == "" else _text(val)
        i = int(np.flatnonzero(raw["respondent_id"].astype(str).to_numpy() == rid)[0])
        trial = raw.copy()
        for col, val in new.items():
            if col not in trial.columns:
                trial[col] = pd.Series([None] * len(trial), dtype=object)
            trial[col] = trial[col].astype(object)
            trial.iat[i, trial.columns.get_loc(col)] = val
        trial = _typed(trial)
        after = validate_log(trial, source=str(self.path), **self._rule_settings())
        old_err = {(p.rule, p.respondent_id) for p in before if p.severity == "error"}
        fresh = [p for p in after if p.severity == "error" and (p.rule, p.respondent_id) not in old_err]
        if fresh:
            raise RecruitmentError(f"correction refused, it would create a problem: {fresh[0]}",
                                   fix="correct the other rows first, or choose another value")
        self._write_revision(rid, new, row[1] + 1, "correct", reason)

    def withdraw(self, respondent_id: str, *, reason: str) -> None:
        """Take a respondent out of the data (kept in the history), e.g. an interview entered twice.

        Refused while the respondent has recruits in the store.
        """
        if not reason or not reason.strip():
            raise RecruitmentError("withdrawing needs a reason", fix="pass --reason \"...\" (kept in the history)")
        rid = str(respondent_id)
        t = self.respondents()
        hit = t.index[t["respondent_id"].astype(str) == rid]
        if not len(hit):
            raise RecruitmentError("no such respondent in the store", where=format_where(str(self.path), value=rid),
                                   fix="check the id")
        kids = t.loc[t["recruiter_id"] == rid, "respondent_id"].tolist()
        if kids:
            raise RecruitmentError(f"respondent {rid} recruited {', '.join(map(str, kids[:5]))}",
                                   fix="correct or withdraw the recruits first")
        with self._connect() as con:
            rev = con.execute("SELECT revision FROM respondents WHERE respondent_id=?", (rid,)).fetchone()[0]
            con.execute("BEGIN IMMEDIATE")
            con.execute("UPDATE respondents SET withdrawn=1, revision=? WHERE respondent_id=?", (rev + 1, rid))
            con.execute("INSERT INTO history(respondent_id, revision, action, content_hash, data, import_id, reason, at)"
                        " VALUES (?,?,?,?,?,?,?,?)", (rid, rev + 1, "withdraw", None, None, None, reason, _now()))
            con.execute("COMMIT")

    def _rule_settings(self) -> dict[str, Any]:
        s = self.settings
        return {"design_requires_point": s["design_requires_point"], "max_coupons": s["max_coupons"],
                "max_network_size": s["max_network_size"]}

    def _write_revision(self, rid: str, data: dict, revision: int, action: str, reason: str) -> None:
        text = json.dumps(data, ensure_ascii=False)
        h = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("UPDATE respondents SET data=?, revision=? WHERE respondent_id=?", (text, revision, rid))
            con.execute("INSERT INTO history(respondent_id, revision, action, content_hash, data, import_id, reason, at)"
                        " VALUES (?,?,?,?,?,?,?,?)", (rid, revision, action, h, text, None, reason, _now()))
            con.execute("COMMIT")

    def dump(self) -> list[str]:
        """The store's full content as SQL statements (to compare stores in tests and audits)."""
        con = sqlite3.connect(self.path)
        try:
            return list(con.iterdump())
        finally:
            con.close()


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


def _records(table: pd.DataFrame, *, personal: list[str], salt: str) -> tuple[list[str], list[str]]:
    """Rows as stored (key-sorted JSON text; personal columns replaced by salted hashes) and content hashes."""
    cols = sorted(c for c in table.columns if c != "source_row")
    columns = []
    for c in cols:
        s = table[c].astype(object)
        miss = s.isna().to_numpy()
        if s.map(type).isin([str]).all() or miss.all():
            vals = [None if m else v for v, m in zip(s.tolist(), miss)]
        else:
            vals = [_text(v) for v in s.tolist()]
        if c in personal:
            vals = [None if v is None else hashlib.sha256((salt + " ".join(v.lower().split())).encode("utf-8"))
                    .hexdigest() for v in vals]
        columns.append(vals)
    keys = [f"_hash_{c}" if c in personal else c for c in cols]
    order = np.argsort(keys, kind="stable")
    keys = [keys[k] for k in order]
    columns = [columns[k] for k in order]
    records, hashes = [], []
    dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=False).encode
    for row in zip(*columns):
        text = dumps(dict(zip(keys, row)))
        records.append(text)
        hashes.append(hashlib.sha256(text.encode()).hexdigest())
    return records, hashes


def _frame_from_json(items: list) -> pd.DataFrame:
    recs = [json.loads(x) if isinstance(x, str) else x for x in items]
    cols: dict[str, None] = {c: None for c in CORE_COLUMNS}
    for r in recs:
        for k in r:
            cols.setdefault(k, None)
    data = {c: pd.Series([r.get(c) for r in recs], dtype=object) for c in cols}
    return pd.DataFrame(data, index=pd.RangeIndex(len(recs)))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in ("network_size", "network_size_eligible"):
        if c in df.columns:
            df[c] = _numeric_or_text(df[c].astype(object))
    return df


def derive_columns(raw: pd.DataFrame, *, expiry_days: float | None = None, as_of: Any = None,
                   include_personal_hashes: bool = False) -> pd.DataFrame:
    """Add recruiter ids, waves, seeds, chain sizes and coupon counts to a valid referral table."""
    from hiddenpop.rds.coupons import coupons_per_recruiter, recruiter_positions
    from hiddenpop.rds.tree import RecruitmentTree, _as_str

    parent = recruiter_positions(raw, source=raw.attrs.get("source", "store"))
    tree = RecruitmentTree(ids=_as_str(raw["respondent_id"]), parent=parent)
    ids = tree.ids
    cp = coupons_per_recruiter(raw, expiry_days=expiry_days, as_of=as_of)
    out = raw[[c for c in CORE_COLUMNS]].copy()
    out["recruiter_id"] = pd.Series(np.where(parent >= 0, ids[np.maximum(parent, 0)] if len(ids) else None, None),
                                    dtype=object)
    out["wave"] = tree.wave
    out["seed_id"] = pd.Series(tree.seed_ids(), dtype=object)
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
