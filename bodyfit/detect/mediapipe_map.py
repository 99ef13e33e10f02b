"""Index tables from MediaPipe's landmarks to OpenPose's keypoint layout.

The tables and functions live in ``fileio.formats.mediapipe`` (the keypoint-file readers
need them too, a layer below detection); this module keeps their names for detection.
"""
from __future__ import annotations

from bodyfit.fileio.formats.mediapipe import (  # noqa: F401 - re-exported for detection
    BODY25_FROM_POSE, BODY25_FROM_POSE_NAMES, FACE70_FROM_FACE_MESH, FACE_MESH_LANDMARKS, HAND21_FROM_HAND,
    HAND_LANDMARKS, POSE_LANDMARKS, POSE_NAMES, body25, face70, gather, hand21, with_confidence,
)

__all__ = ["BODY25_FROM_POSE", "BODY25_FROM_POSE_NAMES", "FACE70_FROM_FACE_MESH", "FACE_MESH_LANDMARKS",
           "HAND21_FROM_HAND", "HAND_LANDMARKS", "POSE_LANDMARKS", "POSE_NAMES", "body25", "face70", "gather",
           "hand21", "with_confidence"]
