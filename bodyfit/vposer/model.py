"""The VPoser network, in the layer layout of the official v2.05 checkpoints so that their
state dicts load as they are (see ``vposer.checkpoint``).

encoder_net: 0 flatten, 1 BatchNorm1d(in), 2 Linear(in, 512), 3 LeakyReLU, 4 BatchNorm1d(512),
5 Dropout, 6 Linear(512, 512), 7 Linear(512, 512), 8 a head with ``mu`` and ``logvar`` linears
(the posterior is Normal(mu, softplus(logvar)): softplus gives the scale).
decoder_net: 0 Linear(32, 512), 1 LeakyReLU, 2 Dropout, 3 Linear(512, 512), 4 LeakyReLU,
5 Linear(512, out), 6 rotations from the output: 6D + Gram-Schmidt (always valid, as v2) or
a raw 3x3 matrix (the paper's form, kept valid by the training's validity loss).

Shapes: B batch, J = 21 body joints, Z latent.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import roma
import torch
from torch import nn

from bodyfit.bodymodels.joints import NUM_BODY_JOINTS

ENCODER_INPUTS = ("axis_angle", "rotmat")
DECODER_OUTPUTS = ("6d", "matrix")


@dataclass(frozen=True)
class VPoserShape:
    """The architecture: encoder input, decoder output, widths."""

    encoder_input: str = "axis_angle"
    decoder_output: str = "6d"
    latent_size: int = 32
    hidden_size: int = 512
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.encoder_input not in ENCODER_INPUTS:
            raise ValueError(f"encoder_input must be one of {ENCODER_INPUTS}, got {self.encoder_input!r}")
        if self.decoder_output not in DECODER_OUTPUTS:
            raise ValueError(f"decoder_output must be one of {DECODER_OUTPUTS}, got {self.decoder_output!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class _Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)


class _NormalHead(nn.Module):
    """mu and scale of the posterior; ``logvar`` keeps the official name, softplus gives the scale."""

    def __init__(self, hidden: int, latent: int) -> None:
        super().__init__()
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mu(x), nn.functional.softplus(self.logvar(x))


class _Rotations(nn.Module):
    """(B, J*6) or (B, J*9) decoder output -> (B, J, 3, 3)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "6d":
            return roma.special_gramschmidt(x.reshape(x.shape[0], NUM_BODY_JOINTS, 3, 2))
        return x.reshape(x.shape[0], NUM_BODY_JOINTS, 3, 3)


class VPoser(nn.Module):
    def __init__(self, shape: VPoserShape = VPoserShape()) -> None:
        super().__init__()
        self.shape = shape
        inputs = NUM_BODY_JOINTS * (3 if shape.encoder_input == "axis_angle" else 9)
        outputs = NUM_BODY_JOINTS * (6 if shape.decoder_output == "6d" else 9)
        h, z, p = shape.hidden_size, shape.latent_size, shape.dropout
        self.encoder_net = nn.Sequential(
            _Flatten(), nn.BatchNorm1d(inputs), nn.Linear(inputs, h), nn.LeakyReLU(), nn.BatchNorm1d(h),
            nn.Dropout(p), nn.Linear(h, h), nn.Linear(h, h), _NormalHead(h, z))
        self.decoder_net = nn.Sequential(
            nn.Linear(z, h), nn.LeakyReLU(), nn.Dropout(p), nn.Linear(h, h), nn.LeakyReLU(), nn.Linear(h, outputs),
            _Rotations(shape.decoder_output))

    @property
    def latent_size(self) -> int:
        return self.shape.latent_size

    def encode(self, body_pose: torch.Tensor) -> torch.distributions.Normal:
        """Posterior q(z | pose) for body pose axis-angle (B, 63)."""
        if self.shape.encoder_input == "rotmat":
            inputs = roma.rotvec_to_rotmat(body_pose.reshape(-1, NUM_BODY_JOINTS, 3))
        else:
            inputs = body_pose
        mu, scale = self.encoder_net(inputs)
        return torch.distributions.Normal(mu, scale)

    def decode_rotmats(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, J, 3, 3) decoded rotations (raw matrices for the 'matrix' decoder)."""
        return self.decoder_net(latent)

    def decode_rotations(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, J, 3, 3) rotations; raw matrices are projected onto rotations."""
        rotations = self.decode_rotmats(latent)
        if self.shape.decoder_output == "matrix":
            rotations = roma.special_procrustes(rotations)
        return rotations

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, 63) body pose axis-angle."""
        return roma.rotmat_to_rotvec(self.decode_rotations(latent)).reshape(latent.shape[0], -1)

    def forward(self, body_pose: torch.Tensor) -> tuple[torch.Tensor, torch.distributions.Normal]:
        """Reconstructed rotations (B, J, 3, 3) and the posterior, sampling z while training."""
        posterior = self.encode(body_pose)
        latent = posterior.rsample() if self.training else posterior.mean
        return self.decode_rotmats(latent), posterior
