"""``hiddenpop frame``: first-stage frames, points and inclusion probabilities."""
from __future__ import annotations

import click

__all__ = ["frame"]


@click.group()
def frame() -> None:
    """Spatial first stage: check a frame, draw points, inclusion probabilities."""
