"""People across the views of one instant, as mvpose and EasyMocap find them: two detections
in two cameras are one person when their keypoints lie on each other's epipolar lines; people
are grown from the closest pairs, one detection per camera, every pair inside them
consistent; each person is then triangulated robustly, and a view that does not reproject is
let go. Detections no other view confirms (false detections, people only one camera sees)
stay unmatched.

Shapes: V views, P detections of a view, K = 25 BODY_25 keypoints.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bodyfit.fileio.cameras import Camera
from bodyfit.multiview.config import MatchingConfig
from bodyfit.multiview.triangulation import ray_angles, reprojection_errors, triangulate_robust


@dataclass
class ViewDetections:
    """One camera's detections at one instant: ``pixels`` (P, K, 2) undistorted,
    ``confidence`` (P, K) (0: unseen)."""

    pixels: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.pixels)


@dataclass
class MatchedPerson:
    """A person of one instant: ``detections`` view index -> detection index, the
    triangulated ``points`` (K, 3) world metres (NaN: too few agreeing views),
    ``confidence`` (V, K) the matched detections' confidences (0 below the threshold and in
    other views), ``weights`` (V, K) what the fit weighs each view's points by: the
    confidence where the view agreed with the triangulation, or where it is the point's only
    view (0 where it disagreed), ``angles`` (K,) the widest angle between two of a point's
    rays, folded to 0..90 degrees (``triangulation.ray_angles``)."""

    detections: dict[int, int]
    points: np.ndarray
    confidence: np.ndarray
    weights: np.ndarray
    angles: np.ndarray

    @property
    def views(self) -> int:
        return len(self.detections)


def _skew(vector: np.ndarray) -> np.ndarray:
    x, y, z = vector
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def fundamental(a: Camera, b: Camera) -> np.ndarray:
    """(3, 3) F with x_b^T F x_a = 0 for undistorted pixels of one world point."""
    rotation = b.rotation @ a.rotation.T
    translation = b.translation - rotation @ a.translation
    essential = _skew(translation) @ rotation
    return np.linalg.inv(b.matrix).T @ essential @ np.linalg.inv(a.matrix)


def _line_distance(lines: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """(...,) distance of ``pixels`` (..., 2) to ``lines`` (..., 3)."""
    homogeneous = np.concatenate([pixels, np.ones(pixels.shape[:-1] + (1,))], axis=-1)
    return np.abs((lines * homogeneous).sum(-1)) / np.maximum(np.linalg.norm(lines[..., :2], axis=-1), 1e-12)


def epipolar_distances(a: Camera, b: Camera, first: ViewDetections, second: ViewDetections,
                       config: MatchingConfig) -> np.ndarray:
    """(P_a, P_b) median symmetric epipolar distance over the points both detections see, as
    a share of the image heights; inf where fewer than ``min_common`` points are shared."""
    out = np.full((len(first), len(second)), np.inf)
    if len(first) == 0 or len(second) == 0:
        return out
    f = fundamental(a, b)
    ones_a = np.concatenate([first.pixels, np.ones(first.pixels.shape[:-1] + (1,))], axis=-1)  # (Pa, K, 3)
    ones_b = np.concatenate([second.pixels, np.ones(second.pixels.shape[:-1] + (1,))], axis=-1)
    lines_in_b = ones_a @ f.T  # (Pa, K, 3)
    lines_in_a = ones_b @ f    # (Pb, K, 3)
    in_b = _line_distance(lines_in_b[:, None], second.pixels[None]) / b.image_size[0]  # (Pa, Pb, K)
    in_a = _line_distance(lines_in_a[None], first.pixels[:, None]) / a.image_size[0]
    both = (first.confidence[:, None] > config.confidence_threshold) & \
           (second.confidence[None] > config.confidence_threshold)
    distance = np.where(both, 0.5 * (in_a + in_b), np.nan)
    enough = both.sum(-1) >= config.min_common
    if enough.any():
        out[enough] = np.nanmedian(distance[enough], axis=-1)
    return out


def _usable(view: ViewDetections, config: MatchingConfig) -> np.ndarray:
    return (view.confidence > config.confidence_threshold).sum(-1) >= config.min_keypoints


def _groups(cameras: list[Camera], views: list[ViewDetections], config: MatchingConfig) -> list[dict[int, int]]:
    """Detections grouped greedily from the closest consistent pairs: view -> detection."""
    usable = [_usable(view, config) for view in views]
    distance: dict[tuple[int, int, int, int], float] = {}
    pairs = []
    for a in range(len(views)):
        for b in range(a + 1, len(views)):
            table = epipolar_distances(cameras[a], cameras[b], views[a], views[b], config)
            for i, j in zip(*np.nonzero(table < config.epipolar_threshold)):
                if usable[a][i] and usable[b][j]:
                    distance[(a, i, b, j)] = distance[(b, j, a, i)] = float(table[i, j])
                    pairs.append((float(table[i, j]), a, int(i), b, int(j)))
    owner: dict[tuple[int, int], int] = {}
    groups: list[dict[int, int]] = []
    for _, a, i, b, j in sorted(pairs):
        first, second = owner.get((a, i)), owner.get((b, j))
        if first is not None and first == second:
            continue
        left = groups[first] if first is not None else {a: i}
        right = groups[second] if second is not None else {b: j}
        if set(left) & set(right):  # one detection per camera
            continue
        if any((va, ia, vb, ib) not in distance for va, ia in left.items() for vb, ib in right.items()):
            continue  # every pair inside a person must be consistent
        merged = {**left, **right}
        index = first if first is not None else (second if second is not None else len(groups))
        if index == len(groups):
            groups.append(merged)
        else:
            groups[index] = merged
        other = second if index == first else first
        if other is not None and other != index:
            groups[other] = {}
        for view, detection in merged.items():
            owner[(view, detection)] = index
    return [group for group in groups if group]


def triangulate_person(cameras: list[Camera], views: list[ViewDetections], group: dict[int, int],
                       config: MatchingConfig) -> MatchedPerson:
    """The group's points triangulated robustly; views that reproject worse than
    ``reprojection_threshold`` (median over their points) are let go."""
    count = views[0].pixels.shape[1] if views else 25
    pixels = np.zeros((len(cameras), count, 2))
    weights = np.zeros((len(cameras), count))
    for view, detection in group.items():
        pixels[view] = views[view].pixels[detection]
        confidence = views[view].confidence[detection]
        weights[view] = np.where(confidence > config.confidence_threshold, confidence, 0.0)
    heights = np.array([camera.image_size[0] for camera in cameras], dtype=np.float64)
    threshold = config.reprojection_threshold * heights
    points, used = triangulate_robust(cameras, pixels, weights, threshold)
    errors = reprojection_errors(cameras, points, pixels)
    kept = {}
    for view, detection in group.items():
        seen = weights[view] > 0
        if seen.any() and np.nanmedian(np.where(seen, errors[view], np.nan)) <= threshold[view]:
            kept[view] = detection
    if len(kept) < len(group) and len(kept) >= 2:
        return triangulate_person(cameras, views, kept, config)
    alone = (weights > 0).sum(0) < 2  # points one view sees: nothing to disagree with
    return MatchedPerson(kept, points, weights, np.where(alone, weights, used), ray_angles(cameras, points, used))


def match_instant(cameras: list[Camera], views: list[ViewDetections], config: MatchingConfig) -> list[MatchedPerson]:
    """The people of one instant seen by at least ``min_views`` cameras, most views first."""
    people = [triangulate_person(cameras, views, group, config) for group in _groups(cameras, views, config)]
    people = [p for p in people if p.views >= config.min_views and np.isfinite(p.points).all(-1).sum() >= 4]
    return sorted(people, key=lambda p: -p.views)
