"""Generate the bundled example in examples/data/ (run once; the files are committed).

    python examples/make_example.py [--out examples/data] [--overwrite]

1. A small synthetic province (2,500 refugee households) from hiddenpop.simulate.
2. Its frame (neighbourhoods, GeoJSON, WGS84) and exclusion zone.
3. The first-stage points exactly as the demo draws them (`hiddenpop frame sample ... --rng-seed 7`).
4. The field stages on those points: households in the 250 m circles, two coupons for
   unregistered contacts each, 85% of coupons redeemed.
5. The records a field team would hand over: three daily Kobo-style referral-log exports
   (with four deliberate faults for the validator: a duplicated row, a coupon redeemed twice
   (one recruiter: a warning, both recruits are linked to them), a mistyped coupon, an
   implausible network size), the household and child records, the
   repeat selections (households reached twice), and registry margins.

The exports have exactly the columns of the questionnaire `hiddenpop field form` generates
(``form_layout``): consent, how the household was reached, GPS, network sizes, coupons with
their QR scans, registration, number of children. Coupon numbers are six digits with a Damm
check digit (``hiddenpop.field.codes``), the mistyped one has two digits swapped.

    python examples/make_example.py --relayout   # rewrite the committed logs in the form's layout
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
POP_PARAMS = {"households": {"n": 2500}, "area": {"width_m": 10000.0, "height_m": 7500.0, "neighbourhood_cols": 4,
                                                   "neighbourhood_rows": 3, "raster_cell_m": 250.0},
              "density": {"bumps": [[0.50, 0.52, 4.0, 1300.0], [0.22, 0.30, 2.0, 800.0],
                                    [0.80, 0.70, 2.5, 900.0], [0.92, 0.15, 1.2, 500.0]]}}
FIELD_DESIGN = {"stage1": {"points": 40, "radius_m": 250.0},
                "referral": {"coupons": 2, "redemption_rate": 0.85}, "field": {"start_date": "2024-03-04", "days": 3}}
#: the demo's first-stage command (kept identical in examples/demo.py)
SAMPLE_ARGS = ["--stratum-col", "stratum", "--n", "40", "--radius", "250", "--rng-seed", "7"]


def _hiddenpop() -> list[str]:
    exe = Path(sys.executable).with_name("hiddenpop")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "hiddenpop.cli"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / "data"))
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--relayout", action="store_true",
                    help="Only rewrite the existing referral logs (and selections) in the form's layout.")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.relayout:
        return relayout(out)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()) and not args.overwrite:
        print(f"{out} is not empty; pass --overwrite to regenerate", file=sys.stderr)
        return 1

    from hiddenpop.simulate import generate_population
    from hiddenpop.simulate.sampler import Sampler

    pop = generate_population(POP_PARAMS, rng=20240301)
    units = pop.units.to_crs("EPSG:4326")
    units.geometry = units.geometry.set_precision(1e-7)
    exclusion = pop.exclusion.to_crs("EPSG:4326")
    for name, frame in (("frame.geojson", units), ("exclusion.geojson", exclusion)):
        if (out / name).exists():
            (out / name).unlink()
        frame.to_file(out / name, driver="GeoJSON", COORDINATE_PRECISION=7)

    with tempfile.TemporaryDirectory() as tmp:
        cmd = _hiddenpop() + ["frame", "sample", str(out / "frame.geojson"), *SAMPLE_ARGS, "--exclude",
                              str(out / "exclusion.geojson"), "--no-map", "-o", os.path.join(tmp, "points.csv")]
        subprocess.run(cmd, check=True)
        points = pd.read_csv(os.path.join(tmp, "points.csv"))
    points = points[points["reserve_rank"] == 0]
    sampler = Sampler(pop, FIELD_DESIGN)
    sample = sampler.draw(rng=np.random.default_rng(11), points=points)
    rng = np.random.default_rng(12)

    hh = sample.households.drop(columns=["population_hh_id", "stage1_prob", "expected_hits"])
    hh.to_csv(out / "households.csv", index=False, lineterminator="\n")
    sample.children.to_csv(out / "children.csv", index=False, lineterminator="\n")
    sel = sample.selections.rename(columns={"route": "found_by"})
    if "coupon" in sel.columns:
        sel["coupon"] = sel["coupon"].map(coupon_code)
    sel.to_csv(out / "selections.csv", index=False, lineterminator="\n")

    # Registry margins (docs/data-contract.md, 'Registry margins'): registered refugee households per district.
    reg = pop.households[pop.households["registered"] == 1].groupby("stratum").size()
    margins = pd.DataFrame({"variable": "stratum x registered", "level": [f"{s}|1" for s in reg.index],
                            "total": reg.to_numpy()})
    margins.to_csv(out / "margins.csv", index=False, lineterminator="\n")

    # Daily Kobo-style exports of the referral log (docs/data-contract.md, 'Referral log').
    log = sample.referral_log
    coupons = log["issued_coupons"].str.split(";", expand=True).reindex(columns=[0, 1])
    kobo = pd.DataFrame({
        "start": log["interview_time"],
        "enumerator": rng.choice(["team-a", "team-b", "team-c"], len(log)),
        "respondent_id": log["respondent_id"],
        "point_id": log["point_id"],
        "referral/redeemed_coupon": log["redeemed_coupon"],
        "referral/coupon_1": coupons[0],
        "referral/coupon_2": coupons[1],
        "network/network_size": log["network_size"],
        "network/network_size_eligible": log["network_size_eligible"],
        "interview_time": log["interview_time"],
        "household/registered": log["registered"],
    })
    day = pd.to_datetime(kobo["interview_time"]).dt.date
    days = sorted(day.unique())
    exports = [kobo[day == d].reset_index(drop=True) for d in days]
    # --- deliberate errors (documented in examples/README.md) ---
    # day 2: the same submission exported twice (duplicate row)
    exports[1] = pd.concat([exports[1], exports[1].iloc[[3]]], ignore_index=True)
    last = exports[-1]
    redeemed = kobo["referral/redeemed_coupon"].dropna()
    template = last.iloc[0].copy()
    # day 3: a coupon that was already redeemed is redeemed again
    twice = template.copy()
    _set(twice, {"respondent_id": "R09001", "point_id": None, "referral/redeemed_coupon": redeemed.iloc[0],
                  "referral/coupon_1": None, "referral/coupon_2": None, "network/network_size": 4,
                  "network/network_size_eligible": 1})
    # day 3: a mistyped coupon (letter O for zero) that was never issued
    typo = template.copy()
    _set(typo, {"respondent_id": "R09002", "point_id": None,
                 "referral/redeemed_coupon": str(redeemed.iloc[1]).replace("0", "O", 1),
                 "referral/coupon_1": None, "referral/coupon_2": None, "network/network_size": 6,
                 "network/network_size_eligible": 2})
    # day 3: an implausible network size (950 refugee households known personally)
    big = template.copy()
    _set(big, {"respondent_id": "R09003", "point_id": points["point_id"].iloc[0], "referral/redeemed_coupon": None,
                "referral/coupon_1": None, "referral/coupon_2": None, "network/network_size": 950,
                "network/network_size_eligible": 3})
    exports[-1] = pd.concat([last, pd.DataFrame([twice, typo, big])], ignore_index=True)
    for d, table in zip(days, exports):
        table = form_layout(table, hh)
        table.to_csv(out / f"referral_log_{d.isoformat()}.csv", index=False, lineterminator="\n")
    print(f"wrote {out}: {len(hh)} households ({(hh['found_by'] == 'point').sum()} at {len(points)} points), "
          f"{len(sample.children)} children, {len(exports)} daily logs")
    return 0


def _set(row: pd.Series, values: dict) -> None:
    for k, v in values.items():
        row[k] = v


def coupon_code(old: object) -> object:
    """``C00001`` (the simulator's coupon names) → a printed coupon number (serial 10001, Damm digit)."""
    from hiddenpop.field.codes import make_code

    if not isinstance(old, str) or not old.startswith("C"):
        return old
    digits = old[1:]
    if not digits.isdigit():  # the deliberate typo (letter O for zero): two digits swapped instead
        code = make_code(10000 + int(digits.replace("O", "0")))
        i = next(i for i in range(1, 5) if code[i] != code[i + 1])
        return code[:i] + code[i + 1] + code[i] + code[i + 2:]
    return make_code(10000 + int(digits))


def form_layout(kobo: pd.DataFrame, households: pd.DataFrame) -> pd.DataFrame:
    """The export of the generated questionnaire for these interviews (columns in the form's order).

    Rows without a household record (the deliberate errors) take the GPS and children of the
    file's first row, as the simulator copied that row to make them. ``dist_m`` (the form's
    distance to the chosen point) stays empty: the example's point coordinates are not kept.
    Every 7th coupon was typed because its QR code did not scan (empty ``_scan`` column).
    """
    hh = households.set_index("hh_id")
    rid = kobo["respondent_id"].astype(str)
    first = rid.iloc[0]
    src = rid.where(rid.isin(hh.index), first)
    red = kobo["referral/redeemed_coupon"].map(coupon_code)
    reached = red.notna().map({True: "coupon", False: "point"})
    strata = dict(zip(hh["point_id"].dropna(), hh.loc[hh["point_id"].notna(), "stratum"]))
    point = kobo["point_id"].where(reached == "point")
    lat = hh.loc[src, "lat"].to_numpy()
    lon = hh.loc[src, "lon"].to_numpy()
    out = pd.DataFrame({
        "start": kobo["start"], "enumerator": kobo["enumerator"], "respondent_id": kobo["respondent_id"],
        "consent/consent_adult": "yes", "reached_by": reached, "point_stratum": point.map(strata), "point_id": point,
        "location/gps": [f"{a:.7f} {b:.7f} 0 5" for a, b in zip(lat, lon)],
        "location/_gps_latitude": [f"{a:.7f}" for a in lat], "location/_gps_longitude": [f"{b:.7f}" for b in lon],
        "location/_gps_altitude": 0, "location/_gps_precision": 5, "location/dist_m": None,
        "network/network_size": kobo["network/network_size"],
        "network/network_size_eligible": kobo["network/network_size_eligible"],
        "referral/redeemed_coupon": red})
    for i in (1, 2):
        typed = kobo[f"referral/coupon_{i}"].map(coupon_code)
        scanned = typed.where(np.arange(len(typed)) % 7 != 3)
        out[f"referral/coupon_{i}_scan"] = scanned
        out[f"referral/coupon_{i}"] = typed
    out["household/registered"] = kobo["household/registered"]
    out["household/n_children"] = hh.loc[src, "n_children"].to_numpy()
    out["interview_time"] = kobo["interview_time"]
    return out


def relayout(data: Path) -> int:
    """Rewrite the committed logs (old layout) in the form's layout, and recode selections' coupons."""
    hh = pd.read_csv(data / "households.csv", dtype=str)
    hh["n_children"] = hh["n_children"].astype(int)
    hh["lat"], hh["lon"] = hh["lat"].astype(float), hh["lon"].astype(float)
    for log in sorted(data.glob("referral_log_*.csv")):
        kobo = pd.read_csv(log, dtype=str, keep_default_na=False).replace("", None)
        if "reached_by" in kobo.columns:
            print(f"{log.name}: already in the form's layout")
            continue
        form_layout(kobo, hh).to_csv(log, index=False, lineterminator="\n")
        print(f"rewrote {log}")
    sel = pd.read_csv(data / "selections.csv", dtype=str, keep_default_na=False)
    sel["coupon"] = sel["coupon"].map(lambda c: coupon_code(c) if c else c)
    sel.to_csv(data / "selections.csv", index=False, lineterminator="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
