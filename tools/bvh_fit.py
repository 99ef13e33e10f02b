"""Method (b): fit SMPL-X's skeleton joints to a BVH skeleton's joint positions.

All frames at once: per frame a global orientation, 21 body-joint rotations (axis-angle) and a
translation, and per clip the shape (``betas``, optional) and the BVH's uniform scale to metres
(optional), minimise the mean squared distance between SMPL-X's compared joints and the scaled
BVH joints, plus a small L2 pull of the pose toward the start (method (a)'s rotations): the
joints that positions leave free (limb twist, how the spine shares a bend, hands, feet, head)
keep the rotations the BVH gave them. L-BFGS with a strong-Wolfe line search.

With ``normalise_lengths`` the targets are the BVH joints rebuilt, in every frame and
iteration, from the BVH's hip midpoint along the BVH's segment directions with the lengths that
SMPL-X's own posed segments have (``retarget_error.SEGMENTS``): the two skeletons' different
proportions then cannot bend the pose, and the optimum is where every segment points as the
BVH's does.

Shapes: F frames, K compared joints.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bodyfit.bodymodels.layer import BodyModel
from tools.retarget_error import POINTS, SEGMENTS


@dataclass(frozen=True)
class FitSettings:
    iterations: int = 150  # L-BFGS iterations over all frames together
    pose_weight: float = 1e-3  # per rad^2, mean over the 22 joints, against mean squared m
    fit_betas: bool = True
    beta_weight: float = 1e-4  # per unit^2 of each beta
    fit_scale: bool = False  # the BVH's scale to metres (else the rest-pose size ratio stays)
    normalise_lengths: bool = True  # targets with SMPL-X's segment lengths (see the module notes)


@dataclass
class FitResult:
    poses: np.ndarray  # (F, 66) global orientation then 21 body joints, axis-angle
    trans: np.ndarray  # (F, 3) SMPL-X transl, metres
    betas: np.ndarray  # (10,)
    scale: float  # metres per BVH unit
    position_rms: float  # metres, root mean squared joint distance at the end


def _hip_and_shoulder_mid(points: torch.Tensor) -> torch.Tensor:
    """(F, P, 3) compared joints (F, K, 3) followed by the hip and shoulder midpoints."""
    hips = 0.5 * (points[:, POINTS.index("left_hip")] + points[:, POINTS.index("right_hip")])
    shoulders = 0.5 * (points[:, POINTS.index("left_shoulder")] + points[:, POINTS.index("right_shoulder")])
    return torch.cat([points, hips[:, None], shoulders[:, None]], dim=1)


def length_normalised_targets(smplx_points: torch.Tensor, bvh_points: torch.Tensor) -> torch.Tensor:
    """(F, K, 3) the BVH joints (F, K, 3) rebuilt from their hip midpoint along their own
    segment directions with the lengths of SMPL-X's posed segments (from (F, K, 3))."""
    smplx_full, bvh_full = _hip_and_shoulder_mid(smplx_points), _hip_and_shoulder_mid(bvh_points)
    rebuilt = {len(POINTS): bvh_full[:, len(POINTS)]}
    for parent, child in SEGMENTS:
        length = (smplx_full[:, child] - smplx_full[:, parent]).norm(dim=-1, keepdim=True)
        direction = bvh_full[:, child] - bvh_full[:, parent]
        rebuilt[child] = rebuilt[parent] + length * direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    return torch.stack([rebuilt[k] for k in range(len(POINTS))], dim=1)


def fit_objective(model: BodyModel, poses: torch.Tensor, trans: torch.Tensor, betas: torch.Tensor,
                  targets: torch.Tensor, joint_ids: torch.Tensor, start: torch.Tensor,
                  settings: FitSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """The objective (scalar) and the mean squared joint distance (scalar) for poses (F, 66),
    trans (F, 3), betas (1, 10) against the BVH's joints ``targets`` (F, K, 3) in metres."""
    params = model.zero_params(len(poses))
    params.global_orient = poses[:, :3]
    params.body_pose = poses[:, 3:]
    params.transl = trans
    params.betas = betas.expand(len(poses), -1)
    joints = model.keypoints(params)[0][:, joint_ids]  # (F, K, 3)
    if settings.normalise_lengths:
        targets = length_normalised_targets(joints, targets)
    data = ((joints - targets) ** 2).sum(-1).mean()
    pose = ((poses - start) ** 2).reshape(len(poses), -1, 3).sum(-1).mean()
    shape = (betas ** 2).sum()
    return data + settings.pose_weight * pose + settings.beta_weight * shape, data


def fit_positions(model: BodyModel, targets: np.ndarray, joint_ids: np.ndarray, start_poses: np.ndarray,
                  start_trans: np.ndarray, scale: float, settings: FitSettings = FitSettings()) -> FitResult:
    """SMPL-X poses whose joints ``joint_ids`` (K,) follow the BVH joints ``targets`` (F, K, 3,
    BVH units, in ``retarget_error.POINTS`` order) times ``scale``, starting from poses (F, 66)
    and trans (F, 3)."""
    if targets.ndim != 3 or targets.shape[1:] != (len(joint_ids), 3) or len(start_poses) != len(targets):
        raise ValueError(f"targets must be (F, {len(joint_ids)}, 3) with F = {len(start_poses)}, "
                         f"got {targets.shape}")
    dtype = model.smpl.v_template.dtype
    def tensor(x):
        return torch.tensor(np.asarray(x), dtype=dtype)
    start = tensor(start_poses)
    poses, trans = start.clone().requires_grad_(True), tensor(start_trans).requires_grad_(True)
    betas = torch.zeros(1, model.num_betas, dtype=dtype, requires_grad=settings.fit_betas)
    log_scale = torch.tensor(np.log(scale), dtype=dtype, requires_grad=settings.fit_scale)
    free = [poses, trans] + [t for t in (betas, log_scale) if t.requires_grad]
    raw_targets, ids = tensor(targets), torch.as_tensor(joint_ids)
    optimiser = torch.optim.LBFGS(free, lr=1.0, max_iter=settings.iterations, history_size=20,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss, _ = fit_objective(model, poses, trans, betas, raw_targets * log_scale.exp(), ids, start, settings)
        loss.backward()
        return loss

    optimiser.step(closure)
    with torch.no_grad():
        _, data = fit_objective(model, poses, trans, betas, raw_targets * log_scale.exp(), ids, start, settings)
    return FitResult(poses.detach().numpy().astype(np.float64), trans.detach().numpy().astype(np.float64),
                     betas.detach()[0].numpy().astype(np.float64), float(log_scale.detach().exp()), float(data.sqrt()))
