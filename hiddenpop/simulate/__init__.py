"""Simulation: synthetic populations, the full two-stage sampler and repeated-sampling studies.

See ``docs/simulation.md`` for a guide and the study results.
"""
from hiddenpop.simulate.population import DEFAULT_PARAMS, Population, generate_population, merge_params

__all__ = ["DEFAULT_PARAMS", "Population", "generate_population", "merge_params"]
