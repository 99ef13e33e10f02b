"""The regressor's supervised losses (its evaluation measures, MPJPE and PA-MPJPE, and the
projection are ``bodyfit.geometry``'s).

- 2D keypoints: L1 in box coordinates, weighted per point (the detections' confidences, or
  1 where the truth is known);
- 3D joints: squared distance of pelvis-relative joints (m), where known;
- parameters: squared difference of rotation matrices and of betas, where known;
- translation: |dx| / z + |dy| / z + |log z - log z*|, where known.

Shapes: B batch, J joints, K keypoints.
"""
from __future__ import annotations

import torch

from bodyfit.regressor.inputs import to_box


def keypoint_loss(predicted_px: torch.Tensor, target_px: torch.Tensor, weight: torch.Tensor,
                  box: torch.Tensor) -> torch.Tensor:
    """Weighted L1 (B,) of predicted against target pixels (B, K, 2) in box coordinates,
    averaged over the weights; ``weight`` (B, K)."""
    error = (to_box(predicted_px, box) - to_box(target_px, box)).abs().sum(-1)
    return (error * weight).sum(1) / weight.sum(1).clamp_min(1e-6)


def joint_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B,) mean squared distance of pelvis-relative joints (B, J, 3)."""
    return ((predicted - predicted[:, :1]) - (target - target[:, :1])).pow(2).sum(-1).mean(1)


def rotation_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B,) squared Frobenius difference of rotations (B, R, 3, 3), mean over R."""
    return (predicted - target).pow(2).sum((-1, -2)).mean(1)


def translation_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B,) sideways error over depth plus log-depth error of translations (B, 3)."""
    depth = target[:, 2].clamp_min(1e-2)
    sideways = (predicted[:, :2] - target[:, :2]).abs().sum(1) / depth
    return sideways + (predicted[:, 2].clamp_min(1e-2).log() - depth.log()).abs()
