"""Fitting body models to 2D keypoints."""
