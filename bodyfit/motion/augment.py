"""Widening the motion corpus with poses built from its own frames (pure functions; the tool
that samples, checks self-intersection and writes them is tools/widen_corpus.py).

- ``recombine``: the lower body (root orientation, hips, knees, ankles, feet) of one frame with
  the upper body (spine, neck, head, collars, arms) of another.
- ``add_flexion``: forward trunk flexion spread evenly over spine1-3, hip flexion on both hips
  and knee bend on both knees, each a rotation about the joint's x axis (the body's left-right
  axis in SMPL-X's rest frame) applied in the parent's frame, on top of a real frame.
- ``sample_flexion``: the three angles for a kind of pose (bend, crouch, kneel), drawn within
  ``FLEXION_LIMITS``.

Poses are SMPL-X layout (N, 66): root orientation then the 21 body joints, axis-angle.
Shapes: N poses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bodyfit.bodymodels.joints import SMPLX_JOINT
from bodyfit.motion.corpus import POSE_WIDTH

LOWER_BODY = ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
              "left_foot", "right_foot")  # pelvis: the root orientation
UPPER_BODY = ("spine1", "spine2", "spine3", "neck", "head", "left_collar", "right_collar", "left_shoulder",
              "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist")
SPINE = ("spine1", "spine2", "spine3")


@dataclass(frozen=True)
class FlexionRange:
    """Ranges (degrees) of the flexion added to a real frame for one kind of generated pose."""

    trunk: tuple[float, float]  # forward trunk flexion, in total over spine1-3
    hip: tuple[float, float]    # hip flexion, both hips (knee forward)
    knee: tuple[float, float]   # knee bend, both knees (heel back)


# Anatomical limits of what is added (degrees): trunk flexion 90 in total over the three spine
# joints (thoraco-lumbar flexion is about 80-90), hip flexion 120 (about 120 with the knee bent),
# knee bend 140 (about 140-150 in a deep squat or kneeling on the heels). tools/widen_corpus.py
# also refuses results whose measured hip flexion exceeds 130 or knee bend 150.
FLEXION_LIMITS = FlexionRange(trunk=(0.0, 90.0), hip=(0.0, 120.0), knee=(0.0, 140.0))
KINDS: dict[str, FlexionRange] = {
    "bend": FlexionRange(trunk=(20.0, 90.0), hip=(0.0, 40.0), knee=(0.0, 20.0)),     # bend forward, lift
    "crouch": FlexionRange(trunk=(10.0, 60.0), hip=(60.0, 120.0), knee=(60.0, 140.0)),  # squat, crouch
    "kneel": FlexionRange(trunk=(0.0, 50.0), hip=(0.0, 70.0), knee=(90.0, 140.0)),   # kneel, sit on heels
}


def _columns(names: tuple[str, ...]) -> np.ndarray:
    """Column indices in a (N, 66) pose of the joints ``names`` (joint j holds 3j..3j+2)."""
    return np.concatenate([np.arange(3 * SMPLX_JOINT[name], 3 * SMPLX_JOINT[name] + 3) for name in names])


LOWER_COLUMNS = _columns(LOWER_BODY)
UPPER_COLUMNS = _columns(UPPER_BODY)


def _check(poses: np.ndarray, name: str) -> None:
    if poses.ndim != 2 or poses.shape[1] != POSE_WIDTH:
        raise ValueError(f"{name} must be (N, {POSE_WIDTH}), got {tuple(poses.shape)}")


def recombine(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """(N, 66) poses with the lower body (root orientation, hips, knees, ankles, feet) of
    ``lower`` (N, 66) and the upper body (spine, neck, head, collars, arms) of ``upper`` (N, 66)."""
    _check(lower, "lower")
    _check(upper, "upper")
    if len(lower) != len(upper):
        raise ValueError(f"lower and upper must have as many poses, got {len(lower)} and {len(upper)}")
    result = np.array(upper, copy=True)
    result[:, LOWER_COLUMNS] = lower[:, LOWER_COLUMNS]
    return result


def _rotvec_to_rotmat(rotvec: np.ndarray) -> np.ndarray:
    """(N, 3, 3) from axis-angle (N, 3) (Rodrigues)."""
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)  # (N, 1)
    axis = rotvec / np.maximum(angle, 1e-12)
    x, y, z = axis[:, 0], axis[:, 1], axis[:, 2]
    zero = np.zeros_like(x)
    cross = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(-1, 3, 3)
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + s * cross + (1 - c) * cross @ cross


def _rotmat_to_rotvec(matrix: np.ndarray) -> np.ndarray:
    """(N, 3) axis-angle of rotation matrices (N, 3, 3), through the unit quaternion (Shepperd's
    method: the largest of w, x, y, z is taken from the diagonal, so it is stable near pi)."""
    m = matrix
    trace = np.trace(m, axis1=1, axis2=2)
    diagonal = np.stack([trace, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)  # (N, 4)
    pick = diagonal.argmax(axis=1)
    quat = np.empty((len(m), 4))  # w, x, y, z
    for case in range(4):
        rows = pick == case
        r = m[rows]
        if case == 0:
            w = np.sqrt(1 + trace[rows]) / 2
            q = [w, (r[:, 2, 1] - r[:, 1, 2]) / (4 * w), (r[:, 0, 2] - r[:, 2, 0]) / (4 * w),
                 (r[:, 1, 0] - r[:, 0, 1]) / (4 * w)]
        else:
            i, j, k = case - 1, case % 3, (case + 1) % 3
            big = np.sqrt(np.maximum(1 + r[:, i, i] - r[:, j, j] - r[:, k, k], 1e-12)) / 2
            q = [None] * 4
            q[0] = (r[:, k, j] - r[:, j, k]) / (4 * big)
            q[1 + i], q[1 + j], q[1 + k] = big, (r[:, j, i] + r[:, i, j]) / (4 * big), (r[:, k, i] + r[:, i, k]) / (4 * big)
        quat[rows] = np.stack(q, axis=1)
    quat *= np.where(quat[:, :1] < 0, -1.0, 1.0)  # w >= 0: angle in [0, pi]
    vector = np.linalg.norm(quat[:, 1:], axis=1, keepdims=True)
    angle = 2 * np.arctan2(vector, quat[:, :1])
    return quat[:, 1:] * angle / np.maximum(vector, 1e-12)


def rotate_about_x(rotvec: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """(N, 3) axis-angle of R_x(degrees) @ R(rotvec): ``rotvec`` (N, 3) turned about the
    parent's x axis by ``degrees`` (N,)."""
    angle = np.radians(degrees)
    turn = np.zeros((len(angle), 3))
    turn[:, 0] = angle
    return _rotmat_to_rotvec(_rotvec_to_rotmat(turn) @ _rotvec_to_rotmat(rotvec))


def add_flexion(poses: np.ndarray, trunk: np.ndarray, hip: np.ndarray, knee: np.ndarray) -> np.ndarray:
    """(N, 66) ``poses`` (N, 66) with forward trunk flexion ``trunk`` (N,) degrees spread evenly
    over spine1-3 (+x turns the trunk forward), hip flexion ``hip`` (N,) on both hips (-x brings
    the knee forward) and knee bend ``knee`` (N,) on both knees (+x takes the heel back)."""
    _check(poses, "poses")
    trunk, hip, knee = (np.broadcast_to(np.asarray(a, dtype=np.float64), (len(poses),)) for a in (trunk, hip, knee))
    result = np.array(poses, dtype=np.float64, copy=True)
    for names, degrees in ((SPINE, trunk / len(SPINE)), (("left_hip", "right_hip"), -hip),
                           (("left_knee", "right_knee"), knee)):
        for name in names:
            columns = _columns((name,))
            result[:, columns] = rotate_about_x(result[:, columns], degrees)
    return result


def sample_flexion(kind: str, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trunk, hip and knee angles (count,) each, degrees, drawn uniformly from ``KINDS[kind]``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    ranges = KINDS[kind]
    return tuple(rng.uniform(*getattr(ranges, part), size=count) for part in ("trunk", "hip", "knee"))
