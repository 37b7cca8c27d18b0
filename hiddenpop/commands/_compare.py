"""The ``--compare`` part of ``hiddenpop estimate``: differences between domains.

Kept apart from :mod:`hiddenpop.commands.estimate` so that command stays a thin list of
options; this module only decides where the differences go (file, JSON, screen).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["differences_path", "compute_differences"]


def differences_path(output: str) -> Path:
    """Where ``-o est.csv --compare ...`` writes the differences: ``est_differences.csv``."""
    p = Path(output)
    return p.with_name(p.stem + "_differences" + (p.suffix or ".csv"))


def compute_differences(data, prepared, *, crossings: list[list[str]], compare: str, reference: str | None,
                        variables: list[str], statistic: str, denominator: str | None, variance: str,
                        replicates: Any, min_cell: int | None, level: float, ratio: bool, source: str = "data"):
    """Differences for every ``--by`` crossing that holds the ``--compare`` variable."""
    import pandas as pd

    from hiddenpop.errors import EstimationError
    from hiddenpop.weights.compare import compare_domains

    used = [c for c in crossings if compare in c]
    if not used:
        raise click.UsageError(f"--compare {compare} must also be a --by variable (e.g. --by {compare} or "
                               f"--by {compare},sex): the differences are between its domains")
    try:
        tables = [compare_domains(data, prepared, variables=variables, compare=compare, reference=reference,
                                  statistic=statistic, by=[b for b in c if b != compare], denominator=denominator,
                                  variance=variance, replicates=replicates, min_cell=min_cell, level=level,
                                  ratio=ratio)
                  for c in used]
    except EstimationError as exc:   # name the file
        if exc.where:
            raise
        raise EstimationError(exc.message, where=source, fix=exc.fix) from None
    return pd.concat(tables, ignore_index=True)
