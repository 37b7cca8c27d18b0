"""``hiddenpop weights`` and ``hiddenpop estimate``: the weighting engine."""
from __future__ import annotations

import click

__all__ = ["weights", "estimate"]


@click.group()
def weights() -> None:
    """Weighting engine: inclusion probabilities, weights, calibration."""


@click.command()
def estimate() -> None:
    """Design-based estimates with standard errors, by domain."""
