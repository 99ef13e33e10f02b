"""The detection schedule (``cfg/detect.yaml``) as a frozen dataclass."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bodyfit.resources import config_path
from bodyfit.fileio.config import build_dataclass, read_yaml

DEFAULT_CONFIG = config_path("detect")
FINDERS = ("proposals", "masking")


@dataclass(frozen=True)
class DetectConfig:
    """See ``cfg/detect.yaml`` for what each field does."""

    max_people: int = 10
    finder: str = "proposals"
    min_visible_landmarks: int = 8
    visibility_threshold: float = 0.5
    mask_margin: float = 0.10
    min_new_area: float = 0.5
    face_levels: tuple[int, ...] = (1, 2, 3)
    face_min_confidence: float = 0.6
    pose_levels: tuple[int, ...] = (2,)
    tile_min_side: int = 256
    hog: bool = True
    hog_min_person: int = 96
    hog_max_side: int = 1024
    hog_stride: int = 8
    hog_pyramid_scale: float = 1.05
    hog_min_margin: float = 0.5
    nms_iou: float = 0.3
    face_person_width: float = 3.0
    face_person_above: float = 0.5
    face_person_below: float = 9.0
    proposal_head_distance: float = 1.0
    proposal_head_ratio: float = 2.0
    proposal_min_overlap: float = 0.5
    proposal_min_size: float = 0.3
    head_mask_margin: float = 0.3
    head_windows: tuple[float, ...] = (5.0, 3.0)
    same_person_head: float = 0.5
    same_person_box: float = 0.7
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
        if self.finder not in FINDERS:
            raise ValueError(f"finder must be one of {FINDERS}, got {self.finder!r}")
        if self.model_complexity not in (0, 1, 2):
            raise ValueError(f"model_complexity must be 0, 1 or 2, got {self.model_complexity}")
        for name in ("visibility_threshold", "min_detection_confidence", "hand_min_detection_confidence",
                     "hand_confidence", "face_confidence", "min_new_area", "face_min_confidence", "nms_iou",
                     "proposal_min_overlap", "proposal_min_size", "same_person_box"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        for name in ("face_levels", "pose_levels"):
            levels = getattr(self, name)
            if not isinstance(levels, tuple) or not all(isinstance(n, int) and n >= 1 for n in levels):
                raise ValueError(f"{name} must be a list of whole numbers >= 1, got {levels!r}")
        if not isinstance(self.head_windows, tuple) or not all(
                isinstance(n, (int, float)) and n > 0 for n in self.head_windows):
            raise ValueError(f"head_windows must be a list of positive numbers, got {self.head_windows!r}")
        if self.proposal_head_ratio < 1.0:
            raise ValueError(f"proposal_head_ratio must be at least 1, got {self.proposal_head_ratio}")
        if self.hog_pyramid_scale <= 1.0:
            raise ValueError(f"hog_pyramid_scale must be above 1, got {self.hog_pyramid_scale}")
        for name in ("tile_min_side", "hog_min_person", "hog_max_side", "hog_stride", "person_min_side", "hand_min_side"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


def load_detect_config(path: Path | str | None = None) -> DetectConfig:
    """Reads ``path`` (default ``cfg/detect.yaml``); a malformed file or an unknown key is a
    ``ValueError`` naming the file."""
    path = Path(path or DEFAULT_CONFIG)
    data = read_yaml(path)
    try:
        return build_dataclass(DetectConfig, data, str(path))
    except (TypeError, ValueError) as error:
        message = str(error)
        raise ValueError(message if message.startswith(str(path)) else f"{path}: {message}") from error
