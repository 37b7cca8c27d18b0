"""Benchmark: import + validate + waves for 100,000 respondents (target < 5 s).

Prints medians of 3 runs and the ratio against a direct pandas read of the same CSV, in the same
process. Run: .venv/bin/python benchmarks/bench_referrals.py
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from hiddenpop.io.store import ReferralStore
from hiddenpop.rds.validate import validate_log
from hiddenpop.io.referrals import read_referral_log

N = 100_000


def make_log(path: Path, n: int, rng) -> None:
    parent = np.full(n, -1)
    n_seeds = n // 100
    parent[n_seeds:] = [int(rng.integers(max(0, i - 2000), i)) for i in range(n_seeds, n)]
    issued = [[] for _ in range(n)]
    redeemed = [""] * n
    for i in range(n_seeds, n):
        code = f"C{i:07d}"
        issued[parent[i]].append(code)
        redeemed[i] = code
    t0 = pd.Timestamp("2024-05-01T08:00:00")
    df = pd.DataFrame({
        "respondent_id": [f"R{i:07d}" for i in range(n)],
        "redeemed_coupon": redeemed,
        "issued_coupons": [";".join(c) for c in issued],
        "point_id": [f"P{i:05d}" if i < n_seeds else "" for i in range(n)],
        "network_size": rng.integers(5, 400, n),
        "interview_time": [(t0 + pd.Timedelta(minutes=i)).isoformat() for i in range(n)],
        "registered": rng.integers(0, 2, n),
    })
    df.to_csv(path, index=False)


def timed(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    rng = np.random.default_rng(1)
    d = Path(tempfile.mkdtemp())
    log = d / "log.csv"
    make_log(log, N, rng)
    counter = iter(range(100))

    def import_validate_waves():
        st = ReferralStore.create(d / f"s{next(counter)}.db")
        res = st.import_file(log)
        assert res.n_new == N, res.summary()
        t = st.respondents()
        assert int(t["wave"].max()) > 0

    rows = [
        ("pandas read_csv (baseline)", timed(lambda: pd.read_csv(log))),
        ("read_referral_log", timed(lambda: read_referral_log(log))),
        ("validate_log", timed(lambda: validate_log(read_referral_log(log)))),
        ("store import + validate + waves", timed(import_validate_waves)),
    ]
    base = rows[0][1]
    print(f"n = {N:,} respondents\n")
    print("| step | median s | ratio to pandas read |")
    print("|---|---|---|")
    for name, t in rows:
        print(f"| {name} | {t:.2f} | {t / base:.1f} |")


if __name__ == "__main__":
    main()
