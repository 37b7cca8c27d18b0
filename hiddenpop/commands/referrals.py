"""``hiddenpop referrals``: the field store of referral logs."""
from __future__ import annotations

import click

__all__ = ["referrals"]


@click.group()
def referrals() -> None:
    """Referral stage: import daily logs, validate, follow coupons and chains."""
