"""Run the whole method on the bundled example (the README's `make demo`).

    python examples/demo.py --out demo-output

Each step is one `hiddenpop` command, printed before it runs: frame check → first-stage
points (all formats) → referral store: init, import each daily export (errors quarantined),
validate, status, tree plot, export → weights (GWSM) → calibration to registry margins (children
get the calibrated household weights) → the number of unregistered households and children →
estimates by registration status (and sex / age group; child indicators among children aged
6–17) → the HTML report → the field loop: the questionnaire (XLSForm), a page of coupons and the
coordinator's dashboard.
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def _hiddenpop() -> list[str]:
    exe = Path(sys.executable).with_name("hiddenpop")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "hiddenpop.cli"]


def run(args: list[str], *, ok_codes: tuple[int, ...] = (0,)) -> int:
    """Print the command as a user would type it, run it, stop the demo if it fails."""
    shown = "hiddenpop " + " ".join(shlex.quote(str(a)) for a in args)
    print(f"\n$ {shown}", flush=True)
    code = subprocess.call(_hiddenpop() + [str(a) for a in args])
    if code not in ok_codes:
        print(f"demo stopped: the command above exited with {code}", file=sys.stderr)
        sys.exit(code)
    return code


def _complete_margins(weights_csv: Path, registry_csv: Path, dest: Path) -> Path:
    """Registry totals for registered households, ``survey`` for the unregistered cells.

    The registry knows only registered refugees. A ``survey`` total keeps the unregistered
    cells at their design-based (GWSM) estimate, recomputed in every bootstrap replicate, so
    calibration moves only the registered weights and the unregistered estimates keep their
    sampling variance (docs/methods.md, "Registration status and calibration").
    """
    import pandas as pd

    w = pd.read_csv(weights_csv)
    reg = pd.read_csv(registry_csv)
    # The registry counts households where they live: that is the weights file's household_stratum
    # (written when a household reached by referral lives in another stratum than its root point,
    # whose stratum is the design's `stratum`)
    where = "household_stratum" if "household_stratum" in w else "stratum"
    reg["variable"] = reg["variable"].str.replace(r"^stratum\b", where, regex=True)
    strata = sorted(w.loc[w["registered"] == 0, where].astype(str).unique())
    extra = pd.DataFrame({"variable": f"{where} x registered", "level": [f"{s}|0" for s in strata],
                          "total": "survey"})
    pd.concat([reg, extra], ignore_index=True).to_csv(dest, index=False, lineterminator="\n")
    print(f"\n# wrote {dest}: registry totals (registered) + 'survey' for the unregistered cells")
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run hiddenpop end to end on the bundled example.")
    ap.add_argument("--out", default="demo-output", help="Work folder (replaced if it exists).")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.time()
    frame, excl = DATA / "frame.geojson", DATA / "exclusion.geojson"
    logs = sorted(DATA.glob("referral_log_*.csv"))

    print("== 1. Frame and first-stage points")
    run(["frame", "check", frame, "--stratum-col", "stratum"])
    run(["frame", "sample", frame, "--stratum-col", "stratum", "--n", "40", "--radius", "250", "--rng-seed", "7",
         "--exclude", excl, "--format", "all", "-o", out / "points.gpkg"])

    print("\n== 2. Referral logs: one import per field day (invalid rows are quarantined, not lost)")
    store = out / "referrals.db"
    run(["referrals", "init", store])
    for log in logs:
        run(["referrals", "import", store, log], ok_codes=(0, 3))  # 3: good rows landed, some quarantined
    print("\n# The validator on the first day's export alone (clean), then on the last one checked against the store (its deliberate errors):")
    run(["referrals", "validate", logs[0], "--requires-point"])
    run(["referrals", "validate", logs[-1], "--store", store], ok_codes=(0, 1))
    run(["referrals", "status", store])
    run(["referrals", "plot", store, "--kind", "tree", "--var", "registered", "-o", out / "recruitment_tree.png"])
    run(["referrals", "export", store, "--format", "csv", "-o", out / "referrals_export.csv"])

    print("\n== 3. Weights: stage-1 probabilities from the manifest, GWSM for referred households")
    run(["weights", "compute", "--households", DATA / "households.csv", "--children", DATA / "children.csv",
         "--children-out", out / "child_weights.csv", "--design", out / "points.design.json",
         # the store gives the validated recruiter links; selections.csv holds the repeat selection
         # events (households reached by two points, or by a point and a coupon)
         "--store", store, "--selections", DATA / "selections.csv",
         "--points", out / "points.csv", "--method", "gwsm", "--replicates", "bootstrap", "--reps", "100",
         "--rng-seed", "11", "-o", out / "weights.csv"])
    margins = _complete_margins(out / "weights.csv", DATA / "margins.csv", out / "margins_complete.csv")
    run(["weights", "calibrate", out / "weights.csv", "--margins", margins, "-o", out / "weights_calibrated.csv",
         "--children", out / "child_weights.csv", "--children-out", out / "child_weights_calibrated.csv"])

    print("\n== 4. How many unregistered households and children (direct, and ratio to the registry)")
    registry = sum(float(line.rsplit(",", 1)[1]) for line in (DATA / "margins.csv").read_text().splitlines()[1:]
                   if line.strip())
    run(["weights", "popsize", out / "weights.csv", "--registry-total", f"{registry:.0f}",
         "-o", out / "popsize_households.csv"])
    run(["weights", "popsize", out / "weights.csv", "--size-col", "n_children", "-o", out / "popsize_children.csv"])

    print("\n== 5. Estimates by registration status (school and work: children aged 6-17)")
    reps = ["--replicate-cols", "rep_*", "--replicate-method", "bootstrap"]
    run(["estimate", out / "weights_calibrated.csv", "--var", "n_working,n_out_of_school,n_children_6_17",
         "--stat", "total", "--by", "registered", "--variance", "replicate", *reps, "-o", out / "estimates_households.csv"])
    run(["estimate", out / "child_weights_calibrated.csv", "--var", "works,attends_school", "--stat", "mean",
         "--subpop", "age>=6", "--by", "registered,sex", "--variance", "replicate", *reps,
         "-o", out / "estimates_children.csv"])
    run(["estimate", out / "child_weights_calibrated.csv", "--var", "works", "--stat", "mean", "--subpop", "age>=6",
         "--by", "registered,age_group", "--variance", "replicate", *reps, "-o", out / "estimates_children_age.csv"])

    print("\n== 6. Report")
    run(["report", out, "-o", out / "report.html", "--markdown", out / "report.md"])
    print("\n== 7. The field loop from the design: questionnaire, coupons, coordinator's dashboard")
    # The referral logs above are exports of exactly this questionnaire (same columns).
    run(["field", "form", out / "points.design.json", "--points", out / "points.csv", "--settings",
         HERE / "field.toml", "-o", out / "survey.xlsx"])
    # One page of coupons for 4 new seeds (2 each), registered in the store as printed, not yet issued.
    run(["field", "coupons", store, "--seeds", "4", "--settings", HERE / "field.toml", "--issue-date", "2024-03-07",
         "-o", out / "coupons.pdf"])
    run(["referrals", "dashboard", store, "--points", out / "points.csv", "--settings", HERE / "field.toml",
         "--as-of", "2024-03-06T23:59", "-o", out / "dashboard.html"])
    print(f"\n# The coordinator's dashboard: {out / 'dashboard.html'}")
    print(f"\nDone in {time.time() - t0:.0f} s. Open {out / 'report.html'} in a browser.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
