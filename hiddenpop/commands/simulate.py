"""``hiddenpop simulate``: synthetic populations and repeated-sampling studies."""
from __future__ import annotations

import click

__all__ = ["simulate"]


@click.group()
def simulate() -> None:
    """Synthetic populations and simulation studies of whole designs."""
