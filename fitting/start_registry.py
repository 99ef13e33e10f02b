"""The initialisers a fitting config can name (``init:``), by name."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from bodymodels.layer import BodyModel
from fitting.config import FitConfig
from fitting.initializers import InitialParams, Starts, rest_starts
from fitting.objective import Targets
from fitting.regressor_init import regressor_starts
from priors.body_pose import BodyPosePrior

Initializer = Callable[[BodyModel, BodyPosePrior, FitConfig, Targets, Sequence[InitialParams | None]], Starts]
INITIALIZERS: dict[str, Initializer] = {"rest": rest_starts, "regressor": regressor_starts}


def get_initializer(name: str) -> Initializer:
    """The initialiser ``init: <name>`` names."""
    if name not in INITIALIZERS:
        raise ValueError(f"unknown initialiser {name!r}; known: {sorted(INITIALIZERS)}")
    return INITIALIZERS[name]
