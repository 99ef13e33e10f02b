"""The initialisers a fitting config can name (``init:``), by name."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from bodyfit.bodymodels.layer import BodyModel
from bodyfit.fitting.config import FitConfig
from bodyfit.fitting.initializers import InitialParams, Starts, rest_starts
from bodyfit.fitting.objective import Targets
from bodyfit.fitting.regressor_init import regressor_starts
from bodyfit.priors.body_pose import BodyPosePrior

Initializer = Callable[[BodyModel, BodyPosePrior, FitConfig, Targets, Sequence[InitialParams | None]], Starts]
INITIALIZERS: dict[str, Initializer] = {"rest": rest_starts, "regressor": regressor_starts}


def get_initializer(name: str) -> Initializer:
    """The initialiser ``init: <name>`` names."""
    if name not in INITIALIZERS:
        raise ValueError(f"unknown initialiser {name!r}; known: {sorted(INITIALIZERS)}")
    return INITIALIZERS[name]
