"""Planning an import: what happens to each row of an incoming referral log, decided without SQLite.

:func:`plan_import` takes what the store holds (accepted rows, rows waiting for their recruiter,
the content hashes of every earlier version) and the incoming table, and returns a frozen
:class:`ImportPlan`: the rows to add, to change and to keep waiting, the quarantined rows with
their problems, and the :class:`ImportResult` counts. :meth:`hiddenpop.io.store.ReferralStore.import_file`
applies the plan in one transaction; ``check_file`` (a dry run) only reports it.

How each incoming row is classified
-----------------------------------
A row is identified by its respondent id and its **content hash**: the SHA-256 of its non-empty
``(column, text)`` pairs in column-name order (personal columns already replaced by salted hashes),
so a later export that adds an empty column changes nothing.

* **new**: the respondent id is not in the store;
* **unchanged**: same id, and the content equals the stored version or any earlier version of it
  (a row corrected in the store does not come back as a conflict from the next export);
* **changed** (``accept_changes=True``) or **conflict** (otherwise): same id, other content. A
  conflict is quarantined with the problem ``changed-since-import`` and the stored row is kept;
* a respondent id repeated inside the file: only its first occurrence can be unchanged/changed,
  later ones are checked as new rows (and meet the ``duplicate-id`` rule).

New and changed rows are then validated **together with** the stored rows and the rows waiting
from earlier imports (:func:`hiddenpop.referrals.validate.located_problems`), so a coupon issued in
an earlier file is known. Only problems on the incoming and waiting rows count:

* a row with an error (:data:`hiddenpop.referrals.validate.RULES`, which go by harm: e.g. a coupon
  it redeemed that is on the forms of two respondents, ``coupon-issuer-ambiguous``; a coupon two
  people came with from one recruiter only warns, and both are linked to that recruiter) is
  **quarantined**, and so is every row recruited below it (``recruiter-quarantined``,
  :func:`hiddenpop.referrals.validate.cascade_quarantine`). A coupon made ambiguous by a new row
  while its redeemers are all stored is reported on that new row. Under ``rules="finished"`` (a
  completed study) the rows are linked like R's ``rid.from.coupons`` and only missing or repeated
  ids and recruitment cycles are errors;
* a quarantined **new** row whose only problems are :data:`~hiddenpop.referrals.schema.WAITING_RULES`
  (its coupon was never issued, its recruiter is unknown or itself waiting) **waits** for its
  recruiter instead of being dropped, and lands at the import that brings the recruiter;
* a waiting row from an earlier import that now passes is **released** (it lands, keeping its own
  source file and row); one that the incoming file brings again is replaced by the new version;
* with ``strict=True`` any quarantined row or conflict of the file means nothing lands.

Examples
--------
>>> import pandas as pd
>>> incoming = pd.DataFrame({"respondent_id": ["A", "B", "C", "D"], "redeemed_coupon": [None, "c1", "c1", "c2"],
...                          "issued_coupons": ["c1;c2", "c2", None, None], "source_row": [2, 3, 4, 5]})
>>> plan = plan_import(incoming, file="day1.csv", sha256="0" * 64, salt="s")
>>> plan.result.n_new, plan.result.n_quarantined, [p.rule for p in plan.result.errors]
(3, 1, ['coupon-issuer-ambiguous'])
>>> plan.fresh["respondent_id"].tolist(), [p.rule for p in plan.result.warnings if p.rule.startswith("coupon")]
(['A', 'B', 'C'], ['coupon-redeemed-twice'])
>>> plan_import(incoming, file="day1.csv", sha256="0" * 64, salt="s", rules="finished").result.n_new
4
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from hiddenpop.errors import RecruitmentError, format_where
from hiddenpop.referrals.coupons import LINK_RULES, link_coupons
from hiddenpop.referrals.schema import (CORE_COLUMNS, DEFAULT_PERSONAL, DERIVED_COLUMNS, HASH_PREFIX, NUMERIC_CORE,
                                        SOURCE_COLUMNS, WAITING_RULES)
from hiddenpop.referrals.validate import (DEFAULT_MAX_NETWORK_SIZE, Problem, cascade_quarantine, located_problems,
                                          validate_log)

__all__ = ["ImportResult", "ImportPlan", "plan_import", "plan_correction", "check_withdrawal", "storage_frame", "content_hashes",
           "cell_text", "number_or_text", "DEFAULT_SETTINGS"]

#: rule settings of a store created with the defaults
DEFAULT_SETTINGS: Mapping[str, Any] = {"design_requires_point": False, "max_coupons": None,
                                       "max_network_size": DEFAULT_MAX_NETWORK_SIZE}
#: the store's bookkeeping columns besides the data (pending rows carry them)
_META = ("content_hash", "import_id", "source_file", "source_row")


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



def cell_text(v: Any) -> Any:
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
    """:func:`cell_text` over a column: an object array of non-empty strings and None (vectorised when the
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
    if kind == "floating":  # network sizes: integer-valued numbers without ".0", as cell_text
        f = np.array([np.nan if v is None or v is pd.NA else v for v in arr.tolist()], dtype=np.float64)
        out = np.full(len(arr), None, dtype=object)
        fin = np.isfinite(f)
        whole = fin & (np.floor(np.where(fin, f, 0)) == f) & (np.abs(np.where(fin, f, 0)) < 2 ** 62)
        out[whole] = f[whole].astype(np.int64).astype(str).astype(object)
        other = ~np.isnan(f) & ~whole
        if other.any():
            out[other] = [cell_text(float(v)) for v in f[other]]
        return out
    out = np.empty(len(arr), dtype=object)
    out[:] = [v if (type(v) is str and v) else (None if v is None else cell_text(v)) for v in arr]
    return out


def _numbers_or_texts(col: Any) -> list:
    """:func:`number_or_text` over a column (vectorised when it is already numeric)."""
    if isinstance(col, pd.Series) and col.dtype.kind in "fiu":
        arr = col.to_numpy(dtype=float)
        out = arr.astype(object)
        out[np.isnan(arr)] = None
        return out.tolist()
    vals = col.to_numpy(dtype=object) if isinstance(col, pd.Series) else col
    return [None if v is None else (v if type(v) is float and v == v else number_or_text(v)) for v in vals]


def number_or_text(v: Any) -> Any:
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



def _object(values: Any) -> pd.Series:
    """An object Series (pandas 3 would otherwise infer its own string dtype)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return pd.Series(arr, dtype=object)



def content_hashes(frame: pd.DataFrame) -> list[str]:
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


def storage_frame(table: pd.DataFrame, *, personal: list[str], salt: str) -> pd.DataFrame:
    """The rows as stored: core columns (text; network sizes numeric), carried-through columns as
    text in file order, personal columns replaced by ``_hash_<name>`` salted hashes."""
    out: dict[str, pd.Series] = {}
    for c in CORE_COLUMNS:
        if c not in table.columns:
            out[c] = _object([None] * len(table))
        elif c in NUMERIC_CORE:
            out[c] = _object(_numbers_or_texts(table[c]))
        else:
            out[c] = _object(_texts(table[c]))
    for c in table.columns:
        if c in CORE_COLUMNS or c in SOURCE_COLUMNS:
            continue
        vals = _texts(table[c])
        if c in personal:
            vals = [None if v is None else hashlib.sha256((salt + " ".join(v.lower().split())).encode("utf-8"))
                    .hexdigest() for v in vals]
            out[f"{HASH_PREFIX}{c}"] = _object(vals)
        else:
            out[c] = _object(vals)
    return pd.DataFrame(out, index=pd.RangeIndex(len(table)))



@dataclass(frozen=True, eq=False)
class ImportPlan:
    """What an import will do, decided by :func:`plan_import` (the store applies it atomically).

    Attributes
    ----------
    result : ImportResult
        The counts and problems (``import_id`` is set by the store when it applies the plan).
    fmt, mapping, hints
        Recorded with the import: the file format, the mapping as plain data, the readers' format
        details needed to write the data back (RDSAT, R ``RDS`` CSV).
    extras : tuple of str
        Carried-through columns the stored tables must have (incoming and waiting rows).
    released : pandas.DataFrame
        Rows that waited for their recruiter and land now (their own data, file and row, and
        ``import_id`` of the import they came with).
    fresh : pandas.DataFrame
        New rows of the file that land, in file order (data, ``content_hash``, ``source_file``,
        ``source_row``).
    changed : pandas.DataFrame
        Rows of the file that replace a stored version (``accept_changes``).
    waiting_kept, waiting_new : pandas.DataFrame
        Rows still waiting for their recruiter: from earlier imports (with their ``import_id``),
        and new ones of this file.
    quarantine, warnings : tuple of Problem
        Rows kept out with their problems (in the store's order), and the warnings of the file.
    """

    result: ImportResult
    fmt: str
    mapping: dict | None
    hints: dict
    extras: tuple[str, ...]
    released: pd.DataFrame
    fresh: pd.DataFrame
    changed: pd.DataFrame
    waiting_kept: pd.DataFrame
    waiting_new: pd.DataFrame
    quarantine: tuple[Problem, ...]
    warnings: tuple[Problem, ...]

    @property
    def landed(self) -> bool:
        """False when ``strict`` refused the file (nothing but the import record is written)."""
        return self.result.landed


def _frame(table: pd.DataFrame | None, columns: tuple[str, ...]) -> pd.DataFrame:
    if table is not None:
        return table
    return pd.DataFrame({c: _object([]) for c in columns})


def plan_import(table: pd.DataFrame, *, file: str, sha256: str, salt: str, stored: pd.DataFrame | None = None,
                pending: pd.DataFrame | None = None, versions: Any = (), settings: Mapping[str, Any] = DEFAULT_SETTINGS,
                mapping: Any = None, strict: bool = False, accept_changes: bool = False,
                rules: str = "field") -> ImportPlan:
    """Plan the import of a normalised referral table (see the module docstring for the rules).

    Parameters
    ----------
    table
        The incoming rows (:func:`hiddenpop.io.referrals.read_referrals`), with ``source_row``.
    file, sha256
        The file's name as recorded and its checksum.
    salt
        The store's salt for personal-field hashes.
    stored
        Accepted rows now in the store (not withdrawn, store order): the core columns,
        ``source_file``, ``source_row`` and ``content_hash``. ``None``: an empty store.
    pending
        Rows waiting for their recruiter: their data (storage names) and ``content_hash``,
        ``import_id``, ``source_file``, ``source_row``.
    versions
        ``(respondent_id, content_hash)`` of every version recorded in the history.
    settings
        The store's rule settings (``design_requires_point``, ``max_coupons``, ``max_network_size``,
        and ``printed_coupons``: the coupon numbers the store knows once it has printed coupons).
    mapping
        The :class:`~hiddenpop.io.referrals.ReferralMapping` used to read the file (recorded).
    strict, accept_changes
        As :meth:`hiddenpop.io.store.ReferralStore.import_file`.
    rules
        ``"field"`` (the evening loop) or ``"finished"`` (a completed study: link like R's
        ``rid.from.coupons``, every rule but missing/duplicate ids and cycles a warning); see
        :data:`hiddenpop.referrals.coupons.LINK_RULES` and :mod:`hiddenpop.referrals.validate`.
        Recorded in ``hints["link_rules"]``.

    Returns
    -------
    ImportPlan
    """
    if rules not in LINK_RULES:
        raise RecruitmentError(f"unknown rules '{rules}'", fix=f"use one of {', '.join(LINK_RULES)}")
    stored = _frame(stored, CORE_COLUMNS + SOURCE_COLUMNS + ("content_hash",))
    pending = _frame(pending, CORE_COLUMNS + _META)
    fmt = table.attrs.get("format", "csv")
    personal = [c for c in table.attrs.get("personal_columns", []) if c in table.columns]
    data = storage_frame(table, personal=personal, salt=salt)
    hashes = np.array(content_hashes(data), dtype=object)
    n = len(table)
    rid = data["respondent_id"].to_numpy(dtype=object)
    source_row = table["source_row"].to_numpy(dtype=np.int64)

    # status of each file row: new / unchanged / changed / conflict
    loc = pd.Index(stored["respondent_id"].to_numpy(dtype=object)).get_indexer(rid) if len(stored) else \
        np.full(n, -1)
    stored_hash = stored["content_hash"].to_numpy(dtype=object)
    same = np.zeros(n, dtype=bool)
    same[loc >= 0] = stored_hash[loc[loc >= 0]] == hashes[loc >= 0]
    seen = {f"{r}\x1f{h}" for r, h in versions}
    if seen:
        same |= np.array([f"{r}\x1f{h}" in seen for r, h in zip(rid, hashes)], dtype=bool)
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
        links = link_coupons(combined, rules=rules)
        items = located_problems(combined, source=file, design_requires_point=settings["design_requires_point"],
                                 max_coupons=settings["max_coupons"], max_network_size=settings["max_network_size"],
                                 links=links, accepted=S, printed_coupons=settings.get("printed_coupons"))
    bad: dict[int, list] = {}
    problems_at: list[tuple[int, Any]] = []
    for i, _, q in sorted(items, key=lambda t: (t[0], t[1])):
        if i < S:
            continue
        problems_at.append((i, q))
        if q.severity == "error":
            bad.setdefault(i, []).append(q)
    quarantined = {i: ps for i, ps in cascade_quarantine(combined, bad, links=links).items() if i >= S}
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
    res = ImportResult(file=file, sha256=sha256, n_rows=n, n_unchanged=int((status == "unchanged").sum()),
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

    extras = [c for c in data.columns if c not in CORE_COLUMNS]
    extras += [c for c in pending.columns if c not in CORE_COLUMNS and c not in _META and c not in extras]
    new_k = cand[[k for k in ok_file if cand_status[k] == "new"]]
    chg_k = cand[[k for k in ok_file if cand_status[k] == "changed"]]
    old_w = [i - S for i in waiting if i < S + P]
    new_w = cand[[i - S - P for i in waiting if i >= S + P]]

    def rows(k: np.ndarray) -> pd.DataFrame:
        return data.iloc[k].reset_index(drop=True).assign(content_hash=hashes[k], source_file=file,
                                                          source_row=source_row[k])

    quarantine = tuple(q for i in sorted(quarantined, key=lambda i: (i < S + P, i)) for q in quarantined[i]) \
        + tuple(conflict_problems)
    return ImportPlan(result=res, fmt=fmt, mapping=mapping.to_dict() if mapping else None,
                      hints={**{k: table.attrs[k] for k in ("rds_csv", "rdsat") if k in table.attrs},
                             "link_rules": rules},
                      extras=tuple(extras), released=keep_pending.iloc[released].reset_index(drop=True),
                      fresh=rows(new_k), changed=rows(chg_k),
                      waiting_kept=keep_pending.iloc[old_w].reset_index(drop=True), waiting_new=rows(new_w),
                      quarantine=quarantine, warnings=tuple(res.warnings))


def plan_correction(raw: pd.DataFrame, respondent_id: str, changes: Mapping[str, Any], *,
                    settings: Mapping[str, Any] = DEFAULT_SETTINGS, source: str = "store") -> pd.DataFrame:
    """The corrected version of one stored row, or an error if the correction is not allowed.

    Refused (:class:`~hiddenpop.errors.RecruitmentError`): personal fields, derived columns, columns
    the store does not have, an unknown respondent, and any change that would create a new error
    in the stored data (e.g. a duplicate coupon).

    Parameters
    ----------
    raw
        The stored rows (``ReferralStore.raw_respondents()``).
    respondent_id, changes
        The row to correct and its new values (column → value; empty text clears the cell).
    settings, source
        The store's rule settings, and its name for messages.

    Returns
    -------
    pandas.DataFrame
        One row in storage form (no ``source_file``/``source_row``).
    """
    rid = str(respondent_id)
    for col in changes:
        if col.startswith(HASH_PREFIX) or col in DEFAULT_PERSONAL:
            raise RecruitmentError("personal fields cannot be corrected in the store",
                                   where=format_where(column=col), fix="correct them in the source form")
        if col in (*SOURCE_COLUMNS, *DERIVED_COLUMNS):
            raise RecruitmentError(f"'{col}' is derived, not data", where=format_where(column=col),
                                   fix="correct the coupons or recruiter id instead")
    known = [c for c in raw.columns if c not in SOURCE_COLUMNS and not c.startswith(HASH_PREFIX)]
    for col in changes:
        if col not in known:
            raise RecruitmentError(f"there is no column '{col}' in the store", where=format_where(column=col),
                                   fix="use one of: " + ", ".join(known[:40]))
    hit = np.flatnonzero(raw["respondent_id"].astype(object).to_numpy() == rid)
    if not len(hit):
        raise RecruitmentError("no such respondent in the store", where=format_where(source, value=rid),
                               fix="check the id (`hiddenpop referrals export STORE --format csv` lists them all)")
    i = int(hit[0])
    rules = {k: settings[k] for k in ("design_requires_point", "max_coupons", "max_network_size")}
    rules["printed_coupons"] = settings.get("printed_coupons")
    before = validate_log(raw, source=source, **rules)
    trial = raw.copy()
    for col, val in changes.items():
        v = None if val is None or str(val).strip() == "" else str(val).strip()
        if col not in trial.columns:
            trial[col] = _object([None] * len(trial))
        trial[col] = trial[col].astype(object)
        trial.iat[i, trial.columns.get_loc(col)] = number_or_text(v) if col in NUMERIC_CORE else v
    after = validate_log(trial, source=source, **rules)
    old_err = {(p.rule, p.respondent_id) for p in before if p.severity == "error"}
    fresh = [p for p in after if p.severity == "error" and (p.rule, p.respondent_id) not in old_err]
    if fresh:
        raise RecruitmentError(f"correction refused, it would create a problem: {fresh[0]}",
                               fix="correct the other rows first, or choose another value")
    row = trial.iloc[[i]].drop(columns=list(SOURCE_COLUMNS)).reset_index(drop=True)
    return pd.DataFrame({c: _object([number_or_text(v) if c in NUMERIC_CORE else cell_text(v)
                                     for v in row[c].to_numpy(dtype=object)]) for c in row.columns})


def check_withdrawal(respondents: pd.DataFrame, respondent_id: str, *, source: str = "store") -> None:
    """Refuse to withdraw an unknown respondent or one who recruited others (their recruits would
    lose their recruiter): :class:`~hiddenpop.errors.RecruitmentError`.

    ``respondents``: the store's respondents with recruiters derived (``ReferralStore.respondents()``).
    """
    rid = str(respondent_id)
    t = respondents
    hit = t.index[t["respondent_id"].astype(str) == rid]
    if not len(hit):
        raise RecruitmentError("no such respondent in the store", where=format_where(source, value=rid),
                               fix="check the id")
    kids = t.loc[t["recruiter_id"] == rid, "respondent_id"].tolist()
    if kids:
        raise RecruitmentError(f"cannot withdraw {rid}: this respondent recruited {', '.join(map(str, kids[:5]))}"
                               + (" …" if len(kids) > 5 else ""), where=format_where(source, value=rid),
                               fix="correct the recruits' coupons or withdraw the recruits first")
