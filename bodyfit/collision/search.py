"""Finding self-intersecting triangle pairs of posed meshes, batched, in plain torch (any
device).

Broad phase: only triangles whose box meets the box of a part they may collide with take
part; each is entered in every cell of a uniform grid that its box touches; entries are
sorted by (mesh, cell, part), and triangles of different parts sharing a cell become
candidates, filtered by part rules (``collision.segmentation``), box overlap and shared
vertices.
Narrow phase: an exact test, two triangles intersect when an edge of one crosses the other.
At most ``max_pairs_per_triangle`` pairs are kept per triangle, as in SMPLify-X.

Shapes: B meshes, F triangles, P pairs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TrianglePairs:
    """Intersecting pairs: ``batch`` (P,), ``first`` (P,), ``second`` (P,) triangle indices
    with ``first < second``."""

    batch: torch.Tensor
    first: torch.Tensor
    second: torch.Tensor

    def __len__(self) -> int:
        return int(self.batch.numel())

    def counts(self, batch_size: int) -> torch.Tensor:
        """(B,) pairs per mesh."""
        return torch.bincount(self.batch, minlength=batch_size)


class PairRules:
    """Which triangle pairs may count: different allowed parts and no shared vertex."""

    def __init__(self, faces: torch.Tensor, parts: torch.Tensor, allowed: torch.Tensor) -> None:
        self.faces, self.parts, self.allowed = faces, parts, allowed

    def parts_may_collide(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return self.allowed[self.parts[first], self.parts[second]]

    def share_no_vertex(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return ~(self.faces[first][:, :, None] == self.faces[second][:, None, :]).flatten(1).any(1)


def near_other_parts(lo: torch.Tensor, hi: torch.Tensor, rules: PairRules, chunk: int = 8) -> torch.Tensor:
    """(B, F): triangles whose box overlaps the box of a part they may collide with. Only
    these enter the grid."""
    batch, faces = lo.shape[:2]
    parts = rules.parts
    count = rules.allowed.shape[0]
    index = parts[None, :, None].expand(batch, faces, 3)
    part_lo = torch.full((batch, count, 3), float("inf"), dtype=lo.dtype, device=lo.device)
    part_hi = torch.full((batch, count, 3), float("-inf"), dtype=lo.dtype, device=lo.device)
    part_lo = part_lo.scatter_reduce(1, index, lo, "amin")
    part_hi = part_hi.scatter_reduce(1, index, hi, "amax")
    may_hit = rules.allowed[parts]  # (F, J)
    near = torch.zeros(batch, faces, dtype=torch.bool, device=lo.device)
    for start in range(0, batch, chunk):
        rows = slice(start, start + chunk)
        overlap = may_hit[None].expand(lo[rows].shape[0], -1, -1).clone()
        for axis in range(3):
            overlap &= lo[rows, :, None, axis] <= part_hi[rows, None, :, axis]
            overlap &= part_lo[rows, None, :, axis] <= hi[rows, :, None, axis]
        near[rows] = overlap.any(dim=-1)
    return near


def _cell_entries(mesh: torch.Tensor, triangle: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor,
                  cell: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sorted (key, mesh, triangle) entries, one per grid cell that a triangle's box
    (``lo``, ``hi``, each (N, 3)) touches. The cell grows to the 90th percentile of the boxes'
    sizes so that few triangles span many cells."""
    extent = (hi - lo).amax(dim=-1)
    cell = max(cell, float(torch.quantile(extent.float(), 0.9)) if len(extent) else cell)
    origin = lo.amin(dim=0, keepdim=True)
    first = torch.floor((lo - origin) / cell).long()
    last = torch.floor((hi - origin) / cell).long()
    size = int(last.max()) + 2
    span = last - first + 1  # (N, 3) cells per axis
    count = span.prod(dim=-1)
    owner = torch.repeat_interleave(torch.arange(len(lo), device=lo.device), count)
    local = torch.arange(len(owner), device=lo.device) - (torch.cumsum(count, 0) - count)[owner]
    sy, sz = span[owner, 1], span[owner, 2]
    offset = torch.stack([local // (sy * sz), (local // sz) % sy, local % sz], dim=-1)
    c = first[owner] + offset
    key = ((mesh[owner] * size + c[:, 0]) * size + c[:, 1]) * size + c[:, 2]
    order = torch.argsort(key)
    return key[order], mesh[owner][order], triangle[owner][order]


def candidate_pairs(triangles: torch.Tensor, rules: PairRules, cell: float) -> TrianglePairs:
    """Pairs of triangles (B, F, 3, 3) that share a grid cell, pass ``rules`` and whose
    bounding boxes overlap; each pair once."""
    empty = torch.zeros(0, dtype=torch.long, device=triangles.device)
    lo, hi = triangles.amin(dim=2), triangles.amax(dim=2)
    mesh, tri = near_other_parts(lo, hi, rules).nonzero(as_tuple=True)
    if len(mesh) < 2:
        return TrianglePairs(empty, empty, empty)
    key, mesh, tri = _cell_entries(mesh, tri, lo[mesh, tri], hi[mesh, tri], cell)
    # Within a cell, order the entries by part; an entry pairs with the entries after its own
    # part's run up to the end of the cell, so that pairs of one part are never formed.
    part_key = key * rules.allowed.shape[0] + rules.parts[tri]
    order = torch.argsort(part_key)
    key, part_key, mesh, tri = key[order], part_key[order], mesh[order], tri[order]
    start = torch.searchsorted(part_key, part_key, right=True)
    stop = torch.searchsorted(key, key, right=True)
    counts = stop - start
    total = int(counts.sum())
    if total == 0:
        return TrianglePairs(empty, empty, empty)
    first = torch.repeat_interleave(torch.arange(len(key), device=key.device), counts)
    offsets = torch.cumsum(counts, 0) - counts
    second = start[first] + torch.arange(total, device=key.device) - offsets[first]
    b, i, j = mesh[first], tri[first], tri[second]
    # cheapest and most selective test first
    keep = rules.parts_may_collide(i, j)
    b, i, j = b[keep], i[keep], j[keep]
    keep = ((lo[b, i] <= hi[b, j]) & (lo[b, j] <= hi[b, i])).all(dim=-1)
    b, i, j = b[keep], i[keep], j[keep]
    keep = rules.share_no_vertex(i, j)
    b, i, j = b[keep], torch.minimum(i, j)[keep], torch.maximum(i, j)[keep]
    faces = triangles.shape[1]
    code = torch.unique((b * faces + i) * faces + j)  # a pair sharing several cells, once
    return TrianglePairs(code // (faces * faces), (code // faces) % faces, code % faces)


def _edges_cross(edge_start: torch.Tensor, edge_end: torch.Tensor, triangle: torch.Tensor) -> torch.Tensor:
    """(P, 3): whether each of 3 segments (P, 3, 3) crosses the triangle (P, 3, 3)."""
    a, b, c = triangle[:, None, 0], triangle[:, None, 1], triangle[:, None, 2]
    normal = torch.linalg.cross(b - a, c - a)
    d_start = ((edge_start - a) * normal).sum(-1)
    d_end = ((edge_end - a) * normal).sum(-1)
    crosses_plane = (d_start * d_end < 0)
    t = d_start / torch.where(crosses_plane, d_start - d_end, torch.ones_like(d_start))
    point = edge_start + t[..., None] * (edge_end - edge_start)
    inside = torch.ones_like(crosses_plane)
    for p, q in ((a, b), (b, c), (c, a)):
        inside &= (torch.linalg.cross(q - p, point - p) * normal).sum(-1) >= 0
    return crosses_plane & inside


def triangles_intersect(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """(P,) exact test for triangle pairs (P, 3, 3), non-coplanar ones (a coplanar touch does
    not count)."""
    roll = [1, 2, 0]
    first_edges = _edges_cross(first, first[:, roll], second).any(dim=1)
    second_edges = _edges_cross(second, second[:, roll], first).any(dim=1)
    return first_edges | second_edges


def cap_per_triangle(pairs: TrianglePairs, faces: int, cap: int) -> TrianglePairs:
    """At most ``cap`` pairs per (mesh, first triangle)."""
    owner = pairs.batch * faces + pairs.first
    order = torch.argsort(owner, stable=True)
    owner_sorted = owner[order]
    start = torch.searchsorted(owner_sorted, owner_sorted, right=False)
    rank = torch.arange(len(owner_sorted), device=owner.device) - start
    keep = order[rank < cap]
    keep = keep.sort().values
    return TrianglePairs(pairs.batch[keep], pairs.first[keep], pairs.second[keep])


@torch.no_grad()
def find_collisions(vertices: torch.Tensor, rules: PairRules, cell: float,
                    max_pairs_per_triangle: int = 128) -> TrianglePairs:
    """Intersecting triangle pairs of meshes ``vertices`` (B, V, 3) with ``rules.faces``."""
    triangles = vertices[:, rules.faces]
    candidates = candidate_pairs(triangles, rules, cell)
    if len(candidates) == 0:
        return candidates
    hit = triangles_intersect(triangles[candidates.batch, candidates.first],
                              triangles[candidates.batch, candidates.second])
    pairs = TrianglePairs(candidates.batch[hit], candidates.first[hit], candidates.second[hit])
    return cap_per_triangle(pairs, triangles.shape[1], max_pairs_per_triangle)
