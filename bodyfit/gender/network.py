"""The classifier: torchvision's ResNet-18 with a two-way head (female, male), and its
checkpoint file (weights stored as float16, with the crop size, what it was trained on and
its measured figures).

Shapes: B crops, S the crop side.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from bodyfit.fileio.checkpoints import (Checkpoint, building_from, half_precision, read_checkpoint,
                                        resolve_checkpoint, write_checkpoint)
from bodyfit.fileio.images import IMAGENET_MEAN, IMAGENET_STD
from bodyfit.resources import model_path

CLASSES = ("female", "male")
KIND = "gender"
FILE_NAME = "gender.pt"
DEFAULT_CHECKPOINT = model_path("gender", "open_synthetic", FILE_NAME)


class CropClassifier(nn.Module):
    """A two-way classifier (female, male) over RGB crops (B, S, S, 3) uint8 (or (B, 3, S, S)
    float in 0..1), normalised as ImageNet images; ``forward`` gives logits (B, 2) over
    ``CLASSES``. ``hint_path`` names the backbone's middle layer (stride 16, ``hint_channels``
    channels) that a teacher's features guide."""

    def __init__(self, image_size: int, backbone: nn.Module, hint_path: str, hint_channels: int) -> None:
        super().__init__()
        self.image_size = int(image_size)
        self.backbone = backbone
        self.hint_path, self.hint_channels = hint_path, hint_channels
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def hint_layer(self) -> nn.Module:
        return self.backbone.get_submodule(self.hint_path)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return self.backbone((as_float_images(crops).to(self.mean) - self.mean) / self.std)

    @torch.no_grad()
    def probabilities(self, crops: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """(B, 2) p(female), p(male) of ``crops``, ``batch_size`` at a time (call it in eval mode)."""
        device = self.mean.device
        parts = [torch.softmax(self(crops[i:i + batch_size].to(device)), dim=1).cpu()
                 for i in range(0, len(crops), batch_size)]
        return torch.cat(parts) if parts else torch.zeros(0, len(CLASSES))


class GenderNet(CropClassifier):
    """The shipped classifier: torchvision's ResNet-18 with a two-way head. ``image_size`` is
    the crop side it was trained at; its hint layer is ``layer3`` (256 channels)."""

    def __init__(self, image_size: int = 128) -> None:
        super().__init__(image_size, torchvision.models.resnet18(weights=None, num_classes=len(CLASSES)), "layer3", 256)


def as_float_images(crops: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) float in 0..1 from uint8 (B, S, S, 3) crops; float input is returned as is."""
    if crops.dtype == torch.uint8:
        return crops.permute(0, 3, 1, 2).float() / 255.0
    return crops


def save_checkpoint(path: Path | str, net: GenderNet, about: dict[str, Any]) -> None:
    """Writes ``net`` (float16 weights; its crop side and classes as the architecture) and
    ``about`` (what it was trained on, its figures)."""
    write_checkpoint(path, KIND, {"image_size": net.image_size, "classes": list(CLASSES)},
                     half_precision(net.state_dict()), {"about": about})


def _architecture(checkpoint: Checkpoint) -> dict[str, Any]:
    """The crop side and classes; files written before the shared checkpoint module kept them
    beside the weights rather than in ``shape``."""
    return checkpoint.shape or {key: checkpoint.extra[key] for key in ("image_size", "classes")}


def load_checkpoint(path: Path | str | None = None, device: torch.device | str = "cpu"
                    ) -> tuple[GenderNet, dict[str, Any]]:
    """The classifier in ``path`` (None or ``default``: where a shipped one would be; a folder:
    its ``gender.pt``) in eval mode on ``device``, and what the file says about it;
    ``FileNotFoundError`` when there is none, ``ValueError`` naming the file when it is not one."""
    path = resolve_checkpoint(path or None, DEFAULT_CHECKPOINT, FILE_NAME)
    shipped = "; none is shipped yet (docs/gender.md)" if path == DEFAULT_CHECKPOINT else ""
    hint = (f"{shipped}; train one on your labelled crops: bodyfit train-gender --data DIR, then "
            "--gender-classifier runs/gender")
    checkpoint = read_checkpoint(path, KIND, "gender classifier", hint)
    with building_from(path):
        shape = _architecture(checkpoint)
        if tuple(shape["classes"]) != CLASSES:
            raise ValueError(f"classes {shape['classes']}, expected {CLASSES}")
        net = GenderNet(shape["image_size"])
        net.load_state_dict(checkpoint.state_dict)
    return net.to(device).eval(), dict(checkpoint.extra.get("about", {}))
