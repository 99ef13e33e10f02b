"""Resampling motion to another frame rate: rotations by spherical interpolation between the
two nearest source frames, positions linearly.

Shapes: F source frames, M resampled frames, ... any trailing joint axes.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def nominal_rate(rate: float) -> float:
    """A frame rate written with few digits (1 / 0.0083333, 60.0024) taken as the whole
    number it stands for when within 0.01 fps of it."""
    return float(round(rate)) if abs(rate - round(rate)) < 0.01 else float(rate)


def resample_times(num_frames: int, source_rate: float, target_rate: float) -> np.ndarray:
    """(M,) fractional source-frame indices of the target frames k / target_rate that fall
    inside the clip (the first at 0, none past the last source frame)."""
    if num_frames < 1 or not (source_rate > 0 and target_rate > 0):
        raise ValueError(f"need frames >= 1 and positive rates, got {num_frames}, {source_rate}, {target_rate}")
    duration = (num_frames - 1) / source_rate
    count = int(np.floor(duration * target_rate + 1e-6)) + 1
    return np.minimum(np.arange(count) * source_rate / target_rate, num_frames - 1)


def _neighbours(times: np.ndarray, num_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower (M,) and upper (M,) source frames and the weight (M,) of the upper one."""
    lower = np.minimum(np.floor(times + 1e-9).astype(int), num_frames - 1)
    upper = np.minimum(lower + 1, num_frames - 1)
    return lower, upper, np.clip(times - lower, 0.0, 1.0)


def resample_linear(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(M, ...) ``values`` (F, ...) linearly interpolated at fractional frames ``times`` (M,)."""
    lower, upper, weight = _neighbours(times, len(values))
    weight = weight.reshape((-1,) + (1,) * (values.ndim - 1))
    return values[lower] * (1.0 - weight) + values[upper] * weight


def resample_rotations(rotations: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(M, ..., 3, 3) rotation matrices ``rotations`` (F, ..., 3, 3) interpolated along the
    shortest arc at fractional frames ``times`` (M,)."""
    if rotations.shape[-2:] != (3, 3):
        raise ValueError(f"rotations must be (F, ..., 3, 3), got {rotations.shape}")
    lower, upper, weight = _neighbours(times, len(rotations))
    inner = rotations.shape[1:-2]
    start = Rotation.from_matrix(rotations[lower].reshape(-1, 3, 3))
    end = Rotation.from_matrix(rotations[upper].reshape(-1, 3, 3))
    step = (start.inv() * end).as_rotvec() * np.repeat(weight, int(np.prod(inner, dtype=int)))[:, None]
    return (start * Rotation.from_rotvec(step)).as_matrix().reshape((len(times),) + inner + (3, 3))


def resample_axis_angle(rotvecs: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(M, J*3) axis-angle poses ``rotvecs`` (F, J*3) interpolated at fractional frames ``times``."""
    frames, width = rotvecs.shape
    matrices = Rotation.from_rotvec(rotvecs.reshape(-1, 3)).as_matrix().reshape(frames, width // 3, 3, 3)
    result = resample_rotations(matrices, times)
    return Rotation.from_matrix(result.reshape(-1, 3, 3)).as_rotvec().reshape(len(times), width)
