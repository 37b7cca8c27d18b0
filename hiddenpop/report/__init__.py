"""The end-to-end report: one self-contained HTML file (and a Markdown twin).

:func:`build_report` takes what a work folder holds (already read by the caller: the first-stage
design, PNG images as bytes, weights and estimate tables) and returns the HTML and Markdown
text. Images are embedded as base64 ``data:`` URIs, the CSS is inline and there is no script,
so the file renders offline and can be e-mailed as is. Household coordinates are never shown
(only point maps and aggregates).
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from hiddenpop.spatial.inclusion import FirstStageDesign

__all__ = ["ReportInputs", "build_report", "weight_figure", "figure_png", "recruitment_figure", "readable_estimates",
           "domain_label", "design_summary", "population_label", "headline", "VARIABLE_LABELS", "VARIABLE_UNITS",
           "VALUE_LABELS", "CV_UNRELIABLE"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:3px solid #2a6f97;padding-bottom:.3em}h2{color:#2a6f97;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#eef4f8}td:first-child,th:first-child,td.t,th.t{text-align:left}
figure{margin:1em 0}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#555}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em 1em}
.howto{background:#eef4f8;border-left:4px solid #2a6f97;padding:.5em 1em}.howto li{margin:.2em 0}
.foot{font-size:.88em;color:#444;margin-top:-.5em}details{margin:1em 0}summary{cursor:pointer;color:#2a6f97}
"""


@dataclass
class ReportInputs:
    """Everything the report shows (all optional except the title).

    ``design``: the first-stage design (:func:`hiddenpop.io.spatial.read_design`); ``calibrated``: the weights were calibrated to registry totals; ``n_replicates`` and
    ``replicate_method``: how the standard errors were computed; ``labels`` / ``value_labels``
    extend :data:`VARIABLE_LABELS` / :data:`VALUE_LABELS` for the survey's own variables.
    """

    title: str = "hiddenpop survey report"
    design: FirstStageDesign | None = None
    images: dict[str, tuple[bytes, str]] = field(default_factory=dict)   # name -> (png bytes, caption)
    weights: pd.DataFrame | None = None
    estimates: dict[str, pd.DataFrame] = field(default_factory=dict)     # title -> estimates table
    referral_status: str | None = None
    notes: list[str] = field(default_factory=list)
    calibrated: bool = False
    n_replicates: int = 0
    replicate_method: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    value_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    comparisons: pd.DataFrame | None = None   # hiddenpop.weights.compare.headline_comparisons
    #: ``weights popsize`` tables: "households" / "children" -> table (estimator, estimate, se, ci_low, ...)
    popsize: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: registered households in the registry (the ratio estimator's N_R), when known
    registry_total: float | None = None
    #: the children's weights (``weights calibrate --children-out`` or ``weights compute --children-out``)
    child_weights: pd.DataFrame | None = None
    child_weights_calibrated: bool = False
    #: how the weights were made (``*.settings.json`` written next to the weights)
    settings: dict[str, Any] = field(default_factory=dict)
    #: age range of the children (for "children aged 6–17" from ``--subpop age>=6``)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)


def weight_figure(weights: pd.DataFrame, *, weight_col: str = "final_weight", by: str = "found_by"):
    """Histogram of the final weights, by how households were found (matplotlib Figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 3.4))
    w = pd.to_numeric(weights[weight_col], errors="coerce")
    largest = float(np.nanmax(w))
    bins = np.linspace(0, largest * 1.02 + 1e-9, 30)   # up to the largest weight: nothing is cut off
    groups = weights[by].astype(str) if by in weights else pd.Series("all", index=weights.index)
    names = VALUE_LABELS.get(by, {})
    for name, grp in w.groupby(groups):
        ax.hist(grp, bins=bins, alpha=0.6, label=f"{names.get(str(name), str(name))} (n={len(grp)})")
    ax.axvline(largest, color="0.3", linestyle=":", linewidth=1)
    ax.annotate(f"largest: {largest:,.1f}", (largest, ax.get_ylim()[1] * 0.92), ha="right", va="top", fontsize=8,
                xytext=(-3, 0), textcoords="offset points", color="0.2")
    ax.set_xlabel("weight: number of households each interviewed household stands for")
    ax.set_ylabel("interviewed households")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
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


def _is_text(v: Any) -> bool:
    text = _fmt(v)
    return not (isinstance(v, (int, float, np.integer, np.floating)) or text[:1].isdigit())


def _table_html(df: pd.DataFrame) -> str:
    """Numbers right-aligned, text (and the header of a text column) left-aligned."""
    first = next(df.itertuples(index=False), None)
    head = "".join(f"<th class='t'>{html.escape(str(c))}</th>" if first is not None and _is_text(v)
                   else f"<th>{html.escape(str(c))}</th>" for c, v in zip(df.columns, first or [None] * df.shape[1]))

    def cell(v: Any) -> str:
        text = _fmt(v)
        return f"<td class='t'>{html.escape(text)}</td>" if _is_text(v) else f"<td>{html.escape(text)}</td>"

    rows = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _table_md(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


#: Plain-language names of the data-contract variables (variable -> label); extend per survey
#: with ``ReportInputs(labels=...)``.
VARIABLE_LABELS: dict[str, str] = {
    "works": "Child works",
    "attends_school": "Child attends school",
    "n_working": "Working children",
    "n_out_of_school": "Children out of school",
    "n_children_6_17": "Children aged 6–17",
    "n_children": "Children",
    "size": "Household members",
    "registered": "Registered",
}

#: Plain-language names of domain values: variable -> {value -> label}.
VALUE_LABELS: dict[str, dict[str, str]] = {
    "registered": {"0": "Unregistered", "1": "Registered"},
    "sex": {"F": "Female", "M": "Male", "f": "Female", "m": "Male"},
    "found_by": {"point": "found at a point", "referral": "referred with a coupon"},
}

#: A cell is flagged "unreliable" when its CV exceeds this (a common statistical-office rule).
CV_UNRELIABLE = 0.30


def domain_label(domain: Any, *, value_labels: dict[str, dict[str, str]] | None = None) -> str:
    """Readable label of a domain string of the estimates table (``registered=0, sex=F``).

    >>> domain_label("registered=0, sex=F")
    'Unregistered, Female'
    >>> domain_label("registered=1, age_group=6-11")
    'Registered, aged 6–11'
    >>> domain_label("")
    'All'
    """
    labels = VALUE_LABELS if value_labels is None else {**VALUE_LABELS, **value_labels}
    text = "" if domain is None or (isinstance(domain, float) and not np.isfinite(domain)) else str(domain).strip()
    if not text or text.lower() in ("all", "total", "(all)"):
        return "All"
    parts = []
    for piece in text.split(","):
        var, _, value = piece.strip().partition("=")
        var, value = var.strip(), value.strip()
        if not _:
            parts.append(var)
        elif var in labels and value in labels[var]:
            parts.append(labels[var][value])
        elif var in ("age_group", "age"):
            parts.append(f"aged {value.replace('-', '–')}")
        else:
            parts.append(f"{var.replace('_', ' ')} {value}")
    return ", ".join(parts)


def _domain_key(domain: Any) -> tuple:
    """Sort key: numbers inside a domain sort numerically (age 6–11 before 12–17)."""
    import re

    return tuple((0, float(t), "") if re.fullmatch(r"\d+(\.\d+)?", t) else (1, 0.0, t)
                 for t in re.split(r"[=,\-\s]+", str(domain)) if t)


def _between01(v: Any) -> bool:
    try:
        return 0.0 <= float(v) <= 1.0
    except (TypeError, ValueError):
        return False


#: The unit each variable counts (for "% of children aged 6–17"); others count households.
VARIABLE_UNITS: dict[str, str] = {"works": "children", "attends_school": "children"}


def population_label(condition: Any, unit: str = "children",
                     ranges: dict[str, tuple[float, float]] | None = None) -> str:
    """Plain words for the population of an estimate (the ``population`` column, ``--subpop``).

    >>> population_label("age>=6", "children", {"age": (0, 17)})
    'children aged 6–17'
    >>> population_label("age>=6 and age<=11")
    'children aged 6–11'
    >>> population_label("")
    'children'
    >>> population_label("sex=F", "households")
    'households with sex F'
    """
    import re

    text = "" if condition is None or (isinstance(condition, float) and not np.isfinite(condition)) else str(condition)
    conds = [c.strip() for c in re.split(r",|\band\b", text) if c.strip()]
    if not conds:
        return unit
    lo, hi = (ranges or {}).get("age", (None, None))
    lo_set = hi_set = False
    other = []
    for c in conds:
        m = re.fullmatch(r"age\s*(>=|>|<=|<|==|=)\s*(\d+(?:\.\d+)?)", c)
        if not m:
            op = next((o for o in ("<=", ">=", "!=", "==", "<", ">", "=") if o in c), None)
            var, _, value = c.partition(op) if op else (c, "", "")
            words = {"=": "", "==": "", "!=": "not ", "<": "below ", ">": "above ", "<=": "at most ",
                     ">=": "at least "}.get(op or "", "")
            other.append(f"{var.strip().replace('_', ' ')} {words}{value.strip()}".strip())
            continue
        op, v = m.group(1), float(m.group(2))
        if op in (">=", ">"):
            lo, lo_set = (v if op == ">=" else v + 1), True
        elif op in ("<=", "<"):
            hi, hi_set = (v if op == "<=" else v - 1), True
        else:
            lo = hi = v
            lo_set = hi_set = True
    parts = []
    if lo_set or hi_set:
        if lo is not None and hi is not None:
            parts.append(f"aged {lo:g}–{hi:g}" if lo != hi else f"aged {lo:g}")
        elif lo is not None:
            parts.append(f"aged {lo:g} and over")
        else:
            parts.append(f"aged {hi:g} or under")
    label = " ".join([unit, *parts])
    return label + (" with " + " and ".join(other) if other else "")


def readable_estimates(est: pd.DataFrame, *, labels: dict[str, str] | None = None,
                       value_labels: dict[str, dict[str, str]] | None = None,
                       level: float = 0.95, ranges: dict[str, tuple[float, float]] | None = None,
                       units: dict[str, str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """An estimates table (docs/data-contract.md, "Estimates") as a table for readers, with footnotes.

    Variables and domains get plain names; shares (means of 0/1 variables) become percentages
    of their own population (the ``population`` column that ``estimate --subpop`` writes, e.g.
    "% of children aged 6–17") with standard errors in percentage points; totals are whole
    numbers. The interval is one column; the CV is a percentage, as in the terminal tables of
    ``hiddenpop estimate``, and above :data:`CV_UNRELIABLE` the cell is flagged. Suppressed
    cells (below the disclosure threshold) and structural zeros (a share of exactly 0 with no
    standard error: nobody in the group has the characteristic, often because it does not
    apply) show no number.

    >>> est = pd.DataFrame({"variable": ["works", "works"], "statistic": "mean",
    ...                     "domain": ["registered=1", "registered=0"], "estimate": [0.11, 0.21],
    ...                     "se": [0.02, 0.07], "ci_low": [0.07, 0.073], "ci_high": [0.15, 0.347],
    ...                     "cv": [0.18, 0.33], "n": [300, 40], "suppressed": [False, False],
    ...                     "population": "age>=6"})
    >>> table, notes = readable_estimates(est, ranges={"age": (0, 17)})
    >>> table.iloc[0].tolist()   # unregistered first, CV 33% > 30% flagged
    ['Child works (% of children aged 6–17)', 'Unregistered', '21.0% †', '7.0 pp', '7.3% – 34.7%', '33.0%', '40']
    """
    names = {**VARIABLE_LABELS, **(labels or {})}
    var_units = {**VARIABLE_UNITS, **(units or {})}
    est = est.copy()
    order = {v: i for i, v in enumerate(dict.fromkeys(est["variable"]))} if "variable" in est else {}
    est["_o"] = est["variable"].map(order) if "variable" in est else 0
    est["_d"] = est["domain"].map(_domain_key) if "domain" in est else 0
    est = est.sort_values(["_o", "_d"], kind="stable")
    share_vars = {v for v, g in est.groupby("variable")
                  if g["statistic"].astype(str).isin(["mean", "proportion"]).all()
                  and g["estimate"].dropna().map(_between01).all()} \
        if {"variable", "statistic", "estimate"} <= set(est) else set()
    rows, flags = [], set()
    pct_level = f"{100 * level:.0f}%"
    for _, r in est.iterrows():
        var = str(r.get("variable", ""))
        share = var in share_vars
        label = names.get(var, var.replace("_", " "))
        population = population_label(r.get("population"), var_units.get(var, "households"), ranges)
        if str(r.get("statistic", "")) == "total":
            label += " (total number)"
        elif share:
            label += f" (% of {population})"
        elif r.get("population") is not None and _text(r.get("population")):
            label += f" ({population})"
        suppressed = str(r.get("suppressed", "False")).lower() in ("true", "1")

        def num(v: Any) -> str:
            if not _finite(v):
                return ""
            return f"{100 * float(v):.1f}" if share else f"{float(v):,.0f}"

        structural = share and _finite(r.get("estimate")) and float(r["estimate"]) == 0 and \
            (not _finite(r.get("se")) or float(r["se"]) == 0)
        if suppressed:
            flags.add("suppressed")
            est_txt, se_txt, ci_txt, cv_txt = "suppressed ‡", "", "", ""
        elif structural:
            flags.add("structural")
            est_txt, se_txt, ci_txt, cv_txt = "none §", "", "", ""
        else:
            pct = "%" if share else ""
            est_txt = num(r.get("estimate")) + pct
            lo, hi = r.get("ci_low"), r.get("ci_high")
            low_clipped = share and _finite(lo) and float(lo) < 0
            if low_clipped:
                lo = 0.0
                flags.add("clipped")
            ci_txt = (f"{num(lo)}{pct}{'*' if low_clipped else ''} – {num(hi)}{pct}"
                      if _finite(lo) and _finite(hi) else "")
            se_txt = num(r.get("se")) + (" pp" if share and _finite(r.get("se")) else "")
            cv = r.get("cv")
            cv_txt = f"{100 * float(cv):.1f}%" if _finite(cv) else "–"
            if _finite(cv) and float(cv) > CV_UNRELIABLE:
                est_txt += " †"
                flags.add("unreliable")
        n = r.get("n")
        rows.append({"Indicator": label, "Group": domain_label(r.get("domain", ""), value_labels=value_labels),
                     "Estimate": est_txt, "Std. error": se_txt, f"{pct_level} interval": ci_txt, "CV": cv_txt,
                     "n": f"{int(n):,}" if _finite(n) else ""})
    notes = []
    if "unreliable" in flags:
        notes.append(f"† CV above {100 * CV_UNRELIABLE:.0f}%: imprecise, use with caution.")
    if "suppressed" in flags:
        notes.append("‡ Suppressed: too few interviews in this group to publish a figure (disclosure rule).")
    if "structural" in flags:
        notes.append("§ Nobody interviewed in this group has this characteristic (often it does not apply to the "
                     "group): no estimate or interval is given.")
    if "clipped" in flags:
        notes.append("* The lower limit of the interval was below 0 and is shown as 0.")
    if share_vars:
        notes.append("Standard errors of percentages are in percentage points (pp).")
    return pd.DataFrame(rows), notes


def _text(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and not np.isfinite(v)) and str(v).strip() != ""


def _finite(v: Any) -> bool:
    try:
        return bool(np.isfinite(float(v)))
    except (TypeError, ValueError):
        return False


def recruitment_figure(households: pd.DataFrame, *, max_chains: int = 12):
    """Readable picture of the referral stage (matplotlib Figure).

    Left: households by wave (wave 0 = found at a point), by registration. Right: the largest
    recruitment chains drawn as trees (one colour per registration status). Needs ``hh_id``,
    ``recruiter_id``; uses ``registered`` when present.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hiddenpop.rds.tree import build_tree

    ids = households["hh_id"].astype(str).to_numpy()
    rec = households["recruiter_id"].where(households["recruiter_id"].notna(), None)
    rec = rec.map(lambda v: None if v is None or str(v) == "" else str(v))
    known = set(ids)
    rec = rec.map(lambda v: v if v in known else None).to_numpy(dtype=object)
    tree = build_tree(ids, rec)
    reg = (pd.to_numeric(households["registered"], errors="coerce").to_numpy() if "registered" in households
           else np.full(len(ids), np.nan))
    colours = {0: "#d95f02", 1: "#1b9e77"}
    waves = tree.wave
    wmax = int(waves.max()) if len(waves) else 0
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1, 2.3 if wmax >= 2 else 1.4]})
    bottom = np.zeros(wmax + 1)
    for value, name in ((1, "registered"), (0, "unregistered")):
        counts = np.bincount(waves[reg == value], minlength=wmax + 1)[: wmax + 1]
        ax1.bar(range(wmax + 1), counts, bottom=bottom, color=colours[value], label=name)
        bottom += counts
    other = np.bincount(waves[~np.isin(reg, [0, 1])], minlength=wmax + 1)[: wmax + 1]
    if other.sum():
        ax1.bar(range(wmax + 1), other, bottom=bottom, color="#999999", label="unknown")
    ax1.set_xticks(range(wmax + 1), ["found at\npoints"] + [f"wave {w}" for w in range(1, wmax + 1)])
    ax1.set_ylabel("households interviewed")
    ax1.set_title("How households were reached", fontsize=10)
    ax1.legend(fontsize=8, frameon=False)
    starts, kids = tree.children
    sizes = tree.chain_size
    n_chains = int(tree.is_seed.sum())
    n_grown = int((sizes[tree.is_seed] > 1).sum())
    if wmax < 2:
        # one wave: every chain is a star; the number of recruits per household says it all
        k = tree.n_recruits[waves < wmax] if wmax else tree.n_recruits
        counts = np.bincount(k)
        ax2.bar(range(len(counts)), counts, color="#7570b3")
        for x, c in enumerate(counts):
            ax2.text(x, c, f"{c}", ha="center", va="bottom", fontsize=9)
        ax2.set_xticks(range(len(counts)))
        ax2.set_xlabel("households each one brought in with its coupons")
        ax2.set_ylabel("households found at points")
        ax2.set_title(f"Referrals per household found at a point ({n_grown} of {n_chains} referred someone)",
                      fontsize=10)
        for side in ("top", "right"):
            ax2.spines[side].set_visible(False)
        fig.tight_layout()
        return fig
    # the largest chains as small trees: leaves on consecutive x, parents centred over their recruits
    seeds = np.flatnonzero(tree.is_seed)
    seeds = seeds[np.argsort(-sizes[seeds], kind="stable")][:max_chains]
    seeds = seeds[sizes[seeds] > 1]
    x_next = 0.0
    pos: dict[int, tuple[float, float]] = {}

    def place(i: int) -> float:
        nonlocal x_next
        ch = kids[starts[i]:starts[i + 1]]
        if len(ch) == 0:
            x = x_next
            x_next += 1.0
        else:
            x = float(np.mean([place(int(c)) for c in ch]))
        pos[i] = (x, -float(waves[i]))
        return x

    for s in seeds:
        place(int(s))
        x_next += 1.0
    for i, (x, y) in pos.items():
        p = tree.parent[i]
        if p >= 0 and int(p) in pos:
            px, py = pos[int(p)]
            ax2.plot([px, x], [py, y], color="#888888", lw=0.8, zorder=1)
    if pos:
        idx = np.array(list(pos))
        xy = np.array([pos[i] for i in idx])
        col = [colours.get(int(v), "#999999") if np.isfinite(v) else "#999999" for v in reg[idx]]
        ax2.scatter(xy[:, 0], xy[:, 1], c=col, s=28, zorder=2, edgecolors="white", linewidths=0.5)
        ax2.set_yticks(sorted(set(xy[:, 1])), [("point" if y == 0 else f"wave {int(-y)}") for y in sorted(set(xy[:, 1]))])
    ax2.set_xticks([])
    ax2.set_title(f"The {len(seeds)} largest of {n_grown} chains with referrals "
                  f"({n_chains - n_grown} households found at points referred nobody)", fontsize=10)
    for side in ("top", "right", "bottom"):
        ax2.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def _design_rows(design: FirstStageDesign | None, weights: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per stratum: points, area and (from the weights) households interviewed, by how found."""
    rows = []
    have = weights is not None and "stratum" in weights and "found_by" in weights
    for name, n in (design.n_points.items() if design is not None else ()):
        area = design.stratum_areas_m2.get(name)
        row = {"stratum": name, "points": n, "area (km²)": area / 1e6 if area is not None else ""}
        if have:
            sel = weights["stratum"].astype(str) == str(name)
            found = weights.loc[sel, "found_by"].astype(str)
            row["interviewed at points"] = int((found == "point").sum())
            row["referred"] = int((found == "referral").sum())
        rows.append(row)
    return pd.DataFrame(rows)


_METHOD_WORDS = {
    "uniform": "at random, uniformly over the area (every place equally likely)",
    "size": "at random, with more points where the frame records more people",
    "raster": "at random, with more points where the population map shows more people",
    "lpm": "at random and spread evenly over the area (local pivotal method)",
}


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def design_summary(inputs: ReportInputs) -> list[str]:
    """What was done, in plain words: one paragraph per stage (from the design and the weights).

    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> from hiddenpop.spatial import FirstStageDesign, SamplingFrame, sample_points
    >>> units = gpd.GeoDataFrame({"unit_id": ["A", "B"], "stratum": ["A", "B"]}, crs=4326,
    ...                          geometry=[box(29.0, 41.0, 29.1, 41.1), box(29.1, 41.0, 29.2, 41.1)])
    >>> s = sample_points(SamplingFrame(units, stratum_col="stratum"), n=5, radius_m=250, rng=7)
    >>> design_summary(ReportInputs(design=FirstStageDesign.from_manifest(s.manifest)))[0]
    '5 first-stage points were drawn at random, uniformly over the area (every place equally likely), in 2 strata (A 3, B 2) in proportion to their area. Around each point, the field teams listed every refugee household within 250 m and interviewed it.'
    """
    out: list[str] = []
    d = inputs.design
    if d is not None:
        per = ", ".join(f"{k} {v}" for k, v in d.n_points.items())
        method = str(d.density or d.method or "")
        how = _METHOD_WORDS.get(method, _METHOD_WORDS.get(str(d.method or ""), f"by the {method} method"))
        text = f"{d.n_total} first-stage points were drawn {how}"
        if per:
            text += f", in {len(d.strata)} {'stratum' if len(d.strata) == 1 else 'strata'} ({per})"
            if d.allocation_rule == "proportional":
                text += f" in proportion to their {d.allocation_basis or 'size'}"
        text += "."
        if d.excluded_area_m2:
            text += f" An excluded zone of {d.excluded_area_m2 / 1e6:.1f} km² could not receive points."
        if d.radius_m:
            text += (f" Around each point, the field teams listed every refugee household within "
                     f"{d.radius_m:.0f} m and interviewed it.")
        out.append(text)
    w = inputs.weights
    if w is not None and "found_by" in w:
        found = w["found_by"].astype(str)
        n_pt, n_ref = int((found == "point").sum()), int((found == "referral").sum())
        text = f"{_plural(n_pt, 'household')} were interviewed at the points."
        if n_ref or "coupons_issued" in w:
            text += (" Interviewed households received coupons to pass on to refugee households they know"
                     + (" that are not registered" if "registered" in w and n_ref
                        and (w.loc[found == "referral", "registered"] == 0).all() else "") + ".")
            if "coupons_issued" in w:
                text += f" {int(pd.to_numeric(w['coupons_issued'], errors='coerce').sum()):,} coupons were given out;"
            waves = pd.to_numeric(w.get("wave"), errors="coerce") if "wave" in w else None
            text += (f" {_plural(n_ref, 'household')} came with a coupon"
                     + ((", in one wave of referral" if int(waves.max()) == 1 else
                         f", in up to {int(waves.max())} waves of referral") if waves is not None and n_ref else "")
                     + ".")
        out.append(text)
        method = str(w["weight_method"].dropna().astype(str).mode().iloc[0]) if "weight_method" in w and \
            w["weight_method"].notna().any() else ""
        text = ("Each interviewed household has a weight: the number of households it stands for. It comes from "
                "the household's chance of lying near a point")
        if n_ref:
            text += (" and, for households that can be referred, its chances of being referred by the households "
                     "it knows (generalised weight share method, GWSM)" if "gwsm" in set(w.get("weight_method", []))
                     or method == "gwsm" else " and its chance of being referred")
        text += "."
        if inputs.calibrated:
            text += (" The weights were then adjusted (calibrated) so that registered households add up to the "
                     "registry totals; unregistered households keep the survey's own estimate.")
        out.append(text)
    if inputs.n_replicates:
        out.append(f"Standard errors and intervals come from {inputs.n_replicates} "
                   f"{inputs.replicate_method or 'replicate'} replicates that redo the selection of points and the "
                   "weighting, so they include the uncertainty of both stages.")
    return out


def _whole(v: Any) -> str:
    return f"{float(v):,.0f}" if _finite(v) else ""


def headline(inputs: ReportInputs) -> tuple[list[str], pd.DataFrame | None]:
    """The number the survey exists for: unregistered households and children, with intervals.

    From the ``weights popsize`` tables: the direct estimate (sum of the weights of unregistered
    households) and, with a registry count, the ratio estimate (registry count × unregistered /
    registered in the survey). Returns sentences and a table (or an empty list and None).

    >>> pop = pd.DataFrame({"estimator": ["direct", "ratio"], "estimate": [829.7, 865.1], "se": [120.9, 146.3],
    ...                     "ci_low": [623.6, 621.0], "ci_high": [1103.8, 1205.1], "n": 201, "level": 0.95})
    >>> text, table = headline(ReportInputs(popsize={"households": pop}, registry_total=1851))
    >>> text[0][:80]
    'An estimated 830 unregistered refugee households (95% interval 624 to 1,104) liv'
    >>> table["Estimate"].tolist()
    ['830', '865']
    """
    if not inputs.popsize:
        return [], None
    what = {"households": "Unregistered households", "children": "Children in unregistered households"}
    how = {"direct": "direct: the survey weights of the unregistered households",
           "ratio": "ratio: registry count × unregistered / registered in the survey"}
    rows, text = [], []
    level = 0.95
    for unit in ("households", "children"):
        tab = inputs.popsize.get(unit)
        if tab is None or not len(tab):
            continue
        for r in tab.to_dict("records"):
            level = float(r.get("level", level) or level)
            est = str(r.get("estimator", ""))
            method = how.get(est, est)
            if est == "ratio" and inputs.registry_total:
                method += f" ({inputs.registry_total:,.0f} registered households)"
            rows.append({"Estimated number": what.get(unit, unit), "Method": method, "Estimate": _whole(r["estimate"]),
                         f"{100 * level:.0f}% interval": f"{_whole(r.get('ci_low'))} – {_whole(r.get('ci_high'))}",
                         "Std. error": _whole(r.get("se")),
                         "CV": f"{100 * float(r['se']) / float(r['estimate']):.1f}%"
                         if _finite(r.get("se")) and _finite(r.get("estimate")) and float(r["estimate"]) else "–",
                         "n": f"{int(r['n']):,}" if _finite(r.get("n")) else ""})
    if not rows:
        return [], None
    table = pd.DataFrame(rows)
    pct = f"{100 * level:.0f}%"
    hh = inputs.popsize.get("households")
    ch = inputs.popsize.get("children")
    if hh is not None and len(hh):
        d = hh.iloc[0]
        sentence = (f"An estimated {_whole(d['estimate'])} unregistered refugee households ({pct} interval "
                    f"{_whole(d['ci_low'])} to {_whole(d['ci_high'])}) live in the surveyed area")
        if ch is not None and len(ch):
            c = ch.iloc[0]
            sentence += (f", with {_whole(c['estimate'])} children ({_whole(c['ci_low'])} to "
                         f"{_whole(c['ci_high'])})")
        sentence += "."
        ratio = hh[hh["estimator"].astype(str) == "ratio"] if "estimator" in hh else hh.iloc[:0]
        if len(ratio):
            r = ratio.iloc[0]
            sentence += (f" Scaled to the registry instead, the estimate is {_whole(r['estimate'])} "
                         f"({_whole(r['ci_low'])} to {_whole(r['ci_high'])}); the two methods agree when their "
                         "intervals overlap.")
        text.append(sentence)
    return text, table


_HOWTO = [
    "<b>Estimate</b>: the survey's best figure for the whole population of the group (not just the "
    "households interviewed). Percentages are shares of the group; totals are numbers of children or households.",
    "<b>95% interval</b>: the range of plausible values. If the survey were repeated many times, intervals made "
    "this way would contain the true value 95 times out of 100. A wide interval means an uncertain figure.",
    "<b>Std. error</b> and <b>CV</b> (std. error ÷ estimate, in %): the precision. Standard errors of "
    "percentages are in percentage points (pp). Figures with a CV above "
    f"{100 * CV_UNRELIABLE:.0f}% are marked † and should be used with caution.",
    "<b>n</b>: how many households (or children) were interviewed in the group; the estimate stands for many "
    "more.",
    "Groups with too few interviews to publish are marked <i>suppressed</i> (no figure is shown).",
]


def build_report(inputs: ReportInputs, *, image_links: dict[str, str] | None = None) -> tuple[str, str]:
    """Render the report as (HTML, Markdown).

    ``image_links`` maps image names to file names for the Markdown version (the HTML embeds
    every image as a base64 data URI). The sections: how many unregistered refugees (the
    ``weights popsize`` numbers, first), what was done (in words), how to read the report, the
    first-stage points, the referrals, the weights, the estimate tables (plain labels,
    percentages, intervals, n, flags), registered and unregistered compared, and the technical
    details (docs/simulation.md, section 6, describes each).

    Examples
    --------
    >>> est = pd.DataFrame({"variable": ["works"], "statistic": ["mean"], "domain": ["registered=0"],
    ...                     "estimate": [0.21], "se": [0.03], "ci_low": [0.15], "ci_high": [0.27],
    ...                     "cv": [0.14], "n": [120]})
    >>> page, md = build_report(ReportInputs(title="Demo", estimates={"Children": est}))
    >>> "<table>" in page and "Unregistered" in md and "21.0%" in page and "<script" not in page
    True
    """
    import re

    h: list[str] = []
    m: list[str] = []
    title = html.escape(inputs.title)
    h.append(f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
             f"<style>{_CSS}</style></head><body><h1>{title}</h1>")
    m.append(f"# {inputs.title}\n")
    for note in inputs.notes:
        h.append(f"<p class='note'>{html.escape(note)}</p>")
        m.append(f"> {note}\n")
    section = 0

    def heading(text: str) -> None:
        nonlocal section
        section += 1
        h.append(f"<h2>{section}. {html.escape(text)}</h2>")
        m.append(f"## {section}. {text}\n")

    top_text, top_table = headline(inputs)
    if top_table is not None:
        heading("How many unregistered refugees")
        h.extend(f"<p><b>{html.escape(t)}</b></p>" for t in top_text)
        m.extend(f"**{t}**\n" for t in top_text)
        h.append(_table_html(top_table))
        m.append(_table_md(top_table))
    summary = design_summary(inputs)
    if summary:
        heading("What was done")
        h.extend(f"<p>{html.escape(t)}</p>" for t in summary)
        m.extend(t + "\n" for t in summary)
        rows = _design_rows(inputs.design, inputs.weights)
        if len(rows):
            h.append(_table_html(rows))
            m.append(_table_md(rows))
    if inputs.estimates:
        h.append("<div class='howto'><b>How to read the tables</b><ul>" + "".join(f"<li>{t}</li>" for t in _HOWTO)
                 + "</ul></div>")
        m.append("> **How to read the tables**\n>\n" + "".join(
            "> - " + re.sub(r"</?b>", "**", re.sub(r"</?i>", "*", t)) + "\n" for t in _HOWTO))

    def images(key: str) -> None:
        for name, (png, caption) in {n: v for n, v in inputs.images.items() if n.startswith(key)}.items():
            uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            h.append(f"<figure><img alt='{html.escape(caption)}' src='{uri}'><figcaption>{html.escape(caption)}"
                     "</figcaption></figure>")
            m.append(f"![{caption}]({(image_links or {}).get(name, name + '.png')})\n")

    if any(n.startswith("map") for n in inputs.images):
        heading("Where the points fell")
        images("map")
    if any(n.startswith("tree") for n in inputs.images):
        heading("Referrals")
        images("tree")
        if inputs.referral_status:
            h.append(f"<pre>{html.escape(inputs.referral_status)}</pre>")
            m.append("```\n" + inputs.referral_status + "\n```\n")
    if inputs.weights is not None or any(n.startswith("weights") for n in inputs.images):
        heading("Weights")
        images("weights")
        w = inputs.weights
        if w is not None and "final_weight" in w:
            fw = pd.to_numeric(w["final_weight"], errors="coerce")
            if "found_by" in w:
                tab = fw.groupby(w["found_by"].astype(str)).describe()[["count", "mean", "min", "50%", "max"]]
                tab.index = [VALUE_LABELS["found_by"].get(i, i) for i in tab.index]
            else:
                tab = fw.describe().to_frame().T[["count", "mean", "min", "50%", "max"]]
                tab.index = ["all"]
            tab = tab.rename_axis("how found").reset_index()
            tab.columns = ["how found", "households", "mean weight", "smallest", "median", "largest"]
            tab["households"] = tab["households"].astype(int)
            tab[tab.columns[2:]] = tab[tab.columns[2:]].astype(float).round(1)
            cv2 = float((fw.std(ddof=0) / fw.mean()) ** 2)
            text = (f"The {len(fw):,} interviewed households stand for {fw.sum():,.0f} households. "
                    f"Unequal weights cost precision: the design effect due to weighting (Kish) is {1 + cv2:.2f}, "
                    f"i.e. the sample is worth about {len(fw) / (1 + cv2):,.0f} equally weighted interviews.")
            if "share_from_referral" in w and "registered" in w:
                unreg = pd.to_numeric(w["registered"], errors="coerce") == 0
                tot = float(fw[unreg].sum())
                if tot > 0:
                    share = float((fw * pd.to_numeric(w["share_from_referral"], errors="coerce"))[unreg].sum()) / tot
                    text += (f" {100 * share:.0f}% of the weight of unregistered households comes through referrals: "
                             "without them, these households would be represented only by those found at points.")
            h.append(f"<p>{html.escape(text)}</p>" + _table_html(tab))
            m.append(text + "\n\n" + _table_md(tab))
            kids_text, kids_table = _child_weight_check(inputs)
            if kids_text:
                h.append(f"<p>{html.escape(kids_text)}</p>")
                m.append(kids_text + "\n")
            if kids_table is not None:
                h.append(_table_html(kids_table))
                m.append(_table_md(kids_table))
    if inputs.estimates:
        heading("Estimates")
        for name, est in inputs.estimates.items():
            table, notes = readable_estimates(est, labels=inputs.labels, value_labels=inputs.value_labels,
                                              ranges=inputs.ranges)
            h.append(f"<h3>{html.escape(name)}</h3>" + _table_html(table))
            m.append(f"### {name}\n\n" + _table_md(table))
            if notes:
                h.append("<p class='foot'>" + "<br>".join(html.escape(t) for t in notes) + "</p>")
                m.append("\n".join(notes) + "\n")
    if inputs.comparisons is not None and len(inputs.comparisons):
        from hiddenpop.report.comparisons import comparison_section

        heading("Registered and unregistered compared")
        ch, cm = comparison_section(inputs.comparisons, labels={**VARIABLE_LABELS, **inputs.labels})
        h.append(ch)
        m.append(cm)
    details = _technical(inputs.design, inputs)
    if details:
        h.append("<details><summary>Technical details</summary><ul>"
                 + "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in details.items())
                 + "</ul></details>")
        m.append("<details><summary>Technical details</summary>\n\n"
                 + "".join(f"- **{k}**: {v}\n" for k, v in details.items()) + "\n</details>\n")
    h.append("<p><small>Made with hiddenpop. No household coordinates, names or phone numbers are shown. "
             "The full-precision tables are the estimates*.csv files of the work folder.</small></p></body></html>")
    return "\n".join(h), "\n".join(m)


def _child_weight_check(inputs: ReportInputs) -> tuple[str, pd.DataFrame | None]:
    """Whether the children's weights are the (calibrated) household weights, and the totals of
    children counted both ways (household counts × household weights, and children's weights)."""
    kids, w = inputs.child_weights, inputs.weights
    if kids is None or w is None or "final_weight" not in kids:
        return "", None
    if inputs.child_weights_calibrated or not inputs.calibrated:
        text = ("Each child carries the weight of its household" + (" after calibration" if inputs.calibrated else "")
                + ", so figures about children and about households describe the same population.")
    else:
        text = ("The children's weights are the household weights before calibration: totals of children differ "
                "from those computed from the calibrated household weights (run weights calibrate with --children).")
    rows = []
    kw = pd.to_numeric(kids["final_weight"], errors="coerce")
    hw = pd.to_numeric(w["final_weight"], errors="coerce")
    checks = [("n_children", None, "Children"), ("n_children_6_17", ("age", 6, 17), "Children aged 6–17")]
    groups = [(None, "All")]
    if "registered" in kids and "registered" in w:
        groups += [(0, "Unregistered"), (1, "Registered")]
    for col, age, name in checks:
        if col not in w or (age and age[0] not in kids):
            continue
        for value, gname in groups:
            hsel = np.ones(len(w), bool) if value is None else pd.to_numeric(w["registered"], errors="coerce") == value
            ksel = (np.ones(len(kids), bool) if value is None
                    else pd.to_numeric(kids["registered"], errors="coerce") == value)
            if age:
                a = pd.to_numeric(kids[age[0]], errors="coerce")
                ksel = ksel & (a >= age[1]) & (a <= age[2])
            from_hh = float((hw * pd.to_numeric(w[col], errors="coerce"))[np.asarray(hsel)].sum())
            from_kids = float(kw[np.asarray(ksel)].sum())
            rows.append({"Children": name, "Group": gname, "from household counts": f"{from_hh:,.0f}",
                         "from children's weights": f"{from_kids:,.0f}",
                         "agree": "yes" if abs(from_hh - from_kids) <= 1e-6 * max(1.0, from_hh) else "no"})
    return text, (pd.DataFrame(rows) if rows else None)


def _survey_dates(w: pd.DataFrame | None) -> str | None:
    if w is None or "interview_time" not in w:
        return None
    t = pd.to_datetime(w["interview_time"], errors="coerce", utc=True).dropna()
    if t.empty:
        return None
    first, last = t.min().date(), t.max().date()
    return f"{first.isoformat()} to {last.isoformat()} ({(last - first).days + 1} days of interviews)"


_STAGE2_WORDS = {"gwsm": "generalised weight share method (GWSM) with link subsampling",
                 "union": "union of inclusion probabilities (for comparison only: biased under local networks)",
                 "multiplicity": "multiplicity / expected hits (for comparison only)"}


def _technical(design: FirstStageDesign | None, report: ReportInputs | None = None) -> dict[str, Any]:
    """Everything needed to reproduce the figures: design, stage-2 method, replicates and both
    random seeds, calibration margins, survey dates, inputs."""
    d = design
    prov = d.provenance if d is not None else None
    settings = (report.settings if report is not None else {}) or {}
    computed = settings.get("computed") if settings.get("step") == "weights calibrate" else settings
    computed = computed or {}
    w = report.weights if report is not None else None
    method = computed.get("method")
    if method is None and w is not None and "weight_method" in w and w["weight_method"].notna().any():
        method = "gwsm" if (w["weight_method"].astype(str) == "gwsm").any() else None
    reps = computed.get("reps") or (report.n_replicates if report is not None and report.n_replicates else None)
    facts = {"design method": d and d.method, "point density": d and d.density,
             "listing radius (m)": d and d.radius_m, "points": d and d.n_total,
             "coordinate system for areas and distances": d and d.crs_name,
             "random seed of the first-stage points (frame sample --rng-seed)": d and d.rng_seed,
             "stage-2 (referral) weights": _STAGE2_WORDS.get(str(method), method) if method else None,
             "replicates for standard errors": (f"{reps} {computed.get('replicates') or 'bootstrap'} replicates "
                                                "(Rao–Wu bootstrap of the points, the whole weighting redone in each)"
                                                if reps else None),
             "random seed of the replicates (weights compute --rng-seed)": computed.get("rng_seed"),
             "survey dates": _survey_dates(w),
             "manifest format": prov and prov.format,
             "toolkit": prov and prov.toolkit,
             "created": prov and prov.created}
    if settings.get("step") == "weights calibrate":
        margins = "; ".join(f"{m['variable']} {m['level']}: "
                            + ("survey estimate kept" if m["total"] == "survey" else f"{float(m['total']):,.0f}")
                            for m in settings.get("margins", []))
        facts["calibration"] = (f"{settings.get('method')} to {PurePath(str(settings.get('margins_file', ''))).name}"
                                + (f", bounds {settings['bounds']}" if settings.get("bounds") else "")
                                + (f" — {margins}" if margins else ""))
        facts["children's weights"] = ("the calibrated household weights" if settings.get("children_out")
                                       else "not calibrated with the households")
    elif report is not None and report.weights is not None:
        facts["calibration"] = "none (the weights were not calibrated)" if not report.calibrated else None
    for name, (path, sha256) in (prov.inputs.items() if prov is not None else ()):
        facts[f"input {name} (SHA-256)"] = f"{PurePath(path).name} {sha256[:16]}…"
    return {k: v for k, v in facts.items() if v not in (None, "")}
