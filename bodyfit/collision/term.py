"""The self-collision term of the fitting objective: find the intersecting triangle pairs of
the posed meshes, then penalise them (``collision.penalty``).

The pair search is not differentiable and costs more than the penalty, so it is redone only
for problems whose mesh moved more than ``reuse_below`` metres (any vertex) since their last
search; the others keep their pairs. The penalty is always computed on the current
vertices.

Shapes: B meshes, V vertices.
"""
from __future__ import annotations

import torch

from bodyfit.bodymodels.layer import BodyModel
from bodyfit.bodymodels.joints import joint_names
from bodyfit.collision.config import CollisionConfig
from bodyfit.collision.penalty import penetration_penalty
from bodyfit.collision.search import PairRules, TrianglePairs, find_collisions
from bodyfit.collision.segmentation import allowed_part_pairs, face_parts


def model_pair_rules(model: BodyModel, config: CollisionConfig) -> PairRules:
    """Part rules of ``model`` from its skinning weights and kinematic tree (touching pairs
    that name joints the model lacks, such as SMPL's jaw, are dropped)."""
    smpl = model.smpl
    parents = smpl.parents.tolist()
    names = joint_names(model.model_type)
    touching = [pair for pair in config.touching_parts if all(name in names for name in pair)]
    allowed = allowed_part_pairs(parents, names, touching, config.ignore_siblings)
    parts = face_parts(smpl.lbs_weights.detach().cpu().numpy(), model.faces)
    device = smpl.v_template.device
    return PairRules(torch.as_tensor(model.faces, device=device), torch.as_tensor(parts, device=device),
                     torch.as_tensor(allowed, device=device))


class SelfCollision:
    """``term(vertices, ids)`` -> (B,) penetration penalty of each mesh. ``ids`` (B,) names
    the problem each row belongs to (an optimiser may evaluate any subset of its problems, in
    any order); the pairs found for a problem are reused while its mesh stays within
    ``reuse_below`` of where they were searched."""

    def __init__(self, model: BodyModel, config: CollisionConfig) -> None:
        self.config = config
        self.rules = model_pair_rules(model, config)
        self.searched_meshes = 0
        self.reset()

    def reset(self) -> None:
        """Forget every problem's pairs (a new batch of problems)."""
        self._vertices: torch.Tensor | None = None  # (N, V, 3) where each problem was searched
        self._searched: torch.Tensor | None = None  # (N,) bool
        self._pairs: TrianglePairs | None = None    # batch = problem id

    def _grow(self, count: int, like: torch.Tensor) -> None:
        if self._vertices is not None and len(self._vertices) >= count:
            return
        vertices = like.new_zeros((count,) + tuple(like.shape[1:]))
        searched = torch.zeros(count, dtype=torch.bool, device=like.device)
        if self._vertices is not None:
            vertices[: len(self._vertices)] = self._vertices
            searched[: len(self._searched)] = self._searched
        else:
            empty = torch.zeros(0, dtype=torch.long, device=like.device)
            self._pairs = TrianglePairs(empty, empty, empty)
        self._vertices, self._searched = vertices, searched

    def pairs(self, vertices: torch.Tensor, ids: torch.Tensor | None = None) -> TrianglePairs:
        """Intersecting pairs of ``vertices`` (B, V, 3), ``batch`` indexing its rows:
        searched anew for the problems that moved, reused for the others."""
        vertices = vertices.detach()
        if ids is None:
            ids = torch.arange(len(vertices), device=vertices.device)
        self._grow(int(ids.max()) + 1, vertices)
        moved = ~self._searched[ids]
        if self.config.reuse_below > 0:
            drift = (vertices - self._vertices[ids]).norm(dim=-1).amax(dim=-1)
            moved |= drift > self.config.reuse_below
        else:
            moved[:] = True
        if bool(moved.any()):
            rows = moved.nonzero().squeeze(1)
            found = find_collisions(vertices[rows], self.rules, self.config.cell_size,
                                    self.config.max_pairs_per_triangle)
            self.searched_meshes += len(rows)
            redone = torch.zeros(len(self._searched), dtype=torch.bool, device=vertices.device)
            redone[ids[rows]] = True
            kept = ~redone[self._pairs.batch]
            self._pairs = TrianglePairs(torch.cat([self._pairs.batch[kept], ids[rows][found.batch]]),
                                        torch.cat([self._pairs.first[kept], found.first]),
                                        torch.cat([self._pairs.second[kept], found.second]))
            self._vertices[ids[rows]] = vertices[rows]
            self._searched[ids[rows]] = True
        position = torch.full((len(self._searched),), -1, dtype=torch.long, device=vertices.device)
        position[ids] = torch.arange(len(ids), device=vertices.device)
        row = position[self._pairs.batch]
        mine = row >= 0
        return TrianglePairs(row[mine], self._pairs.first[mine], self._pairs.second[mine])

    def __call__(self, vertices: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        return penetration_penalty(vertices, self.rules.faces, self.pairs(vertices, ids), self.config.cone_scale,
                                   self.config.depth_unit)
