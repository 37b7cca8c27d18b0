"""The survey store: one SQLite file holding every accepted interview, import and correction.

This module only stores: :class:`ReferralStore` creates and opens a store, imports a file (read →
plan → apply), reads the rows back, keeps the history, corrections and withdrawals, reserves
printed coupon numbers, and dumps the store. What an import does with each row (new, unchanged,
changed, conflict, quarantined, waiting for its recruiter, released) is decided by
:func:`hiddenpop.referrals.intake.plan_import`, a pure function; which coupon numbers are known or
used, by :mod:`hiddenpop.referrals.coupons`; how the rows sit in SQLite, by
:mod:`hiddenpop.io.storedb`.

Guarantees
----------
* **Idempotent.** A file whose SHA-256 was imported before is a no-op; rows already stored with
  the same content add nothing, so cumulative daily exports can be imported every evening.
* **Atomic.** An import is one SQLite transaction (:func:`hiddenpop.io.storedb.connect`): a crash
  or ``kill -9`` mid-import leaves the store exactly as it was. :meth:`ReferralStore.check_file`
  plans without writing.
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
The tables and how rows are kept in them: :mod:`hiddenpop.io.storedb` (the SQLite layer).
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

import contextlib
import dataclasses
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from hiddenpop.errors import InputFileError, OutputExistsError, RecruitmentError
from hiddenpop.io import PathLike, sha256_file
from hiddenpop.io import storedb as db
from hiddenpop.io.referrals import ReferralMapping, read_mapping, read_referrals, restore_numbers
from hiddenpop.io.storedb import SCHEMA_VERSION
from hiddenpop.io.storerows import STORE_SETTINGS
from hiddenpop.referrals.coupons import coupon_numbers, known_coupons, printed_status
from hiddenpop.referrals.derive import derive_columns
from hiddenpop.referrals.intake import (ImportPlan, ImportResult, check_withdrawal, content_hashes, plan_correction,
                                        plan_import)
from hiddenpop.referrals.schema import (CORE_COLUMNS, DERIVED_COLUMNS, HASH_PREFIX, IMPORT_FORMATS, SOURCE_COLUMNS,
                                        WAITING_RULES, stored_link_rules)
from hiddenpop.referrals.validate import DEFAULT_MAX_NETWORK_SIZE

__all__ = ["ReferralStore", "ImportResult", "DERIVED_COLUMNS", "IMPORT_FORMATS", "SCHEMA_VERSION",
           "TEST_SLEEP_ENV", "WAITING_RULES"]

#: test hook: seconds to sleep inside the import transaction after half the rows are written
TEST_SLEEP_ENV = "HIDDENPOP_TEST_IMPORT_SLEEP"


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
        db.create_database(p, {"salt": secrets.token_hex(32), "created_at": db.now(),
                               "design_requires_point": json.dumps(bool(design_requires_point)),
                               "max_coupons": json.dumps(max_coupons), "expiry_days": json.dumps(expiry_days),
                               "max_network_size": json.dumps(max_network_size if max_network_size is not None
                                                              else DEFAULT_MAX_NETWORK_SIZE)})
        return cls(p)

    @classmethod
    def open(cls, path: PathLike) -> "ReferralStore":
        """Open an existing store (raises :class:`InputFileError` if it is not one)."""
        p = Path(path)
        if not p.exists():
            raise InputFileError("store not found", where=str(p),
                                 fix="create it first: hiddenpop referrals init " + str(p))
        try:
            version = db.schema_version(p)
        except sqlite3.DatabaseError as exc:
            raise InputFileError(f"not a hiddenpop store ({exc})", where=str(p),
                                 fix="give the file made by `hiddenpop referrals init`") from exc
        if version != SCHEMA_VERSION:
            raise InputFileError("not a hiddenpop store of this version", where=str(p),
                                 fix="give the file made by `hiddenpop referrals init`")
        return cls(p)

    def _connect(self) -> contextlib.closing[sqlite3.Connection]:
        return db.connect(self.path)

    @property
    def settings(self) -> dict[str, Any]:
        """Design settings kept in the store (``design_requires_point``, ``max_coupons``, …)."""
        with self._connect() as con:
            meta = db.read_meta(con)
        out = {k: json.loads(meta[k]) for k in STORE_SETTINGS if k in meta}
        out["created_at"] = meta.get("created_at")
        return out

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
            salt = db.read_meta(con)["salt"]
            stored = db.select(con, "SELECT respondent_id, redeemed_coupon, issued_coupons, recruiter_id, point_id, "
                                    "network_size, network_size_eligible, interview_time, source_file, source_row, "
                                    "content_hash FROM respondents WHERE withdrawn=0 ORDER BY pos")
            pending = db.unprefixed(db.select(con, "SELECT * FROM pending ORDER BY pos"))
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
    def _known_coupons(con: sqlite3.Connection) -> frozenset[str] | None:
        """:func:`~hiddenpop.referrals.coupons.known_coupons` of this store (``None``: nothing printed)."""
        if not db.has_table(con, "printed_coupons"):
            return None
        return known_coupons((r[0] for r in con.execute("SELECT code FROM printed_coupons")),
                             ReferralStore._used_codes(con))

    @staticmethod
    def _used_codes(con: sqlite3.Connection) -> set[str]:
        """Every coupon number of the stored and waiting rows, withdrawn ones included."""
        cells = con.execute("SELECT redeemed_coupon, issued_coupons FROM respondents UNION ALL "
                            "SELECT redeemed_coupon, issued_coupons FROM pending").fetchall()
        return coupon_numbers((r for r, _ in cells), (i for _, i in cells))

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
        from hiddenpop.field.codes import make_code, next_serial

        owners = list(for_respondents) if for_respondents is not None else [None] * n
        if len(owners) != n or n < 1:
            raise ValueError("give one owner (or None) per coupon, and at least one coupon")
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                db.create_printed_coupons(con)
                top, batch = con.execute("SELECT MAX(serial), MAX(batch) FROM printed_coupons").fetchone()
                start = next_serial(n, printed_top=top, used=self._used_codes(con), where=str(self.path))
                codes = [make_code(s) for s in range(start, start + n)]
                now, b = db.now(), (batch or 0) + 1
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
            if not db.has_table(con, "printed_coupons"):
                return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols + ["status"]})
            t = db.select(con, f"SELECT {', '.join(cols)} FROM printed_coupons ORDER BY serial")
            cells = con.execute("SELECT redeemed_coupon, issued_coupons FROM respondents WHERE withdrawn=0").fetchall()
        t["status"] = printed_status(t["code"], redeemed=(r for r, _ in cells), issued=(i for _, i in cells))
        return t

    def apply_plan(self, plan: ImportPlan, *, strict: bool = False,
                   progress: Callable[[int], None] | None = None) -> ImportResult:
        """Write a plan in one transaction (all of it or, after a crash, nothing) and return its result.

        The plan must come from :meth:`plan` on this store with no write in between.
        """
        res = dataclasses.replace(plan.result, problems=list(plan.result.problems))  # the plan stays as planned
        now = db.now()
        sleep = float(os.environ.get(TEST_SLEEP_ENV, "0") or 0)
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                res.import_id = import_id = db.add_import(
                    con, file=res.file, sha256=res.sha256, format=plan.fmt, imported_at=now,
                    status="done" if res.landed else "refused", strict=int(strict), n_rows=res.n_rows,
                    n_new=res.n_new, n_unchanged=res.n_unchanged, n_changed=res.n_changed,
                    n_conflicts=res.n_conflicts, n_quarantined=res.n_quarantined, n_released=res.n_released,
                    n_pending=res.n_pending, n_warnings=len(res.warnings),
                    mapping=json.dumps(plan.mapping) if plan.mapping else None, hints=json.dumps(plan.hints))
                if res.landed:
                    db.add_columns(con, list(plan.extras), where=str(self.path))
                    # released rows keep their own data and source file/row; then this file's rows in file order
                    rel = plan.released.copy()
                    rel["import_id"] = import_id
                    fresh = plan.fresh.assign(import_id=import_id)
                    rows_in = pd.concat([rel, fresh], ignore_index=True) if len(rel) else fresh
                    rows_in["revision"] = 1
                    changed = plan.changed.assign(import_id=import_id)
                    # the first version of a changed row goes into the history before it is replaced
                    db.ensure_history(con, list(changed["respondent_id"]))
                    self._write_rows(con, rows_in, changed, sleep=sleep, progress=progress)
                    # new rows need no history entry (the import table and the stored row say it all, see
                    # :meth:`history`); released rows and changed rows get one, with why
                    if len(rel) or len(changed):
                        db.history_from_rows(con, [(r, f"waited in quarantine for its recruiter since import #{int(i)}")
                                                   for r, i in zip(rel["respondent_id"], plan.released["import_id"])]
                                             + [(r, None) for r in changed["respondent_id"]],
                                             import_id=import_id, at=now)
                    # the pending table is replaced by the rows still waiting
                    con.execute("DELETE FROM pending")
                    fresh_w = plan.waiting_new.assign(import_id=import_id)
                    wait = pd.concat([plan.waiting_kept, fresh_w], ignore_index=True) if len(plan.waiting_kept) \
                        else fresh_w
                    db.insert(con, "pending", wait)
                db.add_problems(con, "quarantine", import_id, plan.quarantine)
                db.add_problems(con, "warnings", import_id, plan.warnings)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return res

    @staticmethod
    def _write_rows(con: sqlite3.Connection, rows_in: pd.DataFrame, changed: pd.DataFrame, *, sleep: float,
                    progress: Callable[[int], None] | None) -> None:
        """Insert new rows and update changed ones (the test hook sleeps half-way, inside the transaction)."""
        half = len(rows_in) // 2
        if sleep > 0 and half:
            db.insert(con, "respondents", rows_in.iloc[:half])
            if progress:
                progress(half)
            time.sleep(sleep)
            db.insert(con, "respondents", rows_in.iloc[half:])
            if progress:
                progress(len(rows_in) - half)
        else:
            db.insert(con, "respondents", rows_in)
            if progress:
                progress(len(rows_in))
        if len(changed):
            db.update_rows(con, changed)
            if progress:
                progress(len(changed))

    # ------------------------------------------------------------------------------ read back
    def raw_respondents(self, *, include_withdrawn: bool = False) -> pd.DataFrame:
        """Stored rows as typed in the source (no derived columns), with ``source_file``/``source_row``.

        Network sizes are numbers; carried-through columns are the text as imported (exact round
        trips to RDSAT and R ``RDS`` CSV). Personal fields appear only as ``_hash_<column>``.
        """
        with self._connect() as con:
            out = db.load_rows(con, include_withdrawn=include_withdrawn).drop(columns=["revision"])
            hints = [json.loads(h) for (h,) in con.execute("SELECT hints FROM imports WHERE status='done' "
                                                           "ORDER BY import_id").fetchall() if h]
        for h in hints:
            out.attrs.update(h)
        out.attrs["link_rules"] = stored_link_rules(hints)
        out.attrs["source"] = str(self.path)
        return out

    def pending(self) -> pd.DataFrame:
        """Rows waiting in quarantine for their recruiter (see :data:`WAITING_RULES`), with their source."""
        with self._connect() as con:
            df = db.select(con, "SELECT * FROM pending ORDER BY pos")
        out = db.stored_table(df)
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
                     f"coalesce(m.imported_at, ''), {db.history_json_sql(con, 'r')}, 1 AS k, r.pos AS o "
                     f"FROM respondents r LEFT JOIN imports m ON m.import_id=r.import_id WHERE NOT EXISTS "
                     f"(SELECT 1 FROM history h WHERE h.respondent_id=r.respondent_id)")
            params: tuple = ()
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
                db.add_history(con, rid, 0, "withdraw-pending", content_hash=waiting[0], import_id=waiting[1],
                               reason=reason)
                con.execute("COMMIT")
            return
        check_withdrawal(self.respondents(), rid, source=str(self.path))
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            db.ensure_history(con, [rid])
            con.execute("UPDATE respondents SET withdrawn=1, revision=revision+1 WHERE respondent_id=?", (rid,))
            rev = con.execute("SELECT revision FROM respondents WHERE respondent_id=?", (rid,)).fetchone()[0]
            db.add_history(con, rid, rev, "withdraw", reason=reason)
            con.execute("COMMIT")

    def _write_revision(self, rid: str, row: pd.DataFrame, action: str, reason: str) -> None:
        """Replace the stored data of ``rid`` by the one-row ``row`` (storage names) and log it."""
        h = content_hashes(row)[0]
        data = {c: v for c, v in zip(row.columns, db.plain_row(row)) if v is not None}
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                db.ensure_history(con, [rid])
                rev = db.update_one(con, rid, row, h, where=str(self.path))
                db.add_history(con, rid, rev, action, content_hash=h, data=json.dumps(data, ensure_ascii=False),
                               reason=reason)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def dump(self) -> list[str]:
        """The store's full content as SQL statements (to compare stores in tests and audits)."""
        return db.dump(self.path)
