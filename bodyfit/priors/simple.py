"""L2 priors and SMPLify-X's exponential bending prior on elbows and knees.

Shapes: B batch.
"""
from __future__ import annotations

import roma
import torch

from bodyfit.bodymodels.joints import SMPLX_JOINT

# (joint, axis, sign): exp(sign * angle)^2 grows when the joint bends the wrong way.
_BENDING = (("left_elbow", 1, 1.0), ("right_elbow", 1, -1.0),
            ("left_knee", 0, -1.0), ("right_knee", 0, -1.0))
_BENDING_INDEX = [3 * (SMPLX_JOINT[joint] - 1) + axis for joint, axis, _ in _BENDING]  # into body_pose
_BENDING_SIGNS = [sign for *_, sign in _BENDING]


def squared_norm(values: torch.Tensor) -> torch.Tensor:
    """(B,) sum of squares over the last dimension of (B, D)."""
    return values.pow(2).sum(dim=-1)


def axis_weighted_squared_norm(rotvec: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(B,) sum of (weight * angle)^2 per axis of a (B, 3) rotation vector (SMPLify-X's jaw)."""
    return (rotvec * weights).pow(2).sum(dim=-1)


def _bending_exponentials(angles: torch.Tensor) -> torch.Tensor:
    """(B, 4) exp(sign * angle) of the (B, 4) bending angles of ``_BENDING``."""
    signs = torch.tensor(_BENDING_SIGNS, dtype=angles.dtype, device=angles.device)
    return torch.exp(angles * signs)


def _bending_cost(angles: torch.Tensor) -> torch.Tensor:
    """(B,) sum of exp(sign * angle)^2 over the (B, 4) bending angles of ``_BENDING``."""
    return _bending_exponentials(angles).pow(2).sum(dim=-1)


def bending_prior(body_pose: torch.Tensor) -> torch.Tensor:
    """(B,) sum of exp(sign * angle)^2 over the elbows' and knees' bending axes of
    ``body_pose`` (B, 63): large when they bend backwards (hyper-extension)."""
    return _bending_cost(body_pose[:, _BENDING_INDEX])


def bending_residuals_from_rotations(rotations: torch.Tensor) -> torch.Tensor:
    """(B, 4) exp(sign * angle) of the elbows and knees from body joint rotations
    (B, 21, 3, 3); their squares sum to ``bending_prior``. Only those four joints are turned
    into axis-angle."""
    joints = [index // 3 for index in _BENDING_INDEX]
    axes = [index % 3 for index in _BENDING_INDEX]
    return _bending_exponentials(roma.rotmat_to_rotvec(rotations[:, joints])[:, list(range(len(joints))), axes])


def bending_prior_from_rotations(rotations: torch.Tensor) -> torch.Tensor:
    """``bending_prior`` from body joint rotations (B, 21, 3, 3)."""
    return bending_residuals_from_rotations(rotations).pow(2).sum(dim=-1)
