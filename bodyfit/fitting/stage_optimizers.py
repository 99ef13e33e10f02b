"""The two ways a stage is minimised, as strategy objects with one method.

- ``BatchedLBFGS`` (``optimizer: batched_lbfgs``, the default): every sample is its own problem
  (``fitting.batch_lbfgs``): per-sample history, line search and stopping.
- ``ReferenceLBFGS`` (``optimizer: lbfgs``): SMPLify-X's way, torch's L-BFGS with strong-Wolfe
  line search on the summed loss of the rows it is given (the fitter gives it one person at
  a time). The parity oracle for the batched one.

Shapes: B batch, P packed free parameters per sample.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from bodyfit.fitting.batch_lbfgs import batch_lbfgs
from bodyfit.fitting.config import CameraStageConfig, FitConfig, StageConfig
from bodyfit.fitting.objective import Targets, Variables
from bodyfit.fitting.lbfgs_steps import OptimizeLog, lbfgs_minimize

# (variables, targets) -> (B,) per-sample loss
Objective = Callable[[Variables, Targets], torch.Tensor]


class StageOptimizer(Protocol):
    def minimize(self, variables: Variables, targets: Targets, free: tuple[str, ...], objective: Objective,
                 limits: StageConfig | CameraStageConfig) -> tuple[Variables, OptimizeLog]:
        """Minimises ``objective`` over the ``free`` variables within the stage's ``limits``
        (iteration budgets and tolerances); returns the new variables and a log."""


class ReferenceLBFGS:
    """SMPLify-X's schedule: ``max_outer`` steps of up to ``lbfgs_max_iter`` iterations."""

    def minimize(self, variables: Variables, targets: Targets, free: tuple[str, ...], objective: Objective,
                 limits: StageConfig | CameraStageConfig) -> tuple[Variables, OptimizeLog]:
        tensors = [variables.tensor(name) for name in free]
        log = lbfgs_minimize(tensors, lambda: objective(variables, targets), limits.max_outer,
                             limits.lbfgs_max_iter, limits.ftol, limits.gtol)
        return variables, log


class BatchedLBFGS:
    """Per-sample L-BFGS with at most ``batched_max_iterations`` iterations per sample.

    ``bisect``: the line search tries one step at a time, so that the objective never sees a
    row twice in one call (the collision term keeps state per problem)."""

    def __init__(self, config: FitConfig, bisect: bool = False) -> None:
        self.config = config
        self.ladder = 1 if bisect else config.line_search_ladder
        self.rounds = config.bisection_rounds if bisect else config.line_search_rounds

    def minimize(self, variables: Variables, targets: Targets, free: tuple[str, ...], objective: Objective,
                 limits: StageConfig | CameraStageConfig) -> tuple[Variables, OptimizeLog]:
        everyone = len(targets.keypoints)

        def on_rows(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            if len(rows) == everyone:
                return objective(variables.unpack(free, x), targets)
            return objective(variables.index(rows).unpack(free, x), targets.index(rows))

        flat, log = batch_lbfgs(on_rows, variables.pack(free), limits.batched_max_iterations,
                                max(limits.ftol, self.config.batched_ftol), limits.gtol,
                                history=self.config.lbfgs_history, max_rounds=self.rounds, ladder=self.ladder)
        summary = OptimizeLog(float(log.loss.sum()), log.evaluations, int(log.iterations.max()), log.seconds)
        return variables.unpack(free, flat), summary


def make_optimizer(config: FitConfig, with_collision: bool) -> StageOptimizer:
    """The strategy ``config.optimizer`` names."""
    if config.optimizer == "lbfgs":
        return ReferenceLBFGS()
    return BatchedLBFGS(config, bisect=with_collision)
