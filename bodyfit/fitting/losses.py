"""Data terms of the fitting objective; each returns per-sample values (B,).

Shapes: B batch, K keypoints.
"""
from __future__ import annotations

import torch


def gmof(residual: torch.Tensor, rho: float) -> torch.Tensor:
    """Geman-McClure robust cost rho^2 r^2 / (r^2 + rho^2), elementwise."""
    squared = residual.pow(2)
    return rho ** 2 * squared / (squared + rho ** 2)


def reprojection_term(projected: torch.Tensor, observed: torch.Tensor, weights: torch.Tensor,
                      rho: float) -> torch.Tensor:
    """(B,) sum over keypoints of weight^2 * GMoF per coordinate: ``projected`` and
    ``observed`` (B, K, 2) pixels, ``weights`` (B, K) joint weight times confidence."""
    cost = gmof(projected - observed, rho).sum(dim=-1)  # (B, K)
    return (weights.pow(2) * cost).sum(dim=-1)


def depth_term(translation_z: torch.Tensor, initial_z: torch.Tensor) -> torch.Tensor:
    """(B,) squared deviation of the depth from its initial estimate (camera stage)."""
    return (translation_z - initial_z).pow(2)


def front_term(points: torch.Tensor, min_depth: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) squared hinge on points nearer than ``min_depth`` to the camera plane: ``points``
    (B, N, 3) in the camera frame (z forward, metres); ``mask`` (N,) 1 for the points that
    count."""
    hinge = torch.relu(min_depth - points[..., 2]).pow(2)  # (B, N)
    return (hinge if mask is None else hinge * mask).sum(dim=-1)
