"""Accuracy measures of fitted joints against ground truth.

Shapes: N points, D = 3.
"""
from __future__ import annotations

import numpy as np


def procrustes_align(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``predicted`` (N, 3) moved by the similarity transform (scale, rotation, translation)
    that best fits it to ``target`` (N, 3) in the least-squares sense."""
    mu_p, mu_t = predicted.mean(0), target.mean(0)
    p, t = predicted - mu_p, target - mu_t
    u, s, vt = np.linalg.svd(p.T @ t)
    d = np.sign(np.linalg.det(u @ vt))
    correction = np.diag([1.0, 1.0, d])
    rotation = u @ correction @ vt
    scale = (s * np.diag(correction)).sum() / (p ** 2).sum()
    return scale * p @ rotation + mu_t


def mpjpe(predicted: np.ndarray, target: np.ndarray, root: int) -> float:
    """Mean distance after aligning the ``root`` points (same units as the input)."""
    return float(np.linalg.norm((predicted - predicted[root]) - (target - target[root]), axis=-1).mean())


def pa_mpjpe(predicted: np.ndarray, target: np.ndarray) -> float:
    """Mean distance after Procrustes alignment."""
    return float(np.linalg.norm(procrustes_align(predicted, target) - target, axis=-1).mean())


def reprojection_error(projected: np.ndarray, observed: np.ndarray, confidence: np.ndarray,
                       threshold: float) -> float:
    """Median pixel distance over points with confidence above ``threshold`` (NaN if none)."""
    seen = confidence > threshold
    if not seen.any():
        return float("nan")
    return float(np.median(np.linalg.norm(projected[seen] - observed[seen], axis=-1)))
