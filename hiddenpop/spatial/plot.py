"""Field map of first-stage points over the frame (matplotlib, Agg; the library returns the Figure).

The map is drawn in the design's working CRS (metres, by default an equal-area projection
centred on the frame, where north is up at the centre), so the RGCS circles are at true
scale and a scale bar can be read directly.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["plot_points", "MAX_LABELLED_POINTS"]

#: Up to this many points, every point is labelled with its number.
MAX_LABELLED_POINTS = 80

_MAIN = "#c0182a"
_RESERVE = "#1f5fbf"


def _nice_length(span_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10^k metres) close to a fifth of the map width."""
    target = max(span_m / 5.0, 1e-9)
    base = 10 ** math.floor(math.log10(target))
    return max(m * base for m in (1, 2, 5) if m * base <= target)


def _point_number(point_id: str) -> str:
    tail = str(point_id).rsplit("-", 1)[-1]
    return str(int(tail)) if tail.isdigit() else str(point_id)


def plot_points(frame: Any, points: Any, *, exclusion: Any = None, title: str | None = None, crs: Any = None,
                label_points: bool | None = None) -> Any:
    """Map of the points for a field team: strata, units, exclusions, main points, reserves, circles.

    Parameters
    ----------
    frame
        :class:`~hiddenpop.spatial.SamplingFrame`.
    points
        The ``points`` GeoDataFrame of a :class:`~hiddenpop.spatial.PointSample` (WGS84).
    exclusion
        Optional exclusion layer (GeoDataFrame/GeoSeries with a CRS), drawn hatched.
    title
        Optional title.
    crs
        Map CRS (metric); default: the frame's working CRS (:func:`~hiddenpop.spatial.choose_working_crs`).
    label_points
        Write each point's number next to it (default: when there are at most
        :data:`MAX_LABELLED_POINTS` points).

    Returns
    -------
    matplotlib.figure.Figure
        Units (thin lines) and strata (thick lines, light colours, labelled), exclusions
        (hatched), main points (filled red circles), reserves (hollow blue diamonds with their
        rank), the circles of ``radius_m`` at true scale, a scale bar, a north arrow and a legend.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> from hiddenpop.spatial import SamplingFrame, sample_points
    >>> f = SamplingFrame(gpd.GeoDataFrame({"unit_id": ["A"]}, geometry=[box(29, 41, 29.1, 41.1)], crs=4326))
    >>> fig = plot_points(f, sample_points(f, n=5, reserve=2, radius_m=300, rng=1).points)
    >>> len(fig.axes)
    1
    """
    import geopandas as gpd
    import shapely
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    from hiddenpop.spatial.frame import choose_working_crs

    working, _ = choose_working_crs(frame, crs)
    units = frame.units.geometry.to_crs(working)
    labels = frame.stratum_labels.to_numpy()
    strata = sorted(set(labels))
    pts = gpd.GeoSeries(gpd.points_from_xy(points["lon"], points["lat"]), crs=4326).to_crs(working)
    px, py = pts.x.to_numpy(), pts.y.to_numpy()
    rank = points["reserve_rank"].to_numpy()
    is_main = rank == 0
    radius = None
    if "radius_m" in points and len(points) and np.isfinite(points["radius_m"].to_numpy(float)).any():
        radius = float(np.nanmax(points["radius_m"].to_numpy(float)))

    import matplotlib.patheffects as pe

    halo = [pe.withStroke(linewidth=2.5, foreground="white")]
    fig = Figure(figsize=(9.5, 9))
    ax = fig.add_subplot(1, 1, 1)
    cmap = colormaps["Pastel1" if len(strata) <= 9 else "tab20"]
    handles = []
    for k, s in enumerate(strata):
        geoms = units[labels == s]
        colour = cmap(k % cmap.N)
        geoms.plot(ax=ax, facecolor=colour, alpha=0.55, edgecolor="0.55", linewidth=0.5, zorder=1)
        outline = shapely.union_all(geoms.to_numpy())
        gpd.GeoSeries([outline]).boundary.plot(ax=ax, color="0.15", linewidth=1.6, zorder=2)
        if len(strata) > 1:
            # name the stratum near its top edge, where it hides the fewest points
            x0_, y0_, x1_, y1_ = outline.bounds
            top = shapely.intersection(outline, shapely.box(x0_, y1_ - 0.12 * (y1_ - y0_), x1_, y1_))
            rp = shapely.point_on_surface(top if not top.is_empty else outline)
            ax.annotate(s, (rp.x, rp.y), ha="center", va="center", fontsize=11, fontweight="bold", color="0.2",
                        path_effects=halo, zorder=4)
            handles.append(Patch(facecolor=colour, alpha=0.55, edgecolor="0.15", label=f"stratum {s}"))
    if len(strata) == 1:
        handles.append(Patch(facecolor=cmap(0), alpha=0.55, edgecolor="0.15", label="frame"))
    handles.append(Line2D([], [], color="0.55", linewidth=0.5, label="unit boundaries"))
    whole = shapely.union_all(units.geometry.to_numpy())
    if any(len(part.interiors) for part in getattr(whole, "geoms", [whole]) if hasattr(part, "interiors")):
        # a white hole inside the frame (e.g. the one in a stratum of the bundled example) is
        # an area no unit covers: it is not in the frame, so no point can fall there
        handles.append(Patch(facecolor="white", edgecolor="0.15", label="hole: not in the frame (no points)"))
    if exclusion is not None:
        ex = exclusion.geometry if isinstance(exclusion, gpd.GeoDataFrame) else exclusion
        ex = ex.to_crs(working)
        ex.plot(ax=ax, facecolor="none", edgecolor="0.3", hatch="////", linewidth=0.8, zorder=2)
        handles.append(Patch(facecolor="white", edgecolor="0.3", hatch="////", label="excluded (no points)"))

    if radius is not None:
        circles = shapely.buffer(shapely.points(px, py), radius, quad_segs=32)
        for want, colour, style in ((False, _RESERVE, (0, (3, 2))), (True, _MAIN, "solid")):
            sel = is_main == want
            if sel.any():
                gpd.GeoSeries(circles[sel]).boundary.plot(ax=ax, color=colour, linewidth=0.9, linestyle=style, zorder=3)
        handles.append(Line2D([], [], color=_MAIN, linewidth=0.9,
                              label=f"circle of {radius:g} m (true scale" + ("; dashed for reserves)"
                                                                            if (~is_main).any() else ")")))
    ax.scatter(px[is_main], py[is_main], s=26, c=_MAIN, edgecolors="white", linewidths=0.7, zorder=5)
    handles.append(Line2D([], [], marker="o", linestyle="none", markerfacecolor=_MAIN, markeredgecolor="white",
                          markersize=7, label=f"main point ({int(is_main.sum())})"))
    if (~is_main).any():
        ax.scatter(px[~is_main], py[~is_main], s=30, marker="D", facecolors="white", edgecolors=_RESERVE,
                   linewidths=1.2, zorder=5)
        handles.append(Line2D([], [], marker="D", linestyle="none", markerfacecolor="white",
                              markeredgecolor=_RESERVE, markersize=6,
                              label=f"reserve ({int((~is_main).sum())}): only if a point cannot be reached"))

    if label_points is None:
        label_points = len(points) <= MAX_LABELLED_POINTS
    if label_points:
        for x, y, pid, r in zip(px, py, points["point_id"], rank):
            text = _point_number(pid) if r == 0 else f"{_point_number(pid)} (R{r})"
            ax.annotate(text, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7.5,
                        color=_MAIN if r == 0 else _RESERVE, path_effects=halo, zorder=6)
        handles.append(Line2D([], [], linestyle="none", label="7 = point P-…-0007" + ("; (R2) = reserve rank 2"
                                                                                    if (~is_main).any() else "")))

    # extent with a margin, then scale bar and north arrow in axes coordinates
    minx, miny, maxx, maxy = units.total_bounds
    pad = 0.04 * max(maxx - minx, maxy - miny)
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - 2.5 * pad, maxy + pad)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    width = maxx - minx + 2 * pad
    bar = _nice_length(width)
    x0, y0 = minx, miny - 1.6 * pad
    for k in range(4):  # alternating black/white quarters
        ax.add_patch(Rectangle(
            (x0 + k * bar / 4, y0), bar / 4, 0.18 * pad, facecolor="black" if k % 2 == 0 else "white",
            edgecolor="black", linewidth=0.8, zorder=7))
    unit = "km" if bar >= 1000 else "m"
    show = bar / 1000 if unit == "km" else bar
    ax.annotate("0", (x0, y0 + 0.3 * pad), ha="center", va="bottom", fontsize=8, zorder=7)
    ax.annotate(f"{show:g} {unit}", (x0 + bar, y0 + 0.3 * pad), ha="center", va="bottom", fontsize=8, zorder=7)
    ax.annotate("N", xy=(0.965, 0.97), xytext=(0.965, 0.87), xycoords="axes fraction", ha="center", va="center",
                fontsize=12, fontweight="bold",
                arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.5}, zorder=7)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8.5, frameon=False,
              borderaxespad=0.0)
    n_main = int(is_main.sum())
    ax.set_title(title or f"{n_main} points in {len(strata)} {'stratum' if len(strata) == 1 else 'strata'}"
                 + (f", {int((~is_main).sum())} reserves" if (~is_main).any() else ""), fontsize=12)
    ax.annotate("An empty point (no refugee household) is a valid zero: visit it, record 0, never replace it.\n"
                + ("Reserves only for points that cannot be reached, in rank order (log: hiddenpop frame replace)."
                   if (~is_main).any() else "No reserves were drawn (frame sample --reserve K draws K per stratum)."),
                xy=(0.0, -0.01), xycoords="axes fraction", va="top", ha="left", fontsize=8, color="0.2")
    fig.subplots_adjust(left=0.02, right=0.70, top=0.95, bottom=0.05)
    return fig
