"""The pieces of an SMPL-X-format model, computed from sampled meshes with numpy alone:
shape PCA, expression basis, joint regressor, merged skinning weights and the vertex
order that smplx's fixed keypoint ids need.

Shapes: S samples, V vertices, J joints, A actions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _fix_signs(components: np.ndarray) -> np.ndarray:
    """Flip each row so that its largest-magnitude entry is positive (SVD signs are
    arbitrary and may differ between BLAS builds). A left-right symmetric component has two
    mirrored extremes of equal size and opposite sign: ties within 1e-6 of the largest go to
    the lowest index, so that round-off cannot pick the other one."""
    magnitude = np.abs(components)
    near_top = magnitude >= magnitude.max(axis=1, keepdims=True) * (1 - 1e-6)
    signs = np.sign(components[np.arange(len(components)), near_top.argmax(axis=1)])
    return components * signs[:, None]


@dataclass
class ShapeSpace:
    """``mean`` (V, 3); ``directions`` (V, 3, K), scaled so that betas ~ N(0, I) over the
    samples; the variance each keeps and the held-out reconstruction error."""

    mean: np.ndarray
    directions: np.ndarray
    variance_explained: float
    heldout_error_mean_mm: float
    heldout_error_max_mm: float


def shape_pca(train: np.ndarray, heldout: np.ndarray, count: int) -> ShapeSpace:
    """PCA of training meshes (S, V, 3); the error is measured on ``heldout`` (S', V, 3)."""
    flat = train.reshape(len(train), -1)
    mean = flat.mean(axis=0)
    _, singular, components = np.linalg.svd(flat - mean, full_matrices=False)
    variance = singular ** 2
    basis = _fix_signs(components[:count])  # (K, 3V)
    std = singular[:count] / np.sqrt(len(train) - 1)
    test = heldout.reshape(len(heldout), -1) - mean
    recon = (test @ basis.T) @ basis
    error = np.linalg.norm((test - recon).reshape(len(heldout), -1, 3), axis=-1) * 1000
    directions = (basis * std[:, None]).T.reshape(-1, 3, count)
    return ShapeSpace(mean.reshape(-1, 3), directions,
                      float(variance[:count].sum() / variance.sum()),
                      float(error.mean()), float(error.max()))


def expression_basis(displacements: np.ndarray, probability: float, count: int
                     ) -> tuple[np.ndarray, float]:
    """Expression directions (V, 3, K) from per-action displacements (A, V, 3).

    Actions are on independently with ``probability``, at a uniform strength in [0, 1]; the
    directions are the principal axes of the resulting displacements' second moment, scaled
    so that a coefficient of 1 is one standard deviation. Also returns the share of the
    second moment the ``count`` directions keep.
    """
    actions = len(displacements)
    p = probability
    moment = np.full((actions, actions), (p / 2) ** 2)
    np.fill_diagonal(moment, p / 3)
    factor = np.linalg.cholesky(moment)  # moment = L L^T
    flat = displacements.reshape(actions, -1)
    _, singular, components = np.linalg.svd(factor.T @ flat, full_matrices=False)
    dirs = (_fix_signs(components[:count]) * singular[:count, None]).T.reshape(-1, 3, count)
    return dirs, float((singular[:count] ** 2).sum() / (singular ** 2).sum())


def fit_joint_regressor(vertices: np.ndarray, joints: np.ndarray, candidates: int,
                        ridge: float = 1e-4) -> np.ndarray:
    """(J, V) weights summing to one per joint, each over the ``candidates`` vertices nearest
    that joint on the mean mesh, fitted by ridge-regularised least squares over the samples
    vertices (S, V, 3) -> joints (S, J, 3).

    smplx applies the regressor to shaped rest meshes only, so the weights need to follow
    shape, not pose; signed weights track joints deep inside the body (the spine sits
    centimetres behind the skin it is nearest to), which convex ones cannot.
    """
    mean_vertices = vertices.mean(axis=0)
    regressor = np.zeros((joints.shape[1], vertices.shape[1]))
    sum_weight = 10.0  # row enforcing sum(w) = 1, in metres-equivalent units
    for j in range(joints.shape[1]):
        distance = np.linalg.norm(mean_vertices - joints[:, j].mean(axis=0), axis=1)
        near = np.argsort(distance)[:candidates]
        design = vertices[:, near].transpose(0, 2, 1).reshape(-1, candidates)  # (3S, C)
        design = np.vstack([design, np.sqrt(ridge) * np.eye(candidates),
                            np.full((1, candidates), sum_weight)])
        target = np.concatenate([joints[:, j].reshape(-1), np.full(candidates, np.sqrt(ridge) / candidates),
                                 [sum_weight]])
        weights = np.linalg.lstsq(design, target, rcond=None)[0]
        regressor[j, near] = weights / weights.sum()
    return regressor


def merge_skinning(bone_weights: np.ndarray, bone_indices: np.ndarray,
                   bone_to_joint: np.ndarray, num_joints: int) -> np.ndarray:
    """Skinning weights (V, J): each bone's weight (V, N slots, with bone ``indices``) goes
    to the joint ``bone_to_joint[bone]``; rows are renormalised to one."""
    merged = np.zeros((len(bone_weights), num_joints))
    rows = np.repeat(np.arange(len(bone_weights)), bone_weights.shape[1])
    np.add.at(merged, (rows, bone_to_joint[bone_indices.reshape(-1)]), bone_weights.reshape(-1))
    return merged / merged.sum(axis=1, keepdims=True)


def vertex_order(num_vertices: int, placements: dict[int, int]) -> np.ndarray:
    """New vertex order (V,): ``order[new] = old``, with each ``placements[new] = old``
    honoured and every other vertex kept in its old relative order."""
    order = np.full(num_vertices, -1)
    taken = np.zeros(num_vertices, bool)
    for new, old in placements.items():
        if taken[old]:
            raise ValueError(f"vertex {old} is asked for at two ids")
        order[new] = old
        taken[old] = True
    order[order < 0] = np.flatnonzero(~taken)
    return order
