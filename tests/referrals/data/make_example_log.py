"""Write the bundled example referral logs (a Kobo-style export over 10 field days).

Run: .venv/bin/python tests/referrals/data/make_example_log.py  (deterministic, rng seed 2024).
day1 = interviews of days 1-5, day2 = the cumulative export of days 1-10 (as Kobo exports are).
Column names follow a team's own form (group prefixes, coupon_1..3), mapped by team_mapping.toml.
"""
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def make(rng_seed: int = 2024) -> pd.DataFrame:
    rng = np.random.default_rng(rng_seed)
    rows, queue, next_coupon = [], [], 1000
    start = pd.Timestamp("2024-05-01T09:00:00+03:00")
    for s in range(8):  # seeds found at first-stage points
        queue.append((None, None, 0, start + pd.Timedelta(hours=int(rng.integers(0, 72))), f"P-IST-{s + 1:04d}"))
    k = 0
    while queue and k < 150:
        recruiter, coupon, wave, when, point = queue.pop(0)
        k += 1
        rid = f"R{k:04d}"
        registered = int(rng.random() < (0.35 if wave == 0 else 0.25))
        degree = int(rng.integers(1, 25))
        n_coupons = 3 if wave < 5 else 0
        coupons = [f"C{next_coupon + j}" for j in range(n_coupons)]
        next_coupon += n_coupons
        rows.append({"group_hh/resp_code": rid, "group_hh/coupon_in": coupon or "",
                     **{f"coupon_{j + 1}": (coupons[j] if j < len(coupons) else "") for j in range(3)},
                     "group_net/q_know": degree, "group_net/q_know_unreg": int(rng.integers(0, degree + 1)),
                     "start": when.isoformat(), "point": point or "", "registered": registered,
                     "children_n": int(rng.integers(0, 5)), "phone": f"05{rng.integers(10**8, 10**9)}"})
        for c in coupons:
            if rng.random() < 0.55:
                queue.append((rid, c, wave + 1, when + pd.Timedelta(hours=int(rng.integers(6, 120))), None))
        queue.sort(key=lambda q: q[3])
    df = pd.DataFrame(rows)
    return df.sort_values("start", kind="stable").reset_index(drop=True)


if __name__ == "__main__":
    df = make()
    t = pd.to_datetime(df["start"])
    cut = pd.Timestamp("2024-05-06T00:00:00+03:00")
    df[t < cut].to_csv(HERE / "example_day1.csv", index=False)
    df[t < cut + pd.Timedelta(days=5)].to_csv(HERE / "example_day2.csv", index=False)
    print(len(df[t < cut]), len(df[t < cut + pd.Timedelta(days=5)]))
