"""Draw the full two-stage sample from a synthetic population, as the field would record it.

Stage 1 (random geographic cluster sampling, docs/methods.md, 'Stage 1: points, circles and inclusion
probabilities'): in each stratum, ``n_h`` points are drawn independently and uniformly over the stratum minus
the exclusion areas (allocation proportional to area or equal); every household of that stratum within
``radius_m`` of a point is listed, and those that do not refuse are interviewed. A household hit by several
points is interviewed once; every hit is a selection event.

Stage 2 (one or more referral waves, docs/methods.md, 'Stage 2: referrals and the generalised weight share
method'): each interviewed household names its referral-eligible contacts (unregistered ones, by default); the
tablet draws ``m = min(coupons, d^E)`` of them at random and a coupon is issued for each; a coupon is redeemed
with probability ``redemption_rate``. A redeemed coupon brings the contact in for an interview, unless already
interviewed: then it is recorded as a repeat selection (docs/methods.md, 'Households reached more than once':
one row per household, one row per selection event).

The result holds the records a field team would produce (the referral log of
docs/data-contract.md, 'Referral log', 'Survey records' and 'Design manifest and points') plus the
selection events and the true stage-1 quantities the simulation needs.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from hiddenpop._checks import check_rng
from hiddenpop.errors import DesignError

__all__ = ["DEFAULT_DESIGN", "merge_design", "SurveySample", "Sampler", "draw_sample"]

#: Every design setting with its default (the study's design.toml overrides any subset).
DEFAULT_DESIGN: dict[str, Any] = {
    "stage1": {
        "points": 150,              # first-stage points over all strata
        "allocation": "area",       # "area" (proportional to stratum area) or "equal"
        "radius_m": 250.0,          # every household within this distance of a point is listed
        "refusal_rate": 0.0,        # share of listed households that refuse the interview
    },
    "referral": {
        "coupons": 2,               # coupons given to each interviewed household
        "eligible": "unregistered",  # who may be referred: "unregistered" or "all"
        "waves": 1,                 # referral waves after the points (1 = GWSM-exact design)
        "redemption_rate": 1.0,     # probability that an issued coupon comes back
    },
    "field": {
        "start_date": "2024-03-04",  # first interview day
        "days": 3,                   # interviews are spread over this many days
    },
}


def merge_design(overrides: dict[str, Any] | None, *, source: str = "design") -> dict[str, Any]:
    """Return :data:`DEFAULT_DESIGN` updated by ``overrides`` (validated; ``source``, the file name
    when read from one, starts every message).

    >>> merge_design({"stage1": {"points": 40}})["stage1"]["points"]
    40
    >>> merge_design({"referral": {"coupons": -1}})
    Traceback (most recent call last):
    ...
    hiddenpop.errors.DesignError: design, section [referral]: coupons = -1 must be an integer >= 0. Fix: change the value in the design file.
    """
    import copy

    d = copy.deepcopy(DEFAULT_DESIGN)
    for section, values in (overrides or {}).items():
        if section not in d or not isinstance(values, dict):
            raise DesignError(f"unknown section [{section}] (known: {', '.join(d)})", where=source,
                              fix="correct the spelling or remove the section")
        for key, value in values.items():
            if key not in d[section]:
                raise DesignError(f"unknown key {key!r} (known: {', '.join(d[section])})",
                                  where=f"{source}, section [{section}]", fix="correct the spelling or remove the key")
            d[section][key] = value

    def bad(section: str, key: str, why: str) -> DesignError:
        return DesignError(f"{key} = {d[section][key]!r} {why}", where=f"{source}, section [{section}]",
                           fix="change the value in the design file")

    s1, rf = d["stage1"], d["referral"]
    if not isinstance(s1["points"], int) or s1["points"] < 2:
        raise bad("stage1", "points", "must be an integer >= 2")
    if s1["allocation"] not in ("area", "equal"):
        raise bad("stage1", "allocation", "must be 'area' or 'equal'")
    if not s1["radius_m"] > 0:
        raise bad("stage1", "radius_m", "must be > 0")
    if not 0 <= s1["refusal_rate"] < 1:
        raise bad("stage1", "refusal_rate", "must lie in [0, 1)")
    if not isinstance(rf["coupons"], int) or rf["coupons"] < 0:
        raise bad("referral", "coupons", "must be an integer >= 0")
    if rf["eligible"] not in ("unregistered", "all"):
        raise bad("referral", "eligible", "must be 'unregistered' or 'all'")
    if not isinstance(rf["waves"], int) or rf["waves"] < 0:
        raise bad("referral", "waves", "must be an integer >= 0")
    if not 0 < rf["redemption_rate"] <= 1:
        raise bad("referral", "redemption_rate", "must lie in (0, 1]")
    if not isinstance(d["field"]["days"], int) or d["field"]["days"] < 1:
        raise bad("field", "days", "must be an integer >= 1")
    return d


@dataclass(frozen=True, eq=False)
class SurveySample:
    """One realisation of the two-stage design.

    Attributes
    ----------
    points : DataFrame
        ``point_id, stratum, x, y, lon, lat, reserve_rank, radius_m, n_listed, n_interviewed``.
    households : DataFrame
        docs/data-contract.md, 'Survey records' household records (one row per interviewed household): ``hh_id``,
        ``found_by``, ``point_id``, ``recruiter_id``, ``root_point_id`` (the stage-1 point its
        chain starts from), ``wave``, ``network_size``, ``network_size_eligible``,
        ``referrals_given`` (coupons issued), ``coupons_redeemed``, ``registered``, ``stratum``,
        ``lon``, ``lat``, outcomes, and the true ``stage1_prob`` (π¹) and ``expected_hits`` (e¹ = n_h p).
    children : DataFrame
        Child roster of the interviewed households.
    referral_log : DataFrame
        docs/data-contract.md, 'Referral log' log, one row per interview.
    selections : DataFrame
        One row per selection event: ``hh_id, route ('point'|'referral'), point_id, recruiter_id, coupon``.
    population_rows : ndarray
        Row positions in the population of ``households`` (same order).
    """

    points: pd.DataFrame
    households: pd.DataFrame
    children: pd.DataFrame
    referral_log: pd.DataFrame
    selections: pd.DataFrame
    population_rows: np.ndarray
    design: dict[str, Any] = field(default_factory=dict)
    strata: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def n_interviews(self) -> int:
        return len(self.households)


class Sampler:
    """Prepared population for drawing many samples quickly (triangulations, trees, p_k).

    Parameters
    ----------
    population : Population
        From :func:`hiddenpop.simulate.generate_population`.
    design : dict
        Overrides of :data:`DEFAULT_DESIGN`.

    Examples
    --------
    >>> from hiddenpop.simulate import generate_population
    >>> pop = generate_population({"households": {"n": 3000}}, rng=3)
    >>> s = Sampler(pop, {"stage1": {"points": 30}})
    >>> sample = s.draw(rng=5)
    >>> set(sample.households["found_by"]) <= {"point", "referral"}
    True
    >>> bool((sample.households["stage1_prob"] > 0).all())
    True
    """

    def __init__(self, population: Any, design: dict[str, Any] | None = None):
        from hiddenpop.spatial.geometry import DiscAreaCalculator, triangle_areas, triangulate

        self.population = population
        self.design = merge_design(design)
        s1 = self.design["stage1"]
        hh = population.households
        self._xy = hh[["x", "y"]].to_numpy(float)
        self._stratum = hh["stratum"].astype(str).to_numpy()
        regions = population.strata_regions()
        self.strata_names = sorted(regions)
        areas = np.array([regions[s].area for s in self.strata_names])
        n_total = int(s1["points"])
        if n_total < len(self.strata_names):
            raise DesignError(f"{n_total} points cannot cover {len(self.strata_names)} strata",
                              where="design, section [stage1]", fix="ask for at least one point per stratum")
        share = areas / areas.sum() if s1["allocation"] == "area" else np.full(len(areas), 1 / len(areas))
        alloc = np.maximum(1, np.floor(share * n_total).astype(int))
        while alloc.sum() < n_total:                       # largest remainder
            alloc[np.argmax(share * n_total - alloc)] += 1
        while alloc.sum() > n_total:
            alloc[np.argmax(alloc)] -= 1
        self.n_points = dict(zip(self.strata_names, alloc.tolist()))
        self.areas = dict(zip(self.strata_names, areas.tolist()))
        radius = float(s1["radius_m"])
        self._triangles = {}
        self._p = np.zeros(len(hh))
        for s in self.strata_names:
            tri = triangulate(regions[s])
            tri_area = np.abs(triangle_areas(tri))
            self._triangles[s] = (tri, tri_area / tri_area.sum())
            rows = np.flatnonzero(self._stratum == s)
            calc = DiscAreaCalculator(regions[s], max_radius=radius)
            # per-draw hit probability of a household: mass of its disc clipped to the stratum region
            self._p[rows] = calc.area(self._xy[rows, 0], self._xy[rows, 1], radius) / self.areas[s]
        n_h = np.array([self.n_points[s] for s in self._stratum])
        self._pi = -np.expm1(n_h * np.log1p(-self._p))  # 1 - (1 - p)^n, accurate for small p
        self._e = n_h * self._p                             # expected hits (points drawn with replacement)
        self._tree = cKDTree(self._xy)
        adj = population.adjacency()
        self._adj_indptr, self._adj_indices = adj.indptr, adj.indices
        self._registered = hh["registered"].to_numpy()
        self._eligible = (self._registered == 0) if self.design["referral"]["eligible"] == "unregistered" \
            else np.ones(len(hh), dtype=bool)
        self._degree = np.diff(adj.indptr)
        self._degree_eligible = adj @ self._eligible.astype(np.int64)   # contacts who may be referred

    @property
    def stage1_prob(self) -> np.ndarray:
        """True stage-1 inclusion probability of every household of the population."""
        return self._pi

    @property
    def stage1_hit_prob(self) -> np.ndarray:
        """Per-draw hit probability p_k of every household (expected hits = n_h p_k)."""
        return self._p

    def draw(self, *, rng: Any, points: pd.DataFrame | None = None) -> SurveySample:
        """Draw one two-stage sample.

        ``points`` (optional): first-stage points drawn elsewhere (e.g. by ``hiddenpop frame
        sample``), with ``point_id``, ``stratum``, ``lon``, ``lat``; only the field stages are
        then simulated. Without it, points are drawn i.i.d. uniform per stratum.
        """
        rng = check_rng(rng)
        from hiddenpop.spatial.geometry import sample_in_triangles

        pop = self.population
        s1, rf = self.design["stage1"], self.design["referral"]
        radius = float(s1["radius_m"])
        # --- stage 1: points
        if points is None:
            pts, pstrata = [], []
            for s in self.strata_names:
                tri, prob = self._triangles[s]
                idx = rng.choice(len(prob), size=self.n_points[s], p=prob)
                pts.append(sample_in_triangles(tri, idx, rng))
                pstrata += [s] * self.n_points[s]
            pxy = np.vstack(pts)
            pstrata = np.array(pstrata)
            point_ids = np.array([f"P-{s[:3].upper()}-{i:04d}" for i, s in enumerate(pstrata, start=1)])
        else:
            import pyproj

            to_xy = pyproj.Transformer.from_crs("EPSG:4326", pop.crs, always_xy=True)
            px, py = to_xy.transform(points["lon"].to_numpy(float), points["lat"].to_numpy(float))
            pxy = np.c_[px, py]
            pstrata = points["stratum"].astype(str).to_numpy()
            point_ids = points["point_id"].astype(str).to_numpy()
        n_pts = len(pxy)
        refuses = rng.random(pop.n_households) < s1["refusal_rate"]
        hits = self._tree.query_ball_point(pxy, r=radius)
        ev_hh, ev_pt = [], []
        for t, rows in enumerate(hits):
            rows = np.asarray(rows, dtype=np.int64)
            rows = rows[self._stratum[rows] == pstrata[t]]          # inclusion zone clipped to the stratum
            rows.sort()
            ev_hh.append(rows)
            ev_pt.append(np.full(len(rows), t))
        ev_hh = np.concatenate(ev_hh) if ev_hh else np.empty(0, np.int64)
        ev_pt = np.concatenate(ev_pt) if ev_pt else np.empty(0, np.int64)
        n_listed = np.bincount(ev_pt, minlength=n_pts)
        ok = ~refuses[ev_hh]
        ev_hh, ev_pt = ev_hh[ok], ev_pt[ok]
        n_interviewed = np.bincount(ev_pt, minlength=n_pts)
        # households found at points, in order of first hit
        first = {}
        for h, t in zip(ev_hh.tolist(), ev_pt.tolist()):
            first.setdefault(h, t)
        order = list(first)                                         # interview order
        found_by = {h: "point" for h in order}
        point_of = {h: int(first[h]) for h in order}
        root_of = dict(point_of)
        recruiter = {h: None for h in order}
        wave = {h: 0 for h in order}
        selections = [(h, "point", t, None, None) for h, t in zip(ev_hh.tolist(), ev_pt.tolist())]
        # --- stage 2: referral waves
        issued: dict[int, list[str]] = {}
        redeemed_by: dict[int, str] = {}
        coupon_no = 0
        frontier = list(order)
        for w in range(1, int(rf["waves"]) + 1):
            new = []
            for j in frontier:
                contacts = self._adj_indices[self._adj_indptr[j]:self._adj_indptr[j + 1]]
                contacts = contacts[self._eligible[contacts]]
                m = min(int(rf["coupons"]), len(contacts))
                chosen = rng.choice(contacts, size=m, replace=False) if m else np.empty(0, np.int64)
                codes = []
                for k in chosen.tolist():
                    coupon_no += 1
                    code = f"C{coupon_no:05d}"
                    codes.append(code)
                    if rng.random() >= rf["redemption_rate"]:
                        continue
                    selections.append((k, "referral", None, j, code))
                    if k in found_by:
                        continue                                    # already interviewed: repeat selection
                    found_by[k] = "referral"
                    point_of[k] = None
                    root_of[k] = root_of[j]
                    recruiter[k] = j
                    wave[k] = w
                    redeemed_by[k] = code
                    order.append(k)
                    new.append(k)
                issued[j] = codes
            frontier = new
        return self._records(rng, order, found_by, point_of, root_of, recruiter, wave, issued, redeemed_by,
                             selections, pxy, pstrata, point_ids, n_listed, n_interviewed)

    # ------------------------------------------------------------------ records
    def _records(self, rng, order, found_by, point_of, root_of, recruiter, wave, issued, redeemed_by, selections,
                 pxy, pstrata, point_ids, n_listed, n_interviewed) -> SurveySample:
        import pyproj

        pop = self.population
        hh = pop.households
        rows = np.asarray(order, dtype=np.int64)
        to_ll = pyproj.Transformer.from_crs(pop.crs, "EPSG:4326", always_xy=True)
        plon, plat = to_ll.transform(pxy[:, 0], pxy[:, 1])
        radius = float(self.design["stage1"]["radius_m"])
        points = pd.DataFrame({
            "point_id": point_ids, "stratum": pstrata, "x": np.round(pxy[:, 0], 2), "y": np.round(pxy[:, 1], 2),
            "lon": np.round(plon, 7), "lat": np.round(plat, 7), "reserve_rank": 0, "radius_m": radius,
            "n_listed": n_listed, "n_interviewed": n_interviewed,
        })
        resp_ids = np.array([f"R{i:05d}" for i in range(1, len(rows) + 1)])
        rid = dict(zip(order, resp_ids.tolist()))
        redeemed_count = {j: 0 for j in issued}
        for h, route, _, rec, code in selections:
            if route == "referral":
                redeemed_count[rec] = redeemed_count.get(rec, 0) + 1
        # interview times: chains move forward in time, spread over the field days
        days = int(self.design["field"]["days"])
        start = _dt.datetime.fromisoformat(str(self.design["field"]["start_date"]))
        n = len(rows)
        waves_arr = np.array([wave[h] for h in order])
        frac = (np.arange(n) + rng.random(n)) / max(n, 1)
        day = np.minimum(days - 1, np.floor(frac * days)).astype(int)
        minutes = 8 * 60 + np.floor((frac * days - day) * 9 * 60).astype(int)   # 08:00-17:00, in interview order
        times = [(start + _dt.timedelta(days=int(d), minutes=int(mi))).strftime("%Y-%m-%dT%H:%M:%S")
                 for d, mi in zip(day, minutes)]
        sub = hh.iloc[rows].reset_index(drop=True)
        households = pd.DataFrame({
            "hh_id": resp_ids,
            "found_by": [found_by[h] for h in order],
            "point_id": [point_ids[point_of[h]] if point_of[h] is not None else None for h in order],
            "recruiter_id": [rid[recruiter[h]] if recruiter[h] is not None else None for h in order],
            "root_point_id": [point_ids[root_of[h]] for h in order],
            "wave": waves_arr,
            "network_size": self._degree[rows],
            "network_size_eligible": self._degree_eligible[rows],
            "referrals_given": [len(issued.get(h, [])) for h in order],
            "coupons_redeemed": [redeemed_count.get(h, 0) for h in order],
            "registered": sub["registered"].to_numpy(),
            "stratum": sub["stratum"].to_numpy(),
            "unit_id": sub["unit_id"].to_numpy(),
            "lon": sub["lon"].to_numpy(),
            "lat": sub["lat"].to_numpy(),
            "size": sub["size"].to_numpy(),
            "n_children": sub["n_children"].to_numpy(),
            "n_children_6_17": sub["n_children_6_17"].to_numpy(),
            "n_working": sub["n_working"].to_numpy(),
            "n_out_of_school": sub["n_out_of_school"].to_numpy(),
            "female_head": sub["female_head"].to_numpy(),
            "interview_time": times,
            "stage1_prob": self._pi[rows],
            "expected_hits": self._e[rows],
            "population_hh_id": sub["hh_id"].to_numpy(),
        })
        ch = pop.children
        ch = ch[ch["hh_id"].isin(set(sub["hh_id"]))].copy()
        ch["hh_id"] = ch["hh_id"].map(dict(zip(sub["hh_id"], resp_ids)))
        ch["child_id"] = ch["hh_id"] + "-" + ch["child_id"].str.rsplit("-", n=1).str[1]
        ch = ch.sort_values(["hh_id", "child_id"]).reset_index(drop=True)
        log = pd.DataFrame({
            "respondent_id": resp_ids,
            "redeemed_coupon": [redeemed_by.get(h) for h in order],
            "issued_coupons": [";".join(issued.get(h, [])) for h in order],
            "point_id": households["point_id"],
            "network_size": households["network_size"],
            "network_size_eligible": households["network_size_eligible"],
            "interview_time": times,
            "registered": households["registered"],
            "lon": households["lon"],
            "lat": households["lat"],
        })
        sel = pd.DataFrame(selections, columns=["row", "route", "point", "recruiter", "coupon"])
        selections_df = pd.DataFrame({
            "hh_id": sel["row"].map(rid),
            "route": sel["route"],
            "point_id": [point_ids[int(t)] if t is not None and t == t else None for t in sel["point"]],
            "recruiter_id": [rid[int(r)] if r is not None and r == r else None for r in sel["recruiter"]],
            "coupon": sel["coupon"],
        })
        strata = {s: {"points": self.n_points[s], "area_m2": self.areas[s]} for s in self.strata_names}
        return SurveySample(points=points, households=households, children=ch, referral_log=log,
                            selections=selections_df, population_rows=rows, design=self.design, strata=strata)


def draw_sample(population: Any, design: dict[str, Any] | None = None, *, rng: Any) -> SurveySample:
    """Draw one two-stage sample (see :class:`Sampler` to draw many from one population).

    >>> from hiddenpop.simulate import generate_population
    >>> pop = generate_population({"households": {"n": 2000}}, rng=1)
    >>> sample = draw_sample(pop, {"stage1": {"points": 20}}, rng=2)
    >>> len(sample.points)
    20
    """
    return Sampler(population, design).draw(rng=rng)
