"""Typed configuration of multi-view fitting (``cfg/multiview.yaml``): matching across views,
tracking through time, the fit's weights and windows, and the outputs; unknown keys are an
error."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bodyfit.fileio.config import build_dataclass, plain, read_yaml
from bodyfit.fileio.keypoint_layout import OPENPOSE


@dataclass(frozen=True)
class MatchingConfig:
    confidence_threshold: float = 0.2
    min_keypoints: int = 6             # detections with fewer seen BODY_25 points are ignored
    min_common: int = 5                # points seen in both detections needed to compare them
    epipolar_threshold: float = 0.025  # median epipolar distance, share of the image height
    reprojection_threshold: float = 0.03  # a view reprojecting worse (median, share of the height) leaves
    min_views: int = 2


@dataclass(frozen=True)
class TrackingConfig:
    max_distance: float = 0.5          # metres, median 3D keypoint distance to link
    max_speed: float = 0.1             # metres per instant a lost person may have moved
    max_missed: int = 15
    relink_gap: int = 120              # instants: a lost track is joined to one starting this soon after
    min_length: int = 10
    min_mean_views: float = 2.0


@dataclass(frozen=True)
class FitWeights:
    """Each term's weight; every weight enters the objective squared."""

    reprojection: float = 1.0
    keypoints_3d: float = 30.0
    body_pose: float = 0.3
    bending: float = 1.0
    joint_acceleration: float = 150.0
    pose_acceleration: float = 3.0
    translation_acceleration: float = 60.0
    shape: float = 0.05


@dataclass(frozen=True)
class FitConfig:
    window: int = 64
    overlap: int = 16
    start_iterations: int = 60
    max_iterations: int = 200
    ftol: float = 1.0e-7
    gtol: float = 1.0e-9
    rho: float = 100.0
    data_weight_scale: float = 1000.0
    shape_iterations: int = 100
    ignored_keypoints: tuple[str, ...] = ()  # BODY_25 points neither triangulated nor reprojected in the fit
    weights: FitWeights = field(default_factory=FitWeights)


@dataclass(frozen=True)
class OutputConfig:
    trc_y_up: bool = True
    overlay_height: int = 480
    camera_overlays: bool = False      # also each camera's overlay at full size, images/<camera>/<frame>.jpg
    leave_one_out: bool = False
    narrow_angle: float = 15.0         # degrees: a track whose rays cross narrower (median) is warned of


@dataclass(frozen=True)
class MultiViewConfig:
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    outputs: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


def parse_multiview_config(data: dict, where: str = "config") -> MultiViewConfig:
    """A ``MultiViewConfig`` from YAML data; ``ValueError`` naming ``where`` for unknown keys
    or bad values."""
    sections = {"matching", "tracking", "fit", "outputs"}
    unknown = sorted(set(data) - sections)
    if unknown:
        raise ValueError(f"{where}: unknown sections {unknown}; allowed: {sorted(sections)}")
    fit_data = dict(data.get("fit") or {})
    weights = build_dataclass(FitWeights, fit_data.pop("weights", {}) or {}, f"{where}: fit.weights")
    config = MultiViewConfig(
        build_dataclass(MatchingConfig, data.get("matching") or {}, f"{where}: matching"),
        build_dataclass(TrackingConfig, data.get("tracking") or {}, f"{where}: tracking"),
        build_dataclass(FitConfig, {**fit_data, "weights": weights}, f"{where}: fit"),
        build_dataclass(OutputConfig, data.get("outputs") or {}, f"{where}: outputs"))
    if config.matching.min_views < 2:
        raise ValueError(f"{where}: matching.min_views must be at least 2 (a point needs two views)")
    if config.fit.window < 3 or not 0 <= config.fit.overlap < config.fit.window:
        raise ValueError(f"{where}: need fit.window >= 3 and 0 <= fit.overlap < fit.window")
    unknown = [name for name in config.fit.ignored_keypoints if name not in OPENPOSE]
    if unknown:
        raise ValueError(f"{where}: fit.ignored_keypoints: unknown BODY_25 keypoint {unknown[0]!r}")
    if config.tracking.min_length < 1 or config.tracking.max_missed < 0:
        raise ValueError(f"{where}: tracking needs min_length >= 1 and max_missed >= 0")
    return config


def load_multiview_config(path: Path | str, overrides: dict[str, dict] | None = None) -> MultiViewConfig:
    """Reads ``path`` (``cfg/multiview.yaml``) with per-section ``overrides``."""
    return parse_multiview_config(merged(read_yaml(Path(path)), overrides or {}), str(path))


def merged(data: dict, overrides: dict) -> dict:
    """``data`` with ``overrides`` laid over it, nested mappings merged key by key."""
    out = dict(data)
    for key, value in overrides.items():
        out[key] = merged(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out
