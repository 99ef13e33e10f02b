"""VPoser's training losses and evaluation measures; each returns per-sample values (B,).

Shapes: B batch, J joints.
"""
from __future__ import annotations

import torch


def kl_to_standard_normal(posterior: torch.distributions.Normal) -> torch.Tensor:
    """(B,) KL(q(z|R) || N(0, I)), summed over latent dimensions."""
    mu, scale = posterior.mean, posterior.stddev
    return 0.5 * (scale.pow(2) + mu.pow(2) - 1.0 - 2.0 * torch.log(scale)).sum(dim=-1)


def reconstruction(rotations: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
    """(B,) sum over joints of ||R - R_hat||_F^2; (B, J, 3, 3) each."""
    return (rotations - decoded).pow(2).sum(dim=(-1, -2, -3))


def rotation_validity(decoded: torch.Tensor) -> torch.Tensor:
    """(B,) sum over joints of ||R_hat R_hat^T - I||_F^2 + |det(R_hat) - 1|: zero exactly for
    rotation matrices."""
    eye = torch.eye(3, dtype=decoded.dtype, device=decoded.device)
    orthogonality = (decoded @ decoded.transpose(-1, -2) - eye).pow(2).sum(dim=(-1, -2))
    return (orthogonality + (torch.linalg.det(decoded) - 1.0).abs()).sum(dim=-1)


def geodesic_degrees(rotations: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
    """(B, J) angle of R^T R_hat in degrees (decoded projected onto rotations first)."""
    import roma

    relative = rotations.transpose(-1, -2) @ roma.special_procrustes(decoded)
    cosine = ((relative.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.acos(cosine))
