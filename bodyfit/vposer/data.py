"""AMASS-format pose clips: reading, time downsampling, splitting by clip, mirroring.

A clip is an ``.npz`` with ``poses`` (N, 156 for SMPL-H fits, 165 for SMPL-X fits, or 66 for
body-only files: axis-angle, root first) and its frame rate as ``mocap_framerate`` (SMPL-H
release) or ``mocap_frame_rate`` (SMPL-X release). The 21 body joints are ``poses[:, 3:66]``.

Shapes: N frames.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodyfit.bodymodels.joints import NUM_BODY_JOINTS

POSE_WIDTHS = (66, 156, 165)
FRAME_RATE_KEYS = ("mocap_framerate", "mocap_frame_rate")
# SMPL body joints (1-21) that swap under a left-right mirror.
_MIRROR_PAIRS = ((1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21))


class ClipError(ValueError):
    """A pose clip that cannot be used; the message names the file and the problem."""


@dataclass
class Clip:
    name: str
    body_pose: np.ndarray  # (N, 63)
    frame_rate: float


def read_clip(path: Path) -> Clip:
    """The body pose and frame rate of one AMASS-format file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "poses" not in data.files:
                raise ClipError(f"{path}: no 'poses' array (keys: {sorted(data.files)})")
            poses = np.asarray(data["poses"], dtype=np.float64)
            rate_key = next((k for k in FRAME_RATE_KEYS if k in data.files), None)
            if rate_key is None:
                raise ClipError(f"{path}: no frame rate ({' or '.join(FRAME_RATE_KEYS)})")
            frame_rate = float(data[rate_key])
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        if isinstance(error, ClipError):
            raise
        raise ClipError(f"{path}: cannot read ({error})") from error
    if poses.ndim != 2 or poses.shape[1] not in POSE_WIDTHS:
        raise ClipError(f"{path}: 'poses' must be (N, {' | '.join(map(str, POSE_WIDTHS))}), got {poses.shape}")
    if not np.all(np.isfinite(poses)):
        raise ClipError(f"{path}: 'poses' contains NaN or infinite values")
    if not (frame_rate > 0 and np.isfinite(frame_rate)):
        raise ClipError(f"{path}: frame rate must be positive, got {frame_rate}")
    return Clip(path.stem, poses[:, 3:66], frame_rate)


def downsample(clip: Clip, target_rate: float) -> np.ndarray:
    """(M, 63) frames of ``clip`` taken every frame_rate / target_rate frames (all if slower)."""
    step = max(1, int(round(clip.frame_rate / target_rate)))
    return clip.body_pose[::step]


def mirror(body_pose: np.ndarray) -> np.ndarray:
    """(N, 63) the left-right mirrored poses: paired joints swap, and each axis-angle is
    reflected across the body's sagittal plane (x, y, z) -> (x, -y, -z)."""
    joints = body_pose.reshape(len(body_pose), NUM_BODY_JOINTS, 3).copy()
    for left, right in _MIRROR_PAIRS:
        joints[:, [left - 1, right - 1]] = joints[:, [right - 1, left - 1]]
    joints[..., 1:] *= -1.0
    return joints.reshape(len(body_pose), 3 * NUM_BODY_JOINTS)


def find_clips(folder: Path) -> list[Path]:
    files = sorted(Path(folder).rglob("*.npz"))
    if not files:
        raise FileNotFoundError(f"{folder}: no .npz pose clips found (searched recursively)")
    return files


@dataclass
class PoseDataset:
    """Training and validation body poses, split by clip, and the clip names of each."""

    train: np.ndarray  # (N, 63) float32, mirrored copies included when asked
    val: np.ndarray    # (M, 63) float32
    train_clips: list[str]
    val_clips: list[str]


def dataset_from_clips(train: list[Clip], val: list[Clip], target_rate: float, use_mirror: bool,
                       max_frames: int | None = None) -> PoseDataset:
    """A PoseDataset from clips already split (e.g. the motion corpus's train and heldout):
    downsampled to ``target_rate``; at most ``max_frames`` training frames (evenly spaced,
    before mirroring) when given; mirrored copies of the training frames added."""
    if not train:
        raise ValueError("no training clips")
    train_poses = np.concatenate([downsample(clip, target_rate) for clip in train])
    if max_frames is not None and len(train_poses) > max_frames:
        train_poses = train_poses[np.linspace(0, len(train_poses) - 1, max_frames).round().astype(int)]
    if use_mirror:
        train_poses = np.concatenate([train_poses, mirror(train_poses)])
    val_poses = np.concatenate([downsample(clip, target_rate) for clip in val]) if val else np.zeros((0, 63))
    return PoseDataset(train_poses.astype(np.float32), val_poses.astype(np.float32),
                       [c.name for c in train], [c.name for c in val])


def load_dataset(folder: Path, target_rate: float, validation_fraction: float, use_mirror: bool,
                 seed: int) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Training and validation poses (N, 63), split by clip, and the clip names of each."""
    clips = [read_clip(path) for path in find_clips(folder)]
    order = np.random.default_rng(seed).permutation(len(clips))
    count = max(1, int(round(validation_fraction * len(clips)))) if len(clips) > 1 else 0
    validation = {int(i) for i in order[:count]}
    train, val = [], []
    for index, clip in enumerate(clips):
        frames = downsample(clip, target_rate)
        (val if index in validation else train).append(frames)
    train_poses = np.concatenate(train)
    if use_mirror:
        train_poses = np.concatenate([train_poses, mirror(train_poses)])
    val_poses = np.concatenate(val) if val else np.zeros((0, 63))
    names = [c.name for c in clips]
    return (train_poses.astype(np.float32), val_poses.astype(np.float32),
            [n for i, n in enumerate(names) if i not in validation], [n for i, n in enumerate(names) if i in validation])
