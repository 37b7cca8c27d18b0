"""Small frames built in code for the spatial tests (no external data)."""
from __future__ import annotations

import geopandas as gpd
from shapely.geometry import Polygon, box

from tests.conftest import DATA

SOUTH_AFRICA = DATA.parent / "spatial" / "data" / "south_africa.geojson"


def city_frame() -> gpd.GeoDataFrame:
    """Nine 0.02° blocks near Istanbul in three strata, one unit with a hole (a park)."""
    rows = []
    k = 0
    for i in range(3):
        for j in range(3):
            x0, y0 = 28.90 + 0.02 * i, 41.00 + 0.02 * j
            geom = box(x0, y0, x0 + 0.02, y0 + 0.02)
            if i == 1 and j == 1:
                geom = Polygon(geom.exterior.coords, [box(x0 + 0.005, y0 + 0.005, x0 + 0.015, y0 + 0.015).exterior.coords])
            rows.append({"unit_id": f"U{k}", "region": "ABC"[i], "refugees": float(10 + 20 * k),
                         "sd": 1.0 + i, "geometry": geom})
            k += 1
    return gpd.GeoDataFrame(rows, crs=4326)


def write_frame(gdf: gpd.GeoDataFrame, path) -> str:
    gdf.to_file(path, driver="GPKG" if str(path).endswith(".gpkg") else "GeoJSON")
    return str(path)
