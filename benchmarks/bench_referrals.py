"""Benchmark: import + validate + waves for 100,000 respondents (target < 5 s).

Prints medians of 3 runs and the ratio against a direct pandas read of the same CSV, in the same
process. Run: .venv/bin/python benchmarks/bench_referrals.py
"""
from __future__ import annotations

import os
import statistics
import warnings
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from hiddenpop.io.store import ReferralStore
from hiddenpop.referrals.validate import validate_log
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


def timed(fn, repeat: int = 3) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds (all threads of this process) of ``repeat`` runs.

    On a shared machine the wall-clock time grows with the other sessions' load; the CPU time
    is what the work itself costs (it is close to the wall-clock time on an idle machine, except
    for waiting on the disk).
    """
    walls, cpus = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def add_columns(src: Path, dst: Path, k: int, rng) -> None:
    """The same log with ``k`` extra carried-through columns (a wide Kobo form)."""
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    for j in range(k):
        df[f"q{j:02d}"] = rng.integers(0, 5, len(df)).astype(str)
    df.to_csv(dst, index=False)


def main() -> None:
    warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # mixed point_id column in the baseline read
    load0 = os.getloadavg()
    rng = np.random.default_rng(1)
    d = Path(tempfile.mkdtemp())
    log = d / "log.csv"
    make_log(log, N, rng)
    wide = d / "wide.csv"
    add_columns(log, wide, 30, rng)
    counter = iter(range(1000))

    def import_validate_waves(path):
        def run():
            st = ReferralStore.create(d / f"s{next(counter)}.db")
            res = st.import_file(path)
            assert res.n_new == N, res.summary()
            t = st.respondents()
            assert int(t["wave"].max()) > 0
        return run

    store = ReferralStore.create(d / "read.db")
    store.import_file(log)
    copies = iter(range(1, 1000))

    def reimport():
        # same rows, another checksum (blank lines added): every row is checked and found unchanged
        again = d / f"again{next(copies)}.csv"
        again.write_bytes(log.read_bytes() + b"\n" * next(copies))
        res = store.import_file(again)
        assert res.n_unchanged == N and res.n_new == 0, res.summary()

    base = timed(lambda: pd.read_csv(log))
    base_wide = timed(lambda: pd.read_csv(wide))
    rows = [
        ("pandas read_csv (baseline)", base, base),
        ("read_referral_log", timed(lambda: read_referral_log(log)), base),
        ("validate_log", timed(lambda: validate_log(read_referral_log(log))), base),
        ("store.respondents() (read back, waves, coupons)", timed(store.respondents), base),
        ("re-import of the same 100k rows (all unchanged)", timed(reimport), base),
        ("**store import + validate + waves**", timed(import_validate_waves(log)), base),
        ("pandas read_csv, 37 columns (baseline)", base_wide, base_wide),
        ("store import + validate + waves, 37 columns", timed(import_validate_waves(wide)), base_wide),
    ]
    load = os.getloadavg()
    print(f"n = {N:,} respondents; {os.cpu_count()} CPUs; load average before {load0[0]:.1f}, after {load[0]:.1f}\n")
    print("| step | median s (wall) | ratio to pandas read (wall) | median CPU s | ratio (CPU) |")
    print("|---|---|---|---|---|")
    for name, (t, c), (b, bc) in rows:
        print(f"| {name} | {t:.2f} | {t / b:.1f} | {c:.2f} | {c / bc:.1f} |")


if __name__ == "__main__":
    main()
