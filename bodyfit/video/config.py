"""Typed configuration of video fitting (``cfg/video.yaml``): the sequence fit's weights and
windows, tracking's gates, and the video's frame handling; unknown keys are an error."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bodyfit.fileio.config import build_dataclass, plain, read_yaml
from bodyfit.fileio.keypoint_layout import OPENPOSE

STARTS = ("regressor", "temporal")


@dataclass(frozen=True)
class SequenceWeights:
    """Each term's weight; every weight enters the objective squared (as in SMPLify-X).
    Smoothness terms are measured in the data term's units: metres turned into pixels at the
    window's mean depth, times the data weight, so one weight suits any camera and distance."""

    body_pose: float = 0.5             # L2 on the 63 body angles (the default fit's l2_angles)
    bending: float = 1.585             # SMPLify-X's bending prior on elbows and knees
    anchor: float = 30.0               # holds each joint's rotation near the start's (the regressor's)
    joint_velocity: float = 0.0        # first difference of the BODY_25 keypoints in time
    joint_acceleration: float = 2.0    # second difference of the BODY_25 keypoints
    pose_velocity: float = 0.0         # first difference of the joint rotation matrices
    pose_acceleration: float = 30.0    # second difference of the joint rotation matrices (incl. global)
    translation_acceleration: float = 2.0  # second difference of the translation


@dataclass(frozen=True)
class SequenceFitConfig:
    start: str = "regressor"           # per-frame starts: regressor (the shipped one) or temporal
    regressor: str = "default"         # regressor checkpoint (default: bodyfit/models/regressor/open_corpus)
    temporal: str = "default"          # temporal regressor checkpoint (default: bodyfit/models/temporal/open_corpus)
    window: int = 64                   # frames fitted together; longer tracks in overlapping windows
    overlap: int = 16                  # frames two neighbouring windows share, blended linearly
    frame_iterations: int = 100        # first, iterations without the smoothness terms (frames apart)
    max_iterations: int = 300          # then batched L-BFGS iterations per window with them
    ftol: float = 1.0e-7
    gtol: float = 1.0e-9
    rho: float = 100.0                 # Geman-McClure scale (px)
    data_weight_scale: float = 1000.0  # data weight = data_weight_scale / image height
    confidence_threshold: float = 0.1
    min_body_keypoints: int = 5        # frames with fewer seen BODY_25 points count as unseen
    ignored_keypoints: tuple[str, ...] = ("Neck", "RHip", "LHip")
    weights: SequenceWeights = field(default_factory=SequenceWeights)


@dataclass(frozen=True)
class TrackingConfig:
    max_distance: float = 0.5          # gate: normalised keypoint distance (over the box's size) to link
    box_weight: float = 0.5            # cost = keypoint distance + box_weight * (1 - IoU)
    max_missed: int = 10               # a track survives this many frames without a detection
    min_length: int = 5                # tracks with fewer detected frames are dropped
    min_keypoints: int = 5             # detections with fewer seen BODY_25 points are ignored
    confidence_threshold: float = 0.1


@dataclass(frozen=True)
class VideoConfig:
    max_frames: int | None = None      # read at most this many frames (None: all)
    stride: int = 1                    # keep every stride-th frame
    overlay_fps: float | None = None   # overlay video frame rate (None: the source's / stride)


@dataclass(frozen=True)
class VideoFitConfig:
    sequence_fit: SequenceFitConfig = field(default_factory=SequenceFitConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    video: VideoConfig = field(default_factory=VideoConfig)

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


def parse_video_config(data: dict, where: str = "config") -> VideoFitConfig:
    """A ``VideoFitConfig`` from YAML data; ``ValueError`` naming ``where`` for unknown keys
    or bad values."""
    sections = {"sequence_fit", "tracking", "video"}
    unknown = sorted(set(data) - sections)
    if unknown:
        raise ValueError(f"{where}: unknown sections {unknown}; allowed: {sorted(sections)}")
    fit_data = dict(data.get("sequence_fit") or {})
    weights = build_dataclass(SequenceWeights, fit_data.pop("weights", {}) or {}, f"{where}: sequence_fit.weights")
    fit = build_dataclass(SequenceFitConfig, {**fit_data, "weights": weights}, f"{where}: sequence_fit")
    tracking = build_dataclass(TrackingConfig, data.get("tracking") or {}, f"{where}: tracking")
    video = build_dataclass(VideoConfig, data.get("video") or {}, f"{where}: video")
    config = VideoFitConfig(fit, tracking, video)
    validate(config, where)
    return config


def validate(config: VideoFitConfig, where: str) -> None:
    fit = config.sequence_fit
    if fit.start not in STARTS:
        raise ValueError(f"{where}: sequence_fit.start must be one of {STARTS}, got {fit.start!r}")
    if fit.window < 3 or not 0 <= fit.overlap < fit.window:
        raise ValueError(f"{where}: need window >= 3 and 0 <= overlap < window, got {fit.window}, {fit.overlap}")
    for name in fit.ignored_keypoints:
        if name not in OPENPOSE:
            raise ValueError(f"{where}: unknown BODY_25 keypoint {name!r}")
    if config.tracking.max_missed < 0 or config.tracking.min_length < 1:
        raise ValueError(f"{where}: tracking needs max_missed >= 0 and min_length >= 1")
    if config.video.stride < 1:
        raise ValueError(f"{where}: video.stride must be at least 1, got {config.video.stride}")


def load_video_config(path: Path | str, overrides: dict[str, dict] | None = None) -> VideoFitConfig:
    """Reads ``path`` (``cfg/video.yaml``) with per-section ``overrides``."""
    data = read_yaml(Path(path))
    for section, values in (overrides or {}).items():
        data[section] = {**(data.get(section) or {}), **values}
    return parse_video_config(data, str(path))
