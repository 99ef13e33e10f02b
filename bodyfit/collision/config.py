"""Settings of the self-collision term (``collision:`` in ``cfg/fit_*.yaml``)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CollisionConfig:
    """How collisions are found and penalised (``collision:`` in ``cfg/fit_*.yaml``)."""

    enabled: bool = False
    touching_parts: tuple[tuple[str, str], ...] = (
        ("spine3", "left_shoulder"), ("spine3", "right_shoulder"), ("spine2", "left_shoulder"),
        ("spine2", "right_shoulder"), ("left_hip", "right_hip"), ("neck", "jaw"))
    ignore_siblings: bool = False
    cell_size: float = 0.02
    max_pairs_per_triangle: int = 128
    cone_scale: float = 2.0
    depth_unit: float = 1e-3
    reuse_below: float = 0.01

    def __post_init__(self) -> None:
        if self.cell_size <= 0 or self.cone_scale <= 0 or self.depth_unit <= 0:
            raise ValueError("collision: cell_size, cone_scale and depth_unit must be positive")
        if self.reuse_below < 0 or self.max_pairs_per_triangle < 1:
            raise ValueError("collision: reuse_below must be >= 0 and max_pairs_per_triangle at least 1")
