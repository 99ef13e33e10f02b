"""bodyfit's keypoint layout: OpenPose BODY_25 names and where each part sits in the array.

bodyfit's keypoint array is BODY_25, then the left hand (21), the right hand (21) and the
face (51 points, dlib 17-67; plus the 17 contour points 0-16 when the contour is used):
118 or 135 keypoints.
"""
from __future__ import annotations


BODY25_NAMES: tuple[str, ...] = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar",
    "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)
OPENPOSE = {name: index for index, name in enumerate(BODY25_NAMES)}
"""BODY_25 index by name: ``OPENPOSE["RWrist"] == 4``."""

HAND_NAMES: tuple[str, ...] = ("Wrist",) + tuple(
    f"{finger}{k}" for finger in ("Thumb", "Index", "Middle", "Ring", "Pinky") for k in range(1, 5))
NUM_BODY, NUM_HAND, NUM_FACE, NUM_CONTOUR = 25, 21, 51, 17

BODY = slice(0, NUM_BODY)
LEFT_HAND = slice(NUM_BODY, NUM_BODY + NUM_HAND)
RIGHT_HAND = slice(NUM_BODY + NUM_HAND, NUM_BODY + 2 * NUM_HAND)
FACE = slice(NUM_BODY + 2 * NUM_HAND, NUM_BODY + 2 * NUM_HAND + NUM_FACE)
CONTOUR = slice(FACE.stop, FACE.stop + NUM_CONTOUR)
