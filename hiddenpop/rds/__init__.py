"""Referral stage: referral logs, recruitment graphs and respondent-driven-sampling estimators."""
from hiddenpop.rds.tree import RecruitmentTree, build_tree

__all__ = ["RecruitmentTree", "build_tree"]

# RDS sample, point estimators and SS inclusion probabilities (issue 4, estimators)
from hiddenpop.rds.sample import (DEGREE_RULES, RDSSample, clean_degree, parse_population_size,  # noqa: E402
                                  rds_sample_from_table)
from hiddenpop.rds.estimators import (ESTIMATORS, estimate, hajek, hajek_mean, outcome_codes,  # noqa: E402
                                      population_size_sensitivity, rds_i_weights, rds_weights,
                                      stationary_distribution, transition_counts, vh_weights)
from hiddenpop.rds.ss import SS_METHODS, ss_inclusion_probabilities  # noqa: E402

__all__ += ["RDSSample", "rds_sample_from_table", "clean_degree", "DEGREE_RULES", "parse_population_size",
            "ESTIMATORS", "estimate", "rds_weights", "vh_weights", "rds_i_weights", "transition_counts",
            "stationary_distribution", "hajek", "hajek_mean", "outcome_codes", "population_size_sensitivity",
            "SS_METHODS", "ss_inclusion_probabilities"]
from hiddenpop.rds.hcg import HCGResult, hcg_estimate, hcg_weights  # noqa: E402
from hiddenpop.rds.diagnostics import (bottleneck_plot, convergence_plot, cumulative_estimates,  # noqa: E402
                                       differential_activity, population_homophily, recruitment_homophily,
                                       transition_matrix)

__all__ += ["HCGResult", "hcg_estimate", "hcg_weights", "bottleneck_plot", "convergence_plot",
            "cumulative_estimates", "differential_activity", "population_homophily", "recruitment_homophily",
            "transition_matrix"]

# Variance (bootstraps), regression with RDS weights, simulation (issue 4, variance)
from hiddenpop.rds.bootstrap import (BOOTSTRAP_METHODS, CI_TYPES, BootstrapResult, bootstrap,  # noqa: E402
                                     neighbourhood_bootstrap, salganik_bootstrap, ss_bootstrap, tree_bootstrap)
from hiddenpop.rds.regression import (REGRESSION_FAMILIES, rds_regression, replicate_regression,  # noqa: E402
                                      replicate_weights)
from hiddenpop.rds.simulate import population_network, rds_simulation_study, simulate_rds  # noqa: E402

__all__ += ["BOOTSTRAP_METHODS", "CI_TYPES", "BootstrapResult", "bootstrap", "salganik_bootstrap", "tree_bootstrap",
            "ss_bootstrap", "neighbourhood_bootstrap", "REGRESSION_FAMILIES", "rds_regression",
            "replicate_weights", "replicate_regression", "population_network", "simulate_rds",
            "rds_simulation_study"]

# referral stage (field store, validation, graph)
from hiddenpop.rds.graph import build_graph  # noqa: E402
from hiddenpop.rds.validate import Problem, validate_log  # noqa: E402

__all__ += ["build_graph", "Problem", "validate_log"]
