"""One person, one task: the unit of work between whatever finds people (a folder of images,
a video, a cluster) and the fitting core, and the result that comes back.

Both are plain, picklable dataclasses of numpy arrays and numbers: they cross process
boundaries, and the core that fits them reads no files and knows nothing of images.

Shapes: K keypoints in bodyfit's layout (``fileio.keypoint_layout``), V vertices, J skeleton joints.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.fileio.openpose_json import usable_points
from bodyfit.fitting.config import FitConfig
from bodyfit.fitting.objective import Targets

MODEL_TYPES = ("smpl", "smplh", "smplx")
GENDERS = ("neutral", "male", "female")
# Parameters a task may carry as its start: name -> width (None: any, cut to the model's).
INITIAL_WIDTHS = {"global_orient": 3, "body_pose": 63, "transl": 3, "betas": None, "expression": None,
                  "left_hand_pose": 45, "right_hand_pose": 45, "jaw_pose": 3}


@dataclass(frozen=True, order=True)
class ModelKey:
    """Which body model fits a person: its type and gender."""

    model_type: str = "smplx"
    gender: str = "neutral"

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {self.model_type!r}")
        if self.gender not in GENDERS:
            raise ValueError(f"gender must be one of {GENDERS}, got {self.gender!r}")


@dataclass
class PersonTask:
    """Everything needed to fit one person.

    ``keypoints`` (K, 2) pixels and ``confidence`` (K,) in the model's layout (zero: unseen
    or unusable), ``intrinsics`` (4,) fx, fy, cx, cy in pixels, ``image_size`` (height,
    width), ``data_weight`` (SMPLify-X: 1000 / image height), ``initial`` parameters to start
    from (name -> (D,), e.g. a regressor's; None: the configured initialiser's start),
    ``model`` the body model to fit, and who the person is: ``image_id``, ``person_index``,
    optional ``track_id`` and ``frame_index`` (video); ``gender_choice`` how ``model``'s gender
    was chosen (``gender.choose.GenderChoice.as_record()``; None when it was forced)."""

    keypoints: np.ndarray
    confidence: np.ndarray
    intrinsics: np.ndarray
    image_size: tuple[int, int]
    data_weight: float
    image_id: str
    person_index: int
    model: ModelKey = field(default_factory=ModelKey)
    initial: dict[str, np.ndarray] | None = None
    track_id: int | None = None
    frame_index: int | None = None
    gender_choice: dict | None = None


@dataclass
class PersonFit:
    """The fit of one task. ``status`` is ``ok`` or ``failed`` (then ``reason`` says why and
    the arrays are empty). ``params`` name -> (D,) body-model parameters in the camera frame;
    ``vertices`` (V, 3), ``joints`` (J, 3), ``keypoints_3d`` (K, 3) camera frame, metres;
    ``keypoints_2d`` (K, 2) their projection; ``reprojection_error_px`` the median distance
    to the seen body keypoints; ``turned`` whether the winning start was the turned one;
    ``quality`` the quality figures (``quality.assess``): name -> {"value": float,
    "threshold": float, "flag": bool}, plain types only (the fit crosses process
    boundaries); ``gender_choice`` the task's."""

    image_id: str
    person_index: int
    model: ModelKey
    status: str
    reason: str = ""
    params: dict[str, np.ndarray] = field(default_factory=dict)
    vertices: np.ndarray | None = None
    joints: np.ndarray | None = None
    keypoints_3d: np.ndarray | None = None
    keypoints_2d: np.ndarray | None = None
    loss: float = float("nan")
    reprojection_error_px: float = float("nan")
    turned: bool = False
    time_s: float = 0.0
    intersecting_pairs: int | None = None
    track_id: int | None = None
    frame_index: int | None = None
    quality: dict[str, dict] = field(default_factory=dict)
    gender_choice: dict | None = None

    @property
    def flags(self) -> list[str]:
        """The names of the flagged quality figures."""
        return [name for name, entry in self.quality.items() if entry["flag"]]

    @staticmethod
    def failed(task: PersonTask, reason: str) -> "PersonFit":
        """The fit of ``task`` that could not be made, with the reason."""
        return PersonFit(task.image_id, task.person_index, task.model, "failed", reason,
                         track_id=task.track_id, frame_index=task.frame_index, gender_choice=task.gender_choice)


def usable_keypoints(keypoints: np.ndarray, image_size: tuple[int, int], config: FitConfig) -> np.ndarray:
    """(K,) which of ``keypoints`` (K, 3: x, y, confidence) count under the config's
    ``confidence_threshold`` and ``keypoint_margin`` (``fileio.openpose_json.usable_points``)."""
    return usable_points(keypoints, image_size, config.confidence_threshold, config.keypoint_margin)


def check_initial(initial: dict[str, np.ndarray] | None) -> dict[str, np.ndarray] | None:
    """``initial`` as float arrays, each (D,); ``ValueError`` naming an unknown parameter, a
    wrong width or a value that is not finite."""
    if initial is None:
        return None
    checked = {}
    for name, value in initial.items():
        if name not in INITIAL_WIDTHS:
            raise ValueError(f"initial: unknown parameter {name!r}; known: {sorted(INITIAL_WIDTHS)}")
        array = np.asarray(value, dtype=np.float64)
        width = INITIAL_WIDTHS[name]
        if array.ndim != 1 or (width is not None and len(array) != width):
            raise ValueError(f"initial: {name} must be ({width if width else 'D'},), got {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError(f"initial: {name} has NaN or infinite values")
        checked[name] = array
    return checked


def build_task(keypoints: np.ndarray, intrinsics: np.ndarray, image_size: tuple[int, int], config: FitConfig,
               image_id: str, person_index: int, model: ModelKey | None = None,
               initial: dict[str, np.ndarray] | None = None, track_id: int | None = None,
               frame_index: int | None = None) -> tuple[PersonTask | None, str]:
    """A task from one person's keypoints (K, 3: x, y, confidence) in the model's layout,
    ``intrinsics`` (4,) and ``image_size`` (height, width), or (None, why it cannot be
    fitted): unusable points get confidence 0; a person left with fewer than
    ``min_body_keypoints`` body points is skipped. ``initial`` (name -> (D,), see
    ``INITIAL_WIDTHS``) is checked here: ``ValueError`` for unknown names or wrong widths."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 2 or keypoints.shape[1] != 3:
        raise ValueError(f"keypoints must be (K, 3), got {keypoints.shape}")
    if np.shape(intrinsics) != (4,):
        raise ValueError(f"intrinsics must be (4,) fx, fy, cx, cy, got {np.shape(intrinsics)}")
    initial = check_initial(initial)
    usable = usable_keypoints(keypoints, image_size, config)
    seen = int(usable[BODY].sum())
    if seen < config.min_body_keypoints:
        outside = int(((keypoints[BODY, 2] > config.confidence_threshold) & ~usable[BODY]).sum())
        reason = f"{seen} usable body keypoints, need {config.min_body_keypoints}"
        if outside:
            reason += f" ({outside} confident ones lie far outside the image)"
        return None, reason
    xy = np.where(usable[:, None], keypoints[:, :2], 0.0)
    task = PersonTask(xy, np.where(usable, keypoints[:, 2], 0.0), np.asarray(intrinsics, dtype=np.float64),
                      (int(image_size[0]), int(image_size[1])), config.data_weight_scale / image_size[0],
                      image_id, person_index, model or ModelKey(config.model_type), initial, track_id, frame_index)
    return task, ""


def tasks_to_targets(tasks: list[PersonTask], device: torch.device, dtype: torch.dtype) -> Targets:
    """The fitting targets of ``tasks``, one row each: keypoints (B, K, 2), confidence
    (B, K), intrinsics (B, 4), data weight (B,)."""
    def stack(values) -> torch.Tensor:
        return torch.as_tensor(np.stack(values), dtype=dtype, device=device)

    return Targets(stack([t.keypoints for t in tasks]), stack([t.confidence for t in tasks]),
                   stack([t.intrinsics for t in tasks]), stack([t.data_weight for t in tasks]))
