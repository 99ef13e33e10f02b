"""L-BFGS that treats every sample of a batch as its own problem: per-sample curvature
history, step length (backtracking Armijo line search) and stopping. A sample that has
converged stops changing while the others go on; one batched evaluation serves every sample
still searching.

Shapes: B batch, P parameters per sample, M history length.
"""
from __future__ import annotations

import math

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

# (N, P) parameters of the samples ``rows`` (N,) -> (N,) their losses.
Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class BatchLog:
    """Per-sample final losses (B,) and iterations (B,), batched evaluations (each over the
    samples still searching), seconds."""

    loss: torch.Tensor
    iterations: torch.Tensor
    evaluations: int
    seconds: float


def _value_and_grad(objective: Objective, x: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        values = objective(x, rows)
        (grad,) = torch.autograd.grad(values.sum(), x)
    return values.detach(), grad.detach()


def _direction(grad, s_hist, y_hist, rho, valid, newest) -> torch.Tensor:
    """-H g by the two-loop recursion, per sample, over its valid history entries."""
    q = grad.clone()
    memory = s_hist.shape[1]
    order = [(newest - k) % memory for k in range(memory)]  # newest first
    alphas = []
    for i in order:
        a = rho[:, i] * (s_hist[:, i] * q).sum(-1) * valid[:, i]
        q = q - a[:, None] * y_hist[:, i]
        alphas.append(a)
    latest = order[0]
    sy = (s_hist[:, latest] * y_hist[:, latest]).sum(-1)
    yy = (y_hist[:, latest] * y_hist[:, latest]).sum(-1)
    gamma = torch.where(valid[:, latest] > 0, sy / yy.clamp(min=1e-20), torch.ones_like(sy))
    r = gamma[:, None] * q
    for i, a in zip(reversed(order), reversed(alphas)):
        b = rho[:, i] * (y_hist[:, i] * r).sum(-1) * valid[:, i]
        r = r + s_hist[:, i] * ((a - b) * valid[:, i])[:, None]
    return -r


def _trial_steps(low: torch.Tensor, high: torch.Tensor, count: int) -> torch.Tensor:
    """(N, count) steps to try at once inside each row's bracket: doubling past ``low``
    while no step has been too long (``high`` infinite), halving towards zero while no step
    has been short enough (``low`` zero), evenly spaced between the two otherwise."""
    k = torch.arange(1, count + 1, dtype=low.dtype, device=low.device)
    grow = low[:, None] * 2.0 ** k
    shrink = high[:, None] * 0.5 ** k
    between = low[:, None] + (high - low)[:, None] * k / (count + 1)
    return torch.where(torch.isinf(high)[:, None], grow, torch.where((low == 0)[:, None], shrink, between))


def _wolfe_search(objective, x, f, g, d, slope, step, active, armijo, curvature, max_rounds, ladder):
    """Per-sample weak-Wolfe line search: a step must lower the loss enough (Armijo) and
    flatten the slope enough (curvature), which keeps every stored curvature pair positive.
    Every row first tries ``step``; a row that fails then tries ``ladder`` steps inside its
    bracket in one batched evaluation per round (a few rows are as cheap to evaluate as one,
    so this replaces rounds of one-at-a-time bisection). Returns the new x, f, g, which
    samples found no step (those that found a point passing Armijo alone take the best such
    point) and the number of batched evaluations."""
    x_new, f_new, g_new = x.clone(), f.clone(), g.clone()
    searching = active.clone()
    low = torch.zeros_like(step)
    high = torch.full_like(step, math.inf)
    fallback = torch.zeros_like(active)
    evaluations = 0
    for round_index in range(max_rounds):
        rows = searching.nonzero().squeeze(1)
        if len(rows) == 0:
            break
        count = 1 if round_index == 0 else ladder
        steps = step[rows, None] if round_index == 0 else _trial_steps(low[rows], high[rows], count)
        trial = x[rows, None] + steps[..., None] * d[rows, None]  # (N, count, P)
        f_trial, g_trial = _value_and_grad(objective, trial.reshape(-1, x.shape[1]), rows.repeat_interleave(count))
        evaluations += 1
        f_trial, g_trial = f_trial.view(len(rows), count), g_trial.view(len(rows), count, -1)
        decrease = torch.isfinite(f_trial) & (f_trial <= f[rows, None] + armijo * steps * slope[rows, None])
        flat = (g_trial * d[rows, None]).sum(-1) >= curvature * slope[rows, None]
        # the steps a one-at-a-time search could reach: when growing, those short of the
        # first step that was too long; otherwise every step that lowered the loss enough.
        # Of those, the Wolfe point it would reach first (the shortest when growing, the
        # longest when shrinking, the lowest loss inside a bracket), else, as a fallback,
        # the lowest Armijo point
        inf = torch.full_like(f_trial, math.inf)
        growing = torch.isinf(high[rows])[:, None]
        shortest_too_long = torch.where(~decrease, steps, inf).amin(1)
        within = decrease & (~growing | (steps < shortest_too_long[:, None]))
        wolfe = within & flat
        shrinking = (low[rows] == 0)[:, None]
        order = torch.where(growing, steps, torch.where(shrinking, -steps, f_trial))
        best_wolfe = torch.where(wolfe, order, inf).argmin(1)
        best_decrease = torch.where(within, f_trial, inf).argmin(1)
        found = wolfe.any(1)
        pick = torch.where(found, best_wolfe, best_decrease)
        picked_f = f_trial.gather(1, pick[:, None])[:, 0]
        improves = found | (within.any(1) & (~fallback[rows] | (picked_f < f_new[rows])))
        keep = rows[improves]
        x_new[keep] = trial[improves, pick[improves]]
        f_new[keep] = picked_f[improves]
        g_new[keep] = g_trial[improves, pick[improves]]
        fallback[rows[within.any(1)]] = True
        searching[rows[found]] = False
        # narrow the bracket: above the longest step reached that lowered the loss enough,
        # below the shortest step past it that was too long
        longest_short = torch.where(within, steps, torch.zeros_like(steps)).amax(1)
        low[rows] = torch.maximum(low[rows], longest_short)
        past = ~decrease & (steps > low[rows, None])
        high[rows] = torch.minimum(high[rows], torch.where(past, steps, inf).amin(1))
    searching &= ~fallback  # an Armijo point without the curvature condition is still progress
    return x_new, f_new, g_new, searching, evaluations


def batch_lbfgs(objective: Objective, x0: torch.Tensor, max_iterations: int, ftol: float, gtol: float,
                history: int = 10, armijo: float = 1e-4, curvature: float = 0.9,
                max_rounds: int = 6, ladder: int = 8) -> tuple[torch.Tensor, BatchLog]:
    """Minimises ``objective`` for each sample of ``x0`` (B, P) independently; only the
    samples still searching are evaluated. A line search takes at most ``max_rounds``
    batched evaluations: the first tries one step per sample, each later one ``ladder``
    steps per sample still searching (``ladder`` 1: plain bisection; the objective then never
    sees a row twice in one call)."""
    start = time.perf_counter()
    x = x0.detach().clone()
    batch, size = x.shape
    everyone = torch.arange(batch, device=x.device)
    f, g = _value_and_grad(objective, x, everyone)
    evaluations = 1
    s_hist = x.new_zeros(batch, history, size)
    y_hist = x.new_zeros(batch, history, size)
    rho = x.new_zeros(batch, history)
    valid = x.new_zeros(batch, history)
    newest = 0
    active = torch.isfinite(f) & (g.abs().amax(-1) > gtol)
    iterations = torch.zeros(batch, dtype=torch.long, device=x.device)
    for _ in range(max_iterations):
        if not bool(active.any()):
            break
        d = _direction(g, s_hist, y_hist, rho, valid, newest)
        slope = (g * d).sum(-1)
        reset = slope >= 0  # not a descent direction: forget the history, follow the gradient
        if bool(reset.any()):
            d = torch.where(reset[:, None], -g, d)
            valid = torch.where(reset[:, None], torch.zeros_like(valid), valid)
            slope = (g * d).sum(-1)
        first = valid.sum(-1) == 0
        step = torch.where(first, (1.0 / g.abs().sum(-1).clamp(min=1e-12)).clamp(max=1.0), torch.ones_like(f))
        x_new, f_new, g_new, searching, used = _wolfe_search(objective, x, f, g, d, slope, step, active,
                                                              armijo, curvature, max_rounds, ladder)
        evaluations += used
        moved = active & ~searching
        s = x_new - x
        y = g_new - g
        sy = (s * y).sum(-1)
        store = moved & (sy > 1e-10)
        newest = (newest + 1) % history
        s_hist[:, newest] = torch.where(store[:, None], s, s_hist[:, newest])
        y_hist[:, newest] = torch.where(store[:, None], y, y_hist[:, newest])
        rho[:, newest] = torch.where(store, 1.0 / sy.clamp(min=1e-10), rho[:, newest])
        valid[:, newest] = torch.where(store, torch.ones_like(sy), torch.where(active, torch.zeros_like(sy), valid[:, newest]))
        change = (f - f_new).abs() / torch.maximum(torch.maximum(f.abs(), f_new.abs()), torch.ones_like(f))
        iterations += active.long()
        x, f, g = x_new, f_new, g_new
        done = (moved & ((change <= ftol) | (g.abs().amax(-1) <= gtol))) | (active & searching)
        active = active & ~done
    return x, BatchLog(f, iterations, evaluations, time.perf_counter() - start)
