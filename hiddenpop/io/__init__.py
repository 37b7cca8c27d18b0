"""File input and output: the only part of hiddenpop that touches files.

Rules every writer follows
--------------------------
* **Atomic.** Data is written to a temporary file in the destination folder and renamed
  into place only when complete (``os.replace``), so a crash never leaves half a file.
* **No clobbering.** An existing file is replaced only with ``overwrite=True``
  (``--overwrite`` on the CLI); otherwise :class:`~hiddenpop.errors.OutputExistsError`.
* **All or nothing for several outputs.** :class:`OutputSet` checks every destination
  first, writes them all to temporary files, and renames them together at the end.
* **Deterministic.** Writers produce byte-identical files for identical inputs (no
  timestamps unless the caller passes one).
* **Safe to open in a spreadsheet.** Every CSV goes through :func:`csv_to`, which neutralises
  text cells that a spreadsheet would run as a formula (:func:`neutralise_formulas`, OWASP
  "CSV injection"): a respondent id or a name typed as ``=HYPERLINK(...)`` in a field form must
  not become a live formula on the coordinator's laptop.

Submodules add format-specific readers and writers (``hiddenpop.io.spatial``,
``hiddenpop.io.referrals``, ``hiddenpop.io.store`` and its SQLite layer ``hiddenpop.io.storedb``,
``hiddenpop.io.tables``).

Examples
--------
>>> import tempfile, pathlib
>>> from hiddenpop.io import write_text
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> write_text(d / "a.txt", "hello")
>>> write_text(d / "a.txt", "again")
Traceback (most recent call last):
...
hiddenpop.errors.OutputExistsError: ...a.txt: the output file already exists. Fix: choose another output name, or pass --overwrite to replace it.
>>> write_text(d / "a.txt", "again", overwrite=True)
>>> (d / "a.txt").read_text()
'again'
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hiddenpop.errors import InputFileError, OutputExistsError

if TYPE_CHECKING:  # pandas is imported where a table is read or written (`referrals status` does without it)
    import pandas as pd

__all__ = [
    "PathLike",
    "check_writable",
    "is_excel",
    "read_excel_table",
    "atomic_path",
    "OutputSet",
    "write_text",
    "write_bytes",
    "write_json",
    "write_csv",
    "neutralise_formulas",
    "csv_to",
    "FORMULA_STARTS",
    "save_figure",
    "read_csv",
    "read_json",
    "read_toml",
    "sha256_file",
]

PathLike = str | os.PathLike


def check_writable(path: PathLike, *, overwrite: bool = False) -> Path:
    """Return ``path`` as a Path after checking it may be written.

    Raises
    ------
    OutputExistsError
        If the file exists and ``overwrite`` is false.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            "the output file already exists",
            where=str(path),
            fix="choose another output name, or pass --overwrite to replace it",
        )
    if path.exists() and path.is_dir():
        raise OutputExistsError("the output path is a folder", where=str(path),
                                fix="give a file name, not a folder")
    return path


@contextlib.contextmanager
def atomic_path(path: PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Use this for writers that need a file name (GeoPackage, PNG, SQLite). On any
    exception the temporary file is removed and ``path`` is untouched.
    """
    path = check_writable(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # writers such as GDAL want to create the file themselves
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if not tmp_path.exists():
            raise RuntimeError(f"internal error: nothing was written for {path}")
        os.replace(tmp_path, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


class OutputSet:
    """Write several files all together or not at all.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with OutputSet(overwrite=False) as out:
    ...     out.add(d / "x.txt", lambda p: p.write_text("x"))
    ...     out.add(d / "y.txt", lambda p: p.write_text("y"))
    >>> sorted(p.name for p in d.iterdir())
    ['x.txt', 'y.txt']
    """

    def __init__(self, *, overwrite: bool = False):
        self.overwrite = overwrite
        self._pending: list[tuple[Path, Path]] = []

    def add(self, path: PathLike, writer: Callable[[Path], Any]) -> None:
        """Check ``path``, then call ``writer(tmp_path)`` to write its content."""
        path = check_writable(path, overwrite=self.overwrite)
        if any(p == path for p, _ in self._pending):
            raise OutputExistsError("the same output file is named twice", where=str(path),
                                    fix="give each output its own name")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent)
        os.close(fd)
        os.unlink(tmp)
        tmp_path = Path(tmp)
        self._pending.append((path, tmp_path))
        writer(tmp_path)

    def add_csv(self, path: PathLike, table: pd.DataFrame, *, index: bool = False,
                float_format: str | None = None) -> None:
        """Add ``table`` as CSV, written as :func:`write_csv` writes it."""
        self.add(path, lambda tmp: csv_to(tmp, table, index=index, float_format=float_format))

    def add_figure(self, path: PathLike, figure: Any, *, dpi: int = 120) -> None:
        """Add a matplotlib figure as PNG, saved as :func:`save_figure` saves it."""
        self.add(path, lambda tmp: _figure_to(tmp, figure, dpi=dpi))

    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                for path, tmp in self._pending:
                    os.replace(tmp, path)
        finally:
            for _, tmp in self._pending:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()


def write_bytes(path: PathLike, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)


def write_text(path: PathLike, text: str, *, overwrite: bool = False) -> None:
    """Write UTF-8 ``text`` atomically (``\\n`` line endings)."""
    write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def write_json(path: PathLike, obj: Any, *, overwrite: bool = False) -> None:
    """Write ``obj`` as indented, key-sorted JSON (deterministic bytes)."""
    write_text(path, json_text(obj), overwrite=overwrite)


def json_text(obj: Any) -> str:
    """The text :func:`write_json` writes (also used inside :class:`OutputSet` writers)."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default) + "\n"


#: old name of :func:`json_text`, kept so code written before the rename still runs (the
#: architecture test, tests/test_architecture.py, flags any import of it from another module)
_json_text = json_text


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_csv(path: PathLike, table: pd.DataFrame, *, overwrite: bool = False, index: bool = False,
              float_format: str | None = None) -> None:
    """Write ``table`` as CSV atomically (``-`` writes to standard output); formulas neutralised."""
    if str(path) == "-":
        import sys

        csv_to(sys.stdout, table, index=index, float_format=float_format)
        return
    with atomic_path(path, overwrite=overwrite) as tmp:
        csv_to(tmp, table, index=index, float_format=float_format)


#: First characters that make a spreadsheet treat a cell as a formula (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """Prefix ``'`` to text cells (and column names) that a spreadsheet would run as a formula.

    A cell is changed when it is text, starts with one of :data:`FORMULA_STARTS`, and is not a
    number (``-3.5`` and ``+7`` stay as they are). Numeric columns are never touched. This is
    the OWASP advice for CSV files that may be opened in Excel, LibreOffice or Google Sheets;
    the leading quote shows in the cell and tells the reader the value was text.

    >>> import pandas as pd
    >>> t = pd.DataFrame({"id": ["=1+1", "-2.5", "@SUM(A1)", "R01", "-R02"], "w": [1.0, -2.0, 3.0, 4.0, 5.0]})
    >>> neutralise_formulas(t)["id"].tolist()
    ["'=1+1", '-2.5', "'@SUM(A1)", 'R01', "'-R02"]
    """
    import pandas as pd

    def fix(values: pd.Series) -> pd.Series | None:
        text = values.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS))
        if not text.any():
            return None
        cand = values[text]
        numeric = pd.to_numeric(cand, errors="coerce").notna()
        bad = cand.index[~numeric.to_numpy()]
        if len(bad) == 0:
            return None
        out = values.astype(object).copy()
        out.loc[bad] = "'" + out.loc[bad].astype(str)
        return out

    changed = {}
    for i, col in enumerate(table.columns):
        s = table.iloc[:, i]
        if s.dtype == object or isinstance(s.dtype, pd.StringDtype) or isinstance(s.dtype, pd.CategoricalDtype):
            new = fix(s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s)
            if new is not None:
                changed[i] = new
    names = pd.Series([c if isinstance(c, str) else c for c in table.columns], dtype=object)
    new_names = fix(names)
    index_fix = fix(pd.Series(table.index, dtype=object)) if table.index.dtype == object else None
    if not changed and new_names is None and index_fix is None:
        return table
    out = table.copy()
    for i, new in changed.items():
        out.isetitem(i, new.to_numpy())
    if new_names is not None:
        out.columns = new_names.tolist()
    if index_fix is not None:
        out.index = pd.Index(index_fix.to_numpy(), name=table.index.name)
    return out


def csv_to(target: Any, table: pd.DataFrame, *, index: bool = False, float_format: str | None = None) -> None:
    """Write ``table`` as CSV to a path or an open text file (not atomic: for writers that are
    given a temporary path, e.g. inside :class:`OutputSet`).

    The one place where hiddenpop writes CSV: formulas neutralised (:func:`neutralise_formulas`),
    ``\\n`` line ends.
    """
    neutralise_formulas(table).to_csv(target, index=index, lineterminator="\n", float_format=float_format)


#: old name of :func:`csv_to`, kept so code written before the rename still runs
_csv_to = csv_to


def save_figure(path: PathLike, figure: Any, *, overwrite: bool = False, dpi: int = 120) -> None:
    """Save a matplotlib figure as PNG atomically, with no timestamp metadata."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        _figure_to(tmp, figure, dpi=dpi)


def _figure_to(target: Any, figure: Any, *, dpi: int = 120) -> None:
    figure.savefig(target, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches="tight")


_EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")


def is_excel(path: PathLike) -> bool:
    """True for an Excel workbook, by its first bytes (whatever its name) or its suffix.

    ``.xlsx`` files are zip archives (``PK``), old ``.xls`` files OLE2 compound documents.
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return p.suffix.lower() in _EXCEL_SUFFIXES
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return True
    return head.startswith(b"PK\x03\x04") and (p.suffix.lower() in _EXCEL_SUFFIXES or _zip_is_workbook(p))


def _zip_is_workbook(p: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(p) as z:
            return any(n.startswith("xl/") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def read_excel_table(path: PathLike, **kwargs: Any) -> pd.DataFrame:
    """Read the first sheet of an Excel workbook as a table (the keyword arguments of
    :func:`read_csv` that Excel understands: ``dtype``, ``usecols``, ``nrows``, ``keep_default_na``).

    A workbook with several sheets gives a :class:`~hiddenpop.errors.HiddenPopWarning` naming
    the sheet that was read.
    """
    import warnings

    import pandas as pd

    from hiddenpop.errors import HiddenPopWarning

    keep = {k: v for k, v in kwargs.items() if k in ("dtype", "usecols", "nrows", "keep_default_na", "na_values")}
    try:
        book = pd.ExcelFile(path)
        if len(book.sheet_names) > 1:
            warnings.warn(f"{path}: this is an Excel file with {len(book.sheet_names)} sheets; read the first one, "
                          f"{book.sheet_names[0]!r} (save the sheet you mean as CSV to be sure)", HiddenPopWarning,
                          stacklevel=3)
        table = pd.read_excel(book, sheet_name=book.sheet_names[0], **keep)
    except ImportError as exc:
        raise InputFileError(f"this is an Excel file, and reading Excel needs openpyxl ({exc})", where=str(path),
                             fix="save the sheet as CSV (UTF-8), or install openpyxl") from exc
    except Exception as exc:  # zipfile/openpyxl/xlrd raise many kinds for a damaged workbook
        raise InputFileError(f"this is an Excel file, but it cannot be read ({type(exc).__name__}: {exc})",
                             where=str(path), fix="open it in Excel and save the sheet as CSV (UTF-8)") from exc
    table.columns = [str(c).strip() for c in table.columns]
    return table


def read_csv(path: PathLike, **kwargs: Any) -> pd.DataFrame:
    """Read a CSV file (or the first sheet of an Excel workbook), turning parse failures into
    :class:`InputFileError`."""
    path_s = str(path)
    if path_s != "-" and not Path(path).exists():
        raise InputFileError("file not found", where=path_s, fix="check the path and the current folder")
    if path_s != "-" and is_excel(path):
        return read_excel_table(path, **kwargs)
    import pandas as pd

    try:
        import sys

        return pd.read_csv(sys.stdin if path_s == "-" else path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read as CSV ({exc})", where=path_s,
                             fix="save the file as comma-separated UTF-8 text with one header row") from exc


def _read_parsed(path: PathLike, parse: Callable[[str], Any], errors: tuple[type[Exception], ...], *,
                 kind: str, fix: str) -> Any:
    """Read a UTF-8 text file and parse it; a missing file or a parse failure is an InputFileError."""
    p = Path(path)
    if not p.exists():
        raise InputFileError("file not found", where=str(p), fix="check the path and the current folder")
    try:
        return parse(p.read_text(encoding="utf-8"))
    except (*errors, UnicodeDecodeError) as exc:
        raise InputFileError(f"not valid {kind} ({exc})", where=str(p), fix=fix) from exc


def read_json(path: PathLike) -> Any:
    """Read a JSON file, turning parse failures into :class:`InputFileError`."""
    return _read_parsed(path, json.loads, (json.JSONDecodeError,), kind="JSON",
                        fix="give the file written by hiddenpop, unedited")


def read_toml(path: PathLike) -> dict[str, Any]:
    """Read a TOML file (parameters, designs), turning parse failures into :class:`InputFileError`.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "design.toml"
    >>> _ = f.write_text("[stage1]\\npoints = 40\\n")
    >>> read_toml(f)
    {'stage1': {'points': 40}}
    >>> _ = f.write_text("points = \\n")
    >>> read_toml(f)
    Traceback (most recent call last):
    ...
    hiddenpop.errors.InputFileError: ...design.toml: not valid TOML (...). Fix: write one `key = value` per line under [section] headers.
    """
    import tomllib

    return _read_parsed(path, tomllib.loads, (tomllib.TOMLDecodeError,), kind="TOML",
                        fix="write one `key = value` per line under [section] headers")


def sha256_file(path: PathLike, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, as hex (used in manifests and import records)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()
