"""hiddenpop: survey hidden populations with a spatial first stage, referrals and design weights.

Subpackages
-----------
hiddenpop.spatial
    First-stage points over admin polygons, with exact inclusion probabilities.
hiddenpop.rds
    Referral logs, recruitment graphs and respondent-driven-sampling estimators.
hiddenpop.weights
    Inclusion probabilities for the two-stage design, calibration and design-based estimates.
hiddenpop.io
    The only place that reads or writes files.
"""
from hiddenpop.errors import (
    ConvergenceError,
    DesignError,
    EstimationError,
    FrameError,
    HiddenPopError,
    HiddenPopWarning,
    InputFileError,
    LonelyPSUError,
    OutputExistsError,
    RecruitmentError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "HiddenPopError",
    "FrameError",
    "DesignError",
    "LonelyPSUError",
    "RecruitmentError",
    "EstimationError",
    "ConvergenceError",
    "InputFileError",
    "OutputExistsError",
    "HiddenPopWarning",
]
