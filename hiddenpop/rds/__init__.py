"""Referral stage: referral logs, recruitment graphs and respondent-driven-sampling estimators.

The names below are imported from their submodules on first use (PEP 562), so that importing
one light submodule (e.g. :mod:`hiddenpop.rds.coupons` for ``hiddenpop referrals status``) does not
load scipy and statsmodels through the estimators, bootstraps and regression.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, tuple[str, ...]] = {
    "tree": ("RecruitmentTree", "build_tree"),
    # RDS sample, point estimators and SS inclusion probabilities
    "sample": ("RDSSample", "rds_sample_from_table", "clean_degree", "DEGREE_RULES", "parse_population_size"),
    "estimators": ("ESTIMATORS", "estimate", "rds_weights", "vh_weights", "rds_i_weights", "transition_counts",
                   "stationary_distribution", "hajek", "hajek_mean", "outcome_codes",
                   "population_size_sensitivity"),
    "ss": ("SS_METHODS", "ss_inclusion_probabilities"),
    "hcg": ("HCGResult", "hcg_estimate", "hcg_weights"),
    "diagnostics": ("bottleneck_plot", "convergence_plot", "cumulative_estimates", "differential_activity",
                    "population_homophily", "recruitment_homophily", "transition_matrix"),
    # variance (bootstraps), regression with RDS weights, simulation
    "bootstrap": ("BOOTSTRAP_METHODS", "CI_TYPES", "BootstrapResult", "bootstrap", "salganik_bootstrap",
                  "tree_bootstrap", "ss_bootstrap", "neighbourhood_bootstrap"),
    "regression": ("REGRESSION_FAMILIES", "rds_regression", "replicate_weights", "replicate_regression"),
    "simulate": ("population_network", "simulate_rds", "rds_simulation_study"),
    # referral stage (field store, validation, graph)
    "graph": ("build_graph",),
    "validate": ("Problem", "validate_log"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [name for names in _EXPORTS.values() for name in names]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hiddenpop.rds' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hiddenpop.rds.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
