"""The SMPL-family skeletons: joint names, kinematic trees and the joint counts, by name.

Counts (the one table of them):
- ``NUM_BODY_JOINTS`` (21): the joints ``body_pose`` rotates, hips to wrists, without the
  pelvis (the pelvis turns with ``global_orient``); ``body_pose`` is (B, 3 * 21 = 63).
- ``NUM_BODY_JOINTS_WITH_PELVIS`` (22): skeleton joints 0-21, the pelvis then those 21, the
  same in every SMPL-family model; their rotations are ``global_orient`` then ``body_pose``.
- ``NUM_SMPLX_JOINTS`` (55) and ``NUM_SKELETON_JOINTS`` (per model type): the whole skeleton.
"""
from __future__ import annotations

_HAND_FINGERS = ("index", "middle", "pinky", "ring", "thumb")

SMPL_BODY_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)


NUM_BODY_JOINTS_WITH_PELVIS = len(SMPL_BODY_JOINT_NAMES)  # 22: pelvis .. right wrist
NUM_BODY_JOINTS = NUM_BODY_JOINTS_WITH_PELVIS - 1          # 21: the body pose, without the pelvis


def _hand_joint_names(side: str) -> tuple[str, ...]:
    return tuple(f"{side}_{finger}{k}" for finger in _HAND_FINGERS for k in (1, 2, 3))


SMPLX_JOINT_NAMES: tuple[str, ...] = (
    SMPL_BODY_JOINT_NAMES
    + ("jaw", "left_eye_smplhf", "right_eye_smplhf")
    + _hand_joint_names("left")
    + _hand_joint_names("right")
)
"""The 55 skeleton joints of SMPL-X, in the model's order."""

SMPLX_JOINT = {name: index for index, name in enumerate(SMPLX_JOINT_NAMES)}

_BODY_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)


def _hand_parents(wrist: int, first: int) -> tuple[int, ...]:
    parents = []
    for finger in range(5):
        base = first + 3 * finger
        parents += [wrist, base, base + 1]
    return tuple(parents)


SMPLX_PARENTS: tuple[int, ...] = (
    _BODY_PARENTS
    + (15, 15, 15)
    + _hand_parents(SMPLX_JOINT["left_wrist"], 25)
    + _hand_parents(SMPLX_JOINT["right_wrist"], 40)
)
"""Parent of each SMPL-X joint (-1 for the root)."""

NUM_SMPLX_JOINTS = len(SMPLX_JOINT_NAMES)


def joint_names(model_type: str) -> tuple[str, ...]:
    """Skeleton joint names of ``smpl`` (24: the body and two hand joints), ``smplh`` (52)
    or ``smplx`` (55), in the model's order."""
    hands = _hand_joint_names("left") + _hand_joint_names("right")
    names = {"smpl": SMPL_BODY_JOINT_NAMES + ("left_hand", "right_hand"),
             "smplh": SMPL_BODY_JOINT_NAMES + hands,
             "smplx": SMPLX_JOINT_NAMES}
    if model_type not in names:
        raise ValueError(f"unknown model type {model_type!r}; expected one of {sorted(names)}")
    return names[model_type]


NUM_SKELETON_JOINTS: dict[str, int] = {name: len(joint_names(name)) for name in ("smpl", "smplh", "smplx")}
"""Skeleton joints per model type: smpl 24, smplh 52, smplx 55."""
