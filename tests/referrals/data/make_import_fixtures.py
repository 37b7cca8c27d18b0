"""Write the "finished study" import fixtures (issue #11): real-world coupon quirks in four layouts.

Run: .venv/bin/python tests/referrals/data/make_import_fixtures.py  (deterministic; rng seed 11).

quirks.*  one small study of 17 respondents, hand-checkable, in the layouts
          quirks.rdsat      RDSAT text (space-delimited, 3 coupon slots, NA symbol 0)
          quirks_rds.csv    R RDS's coupon CSV (id, network.size, own.coupon, coupon.1..3, variables; the
                            layout of RDS's extdata/nyjazz.csv, read in R with read.csv + rid.from.coupons)
          quirks_kobo.csv   Kobo export (group prefixes, start time, _uuid/_index), with quirks_kobo.toml
          quirks_kobo.xlsx  the same export as a workbook (numbers as number cells, codes as text cells)
study264.rdsat  a realistic finished study: 264 respondents, 7 coupon slots, NA symbol 0, coupon-book
          numbers 1425xxxx, seeds' pseudo-coupons 900+id (and 9000+id) in slot 7, the quirks below in
          about the proportions of real RDSAT files.

The quirks (each in quirks.* at least once, worked by hand below; the study264 counts are printed):
  A  coupon printed twice on one form (respondent 2 issued 1201 twice; 6 redeemed it)
  B  coupon issued to two respondents, nobody redeemed it (1777 to 5 and 6)
  C  seeds carry pseudo-coupons 900+id in their last issued slot (901, 902, 903)
  D  a pseudo-coupon redeemed by two people, one issuer (902 by 7 and 8; issued by seed 2)
  E  a redeemed coupon with two issuers (1888 issued to 10 and 11, redeemed by 12): ambiguous
  F  a redeemed coupon never issued (15 came with 5555): R makes 15 a seed
  G  spelling: ' 1101' (space), '1401.0' (spreadsheet), '01901' (leading zero) -- in the CSV and Kobo
     layouts only: R's read.csv reads these columns as numbers, so R links them too; read.rdsat reads
     coupons as text and would not, so the RDSAT layout carries the plain spelling.

Expected links (R RDS 0.9-10 rid.from.coupons: a respondent's recruiter is the LAST row, in file order,
whose issued coupons contain the coupon they redeemed; unmatched -> seed):
  id : recruiter  wave  seed
  1,2,3 : seed 0 (own seeds);  4,5 : 1 (w1, s1);  6,7,8 : 2 (w1, s2);  10 : 3 (w1, s3)
  9,11 : 4 (w2, s1);  16 : 6 (w2, s2);  13 : 9 (w3, s1);  12 : 11 (w3, s1; E: 11 is the last issuer)
  14 : 13 (w4, s1);  17 : 12 (w4, s1);  15 : seed 0 (F)
quirks_reference_R.csv holds R's answer (computed from quirks.rdsat with read.rdsat and from
quirks_rds.csv with read.csv + rid.from.coupons; both gave this file) and agrees with the table above.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent

# id, network size, own coupon (None = seed), issued coupons (slot 3 = seed pseudo-coupon), sex, origin, registered
QUIRKS = [
    (1, 12, None, ["1101", "1102", "901"], 1, 1, 1),
    (2, 30, None, ["1201", "1201", "902"], 2, 2, 2),     # A: 1201 printed twice; C: 902
    (3, 8, None, ["1301", "1302", "903"], 1, 3, 1),
    (4, 5, "1101", ["1401", "1402"], 2, 1, 1),
    (5, 14, "1102", ["1501", "1777"], 1, 2, 2),          # B: 1777 also issued to 6
    (6, 9, "1201", ["1601", "1777"], 2, 1, 1),
    (7, 4, "902", [], 1, 2, 1),                         # D: pseudo-coupon 902 redeemed ...
    (8, 6, "902", [], 2, 2, 2),                         # ... twice, one issuer (seed 2)
    (9, 11, "1401", ["1901", "1902"], 1, 1, 1),
    (10, 7, "1301", ["2001", "1888"], 2, 3, 1),         # E: 1888 issued to 10 ...
    (11, 0, "1402", ["1888"], 1, 1, 2),                 # ... and to 11 (network size 0 = missing in RDSAT)
    (12, 15, "1888", ["1210"], 2, 3, 1),                # E: redeemed 1888 -> R: last issuer, 11
    (13, 3, "1901", ["2301"], 1, 1, 1),
    (14, 10, "2301", [], 2, 1, 2),
    (15, 6, "5555", ["2501"], 1, 2, 1),                 # F: 5555 never issued -> seed in R
    (16, 20, "1601", [], 2, 2, 1),
    (17, 5, "1210", [], 1, 3, 2),                       # recruited by 12 (cascade under the field rules)
]
K = 3
VARS = ["sex", "origin", "registered"]  # 1/2, 1/2/3, 1 = unregistered / 2 = registered (0 is the NA symbol)
SPELLING = {4: " 1101", 9: "1401.0", 13: "01901"}  # G: own coupon as typed in the CSV / Kobo layouts


def _rdsat(rows: list[tuple], k: int, varnames: list[str]) -> str:
    out = ["RDS", " ".join([str(len(rows)), str(k), "0"] + varnames)]
    for rid, deg, own, issued, *vals in rows:
        slots = (issued + ["0"] * k)[:k]
        out.append(" ".join([str(rid), str(deg), own or "0"] + slots + [str(v) for v in vals]))
    return "\n".join(out) + "\n"


def quirks_frames() -> dict[str, pd.DataFrame]:
    times = pd.date_range("2024-03-04T09:00:00+03:00", periods=len(QUIRKS), freq="7h")
    r, kobo = [], []
    for (rid, deg, own, issued, *vals), t in zip(QUIRKS, times):
        own_typed = SPELLING.get(rid, own)
        slots = (issued + [None] * K)[:K]
        r.append({"id": rid, "network.size": deg, "own.coupon": own_typed,
                  **{f"coupon.{j + 1}": c for j, c in enumerate(slots)}, **dict(zip(VARS, vals))})
        kobo.append({"start": t.isoformat(), "group_id/resp_code": f"{rid}", "group_id/coupon_in": own_typed,
                     **{f"group_coupons/coupon_{j + 1}": c for j, c in enumerate(slots)},
                     "group_net/q_know": deg, **{f"group_hh/{v}": x for v, x in zip(VARS, vals)},
                     "_uuid": f"8d1f{rid:04d}-5c2e-4b7a-9e61-{rid * 7919:012d}", "_index": rid})
    return {"rds": pd.DataFrame(r), "kobo": pd.DataFrame(kobo)}


KOBO_MAPPING = """# Mapping of the quirks fixture's Kobo form (group prefixes are removed first).
drop = ["_uuid", "_index"]         # Kobo's bookkeeping, not survey data

[columns]
respondent_id = "resp_code"
redeemed_coupon = "coupon_in"
network_size = "q_know"
interview_time = "start"

[coupons]
prefix = "coupon_"
"""


def study264(rng_seed: int = 11) -> tuple[list[tuple], dict[str, int]]:
    """A realistic finished study: 264 respondents, 7 slots (4 coupons + pseudo-coupon in slot 7)."""
    rng = np.random.default_rng(rng_seed)
    n_target, n_seeds = 264, 10
    book = iter(range(14250004, 14260000))
    rows: dict[int, dict] = {}
    queue: list[tuple[int, str]] = []  # (recruiter id, coupon) coupons that will be redeemed
    counts = dict.fromkeys(["printed_twice", "issued_twice_unredeemed", "pseudo_redeemed_twice",
                            "never_issued_redeemers", "ambiguous_issuers", "zero_network_size"], 0)

    def new(rid: int, own: str | None) -> None:
        n_coupons = int(rng.choice([3, 4], p=[0.3, 0.7]))
        issued = [str(next(book)) for _ in range(n_coupons)]
        slots = issued + ["0"] * (6 - n_coupons)
        # slot 7: the respondent's pseudo-coupon (900+id for the first 9, 9000+id later), as RDSAT teams do
        pseudo = str(900 + rid) if rid < 10 else str(9000 + rid)
        slots.append(pseudo if (rid <= n_seeds or rng.random() < 0.1) else "0")
        deg = int(np.clip(np.round(rng.lognormal(3.0, 1.0)), 1, 900))
        rows[rid] = {"id": rid, "deg": deg, "own": own or "0", "slots": slots,
                     "sex": int(rng.choice([1, 2], p=[0.7, 0.3])), "origin": int(rng.choice([1, 2, 3], p=[.5, .3, .2])),
                     "age": int(rng.integers(20, 80)), "registered": int(rng.choice([1, 2], p=[0.6, 0.4]))}
        for c in issued:
            if rng.random() < 0.62:
                queue.append((rid, c))

    for s in range(1, n_seeds + 1):
        new(s, None)
    next_id = n_seeds + 1
    while next_id <= n_target and queue:
        j = int(rng.integers(0, min(len(queue), 12)))  # roughly first come, first served
        _, coupon = queue.pop(j)
        new(next_id, coupon)
        next_id += 1
    assert next_id > n_target, "recruitment died out; change the rng seed"

    ids = sorted(rows)
    # A: a coupon printed twice on the same form (4 forms): the last empty slot repeats a coupon
    for rid in rng.choice(ids, 4, replace=False):
        slots = rows[int(rid)]["slots"]
        empty = [i for i in range(6) if slots[i] == "0"]
        if empty:
            slots[empty[0]] = slots[0]
            counts["printed_twice"] += 1
    # B: ten unredeemed coupon numbers written on a second respondent's form too
    redeemed = {r["own"] for r in rows.values()}
    unredeemed = [(rid, c) for rid in ids for c in rows[rid]["slots"][:6] if c != "0" and c not in redeemed
                  and len(c) == 8]
    for k in rng.choice(len(unredeemed), 10, replace=False):
        owner, c = unredeemed[int(k)]
        other = int(rng.choice([i for i in ids if i != owner]))
        slots = rows[other]["slots"]
        empty = [i for i in range(6) if slots[i] == "0"]
        if empty and c not in slots:
            slots[empty[0]] = c
            counts["issued_twice_unredeemed"] += 1
    # D: pseudo-coupons redeemed by two people (7 pairs): both came with their recruiter's pseudo-coupon
    with_pseudo = [rid for rid in ids if rows[rid]["slots"][6] != "0"]
    recruits = [rid for rid in ids if rows[rid]["own"] != "0" and rid > 20]
    for rec in rng.choice(with_pseudo, 7, replace=False):
        pseudo = rows[int(rec)]["slots"][6]
        later = [r for r in recruits if r > rec and rows[r]["own"] != pseudo]
        pair = rng.choice(later[:40], 2, replace=False)
        for r in pair:
            rows[int(r)]["own"] = pseudo
            recruits.remove(int(r))
        counts["pseudo_redeemed_twice"] += 1
    # F: three late respondents came with coupon 90, which nobody issued (R makes them seeds)
    late = [rid for rid in recruits if rid > 180][:3]
    for rid in late:
        rows[rid]["own"] = "90"
        counts["never_issued_redeemers"] += 1
    # E: one redeemed coupon also written on another respondent's form (ambiguous issuer)
    victim = [rid for rid in recruits if 100 < rid < 150][0]
    code = rows[victim]["own"]
    other = next(rid for rid in ids if rid > victim and "0" in rows[rid]["slots"][:6])
    rows[other]["slots"][rows[other]["slots"][:6].index("0")] = code
    counts["ambiguous_issuers"] += 1
    # network size 0 (= missing in this file) and missing answers coded 0
    for rid in rng.choice(ids, 6, replace=False):
        rows[int(rid)]["deg"] = 0
        counts["zero_network_size"] += 1
    for rid in rng.choice(ids, 5, replace=False):
        rows[int(rid)]["age"] = 0
    out = [(r["id"], r["deg"], r["own"] if r["own"] != "0" else None, r["slots"], r["sex"], r["origin"], r["age"],
            r["registered"]) for r in (rows[i] for i in ids)]
    return out, counts


def main() -> None:
    (HERE / "quirks.rdsat").write_text(_rdsat(QUIRKS, K, VARS))
    frames = quirks_frames()
    frames["rds"].to_csv(HERE / "quirks_rds.csv", index=False)
    frames["kobo"].to_csv(HERE / "quirks_kobo.csv", index=False)
    # (openpyxl stamps the workbook with the time it was written: the committed file is the first one)
    with pd.ExcelWriter(HERE / "quirks_kobo.xlsx", engine="openpyxl") as xl:
        k = frames["kobo"].copy()
        # as a form server writes a workbook: numbers as number cells, coupon codes typed as text stay text
        for c in [c for c in k.columns if "coupon" in c]:
            k[c] = [(float(v) if v.strip().lstrip("0").isdigit() and not v.startswith(("0", " ")) else v)
                    if isinstance(v, str) else v for v in k[c]]
        k.to_excel(xl, index=False, sheet_name="survey")
    (HERE / "quirks_kobo.toml").write_text(KOBO_MAPPING)
    rows, counts = study264()
    (HERE / "study264.rdsat").write_text(_rdsat(rows, 7, ["sex", "origin", "age", "registered"]))
    print("study264:", counts)


if __name__ == "__main__":
    main()
