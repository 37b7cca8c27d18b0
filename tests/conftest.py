"""Shared fixtures: the CLI runner and paths to the bundled reference data."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest
from click.testing import CliRunner

matplotlib.use("Agg")

DATA = Path(__file__).parent / "data"
RDS_ORACLE = DATA / "rds_oracle"
SURVEY_REFERENCE = DATA / "survey_reference"


@pytest.fixture
def runner() -> CliRunner:
    """A click test runner (stdout and stderr are kept apart)."""
    return CliRunner()


@pytest.fixture
def rds_oracle() -> Path:
    return RDS_ORACLE


@pytest.fixture
def survey_reference() -> Path:
    return SURVEY_REFERENCE


@pytest.fixture(autouse=True)
def _no_internal_error(request, monkeypatch):
    """Fail any test in which a command reaches the CLI's internal-error path (exit 70).

    A known bad input must get its own one-line message (exit 1); exit 70 means a bug (issue #10).
    Tests that trigger it on purpose carry ``@pytest.mark.internal_error``.
    """
    import hiddenpop.cli as cli

    seen: list[str] = []
    original = cli._internal_error_line

    def record(what, exc):
        seen.append(f"{what}: {type(exc).__name__}: {exc}")
        return original(what, exc)

    monkeypatch.setattr(cli, "_internal_error_line", record)
    yield
    if seen and request.node.get_closest_marker("internal_error") is None:
        pytest.fail("a command reached the internal-error path (exit 70): " + "; ".join(seen), pytrace=False)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """``examples/demo.py`` run once per test process: (work folder, its stdout).

    A guard against a hang, not a speed test: the demo takes about 40 s on an idle 2-core
    machine (it prints its own time) but several times that under load.
    """
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("demo") / "demo-output"
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, str(root / "examples" / "demo.py"), "--out", str(out)],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out, res.stdout
