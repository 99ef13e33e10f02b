"""bodyfit from Python: load the models once, fit people, run a folder, read a run back.

    from bodyfit.api import BodyFitter, read_results

    fitter = BodyFitter()                                   # open SMPL-X, shipped regressor and prior
    task = fitter.task(keypoints, image_size=(960, 1280))   # (25, 3) BODY_25 or (K, 3) bodyfit's layout
    fit = fitter.fit([task])[0]                             # PersonFit: params, joints, keypoints_2d, ...
    summary = fitter.fit_folder("examples/images", "output/example", keypoints="examples/keypoints")
    people = read_results("output/example")                 # one PersonResult per fitted person

Shapes: K keypoints in bodyfit's layout (``fileio.keypoint_layout``: BODY_25, both hands, face),
J skeleton joints, V vertices.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from bodyfit.bodymodels.layer import BodyParams
from bodyfit.fileio.intrinsics import default_focal
from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.fitting.config import FitConfig, load_config
from bodyfit.fitting.core import ModelBank, fit_tasks
from bodyfit.fitting.tasks import ModelKey, PersonFit, PersonTask, build_task
from bodyfit.pipeline.images import FolderOptions, ImageStrategy
from bodyfit.pipeline.runner import ImageFolder, RunError, RunOptions, run
from bodyfit.resources import config_path

__all__ = ["BodyFitter", "PersonResult", "read_results", "PersonTask", "PersonFit", "RunError"]
MODEL_TYPES = ("smpl", "smplh", "smplx")


class BodyFitter:
    """One body model (its schedule, prior and regressor loaded once) that fits people.

    ``model_type``/``gender``: the body model; ``model_folder``: your SMPL/SMPL-H/SMPL-X files
    (None: the open model that ships with bodyfit); ``config``: a schedule file (None:
    ``cfg/fit_<model_type>.yaml``); ``overrides``: settings laid over it, nested like the file
    (e.g. ``{"init": "rest"}``); ``device``: ``cpu``, ``cuda`` or ``cuda:N``."""

    def __init__(self, model_type: str = "smplx", gender: str = "neutral", model_folder: str | Path | None = None,
                 config: str | Path | None = None, overrides: dict[str, Any] | None = None,
                 device: str = "cpu", batch_size: int = 64) -> None:
        if model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
        self.config: FitConfig = load_config(config or config_path(f"fit_{model_type}"), overrides)
        if self.config.model_type != model_type:
            raise ValueError(f"{config}: a {self.config.model_type} schedule, model_type is {model_type}")
        self.key = ModelKey(model_type, gender)
        self.model_folder, self.device, self.batch_size = model_folder, device, batch_size
        self.bank = ModelBank({model_type: self.config}, model_folder, device)
        self.bank.fitter(self.key)  # the model, prior and fitter now: a missing file fails here

    def task(self, keypoints: np.ndarray, image_size: tuple[int, int], focal_length: float | None = None,
             image_id: str = "image", person_index: int = 0) -> PersonTask | None:
        """A task from one person's keypoints: (25, 3) BODY_25 (x, y, confidence in pixels) or
        (K, 3) in bodyfit's layout; ``image_size`` (height, width); ``focal_length`` in pixels
        (None: the image diagonal), principal point at the centre. None when too few body
        keypoints are usable (see ``min_body_keypoints``)."""
        keypoints = np.asarray(keypoints, dtype=np.float64)
        width = self.keypoint_count()
        if keypoints.ndim != 2 or keypoints.shape[1] != 3 or len(keypoints) not in (BODY.stop, width):
            raise ValueError(f"keypoints must be ({BODY.stop}, 3) or ({width}, 3), got {keypoints.shape}")
        if len(keypoints) == BODY.stop:
            keypoints = np.concatenate([keypoints, np.zeros((width - BODY.stop, 3))])
        height, image_width = image_size
        focal = default_focal(image_width, height) if focal_length is None else float(focal_length)
        intrinsics = np.array([focal, focal, image_width / 2, height / 2])
        task, _ = build_task(keypoints, intrinsics, image_size, self.config, image_id, person_index, self.key)
        return task

    def keypoint_count(self) -> int:
        """K: how many keypoints a task of this body model has."""
        return self.bank.model(self.key).num_keypoints

    def fit(self, tasks: list[PersonTask]) -> list[PersonFit]:
        """Fits every task (in batches of ``batch_size``); one ``PersonFit`` each, in order.
        ``ValueError`` naming the positions of any ``None`` (a person ``task`` could not use)."""
        missing = [index for index, task in enumerate(tasks) if task is None]
        if missing:
            raise ValueError(f"tasks {missing} are None: too few usable body keypoints to fit")
        return fit_tasks(tasks, self.bank, self.batch_size)

    def fit_folder(self, images: str | Path, output: str | Path, keypoints: str | Path | None = None,
                   keypoint_format: str = "auto", overlay: bool = True, overwrite: bool = False,
                   quiet: bool = True) -> dict[str, Any]:
        """``bodyfit fit`` over a folder of images with these models: results, overlays,
        summary, index and report under ``output`` (a rerun resumes). Returns the summary;
        ``RunError`` naming the folder or file when the run cannot start."""
        strategy = ImageStrategy(self.config, self.key, FolderOptions(batch_size=self.batch_size),
                                 self.model_folder, self.device, bank=self.bank)  # the models already loaded
        options = RunOptions(Path(output), None if keypoints is None else Path(keypoints), keypoint_format,
                             overlay=overlay, overwrite=overwrite, quiet=quiet)
        return run(options, ImageFolder(Path(images)), strategy)


@dataclass
class PersonResult:
    """One fitted person of a run, read back from ``results/<image>/<pid:03d>.npz``.

    ``params``: name -> (D,) body-model parameters (``betas``, ``global_orient``, ``body_pose``,
    hands, ``jaw_pose``, ``expression``, ``transl``); ``keypoints_3d`` (25, 3) camera frame,
    metres; ``keypoints_2d`` (K, 2) pixels; ``joints`` (J, 3); ``intrinsics`` (4,) fx, fy, cx, cy;
    ``quality``: figure -> {value, threshold, flag}; ``flags``: the flagged figures."""

    image: str
    person: int
    model_type: str
    gender: str
    params: dict[str, np.ndarray]
    keypoints_3d: np.ndarray
    keypoints_2d: np.ndarray
    joints: np.ndarray
    intrinsics: np.ndarray
    reprojection_error_px: float
    quality: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    track_id: int | None = None


PARAMETER_NAMES = tuple(f.name for f in fields(BodyParams))  # betas, expression, global_orient, ...


def read_results(output: str | Path) -> list[PersonResult]:
    """Every fitted person of the run in ``output``, image by image in name order.
    ``FileNotFoundError`` when ``output`` holds no run; a damaged record is a ``ValueError``
    naming it."""
    results = Path(output) / "results"
    if not results.is_dir():
        raise FileNotFoundError(f"{output}: no run there (no results/ folder)")
    people = []
    for record_file in sorted(results.glob("*/image.json")):
        try:
            record = json.loads(record_file.read_text())
        except ValueError as error:
            raise ValueError(f"{record_file}: not a readable image record ({error})") from error
        for entry in record.get("people", []):
            if entry.get("status") == "ok":
                people.append(read_person(record_file.parent, entry))
    return people


def read_person(folder: Path, entry: dict[str, Any]) -> PersonResult:
    """One person from their npz in ``folder`` and their ``image.json`` ``entry``."""
    path = folder / f"{int(entry['index']):03d}.npz"
    with np.load(path) as arrays:
        params = {name: arrays[name].astype(np.float64) for name in PARAMETER_NAMES if name in arrays}
        return PersonResult(
            folder.name, int(entry["index"]), str(arrays["model_type"]), str(arrays["gender"]), params,
            arrays["keypoints_3d"], arrays["keypoints_2d"], arrays["joints"],
            np.concatenate([arrays["focal_length"], arrays["camera_center"]]),
            float(arrays["reprojection_error_px"]), entry.get("quality", {}), list(entry.get("flags", [])),
            int(arrays["track_id"]) if "track_id" in arrays else None)
