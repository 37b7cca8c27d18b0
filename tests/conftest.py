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
