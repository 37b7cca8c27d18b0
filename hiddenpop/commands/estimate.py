"""``hiddenpop estimate``: design-based estimates from any weighted survey file."""
from __future__ import annotations

import click

__all__ = ["estimate"]


@click.command()
def estimate() -> None:
    """Design-based estimates with standard errors, by domain."""
