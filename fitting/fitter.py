"""SMPLify-X's staged, annealed fit: translation from similar triangles, a camera-only
stage, then the configured stages; side views are also fitted turned by 180 degrees and the
lower loss wins.

Shapes: B batch (people), K keypoints.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from bodymodels.layer import BodyModel, BodyParams
from bodymodels.openpose import OPENPOSE
from fitting.camera import similar_triangles_translation
from fitting.config import FitConfig
from fitting.objective import Targets, Variables, camera_terms, stage_terms
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


class Fitter:
    """Fits ``model`` to 2D keypoints under ``config``'s schedule."""

    def __init__(self, model: BodyModel, prior: BodyPosePrior, config: FitConfig) -> None:
        if config.model_type != model.model_type:
            raise ValueError(f"config is for {config.model_type}, model is {model.model_type}")
        self.model, self.prior, self.config = model, prior, config

    def needs_flip(self, targets: Targets) -> torch.Tensor:
        """(B,) side views: both shoulders seen and closer than the threshold in 2D."""
        right, left = OPENPOSE["RShoulder"], OPENPOSE["LShoulder"]
        seen = (targets.confidence[:, right] > 0) & (targets.confidence[:, left] > 0)
        distance = (targets.keypoints[:, right] - targets.keypoints[:, left]).norm(dim=-1)
        return seen & (distance < self.config.camera.flip_shoulder_px)

    def fit(self, targets: Targets, record_stages: bool = False) -> FitResult:
        front = self._fit_from(targets, FACING_CAMERA, record_stages)
        flip = self.needs_flip(targets)
        flipped = torch.zeros_like(flip)
        if not bool(flip.any()):
            return front
        rows = flip.nonzero().squeeze(1)
        back = self._fit_from(targets.index(rows), FACING_AWAY, record_stages)
        better = back.loss < front.loss[rows]
        flipped[rows[better]] = True
        params = front.params.as_dict()
        for name, value in back.params.as_dict().items():
            params[name][rows[better]] = value[better]
        loss = front.loss.clone()
        loss[rows[better]] = back.loss[better]
        stages = front.stages + [StageLog(f"turned/{s.name}", s.log) for s in back.stages]
        return FitResult(BodyParams(**params), loss, flipped, stages)

    def initial_variables(self, targets: Targets, orientation: tuple[float, float, float]) -> Variables:
        """Rest pose, mean shape, ``orientation``, translation by similar triangles."""
        batch = targets.keypoints.shape[0]
        variables = Variables.initial(self.model, self.prior, batch)
        variables.global_orient[:] = torch.tensor(orientation, dtype=variables.global_orient.dtype)
        with torch.no_grad():
            _, points = self.model.keypoints(variables.to_params(self.prior))
        seen = targets.confidence > 0
        torso = [(OPENPOSE[a], OPENPOSE[b]) for a, b in TORSO_EDGES]
        shoulders = [(OPENPOSE[a], OPENPOSE[b]) for a, b in SHOULDER_EDGES]
        has_torso = torch.stack([seen[:, a] & seen[:, b] for a, b in torso], 1).any(1)
        by_torso = similar_triangles_translation(points, targets.keypoints, seen, torso, targets.intrinsics)
        by_shoulders = similar_triangles_translation(points, targets.keypoints, seen, shoulders, targets.intrinsics)
        variables.transl = torch.where(has_torso[:, None], by_torso, by_shoulders)
        return variables

    def _fit_from(self, targets: Targets, orientation, record_stages: bool) -> FitResult:
        variables = self.initial_variables(targets, orientation)
        initial_depth = variables.transl[:, 2].clone()
        camera = self.config.camera
        logs = [StageLog("camera", lbfgs_minimize(
            [variables.global_orient, variables.transl],
            lambda: camera_terms(self.model, self.prior, variables, targets, initial_depth, self.config)["total"],
            camera.max_outer, camera.lbfgs_max_iter, camera.ftol, camera.gtol))]
        loss = None
        for stage in self.config.stages:
            free = [variables.tensor(name) for name in stage.free]

            def objective(stage=stage):
                return stage_terms(self.model, self.prior, variables, targets, stage, self.config)["total"]

            log = lbfgs_minimize(free, objective, stage.max_outer, stage.lbfgs_max_iter, stage.ftol, stage.gtol)
            keypoints = None
            with torch.no_grad():
                loss = objective()
                if record_stages:
                    keypoints = self.model.keypoints(variables.to_params(self.prior))[1]
            logs.append(StageLog(stage.name, log, keypoints))
        with torch.no_grad():
            params = variables.to_params(self.prior)
        params = BodyParams(**{k: v.detach().clone() for k, v in params.as_dict().items()})
        return FitResult(params, loss, torch.zeros(len(loss), dtype=torch.bool), logs)
