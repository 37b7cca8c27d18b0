"""Read and write a synthetic population folder (``hiddenpop simulate population -o popdir/``).

Folder layout
-------------
``frame.gpkg``        neighbourhood polygons (``unit_id``, ``stratum``, ``registered_refugees``,
                      ``population``) in the population's metric CRS: the sampling frame.
``exclusion.gpkg``    areas where no point may fall.
``population.tif``    persons per raster cell (GeoTIFF), for raster-PPS designs.
``households.csv``    every household with its true values (location, registration, degree, outcomes).
``children.csv``      every child (age, sex, registration, school attendance, work).
``network.csv``       the contact network, one undirected contact per row (``hh_id_1``, ``hh_id_2``).
``population.json``   parameters, CRS, raster transform and the true totals.

The folder holds the *whole truth* of a synthetic population, exact coordinates included;
it is simulation material, not shareable field data.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop.errors import InputFileError
from hiddenpop.io import OutputSet, PathLike, json_text, read_csv, read_json, read_toml

__all__ = ["POPULATION_FILES", "write_population", "read_population", "read_params"]

POPULATION_FILES = ("frame.gpkg", "exclusion.gpkg", "population.tif", "households.csv", "children.csv",
                    "network.csv", "population.json")


def read_params(path: PathLike) -> dict[str, Any]:
    """Read a TOML parameter file (population parameters or a study design); see :func:`hiddenpop.io.read_toml`."""
    return read_toml(path)


def write_population(folder: PathLike, population: Any, *, overwrite: bool = False) -> list[Path]:
    """Write every file of ``population`` into ``folder`` (all or nothing)."""
    import rasterio
    from rasterio.transform import from_origin

    folder = Path(folder)
    pop = population
    ids = pop.households["hh_id"].to_numpy()
    network = pd.DataFrame({"hh_id_1": ids[pop.edges[:, 0]], "hh_id_2": ids[pop.edges[:, 1]]})
    cell, left, top = pop.raster_transform
    meta = {"crs": pop.crs, "raster_transform": [cell, left, top], "params": pop.params, "truth": pop.truth()}

    def write_raster(tmp: Path) -> None:
        with rasterio.open(tmp, "w", driver="GTiff", height=pop.raster.shape[0], width=pop.raster.shape[1], count=1,
                           dtype="float32", crs=pop.crs, transform=from_origin(left, top, cell, cell),
                           compress="deflate") as dst:
            dst.write(pop.raster.astype("float32"), 1)

    paths = [folder / name for name in POPULATION_FILES]
    with OutputSet(overwrite=overwrite) as out:
        out.add(paths[0], lambda tmp: pop.units.to_file(tmp, driver="GPKG", layer="units"))
        out.add(paths[1], lambda tmp: pop.exclusion.to_file(tmp, driver="GPKG", layer="exclusion"))
        out.add(paths[2], write_raster)
        out.add_csv(paths[3], pop.households)
        out.add_csv(paths[4], pop.children)
        out.add_csv(paths[5], network)
        out.add(paths[6], lambda tmp: tmp.write_text(json_text(meta), encoding="utf-8"))
    return paths


def read_population(folder: PathLike) -> Any:
    """Read a folder written by :func:`write_population` back into a ``Population``."""
    import geopandas as gpd
    import rasterio

    from hiddenpop.simulate.population import Population

    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError("population folder not found", where=str(folder),
                             fix="give the folder written by `hiddenpop simulate population PARAMS.toml -o FOLDER`")
    missing = [name for name in POPULATION_FILES if not (folder / name).exists()]
    if missing:
        raise InputFileError(f"missing file(s) {', '.join(missing)}", where=str(folder),
                             fix="regenerate the folder with `hiddenpop simulate population`")
    meta = read_json(folder / "population.json")
    households = read_csv(folder / "households.csv", dtype={"hh_id": str, "unit_id": str, "stratum": str})
    children = read_csv(folder / "children.csv", dtype={"hh_id": str, "child_id": str, "reason_not_in_school": str},
                        keep_default_na=False)
    network = read_csv(folder / "network.csv", dtype=str)
    pos = pd.Series(np.arange(len(households)), index=households["hh_id"])
    try:
        edges = np.c_[pos.loc[network["hh_id_1"]].to_numpy(), pos.loc[network["hh_id_2"]].to_numpy()]
    except KeyError as exc:
        raise InputFileError(f"a contact names an unknown household ({exc})", where=str(folder / "network.csv"),
                             fix="regenerate the folder; network.csv must match households.csv") from exc
    units = gpd.read_file(folder / "frame.gpkg")
    exclusion = gpd.read_file(folder / "exclusion.gpkg")
    with rasterio.open(folder / "population.tif") as src:
        raster = src.read(1).astype(float)
    cell, left, top = meta["raster_transform"]
    return Population(households=households, children=children, edges=edges.astype(np.int64), units=units,
                      exclusion=exclusion, raster=raster, raster_transform=(cell, left, top), crs=meta["crs"],
                      params=meta["params"])
