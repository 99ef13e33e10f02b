"""Where each keypoint of bodyfit's layout (``fileio.keypoint_layout``) comes from in each body model's
joint output (smplx's order: skeleton joints, then vertex keypoints, then face landmarks)."""
from __future__ import annotations

import numpy as np

from bodyfit.fileio.keypoint_layout import NUM_CONTOUR, NUM_FACE

# Indices into the joints smplx returns (skeleton joints, then vertex keypoints, then face
# landmarks); -1 where the model has no such point.
_BODY25 = {
    "smplx": [55, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7] + list(range(56, 66)),
    "smplh": [52, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7] + list(range(53, 63)),
    "smpl": [24, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7] + list(range(25, 35)),
}
_LEFT_HAND = {
    "smplx": [20, 37, 38, 39, 66, 25, 26, 27, 67, 28, 29, 30, 68, 34, 35, 36, 69, 31, 32, 33, 70],
    "smplh": [20, 34, 35, 36, 63, 22, 23, 24, 64, 25, 26, 27, 65, 31, 32, 33, 66, 28, 29, 30, 67],
    "smpl": [20] + [-1] * 20,
}
_RIGHT_HAND = {
    "smplx": [21, 52, 53, 54, 71, 40, 41, 42, 72, 43, 44, 45, 73, 49, 50, 51, 74, 46, 47, 48, 75],
    "smplh": [21, 49, 50, 51, 68, 37, 38, 39, 69, 40, 41, 42, 70, 46, 47, 48, 71, 43, 44, 45, 72],
    "smpl": [21] + [-1] * 20,
}
_FACE_START = {"smplx": 76}


def source_indices(model_type: str, use_face_contour: bool = False) -> np.ndarray:
    """(K,) index of each OpenPose keypoint in smplx's joint output, -1 where absent."""
    if model_type not in _BODY25:
        raise ValueError(f"model_type must be one of {tuple(_BODY25)}, got {model_type!r}")
    face = [-1] * NUM_FACE
    contour = [-1] * NUM_CONTOUR
    if model_type in _FACE_START:
        start = _FACE_START[model_type]
        face = list(range(start, start + NUM_FACE))
        contour = list(range(start + NUM_FACE, start + NUM_FACE + NUM_CONTOUR))
    indices = _BODY25[model_type] + _LEFT_HAND[model_type] + _RIGHT_HAND[model_type] + face
    if use_face_contour:
        indices += contour
    return np.array(indices, dtype=np.int64)
