"""The coordinator's dashboard: one self-contained HTML page, regenerated after each import.

Everything is inside the file (CSS and SVG charts, no script, no web font, no external link),
so it opens offline and can be e-mailed. It shows, from the store's respondents, quarantine and
imports:

* interviews per day and per team;
* first-stage points: with an interview, zero points and unreachable points (from the point
  sheet's export, ``visits``), not visited yet;
* coupons issued, returned, outstanding and expired, the return rate and the time to return;
* waves per seed, chains that have stalled (no interview for ``stall_days``, coupons still out);
* the quarantined rows with their messages, and the reminder list (respondent ids, never a
  phone number);
* convergence: the registered share and the mean network size of waves ``0..w`` for each wave
  ``w``, and the current 95% confidence-interval half-width of the key estimates against the
  target.

The interval is a **planning approximation** (Volz–Heckathorn RDS-II point estimate; half-width
``1.96 √(deff · v / n)`` with ``v = p(1-p)`` for a share and the sample variance for a mean, and
a design effect ``deff``, 2 by default, the usual planning value for RDS): enough to see whether
the sample is on course, not the interval to publish (``hiddenpop rds estimate`` gives that).

No names, phone numbers or coordinates: the page is built from respondent ids, teams, point ids,
dates, network sizes and registration status only (personal columns never leave the store).

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"respondent_id": ["A", "B"], "redeemed_coupon": [None, "100014"],
...                   "issued_coupons": ["100014;100023", None], "recruiter_id": [None, "A"],
...                   "point_id": ["P1", None], "network_size": [4.0, 3.0], "network_size_eligible": [1.0, 2.0],
...                   "interview_time": ["2024-03-04T09:00", "2024-03-05T10:00"], "wave": [0, 1],
...                   "seed_id": ["A", "A"], "is_seed": [True, False], "registered": [1, 0],
...                   "enumerator": ["team-a", "team-b"], "coupons_outstanding": [1, 0]})
>>> page = build_dashboard(DashboardInputs(respondents=t, as_of="2024-03-06T00:00"))
>>> page.startswith("<!DOCTYPE html>") and 'data-figure="interviews">2<' in page
True
"""
from __future__ import annotations

import dataclasses
import html
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DashboardInputs", "build_dashboard", "key_figures", "convergence_by_wave", "point_results"]

_PRIVATE = ("lon", "lat", "_gps_latitude", "_gps_longitude", "gps")


@dataclasses.dataclass
class DashboardInputs:
    """What the dashboard shows (tables as the store gives them).

    Parameters
    ----------
    respondents
        ``ReferralStore.respondents()`` (derived columns included).
    quarantine, pending, printed, imports
        ``ReferralStore.quarantine()`` (the last import's), ``ReferralStore.pending()``,
        ``ReferralStore.printed_coupons()``, ``ReferralStore.imports()``.
    points
        The first-stage points (``point_id``, ``stratum``), for points visited / not yet.
    visits
        Exports of the point sheet (:func:`hiddenpop.io.field.read_point_visits`): zero points,
        unreachable points.
    expiry_days, stall_days
        Coupon validity, and days without interview after which a chain with coupons out is stalled.
    as_of
        Reference time (ISO text) for expiry and stalled chains.
    target_half_width, design_effect
        Target 95% CI half-width of the registered share, and the planning design effect.
    title
        Page title (e.g. the store's file name).
    """

    respondents: pd.DataFrame
    quarantine: pd.DataFrame | None = None
    pending: pd.DataFrame | None = None
    printed: pd.DataFrame | None = None
    imports: pd.DataFrame | None = None
    visits: pd.DataFrame | None = None
    points: pd.DataFrame | None = None
    expiry_days: float | None = None
    stall_days: float = 7.0
    as_of: str | None = None
    target_half_width: float = 0.05
    design_effect: float = 2.0
    title: str = "Field dashboard"
    team_column: str | None = None


def _team(t: pd.DataFrame, column: str | None) -> pd.Series:
    from hiddenpop.referrals.fieldstatus import TEAM_COLUMNS

    col = column or next((c for c in TEAM_COLUMNS if c in t.columns), None)
    if col is None or col not in t.columns:
        return pd.Series("(no team column)", index=t.index)
    return t[col].astype(object).where(t[col].notna(), "(missing)").astype(str)


def _registered(t: pd.DataFrame) -> pd.Series | None:
    if "registered" not in t.columns:
        return None
    v = pd.to_numeric(t["registered"], errors="coerce")
    return v.where(v.isin([0, 1]))


def _vh_weights(degree: pd.Series) -> np.ndarray:
    from hiddenpop.rds.estimators import vh_weights

    d = pd.to_numeric(degree, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(d) & (d > 0)
    if not ok.any():
        return np.ones(len(d))
    d = np.where(ok, d, d[ok].max())  # R's rule for missing/zero degrees: the largest degree
    return vh_weights(d)


def convergence_by_wave(t: pd.DataFrame, *, design_effect: float = 2.0) -> pd.DataFrame:
    """Cumulative estimates by wave: respondents of waves ``0..w``.

    Columns ``wave, n, registered_share`` (RDS-II), ``registered_half_width`` (planning 95%
    half-width), ``network_size_mean`` (sample mean), ``network_size_half_width``.

    >>> t = pd.DataFrame({"wave": [0, 0, 1, 1], "network_size": [2, 4, 2, 4], "registered": [1, 0, 1, 1]})
    >>> convergence_by_wave(t, design_effect=1.0).round(3).values.tolist()
    [[0.0, 2.0, 0.667, 0.653, 3.0, 1.96], [1.0, 4.0, 0.833, 0.365, 3.0, 1.132]]
    """
    reg = _registered(t)
    ns = pd.to_numeric(t.get("network_size", pd.Series(np.nan, index=t.index)), errors="coerce")
    rows = []
    for w in sorted(pd.unique(t["wave"].dropna())):
        sub = t["wave"] <= w
        n = int(sub.sum())
        share = hw = np.nan
        if reg is not None:
            ok = sub & reg.notna()
            if ok.any():
                wts = _vh_weights(ns[ok])
                share = float(np.sum(wts * reg[ok].to_numpy()) / np.sum(wts))
                hw = 1.96 * math.sqrt(design_effect * share * (1 - share) / int(ok.sum()))
        x = ns[sub].dropna()
        mean = float(x.mean()) if len(x) else np.nan
        nhw = 1.96 * math.sqrt(design_effect * float(x.var(ddof=1)) / len(x)) if len(x) > 1 else np.nan
        rows.append((int(w), n, share, hw, mean, nhw))
    return pd.DataFrame(rows, columns=["wave", "n", "registered_share", "registered_half_width",
                                       "network_size_mean", "network_size_half_width"])


def point_results(points: pd.DataFrame, visits: pd.DataFrame | None) -> pd.Series:
    """Per point: ``interviews`` (an interview names it), else the last recorded visit result
    (``listed``, ``zero``, ``unreachable``), else ``not visited``.

    >>> pts = pd.DataFrame({"point_id": ["P1", "P2", "P3", "P4"], "interviews": [3, 0, 0, 0]})
    >>> v = pd.DataFrame({"point_id": ["P2", "P3", "P3"], "visit_result": ["zero", "unreachable", "zero"]})
    >>> point_results(pts, v).tolist()
    ['interviews', 'zero', 'zero', 'not visited']
    """
    last = (visits.dropna(subset=["visit_result"]).drop_duplicates("point_id", keep="last")
            .set_index("point_id")["visit_result"] if visits is not None else pd.Series(dtype=object))
    res = points["point_id"].astype(str).map(last).fillna("not visited")
    return res.where(points["interviews"] == 0, "interviews")


def key_figures(inp: DashboardInputs) -> dict[str, Any]:
    """The headline numbers of the page (JSON-ready; the test reads them back from the HTML)."""
    from hiddenpop.referrals.coupons import coupon_table

    t = inp.respondents
    ct = coupon_table(t, expiry_days=inp.expiry_days, as_of=inp.as_of) if len(t) else None
    counts = ct["status"].value_counts() if ct is not None else pd.Series(dtype=int)
    issued = int(len(ct)) if ct is not None else 0
    days = ct["days_to_redemption"].dropna() if ct is not None else pd.Series(dtype=float)
    visited = set(t["point_id"].dropna().astype(str)) if "point_id" in t else set()
    out = {
        "interviews": int(len(t)),
        "seeds": int(t["is_seed"].sum()) if "is_seed" in t else None,
        "referred": int((~t["is_seed"].astype(bool)).sum()) if "is_seed" in t else None,
        "max_wave": int(t["wave"].max()) if len(t) else 0,
        "points_visited": len(visited),
        "points_in_design": None if inp.points is None else int(len(inp.points)),
        "points_without_interview": None if inp.points is None else
        int((~inp.points["point_id"].astype(str).isin(visited)).sum()),
        "coupons_issued": issued,
        "coupons_returned": int(counts.get("redeemed", 0)),
        "coupons_outstanding": int(counts.get("outstanding", 0)),
        "coupons_expired": int(counts.get("expired", 0)),
        "return_rate": (counts.get("redeemed", 0) / issued) if issued else None,
        "median_days_to_return": float(days.median()) if len(days) else None,
        "quarantined_rows": 0 if inp.quarantine is None else int(inp.quarantine[["source_file", "source_row"]]
                                                                    .drop_duplicates().shape[0]),
        "waiting_rows": 0 if inp.pending is None else int(len(inp.pending)),
        "coupons_printed_not_issued": None if inp.printed is None or inp.printed.empty else
        int((inp.printed["status"] == "printed").sum()),
    }
    return out


# -------------------------------------------------------------------------------------------- HTML
def _e(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, (float, np.floating)):
        return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"
    return html.escape(str(v))


def _table(df: pd.DataFrame, *, cls: str = "", limit: int | None = None) -> str:
    if df is None or df.empty:
        return '<p class="none">none</p>'
    shown = df if limit is None else df.head(limit)
    head = "".join(f"<th>{_e(c)}</th>" for c in shown.columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
                   for row in shown.itertuples(index=False))
    more = (f'<p class="note">… and {len(df) - limit} more</p>' if limit is not None and len(df) > limit else "")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}'


def _bars(labels: list[str], series: dict[str, list[float]], *, title: str, width: int = 560,
          height: int = 200) -> str:
    """Stacked bar chart (one bar per label, one colour per series) as inline SVG."""
    palette = ["#1b6ca8", "#e07b39", "#4d9a50", "#8e5ea2", "#c44e52", "#777777"]
    totals = np.sum([np.asarray(v, dtype=float) for v in series.values()], axis=0) if series else np.zeros(0)
    top = max(1.0, float(totals.max()) if len(totals) else 1.0)
    left, bottom, pad = 36, 36, 8
    bw = (width - left - pad) / max(1, len(labels))
    parts = [f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height + 24}" '
             f'viewBox="0 0 {width} {height + 24}" xmlns="http://www.w3.org/2000/svg">']
    scale = (height - bottom - pad) / top
    parts.append(f'<line x1="{left}" y1="{height - bottom}" x2="{width - pad}" y2="{height - bottom}" stroke="#999"/>')
    parts.append(f'<text x="{left - 4}" y="{pad + 8}" text-anchor="end" class="ax">{top:g}</text>')
    base = np.zeros(len(labels))
    for k, (name, vals) in enumerate(series.items()):
        for i, v in enumerate(vals):
            if v:
                y = height - bottom - (base[i] + v) * scale
                parts.append(f'<rect x="{left + i * bw + 2:.1f}" y="{y:.1f}" width="{max(1.0, bw - 4):.1f}" '
                             f'height="{v * scale:.1f}" fill="{palette[k % len(palette)]}"><title>{_e(labels[i])} '
                             f'{_e(name)}: {v:g}</title></rect>')
        base += np.asarray(vals, dtype=float)
    step = max(1, len(labels) // 8)
    for i, lab in enumerate(labels):
        if i % step == 0:
            parts.append(f'<text x="{left + (i + 0.5) * bw:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                         f'class="ax">{_e(lab)}</text>')
    x = left
    for k, name in enumerate(series):
        parts.append(f'<rect x="{x}" y="{height + 6}" width="10" height="10" fill="{palette[k % len(palette)]}"/>'
                     f'<text x="{x + 14}" y="{height + 15}" class="ax">{_e(name)}</text>')
        x += 24 + 7 * len(str(name))
    parts.append("</svg>")
    return "".join(parts)


def _line(x: list[float], y: list[float], half: list[float], *, title: str, target: float | None = None,
          ylabel: str = "", width: int = 420, height: int = 200) -> str:
    """A line with a 95% band (inline SVG); ``target`` draws the target half-width around the last value."""
    pts = [(a, b, h) for a, b, h in zip(x, y, half) if b == b]
    if not pts:
        return '<p class="none">no data</p>'
    lo = min(b - (h if h == h else 0) for _, b, h in pts)
    hi = max(b + (h if h == h else 0) for _, b, h in pts)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    left, bottom, pad = 44, 30, 10
    xmax = max(1.0, max(a for a, _, _ in pts))

    def X(a: float) -> float:
        return left + (width - left - pad) * a / xmax

    def Y(b: float) -> float:
        return height - bottom - (height - bottom - pad) * (b - lo) / (hi - lo)

    band_top = [(X(a), Y(b + h)) for a, b, h in pts if h == h]
    band_bot = [(X(a), Y(b - h)) for a, b, h in pts if h == h][::-1]
    parts = [f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']
    if band_top:
        poly = " ".join(f"{a:.1f},{b:.1f}" for a, b in band_top + band_bot)
        parts.append(f'<polygon points="{poly}" fill="#1b6ca8" fill-opacity="0.15"/>')
    path = " ".join(f"{X(a):.1f},{Y(b):.1f}" for a, b, _ in pts)
    parts.append(f'<polyline points="{path}" fill="none" stroke="#1b6ca8" stroke-width="2"/>')
    for a, b, _ in pts:
        parts.append(f'<circle cx="{X(a):.1f}" cy="{Y(b):.1f}" r="3" fill="#1b6ca8"><title>wave {a:g}: {b:.3g}'
                     f'</title></circle>')
    if target is not None:
        a, b, _ = pts[-1]
        for yy in (b - target, b + target):
            if lo <= yy <= hi:
                parts.append(f'<line x1="{left}" x2="{width - pad}" y1="{Y(yy):.1f}" y2="{Y(yy):.1f}" '
                             'stroke="#c44e52" stroke-dasharray="5,4"/>')
    parts.append(f'<line x1="{left}" y1="{height - bottom}" x2="{width - pad}" y2="{height - bottom}" stroke="#999"/>')
    for a, _, _ in pts:
        parts.append(f'<text x="{X(a):.1f}" y="{height - bottom + 14}" text-anchor="middle" class="ax">{a:g}</text>')
    parts.append(f'<text x="{left - 4}" y="{Y(hi) + 4:.1f}" text-anchor="end" class="ax">{hi:.3g}</text>')
    parts.append(f'<text x="{left - 4}" y="{Y(lo):.1f}" text-anchor="end" class="ax">{lo:.3g}</text>')
    parts.append(f'<text x="{(left + width) / 2:.0f}" y="{height - 4}" text-anchor="middle" class="ax">'
                 f'wave (cumulative){" · " + _e(ylabel) if ylabel else ""}</text></svg>')
    return "".join(parts)


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1b3a5c;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;opacity:.85}main{padding:8px 24px 32px;max-width:1200px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:12px 16px;margin:14px 0}
h2{font-size:16px;margin:0 0 8px}.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px 14px;min-width:130px}
.card b{display:block;font-size:24px}.card span{color:#555;font-size:12px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{border-bottom:1px solid #e3e6ea;padding:3px 8px;
text-align:left}th{background:#f0f2f5}td:not(:first-child){font-variant-numeric:tabular-nums}
.none{color:#777;font-style:italic}.note{color:#555;font-size:12px}.warn{color:#a33}.ok{color:#2a7a2a}
.ax{font-size:11px;fill:#555}.row{display:flex;flex-wrap:wrap;gap:24px}
"""


def build_dashboard(inp: DashboardInputs) -> str:
    """The dashboard page (HTML text); write it with :func:`hiddenpop.io.field.write_html`."""
    from hiddenpop.referrals.coupons import coupon_table, parse_times
    from hiddenpop.referrals.fieldstatus import recruitment_by_seed, reminder_list

    t = inp.respondents.drop(columns=[c for c in _PRIVATE if c in inp.respondents.columns])
    fig = key_figures(DashboardInputs(**{**dataclasses.asdict(inp), "respondents": t}))
    sections: list[str] = []

    def card(key: str, label: str, value: Any = None) -> str:
        v = fig.get(key) if value is None else value
        if key == "return_rate" and v is not None:
            v = f"{100 * v:.0f}%"
        elif key == "median_days_to_return" and v is not None:
            v = f"{v:.1f} d"
        return f'<div class="card"><b data-figure="{key}">{_e(v)}</b><span>{_e(label)}</span></div>'

    cards = [card("interviews", "interviews"), card("seeds", "found at points (seeds)"),
             card("referred", "found with a coupon"), card("max_wave", "deepest wave"),
             card("points_visited", "points with an interview"
                  + (f" (of {fig['points_in_design']})" if fig["points_in_design"] is not None else "")),
             card("coupons_issued", "coupons issued"), card("coupons_returned", "coupons returned"),
             card("coupons_outstanding", "coupons still out"),
             *([card("coupons_printed_not_issued", "printed, not yet issued")]
               if fig["coupons_printed_not_issued"] is not None else []), card("coupons_expired", "coupons expired"),
             card("return_rate", "return rate"), card("median_days_to_return", "median time to return"),
             card("quarantined_rows", "rows in quarantine"), card("waiting_rows", "rows waiting for recruiter")]
    sections.append('<section><h2>Key figures</h2><div class="cards">' + "".join(cards) + "</div></section>")

    if len(t):
        times = parse_times(t["interview_time"]) if "interview_time" in t else pd.Series(pd.NaT, index=t.index)
        day = times.dt.strftime("%Y-%m-%d").fillna("(no date)")
        team = _team(t, inp.team_column)
        tab = pd.crosstab(day, team)
        tab.index.name, tab.columns.name = "day", None
        chart = _bars(list(tab.index), {c: tab[c].tolist() for c in tab.columns}, title="interviews per day and team")
        tab2 = tab.copy()
        tab2["all teams"] = tab2.sum(axis=1)
        sections.append("<section><h2>Interviews per day and per team</h2>" + chart
                        + _table(tab2.reset_index()) + "</section>")

    # points
    if "point_id" in t:
        per_point = t["point_id"].dropna().astype(str).value_counts().sort_index()
        body = f"<p>{len(per_point)} point(s) with at least one interview.</p>"
        if inp.points is not None:
            pts = inp.points.copy()
            pts["point_id"] = pts["point_id"].astype(str)
            pts["interviews"] = pts["point_id"].map(per_point).fillna(0).astype(int)
            pts["result"] = point_results(pts, inp.visits)
            cols = [c for c in ("point_id", "stratum", "reserve_rank", "result") if c in pts]
            if "stratum" in pts:
                by_stratum = pd.crosstab(pts["stratum"], pts["result"]).reindex(
                    columns=["interviews", "listed", "zero", "unreachable", "not visited"], fill_value=0)
                by_stratum.columns.name = None
                by_stratum.insert(0, "points", by_stratum.sum(axis=1))
                by_stratum["interviews done"] = pts.groupby("stratum")["interviews"].sum()
                body += _table(by_stratum.rename(columns={"interviews": "with interview"}).reset_index())
            if inp.visits is None:
                none = pts[pts["interviews"] == 0]
                body += (f"<p>{len(none)} point(s) with no interview yet: each is either a <b>zero point</b> "
                         "(visited, no refugee household in the circle: a valid result, never replaced) or not "
                         "visited yet. Import the point sheet's export (<code>--visits</code>) to tell them apart."
                         "</p>" + _table(none[cols], limit=40))
            else:
                rest = pts[pts["result"] != "interviews"]
                body += (f'<p><b data-figure="points_zero">{int((pts["result"] == "zero").sum())}</b> zero point(s) '
                         "(no refugee household in the circle: a valid result, never replaced), "
                         f'<b data-figure="points_not_visited">{int((pts["result"] == "not visited").sum())}</b> '
                         "not visited yet.</p>" + _table(rest[cols], limit=60))
        sections.append("<section><h2>First-stage points</h2>" + body + "</section>")

    # coupons
    if len(t):
        ct = coupon_table(t, expiry_days=inp.expiry_days, as_of=inp.as_of)
        if len(ct):
            issued_day = ct["issued_at"].dt.strftime("%Y-%m-%d")
            by_day = pd.crosstab(issued_day, ct["status"]).reindex(columns=["redeemed", "outstanding", "expired"],
                                                                   fill_value=0)
            by_day.index.name, by_day.columns.name = "issued on", None
            d = ct["days_to_redemption"].dropna()
            q = d.quantile([0.25, 0.5, 0.75]) if len(d) else None
            txt = (f"<p>Return rate {fig['coupons_returned']} / {fig['coupons_issued']} = "
                   f"{100 * (fig['return_rate'] or 0):.0f}%. Time to return: median {q[0.5]:.1f} days "
                   f"(quartiles {q[0.25]:.1f}–{q[0.75]:.1f}).</p>" if q is not None else "<p>No coupon returned yet.</p>")
            expiry = (f"Coupons expire {inp.expiry_days:g} days after the recruiter's interview."
                      if inp.expiry_days is not None else "Coupons do not expire in this store (no --expiry-days).")
            sections.append("<section><h2>Coupons</h2>" + txt + f'<p class="note">{_e(expiry)}</p>'
                            + _bars(list(by_day.index), {c: by_day[c].tolist() for c in by_day.columns},
                                    title="coupons by day of issue and status")
                            + _table(by_day.reset_index()) + "</section>")

    # chains
    if len(t) and "seed_id" in t:
        seeds = recruitment_by_seed(t, stall_days=inp.stall_days, as_of=inp.as_of)
        waves = pd.crosstab(t["seed_id"], t["wave"])
        dist = seeds["max_wave"].value_counts().sort_index()
        st = seeds["state"].value_counts().to_dict()
        stalled = seeds[seeds["state"] == "stalled"].sort_values("days_since_last_interview", ascending=False)
        stalled = stalled.assign(days_since_last_interview=stalled["days_since_last_interview"].round(1),
                                 last_interview=stalled["last_interview"].dt.strftime("%Y-%m-%d %H:%M"))
        sections.append(
            "<section><h2>Waves per seed</h2>"
            f"<p>{len(seeds)} seeds: " + ", ".join(f'<span data-figure="chains_{_e(k)}">{v}</span> {_e(k)}'
                                                   for k, v in sorted(st.items())) + ".</p>"
            + _bars([str(i) for i in dist.index], {"seeds": dist.tolist()}, title="deepest wave reached per seed",
                    height=160)
            + '<p class="note">Bars: number of seeds whose chain reached each deepest wave.</p>'
            + f"<h2>Stalled chains (no interview for {inp.stall_days:g} days, coupons still out)</h2>"
            + _table(stalled[["seed_id", "chain_size", "max_wave", "outstanding_coupons", "last_interview",
                              "days_since_last_interview"]], limit=50)
            + "<details><summary>Respondents per wave in each chain</summary>"
            + _table(waves.reset_index().rename(columns={c: f"wave {c}" for c in waves.columns})) + "</details>"
            + "</section>")

    # quarantine
    q = inp.quarantine
    qsec = "<section><h2>Quarantined rows</h2>"
    if inp.imports is not None and len(inp.imports):
        imp = inp.imports.copy()
        imp["file"] = imp["file"].astype(str).map(lambda p: p.replace("\\", "/").rsplit("/", 1)[-1])
        imp = imp[["import_id", "file", "imported_at", "status", "n_rows", "n_new", "n_quarantined", "n_pending",
                   "n_warnings"]].rename(columns={"import_id": "import", "n_rows": "rows", "n_new": "new",
                                                  "n_quarantined": "quarantined", "n_pending": "waiting",
                                                  "n_warnings": "warnings"})
        imp["imported_at"] = imp["imported_at"].astype(str).str[:16]
        qsec += ("<details><summary>Imports so far</summary>" + _table(imp) + "</details>"
                 f"<p>Rows kept out by the last import ({_e(imp['file'].iloc[-1])}), with what to do:</p>")
    if q is not None and len(q):
        qq = q.copy()
        qq["source_file"] = qq["source_file"].astype(str).map(lambda p: p.replace("\\", "/").rsplit("/", 1)[-1])
        cols = [c for c in ("source_file", "source_row", "respondent_id", "rule", "column_name", "value", "message",
                            "fix") if c in qq]
        qq = qq[cols].rename(columns={"source_file": "file", "source_row": "row", "column_name": "column"})
        qsec += _table(qq, limit=200)
    else:
        qsec += '<p class="none">none</p>'
    if inp.pending is not None and len(inp.pending):
        qsec += (f"<p>{len(inp.pending)} row(s) wait for their recruiter's interview and land by themselves "
                 "when it is imported.</p>")
    sections.append(qsec + "</section>")

    # reminders
    if len(t):
        rem = reminder_list(t, expiry_days=inp.expiry_days, as_of=inp.as_of)
        rem = rem[rem["outstanding"] > 0]
        rem = rem.assign(interview_time=rem["interview_time"].astype(str).str[:16])
        sections.append("<section><h2>Reminder list</h2><p>Recruiters with coupons still out, most overdue first. "
                        "The team looks the contact up by respondent id in its own records: no phone number is "
                        "stored here.</p>"
                        + _table(rem[["recruiter_id", "team", "seed_id", "outstanding", "outstanding_coupons",
                                      "days_since_interview"]], limit=100) + "</section>")

    # convergence
    if len(t) and "wave" in t:
        conv = convergence_by_wave(t, design_effect=inp.design_effect)
        last = conv.iloc[-1]
        hw = last["registered_half_width"]
        if hw == hw:
            ok = hw <= inp.target_half_width
            verdict = (f'<p class="{"ok" if ok else "warn"}">Registered share (RDS-II) now '
                       f'<b data-figure="registered_share">{last["registered_share"]:.3f}</b> ± '
                       f'<b data-figure="registered_half_width">{hw:.3f}</b> (95%, design effect '
                       f'{inp.design_effect:g}); target ± {inp.target_half_width:g}: '
                       + ("<b>reached</b>." if ok else
                          f"<b>not yet</b> (about {math.ceil(last['n'] * (hw / inp.target_half_width) ** 2)} "
                          "interviews in all would reach it).") + "</p>")
        else:
            verdict = '<p class="none">No registration status recorded yet.</p>'
        verdict += (f'<p>Mean network size {last["network_size_mean"]:.2f} ± '
                    f'{last["network_size_half_width"]:.2f} (95%, same approximation).</p>'
                    if last["network_size_mean"] == last["network_size_mean"] else "")
        x = conv["wave"].astype(float).tolist()
        charts = ('<div class="row"><div><h2>Registered share, waves 0..w</h2>'
                  + _line(x, conv["registered_share"].tolist(), conv["registered_half_width"].tolist(),
                          title="registered share by wave", target=inp.target_half_width, ylabel="share")
                  + '</div><div><h2>Mean network size, waves 0..w</h2>'
                  + _line(x, conv["network_size_mean"].tolist(), conv["network_size_half_width"].tolist(),
                          title="mean network size by wave", ylabel="households known") + "</div></div>")
        show = conv.assign(registered_share=conv["registered_share"].round(3),
                           registered_half_width=conv["registered_half_width"].round(3),
                           network_size_mean=conv["network_size_mean"].round(2),
                           network_size_half_width=conv["network_size_half_width"].round(2))
        sections.append("<section><h2>Convergence and precision</h2>" + verdict + charts + _table(show)
                        + '<p class="note">Planning approximation: RDS-II (Volz–Heckathorn) share with a design '
                          'effect; the dashed red lines mark the target half-width around the current value. '
                          'Estimates to publish come from <code>hiddenpop rds estimate</code> or the weights.</p>'
                        + "</section>")

    as_of = f" · as of {_e(inp.as_of)}" if inp.as_of else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(inp.title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>{_e(inp.title)}</h1><p>Field dashboard{as_of} · no names, phone numbers or "
            "coordinates in this page</p></header><main>" + "".join(sections) + "</main></body></html>\n")
