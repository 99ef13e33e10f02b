"""How faithfully a retargeted SMPL-X clip follows its BVH source: joint distances with the
difference in body proportions taken out.

Both skeletons are reduced to the same 15 joints (``POINTS``: hips, knees, ankles, feet (ball
of the foot), shoulders, elbows, wrists, head) plus two midpoints (hips, shoulders), joined by
the 16 segments in ``SEGMENTS``. The *length-normalised error* rebuilds both skeletons from the
hip midpoint with the same segment lengths (SMPL-X neutral's at rest) along each skeleton's own
segment directions in that frame, and takes the mean distance of the 15 joints: it measures
only where the segments point, in millimetres on a SMPL-X-sized body. The *raw error* is the mean
distance after scaling the BVH to SMPL-X's size and putting the hip midpoints together: it also
counts the two skeletons' different proportions and joint placements.

Shapes: F frames, K = 15 compared joints, P = 17 points (K and the two midpoints).
"""
from __future__ import annotations

import numpy as np

from bodyfit.bodymodels.joints import SMPLX_JOINT

POINTS = ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_foot",
          "right_foot", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
          "right_wrist", "head")
_ALL = POINTS + ("hip_mid", "shoulder_mid")
_SEGMENT_NAMES = (("hip_mid", "left_hip"), ("hip_mid", "right_hip"), ("left_hip", "left_knee"),
                  ("right_hip", "right_knee"), ("left_knee", "left_ankle"), ("right_knee", "right_ankle"),
                  ("left_ankle", "left_foot"), ("right_ankle", "right_foot"), ("hip_mid", "shoulder_mid"),
                  ("shoulder_mid", "left_shoulder"), ("shoulder_mid", "right_shoulder"),
                  ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"),
                  ("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"), ("shoulder_mid", "head"))
SEGMENTS = tuple((_ALL.index(a), _ALL.index(b)) for a, b in _SEGMENT_NAMES)  # parents come first
SMPLX_POINT_INDICES = np.array([SMPLX_JOINT[name] for name in POINTS])


def with_midpoints(points: np.ndarray) -> np.ndarray:
    """(F, P, 3) the compared joints (F, K, 3) followed by the hip and shoulder midpoints."""
    hips = 0.5 * (points[:, POINTS.index("left_hip")] + points[:, POINTS.index("right_hip")])
    shoulders = 0.5 * (points[:, POINTS.index("left_shoulder")] + points[:, POINTS.index("right_shoulder")])
    return np.concatenate([points, hips[:, None], shoulders[:, None]], axis=1)


def segment_lengths(points: np.ndarray) -> np.ndarray:
    """(S,) lengths of ``SEGMENTS`` of one skeleton's compared joints (K, 3)."""
    full = with_midpoints(points[None])[0]
    return np.array([np.linalg.norm(full[b] - full[a]) for a, b in SEGMENTS])


def rebuild(points: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(F, K, 3) the compared joints (F, K, 3) rebuilt from the hip midpoint (at the origin)
    with segment ``lengths`` (S,) along their own segment directions."""
    full = with_midpoints(points)
    rebuilt = np.zeros_like(full)
    for (parent, child), length in zip(SEGMENTS, lengths):
        direction = full[:, child] - full[:, parent]
        norm = np.linalg.norm(direction, axis=-1, keepdims=True)
        rebuilt[:, child] = rebuilt[:, parent] + length * direction / np.maximum(norm, 1e-9)
    return rebuilt[:, : len(POINTS)]


def normalised_error(reference: np.ndarray, candidate: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(F,) mean distance of the 15 joints after rebuilding the ``reference`` (F, K, 3) and the
    ``candidate`` (F, K, 3) with the same segment ``lengths`` (S,); in the units of ``lengths``."""
    difference = rebuild(reference, lengths) - rebuild(candidate, lengths)
    return np.linalg.norm(difference, axis=-1).mean(axis=1)


def raw_error(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """(F,) mean distance of the 15 joints (F, K, 3) with both hip midpoints at the origin."""
    def centred(points: np.ndarray) -> np.ndarray:
        return points - with_midpoints(points)[:, len(POINTS)][:, None]

    return np.linalg.norm(centred(reference) - centred(candidate), axis=-1).mean(axis=1)


def size_ratio(smplx_points: np.ndarray, bvh_points: np.ndarray) -> float:
    """SMPL-X's size over the BVH's: the ratio of the summed segment lengths of the compared
    joints at rest ((K, 3) each)."""
    return float(segment_lengths(smplx_points).sum() / segment_lengths(bvh_points).sum())
