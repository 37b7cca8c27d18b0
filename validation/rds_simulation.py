"""Long RDS simulation on the fauxmadrona population network (N = 1000, true prevalence 0.20).

Draws many without-replacement, degree-proportional RDS samples (hiddenpop.rds.simulate), estimates
the prevalence of ``disease`` with RDS-II, Gile's SS and HCG (N = 1000 known), and runs a tree
bootstrap (percentile 95 % interval) for RDS-II and SS on every sample to measure coverage.
Prints a Markdown table (copied into docs/rds-variance.md).

Usage: .venv/bin/python validation/rds_simulation.py [--reps 500] [--boot 300] [--rng-seed 2024]
"""
from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from hiddenpop.io import read_csv
from hiddenpop.rds.simulate import population_network, rds_simulation_study

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "rds_oracle" / "data"
TRUTH = 0.20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--boot", type=int, default=300)
    ap.add_argument("--rng-seed", type=int, default=2024)
    ap.add_argument("--sizes", default="500,200")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    net = population_network(read_csv(DATA / "fauxmadrona.network_nodes.csv"),
                             read_csv(DATA / "fauxmadrona.network_edges.csv"))
    assert abs(net.data["disease"].mean() - TRUTH) < 1e-12
    rng = np.random.default_rng(args.rng_seed)
    print(f"fauxmadrona network: N = {net.size}, prevalence {TRUTH}; {args.reps} samples per size, "
          f"10 seeds, 2 coupons; tree bootstrap B = {args.boot} (percentile 95 %)\n")
    print("| n | n/N | estimator | mean estimate | bias | sd | RMSE | mean abs. error | 95 % coverage (tree boot.) "
          "| mean interval width |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in (int(v) for v in args.sizes.split(",")):
        t0 = time.perf_counter()
        out = rds_simulation_study(net, outcome="disease", level="1", truth=TRUTH, n=n, reps=args.reps, rng=rng,
                                   estimators=("rds-ii", "ss", "hcg"), bootstrap_reps=args.boot,
                                   bootstrap_estimators=("rds-ii", "ss"))
        secs = time.perf_counter() - t0
        for est in ("rds-ii", "ss", "hcg"):
            x = out[est].to_numpy()
            cov = width = "–"
            if f"{est}_covers" in out:
                c = out[f"{est}_covers"].mean()
                cov = f"{c:.3f} ± {np.sqrt(c * (1 - c) / len(out)):.3f}"
                width = f"{(out[f'{est}_high'] - out[f'{est}_low']).mean():.3f}"
            print(f"| {n} | {n / net.size:.2f} | {est} | {x.mean():.4f} | {x.mean() - TRUTH:+.4f} ± "
                  f"{x.std(ddof=1) / np.sqrt(len(x)):.4f} | {x.std(ddof=1):.4f} | "
                  f"{np.sqrt(np.mean((x - TRUTH) ** 2)):.4f} | {np.mean(np.abs(x - TRUTH)):.4f} | {cov} | {width} |")
        closer = (np.abs(out["ss"] - TRUTH) < np.abs(out["rds-ii"] - TRUTH)).mean()
        closer_h = (np.abs(out["hcg"] - TRUTH) < np.abs(out["rds-ii"] - TRUTH)).mean()
        print(f"|   |   | share of samples where SS / HCG is closer to 0.20 than RDS-II: "
              f"{closer:.3f} / {closer_h:.3f} ({secs:.0f} s) | | | | | | | |")


if __name__ == "__main__":
    main()
