"""Sample-size helper: number of first-stage points per stratum.

For a proportion ``P`` estimated with margin of error ``e`` at confidence ``1 − α``
(normal approximation, e.g. Lohr 2022, §2.7), the number of responding households is

    m = z²_{1−α/2} · P (1 − P) / e² · deff

and the number of points is ``ceil(m / (h · r))`` with ``h`` the expected number of eligible
households per point (circle) and ``r`` the response rate. The design effect ``deff`` should
include the clustering of households within circles (often 1.5–3 for RGCS).
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd
from scipy.stats import norm

from hiddenpop.errors import DesignError

__all__ = ["points_needed", "points_per_stratum"]


def points_needed(margin: float, *, households_per_point: float, proportion: float = 0.5, deff: float = 2.0,
                  response_rate: float = 1.0, confidence: float = 0.95) -> dict[str, float]:
    """Points needed in one stratum (or domain) for a target margin of error.

    Examples
    --------
    >>> r = points_needed(0.05, households_per_point=4, deff=2.0, response_rate=0.8)
    >>> r["households"], r["points"]  # 1.96^2 * .25 / .05^2 * 2 = 768.3 -> 769; 769 / 3.2 -> 241
    (769, 241)
    """
    for name, value, lo, hi in (("margin", margin, 0, 1), ("proportion", proportion, 0, 1),
                                ("response_rate", response_rate, 0, 1), ("confidence", confidence, 0, 1)):
        if not (lo < value <= hi) or (name in ("margin", "confidence") and value >= 1):
            raise DesignError(f"{name} must lie in (0, 1), got {value!r}", where=f"--{name.replace('_', '-')}")
    if deff < 1 or households_per_point <= 0:
        raise DesignError("deff must be >= 1 and households per point > 0",
                          fix="a design effect below 1 is not plausible for clustered points")
    z = float(norm.ppf(1 - (1 - confidence) / 2))
    households = math.ceil(z * z * proportion * (1 - proportion) / (margin * margin) * deff - 1e-9)
    points = math.ceil(households / (households_per_point * response_rate) - 1e-9)
    return {"z": round(z, 6), "households": households, "points": points}


def points_per_stratum(margin: float, *, households_per_point: Any, strata: Any = None, **kwargs: Any) -> pd.DataFrame:
    """Points per stratum, each stratum reaching the margin on its own.

    ``households_per_point`` may be one number or a mapping stratum → number.

    >>> points_per_stratum(0.1, households_per_point={"N": 2, "S": 5}, deff=1.5)[["stratum", "points"]].values.tolist()
    [['N', 73], ['S', 29]]
    """
    if isinstance(households_per_point, dict):
        strata = list(households_per_point)
        hpp = households_per_point
    else:
        strata = list(strata) if strata is not None else ["all"]
        hpp = {s: households_per_point for s in strata}
    rows = [{"stratum": str(s), "households_per_point": float(hpp[s]),
             **points_needed(margin, households_per_point=float(hpp[s]), **kwargs)} for s in strata]
    return pd.DataFrame(rows)
