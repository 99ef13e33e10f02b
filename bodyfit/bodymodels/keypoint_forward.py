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

from bodyfit.bodymodels.joints import NUM_BODY_JOINTS


def level_order(parents: list[int]) -> list[int]:
    """Joints sorted by depth in the tree, the root first (by index within a depth)."""
    depth = [0] * len(parents)
    for joint in range(1, len(parents)):
        depth[joint] = depth[parents[joint]] + 1
    return sorted(range(len(parents)), key=lambda joint: (depth[joint], joint))


def _parent_pick(slots: list[int]) -> slice | torch.Tensor:
    """How a level reads its parents from the level above: the whole level, a contiguous
    run of it (both free views), or an index."""
    if slots == list(range(slots[0], slots[0] + len(slots))):
        return slice(slots[0], slots[0] + len(slots))
    return torch.tensor(slots)


class KinematicChain(torch.nn.Module):
    """World rotations and positions of every joint, one batched product per tree level
    instead of one per joint. Joints come in level order (``level_order``: every level is a
    contiguous run, so a level and, mostly, its parents are read as slices, not gathers)."""

    def __init__(self, parents: list[int]) -> None:
        """``parents`` in level order: ``parents[i] < i``, the root first with -1."""
        super().__init__()
        depth = [0] * len(parents)
        for joint in range(1, len(parents)):
            if not 0 <= parents[joint] < joint:
                raise ValueError("joints must come in level order (each parent before its children)")
            depth[joint] = depth[parents[joint]] + 1
        if depth != sorted(depth):
            raise ValueError("joints must come in level order (depth never decreasing)")
        bounds = [0] + [j for j in range(1, len(parents)) if depth[j] != depth[j - 1]] + [len(parents)]
        self.levels = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        self.parent_picks = [_parent_pick([parents[j] - above.start for j in range(level.start, level.stop)])
                             for above, level in zip(self.levels[:-1], self.levels[1:])]
        self.register_buffer("parents", torch.tensor(parents), persistent=False)

    def _apply(self, fn, recurse=True):
        self.parent_picks = [pick if isinstance(pick, slice) else fn(pick) for pick in self.parent_picks]
        return super()._apply(fn, recurse)

    def forward(self, rotations: torch.Tensor, rest_joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posed joints (B, J, 3) and skinning transforms (B, J, 3, 4) (rest -> posed) from
        local rotations (B, J, 3, 3) and rest joint positions (B, J, 3), all in level order."""
        offsets = torch.cat([rest_joints[:, :1], rest_joints[:, 1:] - rest_joints[:, self.parents[1:]]], dim=1)
        root = self.levels[0]
        world_r = [rotations[:, root]]
        world_t = [offsets[:, root]]
        for level, pick in zip(self.levels[1:], self.parent_picks):
            parent_r, parent_t = world_r[-1][:, pick], world_t[-1][:, pick]
            world_r.append(parent_r @ rotations[:, level])
            world_t.append(parent_t + (parent_r @ offsets[:, level, :, None])[..., 0])
        r = torch.cat(world_r, dim=1)
        t = torch.cat(world_t, dim=1)
        skinning = torch.cat([r, (t - (r @ rest_joints[..., None])[..., 0])[..., None]], dim=-1)
        return t, skinning


class KeypointForward(torch.nn.Module):
    """Built from a ``BodyModel``'s smplx module, its keypoint source indices and validity.
    With ``wanted`` (K,) only those keypoints are computed (the rest come out zero): the
    skeleton is chained only up to the joints they hang from and only the vertices they read
    are skinned, e.g. the body's 25 points without the fingers and the face."""

    def __init__(self, smpl: torch.nn.Module, model_type: str, num_joints: int,
                 keypoint_source: torch.Tensor, keypoint_valid: torch.Tensor, every_vertex: bool = False,
                 wanted: torch.Tensor | None = None) -> None:
        super().__init__()
        self.model_type = model_type
        self.every_vertex = every_vertex
        device = smpl.v_template.device
        keypoint_source, keypoint_valid = keypoint_source.cpu(), keypoint_valid.cpu()
        kept = keypoint_valid.clone() if wanted is None or every_vertex else keypoint_valid & wanted.to(torch.bool)
        extra = smpl.vertex_joint_selector.extra_joints_idxs.long().cpu()  # (E,)
        landmark_vertices = torch.zeros(0, 3, dtype=torch.long)
        if model_type == "smplx":
            landmark_vertices = smpl.faces_tensor[smpl.lmk_faces_idx].long().cpu()  # (L, 3)
        # which skeleton joints, extra vertices and landmarks the kept keypoints read
        source = keypoint_source[kept]
        extra_used = sorted({int(s) - num_joints for s in source if num_joints <= s < num_joints + len(extra)})
        landmark_used = sorted({int(s) - num_joints - len(extra) for s in source if s >= num_joints + len(extra)})
        wanted_vertices = torch.cat([extra[extra_used], landmark_vertices[landmark_used].reshape(-1)])
        if every_vertex:  # the whole mesh, for the terms that need it (collision)
            wanted_vertices = torch.cat([torch.arange(smpl.v_template.shape[0]), wanted_vertices])
        needed, inverse = torch.unique(wanted_vertices, return_inverse=True)
        if every_vertex:
            inverse = inverse[smpl.v_template.shape[0]:]
        extra_slot = inverse[: len(extra_used)]
        landmark_slot = inverse[len(extra_used):].view(-1, 3)
        if model_type == "smplx":
            self.register_buffer("landmark_bary", smpl.lmk_bary_coords.cpu()[landmark_used].clone())

        parents = smpl.parents.tolist()
        joints = self._joints_needed(parents, smpl.lbs_weights.cpu()[needed], source[source < num_joints],
                                     every_vertex or wanted is None)
        self.joint_ids = joints  # chained joints, level order
        self.register_buffer("model_order", torch.argsort(torch.tensor(joints)))
        slot = {joint: i for i, joint in enumerate(joints)}
        # each kept keypoint's row in [chained joints, extra vertices, landmarks]
        rows = torch.zeros_like(keypoint_source)
        for k in kept.nonzero().squeeze(1).tolist():
            s = int(keypoint_source[k])
            if s < num_joints:
                rows[k] = slot[s]
            elif s < num_joints + len(extra):
                rows[k] = len(joints) + extra_used.index(s - num_joints)
            else:
                rows[k] = len(joints) + len(extra_used) + landmark_used.index(s - num_joints - len(extra))
        self.register_buffer("keypoint_rows", rows)
        self.register_buffer("keypoint_kept", kept)
        self.register_buffer("extra_slot", extra_slot)
        self.register_buffer("landmark_slot", landmark_slot)

        shapedirs = smpl.shapedirs.cpu()
        if model_type == "smplx":
            shapedirs = torch.cat([shapedirs, smpl.expr_dirs.cpu()], dim=-1)
        regressor = smpl.J_regressor.cpu()[:num_joints][joints]
        template = smpl.v_template.cpu()
        self.register_buffer("v_template", template[needed].clone())                 # (S, 3)
        self.register_buffer("shapedirs", shapedirs[needed].clone())                 # (S, 3, C)
        self.register_buffer("joint_template", regressor @ template)          # (J', 3)
        self.register_buffer("joint_shapedirs", torch.einsum("jv,vdc->jdc", regressor, shapedirs))
        posedirs = smpl.posedirs.cpu().view(smpl.posedirs.shape[0], -1, 3)[:, needed]       # (P, S, 3)
        self.use_posedirs = bool(posedirs.abs().max() > 0) if posedirs.numel() else False
        self.register_buffer("posedirs", posedirs.reshape(posedirs.shape[0], -1).clone())
        self.register_buffer("lbs_weights", smpl.lbs_weights.cpu()[needed][:, joints].clone())  # (S, J')
        self.chain = KinematicChain([-1] + [slot[parents[j]] for j in joints[1:]])
        self.register_buffer("pose_mean", smpl.pose_mean.cpu().clone() if hasattr(smpl, "pose_mean")
                             else torch.zeros(3 * num_joints))
        # body joints 1-21 may come as rotation matrices when their pose mean is zero
        self.accepts_body_rotations = bool(self.pose_mean[3:3 + 3 * NUM_BODY_JOINTS].abs().max() == 0)
        # pose correctives read every joint's rotation; otherwise only the chained joints'
        rotated = list(range(num_joints)) if self.use_posedirs else joints
        self.register_buffer("rotated_joints", torch.tensor(rotated))
        self.register_buffer("chained_rows", torch.tensor([rotated.index(j) for j in joints]))
        body = [i for i, j in enumerate(rotated) if 1 <= j <= NUM_BODY_JOINTS]
        others = [i for i, j in enumerate(rotated) if not 1 <= j <= NUM_BODY_JOINTS]
        self.register_buffer("body_rows", torch.tensor([rotated[i] - 1 for i in body], dtype=torch.long))
        self.register_buffer("other_joints", torch.tensor([rotated[i] for i in others], dtype=torch.long))
        self.register_buffer("rotation_order", torch.argsort(torch.tensor(others + body)))
        self.to(device)

    @staticmethod
    def _joints_needed(parents: list[int], weights: torch.Tensor, skeleton_sources: torch.Tensor,
                       every_joint: bool) -> list[int]:
        """The joints that the kept keypoints read or whose transforms skin the kept
        vertices, with all their ancestors, in level order."""
        if every_joint:
            return level_order(parents)
        needed = set(skeleton_sources.tolist()) | set((weights.abs() > 0).any(0).nonzero().squeeze(1).tolist())
        needed.add(0)
        for joint in list(needed):
            while joint > 0:
                joint = parents[joint]
                needed.add(joint)
        return [joint for joint in level_order(parents) if joint in needed]

    def full_pose(self, kwargs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, 3 J) axis-angle in the model's joint order, from smplx-style keyword args."""
        order = {"smpl": ("global_orient", "body_pose"),
                 "smplh": ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose"),
                 "smplx": ("global_orient", "body_pose", "jaw_pose", "leye_pose", "reye_pose",
                           "left_hand_pose", "right_hand_pose")}[self.model_type]
        return torch.cat([kwargs[name] for name in order], dim=1) + self.pose_mean

    def rotations(self, kwargs: dict[str, torch.Tensor], body_rotations: torch.Tensor | None) -> torch.Tensor:
        """(B, R, 3, 3) rotations of ``rotated_joints`` (every joint when the model has
        pose correctives, else the chained ones); ``body_rotations`` (B, 21, 3, 3), when
        given, stand for the body joints instead of ``kwargs['body_pose']``."""
        if body_rotations is not None and not self.accepts_body_rotations:  # a non-zero mean: via axis-angle
            body = roma.rotmat_to_rotvec(body_rotations).reshape(len(body_rotations), -1)
            kwargs = {**kwargs, "body_pose": torch.cat([body, kwargs["body_pose"][:, body.shape[1]:]], dim=1)}
            body_rotations = None
        pose = self.full_pose(kwargs)
        batch = pose.shape[0]
        pose = pose.view(batch, -1, 3)
        if body_rotations is None:
            return batch_rodrigues(pose[:, self.rotated_joints].reshape(-1, 3)).view(batch, -1, 3, 3)
        others = batch_rodrigues(pose[:, self.other_joints].reshape(-1, 3)).view(batch, -1, 3, 3)
        return torch.cat([others, body_rotations[:, self.body_rows]], dim=1)[:, self.rotation_order]

    def forward(self, kwargs: dict[str, torch.Tensor],
                body_rotations: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Posed chained joints (B, J', 3) in the model's joint order (every skeleton joint
        unless ``wanted`` left some out) and keypoints (B, K, 3) for smplx-style ``kwargs``
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
            rotations = rotations[:, self.chained_rows]
        joints, transforms = self.chain(rotations, rest_joints)  # (B, J', 3), (B, J', 3, 4)
        points = [joints]
        if vertices.shape[1]:
            skin = torch.einsum("sj,bjmn->bsmn", self.lbs_weights, transforms)  # (B, S, 3, 4)
            vertices = torch.einsum("bsmn,bsn->bsm", skin[..., :3], vertices) + skin[..., 3]
            points.append(vertices[:, self.extra_slot])
            if self.model_type == "smplx" and len(self.landmark_slot):
                corners = vertices[:, self.landmark_slot]  # (B, L, 3, 3)
                points.append(torch.einsum("blkd,lk->bld", corners, self.landmark_bary))
        points = torch.cat(points, dim=1)
        if "transl" in kwargs:
            joints = joints + kwargs["transl"][:, None]
            points = points + kwargs["transl"][:, None]
            if self.every_vertex:
                vertices = vertices + kwargs["transl"][:, None]
        keypoints = points[:, self.keypoint_rows] * self.keypoint_kept[None, :, None]
        joints = joints[:, self.model_order]
        if self.every_vertex:
            return joints, keypoints, vertices
        return joints, keypoints
