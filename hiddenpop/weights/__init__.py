"""Weighting engine: two-stage inclusion probabilities, adjustments, estimates and variances."""

# design-based estimation engine
from hiddenpop.weights.calibrate import CalibrationResult, Calibrator, Raker, calibrate, post_stratify, rake
from hiddenpop.weights.design import Design, LonelyPSU, PreparedDesign
from hiddenpop.weights.estimate import Estimate, estimate_table, mean, proportion, quantile, ratio, total
from hiddenpop.weights.regression import svyglm
from hiddenpop.weights.replicates import ReplicateFactors, make_replicates, with_replicates
from hiddenpop.weights.trim import trim_weights

__all__ = list(globals().get("__all__", [])) + ["Design", "LonelyPSU", "PreparedDesign", "Estimate", "estimate_table", "mean", "total", "proportion",
            "ratio", "quantile", "calibrate", "rake", "post_stratify", "Calibrator", "Raker", "CalibrationResult",
            "ReplicateFactors", "make_replicates", "with_replicates", "trim_weights", "svyglm"]
