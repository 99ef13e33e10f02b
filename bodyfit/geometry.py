"""The geometry every layer shares: pinhole projection, similarity Procrustes and the
joint-error measures MPJPE and PA-MPJPE. Torch throughout; ``project_numpy`` is the numpy
front of ``project`` for code that works in arrays.

Camera. OpenCV axes (x right, y down, z forward, metres), the camera at the origin with no
rotation; ``intrinsics`` hold fx, fy, cx, cy. A point projects to
``u = fx x / max(z, DEPTH_FLOOR) + cx``, ``v = fy y / max(z, DEPTH_FLOOR) + cy``: the floor (the
fitting's rule, and the only one) keeps points at or behind the camera finite.

Errors. ``mpjpe`` and ``pa_mpjpe`` give one value per sample: the mean over its J joints of
the Euclidean distance between predicted and target points, in the input's units (metres in,
metres out). MPJPE first moves each prediction so that its ``root`` joint lies on the
target's (``root=None``: no alignment, the raw camera-frame distance); PA-MPJPE first moves
it by the similarity transform (scale, rotation, translation) that best fits it to the target
in the least-squares sense (Umeyama, ``roma.rigid_points_registration``).

Shapes: ... any leading (sample) axes, K keypoints, J joints (or any points), D = 3.
"""
from __future__ import annotations

import numpy as np
import roma
import torch

DEPTH_FLOOR = 1e-6  # metres: the least depth a point is divided by


def project(points: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """Pixels (..., K, 2) of camera-frame ``points`` (..., K, 3); ``intrinsics`` (..., 4)
    fx, fy, cx, cy, one row per leading index (broadcast where it is 1)."""
    if points.ndim < 2 or points.shape[-1] != 3:
        raise ValueError(f"points must be (..., K, 3), got {tuple(points.shape)}")
    if intrinsics.ndim != points.ndim - 1 or intrinsics.shape[-1] != 4:
        raise ValueError(f"intrinsics must be (..., 4) for points {tuple(points.shape)}, "
                         f"got {tuple(intrinsics.shape)}")
    z = points[..., 2:].clamp(min=DEPTH_FLOOR)
    return points[..., :2] / z * intrinsics[..., None, :2] + intrinsics[..., None, 2:]


def project_numpy(points: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """``project`` for arrays: pixels (..., K, 2) of ``points`` (..., K, 3) with
    ``intrinsics`` (..., 4), in the inputs' precision."""
    return project(torch.tensor(np.asarray(points)), torch.tensor(np.asarray(intrinsics))).numpy()


def _check_pair(predicted: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two point sets (..., J, 3), of one shape, in their common dtype."""
    if predicted.shape != target.shape or predicted.ndim < 2 or predicted.shape[-1] != 3:
        raise ValueError(f"predicted and target must both be (..., J, 3), got {tuple(predicted.shape)} "
                         f"and {tuple(target.shape)}")
    dtype = torch.promote_types(predicted.dtype, target.dtype)
    return predicted.to(dtype), target.to(dtype)


def procrustes_align(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(..., J, 3) ``predicted`` moved by the similarity transform (scale, rotation,
    translation) that best fits it to ``target`` (..., J, 3), per sample, in the
    least-squares sense (no reflection)."""
    predicted, target = _check_pair(predicted, target)
    rotation, translation, scale = roma.rigid_points_registration(predicted, target, compute_scaling=True)
    return scale[..., None, None] * predicted @ rotation.transpose(-1, -2) + translation[..., None, :]


def mpjpe(predicted: torch.Tensor, target: torch.Tensor, root: int | None) -> torch.Tensor:
    """(...,) mean joint distance of ``predicted`` to ``target`` (..., J, 3), after moving each
    prediction so that joint ``root`` lies on the target's (``None``: no alignment)."""
    predicted, target = _check_pair(predicted, target)
    if root is not None:
        if not 0 <= root < predicted.shape[-2]:
            raise ValueError(f"root must index one of the {predicted.shape[-2]} joints, got {root}")
        predicted = predicted - predicted[..., root:root + 1, :]
        target = target - target[..., root:root + 1, :]
    return (predicted - target).norm(dim=-1).mean(-1)


def pa_mpjpe(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(...,) mean joint distance of ``predicted`` to ``target`` (..., J, 3) after
    ``procrustes_align``."""
    return (procrustes_align(predicted, target) - target).norm(dim=-1).mean(-1)
