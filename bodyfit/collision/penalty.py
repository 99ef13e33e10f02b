"""A differentiable penetration penalty over intersecting triangle pairs.

For a pair (A, B), each vertex of A that lies behind B (on the inner side of B's outward
normal) is penalised by its depth behind B's plane, squared, weighted by a cone-shaped
falloff around B's normal axis: 1 on the axis through B's centroid, 0 at ``cone_scale``
times B's circumradius from it. The same for B's vertices against A. The gradient moves
intruding vertices out along the receiving triangle's normal and the receiving triangle
back, as SMPLify-X's conic distance field does; unlike it, the penalty is exactly zero once
the vertices are out, so it does not push apart surfaces that merely touch.

Shapes: B meshes, P pairs.
"""
from __future__ import annotations

import torch

from bodyfit.collision.search import TrianglePairs


def _one_way(intruder: torch.Tensor, receiver: torch.Tensor, cone_scale: float) -> torch.Tensor:
    """(P,) penalty of the intruder triangles' vertices (P, 3, 3) against the receivers."""
    centroid = receiver.mean(dim=1, keepdim=True)
    normal = torch.linalg.cross(receiver[:, 1] - receiver[:, 0], receiver[:, 2] - receiver[:, 0])
    normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    radius = (receiver - centroid).norm(dim=-1).amax(dim=1, keepdim=True)
    offset = intruder - centroid
    height = (offset * normal[:, None]).sum(-1)  # > 0 in front of the receiver, < 0 behind
    radial = (offset - height[..., None] * normal[:, None]).norm(dim=-1)
    falloff = torch.clamp(1.0 - radial / (cone_scale * radius), min=0.0)
    depth = torch.clamp(-height, min=0.0)
    return (falloff * depth ** 2).sum(dim=1)


def penetration_penalty(vertices: torch.Tensor, faces: torch.Tensor, pairs: TrianglePairs,
                        cone_scale: float = 2.0, unit: float = 1e-3) -> torch.Tensor:
    """(B,) summed penalty of each mesh's intersecting ``pairs``; depths are measured in
    ``unit`` metres (1e-3: millimetres)."""
    batch = vertices.shape[0]
    if len(pairs) == 0:
        return vertices.sum(dim=(1, 2)) * 0.0  # zero, but still part of the graph
    scaled = vertices / unit
    first = scaled[pairs.batch[:, None], faces[pairs.first]]
    second = scaled[pairs.batch[:, None], faces[pairs.second]]
    per_pair = _one_way(first, second, cone_scale) + _one_way(second, first, cone_scale)
    return vertices.new_zeros(batch).index_add(0, pairs.batch, per_pair)
