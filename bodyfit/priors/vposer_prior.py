"""VPoser as the fitter's body-pose prior: the optimiser moves the 32-d latent, the body pose
is its decoding, and the cost is the latent's squared norm."""
from __future__ import annotations

import torch

from bodyfit.priors.body_pose import BodyPosePrior
from bodyfit.priors.simple import squared_norm
from bodyfit.vposer.checkpoint import load_vposer
from bodyfit.vposer.model import VPoser


class VPoserPrior(BodyPosePrior):
    name = "vposer"

    def __init__(self, model: VPoser) -> None:
        super().__init__()
        self.vposer = model.eval()
        for parameter in self.vposer.parameters():
            parameter.requires_grad_(False)
        self.latent_size = model.latent_size

    def train(self, mode: bool = True) -> "VPoserPrior":
        super().train(False)  # dropout and batch norm stay in evaluation mode
        return self

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.vposer.decode(latent)

    def encode(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(B, 32) the posterior's mean for ``body_pose`` (B, 63)."""
        return self.vposer.encode(body_pose).mean

    def decode_rotations(self, latent: torch.Tensor) -> torch.Tensor:
        return self.vposer.decode_rotations(latent)

    def penalty(self, latent: torch.Tensor) -> torch.Tensor:
        return squared_norm(latent)


def make_vposer_prior(value: str) -> VPoserPrior:
    """The prior of VPoser checkpoint ``value`` (``default``: the shipped one; see ``load_vposer``)."""
    if value == "none":
        raise ValueError("vposer is 'none': use the l2_angles prior instead")
    model, _ = load_vposer(value)
    return VPoserPrior(model)
