"""Speed and memory of the two-stage weighting with 500 bootstrap replicates (issue 5, item 4).

A synthetic survey built here: ~20,000 households at 300 first-stage points in 6 strata;
half of the point households are unregistered and get 2 coupons, 70% of coupons are
redeemed (wave 1), 10% of nonresponse at the points. ``compute_weights`` redoes the whole
weighting (nonresponse within points, ĥ per stratum, GWSM) in each of B = 500 Rao–Wu
bootstrap replicates.

Baseline (same run, same replicate factors): the straightforward pandas re-implementation
a statistician would write first — per replicate, merge the point factors onto the
households, groupby for the nonresponse factors and the redemption rate, merge the
recruiters' weights onto their recruits, groupby-sum the referral terms. The two must agree
(max relative difference printed).

Also measured: peak memory (tracemalloc) of ``compute_weights`` keeping the n × B replicate
weights vs keeping only replicate totals (``replicate_vars``), against the P × B factor
matrix and an n × B matrix.

Run:  .venv/bin/python benchmarks/bench_pipeline.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np
import pandas as pd

from hiddenpop.weights.pipeline import compute_weights

N_POINTS, STRATA, B = 300, 6, 500


def make_survey(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """~20,000 households: point households (avg 45 per point) and their wave-1 recruits."""
    rows = []
    pts = pd.DataFrame({"point_id": [f"P{t:03d}" for t in range(N_POINTS)],
                        "stratum": [f"S{t % STRATA}" for t in range(N_POINTS)]})
    hid = 0
    k_t = rng.poisson(45, N_POINTS)  # recruits add ~40%
    for t in range(N_POINTS):
        for _ in range(k_t[t]):
            reg = int(rng.random() < 0.5)
            resp = int(rng.random() < 0.9)
            de = int(rng.integers(2, 9))
            rows.append((f"H{hid}", "point", pts.point_id[t], None, pts.stratum[t],
                         float(rng.uniform(0.01, 0.2)), reg, de + int(rng.integers(0, 5)), de,
                         2 if (reg == 0 and resp) else 0, resp, float(rng.poisson(2))))
            rec = f"H{hid}"
            hid += 1
            if reg == 0 and resp:
                for _ in range(2):
                    if rng.random() < 0.7:
                        rows.append((f"H{hid}", "referral", None, rec, pts.stratum[t], np.nan, 0,
                                     int(rng.integers(1, 10)), 0, 0, 1, float(rng.poisson(3))))
                        hid += 1
    hh = pd.DataFrame(rows, columns=["hh_id", "found_by", "point_id", "recruiter_id", "stratum", "stage1_prob",
                                     "registered", "network_size", "network_size_eligible", "referrals_given",
                                     "responded", "y"])
    return hh, pts


def baseline(hh: pd.DataFrame, psu_labels: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Per-replicate pandas GWSM: nonresponse in points, ĥ per stratum, referral terms by merge."""
    pt = hh[hh.found_by == "point"]
    ref = hh[hh.found_by == "referral"]
    out = np.empty((len(hh), factors.shape[1]))
    pos = {h: i for i, h in enumerate(hh.hh_id)}
    n_red = ref.groupby("recruiter_id").size()
    for b in range(factors.shape[1]):
        f = pd.Series(factors[:, b], index=psu_labels, name="f")
        p = pt.join(f, on="point_id")
        p["a0"] = p.f / p.stage1_prob
        tot = p.groupby("point_id").a0.sum()
        resp = p[p.responded == 1].groupby("point_id").a0.sum()
        nr = (tot / resp).fillna(1.0)
        p["a"] = np.where(p.responded == 1, p.a0 * p.point_id.map(nr), 0.0)
        p["red"] = p.hh_id.map(n_red).fillna(0.0)
        p["fn"] = p.f * p.point_id.map(nr)  # ĥ weights recruiters by factor × nonresponse adjustment
        use = p[(p.responded == 1) & (p.referrals_given > 0)]
        h = (use.fn * use.red).groupby(use.stratum).sum() / (use.fn * use.referrals_given).groupby(use.stratum).sum()
        p["rho"] = np.minimum(1.0, p.referrals_given / p.network_size_eligible) * p.stratum.map(h)
        r = ref.merge(p[["hh_id", "a", "rho"]], left_on="recruiter_id", right_on="hh_id", suffixes=("", "_rec"))
        r["term"] = np.where(r.a > 0, r.a / r.rho, 0.0)
        refsum = r.groupby("hh_id").term.sum()
        w = pd.Series(0.0, index=hh.hh_id)
        elig = hh.registered == 0
        links = np.where(elig, 1 + hh.network_size, 1.0)
        a_all = pd.Series(0.0, index=hh.hh_id)
        a_all[p.hh_id] = p.a.to_numpy()
        w[:] = (a_all.to_numpy() + refsum.reindex(hh.hh_id, fill_value=0.0).to_numpy()) / links
        out[:, b] = w.to_numpy()
    del pos
    return out


def timed(fn, repeat: int) -> tuple[float, object]:
    times, res = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), res


def peak_mb(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2 ** 20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    hh, pts = make_survey(np.random.default_rng(2024))
    n, n_resp = len(hh), int(hh.responded.sum())
    print(f"{n} households ({n_resp} respondents, {int((hh.found_by == 'referral').sum())} referred), "
          f"{N_POINTS} points, {STRATA} strata, B = {B}")

    def ours():
        return compute_weights(hh, points=pts, replicates="bootstrap", reps=B, rng=7)

    def lean():
        return compute_weights(hh, points=pts, replicates="bootstrap", reps=B, rng=7, replicate_vars=["y"])

    t_ours, res = timed(ours, args.repeat)
    t_lean, _ = timed(lean, args.repeat)
    f = res.factors
    labels = np.asarray(f.psu_keys["psu"])
    t_base, base = timed(lambda: baseline(hh, labels, f.factors), 1 if args.repeat < 3 else 2)
    resp = hh.responded.to_numpy() == 1
    ours_w = res.replicate_weights
    base_w = base[resp]
    diff = float(np.max(np.abs(ours_w - base_w)) / np.max(np.abs(base_w)))
    print(f"{'step':58s} {'median s':>9s} {'ratio':>7s}")
    print(f"{'baseline: pandas per replicate (merge/groupby)':58s} {t_base:9.2f} {1.0:7.2f}")
    print(f"{'compute_weights, 500 replicates, n x B replicate weights':58s} {t_ours:9.2f} {t_base / t_ours:7.1f}x")
    print(f"{'compute_weights, 500 replicates, replicate totals only':58s} {t_lean:9.2f} {t_base / t_lean:7.1f}x")
    print(f"max relative difference ours vs baseline replicate weights: {diff:.2e}")
    m_full = peak_mb(ours)
    m_lean = peak_mb(lean)
    print(f"peak memory: n x B weights kept {m_full:.1f} MB, totals only {m_lean:.1f} MB "
          f"(P x B factors {f.factors.nbytes / 2 ** 20:.1f} MB, one n x B matrix {n_resp * B * 8 / 2 ** 20:.1f} MB)")


if __name__ == "__main__":
    main()
