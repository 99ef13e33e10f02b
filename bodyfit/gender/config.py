"""The gender classifier's settings (``cfg/gender.yaml``), one dataclass per section."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bodyfit.resources import config_path
from bodyfit.fileio.config import load_sections

DEFAULT_CONFIG = config_path("gender")


@dataclass(frozen=True)
class CropConfig:
    margin: float = 0.08
    confidence_threshold: float = 0.2


@dataclass(frozen=True)
class RulesConfig:
    min_mean_confidence: float = 0.5
    min_head_points: int = 2
    min_crop_px: float = 200.0
    threshold: float = 0.9


@dataclass(frozen=True)
class ModelConfig:
    image_size: int = 128


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.05
    heldout_share: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5
    jitter: float = 0.06
    color: float = 0.25
    blur: float = 0.3
    grayscale: float = 0.05
    occlusion: float = 0.3


@dataclass(frozen=True)
class SyntheticConfig:
    train_people: int = 12000
    heldout_people: int = 1500
    train_backgrounds: tuple[str, ...] = ("sports2d_demo", "vtest", "bigbuckbunny")
    heldout_backgrounds: tuple[str, ...] = ("bikes",)
    procedural_background_share: float = 0.25
    light_ambient: tuple[float, float] = (0.25, 0.6)
    sleeve: dict[str, float] = field(default_factory=lambda: {"none": 0.25, "short": 0.4, "long": 0.35})
    legs: dict[str, float] = field(default_factory=lambda: {"shorts": 0.3, "long": 0.7})
    pattern_share: float = 0.35
    hair_share: float = 0.8
    long_hair: dict[str, float] = field(default_factory=lambda: {"female": 0.65, "male": 0.08})
    long_hair_length: tuple[float, float] = (0.03, 0.3)
    dress: dict[str, float] = field(default_factory=lambda: {"female": 0.15, "male": 0.0})
    skirt: dict[str, float] = field(default_factory=lambda: {"female": 0.15, "male": 0.0})
    skirt_length: tuple[float, float] = (0.55, 1.2)
    beard: dict[str, float] = field(default_factory=lambda: {"female": 0.0, "male": 0.25})
    seed: int = 0


@dataclass(frozen=True)
class TeacherConfig:
    epochs: int = 2
    learning_rate: float = 3e-4
    soft_label_weight: float = 1.0
    temperature: float = 2.0
    hint_weight: float = 1.0


@dataclass(frozen=True)
class FaceConfig:
    confidence_threshold: float = 0.3
    min_face_points: int = 10
    box_scale: float = 1.0


@dataclass(frozen=True)
class GenderConfig:
    crop: CropConfig = CropConfig()
    rules: RulesConfig = RulesConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    augment: AugmentConfig = AugmentConfig()
    synthetic: SyntheticConfig = SyntheticConfig()
    teacher: TeacherConfig = TeacherConfig()
    face: FaceConfig = FaceConfig()


SECTIONS = {"crop": CropConfig, "rules": RulesConfig, "model": ModelConfig, "training": TrainingConfig,
            "augment": AugmentConfig, "synthetic": SyntheticConfig, "teacher": TeacherConfig,
            "face": FaceConfig}


def load_gender_config(path: Path | str | None = None, overrides: dict[str, dict] | None = None) -> GenderConfig:
    """``cfg/gender.yaml`` (or ``path``) with per-section ``overrides``; ``ValueError`` naming
    the file for unknown sections or keys."""
    return GenderConfig(**load_sections(path or DEFAULT_CONFIG, SECTIONS, overrides))
