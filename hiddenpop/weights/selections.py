"""Households that were (or should have been) reached more than once.

The weights count every selection of a household: by each point whose circle covers it and by
each coupon that reached it (docs/methods.md, "Households reached more than once"). Those
events are only known from a selections file; without one, every household counts once and
the estimated total is too large. This module finds the households whose position alone shows
a repeat selection: those within the listing radius of two or more points.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["points_within_radius"]

_EARTH_RADIUS_M = 6_371_008.8   # mean Earth radius (IUGG); the error over 250 m is far below a metre


def points_within_radius(households: pd.DataFrame, points: pd.DataFrame, radius_m: float, *,
                         id_col: str = "hh_id", lon_col: str = "lon", lat_col: str = "lat") -> pd.DataFrame:
    """For each household with coordinates, the main points whose circle of ``radius_m`` covers it.

    Distances are great-circle (haversine) distances on the mean Earth sphere. Points with a
    ``reserve_rank`` above 0 (reserves) are left out. Returns ``hh_id``, ``n_points`` and
    ``point_ids`` (joined by ``;``) for households covered by at least one point.

    Examples
    --------
    Two points 300 m apart on the equator, radius 250 m: a household half-way between them is
    within 150 m of both (hand calculation: 300 m of longitude at the equator is
    300 / 6,371,008.8 rad = 0.0026980°).

    >>> pts = pd.DataFrame({"point_id": ["A", "B"], "lon": [0.0, 0.0026980], "lat": [0.0, 0.0]})
    >>> hh = pd.DataFrame({"hh_id": ["h1", "h2"], "lon": [0.0013490, -0.0020], "lat": [0.0, 0.0]})
    >>> points_within_radius(hh, pts, 250).to_dict("records")
    [{'hh_id': 'h1', 'n_points': 2, 'point_ids': 'A;B'}, {'hh_id': 'h2', 'n_points': 1, 'point_ids': 'A'}]
    """
    if "reserve_rank" in points:
        points = points[pd.to_numeric(points["reserve_rank"], errors="coerce").fillna(0) == 0]
    hh = households[[id_col, lon_col, lat_col]].copy()
    lon = pd.to_numeric(hh[lon_col], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(hh[lat_col], errors="coerce").to_numpy(float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    plon = np.radians(pd.to_numeric(points["lon"], errors="coerce").to_numpy(float))
    plat = np.radians(pd.to_numeric(points["lat"], errors="coerce").to_numpy(float))
    ids = points["point_id"].astype(str).to_numpy()
    rows = []
    for hid, x, y in zip(hh[id_col].astype(str).to_numpy()[ok], np.radians(lon[ok]), np.radians(lat[ok])):
        a = np.sin((plat - y) / 2) ** 2 + np.cos(y) * np.cos(plat) * np.sin((plon - x) / 2) ** 2
        d = 2 * _EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
        near = ids[d <= radius_m]
        if len(near):
            rows.append({"hh_id": hid, "n_points": int(len(near)), "point_ids": ";".join(sorted(near))})
    return pd.DataFrame(rows, columns=["hh_id", "n_points", "point_ids"])
