"""Recruitment trees as arrays: recruiter positions, waves, seeds, recruit counts in linear time.

This is the shared, fast core under the recruitment graph (:mod:`hiddenpop.referrals.graph`) and the
RDS estimators. A tree over ``n`` respondents is stored as ``parent``: for respondent ``i``
(position in the input order), ``parent[i]`` is the position of its recruiter, or ``-1`` for a
seed. Everything else (children in CSR form, waves, seed of each respondent, number of recruits,
chain sizes, a breadth-first order) is derived in O(n) with numpy, level by level, instead of
R ``RDS::get.wave``'s O(n^2) recursive ``match``.

Examples
--------
>>> t = build_tree(["a", "b", "c", "d"], ["seed", "a", "a", "c"], seed_marker="seed")
>>> t.parent.tolist(), t.wave.tolist(), t.seed_ids().tolist(), t.n_recruits.tolist()
([-1, 0, 0, 2], [0, 1, 1, 2], ['a', 'a', 'a', 'a'], [2, 0, 1, 0])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop._checks import id_text, id_texts
from hiddenpop.errors import RecruitmentError, truncate_list

__all__ = ["RecruitmentTree", "build_tree", "parent_positions", "children_csr"]


def parent_positions(ids: Any, recruiter_ids: Any, *, seed_marker: Any = None,
                     source: str = "referral data") -> np.ndarray:
    """Map recruiter ids to positions in ``ids`` (``-1`` for seeds).

    A respondent is a seed when its recruiter id is missing (NaN/None/empty) or equals
    ``seed_marker``. Ids are compared as strings after stripping, so ``7`` and ``"7"`` match.

    Raises
    ------
    RecruitmentError
        Duplicate ids, self-recruitment, or a recruiter id that is not a respondent.
    """
    ids_s = id_texts(ids)
    rec_s = id_texts(recruiter_ids)
    if len(ids_s) != len(rec_s):
        raise RecruitmentError("ids and recruiter ids have different lengths", where=source)
    index = pd.Index(ids_s)
    if index.has_duplicates:
        dup = index[index.duplicated()].unique()
        raise RecruitmentError(f"duplicate respondent ids: {truncate_list(dup)}", where=source,
                               fix="give every interview its own respondent id")
    is_seed = (rec_s == "") | pd.isna(recruiter_ids if not isinstance(recruiter_ids, pd.Series)
                                       else recruiter_ids.to_numpy())
    if seed_marker is not None:
        is_seed |= rec_s == id_text(seed_marker)
    parent = index.get_indexer(rec_s)
    unknown = (~is_seed) & (parent < 0)
    if unknown.any():
        bad = np.flatnonzero(unknown)
        shown = truncate_list(f"{ids_s[i]} (recruiter {rec_s[i]})" for i in bad)
        raise RecruitmentError(
            f"{len(bad)} respondent(s) name a recruiter who is not in the data: {shown}",
            where=source,
            fix=("mark seeds with the seed marker"
                 + (f" '{seed_marker}'" if seed_marker is not None else " (an empty recruiter id)")
                 + " or add the missing recruiters"))
    parent = np.where(is_seed, -1, parent).astype(np.int64)
    selfrec = np.flatnonzero(parent == np.arange(len(parent)))
    if len(selfrec):
        raise RecruitmentError(f"self-recruitment: {truncate_list(ids_s[selfrec])}", where=source,
                               fix="a respondent cannot redeem their own coupon; correct the recruiter id")
    return parent


@dataclass(frozen=True, eq=False)
class RecruitmentTree:
    """A validated recruitment forest over respondents ``0..n-1``.

    Attributes
    ----------
    ids : numpy.ndarray
        Respondent ids (strings), in input order.
    parent : numpy.ndarray
        Position of each respondent's recruiter, ``-1`` for seeds.
    """

    ids: np.ndarray
    parent: np.ndarray
    _bfs: np.ndarray = field(init=False, repr=False)
    _wave: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        parent = np.asarray(self.parent, dtype=np.int64)
        object.__setattr__(self, "parent", parent)
        n = len(parent)
        offsets, children = children_csr(parent)
        order = np.empty(n, dtype=np.int64)
        wave = np.full(n, -1, dtype=np.int64)
        frontier = np.flatnonzero(parent < 0)
        pos, level = 0, 0
        while len(frontier):
            order[pos:pos + len(frontier)] = frontier
            wave[frontier] = level
            pos += len(frontier)
            level += 1
            starts, ends = offsets[frontier], offsets[frontier + 1]
            counts = ends - starts
            if counts.sum() == 0:
                break
            idx = np.repeat(starts - np.concatenate(([0], np.cumsum(counts)[:-1])), counts) + np.arange(counts.sum())
            frontier = children[idx]
        if pos < n:
            stuck = np.flatnonzero(wave < 0)
            raise RecruitmentError(
                f"recruitment cycle: {len(stuck)} respondent(s) cannot be traced back to a seed "
                f"({truncate_list(self.ids[stuck])})",
                fix="each chain must start at a seed; correct the recruiter ids or coupon numbers of these respondents")
        object.__setattr__(self, "_bfs", order)
        object.__setattr__(self, "_wave", wave)

    @property
    def n(self) -> int:
        """Number of respondents."""
        return len(self.parent)

    @property
    def wave(self) -> np.ndarray:
        """Wave of each respondent (seeds are wave 0)."""
        return self._wave

    @property
    def bfs_order(self) -> np.ndarray:
        """Positions in breadth-first order (every recruiter before its recruits)."""
        return self._bfs

    @cached_property
    def is_seed(self) -> np.ndarray:
        return self.parent < 0

    @cached_property
    def seed(self) -> np.ndarray:
        """Position of each respondent's seed (the root of its chain)."""
        seed = self.parent.copy()
        seed[self.is_seed] = np.flatnonzero(self.is_seed)
        for level in range(1, int(self._wave.max(initial=0)) + 1):
            at = self._level(level)
            seed[at] = seed[self.parent[at]]
        return seed

    def _level(self, level: int) -> np.ndarray:
        bounds = self._level_bounds
        return self._bfs[bounds[level]:bounds[level + 1]]

    @cached_property
    def _level_bounds(self) -> np.ndarray:
        counts = np.bincount(self._wave, minlength=1)
        return np.concatenate(([0], np.cumsum(counts)))

    def seed_ids(self) -> np.ndarray:
        """Id of each respondent's seed."""
        return self.ids[self.seed]

    @cached_property
    def n_recruits(self) -> np.ndarray:
        """Number of recruits of each respondent."""
        has = self.parent >= 0
        return np.bincount(self.parent[has], minlength=self.n).astype(np.int64)

    @cached_property
    def chain_size(self) -> np.ndarray:
        """Size of the chain (tree) each respondent belongs to."""
        sizes = np.bincount(self.seed, minlength=self.n)
        return sizes[self.seed]

    @cached_property
    def children(self) -> tuple[np.ndarray, np.ndarray]:
        """Recruits of every respondent in CSR form ``(offsets, recruits)``."""
        return children_csr(self.parent)

    def recruits_of(self, i: int) -> np.ndarray:
        offsets, children = self.children
        return children[offsets[i]:offsets[i + 1]]

    def to_frame(self) -> pd.DataFrame:
        """A table with ``id, recruiter_id, wave, seed_id, n_recruits, chain_size, is_seed``."""
        rec = np.where(self.is_seed, None, self.ids[np.maximum(self.parent, 0)])
        return pd.DataFrame({"id": self.ids, "recruiter_id": rec, "wave": self.wave,
                             "seed_id": self.seed_ids(), "n_recruits": self.n_recruits,
                             "chain_size": self.chain_size, "is_seed": self.is_seed})


def children_csr(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(parent)
    has = parent >= 0
    kids = np.flatnonzero(has)
    order = np.argsort(parent[kids], kind="stable")
    children = kids[order]
    counts = np.bincount(parent[kids], minlength=n)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return offsets, children


def build_tree(ids: Any, recruiter_ids: Any, *, seed_marker: Any = None,
               source: str = "referral data") -> RecruitmentTree:
    """Validate recruiter links and build a :class:`RecruitmentTree`.

    Parameters
    ----------
    ids, recruiter_ids
        Respondent ids and the id of each respondent's recruiter, same length.
    seed_marker
        The recruiter id that marks seeds (R ``RDS`` uses e.g. ``"seed"`` or ``0``);
        missing recruiter ids always mark seeds.
    source
        File or table name used in error messages.

    Raises
    ------
    RecruitmentError
        Duplicate ids, unknown recruiter, self-recruitment or a cycle.
    """
    parent = parent_positions(ids, recruiter_ids, seed_marker=seed_marker, source=source)
    return RecruitmentTree(ids=id_texts(ids), parent=parent)
