"""Referral logs in and out: CSV/XLSX field exports, mapping files, RDSAT, R ``RDS`` CSV, graph files.

Every reader returns the **normalised referral table** of ``docs/data-contract.md`` ("Referral log"), one row per
interview, all values kept as the text the user typed (so a round trip gives the same data):

==========================  ==================================================================
column                      meaning
==========================  ==================================================================
``respondent_id``           unique id of the interview (text)
``redeemed_coupon``         coupon the respondent came with (``None`` for seeds)
``issued_coupons``          coupons given to the respondent, joined by :data:`COUPON_SEP` (``;``)
``recruiter_id``            explicit recruiter id, when the source records it instead of coupons
                            (R ``RDS`` CSV); ``None`` otherwise
``point_id``                first-stage point where a seed was found
``network_size``            degree (number, or the raw text when it is not a number)
``network_size_eligible``   eligible part of the degree (number, raw text, or missing)
``interview_time``          ISO 8601 date-time text
``source_row``              row number the user sees in the source file (header = row 1)
==========================  ==================================================================

Other columns are carried through unchanged. ``table.attrs`` records ``source`` (file name),
``format``, ``personal_columns`` (columns holding names or phone numbers, which the store hashes
and exports never contain) and format details needed to write the file back (column order, seed
marker, NA symbol).

Examples
--------
>>> import io as _io, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "log.csv").write_text("respondent_id,redeemed_coupon,coupon_1,coupon_2,network_size\\n"
...                                "A,,C1,C2,5\\nB,C1,C3,,3\\n")
>>> t = read_referral_log(d / "log.csv")
>>> t[["respondent_id", "redeemed_coupon", "issued_coupons", "network_size", "source_row"]].to_dict("list")
{'respondent_id': ['A', 'B'], 'redeemed_coupon': [None, 'C1'], 'issued_coupons': ['C1;C2', 'C3'], 'network_size': [5.0, 3.0], 'source_row': [2, 3]}
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from hiddenpop.errors import InputFileError, format_where
from hiddenpop.io import PathLike, atomic_path, write_csv, write_text
from hiddenpop.referrals.schema import (CORE_COLUMNS, COUPON_SEP, DEFAULT_PERSONAL, DERIVED_COLUMNS, HASH_PREFIX,
                                        IMPORT_FORMATS, LOCATION_COLUMNS, SOURCE_COLUMNS)

__all__ = [
    "COUPON_SEP",
    "CORE_COLUMNS",
    "DEFAULT_PERSONAL",
    "IMPORT_FORMATS",
    "ReferralMapping",
    "read_mapping",
    "read_referrals",
    "read_referral_log",
    "read_rds_csv",
    "write_rds_csv",
    "read_rdsat",
    "write_rdsat",
    "write_node_link_json",
    "write_graphml",
    "write_weighting_csv",
    "weighting_table",
    "split_coupons",
    "normalise_table",
    "numeric_or_text",
    "restore_numbers",
]

#: names recognised without a mapping file (after Kobo group prefixes are removed)
_ALIASES: dict[str, tuple[str, ...]] = {
    "respondent_id": ("respondent_id", "hh_id", "id"),
    "redeemed_coupon": ("redeemed_coupon", "coupon_redeemed", "own_coupon", "own.coupon"),
    "issued_coupons": ("issued_coupons", "coupons_issued"),
    "recruiter_id": ("recruiter_id", "recruiter.id"),
    "point_id": ("point_id",),
    "network_size": ("network_size", "network.size", "degree"),
    "network_size_eligible": ("network_size_eligible",),
    "interview_time": ("interview_time",),
}
_SPLIT = re.compile(r"[;,|\s]+")
_EDGE_SPACE = re.compile(r"\x00\s|\s\x00")
_EDGE_PATTERNS = tuple(p for w in " \t\r\n\v\f" for p in ("\x00" + w, w + "\x00"))
_PLAIN_CODE = re.compile(r"[^;,|\s]+")  # one coupon, nothing to split
# separators other than ";", white space, empty parts or empty cells in "\0"-joined cells
_NOT_NORMALISED = re.compile(r"[,|\s]|;;|\x00;|;\x00|\x00\x00")


@dataclasses.dataclass(frozen=True)
class ReferralMapping:
    """How a team's export maps onto the referral table (read from a TOML or YAML file).

    Parameters
    ----------
    columns
        Canonical name → the team's column name (after group prefixes are removed), e.g.
        ``{"respondent_id": "resp_code", "network_size": "q12_know"}``.
    coupon_columns
        Explicit issued-coupon columns in order; by default ``<coupon_prefix>1 … k`` are found.
    coupon_prefix
        Prefix of numbered issued-coupon columns (default ``coupon_``).
    coupon_separator
        Separator inside a single issued-coupons column; default: any of ``; , |`` or spaces.
    strip_group_prefixes
        Remove Kobo/ODK group paths: ``group_hh/network_size`` → ``network_size``.
    personal
        Columns holding personal data (names, phone numbers): hashed with the store's salt, never
        stored in clear, never exported. Added to :data:`DEFAULT_PERSONAL`.
    drop
        Columns to ignore entirely (e.g. Kobo's ``_index`` that changes between exports).
    seed_marker
        Value of an explicit recruiter-id column that marks seeds (besides an empty cell).
    """

    columns: Mapping[str, str] = dataclasses.field(default_factory=dict)
    coupon_columns: tuple[str, ...] = ()
    coupon_prefix: str = "coupon_"
    coupon_separator: str | None = None
    strip_group_prefixes: bool = True
    personal: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    seed_marker: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "mapping") -> "ReferralMapping":
        """Build from the parsed file (sections ``columns``, ``coupons``, ``kobo``, ``privacy``)."""
        known = {"columns", "coupons", "kobo", "privacy", "drop", "seed_marker"}
        unknown = set(data) - known
        if unknown:
            raise InputFileError(f"unknown section(s) {sorted(unknown)}", where=source,
                                 fix=f"use only {sorted(known)}")
        columns = dict(data.get("columns", {}))
        bad = set(columns) - set(CORE_COLUMNS) - {"lon", "lat"}
        if bad:
            raise InputFileError(f"unknown canonical column(s) {sorted(bad)} in [columns]", where=source,
                                 fix=f"map only {list(CORE_COLUMNS) + ['lon', 'lat']}")
        coupons = dict(data.get("coupons", {}))
        kobo = dict(data.get("kobo", {}))
        privacy = dict(data.get("privacy", {}))
        return cls(columns={k: str(v) for k, v in columns.items()},
                   coupon_columns=tuple(str(c) for c in coupons.get("columns", ())),
                   coupon_prefix=str(coupons.get("prefix", "coupon_")),
                   coupon_separator=coupons.get("separator"),
                   strip_group_prefixes=bool(kobo.get("strip_group_prefixes", True)),
                   personal=tuple(str(c) for c in privacy.get("personal", ())),
                   drop=tuple(str(c) for c in data.get("drop", ())),
                   seed_marker=None if data.get("seed_marker") is None else str(data["seed_marker"]))

    def to_dict(self) -> dict[str, Any]:
        """The mapping as plain data (stored with each import)."""
        out: dict[str, Any] = {"columns": dict(self.columns),
                               "coupons": {"columns": list(self.coupon_columns), "prefix": self.coupon_prefix},
                               "kobo": {"strip_group_prefixes": self.strip_group_prefixes},
                               "privacy": {"personal": list(self.personal)}, "drop": list(self.drop)}
        if self.coupon_separator is not None:
            out["coupons"]["separator"] = self.coupon_separator
        if self.seed_marker is not None:
            out["seed_marker"] = self.seed_marker
        return out


def read_mapping(path: PathLike) -> ReferralMapping:
    """Read a mapping file: TOML (``.toml``, stdlib) or YAML (``.yml/.yaml``, needs PyYAML).

    Raises
    ------
    InputFileError
        Missing file, a syntax error, unknown sections, or YAML without PyYAML installed.
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError("mapping file not found", where=str(p), fix="check the path")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() in (".yml", ".yaml"):
        try:
            import yaml  # type: ignore[import-not-found]
        except ImportError as exc:
            raise InputFileError("YAML mapping files need PyYAML, which is not installed", where=str(p),
                                 fix="write the mapping as TOML (mapping.toml) or pip install pyyaml") from exc
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise InputFileError(f"not valid YAML ({exc})", where=str(p), fix="correct the syntax") from exc
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputFileError(f"not valid TOML ({exc})", where=str(p),
                                 fix="correct the syntax; see docs/referrals.md for an example") from exc
    if not isinstance(data, dict):
        raise InputFileError("the mapping file must contain sections", where=str(p), fix="see docs/referrals.md")
    return ReferralMapping.from_dict(data, source=str(p))


# ----------------------------------------------------------------------------------------- readers
def _cell_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float):
        if np.isnan(v):
            return None
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, (pd.Timestamp, _dt.datetime)):
        return pd.Timestamp(v).isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    if v is pd.NaT or v is pd.NA:
        return None
    s = str(v).strip()
    return s or None


def _check_csv_shape(path: Path) -> None:
    """Refuse a CSV with NUL bytes, rows with more or fewer fields than the header, or no data rows.

    pandas fills a short row with empty cells without a word (a respondent's coupons or network
    size silently lost) and stops at a NUL byte; both are signs of a damaged or hand-edited export.
    """
    import csv

    data = path.read_bytes()
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputFileError("the file contains NUL bytes (it is binary, or damaged in transfer)",
                             where=format_where(path, row=data.count(b"\n", 0, nul) + 1),
                             fix="export the log again from the server as UTF-8 CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"the file is not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r})",
                             where=str(path), fix="save it as 'CSV UTF-8' (Excel) or export it again") from exc
    import io

    records = csv.reader(io.StringIO(text, newline=""))
    header, n_rows = None, 0
    try:
        for rec in records:
            if not rec or rec == [""]:
                continue
            if header is None:
                header = rec
                continue
            n_rows += 1
            if len(rec) != len(header):
                row = n_rows + 1  # rows as a spreadsheet numbers them, header = row 1 (quoted line breaks aside)
                raise InputFileError(f"row has {len(rec)} fields but the header has {len(header)}"
                                     + (" (cells missing: the row is cut short)" if len(rec) < len(header)
                                        else " (a comma inside an unquoted cell?)"),
                                     where=format_where(path, row=row),
                                     fix="export the log again; if it was edited by hand, quote cells that contain "
                                         "commas and keep one cell per column")
    except csv.Error as exc:
        raise InputFileError(f"cannot read as CSV ({exc})", where=format_where(path, row=n_rows + 2),
                             fix="export the log again as UTF-8 CSV") from exc
    if header is not None and n_rows == 0:
        raise InputFileError("the file has a header but no data rows", where=str(path),
                             fix="export the day's interviews (check the export's date filter); if there were none, "
                                 "there is nothing to import")


def _read_raw(path: Path, *, sheet: str | int | None = None) -> pd.DataFrame:
    if not path.exists():
        raise InputFileError("file not found", where=str(path), fix="check the path and the current folder")
    if path.is_dir():
        raise InputFileError("a folder was given, not a file", where=str(path), fix="give the exported CSV or XLSX file")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        try:
            raw = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=object)
        except Exception as exc:  # zipfile.BadZipFile, openpyxl's InvalidFileException, KeyError for a missing part, …
            text = " ".join(str(exc).split())[:200]
            raise InputFileError(f"cannot read the spreadsheet ({type(exc).__name__}: {text})", where=str(path),
                                 fix="the file is truncated or damaged, or not an Excel file: download or export it "
                                     "again (or export the log as UTF-8 CSV)") from exc
        raw.columns = [str(c).strip() for c in raw.columns]
        if len(raw) == 0:
            raise InputFileError("the spreadsheet has a header but no data rows", where=str(path),
                                 fix="export the day's interviews (check the export's date filter)")
        return pd.DataFrame({c: [_cell_text(v) for v in raw[c].tolist()] for c in raw.columns},
                            dtype=object)
    _check_csv_shape(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[], encoding="utf-8-sig",
                          skipinitialspace=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise InputFileError(f"cannot read the file ({exc})", where=str(path),
                             fix="export the log as UTF-8 CSV or XLSX with one header row") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    out = {}
    for c in raw.columns:
        vals = raw[c].to_numpy(dtype=object)
        # strip cell by cell only when some cell starts or ends with white space (one C-level search)
        big = "\x00" + "\x00".join(vals.tolist()) + "\x00"
        if any(pat in big for pat in _EDGE_PATTERNS) or (not big.isascii() and _EDGE_SPACE.search(big)):
            vals = np.array([(v.strip() or None) if type(v) is str else None for v in vals] + [None],
                            dtype=object)[:-1]
        else:
            vals = vals.copy()
            vals[vals == ""] = None
        out[c] = pd.Series(vals, index=raw.index, dtype=object)
    return pd.DataFrame(out, index=raw.index)


def split_coupons(values: Iterable[Any], separator: str | None = None) -> list[list[str]]:
    """Split issued-coupon cells into lists (empty cell → ``[]``).

    >>> split_coupons(["C1;C2", "C3, C4", None, "C5 C6"])
    [['C1', 'C2'], ['C3', 'C4'], [], ['C5', 'C6']]
    """
    out = []
    for v in values:
        s = (v.strip() or None) if type(v) is str else _cell_text(v)
        if s is None:
            out.append([])
        elif separator is None:
            out.append([s] if _PLAIN_CODE.fullmatch(s) else [c for c in _SPLIT.split(s) if c])
        else:
            out.append([c.strip() for c in s.split(separator) if c.strip()])
    return out


def _normalised_coupon_cells(col: pd.Series, separator: str | None) -> list:
    """Issued-coupon cells as ``C1;C2`` text (None when empty); cells already in that form (the
    usual case) are kept as they are after one C-level search of the whole column."""
    vals = col.to_numpy(dtype=object)
    if separator is None or separator == COUPON_SEP:
        present = [v for v in vals.tolist() if v is not None]
        if all(type(v) is str for v in present):
            big = "\x00" + "\x00".join(present) + "\x00"
            if not _NOT_NORMALISED.search(big):
                return vals.tolist()
    return [COUPON_SEP.join(lst) or None for lst in split_coupons(vals, separator)]


def normalise_table(raw: pd.DataFrame, *, mapping: ReferralMapping | None = None, source: str = "referral log",
                    first_row: int = 2, fmt: str = "table") -> pd.DataFrame:
    """Turn a raw text table (team's own column names) into the normalised referral table.

    ``first_row`` is the row number the user sees for the first data row (2 for a CSV with a header).
    """
    mapping = mapping or ReferralMapping()
    raw = raw.copy()
    original_columns = list(raw.columns)
    orig_of = {c: c for c in raw.columns}
    if mapping.strip_group_prefixes:
        renamed = [c.rsplit("/", 1)[-1] for c in raw.columns]
        seen: dict[str, str] = {}
        for orig, new in zip(raw.columns, renamed):
            if new in seen:
                raise InputFileError(f"columns '{seen[new]}' and '{orig}' both become '{new}' once group "
                                     "prefixes are removed", where=source,
                                     fix="rename one of them in the form, or map them in the mapping file "
                                         "with [kobo] strip_group_prefixes = false")
            seen[new] = orig
        orig_of = dict(seen)
        raw.columns = renamed
    raw = raw.drop(columns=[c for c in mapping.drop if c in raw.columns])
    raw = _kobo_geopoints(raw, mapping)
    rename: dict[str, str] = {}
    for canon, theirs in mapping.columns.items():
        if theirs not in raw.columns:
            raise InputFileError(f"the mapping names column '{theirs}' for {canon}, but the file has no such column",
                                 where=source, fix=f"columns in the file: {', '.join(map(str, raw.columns[:30]))}")
        rename[theirs] = canon
    for canon, aliases in _ALIASES.items():
        if canon in mapping.columns.keys():
            continue
        for a in aliases:
            if a in raw.columns and a not in rename:
                rename[a] = canon
                break
    raw = raw.rename(columns=rename)
    column_names = {canon: orig_of.get(theirs, theirs) for theirs, canon in rename.items()}
    if raw.columns.duplicated().any():
        dup = raw.columns[raw.columns.duplicated()].tolist()
        raise InputFileError(f"column(s) {dup} appear twice after mapping", where=source,
                             fix="map each canonical column from one column only")
    if "respondent_id" not in raw.columns:
        raise InputFileError("no respondent id column", where=source,
                             fix="name it respondent_id, or map it in a mapping file ([columns] respondent_id = \"...\")")
    coupon_cols = list(mapping.coupon_columns)
    missing = [c for c in coupon_cols if c not in raw.columns]
    if missing:
        raise InputFileError(f"the mapping names coupon column(s) {missing} that are not in the file", where=source,
                             fix="correct [coupons] columns in the mapping file")
    if not coupon_cols:
        pat = re.compile(re.escape(mapping.coupon_prefix) + r"(\d+)$")
        numbered = [(int(m.group(1)), c) for c in raw.columns if (m := pat.match(c))]
        if not numbered and mapping.coupon_prefix == "coupon_":  # R RDS's layout: coupon.1, coupon.2, ...
            numbered = [(int(m.group(1)), c) for c in raw.columns if (m := re.match(r"coupon\.(\d+)$", c))]
        coupon_cols = [c for _, c in sorted(numbered)]
    # the QR-scan copy of a coupon number (`hiddenpop field form`: coupon_1_scan fills coupon_1)
    scans = [f"{c}_scan" for c in coupon_cols if f"{c}_scan" in raw.columns]
    raw = raw.drop(columns=scans)
    _check_id_cells(raw, source=source, first_row=first_row, names=orig_of, rename=rename, extra=coupon_cols)
    n = len(raw)
    if coupon_cols and "issued_coupons" in raw.columns:
        raise InputFileError(f"both an issued_coupons column and numbered coupon columns ({coupon_cols[0]}, …)",
                             where=source, fix="keep one way of recording issued coupons")
    if coupon_cols:
        cells = raw[coupon_cols].to_numpy(dtype=object)
        issued = [COUPON_SEP.join(c for c in row if c is not None) or None for row in cells]
        column_names["issued_coupons"] = ", ".join(orig_of.get(c, c) for c in coupon_cols)
        raw = raw.drop(columns=coupon_cols)
    elif "issued_coupons" in raw.columns:
        issued = _normalised_coupon_cells(raw["issued_coupons"], mapping.coupon_separator)
    else:
        issued = [None] * n
    raw["issued_coupons"] = pd.Series(issued, index=raw.index, dtype=object)
    for canon in CORE_COLUMNS:
        if canon not in raw.columns:
            raw[canon] = pd.Series([None] * n, index=raw.index, dtype=object)
    if mapping.seed_marker is not None:
        rec = raw["recruiter_id"]
        raw["recruiter_id"] = rec.where(rec != mapping.seed_marker, None)
    for col in ("network_size", "network_size_eligible"):
        raw[col] = numeric_or_text(raw[col])
    raw["source_row"] = np.arange(first_row, first_row + n, dtype=np.int64)
    extras = [c for c in raw.columns if c not in CORE_COLUMNS and c != "source_row"]
    table = raw[list(CORE_COLUMNS) + ["source_row"] + extras].reset_index(drop=True)
    personal = set(DEFAULT_PERSONAL) | set(mapping.personal)
    table.attrs.update({"source": source, "format": fmt,
                        "personal_columns": [c for c in extras if c in personal],
                        "original_columns": original_columns,
                        "column_names": {c: column_names.get(c, c) for c in CORE_COLUMNS}})
    return table


#: Longest id or coupon code accepted (longer cells are pasted text, not codes).
MAX_ID_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_NOT_NUL = re.compile(r"[\x01-\x1f\x7f]")


def _check_id_cells(raw: pd.DataFrame, *, source: str, first_row: int, names: dict, rename: dict,
                    extra: Iterable[str] = ()) -> None:
    """Refuse ids and coupon codes with line breaks or other control characters, or thousands of characters.

    Such a cell is a paste accident or a broken export; stored, it would break every file the
    ids go to (one line per respondent in RDSAT, GraphML, call lists).
    """
    back = {canon: theirs for theirs, canon in rename.items()}
    for col in ("respondent_id", "recruiter_id", "redeemed_coupon", "issued_coupons", *extra):
        if col not in raw.columns:
            continue
        cells = raw[col].astype(object)
        present = [v for v in cells.tolist() if type(v) is str]
        # one C-level search of the whole column first (NUL cannot occur: CSVs with NUL are refused)
        if not present or (max(map(len, present)) <= MAX_ID_LENGTH and not _CONTROL_NOT_NUL.search("\x00".join(present))):
            continue
        text = cells.where(cells.map(type) == str)
        bad = np.flatnonzero((text.str.len().gt(MAX_ID_LENGTH) | text.str.contains(_CONTROL, na=False)).to_numpy(bool))
        if len(bad):
            k = int(bad[0])
            v = str(cells.iloc[k])
            theirs = back.get(col, col)
            what = (f"is {len(v)} characters long (at most {MAX_ID_LENGTH})" if len(v) > MAX_ID_LENGTH
                    else "contains a line break or another control character")
            raise InputFileError(f"an id or coupon code {what} ({len(bad)} such cells in the column)",
                                 where=format_where(source, row=first_row + k, column=names.get(theirs, theirs),
                                                    value=v[:40] + ("…" if len(v) > 40 else "")),
                                 fix="correct the cell in the form or the export: an id is one short code on one line")


def _kobo_geopoints(raw: pd.DataFrame, mapping: ReferralMapping) -> pd.DataFrame:
    """KoboToolbox exports a GPS question ``gps`` as ``gps`` ("lat lon altitude precision") and
    ``_gps_latitude``, ``_gps_longitude``, ``_gps_altitude``, ``_gps_precision``. The first GPS
    question becomes the household coordinates ``lat``/``lon`` (unless the mapping names them; kept
    out of every export unless asked); the other parts of every GPS question are dropped, so exact
    coordinates never ride along as ordinary columns.

    >>> raw = pd.DataFrame({"gps": ["1.5 2.5 0 5"], "_gps_latitude": ["1.5"], "_gps_longitude": ["2.5"],
    ...                     "_gps_altitude": ["0"], "_gps_precision": ["5"], "x": ["a"]})
    >>> _kobo_geopoints(raw, ReferralMapping()).columns.tolist()
    ['lat', 'lon', 'x']
    """
    cols = set(raw.columns)
    names = [c[1:-len("_latitude")] for c in raw.columns
             if c.startswith("_") and c.endswith("_latitude") and f"{c[:-len('_latitude')]}_longitude" in cols]
    if not names:
        return raw
    drop: list[str] = []
    rename: dict[str, str] = {}
    for k, g in enumerate(names):
        parts = {"lat": f"_{g}_latitude", "lon": f"_{g}_longitude"}
        for canon, col in parts.items():
            if k == 0 and canon not in mapping.columns and canon not in cols and col not in mapping.columns.values():
                rename[col] = canon
            elif col not in mapping.columns.values():
                drop.append(col)
        drop += [c for c in (g, f"_{g}_altitude", f"_{g}_precision") if c in cols]
    return raw.drop(columns=drop).rename(columns=rename)


def numeric_or_text(col: pd.Series) -> pd.Series:
    """A network-size column as numbers (``float``); kept as objects with the raw text where a cell
    is not a number (so validation can name it).

    >>> numeric_or_text(pd.Series(["3", None, "many"], dtype=object)).tolist()
    [3.0, nan, 'many']
    """
    num = pd.to_numeric(col, errors="coerce")
    bad = num.isna() & col.notna()
    if bad.any():
        out = num.astype(object)
        out[bad] = col[bad]
        return out
    return num.astype(float)


# in "\0"-joined values: a leading "+" or zero before a digit, white space, "_", or hex/other letters
# a decimal point, an exponent or 16 digits and more: not for the integer shortcut
_NOT_PLAIN_INTEGER = re.compile(r"[.eE+]|[0-9]{16}")
_NOT_PLAIN_NUMBER = re.compile(r"\x00(?:\+|-?0[0-9])|[\s_]|[^0-9.eE+\-\x00]")


def restore_numbers(col: pd.Series) -> pd.Series:
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


def read_referral_log(path: PathLike, *, mapping: ReferralMapping | PathLike | None = None,
                      sheet: str | int | None = None) -> pd.DataFrame:
    """Read a KoboToolbox/ODK export or spreadsheet (CSV or XLSX) as the normalised referral table.

    Parameters
    ----------
    path
        ``.csv`` (UTF-8, header row) or ``.xlsx`` file.
    mapping
        A :class:`ReferralMapping` or the path of a TOML/YAML mapping file.
    sheet
        Worksheet of an XLSX file (default: the first).

    Raises
    ------
    InputFileError
        Unreadable file, no respondent id column, a mapped column that does not exist.
    """
    if mapping is not None and not isinstance(mapping, ReferralMapping):
        mapping = read_mapping(mapping)
    p = Path(path)
    raw = _read_raw(p, sheet=sheet)
    return normalise_table(raw, mapping=mapping, source=str(p), first_row=2,
                           fmt="xlsx" if p.suffix.lower().startswith(".xls") else "csv")


def read_referrals(path: PathLike, fmt: str = "auto", mapping: ReferralMapping | PathLike | None = None
                   ) -> pd.DataFrame:
    """Read a referral log in any supported format as the normalised referral table.

    Parameters
    ----------
    path
        The file.
    fmt
        One of :data:`~hiddenpop.referrals.schema.IMPORT_FORMATS`: ``log`` (CSV/XLSX field export,
        :func:`read_referral_log`), ``rds-csv`` (:func:`read_rds_csv`), ``rdsat`` (:func:`read_rdsat`)
        or ``auto``: RDSAT when the first line starts with ``RDS`` (and the file is not ``.csv`` or
        ``.xlsx``), R ``RDS`` CSV when a ``.csv`` without a mapping has columns ``id`` and
        ``recruiter.id``, a field export otherwise.
    mapping
        A :class:`ReferralMapping` or the path of a mapping file (field exports only).

    Raises
    ------
    InputFileError
        An unknown format, or anything the chosen reader refuses.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "r.csv").write_text("id,recruiter.id,network.size\\n1,seed,4\\n2,1,3\\n")
    >>> t = read_referrals(d / "r.csv")
    >>> t.attrs["format"], t["recruiter_id"].tolist()
    ('rds-csv', [None, '1'])
    """
    p = Path(path)
    if mapping is not None and not isinstance(mapping, ReferralMapping):
        mapping = read_mapping(mapping)
    if fmt not in IMPORT_FORMATS:
        raise InputFileError(f"unknown format '{fmt}'", where=str(p), fix=f"use one of {', '.join(IMPORT_FORMATS)}")
    if fmt == "auto":
        if not p.exists():
            raise InputFileError("file not found", where=str(p), fix="check the path and the current folder")
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


# ------------------------------------------------------------------------------------ R RDS CSV
def read_rds_csv(path: PathLike, *, id_col: str = "id", recruiter_col: str = "recruiter.id",
                 degree_col: str | None = None, seed_marker: str | None = None,
                 time_col: str | None = None) -> pd.DataFrame:
    """Read an R ``RDS``-style CSV (``id, recruiter.id, network.size``, …) as a referral table.

    The seed marker (the one recruiter id that is not a respondent id, e.g. ``seed`` or ``0``) is
    found automatically unless given. ``degree_col`` defaults to ``network.size`` or ``degree``.
    The recruiter id is kept in ``recruiter_id`` (there are no coupons in this format).
    """
    p = Path(path)
    raw = _read_raw(p)
    for c in (id_col, recruiter_col):
        if c not in raw.columns:
            raise InputFileError(f"no '{c}' column", where=str(p),
                                 fix=f"name the columns {id_col}, {recruiter_col} or pass --id-col/--recruiter-col")
    if degree_col is None:
        degree_col = next((c for c in ("network.size", "network_size", "degree") if c in raw.columns), None)
    if degree_col is None or degree_col not in raw.columns:
        raise InputFileError(f"no network size column ({degree_col or 'network.size or degree'})", where=str(p),
                             fix="name the degree column network.size, or pass its name")
    ids = set(raw[id_col].dropna())
    if seed_marker is None:
        markers = sorted({r for r in raw[recruiter_col].dropna() if r not in ids})
        if len(markers) > 1:
            raise InputFileError(f"several recruiter ids are not respondents ({', '.join(markers[:5])}); "
                                 "R RDS needs exactly one seed marker", where=str(p),
                                 fix="give all seeds the same recruiter id (e.g. 'seed'), or pass seed_marker")
        seed_marker = markers[0] if markers else None
    columns = {"respondent_id": id_col, "recruiter_id": recruiter_col, "network_size": degree_col}
    if time_col:
        columns["interview_time"] = time_col
    mapping = ReferralMapping(columns=columns, strip_group_prefixes=False, seed_marker=seed_marker,
                              coupon_prefix="\0")
    table = normalise_table(raw, mapping=mapping, source=str(p), first_row=2, fmt="rds-csv")
    table.attrs["rds_csv"] = {"id_col": id_col, "recruiter_col": recruiter_col, "degree_col": degree_col,
                              "seed_marker": seed_marker, "time_col": time_col,
                              "column_order": list(raw.columns)}
    return table


def write_rds_csv(path: PathLike, table: pd.DataFrame, *, seed_marker: str | None = None,
                  degree_col: str | None = None, wave: Any = None, seed: Any = None,
                  overwrite: bool = False) -> None:
    """Write a referral table (with ``recruiter_id`` derived) as R ``RDS``-style CSV.

    Columns: ``id, recruiter.id, <degree_col>`` then the carried-through columns (in the original
    order when the data came from an RDS CSV), then ``wave`` and ``seed`` when given (what R's
    ``get.wave`` and ``get.seed.id`` give; a carried-through column of that name is kept in place
    when it agrees, else kept as ``wave_reported`` / ``seed_reported``). Seeds carry ``seed_marker``
    as recruiter id (default: the one of the source file, else ``seed`` as R's ``rid.from.coupons``).
    Personal columns are never written.
    """
    hints = table.attrs.get("rds_csv", {})
    seed_marker = seed_marker if seed_marker is not None else (hints.get("seed_marker") or "seed")
    degree_col = degree_col or hints.get("degree_col") or "network.size"
    id_col, rec_col = hints.get("id_col", "id"), hints.get("recruiter_col", "recruiter.id")
    time_col = hints.get("time_col")
    out = pd.DataFrame({id_col: table["respondent_id"].astype(object),
                        rec_col: table["recruiter_id"].astype(object).where(table["recruiter_id"].notna(),
                                                                          seed_marker),
                        degree_col: [_format_number(v) for v in table["network_size"]]})
    if time_col:
        out[time_col] = table["interview_time"]
    for c in _extra_columns(table):
        if c not in out.columns:
            out[c] = table[c].astype(object)
    order = hints.get("column_order")
    if order and set(order) <= set(out.columns):
        out = out[list(order) + [c for c in out.columns if c not in order]]
    for name, values in (("wave", wave), ("seed", seed)):
        if values is None:
            continue
        derived = pd.Series([None if v is None else str(v) for v in np.asarray(values, dtype=object)],
                            index=out.index, dtype=object)
        if name in out.columns:
            carried = out[name].astype(object).where(out[name].notna(), None).map(
                lambda v: None if v is None else str(_format_number(v)))
            if carried.tolist() == derived.tolist():
                continue
            out = out.rename(columns={name: f"{name}_reported"})
        out[name] = derived
    write_csv(path, out, overwrite=overwrite)


def _format_number(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return int(v)
    return v


def _extra_columns(table: pd.DataFrame, *, skip_derived: bool = False) -> list[str]:
    personal = set(table.attrs.get("personal_columns", [])) | set(DEFAULT_PERSONAL)
    skip = set(CORE_COLUMNS) | set(SOURCE_COLUMNS) | set(LOCATION_COLUMNS) | (set(DERIVED_COLUMNS) if skip_derived
                                                                              else set())
    return [c for c in table.columns if c not in skip and c not in personal and not c.startswith(HASH_PREFIX)]


# ---------------------------------------------------------------------------------------- RDSAT
def read_rdsat(path: PathLike) -> pd.DataFrame:
    """Read the RDSAT text format as a referral table.

    Layout (R ``RDS::read.rdsat``): line 1 starts with ``RDS``; line 2 is
    ``n maxcoupons NAsymbol varnames…``; then one row per respondent:
    ``id networksize owncoupon coupon1 … couponK var1 …``. The delimiter (tab, comma or spaces)
    is detected; cells equal to the NA symbol are missing (so with NA symbol ``0`` a network
    size of 0 reads as missing, as in R).
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError("file not found", where=str(p), fix="check the path")
    lines = p.read_text(encoding="utf-8-sig").splitlines()
    if not lines or not lines[0].strip().upper().startswith("RDS"):
        raise InputFileError("not an RDSAT file: line 1 must start with 'RDS'", where=format_where(p, row=1),
                             fix="export from RDSAT or hiddenpop, or read the file as CSV")
    if len(lines) < 2:
        raise InputFileError("RDSAT file without the line 'n maxcoupons NAsymbol varnames'", where=str(p),
                             fix="add line 2")
    sample = next((ln for ln in lines[2:] if ln.strip()), lines[1])
    delim = "\t" if "\t" in sample else ("," if "," in sample else None)

    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.split(delim)] if delim else line.split()

    head = cells(lines[1])
    if len(head) < 3:
        raise InputFileError(f"line 2 has {len(head)} cells, expected 'n maxcoupons NAsymbol varnames…'",
                             where=format_where(p, row=2), fix="correct line 2")
    try:
        n, k = int(head[0]), int(head[1])
    except ValueError as exc:
        raise InputFileError("line 2 must start with the sample size and the maximum number of coupons",
                             where=format_where(p, row=2, value=" ".join(head[:2])), fix="correct line 2") from exc
    na = head[2]
    varnames = head[3:]
    rows = []
    for lineno, line in enumerate(lines[2:], start=3):
        if not line.strip():
            continue
        c = cells(line)
        if len(c) != 3 + k + len(varnames):
            raise InputFileError(f"{len(c)} cells, expected {3 + k + len(varnames)} (id, network size, own coupon, "
                                 f"{k} coupons, {len(varnames)} variables)", where=format_where(p, row=lineno),
                                 fix="check the delimiter and the number of coupon columns on line 2")
        rows.append([lineno] + [None if (x == na or x == "") else x for x in c])
    if len(rows) != n:
        raise InputFileError(f"line 2 announces {n} respondents but the file has {len(rows)}",
                             where=format_where(p, row=2, value=n), fix="correct the count on line 2")
    coupon_names = [f"coupon_{i}" for i in range(1, k + 1)]
    raw = pd.DataFrame(rows, columns=["__line", "respondent_id", "network_size", "redeemed_coupon"] + coupon_names
                       + varnames, dtype=object)
    lines_no = raw.pop("__line").to_numpy(dtype=np.int64)
    mapping = ReferralMapping(strip_group_prefixes=False, coupon_columns=tuple(coupon_names))
    table = normalise_table(raw, mapping=mapping, source=str(p), first_row=3, fmt="rdsat")
    table["source_row"] = lines_no
    table.attrs["rdsat"] = {"max_coupons": k, "na_symbol": na, "delimiter": delim or " ", "varnames": varnames}
    return table


def write_rdsat(path: PathLike, table: pd.DataFrame, *, max_coupons: int | None = None,
                na_symbol: str | None = None, delimiter: str | None = None, overwrite: bool = False) -> None:
    """Write a referral table in the RDSAT text format (readable by RDSAT and R ``read.rdsat``).

    Respondents recruited by an explicit recruiter id without coupon numbers (R ``RDS`` CSV data)
    get coupon codes equal to their own respondent id, issued to their recruiter. Missing values
    are written as the NA symbol (default ``-1`` unless the data came from RDSAT). Personal
    columns are never written.
    """
    hints = table.attrs.get("rdsat", {})
    delim = delimiter if delimiter is not None else hints.get("delimiter", "\t")
    own, issued = _coupons_for_export(table)
    k = max([len(x) for x in issued] + [0])
    k = max(k, max_coupons if max_coupons is not None else hints.get("max_coupons", 0))
    varnames = [c for c in hints.get("varnames", []) if c in table.columns]
    varnames += [c for c in _extra_columns(table) if c not in varnames]
    # the NA symbol must not be a value anywhere (RDSAT and R read every such cell as missing)
    used = {str(_format_number(v)) for c in ["respondent_id", "network_size"] + varnames
            for v in table[c].dropna().tolist()} | {str(x) for lst in issued for x in lst} | \
        {str(v) for v in own if v is not None}
    na = na_symbol if na_symbol is not None else hints.get("na_symbol")
    if na is None or (na_symbol is None and na in used):
        na = next(c for c in ("-1", "-9", "-99", "-999", "-9999", "NA", ".") if c not in used)
    elif na in used:
        raise InputFileError(f"the NA symbol {na!r} is also a value in the data: RDSAT and R would read those "
                             "cells as missing", where=str(path), fix="choose another NA symbol (na_symbol=)")
    for v in varnames + ["respondent_id"]:
        vals = table[v].dropna().astype(str)
        if (vals.str.contains(re.escape(delim) if delim != " " else r"\s", regex=True)).any():
            raise InputFileError(f"values of '{v}' contain the delimiter {delim!r}", where=str(path),
                                 fix="choose another delimiter (tab is the default)")

    def fmt(v: Any) -> str:
        v = _format_number(v)
        return na if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)

    out_lines = ["RDS", delim.join([str(len(table)), str(k), na] + varnames)]
    cols = {v: table[v].tolist() for v in varnames}
    for i, rid in enumerate(table["respondent_id"].tolist()):
        cps = issued[i] + [None] * (k - len(issued[i]))
        row = [fmt(rid), fmt(table["network_size"].iat[i]), fmt(own[i])] + [fmt(c) for c in cps]
        row += [fmt(cols[v][i]) for v in varnames]
        out_lines.append(delim.join(row))
    write_text(path, "\n".join(out_lines) + "\n", overwrite=overwrite)


def _coupons_for_export(table: pd.DataFrame) -> tuple[list[Any], list[list[str]]]:
    own = table["redeemed_coupon"].astype(object).tolist()
    issued = [[] if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).split(COUPON_SEP)
              for v in table["issued_coupons"].astype(object)]
    if "recruiter_id" in table.columns:
        pos = {r: i for i, r in enumerate(table["respondent_id"].tolist())}
        for i, (rec, cp) in enumerate(zip(table["recruiter_id"].tolist(), own)):
            if rec is None or (isinstance(rec, float) and np.isnan(rec)) or cp is not None:
                continue
            code = str(table["respondent_id"].iat[i])
            own[i] = code
            j = pos.get(rec)
            if j is not None and code not in issued[j]:
                issued[j].append(code)
    return own, issued


# ----------------------------------------------------------------------------- graphs & weighting
def _clean_attrs(G: nx.DiGraph) -> nx.DiGraph:
    import networkx as nx

    H = nx.DiGraph()
    H.graph.update({k: _plain(v) for k, v in G.graph.items() if _plain(v) is not None})
    for n, d in G.nodes(data=True):
        H.add_node(str(n), **{k: _plain(v) for k, v in d.items() if _plain(v) is not None})
    for u, v, d in G.edges(data=True):
        H.add_edge(str(u), str(v), **{k: _plain(x) for k, x in d.items() if _plain(x) is not None})
    return H


def _plain(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.floating, float)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, (list, tuple)):
        return COUPON_SEP.join(map(str, v))
    if v is pd.NA or v is pd.NaT:
        return None
    return v if isinstance(v, (int, str)) else str(v)


def write_node_link_json(path: PathLike, graph: nx.DiGraph, *, overwrite: bool = False) -> None:
    """Write the recruitment graph as node-link JSON (``networkx.node_link_data``, edges under ``links``)."""
    import networkx as nx

    data = nx.node_link_data(_clean_attrs(graph), edges="links")
    write_text(path, json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", overwrite=overwrite)


def write_graphml(path: PathLike, graph: nx.DiGraph, *, overwrite: bool = False) -> None:
    """Write the recruitment graph as GraphML (opens in Gephi, Cytoscape, igraph, yEd)."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        import networkx as nx

        nx.write_graphml(_clean_attrs(graph), tmp)


def weighting_table(table: pd.DataFrame, *, include_location: bool = False) -> pd.DataFrame:
    """Households table for the weighting engine (``docs/data-contract.md``, "Survey records") from store respondents.

    Columns: ``hh_id, found_by, point_id, recruiter_id, network_size, network_size_eligible,
    referrals_given`` (= coupons issued), ``coupons_redeemed, interview_time, wave, seed_id``, then
    the carried-through outcome columns. Personal fields are never included; ``lon``/``lat`` only
    with ``include_location``.
    """
    out = pd.DataFrame({
        "hh_id": table["respondent_id"],
        "found_by": np.where(table["recruiter_id"].isna(), "point", "referral"),
        "point_id": table["point_id"],
        "recruiter_id": table["recruiter_id"],
        "network_size": pd.Series([_format_number(v) for v in table["network_size"]], dtype=object),
        "network_size_eligible": pd.Series([_format_number(v) for v in table["network_size_eligible"]], dtype=object),
        "referrals_given": table["coupons_issued"],
        "coupons_redeemed": table["coupons_redeemed"],
        "interview_time": table["interview_time"],
        "wave": table["wave"],
        "seed_id": table["seed_id"],
    })
    if include_location:
        for c in ("lon", "lat"):
            if c in table.columns:
                out[c] = table[c]
    for c in _extra_columns(table, skip_derived=True):
        if c not in out.columns:
            out[c] = table[c]
    return out


def write_weighting_csv(path: PathLike, table: pd.DataFrame, *, include_location: bool = False,
                        overwrite: bool = False) -> None:
    """Write :func:`weighting_table` as ``households.csv``.

    Numeric columns whose values are all whole numbers are written without a decimal point
    (``1``, not ``1.0``), also when some values are missing.
    """
    out = weighting_table(table, include_location=include_location)
    for c in out.columns:
        col = out[c]
        if col.dtype.kind == "f":
            v = col.to_numpy()
            ok = ~np.isnan(v)
            if ok.any() and np.all(np.mod(v[ok], 1) == 0) and np.all(np.abs(v[ok]) < 2 ** 53):
                out[c] = col.astype("Int64")
    write_csv(path, out, overwrite=overwrite)
