"""End to end, the way a field team runs it: frame → points → referral log → store → weights → estimates.

Every step goes through the real command line (``hiddenpop frame sample``, ``referrals
init/import``, ``weights compute --design --points --store``, ``weights calibrate``,
``estimate``). The expected values come from independent routes computed in the test:

* stage-1 probabilities: :func:`hiddenpop.spatial.first_stage_probabilities` (the spatial
  stage's exact disc computation) on the same households and manifest;
* root points: walking the referral log's coupons by hand (issued coupon → recruiter);
* registered households found only at points are not referral-eligible, so their weight is
  the Horvitz–Thompson weight 1/π¹ (methods §2.3) and their weighted count is the HT
  estimate Σ 1/π¹ computed from the spatial stage's probabilities;
* privacy: names, phone numbers and coordinates written into the log/household file must not
  appear anywhere in the output files (searched as text).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from hiddenpop.cli import main
from hiddenpop.spatial import first_stage_probabilities
from tests.spatial.helpers import city_frame, write_frame

RADIUS = 300.0  # metres
N_POINTS = 15


def _offset(lon, lat, dx_m, dy_m):
    """Move (lon, lat) by metres east/north (local equirectangular; error ≪ 1 m at 300 m)."""
    return lon + dx_m / (111_320.0 * math.cos(math.radians(lat))), lat + dy_m / 110_540.0


def _field_data(points: pd.DataFrame, rng: np.random.Generator, frame_area):
    """Households at the points (within the radius) and referral chains, as the field records them.

    Returns the referral log (data-contract §3: one row per interview, coupons issued, the
    coupon redeemed, names and phones) and the household survey records (§4: hh_id,
    registered, outcomes, lon/lat).
    """
    log, hh = [], []
    coupon = iter(range(1, 10_000))
    pending = []  # coupons handed out: (coupon, recruiter id)

    def interview(rid, *, point_id=None, redeemed=None, registered, issue, lon, lat, network):
        issued = [f"K{next(coupon):04d}" for _ in range(issue)]
        pending.extend((c, rid) for c in issued)
        log.append({"respondent_id": rid, "redeemed_coupon": redeemed or "", "issued_coupons": ";".join(issued),
                    "point_id": point_id or "", "network_size": network, "network_size_eligible": max(1, network - 1),
                    "interview_time": f"2024-05-{1 + len(log) // 20:02d}T10:{len(log) % 60:02d}",
                    "lon": f"{lon:.6f}", "lat": f"{lat:.6f}",
                    "name": f"Name{rid}Person", "phone": f"0555{len(log):06d}"})
        hh.append({"hh_id": rid, "registered": registered, "lon": lon, "lat": lat,
                   "n_children": int(rng.integers(0, 4)), "works": int(rng.random() < 0.3)})

    main_points = points[points.reserve_rank == 0]
    hid = 0
    for p in main_points.itertuples():
        for _ in range(int(rng.integers(0, 4))):  # 0–3 households per point; empty points are valid zeros
            while True:  # eligible households live inside the frame (the disc may cross its edge)
                r, a = RADIUS * 0.9 * math.sqrt(rng.random()), 2 * math.pi * rng.random()
                lon, lat = _offset(p.lon, p.lat, r * math.cos(a), r * math.sin(a))
                if frame_area.contains(Point(lon, lat)):
                    break
            reg = int(rng.random() < 0.5)
            interview(f"H{hid:03d}", point_id=p.point_id, registered=reg, issue=0 if reg else 2,
                      lon=lon, lat=lat, network=int(rng.integers(2, 7)))
            hid += 1
    # referral waves: some coupons are never redeemed; a few deeper waves; one referred
    # household turns out to be registered (not eligible: only unregistered were to be referred)
    for wave in (1, 2):
        batch, pending[:] = list(pending), []
        for c, rec in batch:
            if rng.random() < 0.3:
                continue  # coupon never redeemed
            # referred households live anywhere, also in the park (a hole of the frame) or beyond
            lon, lat = float(rng.uniform(28.90, 28.965)), float(rng.uniform(41.00, 41.065))
            interview(f"H{hid:03d}", redeemed=c, registered=0, issue=1 if wave == 1 else 0, lon=lon, lat=lat,
                      network=int(rng.integers(1, 6)))
            hid += 1
    # the registered referred household (a field mistake the weights must keep visible)
    ref = [r for r in hh if any(x["respondent_id"] == r["hh_id"] and x["redeemed_coupon"] for x in log)]
    ref[0]["registered"] = 1
    return pd.DataFrame(log), pd.DataFrame(hh)


def _run(runner, args):
    r = runner.invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, f"{args[:2]}: {r.output}{r.stderr}"
    return r


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    from click.testing import CliRunner

    runner = CliRunner()
    d = tmp_path_factory.mktemp("flow")
    frame = write_frame(city_frame(), d / "frame.gpkg")
    _run(runner, ["frame", "sample", frame, "--stratum-col", "region", "--n", N_POINTS, "--radius", RADIUS,
                  "--rng-seed", 4, "--no-map", "-o", d / "points.csv"])
    points = pd.read_csv(d / "points.csv", dtype={"point_id": str, "stratum": str})
    manifest = json.loads((d / "points.design.json").read_text())
    log, hh = _field_data(points, np.random.default_rng(12), city_frame().union_all())
    log.to_csv(d / "day1.csv", index=False)
    hh.to_csv(d / "hh.csv", index=False)
    _run(runner, ["referrals", "init", d / "survey.hpstore", "--requires-point"])
    _run(runner, ["referrals", "import", d / "survey.hpstore", d / "day1.csv"])
    r = _run(runner, ["weights", "compute", "--households", d / "hh.csv", "--design", d / "points.design.json",
                      "--points", d / "points.csv", "--store", d / "survey.hpstore", "--replicates", "bootstrap",
                      "--reps", 40, "--rng-seed", 3, "-o", d / "weights.csv"])
    compute_msg = r.stderr
    w = pd.read_csv(d / "weights.csv", dtype={"hh_id": str, "psu": str, "stratum": str})
    # registry margins: registered households by region (levels taken from the data)
    margins = pd.DataFrame({"variable": "registered", "level": ["0", "1"], "total": [400.0, 900.0]})
    margins.to_csv(d / "margins.csv", index=False)
    _run(runner, ["weights", "calibrate", d / "weights.csv", "--margins", d / "margins.csv", "-o", d / "cal.csv"])
    cal = pd.read_csv(d / "cal.csv", dtype={"hh_id": str, "psu": str, "stratum": str})
    reps = ",".join(c for c in cal.columns if c.startswith("rep_"))
    # 'hiddenpop estimate' (estimation engine, design.py) refuses weights of 0, so the rows kept
    # with weight 0 and a weight_flag are left out for it; they add nothing to any estimate
    # (reported to the lead: R survey accepts zero weights)
    cal[cal.final_weight > 0].to_csv(d / "cal_positive.csv", index=False)
    _run(runner, ["estimate", d / "cal_positive.csv", "--var", "works", "--stat", "mean",
                  "--variance", "replicate", "--replicate-cols", reps, "-o", d / "est_rep.csv"])
    # linearised SEs go through the calibration model that 'weights calibrate' wrote next to cal.csv
    _run(runner, ["estimate", d / "cal_positive.csv", "--var", "works", "--stat", "mean", "--by", "registered",
                  "--lonely-psu", "adjust", "--calibration", d / "cal.calibration.json", "-o", d / "est_lin.csv"])
    return {"dir": d, "points": points, "manifest": manifest, "log": log, "hh": hh, "w": w, "cal": cal,
            "compute_msg": compute_msg}


def _roots(log: pd.DataFrame) -> dict:
    """Root point of every respondent by following redeemed coupon → issuer (by hand)."""
    issuer = {c: r.respondent_id for r in log.itertuples() for c in r.issued_coupons.split(";") if c}
    rows = log.set_index("respondent_id")
    out = {}
    for rid in rows.index:
        k = rid
        while not rows.loc[k, "point_id"]:
            k = issuer[rows.loc[k, "redeemed_coupon"]]
        out[rid] = rows.loc[k, "point_id"]
    return out


def test_every_household_is_in_the_weights_table_with_the_design_columns(flow):
    w, log = flow["w"], flow["log"]
    # nothing silently disappears: one row per interview in the log
    assert sorted(w.hh_id) == sorted(log.respondent_id)
    for col in ("hh_id", "stratum", "psu", "found_by", "wave", "stage1_prob", "stage2_prob", "weight_share_self",
                "weight_share_referral", "links", "base_weight", "nonresponse_weight", "final_weight",
                "weight_method", "model_based", "share_from_referral", "weight_flag", "rep_1", "rep_40"):
        assert col in w.columns, col
    assert (w.found_by == "referral").sum() == (log.redeemed_coupon != "").sum()
    assert (w.wave == 2).any() and w.model_based[w.wave == 2].all()


def test_stage1_prob_equals_spatial_first_stage_probabilities(flow):
    hh, w = flow["hh"], flow["w"].set_index("hh_id")
    at_points = hh[hh.hh_id.isin(flow["log"].respondent_id[flow["log"].point_id != ""])].reset_index(drop=True)
    expect = first_stage_probabilities(flow["manifest"], at_points)
    got = w.loc[at_points.hh_id, "stage1_prob"].to_numpy()
    # the CSV round trip keeps 17 significant digits (pandas' default float format round-trips)
    np.testing.assert_allclose(got, expect.stage1_prob.to_numpy(), rtol=1e-12)
    assert (w.loc[at_points.hh_id, "stratum"].to_numpy() == expect.stratum.astype(str).to_numpy()).all()


def test_every_referred_household_sits_in_its_root_point(flow):
    roots = _roots(flow["log"])
    w = flow["w"]
    assert dict(zip(w.hh_id, w.psu)) == roots
    # the strata of the PSUs are the strata of their root points in the points file
    pstrat = dict(zip(flow["points"].point_id, flow["points"].stratum))
    assert (w.stratum == w.psu.map(pstrat)).all()


def test_registered_point_households_carry_the_ht_weight(flow):
    w, hh = flow["w"], flow["hh"]
    log = flow["log"].set_index("respondent_id")
    reg_pts = w[(w.registered == 1) & w.hh_id.map(lambda k: log.loc[k, "point_id"] != "")]
    at = hh.set_index("hh_id").loc[reg_pts.hh_id].reset_index()
    pi = first_stage_probabilities(flow["manifest"], at).stage1_prob.to_numpy()
    # HT (source: spatial stage's π¹): Σ 1/π¹ over registered households found at points
    assert reg_pts.final_weight.sum() == pytest.approx(float(np.sum(1 / pi)), rel=1e-12)
    assert (reg_pts.weight_method == "stage1").all() and (reg_pts.share_from_referral == 0).all()


def test_referred_registered_household_kept_with_zero_weight(flow):
    w = flow["w"]
    bad = w[(w.found_by == "referral") & (w.registered == 1)]
    assert len(bad) == 1
    assert bad.final_weight.iloc[0] == 0 and bad.weight_flag.iloc[0] == "referred-not-eligible"
    assert (bad.filter(like="rep_").to_numpy() == 0).all()
    assert "not referral-eligible" in flow["compute_msg"]


def test_calibration_and_estimates_run_on_the_real_files(flow):
    cal, d = flow["cal"], flow["dir"]
    # calibrated totals = margins (source: margins.csv); replicates recalibrated too
    assert cal.final_weight[cal.registered == 0].sum() == pytest.approx(400.0)
    assert cal.final_weight[cal.registered == 1].sum() == pytest.approx(900.0)
    assert np.allclose(cal.filter(like="rep_").sum(), 1300.0)
    est = pd.read_csv(d / "est_lin.csv")
    # domain means by hand from the same file (Hájek: Σ w y / Σ w within the domain)
    for r, row in zip((0, 1), est.itertuples()):
        dom = cal[cal.registered == r]
        assert row.domain == f"registered={r}"
        assert row.estimate == pytest.approx(float((dom.final_weight * dom.works).sum() / dom.final_weight.sum()),
                                             rel=1e-12)
    assert (est.se > 0).all()
    rep = pd.read_csv(d / "est_rep.csv")
    expect = float((cal.final_weight * cal.works).sum() / cal.final_weight.sum())
    assert rep.estimate.iloc[0] == pytest.approx(expect, rel=1e-12) and rep.se.iloc[0] > 0


def test_nothing_personal_reaches_the_outputs(flow):
    d, log = flow["dir"], flow["log"]
    for name in ("weights.csv", "cal.csv", "est_rep.csv", "est_lin.csv"):
        text = (d / name).read_text()
        header = text.splitlines()[0].split(",")
        assert not {"name", "phone", "lon", "lat", "lon_reported", "lat_reported"} & set(header), name
        for col in ("name", "phone", "lon", "lat"):
            for v in log[col].head(10):
                assert str(v) not in text, (name, col)
