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
- ```text (screen output, synopses), ```r and ```stata (code for other programs, not run here)
  are shown, not run. A block without a language is an error: say what it is.

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
SHOWN = {"text", "r", "stata"}
RUN = {"sh", "python"}
PARSED = {"toml", "csv"}


def blocks(path: Path) -> list[tuple[str, str, int]]:
    """(language, code, line number) of every fenced block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [(m.group(1).strip(), m.group(2), text[:m.start()].count("\n") + 1) for m in BLOCK.finditer(text)]


def test_every_block_says_its_language():
    bad = [f"{p.name}:{line} ({lang or 'no language'})" for p in DOCS for lang, _, line in blocks(p)
           if lang not in SHOWN | RUN | PARSED]
    assert not bad, "tag these blocks (sh, python, toml, csv, text, r, stata): " + ", ".join(bad)
    assert sum(lang in RUN for p in DOCS for lang, _, _ in blocks(p)) >= 12


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
