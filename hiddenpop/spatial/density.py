"""Point densities of the first stage: piecewise-constant densities on polygon pieces.

Every density the toolkit draws from is constant on polygon pieces of one stratum's domain
(the stratum's units minus the exclusion layer):

* ``uniform``: one density ``1/A_h`` on the whole domain;
* ``size``: unit ``u`` carries mass ``s_u / S_h`` spread uniformly over the unit (PPS over
  units, then a uniform point inside), i.e. density ``s_u / (S_h · A_u)``;
* ``raster``: raster cell ``c`` (a population count) carries density ∝ ``v_c / area(cell)``;
  cells are clipped to the domain, so a cell half outside keeps half of its mass.

Drawing a point picks a triangle of the pieces' constrained triangulation with probability
∝ density × area and a uniform point inside it: exact, with no rejection. The per-draw
probability that a point falls in ``Disc(x, R)`` is the same weighted sum of exact
disc–piece areas (:class:`~hiddenpop.spatial.geometry.DiscAreaCalculator`).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer

from hiddenpop.errors import DesignError, FrameError
from hiddenpop.spatial.geometry import DiscAreaCalculator, _tri_area, polygon_parts, sample_in_triangles

__all__ = ["PointDensity", "RasterLayer", "DENSITIES"]

#: Point densities: name → short description (the CLI's ``--density`` choices).
DENSITIES: dict[str, str] = {
    "uniform": "uniform over the area (equal probability per square metre)",
    "size": "proportional to the size column: PPS over units, then uniform inside the unit",
    "raster": "proportional to a population raster (cell value per cell area), clipped to the frame",
}


@dataclasses.dataclass(frozen=True)
class RasterLayer:
    """A single-band population raster (counts per cell).

    Parameters
    ----------
    values
        2-D array of cell values; NaN or ``nodata`` cells count as 0.
    transform
        Affine coefficients ``(a, b, c, d, e, f)``: ``x = a·col + b·row + c``, ``y = d·col + e·row + f``.
    crs
        The raster's CRS (WKT or anything pyproj accepts).
    nodata
        The no-data value, if any.
    source, source_sha256
        File and checksum (for messages and the manifest).
    """

    values: np.ndarray
    transform: tuple
    crs: Any
    nodata: float | None = None
    source: str | None = None
    source_sha256: str | None = None

    def __post_init__(self) -> None:
        vals = np.asarray(self.values, dtype=float)
        if vals.ndim != 2 or vals.size == 0:
            raise FrameError("the raster must have one band with at least one cell", where=self.source or "raster")
        clean = np.where(np.isnan(vals), 0.0, vals)
        if self.nodata is not None and not np.isnan(self.nodata):
            clean = np.where(vals == self.nodata, 0.0, clean)
        if (clean < 0).any():
            r, c = np.argwhere(clean < 0)[0]
            raise FrameError(f"raster values must be >= 0 (cell row {r}, column {c} is {clean[r, c]})",
                             where=self.source or "raster", fix="set negative cells to 0 or to the no-data value")
        object.__setattr__(self, "values", clean)
        object.__setattr__(self, "transform", tuple(float(v) for v in self.transform[:6]))


class PointDensity:
    """A piecewise-constant point density on polygon pieces (metric CRS).

    Parameters
    ----------
    pieces
        Non-overlapping polygons (they may share edges).
    weights
        Density value on each piece (any positive scale; normalised to total mass 1).
    unit_ids
        The frame unit each piece belongs to.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> d = PointDensity.uniform([box(0, 0, 10, 10), box(10, 0, 20, 10)], ["a", "b"])
    >>> d.total_area
    200.0
    >>> xy, piece = d.sample(5, rng=1)
    >>> xy.shape
    (5, 2)
    >>> float(d.disc_mass(5.0, 5.0, 1.0)[0] * 200 / 3.141592653589793)  # interior: pi r^2 / A
    1.0
    """

    def __init__(self, pieces: Any, weights: Any, unit_ids: Any):
        pieces = np.asarray(list(pieces), dtype=object)
        weights = np.asarray(weights, dtype=float)
        unit_ids = np.asarray(list(unit_ids), dtype=object)
        area = shapely.area(pieces) if len(pieces) else np.empty(0)
        keep = (area > 0) & (weights > 0)
        self.pieces, self.unit_ids, area, weights = pieces[keep], unit_ids[keep], area[keep], weights[keep]
        mass = weights * area
        if len(mass) == 0 or mass.sum() <= 0:
            raise DesignError("the point density has no mass (no area, or all sizes are zero)")
        self.piece_area = area
        self.raw_mass = float(mass.sum())
        self.weights = weights / mass.sum()
        self.piece_mass = self.weights * area
        self.total_area = float(area.sum())
        self._tri: np.ndarray | None = None
        self._calculators: dict[float, DiscAreaCalculator] = {}

    @classmethod
    def uniform(cls, polygons: Any, unit_ids: Any) -> "PointDensity":
        """Uniform density over the polygons."""
        polygons = list(polygons)
        return cls(polygons, np.ones(len(polygons)), unit_ids)

    @classmethod
    def from_sizes(cls, polygons: Any, sizes: Any, unit_ids: Any) -> "PointDensity":
        """Unit ``u`` gets mass ∝ its size, spread uniformly over the unit."""
        polygons = np.asarray(list(polygons), dtype=object)
        sizes = np.asarray(sizes, dtype=float)
        area = shapely.area(polygons)
        dens = np.divide(sizes, area, out=np.zeros_like(sizes), where=area > 0)
        return cls(polygons, dens, unit_ids)

    @classmethod
    def from_raster(cls, polygons: Any, unit_ids: Any, raster: RasterLayer, working_crs: Any) -> "PointDensity":
        """Density ∝ raster cell value / cell area, on the cells clipped to the polygons."""
        polygons = np.asarray(list(polygons), dtype=object)
        unit_ids = np.asarray(list(unit_ids), dtype=object)
        a, b, c, d, e, f = raster.transform
        to_raster = Transformer.from_crs(CRS.from_user_input(working_crs), CRS.from_user_input(raster.crs),
                                         always_xy=True)
        to_work = Transformer.from_crs(CRS.from_user_input(raster.crs), CRS.from_user_input(working_crs),
                                       always_xy=True)
        # window of cells covering the polygons (bounds taken in the raster CRS, with a margin)
        vx = shapely.get_coordinates(shapely.segmentize(polygons, max(1.0, float(np.sqrt(shapely.area(polygons).sum())) / 50)))
        rx, ry = to_raster.transform(vx[:, 0], vx[:, 1])
        rx, ry = np.asarray(rx), np.asarray(ry)
        det = a * e - b * d
        cols = (e * (rx - c) - b * (ry - f)) / det
        rows = (-d * (rx - c) + a * (ry - f)) / det
        nrow, ncol = raster.values.shape
        tol = 0.01  # straight edges in the working CRS bulge slightly in the raster CRS
        if rows.min() < -tol or cols.min() < -tol or rows.max() > nrow + tol or cols.max() > ncol + tol:
            raise FrameError("the raster does not cover the whole frame",
                             where=raster.source or "raster",
                             fix="use a raster whose extent contains every frame polygon")
        r0, r1 = max(int(np.floor(rows.min())) - 1, 0), min(int(np.ceil(rows.max())) + 1, nrow)
        c0, c1 = max(int(np.floor(cols.min())) - 1, 0), min(int(np.ceil(cols.max())) + 1, ncol)
        rr, cc = np.meshgrid(np.arange(r0, r1), np.arange(c0, c1), indexing="ij")
        rr, cc = rr.ravel(), cc.ravel()
        vals = raster.values[rr, cc]
        pos = vals > 0
        rr, cc, vals = rr[pos], cc[pos], vals[pos]
        corners_c = np.stack([cc, cc + 1, cc + 1, cc, cc], axis=1).astype(float)
        corners_r = np.stack([rr, rr, rr + 1, rr + 1, rr], axis=1).astype(float)
        x = a * corners_c + b * corners_r + c
        y = d * corners_c + e * corners_r + f
        wx, wy = to_work.transform(x.ravel(), y.ravel())
        ring = np.stack([np.asarray(wx).reshape(x.shape), np.asarray(wy).reshape(x.shape)], axis=-1)
        cells = shapely.polygons(ring)
        cells = np.where(shapely.is_ccw(shapely.get_exterior_ring(cells)), cells,
                         shapely.reverse(cells)) if len(cells) else cells
        cell_area = shapely.area(cells)
        tree = shapely.STRtree(polygons)
        ci, pi = tree.query(cells, predicate="intersects")
        pieces = shapely.intersection(cells[ci], polygons[pi])
        pieces_poly, owner = [], []
        for k, g in enumerate(pieces):
            for part in polygon_parts(g):
                pieces_poly.append(part)
                owner.append(k)
        owner = np.asarray(owner, dtype=np.int64)
        if len(owner) == 0:
            raise DesignError("the raster has no population inside the frame", where=raster.source or "raster",
                              fix="check that the raster covers the frame and that its values are counts > 0")
        dens = vals[ci[owner]] / cell_area[ci[owner]]
        return cls(pieces_poly, dens, unit_ids[pi[owner]])

    # ----------------------------------------------------------------- sampling
    @property
    def triangles(self) -> tuple[np.ndarray, np.ndarray]:
        """Constrained triangulation of the pieces: ``(triangles (T, 3, 2), piece index)``."""
        if self._tri is None:
            tris = shapely.constrained_delaunay_triangles(self.pieces)
            parts, idx = shapely.get_parts(tris, return_index=True)
            coords = shapely.get_coordinates(shapely.get_exterior_ring(parts)).reshape(len(parts), 4, 2)[:, :3, :]
            self._tri = (coords, idx)
            area = np.abs(_tri_area(coords))
            cum = np.cumsum(area * self.weights[idx])
            self._cum = cum / cum[-1]
        return self._tri

    def sample(self, n: int, *, rng: Any) -> tuple[np.ndarray, np.ndarray]:
        """``n`` i.i.d. points: coordinates (n, 2) and the index of the piece each falls in."""
        from hiddenpop._checks import check_rng

        rng = check_rng(rng)
        tri, piece = self.triangles
        k = np.minimum(np.searchsorted(self._cum, rng.random(n), side="right"), len(self._cum) - 1)
        return sample_in_triangles(tri, k, rng), piece[k]

    def density_at_pieces(self, index: Any) -> np.ndarray:
        """Per-draw density (per square unit) on the given pieces."""
        return self.weights[np.asarray(index)]

    # ----------------------------------------------------------------- inclusion
    def disc_mass(self, x: Any, y: Any, radius: float) -> np.ndarray:
        """Per-draw probability that a point falls in ``Disc((x_i, y_i), radius)``."""
        radius = float(radius)
        calc = self._calculators.get(radius)
        if calc is None:
            calc = DiscAreaCalculator(self.pieces, max_radius=radius, weights=self.weights)
            self._calculators[radius] = calc
        return np.minimum(calc.area(x, y, radius), 1.0)

    def covers(self, x: Any, y: Any) -> np.ndarray:
        """Whether each location lies in the density's support (boundary included)."""
        tree = shapely.STRtree(self.pieces)
        pi, _ = tree.query(shapely.points(np.asarray(x, float), np.asarray(y, float)), predicate="intersects")
        out = np.zeros(len(np.atleast_1d(x)), dtype=bool)
        out[pi] = True
        return out
