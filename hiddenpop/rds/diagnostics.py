"""RDS diagnostics: can the estimates be trusted?

* :func:`cumulative_estimates` / :func:`convergence_plot` -- the estimate recomputed on the first k
  respondents in recruitment order (R ``convergence.plot``); a curve still drifting at the end means
  the sample has not forgotten its seeds.
* :func:`cumulative_estimates` with ``by_seed=True`` / :func:`bottleneck_plot` -- the same within each
  seed's chain (R ``bottleneck.plot``); chains settling at very different values point to bottlenecks
  (weakly connected sub-populations).
* :func:`recruitment_homophily` -- observed same-group recruitments over the number expected without
  homophily, ``sum_k T_kk / (sum_k r_k c_k / sum T)`` (R ``homophily.estimates(recruitment=TRUE)``).
* :func:`population_homophily` -- Fellows/R's estimate of network homophily per level: expected
  discordant ties without homophily over the estimated discordant ties,
  ``2 p dbar_1 (1-p) dbar_0 / (E[s01] dbar)`` (R ``homophily.estimates``).
* :func:`differential_activity` -- weighted mean degree per level and its ratio to the rest
  (R ``differential.activity.estimates`` for the level compared with all others).
* :func:`transition_matrix` -- recruiter-group × recruit-group counts, row proportions and the
  equilibrium (stationary) distribution of the recruitment Markov chain, next to sample shares.

Numbers come back as DataFrames, plots as matplotlib Figures (nothing is written or shown).

References
----------
Gile, K. J., Johnston, L. G., & Salganik, M. J. (2015). Diagnostics for respondent-driven sampling.
JRSS A 178(1), 241-269.

Examples
--------
>>> import pandas as pd
>>> from hiddenpop.rds.sample import rds_sample_from_table
>>> t = pd.DataFrame({"id": range(1, 7), "recruiter.id": [0, 1, 1, 2, 3, 3],
...                   "network.size": [3, 4, 2, 5, 3, 6], "g": list("aabbab")})
>>> s = rds_sample_from_table(t)
>>> recruitment_homophily(s, "g").round(4).to_dict("records")[0]
{'outcome': 'g', 'recruitment_homophily': 0.8333, 'n_transitions': 5}
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop.errors import DegreeImputedWarning, EstimationError
from hiddenpop.rds.estimators import (ESTIMATOR_LABELS, check_population_size, estimate, hajek_mean,
                                      outcome_codes, rds_weights, stationary_distribution, transition_counts)
from hiddenpop.rds.sample import RDSSample

__all__ = ["cumulative_estimates", "convergence_plot", "bottleneck_plot", "recruitment_homophily",
           "population_homophily", "differential_activity", "transition_matrix", "default_diagnostic_estimator"]

_CUMSUM_ESTIMATORS = ("rds-ii", "mean")


def default_diagnostic_estimator(sample: RDSSample, population_size: Any = None) -> str:
    """R's default for homophily/activity: SS when N is known, else RDS-II."""
    return "ss" if sample.mid_population_size(population_size) is not None else "rds-ii"


def _categorical(sample: RDSSample, outcome: str) -> tuple[np.ndarray, list[str]]:
    codes, levels, kind = outcome_codes(sample.outcome(outcome))
    if kind != "categorical":
        raise EstimationError(f"{outcome!r} is numeric; this diagnostic needs a categorical variable",
                              fix="use a categorical variable (or a 0/1 indicator); if the numbers are category "
                                  "codes (1/2/3), declare them with --categorical " + str(outcome))
    return codes, levels


def cumulative_estimates(sample: RDSSample, outcome: str, *, estimator: str = "rds-ii", by_seed: bool = False,
                         n_points: int | None = None, population_size: Any = None, degree_rule: str = "max",
                         rng: Any = None, ss_method: str = "deterministic") -> pd.DataFrame:
    """Estimates on the first k respondents in recruitment order, for growing k.

    Parameters
    ----------
    sample, outcome
        The RDS sample and outcome.
    estimator
        Any key of :data:`~hiddenpop.rds.estimators.ESTIMATORS`. ``rds-ii`` and ``mean`` are computed
        for every k by cumulative sums; other estimators are recomputed on ``n_points`` prefixes
        (default 50) with the same population size.
    by_seed
        Cumulate within each seed's chain (bottleneck diagnostic).
    n_points
        Number of prefixes for recomputed estimators (default: every k for cumulative sums, 50 else).

    Returns
    -------
    pandas.DataFrame
        Columns ``seed_id`` (only with ``by_seed``), ``n_respondents``, ``level``, ``estimate``.

    Examples
    --------
    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> s = rds_sample_from_table(pd.DataFrame({"id": [1, 2, 3], "recruiter.id": [0, 1, 2],
    ...                           "network.size": [1, 1, 2], "y": [1, 0, 1]}))
    >>> cumulative_estimates(s, "y").query("level == '1'")["estimate"].round(3).tolist()
    [1.0, 0.5, 0.6]
    """
    order = sample.order()
    groups = [("", order)]
    if by_seed:
        seed_of = sample.tree.seed[order]
        groups = [(str(sample.ids[s]), order[seed_of == s]) for s in pd.unique(seed_of)]
    frames = []
    codes_all, levels, kind = outcome_codes(sample.outcome(outcome))
    if estimator in _CUMSUM_ESTIMATORS:       # whole-sample weights and values, sliced per chain below
        w_all = (1.0 / sample.clean_degree(degree_rule, warn=False) if estimator == "rds-ii"
                 else np.ones(sample.n))
        if kind == "numeric":
            y_all = pd.to_numeric(sample.outcome(outcome), errors="coerce").to_numpy(dtype=float)
    for seed_id, idx in groups:
        if estimator in _CUMSUM_ESTIMATORS:
            w = w_all[idx]
            k = np.arange(1, len(idx) + 1)
            if kind == "numeric":
                y = y_all[idx]
                ok = ~np.isnan(y)
                with np.errstate(invalid="ignore", divide="ignore"):
                    est = np.cumsum(np.where(ok, w * y, 0.0)) / np.cumsum(np.where(ok, w, 0.0))
                part = pd.DataFrame({"n_respondents": k, "level": None, "estimate": est})
            else:
                c = codes_all[idx]
                den = np.cumsum(np.where(c >= 0, w, 0.0))
                parts = []
                for j, lev in enumerate(levels):
                    with np.errstate(invalid="ignore", divide="ignore"):
                        est = np.cumsum(np.where(c == j, w, 0.0)) / den
                    parts.append(pd.DataFrame({"n_respondents": k, "level": lev, "estimate": est}))
                part = pd.concat(parts, ignore_index=True)
        else:
            N = check_population_size(sample, population_size, required=estimator in ("ss", "hcg"),
                                      estimator=estimator)
            m = n_points or 50
            ks = np.unique(np.linspace(min(len(idx), max(2, len(idx) // m)), len(idx), m).round().astype(int))
            rows = []
            for kk in ks:
                sub = sample.subset(idx[:kk])
                try:
                    # the degree rule was already reported once for the whole sample; saying it
                    # again for each of the ~50 prefixes only buries the message
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", DegreeImputedWarning)
                        e = estimate(sub, outcome, estimator=estimator, population_size=N,
                                     degree_rule=degree_rule, rng=rng, ss_method=ss_method)
                except EstimationError:
                    continue
                for lev in (levels if kind == "categorical" else [None]):
                    hit = e[e["level"] == lev]["estimate"] if lev is not None else e["estimate"]
                    rows.append({"n_respondents": int(kk), "level": lev,
                                 "estimate": float(hit.iloc[0]) if len(hit) else 0.0})
            part = pd.DataFrame(rows, columns=["n_respondents", "level", "estimate"])
        if by_seed:
            part.insert(0, "seed_id", seed_id)
        frames.append(part)
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(([("seed_id")] if by_seed else []) + ["level", "n_respondents"],
                           kind="stable").reset_index(drop=True)


def _plot_levels(data: pd.DataFrame, *, by_seed: bool, outcome: str, estimator: str, final: pd.Series | None,
                 levels: Sequence[str] | None):
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    levs = list(levels) if levels is not None else [lv for lv in pd.unique(data["level"])]
    if len(levs) == 2:  # a binary outcome: one panel (the second level) says everything
        levs = levs[1:]
    label = ESTIMATOR_LABELS.get(estimator, estimator)
    fig = Figure(figsize=(7.5 if by_seed else 6.5, 2.6 * len(levs) + 0.7), layout="constrained")
    axes = fig.subplots(len(levs), 1, squeeze=False)[:, 0]
    for ax, lev in zip(axes, levs):
        sub = data[data["level"].isna()] if lev is None else data[data["level"] == lev]
        if by_seed:
            for seed_id, g in sub.groupby("seed_id", sort=False):
                ax.plot(g["n_respondents"], g["estimate"], lw=1,
                        label=f"seed {seed_id} ({int(g['n_respondents'].max())} respondents)")
        else:
            ax.plot(sub["n_respondents"], sub["estimate"], color="C0", lw=1.5,
                    label="estimate from the first k respondents")
        if final is not None and (lev in final.index):
            ax.axhline(final[lev], color="0.25", ls="--", lw=1.2,
                       label=f"estimate from the whole sample ({final[lev]:.3f})")
        ax.set_ylabel(f"estimated mean of {outcome}" if lev is None else f"estimated share with\n{outcome} = {lev}")
        ax.grid(alpha=0.3)
        handles, _ = ax.get_legend_handles_labels()
        if not by_seed:
            ax.legend(fontsize=8, loc="best")
        elif len(handles) <= 13:                   # seeds + the reference line; beyond that a key is unreadable
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    axes[-1].set_xlabel("number of respondents so far, in recruitment order"
                        + (" within each seed's chain" if by_seed else ""))
    what = ("Bottleneck plot: does every seed's chain settle at the same value?" if by_seed
            else "Convergence plot: does the estimate settle as respondents are added?")
    fig.suptitle(f"{what}\n{outcome}, {label} estimator", fontsize=10)
    return fig


def convergence_plot(sample: RDSSample, outcome: str, *, estimator: str = "rds-ii", **kwargs: Any):
    """Figure of :func:`cumulative_estimates` (one panel per level; the second level only for a binary
    outcome), with the full-sample estimate dashed.

    For statisticians: **weighted RDS estimates** (``estimator``) from the first k respondents in
    recruitment order, as R ``convergence.plot``. The field coordinators' picture,
    :func:`hiddenpop.referrals.plots.plot_convergence`, shows instead the **unweighted sample
    composition** of waves 0..w from the store table; different quantities, so the two are kept
    apart.

    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> s = rds_sample_from_table(pd.DataFrame({"id": [1, 2, 3], "recruiter.id": [0, 1, 2],
    ...                           "network.size": [1, 1, 2], "y": [1, 0, 1]}))
    >>> type(convergence_plot(s, "y")).__name__
    'Figure'
    """
    data = cumulative_estimates(sample, outcome, estimator=estimator, **kwargs)
    final = data.groupby(data["level"].fillna("__num__"), sort=False)["estimate"].last()
    final.index = [None if i == "__num__" else i for i in final.index]
    return _plot_levels(data, by_seed=False, outcome=outcome, estimator=estimator, final=final, levels=None)


def bottleneck_plot(sample: RDSSample, outcome: str, *, estimator: str = "rds-ii", **kwargs: Any):
    """Figure of per-seed cumulative estimates (:func:`cumulative_estimates` with ``by_seed=True``).

    For statisticians: **weighted RDS estimates** within each seed's chain, by recruitment order
    (R ``bottleneck.plot``), with the whole-sample estimate dashed. The field coordinators'
    picture, :func:`hiddenpop.referrals.plots.plot_bottleneck`, shows instead the **unweighted share**
    of one level within each chain, cumulative by wave; see also :func:`convergence_plot`.
    """
    data = cumulative_estimates(sample, outcome, estimator=estimator, by_seed=True, **kwargs)
    final_all = cumulative_estimates(sample, outcome, estimator=estimator, **kwargs)
    final = final_all.groupby(final_all["level"].fillna("__num__"), sort=False)["estimate"].last()
    final.index = [None if i == "__num__" else i for i in final.index]
    return _plot_levels(data, by_seed=True, outcome=outcome, estimator=estimator, final=final, levels=None)


def transition_matrix(sample: RDSSample, outcome: str) -> pd.DataFrame:
    """Recruitment transition counts, row proportions and the equilibrium distribution.

    Returns
    -------
    pandas.DataFrame
        One row per recruiter level: ``recruiter_level``, ``to_<level>`` counts, ``p_to_<level>`` row
        proportions (NaN for a level that recruited nobody), ``n_recruitments``, ``equilibrium``
        (stationary distribution of the row proportions; a row without transitions gets uniform
        proportions as in R's 0.1 fill) and ``sample_share``.

    Examples
    --------
    >>> import pandas as pd
    >>> from hiddenpop.rds.sample import rds_sample_from_table
    >>> s = rds_sample_from_table(pd.DataFrame({"id": [1, 2, 3, 4], "recruiter.id": [0, 1, 2, 3],
    ...                           "network.size": [1, 1, 2, 2], "g": list("abab")}))
    >>> transition_matrix(s, "g")[["recruiter_level", "to_a", "to_b", "equilibrium"]].values.tolist()
    [['a', 0, 2, 0.5], ['b', 1, 0, 0.5]]
    """
    codes, levels = _categorical(sample, outcome)
    K = len(levels)
    T = transition_counts(codes, sample.recruiter, K)
    filled = T.copy()
    filled[filled.sum(axis=1) == 0, :] = 0.1
    P = filled / filled.sum(axis=1, keepdims=True)
    try:
        q = stationary_distribution(P)
    except EstimationError:
        q = np.full(K, np.nan)
    rows = T.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        props = T / rows[:, None]
    share = np.bincount(codes[codes >= 0], minlength=K) / max((codes >= 0).sum(), 1)
    out = pd.DataFrame({"recruiter_level": levels})
    for j, lev in enumerate(levels):
        out[f"to_{lev}"] = T[:, j].astype(int)
    for j, lev in enumerate(levels):
        out[f"p_to_{lev}"] = props[:, j]
    out["n_recruitments"] = rows.astype(int)
    out["equilibrium"] = q
    out["sample_share"] = share
    return out


def recruitment_homophily(sample: RDSSample, outcome: str) -> pd.DataFrame:
    """Recruitment homophily ``sum_k T_kk / (sum_k r_k c_k / sum T)`` (R ``homophily.estimates`` with
    ``recruitment=TRUE``): 1 means recruits are of the recruiter's group as often as chance predicts.

    One number for the whole outcome, a **ratio** (observed over expected same-group
    recruitments; 1 = none, > 1 = homophily), for statisticians comparing with R. Not the same
    quantity as :func:`hiddenpop.referrals.fieldstatus.recruitment_homophily`, the field report's
    per-level Heckathorn (2002) index ``H_k`` on a -1..1 scale (0 = none) computed from the store's
    respondents table; both start from the same recruiter-group × recruit-group counts ``T``
    (:func:`~hiddenpop.rds.estimators.transition_counts` here), so they are kept apart on purpose.
    """
    codes, levels = _categorical(sample, outcome)
    T = transition_counts(codes, sample.recruiter, len(levels))
    total = T.sum()
    expected = np.sum(T.sum(axis=1) * T.sum(axis=0)) / total if total else np.nan
    value = np.trace(T) / expected if total else np.nan
    return pd.DataFrame({"outcome": [outcome], "recruitment_homophily": [value], "n_transitions": [int(total)]})


def population_homophily(sample: RDSSample, outcome: str, *, estimator: str | None = None,
                         population_size: Any = None, degree_rule: str = "max", rng: Any = None,
                         ss_method: str = "deterministic") -> pd.DataFrame:
    """Estimated population (network) homophily per level, as R ``homophily.estimates``.

    For level ``k`` (indicator ``y``): respondents' ties to each group are estimated from their recruits'
    groups (``deg1 = d × share of recruits in k``); respondents without recruits get weight 0. With
    Hájek means under the estimator's weights: ``p`` = share in k, ``dbar_1``/``dbar_0`` mean degrees
    in/out of k, ``dbar`` overall, ``s01`` discordant ties; homophily =
    ``2 p dbar_1 (1-p) dbar_0 / (mean(s01) dbar)``. 1 = random mixing, >1 = homophily.
    ``estimator`` defaults to SS when N is known, else RDS-II (R's default).

    Returns
    -------
    pandas.DataFrame
        ``outcome, level, population_homophily, estimator``.
    """
    codes, levels = _categorical(sample, outcome)
    est = estimator or default_diagnostic_estimator(sample, population_size)
    w_all = rds_weights(sample, est, outcome=outcome, population_size=population_size, degree_rule=degree_rule,
                        rng=rng, ss_method=ss_method).to_numpy()
    deg = sample.clean_degree(degree_rule, warn=False)
    par = sample.recruiter
    has = par >= 0
    rows = []
    for j, lev in enumerate(levels):
        y = np.where(codes >= 0, (codes == j).astype(float), np.nan)
        yr = y[has]
        okr = ~np.isnan(yr)
        rec_in = np.bincount(par[has][okr], weights=yr[okr], minlength=sample.n)
        rec_known = np.bincount(par[has][okr], minlength=sample.n).astype(float)
        w = w_all.copy()
        w[rec_known == 0] = 0.0  # R: respondents with no (known) recruits carry no tie information
        with np.errstate(invalid="ignore", divide="ignore"):
            deg1 = np.where(rec_known > 0, rec_in * deg / rec_known, 0.0)
            deg0 = np.where(rec_known > 0, (rec_known - rec_in) * deg / rec_known, 0.0)
        p = hajek_mean(w, y)
        d1 = hajek_mean(w, deg * y) / p
        d0 = hajek_mean(w, deg * (1 - y)) / (1 - p)
        dbar = hajek_mean(w, np.where(np.isnan(y), np.nan, deg))
        s01 = y * deg0 + (1 - y) * deg1
        ms01 = hajek_mean(w, s01)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = 2 * p * d0 * (1 - p) * d1 / (ms01 * dbar)
        rows.append({"outcome": outcome, "level": lev, "population_homophily": float(value), "estimator": est})
    return pd.DataFrame(rows)


def differential_activity(sample: RDSSample, outcome: str, *, estimator: str | None = None,
                          population_size: Any = None, degree_rule: str = "max", rng: Any = None,
                          ss_method: str = "deterministic") -> pd.DataFrame:
    """Weighted mean degree per level and its ratio to the mean degree of everyone else.

    The ratio for a level equals R ``differential.activity.estimates`` when that level is compared with
    the rest (for a 0/1 outcome, R reports the ratio of level 1). ``estimator`` defaults to SS when N is
    known, else RDS-II.

    Returns
    -------
    pandas.DataFrame
        ``outcome, level, estimate, mean_degree, mean_degree_others, activity_ratio, estimator``.
    """
    codes, levels = _categorical(sample, outcome)
    est = estimator or default_diagnostic_estimator(sample, population_size)
    w = rds_weights(sample, est, outcome=outcome, population_size=population_size, degree_rule=degree_rule,
                    rng=rng, ss_method=ss_method).to_numpy()
    deg = sample.clean_degree(degree_rule, warn=False)
    rows = []
    for j, lev in enumerate(levels):
        y = np.where(codes >= 0, (codes == j).astype(float), np.nan)
        p = hajek_mean(w, y)
        d1 = hajek_mean(w, deg * y) / p
        d0 = hajek_mean(w, deg * (1 - y)) / (1 - p) if p < 1 else np.nan
        rows.append({"outcome": outcome, "level": lev, "estimate": p, "mean_degree": d1,
                     "mean_degree_others": d0, "activity_ratio": d1 / d0 if d0 else np.nan, "estimator": est})
    return pd.DataFrame(rows)
