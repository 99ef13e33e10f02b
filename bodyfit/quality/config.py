"""Typed settings of the per-person quality figures, read from ``cfg/quality.yaml``; unknown
keys are refused. Every threshold is documented there: what it means and how it was chosen."""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from bodyfit.resources import config_path
from bodyfit.fileio.config import build_dataclass, plain, read_yaml

DEFAULT_QUALITY_CONFIG = config_path("quality")


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the figures (``quality.figures``); see ``cfg/quality.yaml``."""

    confidence_min: float = 0.3          # a keypoint is confident above this (2D error, depth)
    vposer: str = "default"              # the VPoser whose latent scores the pose (prior figure)
    error_2d: float = 0.05               # median 2D error / the keypoints' box size
    prior: float = 100.0                 # VPoser latent squared norm of the fitted body pose
    shape: float = 5.0                   # norm of the betas
    intersections: float = 250.0         # intersecting triangle pairs
    check_intersections: bool = True     # off: the intersections figure is not computed
    depth: float = 2.0                   # factor between the body's depth and the 2D-implied one
    min_depth_m: float = 0.3             # distance: the body's depth outside [min, max] metres
    max_depth_m: float = 60.0
    limbs: float = 1.3                   # factor between a limb's length and the mean shape's
    behind_camera_m: float = 0.1         # flagged when the nearest vertex is closer than this
    disagreement_deg: float = 30.0       # mean joint angle between the fit and the regressor

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            wanted = {"bool": bool, "str": str}.get(str(item.type), (int, float))
            if (isinstance(value, bool) and wanted is not bool) or not isinstance(value, wanted):
                raise ValueError(f"quality: {item.name} must be {item.type}, got {value!r}")
        positive = ("error_2d", "prior", "shape", "intersections", "max_depth_m", "disagreement_deg")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"quality: {name} must be positive, got {getattr(self, name)!r}")
        for name in ("depth", "limbs"):
            if not getattr(self, name) > 1:
                raise ValueError(f"quality: {name} is a factor and must exceed 1, got {getattr(self, name)!r}")
        if not 0 <= self.min_depth_m < self.max_depth_m:
            raise ValueError(f"quality: need 0 <= min_depth_m < max_depth_m, got {self.min_depth_m!r}, "
                             f"{self.max_depth_m!r}")
        if not 0 <= self.confidence_min < 1:
            raise ValueError(f"quality: confidence_min must be in [0, 1), got {self.confidence_min!r}")

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


def parse_quality_config(data: dict[str, Any], where: str = "quality config") -> QualityConfig:
    """A ``QualityConfig`` from YAML data; ``ValueError`` naming ``where`` for unknown keys or
    values of the wrong type."""
    try:
        return build_dataclass(QualityConfig, data, where)
    except ValueError as error:
        message = str(error)
        raise ValueError(message if message.startswith(where) else f"{where}: {message}") from error


def load_quality_config(path: Path | str = DEFAULT_QUALITY_CONFIG) -> QualityConfig:
    """The settings in ``path`` (default ``cfg/quality.yaml``); ``ValueError`` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no quality config there (the default is {DEFAULT_QUALITY_CONFIG})")
    return parse_quality_config(read_yaml(path), str(path))
