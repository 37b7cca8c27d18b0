"""Map of first-stage points over the frame (matplotlib, Agg; the library returns the Figure)."""
from __future__ import annotations

from typing import Any

__all__ = ["plot_points"]


def plot_points(frame: Any, points: Any, *, title: str | None = None) -> Any:
    """Points (main filled, reserves hollow) over the frame's units, coloured by stratum.

    Parameters
    ----------
    frame
        :class:`~hiddenpop.spatial.SamplingFrame`.
    points
        The ``points`` GeoDataFrame of a :class:`~hiddenpop.spatial.PointSample` (WGS84).
    title
        Optional title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> from hiddenpop.spatial import SamplingFrame, sample_points
    >>> f = SamplingFrame(gpd.GeoDataFrame({"unit_id": ["A"]}, geometry=[box(29, 41, 29.1, 41.1)], crs=4326))
    >>> fig = plot_points(f, sample_points(f, n=5, reserve=2, rng=1).points)
    >>> len(fig.axes)
    1
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 8))
    ax = fig.add_subplot(1, 1, 1)
    units = frame.units.to_crs(4326)
    labels = frame.stratum_labels.to_numpy()
    strata = sorted(set(labels))
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    colours = {s: cmap(i % 20) for i, s in enumerate(strata)}
    for s in strata:
        units[labels == s].plot(ax=ax, facecolor=colours[s], alpha=0.25, edgecolor="0.4", linewidth=0.4)
    main = points[points["reserve_rank"] == 0]
    res = points[points["reserve_rank"] > 0]
    ax.scatter(main["lon"], main["lat"], s=14, c="crimson", edgecolors="black", linewidths=0.3, zorder=3,
               label=f"main points ({len(main)})")
    if len(res):
        ax.scatter(res["lon"], res["lat"], s=14, facecolors="none", edgecolors="darkorange", linewidths=0.8,
                   zorder=3, label=f"reserves ({len(res)}; only for unreachable points)")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect(1 / max(0.1, __import__("math").cos(__import__("math").radians(float(points["lat"].mean()) if len(points) else 0))))
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or f"{len(main)} points in {len(strata)} strata")
    return fig
