"""Points from several calibrated views: confidence-weighted linear triangulation (DLT in
normalised camera coordinates), and a robust version that drops, point by point, the views
that disagree with the others.

Shapes: V views, K points.
"""
from __future__ import annotations

import numpy as np

from bodyfit.fileio.cameras import Camera


def normalised(camera: Camera, pixels: np.ndarray) -> np.ndarray:
    """(..., 2) undistorted ``pixels`` as normalised image coordinates (K^-1 applied)."""
    k = camera.matrix
    return np.stack([(pixels[..., 0] - k[0, 2]) / k[0, 0], (pixels[..., 1] - k[1, 2]) / k[1, 1]], axis=-1)


def triangulate(cameras: list[Camera], pixels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(K, 3) world points from undistorted ``pixels`` (V, K, 2) weighted by ``weights``
    (V, K) (0: not seen); NaN where fewer than two views see a point."""
    extrinsics = np.stack([np.column_stack([c.rotation, c.translation]) for c in cameras])  # (V, 3, 4)
    coords = np.stack([normalised(c, p) for c, p in zip(cameras, pixels)])  # (V, K, 2)
    rows = coords[..., None] * extrinsics[:, None, 2:3, :] - extrinsics[:, None, :2, :]  # (V, K, 2, 4)
    rows = rows * weights[..., None, None]
    system = rows.transpose(1, 0, 2, 3).reshape(pixels.shape[1], -1, 4)  # (K, 2V, 4)
    _, _, vt = np.linalg.svd(system)
    homogeneous = vt[:, -1]
    points = homogeneous[:, :3] / np.where(np.abs(homogeneous[:, 3:]) < 1e-12, np.nan, homogeneous[:, 3:])
    points[(weights > 0).sum(0) < 2] = np.nan
    return points


def reprojection_errors(cameras: list[Camera], points: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """(V, K) pixel distance between each view's undistorted ``pixels`` (V, K, 2) and the
    pinhole projection of ``points`` (K, 3) (NaN where a point is NaN)."""
    return np.stack([np.linalg.norm(c.project_pinhole(points) - p, axis=-1) for c, p in zip(cameras, pixels)])


def triangulate_robust(cameras: list[Camera], pixels: np.ndarray, weights: np.ndarray,
                       threshold_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangulation that a wrong view cannot drag: per point, every pair of views that see it
    is triangulated, the pair that most views agree with (reprojection within their
    ``threshold_px`` (V,); ties: the smaller summed error) wins, and the point is triangulated
    again from those views alone. Returns the points (K, 3) (NaN where no two views agree) and
    the weights used (V, K)."""
    views, count = weights.shape
    seen = weights > 0
    best_inliers = np.zeros(count, dtype=int)
    best_error = np.full(count, np.inf)
    best_mask = np.zeros((views, count), dtype=bool)
    for a in range(views):
        for b in range(a + 1, views):
            pair = np.zeros_like(weights)
            pair[[a, b]] = weights[[a, b]]
            errors = reprojection_errors(cameras, triangulate(cameras, pixels, pair), pixels)
            inlier = seen & (np.nan_to_num(errors, nan=np.inf) < threshold_px[:, None])
            inliers = inlier.sum(0)
            error = np.where(inlier, errors, 0.0).sum(0)
            better = (inliers >= 2) & ((inliers > best_inliers) | ((inliers == best_inliers) & (error < best_error)))
            best_inliers[better], best_error[better] = inliers[better], error[better]
            best_mask[:, better] = inlier[:, better]
    used = np.where(best_mask, weights, 0.0)
    return triangulate(cameras, pixels, used), used


def ray_angles(cameras: list[Camera], points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(K,) degrees: per point (K, 3), the widest angle between the rays of two views that
    triangulated it (``weights`` (V, K) > 0); 0 where fewer than two did. Near 0 or 180 the
    point is poorly fixed along the rays (two cameras facing each other, or side by side)."""
    rays = np.stack([points - camera.center for camera in cameras])  # (V, K, 3)
    rays /= np.maximum(np.linalg.norm(rays, axis=-1, keepdims=True), 1e-12)
    cosine = np.einsum("vki,wki->vwk", rays, rays)
    used = (weights > 0)[:, None] & (weights > 0)[None]
    sine = np.sqrt(np.clip(1.0 - cosine ** 2, 0.0, 1.0))  # 90 degrees is best; 0 and 180 are both blind
    sine = np.where(used & np.isfinite(sine), sine, 0.0)
    return np.degrees(np.arcsin(sine.max((0, 1))))
