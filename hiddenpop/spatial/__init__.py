"""Spatial first stage: frames, first-stage points and their inclusion probabilities.

Public API
----------
SamplingFrame, choose_working_crs          the validated frame and its working CRS
sample_points, PointSample                  stratified uniform / PPS / balanced points with reserves
first_stage_probabilities, FirstStageDesign RGCS household probabilities from a manifest
disc_area_in_polygon, DiscAreaCalculator    exact disc–polygon intersection areas
PointDensity, RasterLayer                   piecewise-constant point densities
grts, lpm, spatial_balance, reserve_order   spatially balanced selection
allocate, ALLOCATIONS                       allocation of points to strata
points_per_stratum                          sample-size helper
record_replacement, REPLACEMENT_REASONS     logging reserve use (never for an empty point)
with_provenance                             a manifest with its creation time, program and file paths
densities_from_manifest, domain_geometries  rebuild densities / unit polygons from a manifest
plot_points                                 map of the points over the frame
"""
from hiddenpop.spatial.allocation import ALLOCATIONS, allocate, largest_remainder
from hiddenpop.spatial.balanced import BALANCED_METHODS, grts, lpm, reserve_order, spatial_balance
from hiddenpop.spatial.density import DENSITIES, PointDensity, RasterLayer
from hiddenpop.spatial.designs import (
    REPLACEMENT_REASONS,
    SAMPLING_METHODS,
    PointSample,
    densities_from_manifest,
    domain_geometries,
    record_replacement,
    sample_points,
    with_provenance,
)
from hiddenpop.spatial.frame import SamplingFrame, choose_working_crs
from hiddenpop.spatial.geometry import DiscAreaCalculator, disc_area_in_polygon
from hiddenpop.spatial.inclusion import FirstStageDesign, first_stage_probabilities
from hiddenpop.spatial.plot import plot_points
from hiddenpop.spatial.samplesize import points_needed, points_per_stratum

__all__ = [
    "SamplingFrame",
    "choose_working_crs",
    "sample_points",
    "PointSample",
    "SAMPLING_METHODS",
    "first_stage_probabilities",
    "FirstStageDesign",
    "disc_area_in_polygon",
    "DiscAreaCalculator",
    "PointDensity",
    "RasterLayer",
    "DENSITIES",
    "grts",
    "lpm",
    "BALANCED_METHODS",
    "reserve_order",
    "spatial_balance",
    "allocate",
    "largest_remainder",
    "ALLOCATIONS",
    "record_replacement",
    "with_provenance",
    "REPLACEMENT_REASONS",
    "densities_from_manifest",
    "domain_geometries",
    "plot_points",
    "points_needed",
    "points_per_stratum",
]
