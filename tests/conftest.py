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
