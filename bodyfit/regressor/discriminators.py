"""HMR's adversarial priors: discriminators on the shape, on each joint's rotation and on
the whole pose, trained with least-squares GAN losses against real poses (the motion
corpus, or AMASS for users who have it) and real shapes.

Shapes: B batch, J = 21 body joints.
"""
from __future__ import annotations

import torch
from torch import nn

from bodyfit.bodymodels.joints import NUM_BODY_JOINTS
from bodyfit.regressor.model import NUM_BETAS


class ShapeDiscriminator(nn.Module):
    """betas (B, 10) -> (B, 1): 10 -> 5 -> 1."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(NUM_BETAS, 5), nn.ReLU(), nn.Linear(5, 1))

    def forward(self, betas: torch.Tensor) -> torch.Tensor:
        return self.net(betas)


class PoseDiscriminator(nn.Module):
    """Body rotations (B, J, 3, 3) -> (B, J + 1): one score per joint (a shared 1x1
    convolution 9 -> 32 -> 32, then 32 -> 1 per joint) and one for the whole pose
    (J x 32 -> 1024 -> 1024 -> 1)."""

    def __init__(self, joints: int = NUM_BODY_JOINTS) -> None:
        super().__init__()
        self.shared = nn.Sequential(nn.Conv1d(9, 32, 1), nn.ReLU(), nn.Conv1d(32, 32, 1), nn.ReLU())
        self.per_joint = nn.Conv1d(32 * joints, joints, 1, groups=joints)  # joint j: its own 32 -> 1
        self.whole = nn.Sequential(nn.Linear(32 * joints, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                                   nn.Linear(1024, 1))

    def forward(self, rotations: torch.Tensor) -> torch.Tensor:
        features = self.shared(rotations.flatten(2).transpose(1, 2))  # (B, 32, J)
        per_joint = self.per_joint(features.transpose(1, 2).reshape(len(rotations), -1, 1))[..., 0]  # (B, J)
        return torch.cat([per_joint, self.whole(features.transpose(1, 2).flatten(1))], dim=1)


class Discriminators(nn.Module):
    """Both discriminators; ``forward`` gives every score (B, J + 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.pose, self.shape = PoseDiscriminator(), ShapeDiscriminator()

    def forward(self, body_rotations: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.pose(body_rotations), self.shape(betas)], dim=1)


def generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """LSGAN: the regressor wants its outputs scored real (1)."""
    return ((fake_scores - 1.0) ** 2).mean()


def discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """LSGAN: real samples scored 1, the regressor's 0."""
    return ((real_scores - 1.0) ** 2).mean() + (fake_scores ** 2).mean()
