"""Point densities of the first stage: piecewise-constant densities on polygon pieces.

Every density the toolkit draws from is constant on polygon pieces of one stratum's domain
(the stratum's units minus the exclusion layer):

* ``uniform``: one density ``1/A_h`` on the whole domain;
* ``size``: unit ``u`` carries mass ``s_u / S_h`` spread uniformly over the unit (PPS over
  units, then a uniform point inside), i.e. density ``s_u / (S_h · A_u)``;
* ``raster``: raster cell ``c`` (a population count) carries density ∝ ``v_c / area(cell)``;
  cells are clipped to the domain, so a cell half outside keeps half of its mass.

Drawing ``n`` points (:meth:`PointDensity.sample`) is exact and uses the cheapest exact route
per polygon part:

1. the number of points in every part is multinomial with probabilities ∝ density × area;
2. inside a part the points are uniform, drawn either from the part's triangulation (a
   triangle ∝ its area, then a uniform point in it) or by rejection from the part's own
   bounding box (keep candidates with ``shapely.contains_xy``, holes excluded, until the
   part has its count; the first ``k`` accepted of an i.i.d. candidate sequence are i.i.d.
   uniform in the part);
3. the points are put in uniformly random order, so the sequence is i.i.d. (reserves can
   be "the next draws").

Parts with at most 64 vertices are always triangulated (one vectorised GEOS call). A
detailed part is drawn by rejection unless its triangulation is cached (:meth:`PointDensity.prepare`)
or the expected number of rejection tests of the call exceeds its vertex count (then it is
triangulated and cached): a one-off draw never pays for triangulating a million vertices, and
repeated draws from a prepared density cost O(log T) per point. The points drawn with a given
``rng`` therefore depend on which parts are already triangulated (a fresh density, as built by
:func:`~hiddenpop.spatial.sample_points`, always gives the same points); the distribution is
exact either way.

The per-draw probability that a point falls in ``Disc(x, R)`` is the weighted sum of exact
disc–piece areas (:class:`~hiddenpop.spatial.geometry.DiscAreaCalculator`); it does not use
the triangulation.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer

from hiddenpop.errors import DesignError, FrameError
from hiddenpop.spatial.geometry import (DiscAreaCalculator, triangle_areas, polygon_parts, sample_in_triangles,
                                        triangulate_parts)

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
        self._calculators: dict[float, DiscAreaCalculator] = {}
        # polygon parts (sampling works part by part)
        if (shapely.get_type_id(self.pieces) == 3).all():  # plain polygons: no copy
            parts, owner = self.pieces, np.arange(len(self.pieces))
        else:
            parts, owner = shapely.get_parts(self.pieces, return_index=True)
        if not (shapely.get_type_id(parts) == 3).all():  # nested collections: split recursively
            flat = [(part, k) for k, g in enumerate(self.pieces) for part in polygon_parts(g)]
            parts = np.array([f[0] for f in flat], dtype=object)
            owner = np.array([f[1] for f in flat], dtype=np.int64)
        part_area = shapely.area(parts)
        keep = part_area > 0
        parts, owner, part_area = parts[keep], owner[keep], part_area[keep]
        shapely.prepare(parts)
        self._parts = parts
        self._part_piece = owner.astype(np.int64)
        part_mass = self.weights[owner] * part_area
        self._part_prob = part_mass / part_mass.sum()
        bounds = shapely.bounds(parts)
        self._part_bounds = bounds
        self._part_accept = np.minimum(part_area / np.maximum((bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1]),
                                                              1e-300), 1.0)
        self._part_nv = shapely.get_num_coordinates(parts)
        # triangulation cache: part -> slot; triangles of slot s are _tri_all[_slot_start[s]:_slot_start[s+1]],
        # with sort keys s + (cumulative area share within the part), which increase over the whole array
        self._slot = np.full(len(parts), -1, dtype=np.int64)
        self._tri_chunks: list[np.ndarray] = []
        self._key_chunks: list[np.ndarray] = []
        self._tri_all = np.empty((0, 3, 2))
        self._key_all = np.empty(0)
        self._slot_start = np.zeros(1, dtype=np.int64)

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
    #: Parts with at most this many vertices are always drawn from their triangulation.
    SMALL_PART_VERTICES = 64

    def _triangulate(self, parts: np.ndarray) -> None:
        """Triangulate the given parts (not yet cached) and append them to the cache."""
        parts = np.asarray(parts, dtype=np.int64)
        parts = parts[self._slot[parts] < 0]
        if len(parts) == 0:
            return
        tri, owner = triangulate_parts(self._parts[parts])
        area = np.abs(triangle_areas(tri))
        counts = np.bincount(owner, minlength=len(parts))
        first_slot = len(self._slot_start) - 1
        slots = first_slot + np.arange(len(parts))
        # cumulative area share within each part, ending at exactly 1
        cum = np.cumsum(area)
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        base = np.repeat(np.concatenate([[0.0], cum])[start], counts)
        total = np.repeat(cum[start + counts - 1], counts) - base
        share = (cum - base) / total
        share[np.cumsum(counts) - 1] = 1.0
        self._tri_chunks.append(tri)
        self._key_chunks.append(np.repeat(slots, counts) + share)
        self._tri_all = np.concatenate(self._tri_chunks) if len(self._tri_chunks) > 1 else tri
        self._key_all = np.concatenate(self._key_chunks) if len(self._key_chunks) > 1 else self._key_chunks[0]
        self._tri_chunks, self._key_chunks = [self._tri_all], [self._key_all]
        self._slot_start = np.concatenate([self._slot_start, self._slot_start[-1] + np.cumsum(counts)])
        self._slot[parts] = slots

    def prepare(self) -> "PointDensity":
        """Triangulate every part now (for many draws from the same density); returns ``self``."""
        self._triangulate(np.arange(len(self._parts)))
        return self

    @property
    def triangles(self) -> tuple[np.ndarray, np.ndarray]:
        """Triangulation of all pieces: ``(triangles (T, 3, 2), piece index)`` (cached)."""
        self.prepare()
        slot_part = np.empty(len(self._parts), dtype=np.int64)
        slot_part[self._slot] = np.arange(len(self._parts))
        counts = np.diff(self._slot_start)
        return self._tri_all, self._part_piece[np.repeat(slot_part, counts)]

    def _sample_triangles(self, parts: np.ndarray, k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        slots = self._slot[parts]
        order = np.argsort(slots)
        keys = np.repeat(slots[order], k[order]) + rng.random(int(k.sum()))
        keys.sort()  # sorted queries make the search cache-friendly; the order is randomised later
        slot_of = np.repeat(slots[order], k[order])
        idx = np.searchsorted(self._key_all, keys, side="right")
        # keys are below slot + 1 (the part's last key); clamp guards against rounding of slot + u
        idx = np.clip(idx, self._slot_start[slot_of], self._slot_start[slot_of + 1] - 1)
        xy = sample_in_triangles(self._tri_all, idx, rng)
        out = np.empty_like(xy)
        # back to the order of ``parts``
        pos = np.concatenate([[0], np.cumsum(k)[:-1]])
        dest = np.repeat(pos[order] - np.concatenate([[0], np.cumsum(k[order])[:-1]]), k[order]) + np.arange(len(keys))
        out[dest] = xy
        return out

    def _sample_rejection(self, parts: np.ndarray, k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.empty((int(k.sum()), 2))
        offset = np.concatenate([[0], np.cumsum(k)[:-1]])
        filled = np.zeros(len(parts), dtype=np.int64)
        while True:
            need = k - filled
            act = np.flatnonzero(need > 0)
            if len(act) == 0:
                return out
            acc = self._part_accept[parts[act]]
            expect = need[act] / acc
            m = np.ceil(expect + 3.0 * np.sqrt(expect) + 2.0).astype(np.int64)
            grp = np.repeat(np.arange(len(act)), m)
            b = self._part_bounds[parts[act]][grp]
            u = rng.random((len(grp), 2))
            x = b[:, 0] + u[:, 0] * (b[:, 2] - b[:, 0])
            y = b[:, 1] + u[:, 1] * (b[:, 3] - b[:, 1])
            ok = shapely.contains_xy(self._parts[parts[act]][grp], x, y)
            # rank of each accepted candidate within its part; keep the first ``need``
            csum = np.cumsum(ok)
            before = np.concatenate([[0], csum[np.cumsum(m) - 1][:-1]])
            rank = csum - np.repeat(before, m) - 1
            keep = ok & (rank < need[act][grp])
            g = grp[keep]
            out[offset[act][g] + filled[act][g] + rank[keep]] = np.column_stack([x[keep], y[keep]])
            filled[act] += np.minimum(csum[np.cumsum(m) - 1] - before, need[act])

    def sample(self, n: int, *, rng: Any) -> tuple[np.ndarray, np.ndarray]:
        """``n`` i.i.d. points: coordinates (n, 2) and the index of the piece each falls in.

        Exact (see the module notes): multinomial counts per polygon part, uniform points
        inside each part (triangles or bounding-box rejection), then a uniformly random order.
        """
        from hiddenpop._checks import check_rng

        rng = check_rng(rng)
        n = int(n)
        if n < 0:
            raise DesignError(f"cannot draw {n} points")
        counts = rng.multinomial(n, self._part_prob)
        hit = np.flatnonzero(counts)
        nv = self._part_nv[hit]
        expected_tests = counts[hit] / self._part_accept[hit]
        self._triangulate(hit[(nv <= self.SMALL_PART_VERTICES) | (expected_tests >= nv)])
        tri = self._slot[hit] >= 0
        parts = np.concatenate([hit[tri], hit[~tri]])
        k = counts[parts]
        xy = np.concatenate([self._sample_triangles(hit[tri], counts[hit[tri]], rng),
                             self._sample_rejection(hit[~tri], counts[hit[~tri]], rng)])
        perm = rng.permutation(n)
        return xy[perm], self._part_piece[np.repeat(parts, k)][perm]

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
