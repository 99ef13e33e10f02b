"""Per-person quality figures of fits, each a pure batched function: (B, ...) in, (B,) out.

NaN where a figure cannot be computed (no confident keypoint, no seen bone); a NaN figure is
never flagged.

Shapes: B people, K keypoints (bodyfit's layout), J skeleton joints, V vertices, E bones.
"""
from __future__ import annotations

import roma
import torch

from bodyfit.bodymodels.joints import NUM_BODY_JOINTS, SMPL_BODY_JOINT_NAMES
from bodyfit.collision.search import PairRules, find_collisions
from bodyfit.fileio.keypoint_layout import OPENPOSE
from bodyfit.priors.body_pose import BodyPosePrior

_JOINT = {name: index for index, name in enumerate(SMPL_BODY_JOINT_NAMES)}  # the same in SMPL, SMPL-H, SMPL-X
# Body keypoint pairs whose 2D length (against the mean shape's 3D length) gives the depth.
DEPTH_BONES = tuple((OPENPOSE[a], OPENPOSE[b]) for a, b in (
    ("RShoulder", "RElbow"), ("RElbow", "RWrist"), ("LShoulder", "LElbow"), ("LElbow", "LWrist"),
    ("RHip", "RKnee"), ("RKnee", "RAnkle"), ("LHip", "LKnee"), ("LKnee", "LAnkle"),
    ("RShoulder", "RHip"), ("LShoulder", "LHip"), ("RShoulder", "LShoulder")))
# Limbs as chains of skeleton bones (parent-child: their lengths do not change with the pose).
LIMB_CHAINS = {
    "left_upper_arm": ("left_shoulder", "left_elbow"), "right_upper_arm": ("right_shoulder", "right_elbow"),
    "left_forearm": ("left_elbow", "left_wrist"), "right_forearm": ("right_elbow", "right_wrist"),
    "left_thigh": ("left_hip", "left_knee"), "right_thigh": ("right_hip", "right_knee"),
    "left_shin": ("left_knee", "left_ankle"), "right_shin": ("right_knee", "right_ankle"),
    "trunk": ("pelvis", "spine1", "spine2", "spine3", "neck", "head"),
}


def _check(name: str, tensor: torch.Tensor, shape: tuple) -> None:
    """``ValueError`` quoting ``tensor``'s shape unless it matches ``shape`` (None: any size)."""
    if tensor.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, tensor.shape)):
        wanted = ", ".join("*" if s is None else str(s) for s in shape)
        raise ValueError(f"{name} must be ({wanted}), got {tuple(tensor.shape)}")


def box_size(keypoints: torch.Tensor, confident: torch.Tensor) -> torch.Tensor:
    """(B,) the longer side (px) of the box around the confident ``keypoints`` (B, K, 2)
    (``confident`` (B, K) bool): a lying person is judged by their length, not their
    thickness. NaN with fewer than two confident points."""
    _check("keypoints", keypoints, (None, None, 2))
    inf = torch.full_like(keypoints, float("inf"))
    low = torch.where(confident[..., None], keypoints, inf).amin(dim=1)
    high = torch.where(confident[..., None], keypoints, -inf).amax(dim=1)
    size = (high - low).amax(dim=-1)
    return torch.where(confident.sum(1) >= 2, size, torch.full_like(size, float("nan")))


def error_2d_px(projected: torch.Tensor, keypoints: torch.Tensor, confident: torch.Tensor) -> torch.Tensor:
    """(B,) median distance (px) between the fit's ``projected`` (B, K, 2) and the observed
    ``keypoints`` (B, K, 2) over the ``confident`` (B, K) ones; NaN where none is."""
    _check("projected", projected, tuple(keypoints.shape))
    distance = (projected - keypoints).norm(dim=-1)
    return torch.where(confident, distance, torch.full_like(distance, float("nan"))).nanmedian(dim=1).values


def prior_energy(prior: BodyPosePrior, body_pose: torch.Tensor) -> torch.Tensor:
    """(B,) the prior's cost of ``body_pose`` (B, 63) through its encoder: for VPoser, the
    squared norm of the posterior mean's latent (32-d, N(0, I) under the prior)."""
    _check("body_pose", body_pose, (None, 63))
    with torch.no_grad():
        return prior.penalty(prior.encode(body_pose))


def shape_norm(betas: torch.Tensor) -> torch.Tensor:
    """(B,) the norm of ``betas`` (B, D): unit-variance PCA coefficients, so its square is
    chi-square with D degrees of freedom for bodies drawn from the model's population."""
    _check("betas", betas, (None, None))
    return betas.norm(dim=-1)


def intersecting_pairs(vertices: torch.Tensor, rules: PairRules, cell: float) -> torch.Tensor:
    """(B,) intersecting triangle pairs of each mesh ``vertices`` (B, V, 3) under the part
    ``rules`` (naturally touching parts excluded; ``collision.search``)."""
    _check("vertices", vertices, (None, None, 3))
    return find_collisions(vertices, rules, cell).counts(len(vertices)).to(vertices.dtype)


def seen_bone_lengths_2d(keypoints: torch.Tensor, confident: torch.Tensor,
                         bones: tuple[tuple[int, int], ...] = DEPTH_BONES) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, E) 2D lengths (px) of ``bones`` in ``keypoints`` (B, K, 2) and (B, E) whether both
    ends are ``confident`` (B, K)."""
    first, second = [a for a, _ in bones], [b for _, b in bones]
    lengths = (keypoints[:, first] - keypoints[:, second]).norm(dim=-1)
    return lengths, confident[:, first] & confident[:, second]


def implied_depth(keypoints: torch.Tensor, confident: torch.Tensor, focal: torch.Tensor,
                  reference: torch.Tensor, bones: tuple[tuple[int, int], ...] = DEPTH_BONES) -> torch.Tensor:
    """(B,) depth (m) at which a body with the 3D bone lengths ``reference`` (E,) (the mean
    shape's) would show the seen bones of ``keypoints`` (B, K, 2) at their 2D length, by
    similar triangles over their sum: ``focal`` (B,) * sum(3D) / sum(2D). Foreshortening
    shortens the 2D lengths, so this errs far. NaN where no bone is seen."""
    _check("keypoints", keypoints, (None, None, 2))
    _check("reference", reference, (len(bones),))
    lengths, seen = seen_bone_lengths_2d(keypoints, confident, bones)
    length_2d = (lengths * seen).sum(1)
    length_3d = (reference[None] * seen).sum(1)
    depth = focal * length_3d / length_2d.clamp(min=1e-9)
    return torch.where(seen.any(1) & (length_2d > 0), depth, torch.full_like(depth, float("nan")))


def body_depth(points: torch.Tensor, confident: torch.Tensor) -> torch.Tensor:
    """(B,) mean depth (m) of the fitted 3D ``points`` (B, K, 3) that are ``confident``
    (B, K) in 2D (all of them where none is)."""
    _check("points", points, (None, None, 3))
    weights = torch.where(confident.any(1, keepdim=True), confident, torch.ones_like(confident)).to(points.dtype)
    return (points[..., 2] * weights).sum(1) / weights.sum(1)


def symmetric_factor(value: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """max(value / reference, reference / value), elementwise: 1 when equal, the same for a
    factor too large or too small; inf where either is not positive."""
    ratio = value / reference
    factor = torch.maximum(ratio, 1 / ratio)
    return torch.where((value > 0) & (reference > 0), factor, torch.full_like(factor, float("inf")))


def limb_lengths(joints: torch.Tensor) -> torch.Tensor:
    """(B, L) the lengths (m) of ``LIMB_CHAINS`` (summed over their parent-child bones) from
    skeleton ``joints`` (B, J, 3) of SMPL, SMPL-H or SMPL-X."""
    _check("joints", joints, (None, None, 3))
    columns = []
    for chain in LIMB_CHAINS.values():
        index = [_JOINT[name] for name in chain]
        columns.append((joints[:, index[1:]] - joints[:, index[:-1]]).norm(dim=-1).sum(1))
    return torch.stack(columns, dim=1)


def limb_factor(joints: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """(B,) the largest ``symmetric_factor`` between a limb's length in ``joints`` (B, J, 3)
    and in ``reference`` (J, 3) (the mean shape's skeleton)."""
    _check("reference", reference, (None, 3))
    return symmetric_factor(limb_lengths(joints), limb_lengths(reference[None])).amax(dim=1)


def nearest_depth(vertices: torch.Tensor) -> torch.Tensor:
    """(B,) the smallest depth (z, m, camera frame) of any vertex of ``vertices`` (B, V, 3):
    at or below zero part of the body is at or behind the camera."""
    _check("vertices", vertices, (None, None, 3))
    return vertices[..., 2].amin(dim=1)


def rotation_disagreement_deg(body_pose: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
    """(B,) mean geodesic angle (degrees) over the 21 body joints between ``body_pose``
    (B, 63, axis-angle) and the rotations ``anchor`` (B, 21, 3, 3) (the regressor's)."""
    _check("body_pose", body_pose, (None, 63))
    _check("anchor", anchor, (len(body_pose), NUM_BODY_JOINTS, 3, 3))
    rotations = roma.rotvec_to_rotmat(body_pose.reshape(-1, NUM_BODY_JOINTS, 3))
    return torch.rad2deg(roma.rotmat_geodesic_distance(rotations, anchor.to(rotations))).mean(dim=1)
