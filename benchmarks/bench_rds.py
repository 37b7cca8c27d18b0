"""Speed of the RDS estimators and the vectorised tree bootstrap on synthetic recruitment trees.

For n = 10,000 and 100,000 respondents (population size N = 10 n) this times every point estimator,
the tree bootstrap of RDS-II with B = 1000, and the target combination (RDS-II + SS + tree bootstrap
B = 1000; target: < 30 s and < 2 GB at n = 100,000). The baseline, run in the same process, is a
straightforward tree bootstrap with a Python loop per respondent and per replicate, timed at small B
and extrapolated linearly to B = 1000. Peak memory is the process's peak RSS (resource.getrusage).

Usage: .venv/bin/python benchmarks/bench_rds.py [--sizes 10000,100000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time
import warnings

import numpy as np
import pandas as pd

from hiddenpop.rds.bootstrap import tree_bootstrap
from hiddenpop.rds.estimators import estimate
from hiddenpop.rds.sample import rds_sample_from_table


# R RDS 0.9-10 gile.ss.weights on the same kind of synthetic tree (rds-reference section 6)
R_SS_SECONDS = {10_000: "1.0 s", 100_000: "10.3 s"}


def synthetic_table(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """A random recruitment forest: n/500 seeds, up to 3 coupons, recruits ~ {0: .3, 1: .25, 2: .25, 3: .2}
    (mean 1.35, so chains grow), degree ~ 1 + lognormal, a binary trait more common at high degree."""
    n_seeds = max(5, n // 500)
    parent = np.full(n, -1, np.int64)
    frontier = np.arange(n_seeds)
    filled = n_seeds
    while filled < n:
        if len(frontier) == 0:                       # chains died: add a seed
            frontier = np.array([filled])
            filled += 1
            continue
        k = rng.choice(4, size=len(frontier), p=[0.3, 0.25, 0.25, 0.2])
        kids_of = np.repeat(frontier, k)[: n - filled]
        new = np.arange(filled, filled + len(kids_of))
        parent[new] = kids_of
        filled += len(kids_of)
        frontier = new
    degree = 1 + np.floor(rng.lognormal(2.0, 0.8, n))
    trait = (rng.random(n) < 0.1 + 0.2 * (degree > np.median(degree))).astype(int)
    rec = np.where(parent >= 0, parent + 1, 0)
    return pd.DataFrame({"id": np.arange(1, n + 1), "recruiter.id": rec, "network.size": degree, "trait": trait})


def naive_tree_bootstrap(sample, reps: int, rng: np.random.Generator) -> np.ndarray:
    """Baseline: per replicate, regrow trees with a Python loop per respondent (fixed size by truncation)."""
    parent = sample.tree.parent
    kids = [[] for _ in range(sample.n)]
    for i, p in enumerate(parent):
        if p >= 0:
            kids[p].append(i)
    seeds = np.flatnonzero(parent < 0)
    w = 1 / sample.clean_degree(warn=False)
    y = sample.data["trait"].to_numpy()
    out = np.empty(reps)
    for b in range(reps):
        chosen: list[int] = []
        while len(chosen) < sample.n:
            stack = [int(rng.choice(seeds))]
            while stack and len(chosen) < sample.n:
                node = stack.pop()
                chosen.append(node)
                k = kids[node]
                if k:
                    stack.extend(int(k[j]) for j in rng.integers(0, len(k), len(k)))
        idx = np.array(chosen)
        out[b] = np.sum(w[idx] * y[idx]) / np.sum(w[idx])
    return out


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--reps", type=int, default=1000)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(2024)
    rows = []
    for n in (int(v) for v in args.sizes.split(",")):
        table = synthetic_table(n, rng)
        N = 10 * n
        t0 = time.perf_counter()
        s = rds_sample_from_table(table, population_size=N)
        rows.append((n, "build sample (tree, waves)", time.perf_counter() - t0, ""))
        for est in ("mean", "rds-ii", "rds-i", "rds-i-ds", "ss", "hcg"):
            reps = 1 if est == "hcg" else args.repeats
            rows.append((n, f"point estimate {est}",
                         timed(lambda est=est: estimate(s, "trait", estimator=est, population_size=N, rng=1), reps), ""))
        t_sim = timed(lambda: estimate(s, "trait", estimator="ss", ss_method="simulation", population_size=N,
                                       rng=1), 1)
        rows.append((n, "point estimate ss, R's simulation scheme (6 x 500 successive samples)", t_sim,
                     f"R RDS 0.9-10: {R_SS_SECONDS[n]}" if n in R_SS_SECONDS else ""))
        t_boot = timed(lambda: tree_bootstrap(s, estimator="rds-ii", outcome="trait", reps=args.reps, rng=1),
                       max(1, args.repeats - 1))
        small_b = 3 if n <= 10_000 else 1
        t_naive = timed(lambda: naive_tree_bootstrap(s, small_b, np.random.default_rng(1)), 1) / small_b * args.reps
        rows.append((n, f"tree bootstrap RDS-II, B = {args.reps}", t_boot,
                     f"{t_naive / t_boot:.0f}x faster than the Python-loop baseline "
                     f"({t_naive:.0f} s, extrapolated from B = {small_b})"))
        t_ss_boot = timed(lambda: tree_bootstrap(s, estimator="ss", outcome="trait", population_size=N,
                                                 reps=100, rng=1), 1)
        rows.append((n, "tree bootstrap SS (refit per replicate), B = 100", t_ss_boot, ""))

        def target() -> None:
            estimate(s, "trait", estimator="rds-ii", population_size=N)
            estimate(s, "trait", estimator="ss", population_size=N)
            tree_bootstrap(s, estimator="rds-ii", outcome="trait", reps=args.reps, rng=1)
        t_target = timed(target, 1)
        rows.append((n, f"TARGET: RDS-II + SS + tree bootstrap B = {args.reps}", t_target,
                     f"peak RSS so far {peak_rss_mb():.0f} MB"))
    print(f"RDS benchmark (median of {args.repeats} runs where repeated; N = 10 n; "
          f"numpy {np.__version__}; peak RSS {peak_rss_mb():.0f} MB)\n")
    print("| n | task | seconds | notes |")
    print("|---:|---|---:|---|")
    for n, task, secs, note in rows:
        print(f"| {n:,} | {task} | {secs:.3f} | {note} |")


if __name__ == "__main__":
    main()
