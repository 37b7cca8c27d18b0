"""Spatial first stage: frames, first-stage points and their inclusion probabilities."""
