"""Index tables from MediaPipe's landmarks to OpenPose's keypoint layout.

Each OpenPose point takes one MediaPipe landmark, or the mean of a tuple of them.
"""
from __future__ import annotations

import numpy as np

# Face: 68 dlib-style points + 2 pupils, from the 478-point face mesh (refined landmarks).
FACE70_FROM_FACE_MESH: tuple[int | tuple[int, ...], ...] = (
    # jaw line 0-16, from the subject's right to left
    127, 234, 93, (132, 58), (58, 172), 136, 150, 176, 152, 400, 379, 365, (397, 288), 361,
    323, 454, 356,
    # brows 17-21 (right), 22-26 (left)
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    # nose 27-35
    (168, 6), (197, 195), 5, 4, 75, 97, 2, 326, 305,
    # eyes 36-41 (right), 42-47 (left)
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    # outer lips 48-59, inner lips 60-67
    61, 39, 37, 0, 267, 269, 291, 321, 314, 17, 84, 91, 78, 82, 13, 312, 308, 317, 14, 87,
    # pupils 68 (right), 69 (left)
    468, 473,
)


def gather(landmarks: np.ndarray, table) -> np.ndarray:
    """Points (len(table), D) from ``landmarks`` (N, D), averaging tuples."""
    rows = [landmarks[list(entry)].mean(axis=0) if isinstance(entry, tuple) else landmarks[entry]
            for entry in table]
    return np.stack(rows)
