"""``hiddenpop report``: the end-to-end HTML/Markdown report."""
from __future__ import annotations

import click

__all__ = ["report"]


@click.command()
def report() -> None:
    """Write the end-to-end report of a work folder."""
