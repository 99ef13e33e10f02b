"""Synthetic fitting cases from a body model with known parameters: varied poses, shapes,
orientations and distances, keypoints projected with pixel noise, random confidences and
dropped points. Used by the benchmarks, the tests and the shipped examples.

Shapes: K keypoints.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from bodymodels.layer import BodyModel, BodyParams
from bodymodels.skeleton import SMPLX_JOINT
from fitting.config import FitConfig
from fitting.objective import Targets

# (joint, axis) -> (low, high) radians of a uniform draw; every other body angle stays 0.
# Signs follow SMPL-X: knees bend about +x, the left elbow about -y, the right about +y.
POSE_RANGES: dict[tuple[str, int], tuple[float, float]] = {
    ("left_hip", 0): (-1.0, 0.3), ("right_hip", 0): (-1.0, 0.3),
    ("left_hip", 2): (-0.1, 0.4), ("right_hip", 2): (-0.4, 0.1),
    ("left_knee", 0): (0.0, 1.3), ("right_knee", 0): (0.0, 1.3),
    ("left_ankle", 0): (-0.2, 0.3), ("right_ankle", 0): (-0.2, 0.3),
    ("spine1", 0): (-0.1, 0.3), ("spine2", 1): (-0.2, 0.2), ("spine3", 2): (-0.1, 0.1),
    ("neck", 0): (-0.2, 0.3), ("neck", 1): (-0.4, 0.4), ("head", 0): (-0.1, 0.2),
    ("left_shoulder", 2): (-1.3, 0.3), ("right_shoulder", 2): (-0.3, 1.3),
    ("left_shoulder", 1): (-0.6, 0.6), ("right_shoulder", 1): (-0.6, 0.6),
    ("left_elbow", 1): (-1.8, 0.0), ("right_elbow", 1): (0.0, 1.8),
    ("left_wrist", 2): (-0.3, 0.3), ("right_wrist", 2): (-0.3, 0.3),
}


@dataclass
class SyntheticCase:
    """Ground-truth parameters, their camera-frame keypoints (K, 3), the observed 2D
    keypoints (K, 3: x, y, confidence) in bodyfit's layout, intrinsics and image size."""

    params: BodyParams
    keypoints_3d: np.ndarray
    observed: np.ndarray
    intrinsics: np.ndarray
    image_size: tuple[int, int]
    yaw_deg: float


def _rotvec_compose(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Axis-angle of applying ``first`` then ``second``."""
    from scipy.spatial.transform import Rotation

    return (Rotation.from_rotvec(second) * Rotation.from_rotvec(first)).as_rotvec()


def sample_params(model: BodyModel, rng: np.random.Generator, yaw_range=(-120.0, 120.0),
                  distance_range=(3.0, 6.0)) -> tuple[BodyParams, float]:
    """One random body in front of an OpenCV camera at the origin, and its yaw (degrees)."""
    params = model.zero_params(1)
    for (joint, axis), (low, high) in POSE_RANGES.items():
        params.body_pose[0, 3 * (SMPLX_JOINT[joint] - 1) + axis] = float(rng.uniform(low, high))
    params.betas[0] = torch.as_tensor(np.clip(rng.normal(size=model.num_betas), -2, 2))
    params.expression[0] = torch.as_tensor(rng.normal(scale=0.5, size=params.expression.shape[1]))
    for hand in (params.left_hand_pose, params.right_hand_pose):
        hand[0] = torch.as_tensor(rng.normal(scale=0.15, size=45))
    yaw = float(rng.uniform(*yaw_range))
    tilt = rng.uniform(-0.15, 0.15, size=3) * [1, 0, 1]
    body_turn = np.array([0.0, math.radians(yaw), 0.0]) + tilt
    params.global_orient[0] = torch.as_tensor(_rotvec_compose(body_turn, np.array([math.pi, 0, 0])))
    distance = rng.uniform(*distance_range)
    params.transl[0] = torch.as_tensor([rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.2), distance])
    return params, yaw


def observe(keypoints_2d: np.ndarray, valid: np.ndarray, rng: np.random.Generator,
            image_size: tuple[int, int], noise_px: float, dropout: float) -> np.ndarray:
    """(K, 3) noisy detections: Gaussian pixel noise, confidences U(0.5, 1), a ``dropout``
    share of points missing, and points outside the image missing."""
    height, width = image_size
    noisy = keypoints_2d + rng.normal(scale=noise_px, size=keypoints_2d.shape)
    confidence = rng.uniform(0.5, 1.0, size=len(noisy))
    missing = (~valid) | (rng.random(len(noisy)) < dropout)
    missing |= (noisy[:, 0] < 0) | (noisy[:, 0] >= width) | (noisy[:, 1] < 0) | (noisy[:, 1] >= height)
    observed = np.column_stack([noisy, confidence])
    observed[missing] = 0.0
    return observed


def make_case(model: BodyModel, rng: np.random.Generator, image_size=(1000, 1000), noise_px=2.0,
              dropout=0.1, **sample_kwargs) -> SyntheticCase:
    """A random body, seen by a camera with the default (image-diagonal) focal length."""
    height, width = image_size
    focal = math.hypot(width, height)
    intrinsics = np.array([focal, focal, width / 2, height / 2])
    params, yaw = sample_params(model, rng, **sample_kwargs)
    with torch.no_grad():
        _, keypoints = model.keypoints(params)
    points = keypoints[0].numpy().astype(np.float64)
    pixels = points[:, :2] / points[:, 2:] * intrinsics[:2] + intrinsics[2:]
    observed = observe(pixels, model.keypoint_valid.numpy(), rng, image_size, noise_px, dropout)
    return SyntheticCase(params, points, observed, intrinsics, image_size, yaw)



def case_targets(cases: list[SyntheticCase], config: FitConfig) -> Targets:
    """The fitting targets of synthetic cases, one row each (confidences below the config's
    threshold zeroed, data weight from each image height)."""
    observed = torch.as_tensor(np.stack([c.observed for c in cases]), dtype=torch.float32)
    confidence = observed[..., 2] * (observed[..., 2] > config.confidence_threshold)
    intrinsics = torch.as_tensor(np.stack([c.intrinsics for c in cases]), dtype=torch.float32)
    heights = torch.tensor([c.image_size[0] for c in cases], dtype=torch.float32)
    return Targets(observed[..., :2], confidence, intrinsics, config.data_weight_scale / heights)
