"""Training-time changes to batches of crops, so that the classifier does not learn the
renderer: flips, box jitter, colour, blur, grey, occluding rectangles.

Shapes: B crops (B, 3, S, S) float in 0..1.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from bodyfit.gender.config import AugmentConfig


def _chance(share: float, count: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(count, generator=generator) < share


def jitter_boxes(images: torch.Tensor, amount: float, generator: torch.Generator) -> torch.Tensor:
    """Each crop shifted by up to ``amount`` of its side and scaled by 1 +- ``amount`` (black
    where it leaves the crop), as detectors' boxes wander."""
    count = len(images)
    scale = 1.0 + (torch.rand(count, generator=generator) * 2 - 1) * amount
    shift = (torch.rand(count, 2, generator=generator) * 2 - 1) * amount * 2
    theta = torch.zeros(count, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="zeros", align_corners=False)


def augment(images: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """A changed copy of ``images`` (B, 3, S, S) in 0..1."""
    images = images.clone()
    count, _, size, _ = images.shape
    flip = _chance(config.flip, count, generator)
    images[flip] = images[flip].flip(-1)
    if config.jitter > 0:
        images = jitter_boxes(images, config.jitter, generator)
    if config.color > 0:
        def factor() -> torch.Tensor:
            return (1 + (torch.rand(count, 1, 1, 1, generator=generator) * 2 - 1) * config.color)
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        images = (images - mean) * factor() + mean * factor()
        grey = images.mean(dim=1, keepdim=True)
        images = grey + (images - grey) * factor()
    grey = _chance(config.grayscale, count, generator)
    images[grey] = images[grey].mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    for index in torch.nonzero(_chance(config.blur, count, generator)).flatten().tolist():
        sigma = float(0.3 + 1.2 * torch.rand(1, generator=generator))
        images[index] = TF.gaussian_blur(images[index], [5, 5], [sigma, sigma])
    for index in torch.nonzero(_chance(config.occlusion, count, generator)).flatten().tolist():
        height, width = (torch.rand(2, generator=generator) * 0.4 + 0.1) * size
        top, left = torch.rand(2, generator=generator) * (size - torch.stack([height, width]))
        rows = slice(int(top), int(top + height))
        cols = slice(int(left), int(left + width))
        images[index, :, rows, cols] = torch.rand(3, 1, 1, generator=generator)
    return images.clamp(0, 1)
