"""Keypoints without the mesh: forward kinematics on the skeleton and skinning of only the
vertices that keypoints and face landmarks read.

The fitting stages need 2D keypoints, not 10k vertices; this forward gives the same
skeleton joints and OpenPose keypoints as ``BodyModel.forward`` (to float round-off) at a
fraction of the cost. It reads the arrays of the smplx module it wraps, so it works for
SMPL, SMPL-H and SMPL-X files alike.

Shapes: B batch, J skeleton joints, S skinned vertices, K keypoints, P pose features.
"""
from __future__ import annotations

import roma
import torch
from smplx.lbs import batch_rodrigues

from bodymodels.skeleton import SMPL_BODY_JOINT_NAMES

NUM_BODY_JOINTS = len(SMPL_BODY_JOINT_NAMES) - 1  # 21: the body pose, without the pelvis


def kinematic_levels(parents: list[int]) -> list[list[int]]:
    """Joints grouped by depth in the tree (the root alone first)."""
    depth = [0] * len(parents)
    for joint in range(1, len(parents)):
        depth[joint] = depth[parents[joint]] + 1
    return [[j for j in range(len(parents)) if depth[j] == d] for d in range(max(depth) + 1)]


class KinematicChain(torch.nn.Module):
    """World rotations and positions of every joint, one batched product per tree level
    instead of one per joint."""

    def __init__(self, parents: list[int]) -> None:
        super().__init__()
        levels = kinematic_levels(parents)
        self.levels = [torch.tensor(level) for level in levels]
        position = {joint: i for level in levels for i, joint in enumerate(level)}
        self.parent_slots = [torch.tensor([position[parents[j]] for j in level]) for level in levels[1:]]
        order = torch.tensor([j for level in levels for j in level])
        self.register_buffer("inverse_order", torch.argsort(order), persistent=False)
        self.register_buffer("parents", torch.tensor(parents), persistent=False)

    def forward(self, rotations: torch.Tensor, rest_joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posed joints (B, J, 3) and skinning transforms (B, J, 3, 4) (rest -> posed) from
        local rotations (B, J, 3, 3) and rest joint positions (B, J, 3)."""
        offsets = rest_joints.clone()
        offsets[:, 1:] = rest_joints[:, 1:] - rest_joints[:, self.parents[1:]]
        root = self.levels[0]
        world_r = [rotations[:, root]]
        world_t = [offsets[:, root]]
        for level, slots in zip(self.levels[1:], self.parent_slots):
            parent_r = world_r[-1][:, slots]
            world_r.append(parent_r @ rotations[:, level])
            world_t.append(world_t[-1][:, slots] + (parent_r @ offsets[:, level, :, None])[..., 0])
        r = torch.cat(world_r, dim=1)[:, self.inverse_order]
        t = torch.cat(world_t, dim=1)[:, self.inverse_order]
        skinning = torch.cat([r, (t - (r @ rest_joints[..., None])[..., 0])[..., None]], dim=-1)
        return t, skinning


class KeypointForward(torch.nn.Module):
    """Built from a ``BodyModel``'s smplx module, its keypoint source indices and validity."""

    def __init__(self, smpl: torch.nn.Module, model_type: str, num_joints: int,
                 keypoint_source: torch.Tensor, keypoint_valid: torch.Tensor, every_vertex: bool = False) -> None:
        super().__init__()
        self.model_type = model_type
        self.every_vertex = every_vertex
        extra = smpl.vertex_joint_selector.extra_joints_idxs.long()  # (E,)
        landmark_vertices = torch.zeros(0, 3, dtype=torch.long)
        if model_type == "smplx":
            landmark_vertices = smpl.faces_tensor[smpl.lmk_faces_idx].long()  # (L, 3)
            self.register_buffer("landmark_bary", smpl.lmk_bary_coords.clone())
        wanted = torch.cat([extra, landmark_vertices.reshape(-1)])
        if every_vertex:  # the whole mesh, for the terms that need it (collision)
            wanted = torch.cat([torch.arange(smpl.v_template.shape[0]), wanted])
        needed, inverse = torch.unique(wanted, return_inverse=True)
        if every_vertex:
            inverse = inverse[smpl.v_template.shape[0]:]
        self.register_buffer("extra_slot", inverse[: len(extra)])
        self.register_buffer("landmark_slot", inverse[len(extra):].view(-1, 3))

        shapedirs = smpl.shapedirs
        if model_type == "smplx":
            shapedirs = torch.cat([smpl.shapedirs, smpl.expr_dirs], dim=-1)
        self.num_betas = smpl.shapedirs.shape[-1]
        regressor = smpl.J_regressor[:num_joints]
        self.register_buffer("v_template", smpl.v_template[needed].clone())          # (S, 3)
        self.register_buffer("shapedirs", shapedirs[needed].clone())                 # (S, 3, C)
        self.register_buffer("joint_template", regressor @ smpl.v_template)          # (J, 3)
        self.register_buffer("joint_shapedirs", torch.einsum("jv,vdc->jdc", regressor, shapedirs))
        posedirs = smpl.posedirs.view(smpl.posedirs.shape[0], -1, 3)[:, needed]       # (P, S, 3)
        self.use_posedirs = bool(posedirs.abs().max() > 0)
        self.register_buffer("posedirs", posedirs.reshape(posedirs.shape[0], -1).clone())
        self.register_buffer("lbs_weights", smpl.lbs_weights[needed].clone())         # (S, J)
        self.chain = KinematicChain(smpl.parents.tolist())
        self.register_buffer("pose_mean", smpl.pose_mean.clone() if hasattr(smpl, "pose_mean")
                             else torch.zeros(3 * num_joints))
        # body joints 1-21 may come as rotation matrices when their pose mean is zero
        self.accepts_body_rotations = bool(self.pose_mean[3:3 + 3 * NUM_BODY_JOINTS].abs().max() == 0)
        self.register_buffer("keypoint_source", keypoint_source.clone())
        self.register_buffer("keypoint_valid", keypoint_valid.clone())

    def full_pose(self, kwargs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, 3 J) axis-angle in the model's joint order, from smplx-style keyword args."""
        order = {"smpl": ("global_orient", "body_pose"),
                 "smplh": ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose"),
                 "smplx": ("global_orient", "body_pose", "jaw_pose", "leye_pose", "reye_pose",
                           "left_hand_pose", "right_hand_pose")}[self.model_type]
        return torch.cat([kwargs[name] for name in order], dim=1) + self.pose_mean

    def rotations(self, kwargs: dict[str, torch.Tensor], body_rotations: torch.Tensor | None) -> torch.Tensor:
        """(B, J, 3, 3) joint rotations; ``body_rotations`` (B, 21, 3, 3), when given, stand
        for the body joints instead of ``kwargs['body_pose']``."""
        if body_rotations is not None and not self.accepts_body_rotations:  # a non-zero mean: via axis-angle
            body = roma.rotmat_to_rotvec(body_rotations).reshape(len(body_rotations), -1)
            kwargs = {**kwargs, "body_pose": torch.cat([body, kwargs["body_pose"][:, body.shape[1]:]], dim=1)}
            body_rotations = None
        pose = self.full_pose(kwargs)
        batch = pose.shape[0]
        if body_rotations is None:
            return batch_rodrigues(pose.reshape(-1, 3)).view(batch, -1, 3, 3)
        body = slice(3, 3 + 3 * NUM_BODY_JOINTS)
        others = torch.cat([pose[:, :body.start], pose[:, body.stop:]], dim=1)
        other_rotations = batch_rodrigues(others.reshape(-1, 3)).view(batch, -1, 3, 3)
        return torch.cat([other_rotations[:, :1], body_rotations, other_rotations[:, 1:]], dim=1)

    def forward(self, kwargs: dict[str, torch.Tensor],
                body_rotations: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Posed skeleton joints (B, J, 3) and keypoints (B, K, 3) for smplx-style ``kwargs``
        (as ``BodyModel`` builds them); with ``every_vertex``, also the posed vertices
        (B, V, 3)."""
        rotations = self.rotations(kwargs, body_rotations)
        batch = rotations.shape[0]
        coefficients = kwargs["betas"]
        if self.model_type == "smplx":
            coefficients = torch.cat([coefficients, kwargs["expression"]], dim=1)
        rest_joints = self.joint_template + torch.einsum("bc,jdc->bjd", coefficients, self.joint_shapedirs)
        vertices = self.v_template + torch.einsum("bc,sdc->bsd", coefficients, self.shapedirs)
        if self.use_posedirs:
            eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
            features = (rotations[:, 1:] - eye).reshape(batch, -1)  # (B, P)
            vertices = vertices + (features @ self.posedirs).view(batch, -1, 3)
        joints, transforms = self.chain(rotations, rest_joints)  # (B, J, 3), (B, J, 3, 4)
        skin = torch.einsum("sj,bjmn->bsmn", self.lbs_weights, transforms)  # (B, S, 3, 4)
        vertices = torch.einsum("bsmn,bsn->bsm", skin[..., :3], vertices) + skin[..., 3]
        points = [joints, vertices[:, self.extra_slot]]
        if self.model_type == "smplx":
            corners = vertices[:, self.landmark_slot]  # (B, L, 3, 3)
            points.append(torch.einsum("blkd,lk->bld", corners, self.landmark_bary))
        points = torch.cat(points, dim=1)
        if "transl" in kwargs:
            joints = joints + kwargs["transl"][:, None]
            points = points + kwargs["transl"][:, None]
            if self.every_vertex:
                vertices = vertices + kwargs["transl"][:, None]
        keypoints = points[:, self.keypoint_source] * self.keypoint_valid[None, :, None]
        if self.every_vertex:
            return joints, keypoints, vertices
        return joints, keypoints
