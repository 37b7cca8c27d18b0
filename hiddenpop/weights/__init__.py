"""Weighting engine: two-stage inclusion probabilities, adjustments, estimates and variances."""

from hiddenpop.weights.children import child_weights
from hiddenpop.weights.pipeline import WeightingOptions, WeightsResult, compute_weights, kish_deff
from hiddenpop.weights.popsize import population_size
from hiddenpop.weights.referral import ColumnMap, base_weights, prepare_sample, referral_share

__all__ = ["compute_weights", "WeightingOptions", "WeightsResult", "kish_deff", "ColumnMap", "prepare_sample",
           "base_weights", "referral_share", "child_weights", "population_size"]

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
