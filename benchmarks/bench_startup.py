"""Benchmark: how long `hiddenpop` takes to answer (target < 0.5 s).

Times, as separate processes (what a coordinator waits for at the prompt): `hiddenpop --version`,
`hiddenpop --help`, the `--help` of every command group and of `estimate`, and
`hiddenpop referrals status` on a small store (the bundled example's three field days), against
`python -c "import click"` (the floor of any click program) and `python -c "import pandas"`
(what every command that reads a table must pay) in the same run. Prints medians of 7 runs, the
ratios to `import click`, and the load average before and after; also lists any heavy library
(scipy, statsmodels, matplotlib, geopandas, shapely, pyproj, networkx) that `--help` imports.

Run: .venv/bin/python benchmarks/bench_startup.py   (exit code 1 when a target is missed)
"""
from __future__ import annotations

import os
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


def median_seconds(argv: list[str], repeat: int = REPEAT) -> float:
    """Median wall-clock seconds of ``repeat`` runs of ``argv`` (output discarded, must exit 0)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
        times.append(time.perf_counter() - t)
    return statistics.median(times)


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


def main() -> int:
    load_before = os.getloadavg()
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
        results = {name: median_seconds(argv) for name, argv in cases.items()}
        heavy = heavy_modules(["--help"])
    load_after = os.getloadavg()
    base = results['python -c "import click"']
    print(f"# hiddenpop start-up, medians of {REPEAT} runs (load average before "
          f"{load_before[0]:.2f}, after {load_after[0]:.2f}; {os.cpu_count()} CPUs)\n")
    print("| command | median (s) | × import click | target |")
    print("|---|---|---|---|")
    missed = []
    for name, sec in results.items():
        target = "" if name.startswith("python") else f"< {TARGET} s"
        if target and sec >= TARGET:
            missed.append(name)
            target += " **missed**"
        print(f"| `{name}` | {sec:.3f} | {sec / base:.1f} | {target} |")
    print(f"\nheavy libraries imported by `hiddenpop --help`: {', '.join(heavy) or 'none'}")
    if missed:
        print(f"\nmissed at this load: {', '.join(missed)}")
    return 1 if missed or heavy else 0


if __name__ == "__main__":
    sys.exit(main())
