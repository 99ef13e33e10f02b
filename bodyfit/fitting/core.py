"""The fitting core as one pure function over person tasks: ``fit_tasks`` groups tasks by body
model, fits each group in batches and returns one ``PersonFit`` per task. It reads no files
and knows nothing of images; a folder, a video or a cluster worker calls it the same way.

``ModelBank`` loads each body model (neutral / male / female; SMPL, SMPL-H, SMPL-X) and each
body-pose prior once, and builds one ``Fitter`` per model.

Shapes: B people in a batch, K keypoints.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from bodyfit.bodymodels.layer import BodyModel, BodyOutput
from bodyfit.collision.search import find_collisions
from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.fitting.config import FitConfig
from bodyfit.fitting.fitter import Fitter, FitResult
from bodyfit.fitting.metrics import reprojection_error
from bodyfit.fitting.tasks import ModelKey, PersonFit, PersonTask, tasks_to_targets
from bodyfit.geometry import project
from bodyfit.priors.body_pose import BodyPosePrior
from bodyfit.priors.factory import make_body_pose_prior
from bodyfit.quality.assess import FitBatch
from bodyfit.quality.config import QualityConfig

log = logging.getLogger("bodyfit")


class ModelBank:
    """Body models, priors and fitters, each built once, on ``device``. ``configs`` holds the
    fitting schedule per model type; ``model_folder`` the user's model files (None: the open
    model); ``quality`` the thresholds of the fits' quality figures (None:
    ``cfg/quality.yaml``)."""

    def __init__(self, configs: dict[str, FitConfig], model_folder: Path | str | None = None,
                 device: torch.device | str = "cpu", quality: QualityConfig | None = None) -> None:
        for model_type, config in configs.items():
            if config.model_type != model_type:
                raise ValueError(f"the schedule given for {model_type} is a {config.model_type} schedule")
        self.configs, self.model_folder, self.device = dict(configs), model_folder, torch.device(device)
        self.quality = quality
        self._models: dict[ModelKey, BodyModel] = {}
        self._priors: dict[tuple[str, str], BodyPosePrior] = {}
        self._fitters: dict[ModelKey, Fitter] = {}

    def config(self, key: ModelKey) -> FitConfig:
        if key.model_type not in self.configs:
            raise ValueError(f"no fitting schedule for {key.model_type}; have {sorted(self.configs)}")
        return self.configs[key.model_type]

    def model(self, key: ModelKey) -> BodyModel:
        if key not in self._models:
            self._models[key] = BodyModel(key.model_type, key.gender, self.model_folder).to(self.device)
        return self._models[key]

    def prior(self, config: FitConfig) -> BodyPosePrior:
        name = (config.body_pose_prior, config.vposer)
        if name not in self._priors:
            self._priors[name] = make_body_pose_prior(*name).to(self.device)
        return self._priors[name]

    def fitter(self, key: ModelKey) -> Fitter:
        if key not in self._fitters:
            config = self.config(key)
            self._fitters[key] = Fitter(self.model(key), self.prior(config), config, quality=self.quality)
        return self._fitters[key]


class TaskQueue:
    """Collects tasks and hands them out in batches of one body model: a batch as soon as a
    model has ``batch_size`` tasks waiting, the rest when drained."""

    def __init__(self, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self._waiting: dict[ModelKey, list[PersonTask]] = {}

    def push(self, task: PersonTask) -> list[PersonTask] | None:
        """Queues ``task``; its model's batch when that is now full, else None."""
        waiting = self._waiting.setdefault(task.model, [])
        waiting.append(task)
        if len(waiting) < self.batch_size:
            return None
        del self._waiting[task.model]
        return waiting

    def drain(self) -> Iterator[list[PersonTask]]:
        """The partial batches left, one per model, in order of first appearance."""
        while self._waiting:
            yield self._waiting.pop(next(iter(self._waiting)))


def fit_batch(bank: ModelBank, tasks: list[PersonTask]) -> list[PersonFit]:
    """Fits ``tasks`` (one body model) together. An internal error fails the batch's people
    with the error as reason, rather than stopping a run over thousands of images."""
    models = {task.model for task in tasks}
    if len(models) != 1:
        raise ValueError(f"a batch is fitted with one body model, got {sorted(models)}")
    start = time.perf_counter()
    try:
        fitter = bank.fitter(tasks[0].model)
        model = fitter.model
        ref = model.smpl.v_template
        targets = tasks_to_targets(tasks, ref.device, ref.dtype)
        result = fitter.fit(targets, [task.initial for task in tasks])
        return person_fits(fitter, tasks, targets.intrinsics, result, (time.perf_counter() - start) / len(tasks))
    except Exception as error:  # noqa: BLE001 - reported per person, the run goes on
        log.exception("internal error fitting a batch of %d people", len(tasks))
        return [PersonFit.failed(task, f"internal error: {error!r}") for task in tasks]


def person_fits(fitter: Fitter, tasks: list[PersonTask], intrinsics: torch.Tensor, result: FitResult,
                seconds: float) -> list[PersonFit]:
    """One ``PersonFit`` per row of ``result``: parameters, mesh, joints, keypoints and the
    quality figures (computed for the batch at once)."""
    model = fitter.model
    with torch.no_grad():
        output = model(result.params)
        projected = project(output.keypoints, intrinsics)  # (B, K, 2)
    quality = batch_quality(fitter, tasks, intrinsics, result, output, projected)
    projected = projected.cpu().numpy()
    fits = []
    for row, task in enumerate(tasks):
        error = reprojection_error(projected[row, BODY], task.keypoints[BODY], task.confidence[BODY], 0.0)
        pairs = None
        if fitter.collision is not None:  # the fit used the collision term: report what is left
            counted = quality[row].get("intersections")
            pairs = int(counted["value"]) if counted else len(find_collisions(
                output.vertices[row:row + 1], fitter.collision.rules, fitter.collision.config.cell_size))
        fits.append(PersonFit(
            task.image_id, task.person_index, task.model, "ok",
            params={name: value[row].cpu().numpy() for name, value in result.params.as_dict().items()},
            vertices=output.vertices[row].cpu().numpy(), joints=output.joints[row].cpu().numpy(),
            keypoints_3d=output.keypoints[row].cpu().numpy(), keypoints_2d=projected[row],
            loss=float(result.loss[row]), reprojection_error_px=error, turned=bool(result.flipped[row]),
            time_s=seconds, intersecting_pairs=pairs, track_id=task.track_id, frame_index=task.frame_index,
            quality=quality[row], gender_choice=task.gender_choice))
    return fits


def batch_quality(fitter: Fitter, tasks: list[PersonTask], intrinsics: torch.Tensor, result: FitResult,
                  output: BodyOutput, projected: torch.Tensor) -> list[dict[str, dict]]:
    """The quality figures of each person of the batch (``quality.assess``); empty ones, with
    the error logged, when they cannot be computed: the fits stand without them."""
    try:
        ref = output.vertices
        targets = tasks_to_targets(tasks, ref.device, ref.dtype)
        batch = FitBatch(result.params, output.vertices, output.joints, output.keypoints, projected,
                         targets.keypoints, targets.confidence, intrinsics.to(ref), result.anchor)
        return fitter.assessor.assess(batch)
    except Exception:  # noqa: BLE001 - a figure's failure must not discard the batch's fits
        log.exception("quality figures of a batch of %d people could not be computed", len(tasks))
        return [{} for _ in tasks]


def fit_tasks(tasks: list[PersonTask], bank: ModelBank, batch_size: int = 64,
              on_batch: Callable[[list[PersonFit]], None] | None = None) -> list[PersonFit]:
    """Fits every task, people of one body model together in batches of ``batch_size``;
    returns their fits in the order of ``tasks``. ``on_batch`` sees each batch's fits as it
    finishes."""
    queue, fits = TaskQueue(batch_size), {}
    positions: dict[ModelKey, deque[int]] = {}  # per model, the task indices in queue order

    def run(batch: list[PersonTask]) -> None:
        done = fit_batch(bank, batch)
        order = positions[batch[0].model]
        for fit in done:
            fits[order.popleft()] = fit
        if on_batch is not None:
            on_batch(done)

    for index, task in enumerate(tasks):
        positions.setdefault(task.model, deque()).append(index)
        full = queue.push(task)
        if full is not None:
            run(full)
    for batch in queue.drain():
        run(batch)
    return [fits[index] for index in range(len(tasks))]
