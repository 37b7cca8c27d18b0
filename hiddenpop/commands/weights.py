"""``hiddenpop weights``: two-stage weights and calibration."""
from __future__ import annotations

import click

__all__ = ["weights"]


@click.group()
def weights() -> None:
    """Weighting engine: inclusion probabilities, weights, calibration."""

