"""Speed of the estimation engine against a straightforward numpy implementation (same run).

1,000,000 rows, 40 strata, 2,000 PSUs (50 per stratum), three raking margins with
2 × 4 × 20 levels. Targets (issue 5): linearised stratified cluster mean ≤ 0.01 s;
500 bootstrap replicates created and applied ≤ 0.3 s; raking to three margins ≤ 0.15 s.

The baselines are what one writes first with numpy: per-stratum loops with boolean masks
for the linearised variance, an (n × B) replicate-weight matrix for the bootstrap, and
row-level IPF (multiplying row weights by margin factors each sweep).

Run:  .venv/bin/python benchmarks/bench_weights.py
"""
from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import pandas as pd

from hiddenpop.weights.calibrate import calibrate
from hiddenpop.weights.design import Design
from hiddenpop.weights.estimate import mean
from hiddenpop.weights.replicates import make_replicates

N, STRATA, PSUS, B = 1_000_000, 40, 2_000, 500


def make_data(rng: np.random.Generator) -> pd.DataFrame:
    psu = np.sort(rng.integers(0, PSUS, N))
    stratum = psu // (PSUS // STRATA)
    u = rng.normal(size=PSUS)[psu]
    return pd.DataFrame({
        "stratum": stratum, "psu": psu, "w": rng.uniform(5, 50, N), "y": 2 + u + rng.normal(size=N),
        "sex": rng.integers(0, 2, N), "age": rng.integers(0, 4, N), "region": rng.integers(0, 20, N),
    })


def timeit(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# ---- baselines --------------------------------------------------------------------------
def baseline_mean(df: pd.DataFrame) -> tuple[float, float]:
    w, y, h, c = (df[k].to_numpy() for k in ("w", "y", "stratum", "psu"))
    nhat = w.sum()
    ybar = (w * y).sum() / nhat
    z = w * (y - ybar) / nhat
    v = 0.0
    for s in np.unique(h):
        m = h == s
        _, inv = np.unique(c[m], return_inverse=True)
        t = np.bincount(inv, z[m])
        v += len(t) / (len(t) - 1) * ((t - t.mean()) ** 2).sum()
    return ybar, np.sqrt(v)


def baseline_bootstrap(df: pd.DataFrame, rng: np.random.Generator) -> float:
    w, y, h, c = (df[k].to_numpy() for k in ("w", "y", "stratum", "psu"))
    thetas = np.empty(B)
    psus_of = {s: np.unique(c[h == s]) for s in np.unique(h)}
    factor = np.ones((PSUS, B))
    for s, ps in psus_of.items():
        nh = len(ps)
        for r in range(B):
            draws = rng.integers(0, nh, nh - 1)
            factor[ps, r] = np.bincount(draws, minlength=nh) * nh / (nh - 1)
    for r in range(B):  # row-level replicate weights, one column at a time
        wr = w * factor[c, r]
        thetas[r] = (wr * y).sum() / wr.sum()
    return np.sqrt(((thetas - thetas.mean()) ** 2).sum() / (B - 1))


def baseline_rake(df: pd.DataFrame, targets: list[tuple[str, np.ndarray]]) -> np.ndarray:
    w = df["w"].to_numpy().copy()
    codes = [(df[k].to_numpy(), t) for k, t in targets]
    for _ in range(100):
        old = w.copy()
        for code, t in codes:
            tot = np.bincount(code, w, minlength=len(t))
            w *= (t / tot)[code]
        if np.max(np.abs(w - old)) < 1e-10 * w.sum() / len(w):
            break
    return w


def main() -> None:
    rng = np.random.default_rng(2024)
    df = make_data(rng)
    design = Design(weight_col="w", stratum_col="stratum", psu_col="psu")
    t0 = time.perf_counter()
    prepared = design.prepare(df)
    t_prepare = time.perf_counter() - t0
    total_w = df.w.sum()
    sex_t = np.array([0.45, 0.55]) * total_w
    age_t = np.array([0.3, 0.3, 0.25, 0.15]) * total_w
    reg_t = np.linspace(1, 2, 20) / np.linspace(1, 2, 20).sum() * total_w
    margins = pd.DataFrame(
        [("sex", str(i), t) for i, t in enumerate(sex_t)] + [("age", str(i), t) for i, t in enumerate(age_t)]
        + [("region", str(i), t) for i, t in enumerate(reg_t)], columns=["variable", "level", "total"])

    # correctness cross-checks of the two routes
    e = mean(df, "y", prepared)
    ybar, se = baseline_mean(df)
    assert abs(e.estimate - ybar) < 1e-12 * abs(ybar) and abs(e.se - se) < 1e-9 * se
    res = calibrate(df, prepared.weights, margins, method="rake")
    wb = baseline_rake(df, [("sex", sex_t), ("age", age_t), ("region", reg_t)])
    assert np.max(np.abs(res.weights - wb) / wb) < 1e-6

    def ours_boot():
        rf = make_replicates(None, prepared, method="bootstrap", reps=B, rng=1)
        return mean(df, "y", prepared, replicates=rf).se

    rows = [
        ("linearised stratified cluster mean (+SE, deff)", lambda: mean(df, "y", prepared), lambda: baseline_mean(df),
         0.01, 15),
        ("500 bootstrap replicates created and applied", ours_boot,
         lambda: baseline_bootstrap(df, np.random.default_rng(1)), 0.3, 5),
        ("raking to 3 margins (2 x 4 x 20 levels)", lambda: calibrate(df, prepared.weights, margins, method="rake"),
         lambda: baseline_rake(df, [("sex", sex_t), ("age", age_t), ("region", reg_t)]), 0.15, 7),
    ]
    print(f"hiddenpop weights benchmark: {N:,} rows, {STRATA} strata, {PSUS:,} PSUs; python {sys.version.split()[0]}, "
          f"numpy {np.__version__}")
    print(f"design.prepare (once, codes + PSU weight totals): {t_prepare:.3f} s\n")
    print("| task | hiddenpop median (s) | numpy baseline median (s) | speed-up | target (s) | met |")
    print("|---|---:|---:|---:|---:|:-:|")
    for name, ours, base, target, rep in rows:
        t_ours = timeit(ours, rep)
        t_base = timeit(base, 3 if rep > 3 else 1)
        print(f"| {name} | {t_ours:.4f} | {t_base:.4f} | {t_base / t_ours:.1f}x | {target} | "
              f"{'yes' if t_ours <= target else 'NO'} |")


if __name__ == "__main__":
    main()
