"""Files of the field loop: the XLSForm workbook, its import mapping (TOML), settings, coupon PDFs.

Examples
--------
>>> print(toml_text({"columns": {"lon": "_gps_longitude"}, "drop": ["gps", "_index"]}))
drop = ["gps", "_index"]
<BLANKLINE>
[columns]
lon = "_gps_longitude"
<BLANKLINE>
"""
from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from hiddenpop.errors import InputFileError
from hiddenpop.io import OutputSet, PathLike, read_toml, write_bytes, write_text

__all__ = ["write_form", "read_point_visits", "write_xlsform", "xlsform_bytes", "toml_text", "write_mapping", "read_form_settings",
           "write_pdf", "write_html"]


def xlsform_bytes(sheets: Mapping[str, pd.DataFrame]) -> bytes:
    """The workbook (``.xlsx``) of an XLSForm's sheets, with fixed document dates (same input, same file
    content apart from the zip entry times)."""
    import datetime as _dt

    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, table in sheets.items():
        ws = wb.create_sheet(name)
        ws.append([str(c) for c in table.columns])
        for row in table.itertuples(index=False):
            ws.append(["" if v is None else v for v in row])
        for col in ws.columns:
            width = min(60, max(len(str(c.value or "")) for c in col) + 2)
            ws.column_dimensions[col[0].column_letter].width = width
    fixed = _dt.datetime(2000, 1, 1)
    wb.properties.created = wb.properties.modified = fixed
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_xlsform(path: PathLike, sheets: Mapping[str, pd.DataFrame], *, overwrite: bool = False) -> None:
    """Write an XLSForm workbook atomically."""
    write_bytes(path, xlsform_bytes(sheets), overwrite=overwrite)


def write_form(path: PathLike, sheets: Mapping[str, pd.DataFrame], mapping_path: PathLike,
               mapping: Mapping[str, Any], *, header: str = "", overwrite: bool = False,
               extra_forms: Mapping[PathLike, Mapping[str, pd.DataFrame]] | None = None) -> None:
    """Write the XLSForm workbook, its import mapping and any extra forms together (all or none)."""
    data = xlsform_bytes(sheets)
    text = toml_text(mapping, header=header)
    extra = {p: xlsform_bytes(sh) for p, sh in (extra_forms or {}).items()}
    with OutputSet(overwrite=overwrite) as out:
        out.add(path, lambda tmp: tmp.write_bytes(data))
        out.add(mapping_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        for p, b in extra.items():
            out.add(p, lambda tmp, b=b: tmp.write_bytes(b))


def read_point_visits(path: PathLike) -> pd.DataFrame:
    """Read an export of the point sheet (CSV or XLSX; Kobo group prefixes removed).

    Returns the columns ``point_id``, ``visit_result`` (``listed``, ``zero``, ``unreachable``) and,
    when present, ``households_found``, ``unreachable_reason``, ``visit_time``.
    """
    from pathlib import Path

    from hiddenpop.field.form import VISIT_RESULTS
    from hiddenpop.io import read_csv

    p = Path(path)
    t = read_csv(p, dtype=str, keep_default_na=False)  # an Excel workbook: its first sheet (io.read_excel_table)
    t.columns = [str(c).rsplit("/", 1)[-1] for c in t.columns]
    missing = [c for c in ("point_id", "visit_result") if c not in t.columns]
    if missing:
        raise InputFileError(f"no {' or '.join(missing)} column", where=str(p),
                             fix="give an export of the point sheet written by `hiddenpop field form`")
    t = t.replace("", None)
    bad = t["visit_result"].notna() & ~t["visit_result"].isin(VISIT_RESULTS)
    if bad.any():
        r = int(bad.to_numpy().nonzero()[0][0])
        raise InputFileError(f"visit result {t['visit_result'].iloc[r]!r} is not one of {list(VISIT_RESULTS)}",
                             where=f"{p}, row {r + 2}, column visit_result",
                             fix="export the choice names (Kobo: 'XML values and headers')")
    keep = [c for c in ("point_id", "visit_result", "households_found", "unreachable_reason", "visit_time")
            if c in t.columns]
    return t[keep].reset_index(drop=True)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def toml_text(data: Mapping[str, Any], *, header: str = "") -> str:
    """TOML text of a mapping of plain values and one level of sections (what mapping files need)."""
    lines = [f"# {ln}" if ln else "#" for ln in header.splitlines()]
    lines += [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, Mapping)]
    for k, v in data.items():
        if isinstance(v, Mapping):
            lines += ["", f"[{k}]"] + [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def write_mapping(path: PathLike, mapping: Mapping[str, Any], *, header: str = "", overwrite: bool = False) -> None:
    """Write a referral-import mapping file (TOML)."""
    write_text(path, toml_text(mapping, header=header), overwrite=overwrite)


def read_form_settings(path: PathLike):
    """Read the questionnaire settings TOML as :class:`hiddenpop.field.form.FormSettings`."""
    from hiddenpop.field.form import FormSettings

    return FormSettings.from_dict(read_toml(path), source=str(path))


def write_pdf(path: PathLike, data: bytes, *, overwrite: bool = False) -> None:
    """Write a PDF document (bytes from :mod:`hiddenpop.field.couponsheet`) atomically."""
    write_bytes(path, data, overwrite=overwrite)


def write_html(path: PathLike, page: str, *, overwrite: bool = False) -> None:
    """Write an HTML page atomically."""
    write_text(path, page, overwrite=overwrite)

