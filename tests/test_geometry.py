"""bodyfit.geometry against written-out oracles: the pinhole formula with its depth floor, a
naive numpy Umeyama for the similarity Procrustes, and the error conventions (per sample,
mean over joints, root alignment)."""
from __future__ import annotations

import numpy as np
import pytest
import roma
import torch

from bodyfit.geometry import DEPTH_FLOOR, mpjpe, pa_mpjpe, procrustes_align, project, project_numpy


def umeyama_numpy(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(N, 3) ``predicted`` moved by the best similarity onto ``target`` (N, 3), written out."""
    mu_p, mu_t = predicted.mean(0), target.mean(0)
    p, t = predicted - mu_p, target - mu_t
    u, s, vt = np.linalg.svd(p.T @ t)
    correction = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    scale = (s * np.diag(correction)).sum() / (p ** 2).sum()
    return scale * p @ (u @ correction @ vt) + mu_t


def test_projection_is_the_pinhole_formula_with_a_depth_floor():
    f64 = torch.float64
    points = torch.tensor([[[0.5, -0.2, 4.0], [0.1, 0.1, 0.0], [0.1, 0.1, -2.0]]], dtype=f64)
    intrinsics = torch.tensor([[1000.0, 900.0, 320.0, 240.0]], dtype=f64)
    pixels = project(points, intrinsics)
    assert torch.allclose(pixels[0, 0], torch.tensor([320 + 1000 * 0.125, 240 - 900 * 0.05], dtype=f64))
    floored = torch.tensor([320 + 1000 * 0.1 / DEPTH_FLOOR, 240 + 900 * 0.1 / DEPTH_FLOOR], dtype=f64)
    assert torch.allclose(pixels[0, 1], floored) and torch.allclose(pixels[0, 2], floored)
    assert np.array_equal(project_numpy(points[0].numpy(), intrinsics[0].numpy()), pixels[0].numpy())


def test_projection_keeps_leading_axes_and_refuses_bad_shapes():
    points = torch.rand(2, 3, 5, 3) + torch.tensor([0.0, 0.0, 1.0])
    intrinsics = torch.rand(2, 3, 4) + 1.0
    pixels = project(points, intrinsics)
    assert pixels.shape == (2, 3, 5, 2)
    assert torch.equal(pixels[1, 2], project(points[1, 2][None], intrinsics[1, 2][None])[0])
    with pytest.raises(ValueError, match=r"points must be \(\.\.\., K, 3\), got \(5, 2\)"):
        project(torch.zeros(5, 2), torch.zeros(4))
    with pytest.raises(ValueError, match=r"intrinsics must be \(\.\.\., 4\)"):
        project(torch.zeros(2, 5, 3), torch.zeros(2, 3))


def test_procrustes_matches_a_naive_umeyama_and_undoes_a_similarity():
    rng = np.random.default_rng(0)
    predicted, target = rng.normal(size=(4, 25, 3)), rng.normal(size=(4, 25, 3))
    aligned = procrustes_align(torch.as_tensor(predicted), torch.as_tensor(target)).numpy()
    for row in range(4):  # unrelated point sets: the reflection the alignment must refuse is near
        assert np.allclose(aligned[row], umeyama_numpy(predicted[row], target[row]), atol=1e-9)
    target = torch.as_tensor(target)
    rotation = roma.random_rotmat(4, dtype=torch.float64)
    moved = 1.7 * target @ rotation.transpose(1, 2) + torch.randn(4, 1, 3, dtype=torch.float64)
    assert torch.allclose(procrustes_align(moved, target), target, atol=1e-9)
    assert pa_mpjpe(moved, target).max() < 1e-9 and mpjpe(moved, target, root=0).min() > 0.1


def test_errors_are_per_sample_means_over_joints():
    target = torch.randn(3, 2, 22, 3, dtype=torch.float64)
    shifted = target + torch.tensor([0.3, 0.0, 0.4], dtype=torch.float64)  # 0.5 everywhere
    assert torch.allclose(mpjpe(shifted, target, root=None), torch.full((3, 2), 0.5, dtype=torch.float64))
    assert mpjpe(shifted, target, root=5).abs().max() < 1e-12
    moved = shifted.clone()
    moved[..., 7, :] += torch.tensor([0.0, 2.2, 0.0], dtype=torch.float64)  # one joint 2.2 off
    assert torch.allclose(mpjpe(moved, target, root=0), torch.full((3, 2), 2.2 / 22, dtype=torch.float64))
    assert pa_mpjpe(moved.float(), target).dtype == torch.float64  # the common precision
    with pytest.raises(ValueError, match="predicted and target must both be"):
        pa_mpjpe(torch.zeros(2, 22, 3), torch.zeros(2, 21, 3))
    with pytest.raises(ValueError, match="root must index one of the 22 joints, got 22"):
        mpjpe(target, target, root=22)
