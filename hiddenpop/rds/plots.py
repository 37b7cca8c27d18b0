"""Pictures of the recruitment: trees coloured by a variable, convergence and bottleneck plots.

Functions return matplotlib Figures (Agg-safe); the CLI saves them with
:func:`hiddenpop.io.save_figure`. The tree layout is a tidy layered layout computed in linear
time from the tree arrays (each respondent sits above the middle of its recruits' leaves), so a
figure with hundreds of seeds and 10^5 respondents draws in seconds.

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"respondent_id": list("ABCD"), "recruiter_id": [None, "A", "A", "B"],
...                   "wave": [0, 1, 1, 2], "seed_id": list("AAAA"), "g": ["x", "x", "y", "x"]})
>>> fig = plot_recruitment_trees(t, color_by="g")
>>> len(fig.axes)
1
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hiddenpop.rds.fieldstatus import cumulative_composition, seed_composition  # noqa: E402
from hiddenpop.rds.tree import build_tree  # noqa: E402

__all__ = ["tree_layout", "plot_recruitment_trees", "plot_convergence", "plot_bottleneck"]


def tree_layout(table: pd.DataFrame) -> pd.DataFrame:
    """x/y positions of every respondent (y = -wave; trees side by side, largest first)."""
    tree = build_tree(table["respondent_id"], table["recruiter_id"])
    n = tree.n
    parent, wave, order = tree.parent, tree.wave, tree.bfs_order
    leaves = np.where(tree.n_recruits == 0, 1.0, 0.0)
    for v in order[::-1]:  # children before parents
        p = parent[v]
        if p >= 0:
            leaves[p] += leaves[v]
    start = np.zeros(n)
    seeds = np.flatnonzero(tree.is_seed)
    seeds = seeds[np.argsort(-tree.chain_size[seeds], kind="stable")]
    gap = 1.0
    pos = 0.0
    for s in seeds:
        start[s] = pos
        pos += leaves[s] + gap
    offsets, kids = tree.children
    for v in order:
        acc = start[v]
        for c in kids[offsets[v]:offsets[v + 1]]:
            start[c] = acc
            acc += leaves[c]
    x = start + leaves / 2.0
    return pd.DataFrame({"respondent_id": tree.ids, "x": x, "y": -wave.astype(float), "parent": parent})


def plot_recruitment_trees(table: pd.DataFrame, *, color_by: str | None = None, title: str | None = None,
                           max_levels: int = 12) -> Figure:
    """All recruitment trees in one figure, respondents coloured by ``color_by`` (seeds drawn as squares)."""
    lay = tree_layout(table)
    width = float(min(40.0, max(6.0, lay["x"].max() / 12.0 + 4)))
    depth = float(-lay["y"].min()) if len(lay) else 0.0
    fig, ax = plt.subplots(figsize=(width, float(min(14.0, 2.5 + 0.6 * depth))))
    x, y, par = lay["x"].to_numpy(), lay["y"].to_numpy(), lay["parent"].to_numpy()
    has = par >= 0
    segs = np.stack([np.column_stack([x[par[has]], y[par[has]]]), np.column_stack([x[has], y[has]])], axis=1)
    ax.add_collection(LineCollection(segs, colors="0.6", linewidths=0.6, zorder=1))
    seed = ~has
    size = float(max(4.0, min(40.0, 4000.0 / max(len(lay), 1))))
    if color_by is None:
        ax.scatter(x[~seed], y[~seed], s=size, c="tab:blue", zorder=2)
        ax.scatter(x[seed], y[seed], s=size * 1.8, c="tab:blue", marker="s", zorder=3, label="seed")
    else:
        vals = table[color_by].astype(object).where(table[color_by].notna(), "(missing)").astype(str).to_numpy()
        levels = list(pd.Series(vals).value_counts().index[:max_levels])
        vals = np.where(np.isin(vals, levels), vals, "(other)")
        levels += ["(other)"] if (vals == "(other)").any() else []
        cmap = plt.get_cmap("tab10" if len(levels) <= 10 else "tab20")
        for k, lv in enumerate(levels):
            m = vals == lv
            ax.scatter(x[m & ~seed], y[m & ~seed], s=size, color=cmap(k % cmap.N), zorder=2, label=lv)
            ax.scatter(x[m & seed], y[m & seed], s=size * 1.8, color=cmap(k % cmap.N), marker="s", zorder=3)
        ax.legend(title=color_by, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_yticks(-np.arange(int(depth) + 1))
    ax.set_yticklabels([str(w) for w in range(int(depth) + 1)])
    ax.set_ylabel("wave")
    ax.set_xticks([])
    ax.set_xlim(-1, max(1.0, float(x.max()) + 1) if len(x) else 1)
    ax.set_ylim(-depth - 0.5, 0.5)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    n_seeds = int(seed.sum())
    ax.set_title(title or f"Recruitment trees: {len(lay)} respondents, {n_seeds} seeds (squares)")
    fig.tight_layout()
    return fig


def plot_convergence(table: pd.DataFrame, var: str, *, title: str | None = None) -> Figure:
    """Cumulative sample composition of ``var`` by wave: lines should flatten (equilibrium)."""
    comp = cumulative_composition(table, var)
    fig, ax = plt.subplots(figsize=(7, 4))
    for lv in comp.columns[1:]:
        ax.plot(comp["wave"], comp[lv], marker="o", label=str(lv))
    ax.set_xlabel("wave (cumulative: waves 0 … w)")
    ax.set_ylabel(f"share of respondents")
    ax.set_ylim(0, 1)
    ax.legend(title=var, frameon=False)
    ax.set_title(title or f"Convergence of the sample composition: {var}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_bottleneck(table: pd.DataFrame, var: str, *, level: str | None = None, min_chain: int = 2,
                    title: str | None = None) -> Figure:
    """Per-seed cumulative share of one level of ``var`` by wave (one line per chain of ≥ ``min_chain``).

    Chains that settle at different values suggest a bottleneck (chains that do not mix).
    """
    comp = seed_composition(table, var)
    levels = [c for c in comp.columns if c not in ("seed_id", "wave", "n")]
    if level is None:
        level = sorted(levels)[-1] if levels else None
    fig, ax = plt.subplots(figsize=(7, 4))
    sizes = comp.groupby("seed_id")["n"].max()
    overall = cumulative_composition(table, var)
    for sid, grp in comp.groupby("seed_id", sort=False):
        if sizes[sid] < min_chain or level not in grp:
            continue
        ax.plot(grp["wave"], grp[level], color="0.5", alpha=0.6, lw=1)
    if level in overall:
        ax.plot(overall["wave"], overall[level], color="tab:red", lw=2.5, label="whole sample")
    ax.set_xlabel("wave (cumulative within each chain)")
    ax.set_ylabel(f"share {var} = {level}")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    ax.set_title(title or f"Bottleneck check: {var} = {level}, one grey line per seed")
    fig.tight_layout()
    return fig
