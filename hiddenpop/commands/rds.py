"""``hiddenpop rds``: respondent-driven-sampling estimates and diagnostics."""
from __future__ import annotations

import click

__all__ = ["rds"]


@click.group()
def rds() -> None:
    """RDS estimators (RDS-I, RDS-II, SS, HCG), bootstraps and diagnostics."""
