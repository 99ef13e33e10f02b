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

from bodyfit.bodymodels.layer import BodyModel, BodyParams
from bodyfit.bodymodels.joints import SMPLX_JOINT
from bodyfit.fitting.config import FitConfig
from bodyfit.fitting.objective import Targets
from bodyfit.geometry import project_numpy

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


# Arm poses with the hands on or near the body, every other joint free: each was found by
# placing the wrists at a target on the open model's body (the hips, the opposite elbows, the
# belly, the chest) while a collision penalty kept the mesh free of intersections.
# Joint -> axis-angle (radians).
CONTACT_POSES: dict[str, dict[str, tuple[float, float, float]]] = {
    "hands_on_hips": {
        "left_collar": (-0.08, -0.49, 0.39), "right_collar": (-0.08, 0.49, -0.39),
        "left_shoulder": (-0.08, 0.09, -1.58), "right_shoulder": (-0.08, -0.09, 1.58),
        "left_elbow": (-0.27, 0.66, -0.57), "right_elbow": (-0.27, -0.66, 0.57)},
    "arms_crossed": {
        "left_collar": (-0.26, -0.16, -0.05), "right_collar": (-0.39, 0.13, -0.06),
        "left_shoulder": (-0.27, -0.28, -1.78), "right_shoulder": (-0.31, 0.58, 1.78),
        "left_elbow": (0.02, -0.30, -1.39), "right_elbow": (0.27, 0.52, 1.24)},
    "hands_on_belly": {
        "left_collar": (-0.14, -0.31, 0.23), "right_collar": (-0.07, -0.12, -0.19),
        "left_shoulder": (-0.03, -0.46, -1.61), "right_shoulder": (-0.07, 0.23, 1.69),
        "left_elbow": (0.47, -0.25, -0.73), "right_elbow": (-0.02, 0.45, 0.82)},
    "hand_on_chest": {
        "left_collar": (-0.34, 0.08, 0.14), "right_collar": (0.03, -0.64, 0.03),
        "left_shoulder": (-0.17, -0.57, -1.69), "right_shoulder": (0.13, 0.27, 1.38),
        "left_elbow": (0.60, -1.39, -1.28), "right_elbow": (0.85, 0.66, 0.03)},
}
# Arm joints that the body-wide random draw sets and a contact pose replaces.
_ARM_JOINTS = ("left_collar", "right_collar", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow")
_CONTACT_UPRIGHT = ("spine1", "spine2", "spine3", "left_hip", "right_hip")


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
                  distance_range=(3.0, 6.0), contact: str | None = None,
                  contact_jitter: float = 0.05) -> tuple[BodyParams, float]:
    """One random body in front of an OpenCV camera at the origin, and its yaw (degrees).
    With ``contact`` (a ``CONTACT_POSES`` name) the arms take that pose, each angle moved by
    up to ``contact_jitter`` radians."""
    params = model.zero_params(1)
    for (joint, axis), (low, high) in POSE_RANGES.items():
        params.body_pose[0, 3 * (SMPLX_JOINT[joint] - 1) + axis] = float(rng.uniform(low, high))
    if contact is not None:
        # the contact poses were placed on an upright torso: keep it upright
        for joint in _CONTACT_UPRIGHT:
            start = 3 * (SMPLX_JOINT[joint] - 1)
            params.body_pose[0, start:start + 3] = 0.0
        for joint in _ARM_JOINTS:
            angles = np.asarray(CONTACT_POSES[contact][joint]) + rng.uniform(-contact_jitter, contact_jitter, 3)
            start = 3 * (SMPLX_JOINT[joint] - 1)
            params.body_pose[0, start:start + 3] = torch.as_tensor(angles)
    params.betas[0] = torch.as_tensor(np.clip(rng.normal(size=model.num_betas), -2, 2))
    params.expression[0] = torch.as_tensor(rng.normal(scale=0.5, size=params.expression.shape[1]))
    for hand in (params.left_hand_pose, params.right_hand_pose):
        hand[0] = torch.as_tensor(rng.normal(scale=0.15 if contact is None else 0.05, size=45))
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
    pixels = project_numpy(points, intrinsics)  # points the model lacks (all zero) land on (cx, cy)
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
