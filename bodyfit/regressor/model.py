"""HMR's network: an encoder to a feature vector, then iterative error feedback (IEF) from
the mean parameters, as in Kanazawa et al. 2018, with SPIN's 6D rotations and CLIFF's box
information.

Encoders (``RegressorShape.encoder``):
- ``keypoints``: the 2D keypoints in box coordinates with their confidences, an MLP with
  residual blocks (what the shipped model reads; it transfers from synthetic training);
- ``heatmaps``: the same keypoints rendered as per-joint Gaussians into a ResNet-18
  (Pavlakos et al. 2018, Pose2Mesh);
- ``rgb``: HMR's ResNet-50 over the 224 px crop, for users with image datasets.

The parameter vector (P = 145): global orientation and 21 body joints as 6D rotations (the
first two columns of each matrix), 10 betas, and the weak-perspective camera (s, tx, ty) in
box coordinates. ``camera_translation`` turns the camera into a translation in the full
image's camera frame with its focal length (CLIFF).

Shapes: B batch, K keypoints, F features, P parameters.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import roma
import torch
import torchvision
from torch import nn

from bodyfit.bodymodels.joints import NUM_BODY_JOINTS, NUM_BODY_JOINTS_WITH_PELVIS
from bodyfit.regressor.inputs import RegressorInput, heatmaps

NUM_BETAS = 10
ROT6D = 6
POSE_WIDTH = ROT6D * NUM_BODY_JOINTS_WITH_PELVIS  # global orientation, then the body joints
PARAM_WIDTH = POSE_WIDTH + NUM_BETAS + 3
BOX_INFO_WIDTH = 3
ENCODERS = ("keypoints", "heatmaps", "rgb")
# The facing-camera orientation (180 degrees about x) as 6D, then the identity for each joint.
_FACING_CAMERA_6D = (1.0, 0.0, 0.0, -1.0, 0.0, 0.0)
_IDENTITY_6D = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


@dataclass(frozen=True)
class RegressorShape:
    """The architecture; stored in checkpoints."""

    encoder: str = "keypoints"
    num_keypoints: int = 25
    hidden: int = 1024           # IEF's two hidden layers (HMR: 1024)
    iterations: int = 3          # IEF iterations (HMR: 3)
    dropout: float = 0.5         # IEF dropout (HMR: 0.5)
    encoder_width: int = 1024    # keypoint MLP width
    encoder_blocks: int = 2      # keypoint MLP residual blocks
    heatmap_size: int = 64
    heatmap_sigma: float = 1.5   # heatmap pixels
    crop_size: int = 224

    def to_dict(self) -> dict:
        return asdict(self)


def rotations_from_6d(six: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices from (..., 6) (Zhou et al.: Gram-Schmidt on two columns)."""
    return roma.special_gramschmidt(six.reshape(*six.shape[:-1], 3, 2))


def rotations_to_6d(rotations: torch.Tensor) -> torch.Tensor:
    """(..., 6) the first two columns of rotation matrices (..., 3, 3), row by row."""
    return rotations[..., :, :2].reshape(*rotations.shape[:-2], 6)


class KeypointEncoder(nn.Module):
    """(B, K, 3) box-coordinate keypoints + (B, 3) box info -> (B, F) features."""

    def __init__(self, shape: RegressorShape) -> None:
        super().__init__()
        width = shape.encoder_width
        self.stem = nn.Linear(shape.num_keypoints * 3 + BOX_INFO_WIDTH, width)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(width), nn.ReLU(), nn.Linear(width, width),
                                                  nn.LayerNorm(width), nn.ReLU(), nn.Linear(width, width))
                                    for _ in range(shape.encoder_blocks))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.ReLU())
        self.width = width

    def forward(self, inputs: RegressorInput) -> torch.Tensor:
        x = self.stem(torch.cat([inputs.keypoints.flatten(1), inputs.box_info], dim=1))
        for block in self.blocks:
            x = x + block(x)
        return self.out(x)


def _resnet_trunk(resnet: nn.Module) -> tuple[nn.Module, int]:
    width = resnet.fc.in_features
    resnet.fc = nn.Identity()
    return resnet, width


class HeatmapEncoder(nn.Module):
    """Per-joint heatmaps of the keypoints into a ResNet-18 (random init) -> (B, 512)."""

    def __init__(self, shape: RegressorShape) -> None:
        super().__init__()
        resnet = torchvision.models.resnet18(weights=None)
        resnet.conv1 = nn.Conv2d(shape.num_keypoints, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.trunk, self.width = _resnet_trunk(resnet)
        self.size, self.sigma = shape.heatmap_size, shape.heatmap_sigma

    def forward(self, inputs: RegressorInput) -> torch.Tensor:
        return self.trunk(heatmaps(inputs.keypoints, self.size, self.sigma))


class RGBEncoder(nn.Module):
    """HMR's ResNet-50 over the ImageNet-normalised crop -> (B, 2048); random init here (no
    ImageNet weights can be had offline; a user may load their own into ``trunk``)."""

    def __init__(self, shape: RegressorShape) -> None:
        super().__init__()
        self.trunk, self.width = _resnet_trunk(torchvision.models.resnet50(weights=None))

    def forward(self, inputs: RegressorInput) -> torch.Tensor:
        if inputs.image is None:
            raise ValueError("the rgb encoder needs image crops (RegressorInput.image)")
        return self.trunk(inputs.image)


@dataclass
class RegressorOutput:
    """The last IEF iteration's prediction: ``rotations`` (B, 22, 3, 3) global orientation
    then the 21 body joints, ``betas`` (B, 10), ``camera`` (B, 3) s, tx, ty (box
    coordinates); ``iterations`` (B, P) the parameter vector after each iteration."""

    rotations: torch.Tensor
    betas: torch.Tensor
    camera: torch.Tensor
    iterations: list[torch.Tensor]

    @property
    def global_rotation(self) -> torch.Tensor:
        return self.rotations[:, 0]

    @property
    def body_rotations(self) -> torch.Tensor:
        return self.rotations[:, 1:]

    def axis_angle(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Global orientation (B, 3) and body pose (B, 63) as axis-angle."""
        rotvec = roma.rotmat_to_rotvec(self.rotations)
        return rotvec[:, 0], rotvec[:, 1:].flatten(1)


def split_parameters(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rotations (B, 22, 3, 3), betas (B, 10), camera (B, 3) of parameter vectors (B, P)."""
    pose = params[:, :POSE_WIDTH].reshape(-1, NUM_BODY_JOINTS_WITH_PELVIS, ROT6D)
    return rotations_from_6d(pose), params[:, POSE_WIDTH:POSE_WIDTH + NUM_BETAS], params[:, -3:]


def mean_parameters() -> torch.Tensor:
    """(P,) IEF's starting point: facing the camera, the rest pose, the mean shape, a body
    filling the box (s = 1)."""
    pose = torch.tensor(_FACING_CAMERA_6D + _IDENTITY_6D * NUM_BODY_JOINTS)
    return torch.cat([pose, torch.zeros(NUM_BETAS), torch.tensor([1.0, 0.0, 0.0])])


class Regressor(nn.Module):
    """Encoder + IEF: ``forward(inputs) -> RegressorOutput``."""

    def __init__(self, shape: RegressorShape | None = None) -> None:
        super().__init__()
        self.shape = shape = shape or RegressorShape()
        if shape.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {shape.encoder!r}; known: {ENCODERS}")
        self.encoder = {"keypoints": KeypointEncoder, "heatmaps": HeatmapEncoder, "rgb": RGBEncoder}[shape.encoder](shape)
        width = self.encoder.width + PARAM_WIDTH + BOX_INFO_WIDTH
        self.ief = nn.Sequential(nn.Linear(width, shape.hidden), nn.ReLU(), nn.Dropout(shape.dropout),
                                 nn.Linear(shape.hidden, shape.hidden), nn.ReLU(), nn.Dropout(shape.dropout),
                                 nn.Linear(shape.hidden, PARAM_WIDTH))
        nn.init.xavier_uniform_(self.ief[-1].weight, gain=0.01)  # small first updates (as HMR/SPIN)
        nn.init.zeros_(self.ief[-1].bias)
        self.register_buffer("mean", mean_parameters())

    def forward(self, inputs: RegressorInput) -> RegressorOutput:
        features = self.encoder(inputs)
        params = self.mean.expand(len(features), -1)
        history = []
        for _ in range(self.shape.iterations):
            params = params + self.ief(torch.cat([features, params, inputs.box_info], dim=1))
            history.append(params)
        rotations, betas, camera = split_parameters(params)
        return RegressorOutput(rotations, betas, camera, history)


def camera_translation(camera: torch.Tensor, box: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """(B, 3) camera-frame translation of weak-perspective cameras (B, 3: s, tx, ty in box
    coordinates) of boxes (B, 3: cx, cy, side px) under ``intrinsics`` (B, 4): the depth at
    which the box's scale matches the focal length, shifted by where the box sits (CLIFF)."""
    scale = camera[:, 0].clamp_min(1e-3)
    focal = intrinsics[:, :2]
    depth = 2.0 * focal.mean(1) / (box[:, 2] * scale)
    offset = 2.0 * (box[:, :2] - intrinsics[:, 2:]) / (box[:, 2:3] * scale[:, None]) * (focal.mean(1, keepdim=True) / focal)
    return torch.cat([camera[:, 1:] + offset, depth[:, None]], dim=1)
