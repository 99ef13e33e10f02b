"""L-BFGS with strong-Wolfe line search, run as SMPLify-X runs it: outer steps of up to
``lbfgs_max_iter`` iterations each, stopping on a small relative loss change (ftol) or small
gradients (gtol)."""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class OptimizeLog:
    """How a minimisation went: final summed loss, loss evaluations, outer steps, seconds."""

    loss: float
    evaluations: int
    steps: int
    seconds: float


def relative_change(previous: float, current: float) -> float:
    return abs(previous - current) / max(abs(previous), abs(current), 1.0)


def lbfgs_minimize(tensors: list[torch.Tensor], objective: Callable[[], torch.Tensor],
                   max_outer: int, lbfgs_max_iter: int, ftol: float, gtol: float) -> OptimizeLog:
    """Minimises the sum of ``objective()`` (B,) over ``tensors`` (updated in place)."""
    start = time.perf_counter()
    for tensor in tensors:
        tensor.requires_grad_(True)
    optimizer = torch.optim.LBFGS(tensors, lr=1.0, max_iter=lbfgs_max_iter, line_search_fn="strong_wolfe",
                                  tolerance_grad=gtol, tolerance_change=ftol)
    evaluations = 0

    def closure() -> torch.Tensor:
        nonlocal evaluations
        evaluations += 1
        optimizer.zero_grad()
        loss = objective().sum()
        loss.backward()
        return loss

    previous, steps, loss = None, 0, math.inf
    for steps in range(1, max_outer + 1):
        saved = [t.detach().clone() for t in tensors]
        loss = float(optimizer.step(closure).detach())
        if not math.isfinite(loss) or not all(bool(torch.isfinite(t).all()) for t in tensors):
            with torch.no_grad():  # a step that blew up is undone, and the stage ends there
                for tensor, value in zip(tensors, saved):
                    tensor.copy_(value)
            loss = previous if previous is not None else math.nan
            break
        if previous is not None and relative_change(previous, loss) <= ftol:
            break
        if all(t.grad is None or t.grad.abs().max() <= gtol for t in tensors):
            break
        previous = loss
    for tensor in tensors:
        tensor.requires_grad_(False)
        tensor.grad = None
    return OptimizeLog(loss, evaluations, steps, time.perf_counter() - start)
