"""Homogenus's rules for when a person stays neutral whatever the classifier says: a low mean
confidence of the seen keypoints, no leg, no arm, fewer than two head points, or a crop too
small to judge.

Shapes: K keypoints (x, y, confidence) in bodyfit's layout.
"""
from __future__ import annotations

import numpy as np

from bodyfit.fileio.keypoint_layout import OPENPOSE
from bodyfit.gender.config import CropConfig, RulesConfig
from bodyfit.gender.crops import SquareBox, seen_body_points

HEAD = tuple(OPENPOSE[name] for name in ("Nose", "REye", "LEye", "REar", "LEar"))
ARMS = tuple(tuple(OPENPOSE[f"{side}{part}"] for part in ("Elbow", "Wrist")) for side in "RL")
LEGS = tuple(tuple(OPENPOSE[f"{side}{part}"] for part in ("Knee", "Ankle")) for side in "RL")


def neutral_reason(keypoints: np.ndarray, box: SquareBox | None, crop: CropConfig, rules: RulesConfig) -> str:
    """Why a person (keypoints (K, 3), crop ``box``) must stay neutral, or "" when the
    classifier may decide. A limb counts as seen when its elbow or wrist (knee or ankle) is."""
    seen = seen_body_points(keypoints, crop.confidence_threshold)
    if box is None:
        return "fewer than two body keypoints seen"
    confidence = float(np.asarray(keypoints, dtype=np.float64)[:25, 2][seen].mean())
    if confidence < rules.min_mean_confidence:
        return f"mean keypoint confidence {confidence:.2f} < {rules.min_mean_confidence}"
    if not any(seen[list(leg)].any() for leg in LEGS):
        return "no leg seen"
    if not any(seen[list(arm)].any() for arm in ARMS):
        return "no arm seen"
    head = int(seen[list(HEAD)].sum())
    if head < rules.min_head_points:
        return f"{head} head points seen, need {rules.min_head_points}"
    if box.side < rules.min_crop_px:
        return f"crop {box.side:.0f} px < {rules.min_crop_px:.0f} px"
    return ""
