"""Typed fitting configuration, read from ``cfg/*.yaml``; unknown keys are an error."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bodyfit.fileio.config import build_dataclass, plain, read_yaml
from bodyfit.fileio.keypoint_layout import OPENPOSE
from bodyfit.collision.config import CollisionConfig

FREE_VARIABLES = ("global_orient", "transl", "betas", "body_pose", "left_hand_pose",
                  "right_hand_pose", "jaw_pose", "expression")


@dataclass(frozen=True)
class CameraStageConfig:
    """The camera-only stage: translation and global orientation on torso keypoints."""

    keypoints: tuple[str, ...] = ("RShoulder", "LShoulder", "RHip", "LHip")
    depth_weight: float = 100.0
    flip_shoulder_px: float = 25.0
    max_outer: int = 30
    lbfgs_max_iter: int = 30
    ftol: float = 1e-9
    gtol: float = 1e-9
    batched_max_iterations: int = 50


@dataclass(frozen=True)
class StageConfig:
    """One annealing stage: which variables are free and each term's weight."""

    name: str
    body_pose: float
    shape: float
    expression: float = 0.0
    hand_pose: float = 0.0
    jaw: tuple[float, float, float] = (0.0, 0.0, 0.0)
    hand_keypoints: float = 0.0
    face_keypoints: float = 0.0
    collision: float = 0.0
    anchor: float = 0.0           # holds the body pose near the regressor's (fits started from it)
    free: tuple[str, ...] = FREE_VARIABLES
    max_outer: int = 30
    lbfgs_max_iter: int = 30
    ftol: float = 1e-9
    gtol: float = 1e-9
    batched_max_iterations: int = 100


@dataclass(frozen=True)
class RegressorInitConfig:
    """Fits started from the learned regressor (``init: regressor``): its checkpoint and the
    extra starts. The schedule it runs is ``schedules.regressor``."""

    checkpoint: str = "default"      # the shipped regressor, or a path (fit.py --regressor)
    turned_starts: bool = True       # side views also start turned by 180 degrees about the vertical
    rest_starts: bool = False        # also SMPLify-X's rest-pose starts; the lowest loss wins
    pose_starts: int = 0             # also this many corpus pose clusters' centres, at the regressor's camera


@dataclass(frozen=True)
class FrontConfig:
    """Keeps every body keypoint in front of the camera, the unseen ones too: a squared hinge
    ``weight^2 sum_k max(0, min_depth - z_k)^2`` over the BODY_25 points the stage weighs (all
    but ``ignored_keypoints``, which lie between others), metres, in every stage. Without it nothing stops limbs that no keypoint sees from swinging through the
    camera plane of a close-up (a portrait's legs)."""

    min_depth: float = 0.1           # metres in front of the camera
    weight: float = 1000.0           # 0 turns the term off


@dataclass(frozen=True)
class FitConfig:
    model_type: str
    stages: tuple[StageConfig, ...]
    optimizer: str = "batched_lbfgs"
    lbfgs_history: int = 10
    batched_ftol: float = 1e-6
    line_search_ladder: int = 8
    line_search_rounds: int = 6
    bisection_rounds: int = 20
    body_pose_prior: str = "vposer"
    vposer: str = "default"
    rho: float = 100.0
    data_weight_scale: float = 1000.0
    bending_factor: float = 3.17
    ignored_keypoints: tuple[str, ...] = ("Neck", "RHip", "LHip")
    confidence_threshold: float = 0.1
    min_body_keypoints: int = 5
    translation_init: str = "similar_triangles"
    init: str = "rest"
    keypoint_margin: float = 0.5
    camera_stage: bool = True
    regress_only: bool = False       # HMR's feed-forward mode: the regressor's start is the result
    camera: CameraStageConfig = field(default_factory=CameraStageConfig)
    front: FrontConfig = field(default_factory=FrontConfig)
    collision: CollisionConfig = field(default_factory=CollisionConfig)
    regressor: RegressorInitConfig = field(default_factory=RegressorInitConfig)

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


def _stages(rows: list[dict], defaults: dict, where: str) -> tuple[StageConfig, ...]:
    return tuple(build_dataclass(StageConfig, {**defaults, **stage}, f"{where}: stage {i}")
                 for i, stage in enumerate(rows or []))


def merge(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` laid over it, section by section (nested dicts merge; any
    other value, lists included, replaces). Neither argument is changed."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def compose(data: dict, overrides: dict | None = None, where: str = "config") -> dict:
    """One flat schedule from a config file's data, before anything is parsed or checked.

    The file's common settings, then the named schedule that ``init`` picks from
    ``schedules`` (its stages, prior and camera stage), then ``overrides`` (the command
    line's, nested like the file's common settings). A file without ``schedules`` is one
    schedule (its top-level ``stages``). ``regress_only`` writes the regressor's own pose, so the
    pose is the variable and no prior reshapes it: its prior is ``l2_angles``."""
    overrides = overrides or {}
    common = {key: value for key, value in data.items() if key != "schedules"}
    if "schedules" not in data:  # a file of one schedule: its stages are the schedule
        if "stages" in (data.get("regressor") or {}):
            raise ValueError(f"{where}: regressor.stages is bodyfit 0.1's layout; put the stages under "
                             "schedules.regressor and the top-level ones under schedules.rest (as in "
                             "bodyfit/cfg/fit_smplx.yaml)")
        composed = merge(common, overrides)
    else:
        schedules = data["schedules"] or {}
        init = overrides.get("init", common.get("init", "rest"))
        if init not in schedules:
            raise ValueError(f"{where}: init: {init!r} names no schedule (schedules: {sorted(schedules)})")
        composed = merge(merge(common, schedules[init]), overrides)
    if composed.get("regress_only"):
        composed["body_pose_prior"] = "l2_angles"
    return composed


def parse_config(data: dict, where: str = "config") -> FitConfig:
    """A ``FitConfig`` from one flat schedule (``compose``'s output): parsed and checked once."""
    data = dict(data)
    defaults = data.pop("stage_defaults", {}) or {}
    stages = _stages(data.pop("stages", []), defaults, where)
    if not stages:
        raise ValueError(f"{where}: no stages")
    regressor = build_dataclass(RegressorInitConfig, data.pop("regressor", {}) or {}, f"{where}: regressor")
    camera = build_dataclass(CameraStageConfig, data.pop("camera", {}) or {}, f"{where}: camera")
    front = build_dataclass(FrontConfig, data.pop("front", {}) or {}, f"{where}: front")
    collision_data = dict(data.pop("collision", {}) or {})
    if "touching_parts" in collision_data:
        collision_data["touching_parts"] = [tuple(pair) for pair in collision_data["touching_parts"]]
    collision = build_dataclass(CollisionConfig, collision_data, f"{where}: collision")
    config = build_dataclass(FitConfig, {**data, "stages": stages, "camera": camera, "front": front,
                                         "collision": collision, "regressor": regressor}, where)
    validate(config, where)
    return config


OPTIMIZERS = ("batched_lbfgs", "lbfgs")
INITIALIZER_NAMES = ("rest", "regressor")  # fitting.start_registry.INITIALIZERS (tests/test_tasks.py checks)


def validate(config: FitConfig, where: str) -> None:
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"{where}: optimizer must be one of {OPTIMIZERS}, got {config.optimizer!r}")
    if config.body_pose_prior not in ("vposer", "l2_angles"):
        raise ValueError(f"{where}: body_pose_prior must be 'vposer' or 'l2_angles', got {config.body_pose_prior!r}")
    if config.translation_init not in ("similar_triangles", "least_squares"):
        raise ValueError(f"{where}: translation_init must be 'similar_triangles' or 'least_squares', "
                         f"got {config.translation_init!r}")
    if config.init not in INITIALIZER_NAMES:
        raise ValueError(f"{where}: init must be one of {INITIALIZER_NAMES}, got {config.init!r}")
    if config.regress_only and config.init != "regressor":
        raise ValueError(f"{where}: regress_only needs init: regressor")
    if config.front.min_depth < 0 or config.front.weight < 0:
        raise ValueError(f"{where}: front: min_depth and weight must be at least 0, got {config.front}")
    if config.keypoint_margin < 0:
        raise ValueError(f"{where}: keypoint_margin must be at least 0, got {config.keypoint_margin}")
    for name in config.ignored_keypoints + config.camera.keypoints:
        if name not in OPENPOSE:
            raise ValueError(f"{where}: unknown BODY_25 keypoint {name!r}")
    for stage in config.stages:
        bad = sorted(set(stage.free) - set(FREE_VARIABLES))
        if bad:
            raise ValueError(f"{where}: stage {stage.name}: unknown free variables {bad}")
        if len(stage.jaw) != 3:
            raise ValueError(f"{where}: stage {stage.name}: jaw needs 3 weights (x, y, z)")


def load_config(path: Path | str, overrides: dict[str, Any] | None = None) -> FitConfig:
    """Reads ``path``, composes its schedule with ``overrides`` (nested like the file, e.g.
    ``{"init": "rest", "collision": {"enabled": True}}``) and parses the result once."""
    path = Path(path)
    return parse_config(compose(read_yaml(path), overrides, str(path)), str(path))
