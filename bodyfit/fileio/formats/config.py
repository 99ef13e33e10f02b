"""``cfg/keypoint_formats.yaml`` as a frozen dataclass: per-format confidence weights of the
BODY_25 points whose definition differs from the body model's, and the confidences given to
points a format gives no score for."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bodyfit.resources import config_path
from bodyfit.fileio.config import build_dataclass, read_yaml
from bodyfit.fileio.formats.skeletons import FORMAT_NAMES
from bodyfit.fileio.keypoint_layout import BODY25_NAMES

DEFAULT_CONFIG = config_path("keypoint_formats")


@dataclass(frozen=True)
class KeypointFormatsConfig:
    """See ``cfg/keypoint_formats.yaml``. ``weights``: format name -> BODY_25 name -> factor
    on that point's confidence (0: the point is not used; absent: 1)."""

    weights: dict[str, dict[str, float]] = field(default_factory=dict)
    annotation_occluded_confidence: float = 0.5
    mediapipe_pose_confidence: float = 1.0
    mediapipe_hand_confidence: float = 0.7
    mediapipe_face_confidence: float = 0.8
    max_score: float = 1.0

    def __post_init__(self) -> None:
        for name in ("annotation_occluded_confidence", "mediapipe_pose_confidence", "mediapipe_hand_confidence",
                     "mediapipe_face_confidence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if self.max_score <= 0:
            raise ValueError(f"max_score must be positive, got {self.max_score}")
        if not isinstance(self.weights, dict):
            raise ValueError(f"weights must map formats to joints, got {type(self.weights).__name__}")
        for fmt, joints in self.weights.items():
            if fmt not in FORMAT_NAMES:
                raise ValueError(f"weights: unknown format {fmt!r}; known: {', '.join(FORMAT_NAMES)}")
            if not isinstance(joints, dict):
                raise ValueError(f"weights: {fmt} must map BODY_25 names to factors, got {joints!r}")
            for joint, value in joints.items():
                if joint not in BODY25_NAMES:
                    raise ValueError(f"weights: {fmt}: {joint!r} is not a BODY_25 name; known: {list(BODY25_NAMES)}")
                if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                    raise ValueError(f"weights: {fmt}: {joint} must be a number in [0, 1], got {value!r}")

    def weights_of(self, fmt: str) -> dict[str, float]:
        """BODY_25 name -> confidence factor for format ``fmt`` (empty: every point as given)."""
        return dict(self.weights.get(fmt, {}))


def load_formats_config(path: Path | str | None = None) -> KeypointFormatsConfig:
    """Reads ``path`` (default ``cfg/keypoint_formats.yaml``); ``ValueError`` naming the file for
    unknown keys, formats or joints."""
    path = Path(path or DEFAULT_CONFIG)
    data = read_yaml(path)
    try:
        return build_dataclass(KeypointFormatsConfig, data, str(path))
    except ValueError as error:
        message = str(error)
        raise ValueError(message if message.startswith(str(path)) else f"{path}: {message}") from error
