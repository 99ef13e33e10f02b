"""Levenberg-Marquardt that treats every sample of a batch as its own robust least-squares
problem: per-sample Jacobian, damping and stopping, as an alternative to ``batch_lbfgs``
(``optimizer: batched_lm``; benchmarks/speed.py --lm-batch-sizes compares the two).

The objective of a sample is ``|r(x)|^2 + |s * x|^2``: non-linear residuals ``r`` (the
robust reprojection and the bending prior) and diagonal linear ones (the L2 priors on the
free variables, ``s`` per parameter), whose Jacobian is known and is not differentiated.

Shapes: B batch, P parameters per sample, R non-linear residuals per sample.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import torch

from fitting.batch_lbfgs import BatchLog

# (N, P) parameters of the samples ``rows`` (N,) -> (N, R) their non-linear residuals.
Residuals = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def residual_jacobian(residuals: Residuals, x: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Residuals (N, R) and their per-sample Jacobian (N, R, P), by one batched reverse pass
    over the R outputs (samples are independent, so row i of every sample's Jacobian is the
    gradient of the batch's residual i)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        r = residuals(x, rows)
        count = r.shape[1]
        basis = torch.eye(count, dtype=r.dtype, device=r.device)[:, None, :].expand(count, len(r), count)
        (jacobian,) = torch.autograd.grad(r, x, grad_outputs=basis, is_grads_batched=True)
    return r.detach(), jacobian.permute(1, 0, 2)


def _cost(residuals: Residuals, x: torch.Tensor, rows: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return residuals(x, rows).pow(2).sum(-1) + (scales[rows] * x).pow(2).sum(-1)


def batch_levenberg_marquardt(residuals: Residuals, scales: torch.Tensor, x0: torch.Tensor, max_iterations: int,
                              ftol: float, gtol: float = 1e-9, damping: float = 1e-3, increase: float = 10.0,
                              decrease: float = 0.3, max_damping: float = 1e9) -> tuple[torch.Tensor, BatchLog]:
    """Minimises ``|residuals(x)|^2 + |scales * x|^2`` for each sample of ``x0`` (B, P);
    ``scales`` (B, P). Each iteration solves the damped normal equations (Marquardt's
    scaling by the diagonal) per sample in float64, takes the step if it lowers the cost
    and relaxes the damping, else raises it. A sample stops when every gradient entry is
    under ``gtol``, at a relative change of ``ftol`` on an accepted step, or when its damping
    exceeds ``max_damping``; only the samples still going are evaluated."""
    start = time.perf_counter()
    x = x0.detach().clone()
    batch = x.shape[0]
    everyone = torch.arange(batch, device=x.device)
    cost = _cost(residuals, x, everyone, scales)
    lam = torch.full_like(cost, damping)
    active = torch.isfinite(cost)
    iterations = torch.zeros(batch, dtype=torch.long, device=x.device)
    evaluations = 1
    prior_curvature = torch.diag_embed(scales.pow(2))  # (B, P, P)
    for _ in range(max_iterations):
        rows = active.nonzero().squeeze(1)
        if len(rows) == 0:
            break
        r, jacobian = residual_jacobian(residuals, x[rows], rows)
        jt = jacobian.transpose(1, 2)
        normal = (jt @ jacobian + prior_curvature[rows]).double()
        gradient = ((jt @ r[..., None])[..., 0] + scales[rows].pow(2) * x[rows]).double()
        diagonal = torch.diagonal(normal, dim1=1, dim2=2).clamp(min=1e-9)
        factor, info = torch.linalg.cholesky_ex(normal + torch.diag_embed(lam[rows, None].double() * diagonal))
        step = torch.cholesky_solve(-gradient[..., None], factor)[..., 0].to(x.dtype)
        solved = info == 0
        solved &= gradient.abs().amax(-1) > gtol  # a stationary sample takes no step
        trial = x[rows] + torch.where(solved[:, None], step, torch.zeros_like(step))
        trial_cost = _cost(residuals, trial, rows, scales)
        evaluations += 2
        accept = solved & torch.isfinite(trial_cost) & (trial_cost < cost[rows])
        change = (cost[rows] - trial_cost).abs() / torch.maximum(cost[rows].abs(), torch.ones_like(trial_cost))
        x[rows[accept]] = trial[accept]
        cost[rows[accept]] = trial_cost[accept]
        lam[rows] = torch.where(accept, lam[rows] * decrease, lam[rows] * increase)
        flat = gradient.abs().amax(-1) <= gtol
        iterations[rows] += (~flat).long()
        done = flat | (accept & (change <= ftol)) | (lam[rows] > max_damping)
        active[rows[done]] = False
    return x, BatchLog(cost, iterations, evaluations, time.perf_counter() - start)
