"""Check the questionnaire's own XPath with Enketo's ODK XPath engine (a second route to the tests).

    npm install --prefix validation/.node openrosa-xpath-evaluator@3.1.0 jsdom
    python validation/form_xpath_enketo.py [--node-modules validation/.node/node_modules] [--codes 300]

The tests evaluate the coupon check-digit constraint and the distance calculation of the generated
form in Python (ODK's ``substr`` semantics written out by hand). This script evaluates the very
expressions written into the XLSForm with **openrosa-xpath-evaluator**, the XPath engine of
Enketo (KoboToolbox's web forms), through jsdom:

* the coupon constraint is true for every valid number of a random sample and false for every
  single-digit error and every adjacent transposition of those numbers;
* the distance to the point (``location/dist_m``) agrees with the WGS84 geodesic distance to 1%
  (the form uses a sphere), and with the haversine distance on the same sphere to 1 cm.

It prints one line per check and exits 1 if any fails. It needs Node.js and the two npm packages
(not a test dependency: the test suite runs without network or Node).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hiddenpop.field.codes import coupon_constraint, make_code  # noqa: E402
from hiddenpop.field.form import distance_xpath  # noqa: E402


def _evaluate(cases: list[dict], node_modules: Path) -> list:
    env = {**os.environ, "NODE_PATH": str(node_modules)}
    res = subprocess.run(["node", str(ROOT / "validation" / "form_xpath_enketo.js")], input=json.dumps(cases),
                         capture_output=True, text=True, env=env, timeout=600)
    if res.returncode != 0:
        sys.exit(res.stderr[-2000:])
    return json.loads(res.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--node-modules", default=str(ROOT / "validation" / ".node" / "node_modules"))
    ap.add_argument("--codes", type=int, default=300)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(14)
    constraint = coupon_constraint()
    valid, bad = [], []
    for serial in rng.integers(10001, 100000, size=args.codes):
        code = make_code(int(serial))
        valid.append(code)
        for pos in range(6):
            bad += [code[:pos] + d + code[pos + 1:] for d in "0123456789" if d != code[pos]]
        bad += [code[:p] + code[p + 1] + code[p] + code[p + 2:] for p in range(5) if code[p] != code[p + 1]]
    cases = [{"expr": constraint, "values": {"c": c}, "context": "c", "type": "boolean"} for c in valid + bad]
    got = _evaluate(cases, Path(args.node_modules))
    ok_valid = all(got[:len(valid)])
    ok_bad = not any(got[len(valid):])
    print(f"coupon constraint, Enketo engine: {sum(got[:len(valid)])}/{len(valid)} valid numbers accepted; "
          f"{len(bad) - sum(got[len(valid):])}/{len(bad)} mistyped numbers (single digit, adjacent swap) rejected")
    # distance: the form's calculate with the point's coordinates in place of the instance look-up
    import pyproj

    geod = pyproj.Geod(ellps="WGS84")
    expr = distance_xpath("../gps", "../plat", "../plon")
    dcases, truth, hav = [], [], []
    for _ in range(200):
        lat0, lon0 = rng.uniform(-60, 60), rng.uniform(-170, 170)
        az, dist = rng.uniform(0, 360), rng.uniform(1, 400)
        lon1, lat1, _ = geod.fwd(lon0, lat0, az, dist)
        dcases.append({"expr": expr, "values": {"gps": f"{lat1:.9f} {lon1:.9f} 0 5", "plat": f"{lat0:.9f}",
                                                "plon": f"{lon0:.9f}"}, "context": "gps", "type": "number"})
        truth.append(dist)
        p0, p1 = math.radians(lat0), math.radians(lat1)
        h = math.sin((p1 - p0) / 2) ** 2 + math.cos(p0) * math.cos(p1) * math.sin(math.radians(lon1 - lon0) / 2) ** 2
        hav.append(2 * 6371008.8 * math.asin(math.sqrt(h)))
    d = np.array(_evaluate(dcases, Path(args.node_modules)))
    rel = np.max(np.abs(d / np.array(truth) - 1))
    hav_err = np.max(np.abs(d - np.array(hav)))
    print(f"distance to the point, Enketo engine: max relative difference to the WGS84 geodesic {rel:.4f}; "
          f"max difference to the haversine distance {hav_err * 100:.2f} cm (200 random pairs, 1-400 m)")
    ok = ok_valid and ok_bad and rel < 0.01 and hav_err < 0.01
    print("all checks passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
