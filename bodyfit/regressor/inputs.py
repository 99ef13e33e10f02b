"""What the regressor reads: the person's box from their keypoints, the keypoints in the
box's coordinates, the box's place in the full image (CLIFF), per-joint heatmaps and RGB
crops.

Box coordinates: a square box (centre cx, cy; side b pixels) maps to [-1, 1]^2,
``(u - cx) / (b / 2)``. Shapes: B people, K keypoints, H heatmap or crop side.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bodyfit.fileio.images import IMAGENET_MEAN, IMAGENET_STD

BOX_SCALE = 1.2          # the box is this much larger than the seen keypoints' extent (SPIN)
MIN_BOX_PX = 16.0        # boxes of one or two points: at least this side


@dataclass
class RegressorInput:
    """``keypoints`` (B, K, 3) in box coordinates with confidence (unseen rows zero),
    ``box`` (B, 3) cx, cy, side (px), ``intrinsics`` (B, 4) fx, fy, cx, cy, ``box_info``
    (B, 3) CLIFF's ((cx - px) / f, (cy - py) / f, side / f); ``image`` (B, 3, H, H) the RGB
    crop (ImageNet-normalised) when the encoder reads images."""

    keypoints: torch.Tensor
    box: torch.Tensor
    intrinsics: torch.Tensor
    box_info: torch.Tensor
    image: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "RegressorInput":
        image = None if self.image is None else self.image.to(device)
        return RegressorInput(self.keypoints.to(device), self.box.to(device), self.intrinsics.to(device),
                              self.box_info.to(device), image)


def keypoint_boxes(keypoints: torch.Tensor, confidence: torch.Tensor, threshold: float = 0.0,
                   scale: float = BOX_SCALE) -> torch.Tensor:
    """(B, 3) square boxes (cx, cy, side) around the keypoints (B, K, 2) whose confidence
    (B, K) exceeds ``threshold``, ``scale`` times their larger extent; a person with no seen
    point gets a box of ``MIN_BOX_PX`` at the origin."""
    seen = confidence > threshold
    big = torch.finfo(keypoints.dtype).max
    low = torch.where(seen[..., None], keypoints, torch.full_like(keypoints, big)).amin(1)
    high = torch.where(seen[..., None], keypoints, torch.full_like(keypoints, -big)).amax(1)
    any_seen = seen.any(1)[:, None]
    low, high = torch.where(any_seen, low, torch.zeros_like(low)), torch.where(any_seen, high, torch.zeros_like(high))
    side = ((high - low).amax(1) * scale).clamp_min(MIN_BOX_PX)
    return torch.cat([(low + high) / 2, side[:, None]], dim=1)


def to_box(pixels: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """(B, K, 2) box coordinates of pixels (B, K, 2)."""
    return (pixels - box[:, None, :2]) / (box[:, None, 2:] / 2)


def from_box(coordinates: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """(B, K, 2) pixels of box coordinates (B, K, 2)."""
    return coordinates * (box[:, None, 2:] / 2) + box[:, None, :2]


def box_info(box: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """(B, 3) CLIFF's description of where the box sits in the full image."""
    focal = intrinsics[:, :2].mean(1)
    return torch.stack([(box[:, 0] - intrinsics[:, 2]) / focal, (box[:, 1] - intrinsics[:, 3]) / focal,
                        box[:, 2] / focal], dim=1)


def make_input(keypoints: torch.Tensor, confidence: torch.Tensor, intrinsics: torch.Tensor,
               image: torch.Tensor | None = None, crop_size: int = 224) -> RegressorInput:
    """The regressor's input for people with detections ``keypoints`` (B, K, 2) px and
    ``confidence`` (B, K) (zero: unseen), cameras ``intrinsics`` (B, 4); ``image`` (B, 3, H, W)
    float in [0, 1] when an RGB encoder reads the crops."""
    box = keypoint_boxes(keypoints, confidence)
    seen = (confidence > 0)[..., None]
    normalised = torch.where(seen, to_box(keypoints, box), torch.zeros_like(keypoints))
    points = torch.cat([normalised, confidence[..., None] * seen], dim=-1)
    crops = None if image is None else crop_images(image, box, crop_size)
    return RegressorInput(points, box, intrinsics, box_info(box, intrinsics), crops)


def crop_images(images: torch.Tensor, box: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, size, size) ImageNet-normalised crops of ``images`` (B, 3, H, W) in [0, 1] at
    the boxes (B, 3); outside the image is black (zero before normalising)."""
    height, width = images.shape[-2:]
    steps = torch.linspace(-1.0, 1.0, size, dtype=images.dtype, device=images.device)
    grid_y, grid_x = torch.meshgrid(steps, steps, indexing="ij")
    half = box[:, 2, None, None] / 2
    x = (box[:, 0, None, None] + grid_x * half) / (width - 1) * 2 - 1  # to grid_sample's [-1, 1]
    y = (box[:, 1, None, None] + grid_y * half) / (height - 1) * 2 - 1
    crops = F.grid_sample(images, torch.stack([x, y], dim=-1), align_corners=True, padding_mode="zeros")
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device)[:, None, None]
    return (crops - mean) / std


def heatmaps(keypoints: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """(B, K, size, size) one Gaussian per keypoint, peak = its confidence, from box
    coordinates with confidence (B, K, 3); ``sigma`` in heatmap pixels."""
    steps = torch.linspace(-1.0, 1.0, size, dtype=keypoints.dtype, device=keypoints.device)
    pixel = 2.0 / (size - 1)
    dx = (steps[None, None, :] - keypoints[..., 0:1]) / pixel  # (B, K, size)
    dy = (steps[None, None, :] - keypoints[..., 1:2]) / pixel
    gauss_x, gauss_y = torch.exp(-0.5 * (dx / sigma) ** 2), torch.exp(-0.5 * (dy / sigma) ** 2)
    return keypoints[..., 2, None, None] * gauss_y[..., :, None] * gauss_x[..., None, :]
