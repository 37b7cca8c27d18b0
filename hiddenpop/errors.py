"""Every exception and warning class of hiddenpop.

Each error also subclasses the matching builtin (``ValueError``, ``RuntimeError``,
``FileExistsError``) so generic handlers still catch it. Messages say what is wrong,
where (file, row, column, value), and how to fix it; :func:`format_where` and
:func:`truncate_list` build those parts consistently.

Examples
--------
>>> from hiddenpop.errors import FrameError, format_where
>>> err = FrameError("duplicate unit ids", where=format_where("frame.gpkg", row=4, column="unit_id", value="D-07"),
...                  fix="give every area its own id")
>>> str(err)
"frame.gpkg, row 4, column 'unit_id', value 'D-07': duplicate unit ids. Fix: give every area its own id."
>>> isinstance(err, ValueError)
True
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "HiddenPopError",
    "InputFileError",
    "OutputExistsError",
    "FrameError",
    "DesignError",
    "LonelyPSUError",
    "RecruitmentError",
    "EstimationError",
    "ConvergenceError",
    "HiddenPopWarning",
    "CRSMismatchWarning",
    "LonelyPSUWarning",
    "ExtremeWeightWarning",
    "ConvergenceWarning",
    "DegreeImputedWarning",
    "format_where",
    "truncate_list",
]


def truncate_list(values: Iterable[Any], limit: int = 5) -> str:
    """Render values as ``"17, 23, … (12 total)"`` for messages.

    >>> truncate_list([1, 2, 3])
    '1, 2, 3'
    >>> truncate_list(range(12), limit=3)
    '0, 1, 2, … (12 total)'
    """
    values = list(values)
    shown = ", ".join(str(v) for v in values[:limit])
    if len(values) > limit:
        shown += f", … ({len(values)} total)"
    return shown


def format_where(
    file: Any = None, *, row: int | None = None, column: str | None = None, value: Any = None
) -> str:
    """Build the "where" part of a message: ``file, row N, column 'c', value 'v'``.

    Row numbers are the ones a person sees in the file (1-based, header is row 1 for
    CSV files, so the first data row is row 2); callers pass them already converted.

    >>> format_where("log.csv", row=7, column="network_size", value=-3)
    "log.csv, row 7, column 'network_size', value -3"
    """
    parts = []
    if file is not None:
        parts.append(str(file))
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column '{column}'")
    if value is not None:
        parts.append(f"value {value!r}")
    return ", ".join(parts)


class HiddenPopError(Exception):
    """Base class of every error hiddenpop raises on purpose.

    Parameters
    ----------
    message
        What is wrong, in the user's words.
    where
        Optional location (see :func:`format_where`).
    fix
        Optional advice on how to fix it.
    """

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None):
        self.message = message
        self.where = where
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.fix:
            text = text.rstrip(".") + f". Fix: {self.fix.rstrip('.')}."
        return text

    def __str__(self) -> str:  # keep the rendered text even if args are changed
        return self._render()


class InputFileError(HiddenPopError, ValueError):
    """An input file cannot be read or does not have the expected structure."""


class OutputExistsError(HiddenPopError, FileExistsError):
    """An output file exists and ``overwrite`` was not requested."""


class FrameError(HiddenPopError, ValueError):
    """Bad sampling frame: duplicate ids, empty/invalid geometry, missing CRS, negative size."""


class DesignError(HiddenPopError, ValueError):
    """Bad design: probabilities outside (0, 1], impossible allocation, unknown column."""


class LonelyPSUError(DesignError):
    """A stratum has a single PSU and the lonely-PSU policy is ``fail``."""


class RecruitmentError(HiddenPopError, ValueError):
    """Bad referral data: cycle, unknown recruiter, self-recruitment, time order, bad degree."""


class EstimationError(HiddenPopError, RuntimeError):
    """An estimate cannot be computed from the data given."""


class ConvergenceError(EstimationError):
    """An iterative method (raking, calibration, SS, HCG) did not converge."""


class HiddenPopWarning(UserWarning):
    """Base class of hiddenpop warnings."""


class CRSMismatchWarning(HiddenPopWarning):
    """Two layers were in different coordinate reference systems and one was reprojected."""


class LonelyPSUWarning(HiddenPopWarning):
    """A stratum with a single PSU was handled by the chosen lonely-PSU policy."""


class ExtremeWeightWarning(HiddenPopWarning):
    """Some weights are extreme (e.g. above a multiple of the median)."""


class ConvergenceWarning(HiddenPopWarning):
    """An iterative method stopped before reaching its tolerance."""


class DegreeImputedWarning(HiddenPopWarning):
    """Missing or zero network sizes were replaced by the documented rule."""
