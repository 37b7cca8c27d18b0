"""Long simulation study of the two-stage design (methods §5; results in docs/simulation.md).

    python validation/study.py [--reps 400] [--jobs 2] [--bootstrap-reps 100] [--out validation/output]

Population: the default synthetic province of examples/params.toml (20,000 households, 25%
unregistered, mean degree 10, local network with a median link of ~300 m). Design:
examples/design.toml (300 uniform points, R = 250 m, two coupons for unregistered contacts,
one wave). Every method of the weighting engine is scored on three targets, with a
Rao–Wu–Yue bootstrap over points (empty points included) redoing the weighting per replicate.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=400)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--bootstrap-reps", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "validation" / "output"))
    args = ap.parse_args()

    from hiddenpop.io.population import read_params
    from hiddenpop.simulate import generate_population
    from hiddenpop.simulate.study import run_study, study_figures, summary_markdown

    params = read_params(ROOT / "examples" / "params.toml")
    design = read_params(ROOT / "examples" / "design.toml")
    pop = generate_population(params, rng=20240304)
    t0 = time.time()
    done = [0]

    def progress(n: int) -> None:
        done[0] += n
        if done[0] % 50 == 0:
            print(f"{done[0]}/{args.reps} replications, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)

    res = run_study(pop, design, reps=args.reps, rng=2024, jobs=args.jobs, bootstrap_reps=args.bootstrap_reps,
                    progress=progress)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res.summary.to_csv(out / "summary.csv", index=False)
    res.replicates.to_csv(out / "replicates.csv", index=False)
    for name, fig in study_figures(res).items():
        fig.savefig(out / f"{name}.png", dpi=110, bbox_inches="tight")
    text = (f"{args.reps} replications, B = {args.bootstrap_reps} bootstrap replicates each, "
            f"{time.time() - t0:.0f} s on {args.jobs} processes.\n\n" + summary_markdown(res.summary))
    (out / "summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
