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

Submodules add format-specific readers and writers (``hiddenpop.io.spatial``,
``hiddenpop.io.referrals``, ``hiddenpop.io.store``, ``hiddenpop.io.tables``).

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
from typing import Any

import pandas as pd

from hiddenpop.errors import InputFileError, OutputExistsError

__all__ = [
    "PathLike",
    "check_writable",
    "atomic_path",
    "OutputSet",
    "write_text",
    "write_bytes",
    "write_json",
    "write_csv",
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

    def add_csv(self, path: PathLike, table: pd.DataFrame, *, index: bool = False) -> None:
        """Add ``table`` as CSV, written as :func:`write_csv` writes it."""
        self.add(path, lambda tmp: _csv_to(tmp, table, index=index))

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


def write_csv(path: PathLike, table: pd.DataFrame, *, overwrite: bool = False, index: bool = False) -> None:
    """Write ``table`` as CSV atomically (``-`` writes to standard output)."""
    if str(path) == "-":
        import sys

        _csv_to(sys.stdout, table, index=index)
        return
    with atomic_path(path, overwrite=overwrite) as tmp:
        _csv_to(tmp, table, index=index)


def _csv_to(target: Any, table: pd.DataFrame, *, index: bool = False) -> None:
    table.to_csv(target, index=index, lineterminator="\n")


def save_figure(path: PathLike, figure: Any, *, overwrite: bool = False, dpi: int = 120) -> None:
    """Save a matplotlib figure as PNG atomically, with no timestamp metadata."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        _figure_to(tmp, figure, dpi=dpi)


def _figure_to(target: Any, figure: Any, *, dpi: int = 120) -> None:
    figure.savefig(target, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches="tight")


def read_csv(path: PathLike, **kwargs: Any) -> pd.DataFrame:
    """Read a CSV file, turning parse failures into :class:`InputFileError`."""
    path_s = str(path)
    if path_s != "-" and not Path(path).exists():
        raise InputFileError("file not found", where=path_s, fix="check the path and the current folder")
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
