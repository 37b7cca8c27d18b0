"""Make the README's and the guides' pictures of the bundled example from a demo run.

    python examples/demo.py --out demo-output
    python examples/readme_images.py demo-output        # writes docs/img/*.png

The pictures are the example's own: the first-stage map the demo drew (points.png), the
recruitment summary and the convergence plot of its referral store, the top of its report and
the top of the coordinator's dashboard (screenshots by headless Chromium, when it is installed). Run it again whenever the example or
the figures change, and commit docs/img/.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMG = HERE.parent / "docs" / "img"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _hiddenpop() -> list[str]:
    exe = Path(sys.executable).with_name("hiddenpop")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "hiddenpop.cli"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Make docs/img/ pictures from a demo run.")
    ap.add_argument("demo", nargs="?", default="demo-output", help="The demo's work folder.")
    args = ap.parse_args(argv)
    demo = Path(args.demo)
    if not (demo / "report.html").exists():
        print(f"{demo}: no report.html; run `python examples/demo.py --out {demo}` first", file=sys.stderr)
        return 1
    IMG.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo / "points.png", IMG / "points_map.png")
    shutil.copyfile(demo / "report_referrals.png", IMG / "trees.png")
    subprocess.run(_hiddenpop() + ["referrals", "plot", str(demo / "referrals.db"), "--kind", "convergence",
                                   "--var", "registered", "-o", str(IMG / "convergence.png"), "--overwrite"],
                   check=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        for page, shot, size in (("report.html", "report_top.png", "1100,1500"),
                                 ("dashboard.html", "dashboard.png", "1100,1300")):
            with tempfile.TemporaryDirectory() as profile:
                subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size}",
                                f"--screenshot={IMG / shot}", (demo / page).resolve().as_uri()],
                               check=True, capture_output=True, timeout=120)
    else:
        print("headless Chromium not found: docs/img/report_top.png and dashboard.png left as they were",
              file=sys.stderr)
    print(f"wrote {IMG}/points_map.png, trees.png, convergence.png"
          + (", report_top.png, dashboard.png" if chromium else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
