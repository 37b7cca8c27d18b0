"""Repeated-sampling studies: draw the two-stage design many times and score every weighting method.

Each replicate draws a full sample (:class:`~hiddenpop.simulate.sampler.Sampler`), weights it
with every method of the weighting engine (:mod:`hiddenpop.weights.referral`: ``gwsm``,
``union``, ``multiplicity``) plus the stage-1-only Horvitz–Thompson estimator (``stage1``:
households found at points, weight 1/π¹), and estimates three targets with the engine's
estimators (:mod:`hiddenpop.weights.estimate`):

* ``unregistered_households``: total number of unregistered households;
* ``working_children``: total number of working children;
* ``work_rate_unregistered``: working children / children 6–17 in unregistered households (ratio).

Standard errors are the engine's linearised (ultimate-cluster, with-replacement) variance
with every household attached to the first-stage point its chain starts from (its PSU) and
the points as PSUs within strata, **empty points included** (an empty point is a valid zero;
docs/methods.md, 'Stage 1: points, circles and inclusion probabilities'). The study then reports, per method and
target, the bias with its Monte Carlo SE, the relative RMSE, the CV, the coverage of the 95% interval with its
Monte Carlo SE, and the cost (interviews).

Replicate ``i`` always uses the ``i``-th child of one :class:`numpy.random.SeedSequence`, so
results do not depend on the number of parallel workers (``jobs``).

References
----------
docs/methods.md, 'Stage 2: referrals and the generalised weight share method' (estimators) and 'Findings from
the simulation study'; Morris, White & Crowther (2019), "Using simulation studies to evaluate statistical
methods", Statistics in Medicine 38 (Monte Carlo standard errors of bias and coverage).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hiddenpop.errors import DesignError

__all__ = ["METHODS", "TARGETS", "VARIANCES", "StudyResult", "run_study", "replicate_estimates", "summarise",
           "summary_markdown", "study_figures", "seed_sequence"]

#: Weighting methods scored by the study (``stage1`` plus the engine's referral methods).
METHODS: tuple[str, ...] = ("stage1", "gwsm", "union", "multiplicity")
#: standard errors of each replication: PSU bootstrap redoing the weighting, or linearisation
VARIANCES: tuple[str, ...] = ("bootstrap", "linearization")

#: Targets: name -> (statistic, numerator column, denominator column or None, truth key).
TARGETS: dict[str, tuple[str, str, str | None, str]] = {
    "unregistered_households": ("total", "_unreg", None, "unregistered_households"),
    "working_children": ("total", "n_working", None, "working_children"),
    "work_rate_unregistered": ("ratio", "_work_unreg", "_kids_unreg", "work_rate_6_17_unregistered"),
}


def seed_sequence(rng: Any) -> np.random.SeedSequence:
    """A SeedSequence from an int, a SeedSequence or a Generator (never from hidden state).

    >>> seed_sequence(3).spawn(2)[1].generate_state(1).tolist() == seed_sequence(3).spawn(2)[1].generate_state(1).tolist()
    True
    """
    if rng is None:
        raise DesignError("no random number generator given", fix="pass rng=<int seed> (on the CLI: --rng-seed N)")
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, np.random.Generator):
        return np.random.SeedSequence(int(rng.integers(0, 2**63)))
    return np.random.SeedSequence(int(rng))


def _analysis_table(sample: Any) -> pd.DataFrame:
    hh = sample.households
    unreg = (hh["registered"] == 0).astype(float)
    return pd.DataFrame({
        "stratum": hh["stratum"].to_numpy(),
        "psu": hh["root_point_id"].to_numpy(),
        "_unreg": unreg.to_numpy(),
        "n_working": hh["n_working"].to_numpy(float),
        "_work_unreg": (hh["n_working"] * unreg).to_numpy(float),
        "_kids_unreg": (hh["n_children_6_17"] * unreg).to_numpy(float),
    })


def replicate_estimates(sample: Any, *, methods: Sequence[str] = METHODS, variance: str = "bootstrap",
                        bootstrap_reps: int = 100, rng: Any = None, level: float = 0.95) -> list[dict[str, Any]]:
    """Estimates (with SE and interval) of every target by every method for one sample.

    ``variance="bootstrap"`` (default, docs/methods.md, 'Variance: the point bootstrap and linearisation'):
    Rao–Wu–Yue rescaling bootstrap over the first-stage points (empty points included), the whole weighting
    redone in each replicate with every referral link following its recruiter's point (the engine's
    :func:`~hiddenpop.weights.referral.base_weights` with PSU factors). ``"linearization"``: the engine's
    ultimate-cluster variance with each household attached to its root point.

    Returns one dict per method × target: ``method, target, estimate, se, ci_low, ci_high,
    interviews, referral_share``.
    """
    from scipy.stats import norm

    from hiddenpop.weights.design import Design, LonelyPSU, as_prepared
    from hiddenpop.weights.estimate import ratio, total
    from hiddenpop.weights.referral import base_weights, prepare_sample
    from hiddenpop.weights.replicates import bootstrap_factors

    if variance not in VARIANCES:
        raise DesignError(f"unknown variance method {variance!r}", fix="use " + " or ".join(VARIANCES))
    hh = sample.households
    sel = sample.selections.rename(columns={"route": "found_by"})
    eligible = sample.design["referral"]["eligible"]
    s = prepare_sample(hh, selections=sel, referral_target=eligible)
    table = _analysis_table(sample)
    points = sample.points
    n_interviews = len(hh)
    n_s1 = int((hh["found_by"] == "point").sum())
    z = norm.ppf(0.5 + level / 2)

    def all_weights(factors: np.ndarray | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if "stage1" in methods or "gwsm" in methods:
            bw = base_weights(s, "gwsm", factors)
            # Σ over own point events of 1/π¹: the stage-1 HT weight (0 for referral-only households)
            out["stage1"] = (bw.self_term, np.zeros(s.n))
            out["gwsm"] = (bw.weight, bw.share_from_referral)
        for m in methods:
            if m not in out:
                bw = base_weights(s, m, factors)
                out[m] = (bw.weight, bw.share_from_referral)
        return out

    cols = {c: table[c].to_numpy(float) for c in ("_unreg", "n_working", "_work_unreg", "_kids_unreg")}

    def thetas(w: np.ndarray) -> np.ndarray:
        out = []
        for stat, num, den, _ in TARGETS.values():
            t = float(w @ cols[num])
            out.append(t if stat == "total" else t / float(w @ cols[den]))
        return np.array(out)

    out = []
    if variance == "bootstrap":
        pdesign = as_prepared(points.assign(_w=1.0), Design(weight_col="_w", stratum_col="stratum",
                                                              psu_col="point_id", lonely_psu=LonelyPSU.ADJUST))
        rf = bootstrap_factors(pdesign, reps=int(bootstrap_reps), rng=rng)
        row_of_point = pd.Series(pdesign.psu_codes, index=points["point_id"].astype(str).to_numpy())
        f_s = rf.factors[row_of_point.loc[s.psu_labels.astype(str)].to_numpy(), :]
    else:
        empty = points.loc[~points["point_id"].isin(set(table["psu"])), ["point_id", "stratum"]]
        # an empty point is a PSU with total zero: one row with y = 0 (weight 1 changes no total or ratio)
        dummies = pd.DataFrame({"stratum": empty["stratum"].to_numpy(), "psu": empty["point_id"].to_numpy(),
                                "_unreg": 0.0, "n_working": 0.0, "_work_unreg": 0.0, "_kids_unreg": 0.0})
        design = Design(weight_col="weight", stratum_col="stratum", psu_col="psu", lonely_psu=LonelyPSU.ADJUST)
    full = all_weights(None)
    if variance == "bootstrap":
        boot = {m: np.empty((rf.n_replicates, len(TARGETS))) for m in methods}
        for r in range(rf.n_replicates):
            ws = all_weights(f_s[:, r])
            for m in methods:
                boot[m][r] = thetas(ws[m][0])
    for method in methods:
        w, share = full[method]
        est = thetas(w)
        if variance == "bootstrap":
            se = np.sqrt(np.clip(np.diag(np.atleast_2d(rf.variance(boot[method], est))), 0, None))
        else:
            keep = w > 0
            data = pd.concat([table.loc[keep].assign(weight=w[keep]), dummies.assign(weight=1.0)], ignore_index=True)
            prepared = as_prepared(data, design)          # strata/PSUs factorised once for the three targets
            se = np.array([(total(data, num, prepared) if stat == "total" else ratio(data, num, den, prepared)).se
                           for stat, num, den, _ in TARGETS.values()])
        for i, (target, (stat, num, den, _)) in enumerate(TARGETS.items()):
            yw = w * table[num].to_numpy()
            ref_share = float((yw * share).sum() / yw.sum()) if yw.sum() > 0 else float("nan")
            out.append({"method": method, "target": target, "estimate": float(est[i]), "se": float(se[i]),
                        "ci_low": float(est[i] - z * se[i]), "ci_high": float(est[i] + z * se[i]),
                        "interviews": n_s1 if method == "stage1" else n_interviews, "referral_share": ref_share})
    return out


# ------------------------------------------------------------------------- parallel workers
_WORKER: dict[str, Any] = {}


def _init_worker(population: Any, design: dict[str, Any], options: dict[str, Any],
                 ignore_interrupt: bool = False) -> None:
    from hiddenpop.simulate.sampler import Sampler

    if ignore_interrupt:
        # worker processes leave Ctrl-C to the parent, which keeps the finished replications
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)

    _WORKER["sampler"] = Sampler(population, design)
    _WORKER["options"] = options


def _run_chunk(args: tuple[list[int], list[np.random.SeedSequence], tuple[str, ...]]) -> list[dict[str, Any]]:
    import warnings

    from hiddenpop.errors import HiddenPopWarning

    indices, seeds, methods = args
    sampler = _WORKER["sampler"]
    rows = []
    for i, ss in zip(indices, seeds):
        draw_ss, boot_ss = ss.spawn(2)
        sample = sampler.draw(rng=np.random.default_rng(draw_ss))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", HiddenPopWarning)
            estimates = replicate_estimates(sample, methods=methods, rng=np.random.default_rng(boot_ss),
                                            **_WORKER["options"])
        for r in estimates:
            r["replicate"] = i
            rows.append(r)
    return rows


@dataclass(frozen=True, eq=False)
class StudyResult:
    """Per-replicate estimates, the summary table and the truth they are scored against."""

    replicates: pd.DataFrame
    summary: pd.DataFrame
    truth: dict[str, float]
    design: dict[str, Any] = field(default_factory=dict)
    #: True when the run was interrupted (Ctrl-C): the tables hold the replications finished before.
    interrupted: bool = False


def run_study(population: Any, design: dict[str, Any] | None = None, *, reps: int, rng: Any, jobs: int = 1,
              methods: Sequence[str] = METHODS, variance: str = "bootstrap", bootstrap_reps: int = 100,
              chunk_size: int = 5, start: int = 0,
              progress: Callable[[int], None] | None = None) -> StudyResult:
    """Draw ``reps`` two-stage samples and score every weighting method.

    Parameters
    ----------
    population : Population
        From :func:`~hiddenpop.simulate.generate_population` or
        :func:`hiddenpop.io.population.read_population`.
    design : dict
        Overrides of :data:`hiddenpop.simulate.sampler.DEFAULT_DESIGN` (the design.toml).
    reps : int
        Number of replications.
    rng : int, SeedSequence or Generator
        Root of the replicates' independent seed sequences.
    jobs : int
        Worker processes (``concurrent.futures.ProcessPoolExecutor``); 1 runs in this process.
        The result does not depend on ``jobs``.
    methods : sequence of str
        Subset of :data:`METHODS`.
    variance, bootstrap_reps
        How each replicate's standard errors are computed (see :func:`replicate_estimates`).
    start : int
        Index of the first replication: ``start=400, reps=100`` runs replications 400–499 of
        the same seed sequence, so a long study can be run (and checkpointed) in blocks whose
        concatenation equals one run of ``start + reps`` replications.
    progress : callable, optional
        Called with the number of replicates finished since the last call.

    Returns
    -------
    StudyResult
        On Ctrl-C (``KeyboardInterrupt``) after at least one block of replications has
        finished, the result of the finished replications with ``interrupted=True`` (worker
        processes are stopped); before that, the interrupt propagates.

    Examples
    --------
    >>> from hiddenpop.simulate import generate_population
    >>> pop = generate_population({"households": {"n": 3000}}, rng=1)
    >>> res = run_study(pop, {"stage1": {"points": 40}}, reps=3, rng=2, methods=("gwsm",), bootstrap_reps=20)
    >>> sorted(res.summary["target"])
    ['unregistered_households', 'work_rate_unregistered', 'working_children']
    """
    from hiddenpop.simulate.sampler import merge_design

    design = merge_design(design)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise DesignError(f"unknown method(s) {', '.join(unknown)}", fix=f"use some of {', '.join(METHODS)}")
    if reps < 2:
        raise DesignError(f"reps = {reps} is too few", fix="ask for at least 2 replications (hundreds for a study)")
    if start < 0:
        raise DesignError(f"start = {start} is negative", fix="start at replication 0 or later")
    seeds = seed_sequence(rng).spawn(int(start) + int(reps))[int(start):]
    options = {"variance": variance, "bootstrap_reps": int(bootstrap_reps)}
    chunks = [(list(range(start + lo, start + min(lo + chunk_size, reps))), seeds[lo:lo + chunk_size], tuple(methods))
              for lo in range(0, reps, chunk_size)]
    rows: list[dict[str, Any]] = []
    interrupted = False
    if jobs <= 1:
        _init_worker(population, design, options)
        try:
            for ch in chunks:
                rows.extend(_run_chunk(ch))
                if progress is not None:
                    progress(len(ch[0]))
        except KeyboardInterrupt:
            if not rows:
                raise
            interrupted = True
        finally:
            _WORKER.clear()
    else:
        pool = ProcessPoolExecutor(max_workers=int(jobs), initializer=_init_worker,
                                   initargs=(population, design, options, True))
        try:
            for ch, result in zip(chunks, pool.map(_run_chunk, chunks)):
                rows.extend(result)
                if progress is not None:
                    progress(len(ch[0]))
        except KeyboardInterrupt:
            # stop the workers now rather than after their current block
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            if not rows:
                raise
            interrupted = True
        else:
            pool.shutdown()
    replicates = pd.DataFrame(rows)
    replicates = replicates[["replicate", "method", "target", "estimate", "se", "ci_low", "ci_high", "interviews",
                             "referral_share"]].sort_values(["replicate", "method", "target"], kind="stable")
    truth = population.truth()
    return StudyResult(replicates=replicates.reset_index(drop=True), summary=summarise(replicates, truth),
                       truth=truth, design=design, interrupted=interrupted)


def summarise(replicates: pd.DataFrame, truth: dict[str, float]) -> pd.DataFrame:
    """Bias, Monte Carlo SEs, relative RMSE, CV, coverage and cost per method × target.

    Monte Carlo SEs (Morris et al. 2019): bias ± sd(θ̂)/√R; coverage ± √(c(1−c)/R).

    >>> reps = pd.DataFrame({"replicate": [0, 1, 2, 3], "method": "gwsm", "target": "working_children",
    ...                      "estimate": [9.0, 11.0, 10.0, 10.0], "se": 1.0, "ci_low": [7.0, 9.0, 8.0, 10.5],
    ...                      "ci_high": [11.0, 13.0, 12.0, 12.0], "interviews": 5, "referral_share": 0.5})
    >>> s = summarise(reps, {"working_children": 10.0}).iloc[0]
    >>> float(s["bias"]), float(s["coverage"]), round(float(s["rel_rmse"]), 4)  # rmse = sqrt(2/4)/10
    (0.0, 0.75, 0.0707)
    """
    rows = []
    for (method, target), g in replicates.groupby(["method", "target"], sort=False):
        t = float(truth[TARGETS[target][3]]) if target in TARGETS else float(truth[target])
        est = g["estimate"].to_numpy(float)
        r = len(est)
        sd = float(est.std(ddof=1)) if r > 1 else float("nan")
        bias = float(est.mean() - t)
        cover = float(((g["ci_low"] <= t) & (t <= g["ci_high"])).mean())
        rows.append({
            "method": method, "target": target, "truth": t, "mean_estimate": float(est.mean()),
            "bias": bias, "rel_bias": bias / t, "bias_mcse": sd / math.sqrt(r), "bias_z": bias / (sd / math.sqrt(r)),
            "rel_rmse": float(np.sqrt(np.mean((est - t) ** 2)) / t), "cv": sd / t,
            "mean_se_ratio": float(g["se"].mean() / sd) if sd > 0 else float("nan"),
            "coverage": cover, "coverage_mcse": math.sqrt(cover * (1 - cover) / r),
            "interviews": float(g["interviews"].mean()), "referral_share": float(g["referral_share"].mean()),
            "reps": r,
        })
    order = {m: i for i, m in enumerate(METHODS)}
    out = pd.DataFrame(rows)
    out["_o"] = out["method"].map(order)
    return out.sort_values(["target", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)


_LABELS = {"stage1": "stage-1 HT only", "gwsm": "GWSM", "union": "union probability",
           "multiplicity": "multiplicity / expected hits"}


def summary_markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table (one row per target × method).

    >>> s = pd.DataFrame([{"method": "gwsm", "target": "working_children", "truth": 10.0, "rel_bias": 0.001,
    ...     "bias_z": 0.2, "rel_rmse": 0.1, "cv": 0.1, "coverage": 0.95, "coverage_mcse": 0.01,
    ...     "mean_se_ratio": 1.0, "interviews": 500.0, "reps": 100}])
    >>> print(summary_markdown(s).splitlines()[2])
    | working_children | GWSM | 10 | +0.10% (0.2) | 0.100 | 0.100 | 95.0% ± 1.0 | 1.00 | 500 |
    """
    lines = ["| target | method | truth | bias (bias / MC SE) | rel. RMSE | CV | 95% coverage ± MC SE | "
             "mean SE / SD | interviews |",
             "|---|---|---|---|---|---|---|---|---|"]
    for _, r in summary.iterrows():
        lines.append(
            f"| {r['target']} | {_LABELS.get(r['method'], r['method'])} | {r['truth']:.6g} | "
            f"{100 * r['rel_bias']:+.2f}% ({r['bias_z']:.1f}) | {r['rel_rmse']:.3f} | {r['cv']:.3f} | "
            f"{100 * r['coverage']:.1f}% ± {100 * r['coverage_mcse']:.1f} | {r['mean_se_ratio']:.2f} | "
            f"{r['interviews']:.0f} |")
    return "\n".join(lines) + "\n"


def study_figures(result: StudyResult) -> dict[str, Any]:
    """Figures of a study: relative error distributions and coverage per method and target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reps, summary = result.replicates, result.summary
    targets = list(dict.fromkeys(summary["target"]))
    methods = [m for m in METHODS if m in set(summary["method"])]
    fig1, axes = plt.subplots(1, len(targets), figsize=(4.2 * len(targets), 3.6), squeeze=False)
    for ax, target in zip(axes[0], targets):
        t = float(summary.loc[summary["target"] == target, "truth"].iloc[0])
        data = [(reps.loc[(reps["target"] == target) & (reps["method"] == m), "estimate"].to_numpy() - t) / t * 100
                for m in methods]
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(methods) + 1), methods, rotation=20)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(target.replace("_", " "), fontsize=10)
        ax.set_ylabel("error (% of truth)")
    fig1.suptitle(f"Estimates over {int(summary['reps'].max())} replications")
    fig1.tight_layout()
    fig2, axes = plt.subplots(1, len(targets), figsize=(4.2 * len(targets), 3.2), squeeze=False)
    for ax, target in zip(axes[0], targets):
        sub = summary[summary["target"] == target].set_index("method").reindex(methods)
        ax.errorbar(range(len(methods)), 100 * sub["coverage"], yerr=200 * sub["coverage_mcse"], fmt="o")
        ax.axhline(95, color="k", lw=0.8, ls="--")
        ax.set_xticks(range(len(methods)), methods, rotation=20)
        ax.set_ylim(max(0, 100 * sub["coverage"].min() - 10), 100)
        ax.set_title(target.replace("_", " "), fontsize=10)
        ax.set_ylabel("95% CI coverage (%) ± 2 MC SE")
    fig2.tight_layout()
    return {"errors": fig1, "coverage": fig2}
