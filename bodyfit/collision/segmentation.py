"""Body-part segmentation from a model's skinning weights, and which part pairs may collide.

Every vertex belongs to the joint that moves it most; a triangle to the joint with the
largest skinning weight summed over its three vertices. Triangles of the same part, of a part
and its parent, or of a pair of parts that touch naturally (configured by joint name) never
count as colliding. This replaces SMPLify-X's downloaded segmentation file.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def face_parts(lbs_weights: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F,) the joint with the largest summed skinning weight over each triangle's vertices;
    ``lbs_weights`` (V, J), ``faces`` (F, 3)."""
    return np.asarray(lbs_weights)[np.asarray(faces)].sum(axis=1).argmax(axis=1)


def allowed_part_pairs(parents: Sequence[int], joint_names: Sequence[str],
                       touching: Iterable[Sequence[str]], ignore_siblings: bool = False) -> np.ndarray:
    """(J, J) boolean: True where triangles of the two parts may be counted as colliding.
    Forbidden: a part with itself, with its parent (and children), the ``touching`` name pairs,
    and with ``ignore_siblings`` also parts that share a parent."""
    count = len(parents)
    allowed = ~np.eye(count, dtype=bool)
    for child, parent in enumerate(parents):
        if parent >= 0:
            allowed[child, parent] = allowed[parent, child] = False
    if ignore_siblings:
        parents_array = np.asarray(parents)
        siblings = (parents_array[:, None] == parents_array[None, :]) & (parents_array[:, None] >= 0)
        allowed &= ~siblings
    index = {name: i for i, name in enumerate(joint_names)}
    for pair in touching:
        if len(pair) != 2 or any(name not in index for name in pair):
            raise ValueError(f"collision part pair {list(pair)}: expected two of {list(joint_names)}")
        a, b = index[pair[0]], index[pair[1]]
        allowed[a, b] = allowed[b, a] = False
    return allowed
