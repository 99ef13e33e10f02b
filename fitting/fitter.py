"""SMPLify-X's staged, annealed fit: translation from similar triangles, a camera-only
stage, then the configured stages; side views are also fitted turned by 180 degrees and the
lower loss wins.

Three optimisers (``optimizer`` in the config):
- ``batched_lbfgs``: every sample is its own problem (``fitting.batch_lbfgs``): any number of
  people in one batch, both orientations of side views in the same batch, a converged sample
  stops while others go on.
- ``batched_lm``: per-sample Levenberg-Marquardt on the same cost written as residuals
  (``fitting.batch_lm``), measured against ``batched_lbfgs`` by benchmarks/speed.py.
- ``lbfgs``: SMPLify-X's reference, torch's L-BFGS with strong-Wolfe line search on the
  summed loss, run one person at a time (the batch is split), the turned fit run after.

Shapes: B batch (people), K keypoints.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from bodymodels.layer import BodyModel, BodyParams
from bodymodels.openpose import OPENPOSE
from collision.term import SelfCollision
from fitting.batch_lbfgs import batch_lbfgs
from fitting.batch_lm import batch_levenberg_marquardt
from fitting.camera import least_squares_translation, similar_triangles_translation
from fitting.config import FitConfig
from fitting.objective import (Targets, Variables, camera_residuals, camera_terms, prior_scales, stage_residuals,
                               stage_terms)
from fitting.optimize import OptimizeLog, lbfgs_minimize
from priors.body_pose import BodyPosePrior

# Model (Y up, facing +z) to OpenCV camera (Y down, facing the camera): 180 degrees about x.
FACING_CAMERA = (math.pi, 0.0, 0.0)
# The same body turned 180 degrees about its vertical axis (back to the camera).
FACING_AWAY = (0.0, 0.0, math.pi)
TORSO_EDGES = (("RShoulder", "RHip"), ("LShoulder", "LHip"))
SHOULDER_EDGES = (("RShoulder", "LShoulder"),)  # when no torso edge is seen


@dataclass
class StageLog:
    name: str
    log: OptimizeLog
    keypoints: torch.Tensor | None = None  # (B, K, 3) after the stage, when recorded


@dataclass
class FitResult:
    """Final parameters, per-sample loss (B,), which samples ended turned, stage logs."""

    params: BodyParams
    loss: torch.Tensor
    flipped: torch.Tensor
    stages: list[StageLog] = field(default_factory=list)


def _select(params: BodyParams, rows: torch.Tensor) -> BodyParams:
    return BodyParams(**{name: value[rows] for name, value in params.as_dict().items()})


class Fitter:
    """Fits ``model`` to 2D keypoints under ``config``'s schedule."""

    def __init__(self, model: BodyModel, prior: BodyPosePrior, config: FitConfig) -> None:
        if config.model_type != model.model_type:
            raise ValueError(f"config is for {config.model_type}, model is {model.model_type}")
        self.model, self.prior, self.config = model, prior, config
        needs_collision = config.collision.enabled and any(stage.collision > 0 for stage in config.stages)
        if needs_collision and config.optimizer == "batched_lm":
            raise ValueError("the collision term is not a sum of squares: use batched_lbfgs with it, not batched_lm")
        self.collision = SelfCollision(model, config.collision) if needs_collision else None

    def needs_flip(self, targets: Targets) -> torch.Tensor:
        """(B,) side views: both shoulders seen and closer than the threshold in 2D."""
        right, left = OPENPOSE["RShoulder"], OPENPOSE["LShoulder"]
        seen = (targets.confidence[:, right] > 0) & (targets.confidence[:, left] > 0)
        distance = (targets.keypoints[:, right] - targets.keypoints[:, left]).norm(dim=-1)
        return seen & (distance < self.config.camera.flip_shoulder_px)

    def fit(self, targets: Targets, record_stages: bool = False) -> FitResult:
        if self.config.optimizer == "lbfgs":
            return self._fit_reference(targets, record_stages)
        return self._fit_batched(targets, record_stages)

    def _orientations(self, count: int, orientation) -> torch.Tensor:
        ref = self.model.smpl.v_template
        return torch.tensor(orientation, dtype=ref.dtype, device=ref.device).expand(count, 3).clone()

    def _fit_batched(self, targets: Targets, record_stages: bool) -> FitResult:
        """Both orientations of every side view in one batch; per sample the lower loss wins."""
        batch = targets.keypoints.shape[0]
        flip_rows = self.needs_flip(targets).nonzero().squeeze(1)
        rows = torch.cat([torch.arange(batch, device=flip_rows.device), flip_rows])
        orientation = torch.cat([self._orientations(batch, FACING_CAMERA),
                                 self._orientations(len(flip_rows), FACING_AWAY)])
        result = self._fit_from(targets.index(rows), orientation, record_stages)
        loss = result.loss[:batch].clone()
        pick = torch.arange(batch, device=loss.device)
        turned = result.loss[batch:] < loss[flip_rows]
        pick[flip_rows[turned]] = batch + turned.nonzero().squeeze(1)
        loss[flip_rows[turned]] = result.loss[batch:][turned]
        flipped = pick >= batch
        stages = [StageLog(s.name, s.log, None if s.keypoints is None else s.keypoints[pick]) for s in result.stages]
        return FitResult(_select(result.params, pick), loss, flipped, stages)

    def _fit_reference(self, targets: Targets, record_stages: bool) -> FitResult:
        """SMPLify-X's way: one person at a time, the turned fit run after for side views."""
        if targets.keypoints.shape[0] > 1:
            parts = [self._fit_reference(targets.index(torch.tensor([i])), record_stages)
                     for i in range(targets.keypoints.shape[0])]
            params = BodyParams(**{name: torch.cat([p.params.as_dict()[name] for p in parts])
                                   for name in parts[0].params.as_dict()})
            return FitResult(params, torch.cat([p.loss for p in parts]), torch.cat([p.flipped for p in parts]),
                             [s for p in parts for s in p.stages])
        front = self._fit_from(targets, self._orientations(1, FACING_CAMERA), record_stages)
        if not bool(self.needs_flip(targets)[0]):
            return front
        back = self._fit_from(targets, self._orientations(1, FACING_AWAY), record_stages)
        stages = front.stages + [StageLog(f"turned/{s.name}", s.log) for s in back.stages]
        if bool(back.loss[0] < front.loss[0]):
            return FitResult(back.params, back.loss, torch.ones(1, dtype=torch.bool), stages)
        return FitResult(front.params, front.loss, front.flipped, stages)

    def initial_variables(self, targets: Targets, orientation) -> Variables:
        """Rest pose, mean shape, ``orientation`` ((B, 3) or one (3,) for all), translation
        by similar triangles on the torso or, with ``translation_init: least_squares``, SPIN's
        weighted least squares on the camera stage's keypoints (similar triangles where that
        cannot be solved)."""
        batch = targets.keypoints.shape[0]
        variables = Variables.initial(self.model, self.prior, batch)
        if not torch.is_tensor(orientation):
            orientation = self._orientations(batch, orientation)
        variables.global_orient = orientation.to(variables.global_orient).clone()
        with torch.no_grad():
            _, points = self.model.keypoints(variables.to_params(self.prior))
        seen = targets.confidence > 0
        torso = [(OPENPOSE[a], OPENPOSE[b]) for a, b in TORSO_EDGES]
        shoulders = [(OPENPOSE[a], OPENPOSE[b]) for a, b in SHOULDER_EDGES]
        has_torso = torch.stack([seen[:, a] & seen[:, b] for a, b in torso], 1).any(1)
        by_torso = similar_triangles_translation(points, targets.keypoints, seen, torso, targets.intrinsics)
        by_shoulders = similar_triangles_translation(points, targets.keypoints, seen, shoulders, targets.intrinsics)
        variables.transl = torch.where(has_torso[:, None], by_torso, by_shoulders)
        if self.config.translation_init == "least_squares":
            torso_points = torch.zeros_like(targets.confidence)
            torso_points[:, [OPENPOSE[name] for name in self.config.camera.keypoints]] = 1.0
            variables.transl = least_squares_translation(points, targets.keypoints, targets.confidence * torso_points,
                                                         targets.intrinsics, variables.transl)
        return variables

    def _minimize(self, variables: Variables, targets: Targets, free: tuple[str, ...],
                  objective: Callable[[Variables, Targets], torch.Tensor], max_outer: int, inner: int,
                  ftol: float, gtol: float, budget: int, residuals: Callable[[Variables, Targets], torch.Tensor],
                  scales: torch.Tensor, lm_budget: int) -> tuple[Variables, OptimizeLog]:
        """Minimises ``objective`` (per-sample (B,)) over the ``free`` variables: SMPLify-X's
        ``max_outer`` x ``inner`` schedule for the reference optimiser, at most ``budget``
        iterations per sample for the batched one; ``batched_lm`` minimises the same cost as
        ``residuals`` plus the linear ``scales`` * x, at most ``lm_budget`` iterations."""
        if self.config.optimizer == "lbfgs":
            tensors = [variables.tensor(name) for name in free]
            log = lbfgs_minimize(tensors, lambda: objective(variables, targets), max_outer, inner, ftol, gtol)
            return variables, log

        def on_rows(function: Callable[[Variables, Targets], torch.Tensor]):
            def subset(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
                if len(rows) == len(targets.keypoints):
                    return function(variables.unpack(free, x), targets)
                return function(variables.index(rows).unpack(free, x), targets.index(rows))
            return subset

        if self.config.optimizer == "batched_lm":
            config = self.config
            flat, batch_log = batch_levenberg_marquardt(
                on_rows(residuals), scales, variables.pack(free), lm_budget, max(ftol, config.batched_ftol), gtol,
                config.lm_damping, config.lm_increase, config.lm_decrease)
            log = OptimizeLog(float(batch_log.loss.sum()), batch_log.evaluations, int(batch_log.iterations.max()),
                              batch_log.seconds)
            return variables.unpack(free, flat), log
        subset = on_rows(objective)

        # the collision term keeps state per problem: it must not see one row twice in a
        # call, so with it the line search bisects
        ladder, rounds = self.config.line_search_ladder, self.config.line_search_rounds
        if self.collision is not None:
            ladder, rounds = 1, self.config.bisection_rounds
        flat, batch_log = batch_lbfgs(subset, variables.pack(free), budget, max(ftol, self.config.batched_ftol),
                                      gtol, history=self.config.lbfgs_history, max_rounds=rounds, ladder=ladder)
        log = OptimizeLog(float(batch_log.loss.sum()), batch_log.evaluations, int(batch_log.iterations.max()),
                          batch_log.seconds)
        return variables.unpack(free, flat), log

    def _fit_from(self, targets: Targets, orientation: torch.Tensor, record_stages: bool) -> FitResult:
        variables = self.initial_variables(targets, orientation)
        targets = dataclasses.replace(targets, initial_depth=variables.transl[:, 2].clone(),
                                      ids=torch.arange(len(targets.keypoints), device=targets.keypoints.device))
        camera = self.config.camera
        camera_free = ("global_orient", "transl")
        variables, log = self._minimize(
            variables, targets, camera_free,
            lambda v, t: camera_terms(self.model, self.prior, v, t, t.initial_depth, self.config)["total"],
            camera.max_outer, camera.lbfgs_max_iter, camera.ftol, camera.gtol, camera.batched_max_iterations,
            lambda v, t: camera_residuals(self.model, self.prior, v, t, t.initial_depth, self.config),
            torch.zeros_like(variables.pack(camera_free)), camera.lm_max_iterations)
        logs = [StageLog("camera", log)]
        loss = None
        for stage in self.config.stages:
            def objective(v: Variables, t: Targets, stage=stage) -> torch.Tensor:
                return stage_terms(self.model, self.prior, v, t, stage, self.config, self.collision)["total"]

            if self.collision is not None:
                self.collision.reset()
            def residuals(v: Variables, t: Targets, stage=stage) -> torch.Tensor:
                return stage_residuals(self.model, self.prior, v, t, stage, self.config)

            variables, log = self._minimize(variables, targets, stage.free, objective, stage.max_outer,
                                            stage.lbfgs_max_iter, stage.ftol, stage.gtol,
                                            stage.batched_max_iterations, residuals,
                                            prior_scales(self.model, variables, stage, stage.free),
                                            stage.lm_max_iterations)
            keypoints = None
            with torch.no_grad():
                loss = objective(variables, targets)
                if record_stages:
                    keypoints = self.model.keypoints(variables.to_params(self.prior))[1]
            logs.append(StageLog(stage.name, log, keypoints))
        with torch.no_grad():
            params = variables.to_params(self.prior)
        params = BodyParams(**{k: v.detach().clone() for k, v in params.as_dict().items()})
        return FitResult(params, loss, torch.zeros(len(loss), dtype=torch.bool, device=loss.device), logs)
