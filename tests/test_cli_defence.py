"""The command line's last line of defence and its exit codes (issue #10, README "Exit codes")."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import hiddenpop
import hiddenpop.spatial
from hiddenpop.cli import EXIT_CODES, main

ROOT = Path(__file__).parents[1]
FRAME = ["frame", "sample", str(ROOT / "examples" / "data" / "frame.geojson"), "--n", "3", "--rng-seed", "1", "--no-map"]


@pytest.fixture
def broken_sampler(monkeypatch):
    def boom(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(hiddenpop.spatial, "sample_points", boom)


@pytest.mark.internal_error
def test_unknown_exception_is_one_line_with_version_and_exit_70(runner, tmp_path, broken_sampler):
    out = tmp_path / "p.csv"
    r = runner.invoke(main, [*FRAME, "-o", str(out)])
    assert r.exit_code == 70
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert re.fullmatch(rf"Error: internal error in 'hiddenpop frame sample' \(ZeroDivisionError; hiddenpop "
                        rf"{re.escape(hiddenpop.__version__)}\): run again with -v for the details and report it",
                        lines[0])
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.internal_error
def test_verbose_shows_the_traceback(runner, tmp_path, broken_sampler):
    r = runner.invoke(main, ["-v", *FRAME, "-o", str(tmp_path / "p.csv")])
    assert isinstance(r.exception, ZeroDivisionError)


def test_interrupt_exits_130_and_leaves_nothing(runner, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hiddenpop.spatial, "sample_points", interrupted)
    r = runner.invoke(main, [*FRAME, "-o", str(tmp_path / "p.csv")])
    assert r.exit_code == 130 and "Interrupted" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_known_errors_and_usage_keep_their_codes(runner, tmp_path):
    r = runner.invoke(main, ["frame", "sample", str(tmp_path / "missing.gpkg"), "--n", "3", "--rng-seed", "1",
                             "-o", str(tmp_path / "p.csv")])
    assert r.exit_code == 1 and "file not found" in r.stderr
    assert runner.invoke(main, ["frame", "sample", "--no-such-option"]).exit_code == 2


def test_readme_documents_every_exit_code():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("## Exit codes"):]
    for code in EXIT_CODES:
        assert re.search(rf"^\| {code} \|", table, re.M), code
