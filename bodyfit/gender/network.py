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

from bodyfit.resources import model_path
from bodyfit.fileio.atomic import atomic_path
from bodyfit.fileio.images import IMAGENET_MEAN, IMAGENET_STD

CLASSES = ("female", "male")
FORMAT = "bodyfit-gender-1"
DEFAULT_CHECKPOINT = model_path("gender", "open_synthetic", "gender.pt")


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
    """Writes ``net`` (float16 weights) and ``about`` (what it was trained on, its figures)."""
    state = {name: value.half() if value.is_floating_point() else value
             for name, value in net.state_dict().items()}
    payload = {"format": FORMAT, "classes": CLASSES, "image_size": net.image_size, "state_dict": state,
               "about": about}
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)


def load_checkpoint(path: Path | str | None = None, device: torch.device | str = "cpu"
                    ) -> tuple[GenderNet, dict[str, Any]]:
    """The classifier in ``path`` (default: where a shipped one would be) in eval mode on ``device``, and
    what the file says about it; ``ValueError`` naming the file when it is not one."""
    path = Path(path or DEFAULT_CHECKPOINT)
    if path.is_dir():
        path = path / "gender.pt"
    if not path.is_file():
        shipped = "; none is shipped yet (README: Gender)" if path == DEFAULT_CHECKPOINT else ""
        raise FileNotFoundError(f"{path}: no gender classifier checkpoint there{shipped}; train one on your labelled "
                                "crops: python train_gender.py --data DIR, then --gender-classifier runs/gender")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets one message naming it
        raise ValueError(f"{path}: not a readable checkpoint ({error})") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a bodyfit gender classifier (expected format {FORMAT})")
    try:
        if tuple(payload["classes"]) != CLASSES:
            raise ValueError(f"classes {payload['classes']}, expected {CLASSES}")
        net = GenderNet(payload["image_size"])
        net.load_state_dict({name: value.float() if value.is_floating_point() else value
                             for name, value in payload["state_dict"].items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{path}: a damaged gender classifier checkpoint ({error})") from error
    return net.to(device).eval(), dict(payload.get("about", {}))
