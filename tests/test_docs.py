"""Every code block of the user guides (docs/*.md) and of the README runs as written (issue 13).

The blocks are run in order, one guide at a time, from a work folder that looks like the
repository root after `make demo`: `examples/` and `tests/` (the bundled data and R reference
data) and `demo-output/` (a fresh run of examples/demo.py). Whatever the commands write lands
in that folder, never in the repository.

- ```sh blocks: every line through bash with `set -e` (a command that fails fails the test);
  `hiddenpop` is this checkout's CLI.
- ```python blocks: executed in one namespace per guide, so a later block may use an earlier one's
  names.
- ```toml and ```csv blocks must parse.
- ```r and ```stata blocks are code for other programs (the tests run without R or Stata): shown,
  not run.
- ```text blocks are not run, and each one is listed in NOT_RUN below with the reason (a diagram,
  a screen output, a synopsis with placeholders followed by the same commands on the example):
  a command block cannot escape the test by its tag. A block without a language is an error.

In the README, the lines `make demo`/`make test` (the entry points, which CI runs) and
`source .venv/bin/activate` (the test already runs this checkout's hiddenpop) are not run again.
"""
from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
NOT_AGAIN = ("make ", "source .venv")
BLOCK = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)
SHOWN = {"r", "stata"}          # code for other programs
RUN = {"sh", "python"}
PARSED = {"toml", "csv"}
#: the ```text blocks, by (guide, start of their first line), and why each is not run
NOT_RUN = {
    ("architecture.md", "hiddenpop/cli.py, hiddenpop/commands/"): "a diagram of the four layers",
    ("architecture.md", "file ──read_referrals──▶"): "a diagram of an import's data flow",
    ("spatial.md", "hiddenpop frame check FRAME"):
        "a synopsis with placeholders (FRAME, region, pop.tif); the next block runs the same commands on the example",
    ("spatial.md", "examples/data/frame.geojson: OK, 18 units"):
        "the screen output of frame check (test_frame_check_output_sample_is_what_it_prints compares it)",
    ("README.md", "hiddenpop frame check examples/data/frame.geojson --stratum-col stratum"):
        "what `make demo` runs (examples/demo.py writes demo-output/, which the tests' demo run makes); "
        "test_demo_listing_is_what_the_demo_runs checks the listing against the script",
}


def blocks(path: Path) -> list[tuple[str, str, int]]:
    """(language, code, line number) of every fenced block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [(m.group(1).strip(), m.group(2), text[:m.start()].count("\n") + 1) for m in BLOCK.finditer(text)]


def test_every_block_says_its_language():
    bad = [f"{p.name}:{line} ({lang or 'no language'})" for p in DOCS for lang, _, line in blocks(p)
           if lang not in SHOWN | RUN | PARSED | {"text"}]
    assert not bad, "tag these blocks (sh, python, toml, csv, text, r, stata): " + ", ".join(bad)
    assert sum(lang in RUN for p in DOCS for lang, _, _ in blocks(p)) >= 12


def _not_run_reason(doc: Path, code: str) -> str | None:
    first = next((ln.strip() for ln in code.splitlines() if ln.strip()), "")
    return next((why for (name, start), why in NOT_RUN.items() if name == doc.name and first.startswith(start)), None)


def test_no_block_escapes_the_run_by_its_tag():
    # every ```text block is a listed exception with its reason, and every exception is still there
    text = [(p, code, line) for p in DOCS for lang, code, line in blocks(p) if lang == "text"]
    unlisted = [f"{p.name}:{line}" for p, code, line in text if _not_run_reason(p, code) is None]
    assert not unlisted, "run these blocks (```sh) or list them in NOT_RUN with a reason: " + ", ".join(unlisted)
    used = {(p.name, start) for p, code, _ in text for (name, start) in NOT_RUN
            if name == p.name and next((ln.strip() for ln in code.splitlines() if ln.strip()), "").startswith(start)}
    assert used == set(NOT_RUN), f"stale NOT_RUN entries: {set(NOT_RUN) - used}"


def test_field_loop_blocks_are_run():
    # the field loop's commands (issue 13): real blocks on the example, not synopses
    for doc in (ROOT / "docs" / "field.md", ROOT / "README.md"):
        run = "\n".join(code for lang, code, _ in blocks(doc) if lang == "sh")
        for command in ("hiddenpop field form", "hiddenpop field coupons", "hiddenpop referrals dashboard",
                        "--visits examples/data/point_sheet_export.csv"):
            assert command in run, (doc.name, command)


def test_demo_listing_is_what_the_demo_runs():
    # the README's "What make demo does" block (not run: the demo run makes demo-output/) lists the
    # commands of examples/demo.py, in its order
    listing = next(code for lang, code, _ in blocks(ROOT / "README.md")
                   if lang == "text" and code.lstrip().startswith("hiddenpop frame check"))
    def key(words: list[str]) -> tuple[str, ...]:   # the command and its subcommand ("frame", "check")
        return tuple(words[:1] + [w for w in words[1:2] if re.fullmatch(r"[a-z]+", w)])

    listed = [key(ln.split()[1:3]) for ln in listing.splitlines() if ln.startswith("hiddenpop ")]
    listed = [c for i, c in enumerate(listed) if i == 0 or c != listed[i - 1]]   # the script imports in a loop
    script = (ROOT / "examples" / "demo.py").read_text(encoding="utf-8")
    ran = iter(key(re.findall(r'"([^"]*)"', m)[:2]) for m in re.findall(r"run\(\[([^\]]*)", script))
    assert all(c in ran for c in listed), (listed, script)    # in the script's order (``in`` consumes ``ran``)
    assert len(listed) >= 14


def test_frame_check_output_sample_is_what_it_prints():
    sample = next(code for lang, code, _ in blocks(ROOT / "docs" / "spatial.md")
                  if lang == "text" and code.startswith("examples/data/frame.geojson: OK"))
    res = subprocess.run([sys.executable, "-m", "hiddenpop.cli", "frame", "check", "examples/data/frame.geojson",
                          "--stratum-col", "stratum", "--size-col", "registered_refugees"], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == sample.strip()


@pytest.fixture(scope="module")
def workdir(demo_run, tmp_path_factory):
    demo, _ = demo_run
    return demo


def _folder(demo: Path, tmp: Path) -> Path:
    for name in ("examples", "tests"):
        (tmp / name).symlink_to(ROOT / name, target_is_directory=True)
    (tmp / "demo-output").symlink_to(demo, target_is_directory=True)
    return tmp


@pytest.mark.parametrize("doc", [p for p in DOCS if any(lang in RUN | PARSED for lang, _, _ in blocks(p))],
                         ids=lambda p: p.name)
def test_code_blocks_run_as_written(doc, workdir, tmp_path, monkeypatch):
    folder = _folder(workdir, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "MPLBACKEND": "Agg"}
    shim = f'hiddenpop() {{ "{sys.executable}" -m hiddenpop.cli "$@"; }}\nset -e\n'
    namespace: dict = {"__name__": "__docs__"}
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(ROOT))
    for lang, code, line in blocks(doc):
        where = f"{doc.name}, block at line {line}"
        if lang == "sh":
            if doc.name == "README.md":
                code = "\n".join(ln for ln in code.splitlines() if not ln.startswith(NOT_AGAIN))
            res = subprocess.run(["bash", "-c", shim + code], cwd=folder, env=env, capture_output=True, text=True,
                                 timeout=600)
            assert res.returncode == 0, f"{where} failed:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
        elif lang == "python":
            try:
                exec(compile(code, where, "exec"), namespace)
            except Exception as exc:   # name the block in the failure
                raise AssertionError(f"{where} failed: {type(exc).__name__}: {exc}") from exc
        elif lang == "toml":
            tomllib.loads(code)
        elif lang == "csv":
            rows = list(csv.reader(io.StringIO(code)))
            assert len({len(r) for r in rows}) == 1, f"{where}: rows of different lengths"


def test_simulation_guide_lists_every_section_of_the_report():
    # docs/simulation.md section 6 describes the report as build_report writes it: every numbered
    # heading (heading("...") in hiddenpop/report/__init__.py) and the two unnumbered blocks, in order
    src = (ROOT / "hiddenpop" / "report" / "__init__.py").read_text(encoding="utf-8")
    sections = re.findall(r'heading\("([^"]+)"\)', src)
    assert len(sections) >= 7 and sections[0] == "How many unregistered refugees"
    guide = (ROOT / "docs" / "simulation.md").read_text(encoding="utf-8")
    part = guide[guide.index("## 6. The report"):]
    part = part[:part.index("\n## ", 5)] if "\n## " in part[5:] else part
    named = re.findall(r"\*\*([^*]+)\*\*", part)
    listed = [n for n in named if n in sections]
    assert listed == sections, (named, sections)
    assert "How to read the tables" in named and "Technical details" in named
