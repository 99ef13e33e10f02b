"""MediaPipe's landmarks onto OpenPose's keypoint layout: tables by landmark name, and the
functions that apply them.

Each OpenPose point takes one MediaPipe landmark, the mean of a tuple of them, or nothing
(``None``: the point does not exist in MediaPipe and gets confidence 0). OpenPose's "R"/"L"
and MediaPipe's "right"/"left" are both the subject's sides.

Shapes: N landmarks, D coordinates per landmark.
"""
from __future__ import annotations

import numpy as np

from bodyfit.fileio.keypoint_layout import BODY25_NAMES

POSE_LANDMARKS = 33
HAND_LANDMARKS = 21
FACE_MESH_LANDMARKS = 478  # with refined (iris) landmarks; 468 without

# BlazePose's 33 pose landmarks, in MediaPipe's order (mediapipe.solutions.pose.PoseLandmark).
POSE_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)
POSE = {name: index for index, name in enumerate(POSE_NAMES)}

# BODY_25 point -> pose landmark name(s).
BODY25_FROM_POSE_NAMES: dict[str, str | tuple[str, ...] | None] = {
    "Nose": "nose", "Neck": ("left_shoulder", "right_shoulder"),
    "RShoulder": "right_shoulder", "RElbow": "right_elbow", "RWrist": "right_wrist",
    "LShoulder": "left_shoulder", "LElbow": "left_elbow", "LWrist": "left_wrist",
    "MidHip": ("left_hip", "right_hip"), "RHip": "right_hip", "RKnee": "right_knee", "RAnkle": "right_ankle",
    "LHip": "left_hip", "LKnee": "left_knee", "LAnkle": "left_ankle",
    "REye": "right_eye", "LEye": "left_eye", "REar": "right_ear", "LEar": "left_ear",
    "LBigToe": "left_foot_index", "LSmallToe": None, "LHeel": "left_heel",
    "RBigToe": "right_foot_index", "RSmallToe": None, "RHeel": "right_heel",
}


def _indices(entry: str | tuple[str, ...] | None) -> int | tuple[int, ...] | None:
    if entry is None:
        return None
    return tuple(POSE[name] for name in entry) if isinstance(entry, tuple) else POSE[entry]


# The same table by index, in BODY_25's order: (25,) of an index, a tuple or None.
BODY25_FROM_POSE: tuple[int | tuple[int, ...] | None, ...] = tuple(
    _indices(BODY25_FROM_POSE_NAMES[name]) for name in BODY25_NAMES)

# MediaPipe's 21 hand landmarks are already in OpenPose's hand order (wrist, then thumb,
# index, middle, ring, little finger from base to tip).
HAND21_FROM_HAND: tuple[int, ...] = tuple(range(HAND_LANDMARKS))

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
    """Points (len(table), D) from ``landmarks`` (N, D), averaging tuples; zeros for ``None``."""
    rows = [np.zeros(landmarks.shape[1]) if entry is None
            else landmarks[list(entry)].mean(axis=0) if isinstance(entry, tuple) else landmarks[entry]
            for entry in table]
    return np.stack(rows)


def body25(pose: np.ndarray) -> np.ndarray:
    """BODY_25 (25, 3) of x, y, confidence from pose landmarks (33, 3) of x, y (pixels) and
    visibility; a mean takes the lower visibility of its landmarks."""
    if pose.shape != (POSE_LANDMARKS, 3):
        raise ValueError(f"pose landmarks must be ({POSE_LANDMARKS}, 3), got {pose.shape}")
    points = gather(pose[:, :2], BODY25_FROM_POSE)
    confidence = np.array([0.0 if entry is None
                           else pose[list(entry), 2].min() if isinstance(entry, tuple) else pose[entry, 2]
                           for entry in BODY25_FROM_POSE])
    return np.concatenate([points, confidence[:, None]], axis=1)


def with_confidence(points: np.ndarray, confidence: float) -> np.ndarray:
    """(N, 3): ``points`` (N, 2) with one ``confidence`` for all (MediaPipe gives no per-point
    score for hands and faces)."""
    return np.concatenate([points, np.full((len(points), 1), confidence)], axis=1)


def hand21(hand: np.ndarray | None, confidence: float) -> np.ndarray:
    """OpenPose hand (21, 3) from hand landmarks (21, 2) in pixels; zeros when missing."""
    if hand is None:
        return np.zeros((HAND_LANDMARKS, 3))
    return with_confidence(gather(hand, HAND21_FROM_HAND), confidence)


def face70(mesh: np.ndarray | None, confidence: float) -> np.ndarray:
    """OpenPose face (70, 3) from the face mesh (478, 2 or 468, 2) in pixels; zeros when
    missing. Without the iris landmarks (468 points) the pupils get confidence 0."""
    if mesh is None:
        return np.zeros((len(FACE70_FROM_FACE_MESH), 3))
    if len(mesh) < FACE_MESH_LANDMARKS:
        padded = np.zeros((FACE_MESH_LANDMARKS, mesh.shape[1]))
        padded[: len(mesh)] = mesh
        face = with_confidence(gather(padded, FACE70_FROM_FACE_MESH), confidence)
        face[68:, 2] = 0.0
        return face
    return with_confidence(gather(mesh, FACE70_FROM_FACE_MESH), confidence)
