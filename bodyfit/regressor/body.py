"""The regressor's parameters through the body model: 3D joints and BODY_25 keypoints of
rotation matrices, betas and a translation, without axis-angle (the facing-camera
orientation is a 180-degree rotation, where axis-angle is singular).

Shapes: B batch, J = 22 joints (pelvis and the 21 body joints), K = 25 BODY_25 keypoints.
"""
from __future__ import annotations

import torch

from bodyfit.bodymodels.layer import BodyModel
from bodyfit.bodymodels.joints import NUM_BODY_JOINTS_WITH_PELVIS
from bodyfit.fileio.keypoint_layout import BODY


def body_points(model: BodyModel, rotations: torch.Tensor, betas: torch.Tensor,
                transl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Joints (B, J, 3) and BODY_25 keypoints (B, K, 3) in the camera frame of the body with
    rotations (B, 22, 3, 3) (global orientation, then the body joints), ``betas`` (B, <=10)
    and ``transl`` (B, 3). The body is posed without its global rotation, then turned about
    its pelvis (as the model turns it)."""
    params = model.zero_params(len(rotations))
    params.betas = params.betas.clone()
    params.betas[:, :betas.shape[1]] = betas
    wanted = torch.zeros(model.num_keypoints, dtype=torch.bool)
    wanted[BODY] = True
    joints, keypoints = model.selected_joints_and_keypoints(params, wanted, rotations[:, 1:])
    root = joints[:, :1]
    global_rotation = rotations[:, 0]

    def turned(points: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bij,bkj->bki", global_rotation, points - root) + root + transl[:, None]

    return turned(joints[:, :NUM_BODY_JOINTS_WITH_PELVIS]), turned(keypoints[:, BODY])
