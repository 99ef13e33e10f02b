"""One person's MediaPipe landmarks and the geometry the person finder needs: the person's
box, the head's box, and whether two detections are one person.

Pixels of the full image, x right, y down; boxes are (x0, y0, x1, y1).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bodyfit.detect.crops import overlap_fraction

HEAD_LANDMARKS = slice(0, 11)  # BlazePose 0-10: nose, eyes, ears, mouth corners


@dataclass
class Landmarks:
    """One person's MediaPipe landmarks in full-image pixels: ``pose`` (33, 3) of x, y,
    visibility; ``face`` (478, 2) or (468, 2); hands (21, 2); ``None`` where not found."""

    pose: np.ndarray
    face: np.ndarray | None = None
    left_hand: np.ndarray | None = None
    right_hand: np.ndarray | None = None
    hand_sources: dict[str, str] = field(default_factory=dict)

    def visible(self, threshold: float) -> int:
        """How many pose landmarks have visibility above ``threshold``."""
        return int((self.pose[:, 2] > threshold).sum())


def landmark_box(landmarks: Landmarks, threshold: float) -> np.ndarray:
    """(x0, y0, x1, y1) around the visible pose landmarks and the face."""
    points = [landmarks.pose[landmarks.pose[:, 2] > threshold, :2]]
    if landmarks.face is not None:
        points.append(landmarks.face[:, :2])
    stacked = np.concatenate(points)
    if not len(stacked):
        stacked = landmarks.pose[:, :2]
    return np.concatenate([stacked.min(axis=0), stacked.max(axis=0)])


def head_box(landmarks: Landmarks, threshold: float) -> np.ndarray | None:
    """(x0, y0, x1, y1) around the face mesh, else around the visible head landmarks (nose,
    eyes, ears, mouth; at least three), grown to a square; ``None`` when the head is not seen."""
    if landmarks.face is not None:
        points = landmarks.face[:, :2]
    else:
        head = landmarks.pose[HEAD_LANDMARKS]
        points = head[head[:, 2] > threshold, :2]
        if len(points) < 3:
            return None
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()), 1.0) / 2
    return np.concatenate([centre - half, centre + half])


def heads_coincide(a: np.ndarray, b: np.ndarray, distance: float) -> bool:
    """Whether head boxes ``a`` and ``b`` (4,) are one head: centres closer than ``distance``
    times the larger head's side."""
    side = max(float(a[2] - a[0]), float(b[2] - b[0]))
    gap = float(np.linalg.norm((a[:2] + a[2:]) / 2 - (b[:2] + b[2:]) / 2))
    return gap < distance * side


def same_person(a: Landmarks, b: Landmarks, threshold: float, head_distance: float, box_overlap: float,
                min_common: int = 4) -> bool:
    """Whether two detections are one person: their heads coincide (``heads_coincide`` with
    ``head_distance``), or at least ``min_common`` pose landmarks visible in both lie a
    median distance apart under ``head_distance`` times a tenth of the larger landmark box's
    diagonal (about a head); with neither test possible, at least ``box_overlap`` of the
    smaller landmark box lies inside the other."""
    head_a, head_b = head_box(a, threshold), head_box(b, threshold)
    if head_a is not None and head_b is not None and heads_coincide(head_a, head_b, head_distance):
        return True
    box_a, box_b = landmark_box(a, threshold), landmark_box(b, threshold)
    common = (a.pose[:, 2] > threshold) & (b.pose[:, 2] > threshold)
    if common.sum() >= min_common:
        size = max(float(np.linalg.norm(box_a[2:] - box_a[:2])), float(np.linalg.norm(box_b[2:] - box_b[:2])))
        gap = float(np.median(np.linalg.norm(a.pose[common, :2] - b.pose[common, :2], axis=1)))
        return gap < head_distance * size / 10
    if head_a is not None and head_b is not None:
        return False
    return max(overlap_fraction(box_a, box_b), overlap_fraction(box_b, box_a)) >= box_overlap
