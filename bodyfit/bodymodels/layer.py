"""One interface over SMPL, SMPL-H and SMPL-X: parameters in, vertices, skeleton joints and
OpenPose keypoints out, with a leading batch dimension everywhere.

Shapes: B batch, V vertices, J skeleton joints, K OpenPose keypoints.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import roma
import smplx
import torch
from smplx.utils import Struct

from bodyfit.bodymodels import openpose
from bodyfit.bodymodels.keypoint_forward import KeypointForward
from bodyfit.bodymodels.files import OPEN_MODEL_FOLDER, find_model_file, read_model_file
from bodyfit.bodymodels.joints import NUM_SKELETON_JOINTS

_POSE_SIZES = {
    "global_orient": 3, "body_pose": 63, "left_hand_pose": 45, "right_hand_pose": 45,
    "jaw_pose": 3, "leye_pose": 3, "reye_pose": 3, "transl": 3,
}
_MODEL_POSES = {
    "smpl": ("global_orient", "body_pose", "transl"),
    "smplh": ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "transl"),
    "smplx": tuple(_POSE_SIZES),
}


@dataclass
class BodyParams:
    """Body model parameters, each (B, D). Hand poses are full axis-angle (45 = 15 joints x
    3, the flat hand at zero); ``body_pose`` is 21 joints x 3 for every model type (SMPL's
    two hand joints stay at rest)."""

    betas: torch.Tensor
    expression: torch.Tensor
    global_orient: torch.Tensor
    body_pose: torch.Tensor
    left_hand_pose: torch.Tensor
    right_hand_pose: torch.Tensor
    jaw_pose: torch.Tensor
    leye_pose: torch.Tensor
    reye_pose: torch.Tensor
    transl: torch.Tensor

    @staticmethod
    def zeros(batch_size: int, num_betas: int = 10, num_expression: int = 10,
              device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> "BodyParams":
        sizes = {"betas": num_betas, "expression": num_expression, **_POSE_SIZES}
        return BodyParams(**{name: torch.zeros(batch_size, size, device=device, dtype=dtype)
                             for name, size in sizes.items()})

    @property
    def batch_size(self) -> int:
        return self.global_orient.shape[0]

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class BodyOutput:
    """``vertices`` (B, V, 3), ``joints`` (B, J, 3) skeleton joints, ``keypoints`` (B, K, 3)
    in OpenPose order (``fileio.keypoint_layout``), zero where ``keypoint_valid`` (K,) is False."""

    vertices: torch.Tensor
    joints: torch.Tensor
    keypoints: torch.Tensor
    keypoint_valid: torch.Tensor = field(repr=False)


class BodyModel(torch.nn.Module):
    """SMPL, SMPL-H or SMPL-X from ``model_folder`` (the open SMPL-X model by default)."""

    def __init__(self, model_type: str = "smplx", gender: str = "neutral",
                 model_folder: Path | str | None = None, num_betas: int = 10,
                 num_expression: int = 10, use_face_contour: bool = False) -> None:
        super().__init__()
        folder = Path(model_folder) if model_folder is not None else OPEN_MODEL_FOLDER
        self.path = find_model_file(folder, model_type, gender)
        self.model_type, self.gender = model_type, gender
        self.use_face_contour = use_face_contour and model_type == "smplx"
        data = read_model_file(self.path)
        self.smpl = self._build(model_type, data, gender, num_betas, num_expression)
        self.num_betas = self.smpl.num_betas
        self.num_expression = getattr(self.smpl, "num_expression_coeffs", 0)
        self.faces = np.asarray(self.smpl.faces, dtype=np.int64)
        indices = openpose.source_indices(model_type, self.use_face_contour)
        self.register_buffer("keypoint_source", torch.as_tensor(np.maximum(indices, 0)), persistent=False)
        self.register_buffer("keypoint_valid", torch.as_tensor(indices >= 0), persistent=False)
        self.keypoint_forward = self.mesh_forward = None
        self._selected_forwards: dict[bytes, KeypointForward] = {}  # by wanted-keypoint mask
        if not self.use_face_contour:  # the contour's landmarks follow the head: full forward
            self.keypoint_forward = KeypointForward(self.smpl, model_type, NUM_SKELETON_JOINTS[model_type],
                                                    self.keypoint_source, self.keypoint_valid)
            self.mesh_forward = KeypointForward(self.smpl, model_type, NUM_SKELETON_JOINTS[model_type],
                                                self.keypoint_source, self.keypoint_valid, every_vertex=True)

    def _build(self, model_type, data, gender, num_betas, num_expression) -> torch.nn.Module:
        common = dict(gender=gender, num_betas=num_betas, batch_size=1)
        # smplx prints a warning for shape spaces smaller than the official ones (the open
        # model has 10 betas and 10 expressions); it is expected here, so keep it quiet.
        with contextlib.redirect_stdout(io.StringIO()):
            if model_type == "smpl":
                return smplx.SMPL(str(self.path.parent), data_struct=Struct(**data), **common)
            hands = dict(use_pca=False, flat_hand_mean=True)
            if model_type == "smplh":
                return smplx.SMPLH(str(self.path.parent), data_struct=Struct(**data), **common, **hands)
            smplx_kwargs = dict(**common, **hands, num_expression_coeffs=num_expression,
                                use_face_contour=self.use_face_contour)
            if self.path.suffix == ".npz":
                return smplx.SMPLX(str(self.path), ext="npz", **smplx_kwargs)
            # smplx.SMPLX reads only its own files, with plain pickle (which needs chumpy for
            # legacy .pkl): hand it the arrays read here, as a temporary .npz.
            with tempfile.TemporaryDirectory() as tmp:
                converted = Path(tmp) / "SMPLX_CONVERTED.npz"
                np.savez(converted, **data)
                return smplx.SMPLX(str(converted), ext="npz", **smplx_kwargs)

    @property
    def num_keypoints(self) -> int:
        return int(self.keypoint_source.shape[0])

    @property
    def num_vertices(self) -> int:
        return int(self.smpl.v_template.shape[0])

    def zero_params(self, batch_size: int) -> BodyParams:
        """Rest-pose, mean-shape parameters on this model's device and dtype."""
        ref = self.smpl.v_template
        return BodyParams.zeros(batch_size, self.num_betas, max(self.num_expression, 1),
                                device=ref.device, dtype=ref.dtype)

    def rest_params(self, betas: torch.Tensor) -> BodyParams:
        """Rest-pose parameters (B, D) with the shape ``betas`` (B, <= num_betas), the rest zero."""
        params = self.zero_params(len(betas))
        params.betas[:, :betas.shape[1]] = torch.as_tensor(betas).to(params.betas)
        return params

    def _smpl_kwargs(self, params: BodyParams) -> dict[str, torch.Tensor]:
        batch = params.batch_size
        for name, value in params.as_dict().items():
            width = _POSE_SIZES.get(name)
            if value.dim() != 2 or value.shape[0] != batch or (width is not None and value.shape[1] != width):
                expected = f"(B={batch}, {width if width is not None else 'D'})"
                raise ValueError(f"{name} must be {expected}, got {tuple(value.shape)}")
        kwargs = {"betas": params.betas[:, : self.num_betas]}
        for name in _MODEL_POSES[self.model_type]:
            kwargs[name] = getattr(params, name)
        if self.model_type == "smpl":
            hands_at_rest = params.body_pose.new_zeros(batch, 6)
            kwargs["body_pose"] = torch.cat([params.body_pose, hands_at_rest], dim=1)
        if self.model_type == "smplx":
            kwargs["expression"] = params.expression[:, : self.num_expression]
        return kwargs

    def keypoints(self, params: BodyParams,
                  body_rotations: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Skeleton joints (B, J, 3) and OpenPose keypoints (B, K, 3) without the mesh (the
        same values as ``forward``, much cheaper). ``body_rotations`` (B, 21, 3, 3), when
        given, are the body pose instead of ``params.body_pose`` (a prior's decoder gives
        matrices; this skips converting them to axis-angle and back)."""
        if self.keypoint_forward is None:
            output = self.forward(self._with_body_pose(params, body_rotations))
            return output.joints, output.keypoints
        return self.keypoint_forward(self._smpl_kwargs(params), body_rotations)

    def selected_forward(self, wanted: torch.Tensor) -> KeypointForward | None:
        """The keypoint-only forward that computes just the ``wanted`` (K,) keypoints, built
        once per set (None when the model has no keypoint-only forward)."""
        if self.keypoint_forward is None:
            return None
        key = bytes(wanted.to(torch.bool).cpu().numpy()) + str(self.smpl.v_template.device).encode()
        if key not in self._selected_forwards:
            self._selected_forwards[key] = KeypointForward(
                self.smpl, self.model_type, NUM_SKELETON_JOINTS[self.model_type], self.keypoint_source,
                self.keypoint_valid, wanted=wanted.to(torch.bool).cpu())
        return self._selected_forwards[key]

    def selected_keypoints(self, params: BodyParams, wanted: torch.Tensor,
                           body_rotations: torch.Tensor | None = None) -> torch.Tensor:
        """OpenPose keypoints (B, K, 3) where ``wanted`` (K,) is set, zero elsewhere: the
        skeleton is chained only as far as those points need and only the vertices they read
        are skinned (a stage that weighs no finger or face point skips the hands and the
        face). The same values as ``keypoints`` at the wanted points."""
        forward = self.selected_forward(wanted)
        if forward is None:
            return self.keypoints(params, body_rotations)[1] * wanted.to(params.betas)[None, :, None]
        return forward(self._smpl_kwargs(params), body_rotations)[1]

    def selected_joints_and_keypoints(self, params: BodyParams, wanted: torch.Tensor,
                                      body_rotations: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Skeleton joints (B, J', 3) (those the ``wanted`` keypoints hang from, in model order,
        at least the root) and keypoints (B, K, 3) as ``selected_keypoints`` gives them."""
        forward = self.selected_forward(wanted)
        if forward is None:
            joints, keypoints = self.keypoints(params, body_rotations)
            return joints, keypoints * wanted.to(params.betas)[None, :, None]
        return forward(self._smpl_kwargs(params), body_rotations)

    def mesh_and_keypoints(self, params: BodyParams,
                           body_rotations: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Vertices (B, V, 3) and OpenPose keypoints (B, K, 3), the values of ``forward``,
        through the same path as ``keypoints`` (no pose correctives when the model has none,
        as the open model); ``body_rotations`` as in ``keypoints``."""
        if self.mesh_forward is None:
            output = self.forward(self._with_body_pose(params, body_rotations))
            return output.vertices, output.keypoints
        _, keypoints, vertices = self.mesh_forward(self._smpl_kwargs(params), body_rotations)
        return vertices, keypoints

    @staticmethod
    def _with_body_pose(params: BodyParams, body_rotations: torch.Tensor | None) -> BodyParams:
        if body_rotations is None:
            return params
        body_pose = roma.rotmat_to_rotvec(body_rotations).reshape(params.batch_size, -1)
        return dataclasses.replace(params, body_pose=body_pose)

    def forward(self, params: BodyParams) -> BodyOutput:
        """Vertices, skeleton joints and OpenPose keypoints for ``params``."""
        output = self.smpl(**self._smpl_kwargs(params), return_verts=True)
        count = NUM_SKELETON_JOINTS[self.model_type]
        keypoints = output.joints[:, self.keypoint_source] * self.keypoint_valid[None, :, None]
        return BodyOutput(output.vertices, output.joints[:, :count], keypoints, self.keypoint_valid)
