"""Long simulation study of the two-stage design (docs/methods.md, 'Findings from the simulation study'; results
in docs/simulation.md).

    python validation/study.py [--reps 2000] [--jobs 2] [--bootstrap-reps 100] [--block 100]
                               [--out validation/output]

Population: the default synthetic province of examples/params.toml (20,000 households, 25%
unregistered, mean degree 10, local network with a median link of ~300 m). Design:
examples/design.toml (300 uniform points, R = 250 m, two coupons for unregistered contacts,
one wave). Every method of the weighting engine is scored on three targets, with a
Rao–Wu–Yue bootstrap over points (empty points included) redoing the weighting per replicate.

The run is checkpointed: replications are done in blocks of ``--block``; after each block
``replicates.csv`` (all replications so far) and ``summary.md``/``summary.csv`` (scored on
them) are rewritten, so an interrupted run keeps every finished block and a rerun with the
same ``--out`` resumes where it stopped. Replication *i* always uses child *i* of one
SeedSequence (``run_study(start=...)``), so blocks concatenate to exactly one long run and
the first 400 replications of a 2000-replication run are those of a 400-replication run.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2000,
                    help="Total replications (2000 for docs/methods.md, 'Findings from the simulation study').")
    ap.add_argument("--jobs", type=int, default=2, help="Worker processes.")
    ap.add_argument("--bootstrap-reps", type=int, default=100, help="Bootstrap replicates inside each replication.")
    ap.add_argument("--block", type=int, default=100, help="Replications between checkpoints.")
    ap.add_argument("--out", default=str(ROOT / "validation" / "output"), help="Output folder (resumed if present).")
    args = ap.parse_args()

    import pandas as pd

    from hiddenpop.io.population import read_params
    from hiddenpop.simulate import generate_population
    from hiddenpop.simulate.study import StudyResult, run_study, study_figures, summarise, summary_markdown

    params = read_params(ROOT / "examples" / "params.toml")
    design = read_params(ROOT / "examples" / "design.toml")
    pop = generate_population(params, rng=20240304)
    truth = pop.truth()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rep_file = out / "replicates.csv"
    done = pd.read_csv(rep_file) if rep_file.exists() else None
    start = int(done["replicate"].max()) + 1 if done is not None and len(done) else 0
    elapsed_before = float((out / "elapsed_s.txt").read_text()) if (out / "elapsed_s.txt").exists() else 0.0
    t0 = time.time()
    if start:
        print(f"resuming after {start} replications", file=sys.stderr, flush=True)
    while start < args.reps:
        n = min(args.block, args.reps - start)
        res = run_study(pop, design, reps=n, start=start, rng=2024, jobs=args.jobs,
                        bootstrap_reps=args.bootstrap_reps)
        done = res.replicates if done is None else pd.concat([done, res.replicates], ignore_index=True)
        start += n
        elapsed = elapsed_before + time.time() - t0
        done.to_csv(rep_file.with_suffix(".tmp"), index=False)
        rep_file.with_suffix(".tmp").replace(rep_file)
        (out / "elapsed_s.txt").write_text(f"{elapsed:.0f}\n")
        summary = summarise(done, truth)
        summary.to_csv(out / "summary.csv", index=False)
        text = (f"{start} replications, B = {args.bootstrap_reps} bootstrap replicates each, "
                f"{elapsed:.0f} s on {args.jobs} processes.\n\n" + summary_markdown(summary))
        (out / "summary.md").write_text(text)
        print(f"{start}/{args.reps} replications, {elapsed:.0f} s", file=sys.stderr, flush=True)
    summary = summarise(done, truth)
    for name, fig in study_figures(StudyResult(replicates=done, summary=summary, truth=truth)).items():
        fig.savefig(out / f"{name}.png", dpi=110, bbox_inches="tight")
    print((out / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
