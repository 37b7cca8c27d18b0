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
from matplotlib.lines import Line2D  # noqa: E402

from hiddenpop.errors import RecruitmentError  # noqa: E402
from hiddenpop.referrals.fieldstatus import cumulative_composition, seed_composition  # noqa: E402
from hiddenpop.rds.tree import build_tree  # noqa: E402

__all__ = ["tree_layout", "level_names", "plot_recruitment_trees", "plot_convergence", "plot_bottleneck"]


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


def _natural(levels: list[str]) -> list[str]:
    """Levels in numeric order when they are numbers, else alphabetical; ``(missing)`` last."""
    real = [lv for lv in levels if lv != "(missing)"]
    try:
        real = sorted(real, key=float)
    except ValueError:
        real = sorted(real)
    return real + (["(missing)"] if "(missing)" in levels else [])


def level_names(values: pd.Series, name: str, labels: dict[str, str] | None = None) -> dict[str, str]:
    """Names of the levels of a variable for keys and legends.

    ``labels`` maps a level as text (``"1"``) to its name (``"unregistered"``). Without it, a 0/1 (or
    true/false) variable is named after itself: ``0`` is ``not <name>``, ``1`` is ``<name>``.

    >>> level_names(pd.Series([0, 1, None]), "registered")
    {'0': 'not registered', '1': 'registered'}
    >>> level_names(pd.Series([1, 2]), "registered", {"1": "unregistered", "2": "registered"})
    {'1': 'unregistered', '2': 'registered'}
    """
    if labels:
        return {str(k): str(v) for k, v in labels.items()}
    present = set(values.dropna().astype(str).str.strip())
    if present and present <= {"0", "1", "0.0", "1.0"}:
        return {"0": f"not {name}", "1": name}
    if present and present <= {"False", "True"}:
        return {"False": f"not {name}", "True": name}
    return {}


def plot_recruitment_trees(table: pd.DataFrame, *, color_by: str | None = None, title: str | None = None,
                           max_levels: int = 12, label_seeds: int = 60, labels: dict[str, str] | None = None,
                           max_chains: int = 60) -> Figure:
    """All recruitment trees in one figure, respondents coloured by ``color_by``.

    Seeds are squares at wave 0 (labelled with their id when there are at most ``label_seeds``
    of them), recruits are dots, lines go from recruiter to recruit; trees are side by side,
    largest first. A categorical variable (or a numeric one with at most ``max_levels`` values)
    gets one colour per level with a key above the plot (missing values grey, rare levels
    pooled as ``(other)``); a numeric variable with more values gets a colour scale. The key names
    the levels (:func:`level_names`: ``labels``, or ``not registered``/``registered`` for a 0/1
    variable) and counts every respondent.

    A finished study often has hundreds of chains that stopped after one wave. With more than
    ``max_chains`` chains, the chains of at most one wave are summarised in one line under the
    title instead of drawn (and if that still leaves too many, the smallest of the rest too), so the
    deep chains stay readable.
    """
    from hiddenpop.rds.tree import build_tree as _build

    full = table.reset_index(drop=True)
    hidden_note = ""
    if len(full):
        tr = _build(full["respondent_id"], full["recruiter_id"])
        seed_pos = tr.seed
        n_chains = int(tr.is_seed.sum())
        if n_chains > max_chains:
            depth_of = np.zeros(tr.n, dtype=np.int64)
            np.maximum.at(depth_of, seed_pos, tr.wave)
            roots = np.flatnonzero(tr.is_seed)
            deep = roots[depth_of[roots] >= 2]
            deep = deep[np.argsort(-tr.chain_size[deep], kind="stable")][:max_chains]
            shown = np.isin(seed_pos, deep)
            short = roots[~np.isin(roots, deep)]
            one_wave = int((depth_of[short] <= 1).sum())
            n_hidden = int((~shown).sum())
            parts = []
            if one_wave:
                parts.append(f"{one_wave} chains of at most one wave")
            if len(short) - one_wave:
                parts.append(f"{len(short) - one_wave} smaller deeper chains")
            hidden_note = (f"not drawn: {' and '.join(parts)} ({n_hidden} respondents, "
                           f"{int((~shown & ~tr.is_seed).sum())} of them recruits)")
            table = full[shown].reset_index(drop=True)
    lay = tree_layout(table)
    n = len(lay)
    width = float(min(40.0, max(7.0, lay["x"].max() / 12.0 + 3))) if n else 7.0
    depth = float(-lay["y"].min()) if n else 0.0
    fig, ax = plt.subplots(figsize=(width, float(min(14.0, 3.2 + 0.6 * depth))))
    x, y, par = lay["x"].to_numpy(), lay["y"].to_numpy(), lay["parent"].to_numpy()
    has = par >= 0
    segs = np.stack([np.column_stack([x[par[has]], y[par[has]]]), np.column_stack([x[has], y[has]])], axis=1)
    ax.add_collection(LineCollection(segs, colors="0.65", linewidths=0.6, zorder=1))
    seed = ~has
    size = float(max(3.0, min(40.0, 4000.0 / max(n, 1))))
    handles = []
    if color_by is not None and color_by not in table.columns:
        from hiddenpop.referrals.fieldstatus import variable_names

        raise RecruitmentError(f"no column '{color_by}'", where=f"--var {color_by}",
                               fix=f"choose one of {variable_names(table)}")
    if color_by is None:
        ax.scatter(x[~seed], y[~seed], s=size, color="tab:blue", zorder=2)
        ax.scatter(x[seed], y[seed], s=size * 2.2, color="tab:blue", marker="s", zorder=3)
    else:
        raw = table[color_by]
        num = pd.to_numeric(raw, errors="coerce")
        numeric = bool(num.notna().sum() == raw.notna().sum() and raw.notna().any())
        if numeric and num.dropna().nunique() > max_levels:
            v = num.to_numpy(dtype=float)
            ok = ~np.isnan(v)
            ax.scatter(x[~ok], y[~ok], s=size, color="0.8", zorder=2)
            sc = ax.scatter(x[ok & ~seed], y[ok & ~seed], s=size, c=v[ok & ~seed], cmap="viridis", zorder=2,
                            vmin=np.nanmin(v), vmax=np.nanmax(v))
            ax.scatter(x[ok & seed], y[ok & seed], s=size * 2.2, c=v[ok & seed], cmap="viridis", marker="s",
                       zorder=3, vmin=np.nanmin(v), vmax=np.nanmax(v))
            fig.colorbar(sc, ax=ax, label=color_by + (" (grey: missing)" if (~ok).any() else ""), shrink=0.8,
                         pad=0.01)
        else:
            names = level_names(full[color_by], color_by, labels)
            vals = raw.astype(object).where(raw.notna(), None).to_numpy(dtype=object)
            all_vals = full[color_by].astype(object).where(full[color_by].notna(), None).to_numpy(dtype=object)
            def as_levels(v_arr: np.ndarray) -> np.ndarray:
                if numeric:  # 1.0 and 1 are the same level; print whole numbers without ".0"
                    v_arr = np.array([None if v is None else (str(int(float(v))) if float(v).is_integer()
                                                              else str(v)) for v in v_arr], dtype=object)
                return np.array(["(missing)" if v is None else str(v) for v in v_arr], dtype=object)

            vals, all_vals = as_levels(vals), as_levels(all_vals)
            counts = pd.Series(all_vals).value_counts()
            top = [lv for lv in counts.index if lv != "(missing)"][:max_levels]
            vals = np.where(np.isin(vals, top + ["(missing)"]), vals, "(other)")
            all_vals = np.where(np.isin(all_vals, top + ["(missing)"]), all_vals, "(other)")
            levels = _natural(list(set(all_vals) - {"(other)"})) + (["(other)"] if (all_vals == "(other)").any()
                                                                     else [])
            cmap = plt.get_cmap("tab10" if len(levels) <= 10 else "tab20")
            k = 0
            for lv in levels:
                if lv in ("(missing)", "(other)"):
                    colour = "0.8" if lv == "(missing)" else "0.45"
                else:
                    colour = cmap(k % cmap.N)
                    k += 1
                m = vals == lv
                ax.scatter(x[m & ~seed], y[m & ~seed], s=size, color=colour, zorder=2)
                ax.scatter(x[m & seed], y[m & seed], s=size * 2.2, color=colour, marker="s", zorder=3)
                handles.append(Line2D([], [], ls="", marker="o", color=colour, markersize=7,
                                      label=f"{names.get(lv, lv)} ({int((all_vals == lv).sum())})"))
    shape = [Line2D([], [], ls="", marker="s", color="0.3", markersize=7, label="seed"),
             Line2D([], [], ls="", marker="o", color="0.3", markersize=6, label="recruit")]
    key_rows = 1
    if handles:
        ncol = min(len(handles) + 2, max(2, int(width // 1.8)))
        key_rows = -(-(len(handles) + 2) // ncol)
        ax.legend(handles=handles + shape, title=f"{color_by} (respondents)", loc="lower left",
                  bbox_to_anchor=(0.0, 1.01), ncol=ncol, frameon=False,
                  alignment="left", fontsize=9, title_fontsize=9, handletextpad=0.2, columnspacing=1.2)
    else:
        ax.legend(handles=shape, loc="lower left", bbox_to_anchor=(0.0, 1.01), ncol=2, frameon=False, fontsize=9)
    n_seeds = int(seed.sum())
    if 0 < n_seeds <= label_seeds:
        # labels side by side if they fit between neighbouring seeds, else slanted
        sx = np.sort(x[seed])
        pts_per_unit = 0.85 * width * 72.0 / max(1.0, float(x.max()) + 2.0)
        gap = float(np.diff(sx).min()) * pts_per_unit if n_seeds > 1 else np.inf
        longest = max(len(str(v)) for v in lay["respondent_id"].to_numpy()[seed])
        rot = 0 if gap > 0.62 * 8 * longest + 6 else 60
        for i in np.flatnonzero(seed):
            ax.annotate(str(lay["respondent_id"].iat[i]), (x[i], y[i]), xytext=(0, 7), textcoords="offset points",
                        ha="center" if rot == 0 else "left", va="bottom", fontsize=8, rotation=rot, color="0.2")
    ax.set_yticks(-np.arange(int(depth) + 1))
    ax.set_yticklabels([str(w) for w in range(int(depth) + 1)])
    ax.set_ylabel("wave")
    ax.set_xticks([])
    ax.set_xlim(-1, max(1.0, float(x.max()) + 1) if n else 1)
    ax.set_ylim(-depth - 0.4, 0.6 if n_seeds <= label_seeds else 0.4)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    if hidden_note:
        head = f"Recruitment trees: {len(full)} respondents, {n_chains} chains ({n_seeds} deepest drawn)"
        ax.text(0.0, -0.02, hidden_note, transform=ax.transAxes, ha="left", va="top", fontsize=9, color="0.25")
    else:
        head = f"Recruitment trees: {n} respondents in {n_seeds} chains (largest first)"
    ax.set_title(title or head, pad=(26 + 14 * key_rows) if handles else 24, loc="left")
    fig.tight_layout()
    return fig


def plot_convergence(table: pd.DataFrame, var: str, *, title: str | None = None) -> Figure:
    """Cumulative sample composition of ``var`` by wave: lines should flatten (equilibrium).

    The x axis also shows how many respondents the cumulative shares rest on (``n``); missing
    values of ``var`` are left out of the shares.

    For field coordinators: the **unweighted sample composition** by wave, from the store's
    respondents table (:func:`hiddenpop.referrals.fieldstatus.cumulative_composition`). The
    statisticians' R-style convergence plot of **weighted RDS estimates** by recruitment order is
    :func:`hiddenpop.rds.diagnostics.convergence_plot`; different quantities, different pictures.
    """
    comp = cumulative_composition(table, var)
    levels = _natural([str(c) for c in comp.columns[1:]])
    ok = table[var].notna()
    n_cum = table.loc[ok, "wave"].value_counts().sort_index().cumsum().reindex(comp["wave"]).to_numpy()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for lv in levels:
        ax.plot(comp["wave"], comp[lv], marker="o", label=str(lv))
    ax.set_xticks(comp["wave"].to_numpy())
    ax.set_xticklabels([f"{w}\nn={int(k)}" for w, k in zip(comp["wave"], n_cum)], fontsize=8)
    ax.set_xlabel("wave (shares among respondents of waves 0 … w)")
    ax.set_ylabel("share of respondents")
    ax.set_ylim(0, 1)
    ax.legend(title=var, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title or f"Convergence of the sample composition: {var}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_bottleneck(table: pd.DataFrame, var: str, *, level: str | None = None, min_chain: int = 2,
                    label_chains: int = 12, title: str | None = None) -> Figure:
    """Per-seed cumulative share of one level of ``var`` by wave (one line per chain of ≥ ``min_chain``).

    Chains that settle at different values suggest a bottleneck (chains that do not mix). Lines
    end with the seed id and chain size when there are at most ``label_chains`` chains; the red
    line is the whole sample.

    For field coordinators: **unweighted shares** within each chain, cumulative by wave
    (:func:`hiddenpop.referrals.fieldstatus.seed_composition`). The statisticians' R-style bottleneck
    plot of **weighted RDS estimates** by recruitment order within each chain is
    :func:`hiddenpop.rds.diagnostics.bottleneck_plot`.
    """
    comp = seed_composition(table, var)
    levels = _natural([c for c in comp.columns if c not in ("seed_id", "wave", "n")])
    if level is None:
        level = levels[-1] if levels else None
    level = None if level is None else str(level)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    sizes = comp.groupby("seed_id")["n"].max()
    overall = cumulative_composition(table, var)
    chains = [(sid, grp) for sid, grp in comp.groupby("seed_id", sort=False)
              if sizes[sid] >= min_chain and level in grp]
    ends = []
    for sid, grp in chains:
        ax.plot(grp["wave"], grp[level], color="0.5", alpha=0.6, lw=1)
        ends.append((float(grp["wave"].iat[-1]), float(grp[level].iat[-1]), f"{sid} (n={int(sizes[sid])})"))
    if len(chains) <= label_chains:
        # labels at the end of each line, pushed apart vertically where lines end close together
        for w in sorted({e[0] for e in ends}):
            group = sorted([e for e in ends if e[0] == w], key=lambda e: e[1])
            ys = [e[1] for e in group]
            for i in range(1, len(ys)):
                ys[i] = max(ys[i], ys[i - 1] + 0.055)
            shift = max(0.0, ys[-1] - 1.0) if ys else 0.0
            for (wx, wy, text), ly in zip(group, ys):
                ax.annotate(text, (wx, wy), xytext=(wx + 0.12, ly - shift), fontsize=7, va="center", color="0.3",
                            arrowprops={"arrowstyle": "-", "color": "0.75", "lw": 0.5})
    if level in overall:
        ax.plot(overall["wave"], overall[level], color="tab:red", lw=2.5, label="whole sample")
    ax.plot([], [], color="0.5", lw=1, label=f"one chain (seed), {len(chains)} with ≥ {min_chain} respondents")
    ax.set_xlabel("wave (cumulative within each chain)")
    ax.set_ylabel(f"share with {var} = {level}")
    ax.set_ylim(-0.02, 1.02)
    if len(comp):
        ax.set_xlim(-0.2, float(comp["wave"].max()) + (1.0 if len(chains) <= label_chains else 0.2))
        ax.set_xticks(np.arange(int(comp["wave"].max()) + 1))
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(0.0, -0.16), ncol=2)
    ax.grid(alpha=0.3)
    ax.set_title(title or f"Bottleneck check: share {var} = {level} by chain")
    fig.tight_layout()
    return fig
