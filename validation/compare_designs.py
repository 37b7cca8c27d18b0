"""Compare two-stage designs at similar interview cost (issue 6: points vs referrals, radius, coupons).

    python validation/compare_designs.py [--reps 150] [--jobs 1] [--out validation/output/designs]
                                         [--figure docs/img/study_designs.png]

Every variant is drawn ``--reps`` times from the same default province (examples/params.toml,
rng 20240304) and weighted by stage 1 alone and by GWSM. The variants change one lever at a time
from examples/design.toml (300 points, R = 250 m, 2 coupons, all coupons redeemed):

* A  the bundled design;
* B  fewer points, more referrals: 200 points, 3 coupons;
* C  a smaller circle: 300 points, R = 150 m;
* D  no referrals at all: 400 points, 0 coupons (stage 1 only, the same cost class);
* E  the bundled design with realistic non-redemption: 60% of coupons come back.

Standard errors of each replicate are linearised (ultimate-cluster variance with empty points
as zero PSUs; docs/methods.md, 'Variance: the point bootstrap and linearisation'): a design comparison needs the
spread of the estimates (the RMSE), and the linearised intervals are the cheap check of coverage. The table
(markdown) and the plot of relative RMSE against the mean number of interviews per method are written to
``--out`` and ``--figure``. Replication *i* of every variant uses child *i* of the same SeedSequence.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: name -> (short description, overrides of examples/design.toml)
VARIANTS: dict[str, tuple[str, dict]] = {
    "A": ("300 points, R 250 m, 2 coupons", {}),
    "B": ("200 points, R 250 m, 3 coupons", {"stage1": {"points": 200}, "referral": {"coupons": 3}}),
    "C": ("300 points, R 150 m, 2 coupons", {"stage1": {"radius_m": 150.0}}),
    "D": ("400 points, R 250 m, no referrals", {"stage1": {"points": 400}, "referral": {"coupons": 0}}),
    "E": ("300 points, R 250 m, 2 coupons, 60% redeemed", {"referral": {"redemption_rate": 0.6}}),
}
METHODS = ("stage1", "gwsm")
TARGET_LABELS = {"unregistered_households": "unregistered households (total)",
                 "working_children": "working children (total)",
                 "work_rate_unregistered": "work rate, unregistered children 6–17"}


def _merge(base: dict, over: dict) -> dict:
    out = {k: dict(v) for k, v in base.items()}
    for section, values in over.items():
        out.setdefault(section, {}).update(values)
    return out


def table_markdown(summary) -> str:
    lines = ["| design | method | target | interviews | rel. bias (bias / MC SE) | rel. RMSE | 95% coverage ± MC SE |",
             "|---|---|---|---|---|---|---|"]
    for _, r in summary.iterrows():
        lines.append(f"| {r['design']}: {VARIANTS[r['design']][0]} | {r['method']} | {r['target']} | "
                     f"{r['interviews']:.0f} | {100 * r['rel_bias']:+.2f}% ({r['bias_z']:.1f}) | {r['rel_rmse']:.3f} | "
                     f"{100 * r['coverage']:.1f}% ± {100 * r['coverage_mcse']:.1f} |")
    return "\n".join(lines) + "\n"


def figure(summary):
    """Relative RMSE against interviews: one panel per target, one marker per design × method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(TARGET_LABELS)
    fig, axes = plt.subplots(1, len(targets), figsize=(12, 4.1))
    styles = [("gwsm", lambda d: d != "D", dict(marker="o", color="#1f77b4", label="GWSM: points + referrals")),
              ("stage1", lambda d: d != "D", dict(marker="s", color="#9a9a9a",
                                                   label="same samples, households found at points only")),
              ("stage1", lambda d: d == "D", dict(marker="^", color="#d62728", s=60,
                                                   label="D: 400 points, no referrals"))]
    for ax, target in zip(axes, targets):
        sub = summary[summary["target"] == target]
        for method, keep, style in styles:
            s = sub[(sub["method"] == method) & sub["design"].map(keep)]
            if method == "stage1":   # A and E differ only in the coupons' return: identical stage-1 samples
                s = s[s["design"] != "E"]
            ax.scatter(s["interviews"], s["rel_rmse"], **{"s": 40, **style})
            for _, r in s.iterrows():
                name = "A, E" if method == "stage1" and r["design"] == "A" else r["design"]
                ax.annotate(name, (r["interviews"], r["rel_rmse"]), textcoords="offset points", xytext=(5, 3),
                            fontsize=9, color=style["color"])
        ax.set_title(TARGET_LABELS[target], fontsize=10)
        ax.set_xlabel("interviews per survey (mean)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("relative RMSE (lower is better)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, fontsize=9, frameon=False, bbox_to_anchor=(0.5, 1.06))
    text = "   ".join(f"{k}: {v[0]}" for k, v in VARIANTS.items())
    fig.text(0.5, -0.02, text, ha="center", fontsize=8.5)
    fig.tight_layout()
    return fig


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=150, help="Replications per design.")
    ap.add_argument("--jobs", type=int, default=1, help="Worker processes.")
    ap.add_argument("--out", default=str(ROOT / "validation" / "output" / "designs"))
    ap.add_argument("--figure", default=str(ROOT / "docs" / "img" / "study_designs.png"))
    ap.add_argument("--replot", action="store_true", help="Only redraw the figure from OUT/designs.csv.")
    args = ap.parse_args()
    if args.replot:
        import pandas as pd

        figure(pd.read_csv(Path(args.out) / "designs.csv")).savefig(args.figure, dpi=90, bbox_inches="tight",
                                                                    metadata={"Software": None})
        return 0

    import pandas as pd

    from hiddenpop.io.population import read_params
    from hiddenpop.simulate import generate_population
    from hiddenpop.simulate.study import run_study

    pop = generate_population(read_params(ROOT / "examples" / "params.toml"), rng=20240304)
    base = read_params(ROOT / "examples" / "design.toml")
    t0 = time.time()
    parts = []
    for name, (desc, over) in VARIANTS.items():
        # a design without coupons has no referral stage: stage 1 is its estimator (the engine's GWSM
        # still counts L_k = 1 + d_k links for eligible households, which assumes a referral stage)
        methods = METHODS if over.get("referral", {}).get("coupons", 1) > 0 else ("stage1",)
        res = run_study(pop, _merge(base, over), reps=args.reps, rng=7, jobs=args.jobs, methods=methods,
                        variance="linearization")
        parts.append(res.summary.assign(design=name))
        print(f"{name} ({desc}): {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    summary = pd.concat(parts, ignore_index=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "designs.csv", index=False)
    text = (f"{args.reps} replications per design, linearised SEs, {time.time() - t0:.0f} s on {args.jobs} "
            f"process(es).\n\n" + table_markdown(summary.sort_values(["target", "design", "method"], kind="stable")))
    (out / "designs.md").write_text(text)
    fig = figure(summary)
    fig.savefig(args.figure, dpi=90, bbox_inches="tight", metadata={"Software": None})
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
