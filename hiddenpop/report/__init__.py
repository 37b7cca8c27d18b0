"""The end-to-end report: one self-contained HTML file (and a Markdown twin).

:func:`build_report` takes what a work folder holds (already read by the caller: the design
manifest, PNG images as bytes, weights and estimate tables) and returns the HTML and Markdown
text. Images are embedded as base64 ``data:`` URIs, the CSS is inline and there is no script,
so the file renders offline and can be e-mailed as is. Household coordinates are never shown
(only point maps and aggregates).
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ReportInputs", "build_report", "weight_figure", "figure_png"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:3px solid #2a6f97;padding-bottom:.3em}h2{color:#2a6f97;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#eef4f8}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#555}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em 1em}
"""


@dataclass
class ReportInputs:
    """Everything the report shows (all optional except the title)."""

    title: str = "hiddenpop survey report"
    manifest: dict[str, Any] | None = None
    images: dict[str, tuple[bytes, str]] = field(default_factory=dict)   # name -> (png bytes, caption)
    weights: pd.DataFrame | None = None
    estimates: dict[str, pd.DataFrame] = field(default_factory=dict)     # title -> estimates table
    referral_status: str | None = None
    notes: list[str] = field(default_factory=list)


def weight_figure(weights: pd.DataFrame, *, weight_col: str = "final_weight", by: str = "found_by"):
    """Histogram of the final weights, by how households were found (matplotlib Figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    w = pd.to_numeric(weights[weight_col], errors="coerce")
    bins = np.linspace(0, float(np.nanquantile(w, 0.99)) * 1.05 + 1e-9, 30)
    groups = weights[by].astype(str) if by in weights else pd.Series("all", index=weights.index)
    for name, grp in w.groupby(groups):
        ax.hist(grp.clip(upper=bins[-1]), bins=bins, alpha=0.6, label=f"{name} (n={len(grp)})")
    ax.set_xlabel(f"{weight_col} (households represented)")
    ax.set_ylabel("households")
    ax.legend()
    fig.tight_layout()
    return fig


def figure_png(fig: Any) -> bytes:
    """PNG bytes of a matplotlib figure (no timestamp metadata)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None}, bbox_inches="tight")
    return buf.getvalue()


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return ""
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) < 1 else f"{v:,.1f}"
    return str(v)


def _table_html(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>"
                   for r in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _table_md(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


_EST_COLS = ["variable", "statistic", "domain", "estimate", "se", "ci_low", "ci_high", "cv", "n"]


def _design_rows(manifest: dict[str, Any]) -> pd.DataFrame:
    rows = []
    strata = manifest.get("strata", {})
    items = strata.items() if isinstance(strata, dict) else enumerate(strata)
    for key, info in items:
        info = info if isinstance(info, dict) else {"value": info}
        rows.append({"stratum": info.get("stratum", key), "points": info.get("n", info.get("n_points", "")),
                     "area_km2": (info["area_m2"] / 1e6) if "area_m2" in info else info.get("area_km2", "")})
    return pd.DataFrame(rows)


def build_report(inputs: ReportInputs, *, image_links: dict[str, str] | None = None) -> tuple[str, str]:
    """Render the report as (HTML, Markdown).

    ``image_links`` maps image names to file names for the Markdown version (the HTML embeds
    every image as a base64 data URI).

    Examples
    --------
    >>> est = pd.DataFrame({"variable": ["works"], "statistic": ["mean"], "domain": ["registered=0"],
    ...                     "estimate": [0.21], "se": [0.03], "ci_low": [0.15], "ci_high": [0.27],
    ...                     "cv": [0.14], "n": [120]})
    >>> page, md = build_report(ReportInputs(title="Demo", estimates={"Children": est}))
    >>> "<table>" in page and "registered=0" in md and "<script" not in page
    True
    """
    h: list[str] = []
    m: list[str] = []
    title = html.escape(inputs.title)
    h.append(f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
             f"<style>{_CSS}</style></head><body><h1>{title}</h1>")
    m.append(f"# {inputs.title}\n")
    intro = ("This report follows the survey from the first-stage points to the estimates. Each estimate has a "
             "standard error (se) and a 95% confidence interval (ci_low – ci_high): the true value lies in the "
             "interval in 95 of 100 repetitions of the survey. CV = se / estimate; n = households or children "
             "interviewed in the group.")
    h.append(f"<p>{html.escape(intro)}</p>")
    m.append(intro + "\n")
    for note in inputs.notes:
        h.append(f"<p class='note'>{html.escape(note)}</p>")
        m.append(f"> {note}\n")
    if inputs.manifest:
        man = inputs.manifest
        h.append("<h2>1. Design</h2>")
        m.append("## 1. Design\n")
        facts = {"method": man.get("method"), "radius (m)": man.get("radius_m"),
                 "points": man.get("n_total", man.get("n")), "CRS used for areas": man.get("crs", {}).get("working")
                 if isinstance(man.get("crs"), dict) else man.get("crs"), "random seed": man.get("rng_seed")}
        facts = {k: v for k, v in facts.items() if v is not None}
        h.append("<ul>" + "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in facts.items())
                 + "</ul>")
        m.append("".join(f"- **{k}**: {v}\n" for k, v in facts.items()))
        rows = _design_rows(man)
        if len(rows):
            h.append(_table_html(rows))
            m.append(_table_md(rows))
    sections = [("map", "2. First-stage points"), ("tree", "3. Recruitment trees"), ("weights", "4. Weights")]
    for key, heading in sections:
        imgs = {n: v for n, v in inputs.images.items() if n.startswith(key)}
        if not imgs and not (key == "weights" and inputs.weights is not None):
            continue
        h.append(f"<h2>{html.escape(heading)}</h2>")
        m.append(f"## {heading}\n")
        if key == "tree" and inputs.referral_status:
            h.append(f"<pre>{html.escape(inputs.referral_status)}</pre>")
            m.append("```\n" + inputs.referral_status + "\n```\n")
        for name, (png, caption) in imgs.items():
            uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            h.append(f"<figure><img alt='{html.escape(caption)}' src='{uri}'><figcaption>{html.escape(caption)}"
                     "</figcaption></figure>")
            m.append(f"![{caption}]({(image_links or {}).get(name, name + '.png')})\n")
        if key == "weights" and inputs.weights is not None:
            w = inputs.weights
            summary = w.groupby("found_by")["final_weight"].describe()[["count", "mean", "min", "50%", "max"]] \
                if "found_by" in w else w["final_weight"].describe().to_frame().T
            summary = summary.reset_index().rename(columns={"50%": "median"})
            cv2 = float((w["final_weight"].std(ddof=0) / w["final_weight"].mean()) ** 2)
            text = (f"Kish design effect due to weighting: {1 + cv2:.2f}. Estimated number of households: "
                    f"{w['final_weight'].sum():,.0f}.")
            if "share_from_referral" in w:
                text += (" Share of the weight of unregistered households coming through referrals: "
                         f"{100 * float((w['final_weight'] * w['share_from_referral'])[w.get('registered', 1) == 0].sum() / max(w['final_weight'][w.get('registered', 1) == 0].sum(), 1e-300)):.0f}%.")
            h.append(f"<p>{html.escape(text)}</p>" + _table_html(summary))
            m.append(text + "\n\n" + _table_md(summary))
    if inputs.estimates:
        h.append("<h2>5. Estimates</h2>")
        m.append("## 5. Estimates\n")
        for name, est in inputs.estimates.items():
            cols = [c for c in _EST_COLS if c in est.columns]
            h.append(f"<h3>{html.escape(name)}</h3>" + _table_html(est[cols]))
            m.append(f"### {name}\n\n" + _table_md(est[cols]))
    h.append("<p><small>Made with hiddenpop. No household coordinates, names or phone numbers are shown."
             "</small></p></body></html>")
    return "\n".join(h), "\n".join(m)
