"""Accuracy of fitted sequences: per-frame PA-MPJPE and MPJPE (``bodyfit.geometry``) and VIBE's
acceleration error.

Acceleration error (Kocabas et al. 2020, ``compute_error_accel``): the second difference in
time of the root-aligned joint positions, x[t-1] - 2 x[t] + x[t+1], of the prediction and of
the truth; per frame the mean over joints of the distance between the two; in mm/frame^2
when positions are in mm. Only frames whose two neighbours are also evaluated count.

Shapes: T frames, K keypoints.
"""
from __future__ import annotations

import numpy as np
import torch

from bodyfit.geometry import mpjpe, pa_mpjpe


def _check(predicted: np.ndarray, target: np.ndarray) -> None:
    if predicted.shape != target.shape or predicted.ndim != 3 or predicted.shape[-1] != 3:
        raise ValueError(f"predicted and target must both be (T, K, 3), got {predicted.shape} and {target.shape}")


def second_difference(points: np.ndarray) -> np.ndarray:
    """(T - 2, K, 3) x[t-1] - 2 x[t] + x[t+1] of ``points`` (T, K, 3)."""
    return points[:-2] - 2.0 * points[1:-1] + points[2:]


def acceleration_error(predicted: np.ndarray, target: np.ndarray, root: int,
                       valid: np.ndarray | None = None) -> np.ndarray:
    """(M,) per middle frame t with t-1, t, t+1 all ``valid`` (T,) (default: all): the mean
    over keypoints of |accel_pred - accel_true|, positions aligned at keypoint ``root`` first
    (units of the input per frame^2)."""
    _check(predicted, target)
    valid = np.ones(len(predicted), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if len(predicted) < 3:
        return np.zeros(0)
    aligned_pred = predicted - predicted[:, root:root + 1]
    aligned_true = target - target[:, root:root + 1]
    error = np.linalg.norm(second_difference(aligned_pred) - second_difference(aligned_true), axis=-1).mean(-1)
    usable = valid[:-2] & valid[1:-1] & valid[2:]
    return error[usable]


def acceleration(points: np.ndarray, root: int) -> np.ndarray:
    """(T - 2,) the mean over keypoints of |x[t-1] - 2 x[t] + x[t+1]| of root-aligned
    ``points`` (T, K, 3): how much a motion accelerates (or jitters)."""
    aligned = points - points[:, root:root + 1]
    return np.linalg.norm(second_difference(aligned), axis=-1).mean(-1)


def per_frame_errors(predicted: np.ndarray, target: np.ndarray, root: int) -> tuple[np.ndarray, np.ndarray]:
    """(T,) PA-MPJPE and (T,) root-aligned MPJPE of each frame of ``predicted`` (T, K, 3)."""
    _check(predicted, target)
    predicted, target = (torch.as_tensor(x, dtype=torch.float64) for x in (predicted, target))
    return pa_mpjpe(predicted, target).numpy(), mpjpe(predicted, target, root).numpy()
