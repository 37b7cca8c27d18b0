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
