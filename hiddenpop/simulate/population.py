"""Synthetic refugee populations for simulation studies and the bundled example.

A population is a small province drawn in a local metric CRS (UTM): districts (the strata),
neighbourhoods (the frame units, one of them with a hole: a lake that belongs to no unit),
an exclusion area (an industrial zone where no household lives and no point may fall), a
population raster, and refugee households placed by that raster. Each household has a size,
children (age, sex, school attendance, work), a registration status and a place in a contact
network that is mostly local (distance-decaying) with a few random long links.

The generator is driven by one nested dict of parameters (the documented TOML file
``examples/params.toml``; :data:`DEFAULT_PARAMS` gives every default). Every random draw
comes from the explicit ``rng``.

Realism targets (docs/methods.md, 'Findings from the simulation study'): mean household size about 6 (CVME5:
8,578 persons in 1,425 households), 46% of persons under 18 (CVME5), 20–30% of households unregistered (CVME5:
21% of non-applicants), Syrian children 7–17 enrolled about 64% and children 12–17 working about 20% (32% of
boys) (Kırdar, Koç & Dayıoğlu 2023).

References
----------
docs/methods.md, 'Findings from the simulation study'.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.spatial import cKDTree

from hiddenpop._checks import check_rng
from hiddenpop.errors import DesignError

__all__ = ["DEFAULT_PARAMS", "Population", "generate_population", "merge_params"]

#: Every parameter of the generator with its default (the TOML file overrides any subset).
DEFAULT_PARAMS: dict[str, Any] = {
    "area": {
        "crs": "EPSG:32637",          # UTM 37N: metres, locally distance- and area-preserving
        "center_lon": 37.38,          # a Gaziantep-like location (only used to place the map)
        "center_lat": 37.07,
        "width_m": 30000.0,
        "height_m": 22000.0,
        "districts": ["West", "Centre", "East"],
        "neighbourhood_cols": 6,      # neighbourhood grid over the province
        "neighbourhood_rows": 4,
        "raster_cell_m": 250.0,
    },
    "density": {
        # population bumps: [x_frac, y_frac, amplitude, sd_m]; x/y as fractions of width/height
        "bumps": [[0.50, 0.52, 4.0, 3800.0], [0.22, 0.30, 2.0, 2200.0],
                  [0.80, 0.70, 2.5, 2700.0], [0.92, 0.15, 1.2, 1500.0]],
        "background": 0.15,
        "persons_per_unit_density": 20.0,   # host + refugee persons per raster cell at density 1
    },
    "households": {
        "n": 20000,
        "mean_size": 6.0,
        "under18_share": 0.46,
        "female_head_share": 0.2,
    },
    "network": {
        "local_degree": 8.5,          # mean number of local (distance-decaying) contacts
        "long_degree": 1.5,           # mean number of random long links
        "distance_scale_m": 180.0,    # exp(-d / scale) decay of local links (cut at 4 x scale)
        "sociability_sd": 0.6,        # sd of log sociability (degree heterogeneity)
    },
    "registration": {
        "unregistered_share": 0.25,
        "degree_effect": 0.7,         # log-odds of registration per unit of standardised log degree
        "periphery_effect": 0.8,      # log-odds lost per sd of distance to the nearest centre
        "district_effects": [0.0, 0.3, -0.3],
    },
    "children": {
        # P(attends school) for ages 6-11 and 12-17 by registration
        "school_registered": [0.88, 0.62],
        "school_unregistered": [0.70, 0.40],
        # P(works) for ages 6-11 and 12-17: [boys 6-11, boys 12-17, girls 6-11, girls 12-17]
        "work_registered": [0.03, 0.28, 0.01, 0.07],
        "work_unregistered": [0.06, 0.45, 0.02, 0.14],
        "school_if_working_factor": 0.35,   # P(school | works) = factor * P(school)
    },
}

_REASONS = np.array(["cost", "documents", "language", "distance", "other"])


def merge_params(overrides: dict[str, Any] | None, *, source: str = "parameters") -> dict[str, Any]:
    """Return :data:`DEFAULT_PARAMS` updated by ``overrides`` (one level of sections).

    Unknown sections or keys raise :class:`DesignError` so a typo in the TOML file is
    never silently ignored; ``source`` (the file name, when read from one) starts every message.

    >>> merge_params({"households": {"n": 500}})["households"]["n"]
    500
    >>> merge_params({"households": {"size": 5}})
    Traceback (most recent call last):
    ...
    hiddenpop.errors.DesignError: parameters, section [households]: unknown key 'size' (known: n, mean_size, under18_share, female_head_share). Fix: correct the spelling or remove the key.
    """
    params = copy.deepcopy(DEFAULT_PARAMS)
    for section, values in (overrides or {}).items():
        if section not in params:
            raise DesignError(f"unknown section [{section}] (known: {', '.join(params)})", where=source,
                              fix="correct the spelling or remove the section")
        if not isinstance(values, dict):
            raise DesignError(f"[{section}] must be a table of key = value lines", where=source,
                              fix=f"write the keys under a [{section}] header")
        for key, value in values.items():
            if key not in params[section]:
                raise DesignError(f"unknown key {key!r} (known: {', '.join(params[section])})",
                                  where=f"{source}, section [{section}]", fix="correct the spelling or remove the key")
            params[section][key] = value
    _validate(params, source)
    return params


def _validate(p: dict[str, Any], source: str = "parameters") -> None:
    def bad(section: str, key: str, why: str) -> DesignError:
        return DesignError(f"{key} = {p[section][key]!r} {why}", where=f"{source}, section [{section}]",
                           fix="change the value in the parameter file")

    if p["households"]["n"] < 10:
        raise bad("households", "n", "is too small (at least 10 households)")
    if not 1.0 < p["households"]["mean_size"] < 20:
        raise bad("households", "mean_size", "must lie between 1 and 20")
    share = p["households"]["under18_share"]
    if not 0 <= share * p["households"]["mean_size"] / (p["households"]["mean_size"] - 1) <= 1:
        raise bad("households", "under18_share", "cannot be reached with this mean household size")
    if not 0 < p["registration"]["unregistered_share"] < 1:
        raise bad("registration", "unregistered_share", "must lie strictly between 0 and 1")
    if len(p["registration"]["district_effects"]) != len(p["area"]["districts"]):
        raise bad("registration", "district_effects", "needs one value per district in [area] districts")
    for key in ("local_degree", "long_degree", "distance_scale_m"):
        if p["network"][key] < 0:
            raise bad("network", key, "must be >= 0")
    for key in ("school_registered", "school_unregistered", "work_registered", "work_unregistered"):
        vals = np.asarray(p["children"][key], dtype=float)
        if vals.size != (2 if key.startswith("school") else 4) or ((vals < 0) | (vals > 1)).any():
            raise bad("children", key, "must be probabilities (2 for school, 4 for work)")


@dataclass(frozen=True, eq=False)
class Population:
    """A synthetic population: frame polygons, raster, households, children and network.

    Attributes
    ----------
    households : pandas.DataFrame
        One row per household: ``hh_id``, ``x``, ``y`` (metres in ``crs``), ``lon``, ``lat``,
        ``unit_id``, ``stratum``, ``size``, ``n_children``, ``n_children_6_17``, ``n_working``,
        ``n_out_of_school``, ``female_head``, ``registered`` (0/1), ``degree`` (contacts) and
        ``degree_unregistered`` (contacts who are unregistered).
    children : pandas.DataFrame
        One row per child: ``child_id``, ``hh_id``, ``age``, ``age_group``, ``sex``,
        ``registered``, ``attends_school``, ``works``, ``reason_not_in_school``.
    edges : numpy.ndarray
        ``(E, 2)`` array of household row positions, each undirected contact once (i < j).
    units : geopandas.GeoDataFrame
        Neighbourhoods: ``unit_id``, ``stratum``, ``registered_refugees`` (registry count of
        persons), ``population`` (raster sum), geometry, in ``crs``.
    exclusion : geopandas.GeoDataFrame
        Areas where nobody lives and no point may fall.
    raster : numpy.ndarray
        Persons per cell (rows from north to south); ``raster_transform`` is the affine
        ``(cell, x0, y0)`` of its upper-left corner.
    """

    households: pd.DataFrame
    children: pd.DataFrame
    edges: np.ndarray
    units: gpd.GeoDataFrame
    exclusion: gpd.GeoDataFrame
    raster: np.ndarray
    raster_transform: tuple[float, float, float]
    crs: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n_households(self) -> int:
        return len(self.households)

    def adjacency(self) -> sparse.csr_matrix:
        """Symmetric 0/1 contact matrix (CSR) over household row positions."""
        n = self.n_households
        i, j = self.edges[:, 0], self.edges[:, 1]
        data = np.ones(2 * len(i), dtype=np.int8)
        return sparse.csr_matrix((data, (np.r_[i, j], np.r_[j, i])), shape=(n, n))

    def strata_regions(self) -> dict[str, shapely.Geometry]:
        """Region of each stratum where points may fall: its units minus the exclusion areas."""
        excl = shapely.union_all(self.exclusion.geometry.values) if len(self.exclusion) else None
        out = {}
        for stratum, grp in self.units.groupby("stratum", sort=True):
            region = shapely.union_all(grp.geometry.values)
            if excl is not None:
                region = region.difference(excl)
            out[str(stratum)] = region
        return out

    def truth(self) -> dict[str, float]:
        """Population values the estimators target (totals and rates).

        >>> pop = generate_population({"households": {"n": 300}}, rng=1)
        >>> t = pop.truth()
        >>> t["households"] == 300 and 0 < t["unregistered_households"] < 300
        True
        """
        hh, ch = self.households, self.children
        unreg = hh["registered"] == 0
        school_age = ch["age"].between(6, 17)
        ch_unreg = school_age & (ch["registered"] == 0)
        return {
            "households": float(len(hh)),
            "unregistered_households": float(unreg.sum()),
            "persons": float(hh["size"].sum()),
            "unregistered_persons": float(hh.loc[unreg, "size"].sum()),
            "children": float(len(ch)),
            "working_children": float(ch["works"].sum()),
            "working_children_unregistered": float(ch.loc[ch["registered"] == 0, "works"].sum()),
            "out_of_school_children": float((school_age & (ch["attends_school"] == 0)).sum()),
            "work_rate_6_17": float(ch.loc[school_age, "works"].mean()),
            "work_rate_6_17_unregistered": float(ch.loc[ch_unreg, "works"].mean()),
            "school_rate_6_17_unregistered": float(ch.loc[ch_unreg, "attends_school"].mean()),
            "mean_degree": float(hh["degree"].mean()),
        }


# ---------------------------------------------------------------------------- geometry
def _province_geometry(p: dict[str, Any], x0: float, y0: float):
    """Province outline, districts, neighbourhoods (one with a hole) and an exclusion zone."""
    w, h = float(p["area"]["width_m"]), float(p["area"]["height_m"])
    # An irregular outline (fractions of width/height), clockwise from the south-west.
    frac = np.array([[0.03, 0.06], [0.30, 0.0], [0.62, 0.04], [0.97, 0.0], [1.0, 0.35], [0.96, 0.72],
                     [1.0, 0.97], [0.66, 1.0], [0.40, 0.95], [0.08, 1.0], [0.0, 0.64], [0.04, 0.33]])
    province = shapely.Polygon(np.c_[x0 + frac[:, 0] * w, y0 + frac[:, 1] * h])
    names = list(p["area"]["districts"])
    k = len(names)
    # District borders: wavy vertical lines.
    ys = np.linspace(y0 - 10, y0 + h + 10, 25)
    borders = []
    for b in range(1, k):
        xb = x0 + w * b / k + 0.04 * w * np.sin(ys / h * 2 * math.pi * (b + 0.5))
        borders.append(xb)
    districts = []
    for b in range(k):
        left = np.full_like(ys, x0 - 10) if b == 0 else borders[b - 1]
        right = np.full_like(ys, x0 + w + 10) if b == k - 1 else borders[b]
        strip = shapely.Polygon(np.r_[np.c_[left, ys], np.c_[right[::-1], ys[::-1]]])
        districts.append(province.intersection(strip))
    lake = shapely.Point(x0 + 0.52 * w, y0 + 0.40 * h).buffer(0.035 * w, quad_segs=16)
    industry = shapely.Polygon(np.c_[x0 + np.array([0.70, 0.86, 0.88, 0.72]) * w,
                                     y0 + np.array([0.30, 0.28, 0.45, 0.47]) * h])
    ncol, nrow = int(p["area"]["neighbourhood_cols"]), int(p["area"]["neighbourhood_rows"])
    rows = []
    for d_idx, (name, district) in enumerate(zip(names, districts)):
        count = 0
        for r in range(nrow):
            for c in range(ncol):
                cell = shapely.box(x0 - 10 + c * (w + 20) / ncol, y0 - 10 + r * (h + 20) / nrow,
                                   x0 - 10 + (c + 1) * (w + 20) / ncol, y0 - 10 + (r + 1) * (h + 20) / nrow)
                piece = district.intersection(cell).difference(lake)
                if piece.is_empty or piece.area < 0.02 * cell.area:
                    continue
                for part in getattr(piece, "geoms", [piece]):
                    if part.geom_type != "Polygon" or part.area < 0.01 * cell.area:
                        continue
                    count += 1
                    rows.append({"unit_id": f"N-{name[:3].upper()}-{count:02d}", "stratum": name,
                                 "geometry": shapely.set_precision(part, 0.01)})
    return province, rows, lake, industry


def _raster(p: dict[str, Any], x0: float, y0: float, allowed) -> tuple[np.ndarray, tuple[float, float, float]]:
    cell = float(p["area"]["raster_cell_m"])
    w, h = float(p["area"]["width_m"]), float(p["area"]["height_m"])
    ncols, nrows = int(math.ceil(w / cell)), int(math.ceil(h / cell))
    xs = x0 + (np.arange(ncols) + 0.5) * cell
    ys = y0 + h - (np.arange(nrows) + 0.5) * cell      # north to south
    gx, gy = np.meshgrid(xs, ys)
    dens = np.full(gx.shape, float(p["density"]["background"]))
    for fx, fy, amp, sd in p["density"]["bumps"]:
        dens += amp * np.exp(-((gx - x0 - fx * w) ** 2 + (gy - y0 - fy * h) ** 2) / (2 * sd * sd))
    inside = shapely.contains_xy(allowed, gx.ravel(), gy.ravel()).reshape(gx.shape)
    dens = np.where(inside, dens, 0.0) * float(p["density"]["persons_per_unit_density"])
    return dens, (cell, x0, y0 + nrows * cell)


def _place(rng: np.random.Generator, n: int, raster: np.ndarray, transform, allowed) -> np.ndarray:
    """Draw n locations with density proportional to the raster, inside ``allowed``."""
    cell, left, top = transform
    prob = raster.ravel() / raster.sum()
    shapely.prepare(allowed)
    out = np.empty((0, 2))
    while len(out) < n:
        k = int((n - len(out)) * 1.1) + 10
        idx = rng.choice(prob.size, size=k, p=prob)
        r, c = np.divmod(idx, raster.shape[1])
        x = left + (c + rng.random(k)) * cell
        y = top - (r + rng.random(k)) * cell
        ok = shapely.contains_xy(allowed, x, y)
        out = np.vstack([out, np.c_[x[ok], y[ok]]])
    return out[:n]


# ---------------------------------------------------------------------------- network
def _network(rng: np.random.Generator, xy: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    n = len(xy)
    net = p["network"]
    social = np.exp(rng.normal(0.0, float(net["sociability_sd"]), n))
    social /= social.mean()
    scale = float(net["distance_scale_m"])
    chunks = []
    if net["local_degree"] > 0:
        pairs = cKDTree(xy).query_pairs(r=4 * scale, output_type="ndarray")
        d = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)
        base = social[pairs[:, 0]] * social[pairs[:, 1]] * np.exp(-d / scale)
        target = net["local_degree"] * n / 2
        lo, hi = 0.0, 1.0
        while np.minimum(1.0, hi * base).sum() < target and hi < 1e12:
            hi *= 2
        for _ in range(35):                     # bisection on the scale of link probabilities
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if np.minimum(1.0, mid * base).sum() < target else (lo, mid)
        keep = rng.random(len(base)) < np.minimum(1.0, hi * base)
        chunks.append(pairs[keep])
    n_long = int(round(net["long_degree"] * n / 2))
    if n_long > 0:
        ends = rng.choice(n, size=(n_long, 2), p=social / social.sum())
        chunks.append(ends[ends[:, 0] != ends[:, 1]])
    if not chunks:
        return np.empty((0, 2), dtype=np.int64)
    edges = np.sort(np.vstack(chunks), axis=1).astype(np.int64)
    codes = np.unique(edges[:, 0] * n + edges[:, 1])
    return np.c_[codes // n, codes % n]


# ---------------------------------------------------------------------------- people
def _registration(rng, p, degree, periphery, district_idx) -> np.ndarray:
    reg = p["registration"]
    logd = np.log1p(degree)
    z = (logd - logd.mean()) / (logd.std() or 1.0)
    per = (periphery - periphery.mean()) / (periphery.std() or 1.0)
    eta = reg["degree_effect"] * z - reg["periphery_effect"] * per + np.asarray(reg["district_effects"])[district_idx]
    target = 1.0 - float(reg["unregistered_share"])
    lo, hi = -20.0, 20.0
    for _ in range(60):                         # intercept so that E[share registered] = target
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if (1 / (1 + np.exp(-(mid + eta)))).mean() < target else (lo, mid)
    prob = 1 / (1 + np.exp(-((lo + hi) / 2 + eta)))
    return (rng.random(len(degree)) < prob).astype(np.int64)


def _children(rng, p, hh_ids, n_children, registered) -> pd.DataFrame:
    c = p["children"]
    hh_pos = np.repeat(np.arange(len(hh_ids)), n_children)
    k = len(hh_pos)
    age = rng.integers(0, 18, k)
    sex = np.where(rng.random(k) < 0.5, "M", "F")
    reg = registered[hh_pos]
    older = age >= 12
    school_age = age >= 6
    school_p = np.where(reg == 1, np.asarray(c["school_registered"])[older.astype(int)],
                        np.asarray(c["school_unregistered"])[older.astype(int)])
    work_table = np.where(reg[:, None] == 1, np.asarray(c["work_registered"])[None, :],
                          np.asarray(c["work_unregistered"])[None, :])
    col = np.where(sex == "M", 0, 2) + older.astype(int)
    work_p = work_table[np.arange(k), col]
    works = (school_age & (rng.random(k) < work_p)).astype(np.int64)
    school_p = np.where(works == 1, school_p * c["school_if_working_factor"], school_p)
    attends = (school_age & (rng.random(k) < school_p)).astype(np.int64)
    reason_other = np.where(reg == 1, rng.choice(_REASONS, k, p=[0.35, 0.05, 0.25, 0.15, 0.20]),
                            rng.choice(_REASONS, k, p=[0.30, 0.35, 0.15, 0.10, 0.10]))
    reason = np.where(~school_age | (attends == 1), "", np.where(works == 1, "work", reason_other))
    starts = np.r_[0, np.cumsum(n_children)[:-1]]
    order = np.arange(k) - np.repeat(starts, n_children) + 1
    hh = np.asarray(hh_ids)[hh_pos]
    return pd.DataFrame({
        "child_id": [f"{h}-C{o}" for h, o in zip(hh, order)],
        "hh_id": hh,
        "age": age,
        "age_group": np.where(age < 6, "0-5", np.where(age < 12, "6-11", "12-17")),
        "sex": sex,
        "registered": reg,
        "attends_school": attends,
        "works": works,
        "reason_not_in_school": reason,
    })


def generate_population(params: dict[str, Any] | None = None, *, rng: Any) -> Population:
    """Generate a synthetic province with refugee households, children and a contact network.

    Parameters
    ----------
    params : dict, optional
        Overrides of :data:`DEFAULT_PARAMS`, by section (as read from the TOML file).
    rng : int or numpy.random.Generator
        Source of every random draw.

    Returns
    -------
    Population

    Examples
    --------
    >>> pop = generate_population({"households": {"n": 2000}}, rng=7)
    >>> pop.n_households, float(round(pop.households["size"].mean(), 0))
    (2000, 6.0)
    >>> bool(0.18 < 1 - pop.households["registered"].mean() < 0.32)
    True
    """
    rng = check_rng(rng)
    p = merge_params(params)
    import pyproj

    crs = str(p["area"]["crs"])
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    to_ll = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    cx, cy = to_xy.transform(float(p["area"]["center_lon"]), float(p["area"]["center_lat"]))
    x0 = round(cx - p["area"]["width_m"] / 2, -2)
    y0 = round(cy - p["area"]["height_m"] / 2, -2)
    province, unit_rows, lake, industry = _province_geometry(p, x0, y0)
    units = gpd.GeoDataFrame(unit_rows, geometry="geometry", crs=crs)
    exclusion = gpd.GeoDataFrame({"zone": ["industrial zone"], "geometry": [industry]}, crs=crs)
    allowed = shapely.union_all(units.geometry.values).difference(industry)
    raster, transform = _raster(p, x0, y0, allowed)

    n = int(p["households"]["n"])
    xy = _place(rng, n, raster, transform, allowed)
    tree = shapely.STRtree(units.geometry.values)
    pt_idx, unit_idx = tree.query(shapely.points(xy), predicate="intersects")
    unit_of = np.full(n, -1)
    unit_of[pt_idx] = unit_idx                      # a point on a shared border goes to one unit
    if (unit_of < 0).any():                          # pragma: no cover - placement guarantees inside
        raise DesignError("a household fell outside every unit", fix="report this as a bug")

    edges = _network(rng, xy, p)
    degree = np.bincount(edges.ravel(), minlength=n)
    centres = np.array([[x0 + fx * p["area"]["width_m"], y0 + fy * p["area"]["height_m"]]
                        for fx, fy, *_ in p["density"]["bumps"]])
    periphery = cKDTree(centres).query(xy)[0]
    strata_names = list(p["area"]["districts"])
    stratum = units["stratum"].to_numpy()[unit_of]
    district_idx = np.array([strata_names.index(s) for s in stratum])
    registered = _registration(rng, p, degree, periphery, district_idx)
    unreg = (registered == 0).astype(np.int64)
    degree_unreg = np.bincount(edges[:, 0], weights=unreg[edges[:, 1]], minlength=n) + \
        np.bincount(edges[:, 1], weights=unreg[edges[:, 0]], minlength=n)

    hp = p["households"]
    size = 1 + rng.poisson(hp["mean_size"] - 1, n)
    p_child = hp["under18_share"] * hp["mean_size"] / (hp["mean_size"] - 1)
    n_children = rng.binomial(size - 1, p_child)
    hh_ids = np.array([f"H{i:05d}" for i in range(1, n + 1)])
    children = _children(rng, p, hh_ids, n_children, registered)
    pos = np.repeat(np.arange(n), n_children)
    school_age = children["age"].between(6, 17).to_numpy()
    lon, lat = to_ll.transform(xy[:, 0], xy[:, 1])
    households = pd.DataFrame({
        "hh_id": hh_ids,
        "x": np.round(xy[:, 0], 2),
        "y": np.round(xy[:, 1], 2),
        "lon": np.round(lon, 7),
        "lat": np.round(lat, 7),
        "unit_id": units["unit_id"].to_numpy()[unit_of],
        "stratum": stratum,
        "size": size,
        "n_children": n_children,
        "n_children_6_17": np.bincount(pos, weights=school_age, minlength=n).astype(np.int64),
        "n_working": np.bincount(pos, weights=children["works"], minlength=n).astype(np.int64),
        "n_out_of_school": np.bincount(pos, weights=school_age & (children["attends_school"] == 0),
                                       minlength=n).astype(np.int64),
        "female_head": (rng.random(n) < hp["female_head_share"]).astype(np.int64),
        "registered": registered,
        "degree": degree.astype(np.int64),
        "degree_unregistered": degree_unreg.astype(np.int64),
    })
    # Registry counts of registered persons per unit (the measure of size a ministry would give).
    reg_persons = households.loc[households["registered"] == 1].groupby("unit_id")["size"].sum()
    units["registered_refugees"] = units["unit_id"].map(reg_persons).fillna(0).astype(np.int64)
    cell, left, top = transform
    rr, cc = np.nonzero(raster > 0)
    cxs, cys = left + (cc + 0.5) * cell, top - (rr + 0.5) * cell
    c_pt, c_unit = tree.query(shapely.points(np.c_[cxs, cys]), predicate="intersects")
    pop_per_unit = np.bincount(c_unit, weights=raster[rr[c_pt], cc[c_pt]], minlength=len(units))
    units["population"] = np.round(pop_per_unit).astype(np.int64)
    units = units[["unit_id", "stratum", "registered_refugees", "population", "geometry"]]
    return Population(households=households, children=children, edges=edges, units=units,
                      exclusion=exclusion, raster=raster, raster_transform=transform, crs=crs, params=p)
