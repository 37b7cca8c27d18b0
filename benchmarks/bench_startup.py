"""Benchmark: how long `hiddenpop` takes to answer (target < 0.5 s).

Times, as separate processes (what a coordinator waits for at the prompt): `hiddenpop --version`,
`hiddenpop --help`, the `--help` of every command group and of `estimate`, and
`hiddenpop referrals status` on a small store (the bundled example's three field days), against
`python -c "import click"` (the floor of any click program) and `python -c "import pandas"`
(what every command that reads a table must pay) in the same run.

Prints, per command, the median of 7 runs of the wall-clock time and of the child's CPU time
(user + sys), the ratio of the wall time to `import click`'s, and the 1-minute load average when
the command was timed. The machine is shared, so wall time grows with the load while CPU time
hardly does: the target is judged on the wall time when the load average is below the number of
cores, else on the CPU time, and each row says which was judged. Also lists any heavy library
(scipy, statsmodels, matplotlib, geopandas, shapely, pyproj, networkx) that `--help` imports.

Run: .venv/bin/python benchmarks/bench_startup.py [--strict]
(exit code 0; with --strict, 1 when a judged target is missed or `--help` loads a heavy library)
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 7
TARGET = 0.5
HEAVY = ("scipy", "statsmodels", "matplotlib", "geopandas", "shapely", "pyproj", "networkx")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def timed(argv: list[str], repeat: int = REPEAT) -> tuple[float, float, float]:
    """Medians over ``repeat`` runs of ``argv`` (output discarded, must exit 0): wall seconds, CPU
    seconds of the child (user + sys), and the 1-minute load average when the runs ended."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus), os.getloadavg()[0]


def heavy_modules(args: list[str]) -> list[str]:
    """Heavy top-level packages loaded by ``hiddenpop ARGS`` (run in a fresh interpreter)."""
    code = ("import sys\nfrom click.testing import CliRunner\nfrom hiddenpop.cli import main\n"
            f"CliRunner().invoke(main, {args!r})\n"
            f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=_env())
    return [m for m in out.stdout.strip().split(",") if m]


def small_store(folder: Path) -> Path:
    """The bundled example's three daily logs imported into a fresh store."""
    store = folder / "referrals.db"
    cli = [sys.executable, "-m", "hiddenpop.cli"]
    subprocess.run(cli + ["referrals", "init", str(store)], check=True, capture_output=True, env=_env())
    for log in sorted((ROOT / "examples" / "data").glob("referral_log_*.csv")):
        subprocess.run(cli + ["referrals", "import", str(store), str(log)], capture_output=True, env=_env())
    return store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a judged target is missed (or --help loads a heavy library)")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    cli = [sys.executable, "-m", "hiddenpop.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        store = small_store(Path(tmp))
        cases = {
            'python -c "import click"': [sys.executable, "-c", "import click"],
            'python -c "import pandas"': [sys.executable, "-c", "import pandas"],
            "hiddenpop --version": cli + ["--version"],
            "hiddenpop --help": cli + ["--help"],
            "hiddenpop frame --help": cli + ["frame", "--help"],
            "hiddenpop referrals --help": cli + ["referrals", "--help"],
            "hiddenpop rds estimate --help": cli + ["rds", "estimate", "--help"],
            "hiddenpop weights --help": cli + ["weights", "--help"],
            "hiddenpop estimate --help": cli + ["estimate", "--help"],
            "hiddenpop simulate --help": cli + ["simulate", "--help"],
            "hiddenpop referrals status (small store)": cli + ["referrals", "status", str(store)],
        }
        results = {name: timed(argv) for name, argv in cases.items()}
        heavy = heavy_modules(["--help"])
    base = results['python -c "import click"'][0]
    print(f"# hiddenpop start-up, medians of {REPEAT} runs ({cores} cores; target < {TARGET} s, judged on the wall "
          f"time when the 1-minute load average is below {cores}, else on the CPU time)\n")
    print("| command | wall (s) | CPU user+sys (s) | wall × import click | load (1 min) | judged |")
    print("|---|---|---|---|---|---|")
    missed = []
    for name, (wall, cpu, load) in results.items():
        judged = ""
        if not name.startswith("python"):
            basis, value = ("wall", wall) if load < cores else ("CPU", cpu)
            ok = value < TARGET
            judged = f"{basis} {value:.3f} {'<' if ok else '>='} {TARGET}: {'met' if ok else '**missed**'}"
            if not ok:
                missed.append(name)
        print(f"| `{name}` | {wall:.3f} | {cpu:.3f} | {wall / base:.1f} | {load:.2f} | {judged} |")
    print(f"\nheavy libraries imported by `hiddenpop --help`: {', '.join(heavy) or 'none'}")
    print(f"\ntarget < {TARGET} s: " + (f"missed by {', '.join(missed)}" if missed else "met by every command")
          + (" (exit 1 with --strict)" if (missed or heavy) and not args.strict else ""))
    return 1 if args.strict and (missed or heavy) else 0


if __name__ == "__main__":
    sys.exit(main())
