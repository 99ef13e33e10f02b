"""Reading the open motion corpus (``data/poses/index.yaml``) and mirroring its poses.

Every clip is SMPL-X body pose at 30 fps in the AMASS layout: ``poses`` (N, 66: root
orientation then the 21 body joints, axis-angle), ``trans`` (N, 3) metres, Y up, the body
facing +Z. The index gives each clip's source, licence, activity and split (by clip, never by
frame). This module imports only numpy, YAML and vposer.data.

Shapes: N frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from bodyfit.bodymodels.joints import NUM_BODY_JOINTS_WITH_PELVIS
from bodyfit.resources import checkout_path
from bodyfit.vposer.data import mirror as mirror_body_joints
from bodyfit.vposer.data import read_clip

DEFAULT_ROOT = checkout_path("data", "poses")
SPLITS = ("train", "heldout", "all")
POSE_WIDTH = 3 * NUM_BODY_JOINTS_WITH_PELVIS  # 66: root orientation, then the 21 body joints
WIDENED_SOURCES = ("recombined", "generated")  # rows written by tools/widen_corpus.py


@dataclass
class MotionClip:
    name: str
    poses: np.ndarray  # (N, 66) root orientation then 21 body joints, axis-angle
    trans: np.ndarray  # (N, 3) metres, Y up
    fps: float
    source: str
    activity: str
    split: str
    licence: str
    segments: list[dict]  # {"start", "end" (frames, end excluded), "activity"}; may be empty


def read_index(root: Path | str = DEFAULT_ROOT) -> list[dict]:
    """The rows of ``root``/index.yaml; ValueError names the file when a row lacks a field."""
    path = Path(root) / "index.yaml"
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read the corpus index ({error})") from error
    rows = data.get("clips") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a 'clips' list")
    needed = ("name", "file", "source", "licence", "frames", "fps", "activity", "split")
    for row in rows:
        missing = [key for key in needed if key not in row]
        if missing:
            raise ValueError(f"{path}: row {row.get('name', '?')!r} lacks {missing}")
        if row["split"] not in ("train", "heldout"):
            raise ValueError(f"{path}: row {row['name']!r} has split {row['split']!r}; expected train or heldout")
    return rows


def load_clip(row: dict, root: Path | str = DEFAULT_ROOT) -> MotionClip:
    """One index row's clip; its poses are read and checked by vposer.data.read_clip. A row with
    ``range: [start, end]`` is the part of its file from frame start to end (excluded)."""
    path = Path(root) / row["file"]
    clip = read_clip(path)
    with np.load(path, allow_pickle=False) as data:
        poses = np.asarray(data["poses"], dtype=np.float64)
        trans = np.asarray(data["trans"], dtype=np.float64) if "trans" in data.files else np.zeros((len(poses), 3))
    if row.get("range"):  # a clip cut from a longer file by activity: frames [start, end)
        start, end = row["range"]
        if not 0 <= start < end <= len(poses):
            raise ValueError(f"{path}: row {row['name']!r} has range {row['range']} outside its {len(poses)} frames")
        poses, trans = poses[start:end], trans[start:end]
    if poses.shape[1] != POSE_WIDTH or len(poses) != row["frames"]:
        raise ValueError(f"{path}: expected ({row['frames']}, {POSE_WIDTH}) poses as the index says, got {poses.shape}")
    return MotionClip(row["name"], poses, trans, clip.frame_rate, row["source"], row["activity"], row["split"],
                      row["licence"], list(row.get("segments") or []))


def is_widened(row: dict) -> bool:
    """Whether an index row holds widened poses (tools/widen_corpus.py), not a real clip."""
    return row["source"] in WIDENED_SOURCES


def load_corpus(split: str = "train", root: Path | str = DEFAULT_ROOT, widened: bool = False) -> list[MotionClip]:
    """The clips of ``split`` ('train', 'heldout' or 'all') in index order: the real clips, and
    with ``widened`` also the recombined and generated poses of that split (data/poses/widened/)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return [load_clip(row, root) for row in read_index(root)
            if split in ("all", row["split"]) and (widened or not is_widened(row))]


def mirror_body_pose(poses: np.ndarray) -> np.ndarray:
    """(N, 66) the left-right mirror of poses (N, 66): reflected across the body's sagittal
    plane x -> -x, each axis-angle (x, y, z) becomes (x, -y, -z) and left and right joints swap
    (vposer.data.mirror does the 21 body joints)."""
    if poses.ndim != 2 or poses.shape[1] != POSE_WIDTH:
        raise ValueError(f"poses must be (N, {POSE_WIDTH}), got {tuple(poses.shape)}")
    root = poses[:, :3] * np.array([1.0, -1.0, -1.0])
    return np.concatenate([root, mirror_body_joints(poses[:, 3:])], axis=1)


def mirror_trans(trans: np.ndarray) -> np.ndarray:
    """(N, 3) translations (N, 3) reflected x -> -x, to go with ``mirror_body_pose``."""
    return trans * np.array([-1.0, 1.0, 1.0])
