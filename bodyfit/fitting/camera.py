"""Pinhole cameras: the translation initialisation (intrinsics per image:
``fileio.intrinsics``; projection and the camera frame: ``bodyfit.geometry``).

Frame: OpenCV axes (x right, y down, z forward, metres), principal point at the image
centre unless a sidecar says otherwise. The camera sits at the origin with no rotation; the
body is placed by its global orientation and translation.

Shapes: B batch, K keypoints.
"""
from __future__ import annotations

import torch



def similar_triangles_translation(
    model_points: torch.Tensor, observed: torch.Tensor, visible: torch.Tensor,
    edges: list[tuple[int, int]], intrinsics: torch.Tensor,
) -> torch.Tensor:
    """SMPLify-X's initial translation (B, 3).

    Depth = f * mean(3D length / 2D length) over the ``edges`` (keypoint index pairs) seen
    in 2D, measured on ``model_points`` (B, K, 3), the mean-shape body already oriented; x and
    y then put the centroid of the edges' seen endpoints on its observed pixel (SMPLify-X
    leaves them at 0 for the camera stage to find). ``observed`` (B, K, 2), ``visible``
    (B, K) bool.
    """
    starts = torch.tensor([a for a, _ in edges])
    ends = torch.tensor([b for _, b in edges])
    length_3d = (model_points[:, starts, :2] - model_points[:, ends, :2]).norm(dim=-1)
    length_2d = (observed[:, starts] - observed[:, ends]).norm(dim=-1)
    ok = visible[:, starts] & visible[:, ends] & (length_2d > 1.0)
    focal = intrinsics[:, :2].mean(dim=1)
    ratio = torch.where(ok, length_3d / length_2d.clamp(min=1.0), torch.zeros_like(length_2d))
    depth = focal * ratio.sum(1) / ok.sum(1).clamp(min=1)
    used = torch.zeros_like(visible)
    used[:, starts] |= ok
    used[:, ends] |= ok
    weights = used.float() / used.float().sum(1, keepdim=True).clamp(min=1)
    centre_2d = (observed * weights[..., None]).sum(1)
    centre_3d = (model_points * weights[..., None]).sum(1)
    xy = (centre_2d - intrinsics[:, 2:]) / intrinsics[:, :2] * depth[:, None] - centre_3d[:, :2]
    return torch.cat([xy, (depth - centre_3d[:, 2])[:, None]], dim=1)


def least_squares_translation(
    model_points: torch.Tensor, observed: torch.Tensor, weights: torch.Tensor, intrinsics: torch.Tensor,
    fallback: torch.Tensor,
) -> torch.Tensor:
    """SPIN's closed-form initial translation (B, 3): the t that minimises the weighted
    squared reprojection error of ``model_points`` (B, K, 3) + t, linearised by multiplying
    through by depth: for each point, fx (X + tx) - (u - cx) (Z + tz) = 0 and the same in y.
    ``weights`` (B, K) (0 = unused); rows with fewer than two weighted points, or whose
    solution puts the body behind the camera, keep ``fallback`` (B, 3)."""
    fx, fy, cx, cy = (intrinsics[:, i, None] for i in range(4))
    u = observed[..., 0] - cx
    v = observed[..., 1] - cy
    x, y, z = model_points.unbind(-1)
    zeros = torch.zeros_like(u)
    # rows: [fx, 0, -u] t = u z - fx x ; [0, fy, -v] t = v z - fy y
    a = torch.cat([torch.stack([fx.expand_as(u), zeros, -u], -1), torch.stack([zeros, fy.expand_as(v), -v], -1)], 1)
    b = torch.cat([u * z - fx * x, v * z - fy * y], 1)
    w = torch.cat([weights, weights], 1)
    normal = (a * w[..., None]).transpose(1, 2) @ a
    rhs = ((a * w[..., None]).transpose(1, 2) @ b[..., None]).squeeze(-1)
    enough = (weights > 0).sum(1) >= 2
    eye = torch.eye(3, dtype=a.dtype, device=a.device)
    solution = torch.linalg.solve(torch.where(enough[:, None, None], normal, eye), torch.where(enough[:, None], rhs, fallback))
    depth = solution[:, 2] + (model_points[..., 2] * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    ok = enough & (depth > 0.1) & torch.isfinite(solution).all(1)
    return torch.where(ok[:, None], solution, fallback)
