"""The body-pose prior interface the fitter optimises through.

A prior owns the variable the optimiser moves (its latent), decodes it to the 63 body pose
angles, and penalises it. ``L2AnglePrior`` is the plain one (latent = angles); VPoser plugs
in the same way with a 32-d latent.

Shapes: B batch, Z latent size.
"""
from __future__ import annotations

import abc

import roma
import torch

from bodyfit.priors.simple import squared_norm


class BodyPosePrior(torch.nn.Module, abc.ABC):
    """Base class: ``latent_size``, ``initial_latent``, ``encode``, ``decode`` and ``penalty``."""

    name = "base"
    latent_size = 63

    def initial_latent(self, batch_size: int, device: torch.device | str = "cpu",
                       dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(B, Z) the latent of the rest pose."""
        return torch.zeros(batch_size, self.latent_size, device=device, dtype=dtype)

    @abc.abstractmethod
    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, 63) body pose axis-angle from (B, Z)."""

    @abc.abstractmethod
    def encode(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(B, Z) the latent whose decoding is closest to ``body_pose`` (B, 63) axis-angle."""

    @abc.abstractmethod
    def penalty(self, latent: torch.Tensor) -> torch.Tensor:
        """(B,) the prior's cost."""

    def decode_rotations(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, 21, 3, 3) body joint rotations from (B, Z), the same pose as ``decode``. The
        fitter's objective uses these directly, skipping a round trip through axis-angle."""
        return roma.rotvec_to_rotmat(self.decode(latent).reshape(latent.shape[0], -1, 3))


class L2AnglePrior(BodyPosePrior):
    """The latent is the 63 body pose angles and the cost their squared norm: an honest,
    weak prior that prefers the rest pose."""

    name = "l2_angles"
    latent_size = 63

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return latent

    def encode(self, body_pose: torch.Tensor) -> torch.Tensor:
        return body_pose

    def penalty(self, latent: torch.Tensor) -> torch.Tensor:
        return squared_norm(latent)
