"""The body-pose prior a fitting config names."""
from __future__ import annotations

from bodyfit.priors.body_pose import BodyPosePrior, L2AnglePrior
from bodyfit.priors.vposer_prior import make_vposer_prior

PRIOR_NAMES = (L2AnglePrior.name, "vposer")


def make_body_pose_prior(name: str, vposer: str = "default") -> BodyPosePrior:
    """The prior called ``name`` in a fitting config; ``vposer`` is the checkpoint
    (``default``: the shipped one) when ``name`` is ``vposer``."""
    if name == L2AnglePrior.name:
        return L2AnglePrior()
    if name == "vposer":
        return make_vposer_prior(vposer)
    raise ValueError(f"unknown body pose prior {name!r}; known: {list(PRIOR_NAMES)}")
