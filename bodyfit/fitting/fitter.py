"""SMPLify-X's staged, annealed fit of one body model to batches of 2D targets.

The configured initialiser (``fitting.initializers``) gives one or more starts per person;
each start is fitted as its own problem (a camera-only stage, then the configured stages)
and each person keeps the fit with the lowest final loss. The stage optimiser is a strategy
(``fitting.stage_optimizers``): the batched L-BFGS fits every start of the batch at once, SMPLify-X's
reference fits one start at a time, in order.

Shapes: B people, S starts, K keypoints.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from bodyfit.bodymodels.layer import BodyModel, BodyParams
from bodyfit.collision.term import SelfCollision
from bodyfit.fitting.config import FitConfig, StageConfig
from bodyfit.fitting.initializers import InitialParams, Starts
from bodyfit.fitting.losses import reprojection_term
from bodyfit.fitting.objective import Targets, Variables, camera_terms, keypoint_part_weights, stage_terms
from bodyfit.fitting.lbfgs_steps import OptimizeLog
from bodyfit.fitting.stage_optimizers import make_optimizer
from bodyfit.fitting.start_registry import Initializer, get_initializer
from bodyfit.geometry import project
from bodyfit.priors.body_pose import BodyPosePrior
from bodyfit.quality.assess import QualityAssessor
from bodyfit.quality.config import QualityConfig, load_quality_config


DATA_ONLY = StageConfig("data", body_pose=0.0, shape=0.0)  # body keypoints only, no prior


@dataclass
class StageLog:
    name: str
    log: OptimizeLog
    keypoints: torch.Tensor | None = None  # (B, K, 3) after the stage, when recorded


@dataclass
class FitResult:
    """Final parameters, per-sample loss (B,), which samples ended turned, stage logs, and
    ``anchor`` (B, 21, 3, 3): the body rotations the winning start was held near (the
    regressor's prediction, with ``init: regressor``; None otherwise)."""

    params: BodyParams
    loss: torch.Tensor
    flipped: torch.Tensor
    stages: list[StageLog] = field(default_factory=list)
    anchor: torch.Tensor | None = None


def _select(params: BodyParams, rows: torch.Tensor) -> BodyParams:
    return BodyParams(**{name: value[rows] for name, value in params.as_dict().items()})


def _merge_stage_logs(per_start: list[list[StageLog]]) -> list[StageLog]:
    """One log per stage over starts fitted one at a time: evaluations and seconds summed,
    recorded keypoints (one row per start) concatenated."""
    merged = []
    for logs in zip(*per_start):
        keypoints = None if logs[0].keypoints is None else torch.cat([log.keypoints for log in logs])
        total = OptimizeLog(sum(log.log.loss for log in logs), sum(log.log.evaluations for log in logs),
                            max(log.log.steps for log in logs), sum(log.log.seconds for log in logs))
        merged.append(StageLog(logs[0].name, total, keypoints))
    return merged


def _cat_params(parts: list[BodyParams]) -> BodyParams:
    return BodyParams(**{name: torch.cat([p.as_dict()[name] for p in parts]) for name in parts[0].as_dict()})


class Fitter:
    """Fits ``model`` to 2D keypoints under ``config``'s schedule."""

    def __init__(self, model: BodyModel, prior: BodyPosePrior, config: FitConfig,
                 initializer: Initializer | None = None, quality: QualityConfig | None = None) -> None:
        """``initializer`` replaces the one ``config.init`` names (SPIN's loop starts fits from
        the regressor it is training); ``quality`` the thresholds of the fits' quality figures
        (None: ``cfg/quality.yaml``)."""
        if config.model_type != model.model_type:
            raise ValueError(f"config is for {config.model_type}, model is {model.model_type}")
        self.model, self.prior, self.config = model, prior, config
        needs_collision = config.collision.enabled and any(stage.collision > 0 for stage in config.stages)
        self.collision = SelfCollision(model, config.collision) if needs_collision else None
        self.optimizer = make_optimizer(config, with_collision=needs_collision)
        self.initializer = initializer or get_initializer(config.init)
        self.quality_config = quality
        self._assessor: QualityAssessor | None = None

    @property
    def assessor(self) -> QualityAssessor:
        """The quality figures of this fitter's fits, built on first use (it loads VPoser)."""
        if self._assessor is None:
            config = self.quality_config or load_quality_config()
            self._assessor = QualityAssessor(self.model, config, self.config.collision)
        return self._assessor

    def fit(self, targets: Targets, initial: Sequence[InitialParams | None] | None = None,
            record_stages: bool = False) -> FitResult:
        """Fits every person of ``targets`` (B rows: keypoints (B, K, 2), confidence (B, K),
        intrinsics (B, 4), data weight (B,)); ``initial`` (B entries, None for the
        initialiser's own start) holds parameters (name -> (D,)) a person starts from. With
        ``record_stages`` each stage log keeps the keypoints (B, K, 3) after it."""
        batch = targets.keypoints.shape[0]
        initial = list(initial) if initial is not None else [None] * batch
        if len(initial) != batch:
            raise ValueError(f"initial needs one entry per person ({batch}), got {len(initial)}")
        starts = self.initializer(self.model, self.prior, self.config, targets, initial)
        start_targets = dataclasses.replace(targets.index(starts.rows), anchor=starts.anchor)
        if self.config.optimizer == "lbfgs":
            return self._fit_one_at_a_time(start_targets, starts, batch, record_stages)
        result = self._fit_starts(start_targets, starts.variables, record_stages)
        return self._best_per_person(result, starts, batch)

    @torch.no_grad()
    def data_term(self, params: BodyParams, targets: Targets) -> torch.Tensor:
        """(B,) the data term alone (body keypoints, robust, weighted as in the stages) of
        ``params`` against ``targets``: what SPIN's loop compares fits by."""
        part = keypoint_part_weights(self.model.num_keypoints, DATA_ONLY, self.config).to(params.betas)
        projected = project(self.model.selected_keypoints(params, part > 0), targets.intrinsics)
        residual = reprojection_term(projected, targets.keypoints, targets.confidence * part, self.config.rho)
        return targets.data_weight ** 2 * residual

    def _fit_one_at_a_time(self, start_targets: Targets, starts: Starts, batch: int,
                           record_stages: bool) -> FitResult:
        """SMPLify-X's way: each start on its own, in order; a later start wins only with a
        strictly lower loss. ``start_targets`` has one row per start."""
        results = []
        for index in range(len(starts.rows)):
            one = torch.tensor([index], device=starts.rows.device)
            results.append(self._fit_starts(start_targets.index(one), starts.variables.index(one), record_stages))
        combined = FitResult(_cat_params([r.params for r in results]), torch.cat([r.loss for r in results]),
                             starts.turned.clone(), _merge_stage_logs([r.stages for r in results]))
        return self._best_per_person(combined, starts, batch)

    def _best_per_person(self, result: FitResult, starts: Starts, batch: int) -> FitResult:
        """Per person, the start with the lowest loss (the first on a tie)."""
        best = torch.full((batch,), -1, dtype=torch.long, device=result.loss.device)
        best_loss = torch.full((batch,), float("inf"), dtype=result.loss.dtype, device=result.loss.device)
        loss = torch.where(torch.isfinite(result.loss), result.loss, torch.full_like(result.loss, float("inf")))
        for index, row in enumerate(starts.rows.tolist()):
            if best[row] < 0 or bool(loss[index] < best_loss[row]):
                best[row], best_loss[row] = index, loss[index]
        stages = [StageLog(s.name, s.log, None if s.keypoints is None else s.keypoints[best]) for s in result.stages]
        anchor = None if starts.anchor is None else starts.anchor[best].detach()
        return FitResult(_select(result.params, best), result.loss[best], starts.turned[best], stages, anchor)

    def _fit_starts(self, targets: Targets, variables: Variables, record_stages: bool) -> FitResult:
        """The camera stage (unless the config skips it), then the configured stages, from
        ``variables`` (one row per start)."""
        targets = dataclasses.replace(targets, initial_depth=variables.transl[:, 2].clone(),
                                      ids=torch.arange(len(targets.keypoints), device=targets.keypoints.device))
        logs = []
        if self.config.regress_only:  # the start is the result; its loss is the data term alone
            with torch.no_grad():
                loss = stage_terms(self.model, self.prior, variables, targets, DATA_ONLY, self.config)["total"]
                keypoints = self.model.keypoints(variables.to_params(self.prior))[1] if record_stages else None
            return self._result(variables, loss, [StageLog("regressor", OptimizeLog(0.0, 0, 0, 0.0), keypoints)])
        if self.config.camera_stage:
            variables, log = self.optimizer.minimize(
                variables, targets, ("global_orient", "transl"),
                lambda v, t: camera_terms(self.model, self.prior, v, t, t.initial_depth, self.config)["total"],
                self.config.camera)
            logs.append(StageLog("camera", log))
        loss = None
        for stage in self.config.stages:
            def objective(v: Variables, t: Targets, stage=stage) -> torch.Tensor:
                return stage_terms(self.model, self.prior, v, t, stage, self.config, self.collision)["total"]

            if self.collision is not None:
                self.collision.reset()
            variables, log = self.optimizer.minimize(variables, targets, stage.free, objective, stage)
            keypoints = None
            with torch.no_grad():
                loss = objective(variables, targets)
                if record_stages:
                    keypoints = self.model.keypoints(variables.to_params(self.prior))[1]
            logs.append(StageLog(stage.name, log, keypoints))
        return self._result(variables, loss, logs)

    def _result(self, variables: Variables, loss: torch.Tensor, logs: list[StageLog]) -> FitResult:
        with torch.no_grad():
            params = variables.to_params(self.prior)
        params = BodyParams(**{k: v.detach().clone() for k, v in params.as_dict().items()})
        return FitResult(params, loss, torch.zeros(len(loss), dtype=torch.bool, device=loss.device), logs)
