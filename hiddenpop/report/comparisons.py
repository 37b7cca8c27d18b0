"""The report's "Registered and unregistered compared" section.

Kept in its own module so the report's layout (``hiddenpop.report``) only calls
:func:`comparison_section`. The numbers come from
:func:`hiddenpop.weights.compare.headline_comparisons`: for each child indicator, the
difference unregistered − registered with its design-based interval, and whether the
interval excludes zero.
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd

__all__ = ["comparison_section"]

_INTRO = ("Differences between unregistered and registered children{ages}, in percentage points (unregistered minus "
          "registered), with their {level} intervals. The standard errors take into account that both groups "
          "come from the same points and chains. A difference whose interval includes zero is not "
          "distinguishable from no difference with this sample.")


def _pp(v: float) -> str:
    return f"{100 * v:+.1f}"


def comparison_section(table: pd.DataFrame, *, labels: dict[str, str] | None = None,
                       level: float = 0.95) -> tuple[str, str]:
    """(HTML, Markdown) of the comparisons, one sentence and one row per indicator.

    ``table`` is :func:`~hiddenpop.weights.compare.headline_comparisons`'s output.

    Examples
    --------
    >>> t = pd.DataFrame([{"variable": "works", "within": "all", "level": "0", "reference": "1",
    ...     "estimate": 0.062, "ci_low": 0.011, "ci_high": 0.113, "p_value": 0.018, "suppressed": False,
    ...     "distinguishable": True},
    ...     {"variable": "attends_school", "within": "all", "level": "0", "reference": "1", "estimate": -0.02,
    ...     "ci_low": -0.09, "ci_high": 0.05, "p_value": 0.57, "suppressed": False, "distinguishable": False}])
    >>> page, md = comparison_section(t, labels={"works": "Child works"})
    >>> print(md.splitlines()[-1])
    | attends school | -2.0 | -9.0 to +5.0 | not distinguishable from zero |
    """
    names = dict(labels or {})
    pct = f"{100 * level:g}%"
    rows = []
    for r in table.to_dict("records"):
        name = names.get(r["variable"], str(r["variable"]).replace("_", " "))
        if r["within"] not in ("all", None, ""):
            name += f" ({r['within']})"
        if bool(r.get("suppressed")) or not np.isfinite(r["estimate"]):
            rows.append([name, "", "", "suppressed: too few interviews in a group"])
            continue
        ok = np.isfinite(r["ci_low"])
        verdict = ("higher among the unregistered" if r["ci_low"] > 0 else "lower among the unregistered"
                   if r["ci_high"] < 0 else "not distinguishable from zero") if ok else ""
        rows.append([name, _pp(r["estimate"]), f"{_pp(r['ci_low'])} to {_pp(r['ci_high'])}" if ok else "", verdict])
    head = ["indicator", "difference (points)", f"{pct} interval", "reading"]
    ages = ""
    if "ages" in table.columns and len(table) and str(table["ages"].iloc[0]):
        ages = " aged " + str(table["ages"].iloc[0]).replace("-", "–")
    intro = _INTRO.format(level=pct, ages=ages)
    h = (f"<p>{html.escape(intro)}</p><table><thead><tr>" + "".join(
        f"<th class='t'>{html.escape(c)}</th>" if i in (0, 3) else f"<th>{html.escape(c)}</th>"
        for i, c in enumerate(head)) + "</tr></thead><tbody>" + "".join(
        "<tr>" + "".join(f"<td class='t'>{html.escape(c)}</td>" if i in (0, 3) else f"<td>{html.escape(c)}</td>"
                         for i, c in enumerate(row)) + "</tr>" for row in rows) + "</tbody></table>")
    m = intro + "\n\n| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n" + "\n".join(
        "| " + " | ".join(row) + " |" for row in rows)
    return h, m + "\n"
