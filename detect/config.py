"""The detection schedule (``cfg/detect.yaml``) as a frozen dataclass."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from fileio.config import build_dataclass

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "cfg" / "detect.yaml"


@dataclass(frozen=True)
class DetectConfig:
    """See ``cfg/detect.yaml`` for what each field does."""

    max_people: int = 6
    min_visible_landmarks: int = 8
    visibility_threshold: float = 0.5
    mask_margin: float = 0.10
    min_new_area: float = 0.5
    person_margin: float = 0.25
    person_min_side: int = 512
    model_complexity: int = 1
    min_detection_confidence: float = 0.5
    refine_face_landmarks: bool = True
    hand_crops: bool = True
    hand_crop_scale: float = 3.0
    hand_crop_offset: float = 0.3
    hand_min_side: int = 256
    hand_min_detection_confidence: float = 0.3
    hand_max_wrist_offset: float = 0.35
    hand_confidence: float = 0.7
    face_confidence: float = 0.8

    def __post_init__(self) -> None:
        if self.max_people < 1:
            raise ValueError(f"max_people must be at least 1, got {self.max_people}")
        if self.model_complexity not in (0, 1, 2):
            raise ValueError(f"model_complexity must be 0, 1 or 2, got {self.model_complexity}")
        for name in ("visibility_threshold", "min_detection_confidence", "hand_min_detection_confidence",
                     "hand_confidence", "face_confidence", "min_new_area"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")


def load_detect_config(path: Path | str | None = None) -> DetectConfig:
    """Reads ``path`` (default ``cfg/detect.yaml``)."""
    path = Path(path or DEFAULT_CONFIG)
    with open(path) as handle:
        data = yaml.safe_load(handle) or {}
    return build_dataclass(DetectConfig, data, str(path))
