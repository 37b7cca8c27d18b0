"""Respondent-driven-sampling estimation: samples, estimators, SS, HCG, bootstraps, diagnostics, regression.

The field side of the referral stage (validation, coupons, field status, graphs, plots) lives in
:mod:`hiddenpop.referrals`. The names below are loaded on first use (PEP 562), so importing one
module of this package (``hiddenpop.rds.ss`` from the weighting engine, ``hiddenpop.rds.tree``
from the referral stage) does not load the bootstraps, the regression or matplotlib.
"""
from __future__ import annotations

import importlib
from typing import Any

#: public name → module of this package that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("RecruitmentTree", "build_tree"), "tree"),
    **dict.fromkeys(("DEGREE_RULES", "RDSSample", "clean_degree", "parse_population_size", "rds_sample_from_table"),
                    "sample"),
    **dict.fromkeys(("ESTIMATORS", "estimate", "hajek", "hajek_mean", "outcome_codes", "population_size_sensitivity",
                     "rds_i_weights", "rds_weights", "stationary_distribution", "transition_counts", "vh_weights"),
                    "estimators"),
    **dict.fromkeys(("SS_METHODS", "ss_inclusion_probabilities"), "ss"),
    **dict.fromkeys(("el_intervals", "el_standard_error"), "analytic"),
    **dict.fromkeys(("HCGResult", "hcg_estimate", "hcg_weights"), "hcg"),
    **dict.fromkeys(("bottleneck_plot", "convergence_plot", "cumulative_estimates", "differential_activity",
                     "population_homophily", "recruitment_homophily", "transition_matrix"), "diagnostics"),
    **dict.fromkeys(("BOOTSTRAP_METHODS", "CI_TYPES", "BootstrapResult", "bootstrap", "neighbourhood_bootstrap",
                     "salganik_bootstrap", "ss_bootstrap", "tree_bootstrap"), "bootstrap"),
    **dict.fromkeys(("REGRESSION_FAMILIES", "rds_regression", "replicate_regression", "replicate_weights"),
                    "regression"),
    **dict.fromkeys(("population_network", "rds_simulation_study", "simulate_rds"), "simulate"),
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hiddenpop.rds' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hiddenpop.rds.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
