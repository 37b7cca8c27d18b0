"""Weighting engine: two-stage inclusion probabilities, adjustments, estimates and variances."""
