"""People linked across frames: per frame, the Hungarian assignment
(``scipy.optimize.linear_sum_assignment``) of detections to live tracks on a cost of keypoint
distance and box overlap, with a gate; unmatched detections start tracks, a track survives
``max_missed`` frames without a detection (a short occlusion) and then ends.

A track's expected keypoints in a new frame are its last detection moved by its box centre's
velocity (from its last two detections) for the frames since. The cost of a pair is the mean
distance of the keypoints both have, over the track's box side, plus ``box_weight`` x
(1 - IoU of the boxes); pairs whose keypoint distance exceeds the gate (widened by 10 % per
missed frame) are never linked.

Shapes: P people in a frame, K keypoints (bodyfit's layout; BODY_25 is used).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.video.config import TrackingConfig

_NEVER = 1.0e6
_MIN_SHARED = 3  # keypoints two detections must share to be compared point by point


@dataclass
class Track:
    """One person over time: ``detections`` frame index -> that frame's detection index."""

    track_id: int
    detections: dict[int, int] = field(default_factory=dict)

    @property
    def frames(self) -> list[int]:
        return sorted(self.detections)

    @property
    def span(self) -> tuple[int, int]:
        """[first, last] frame."""
        return min(self.detections), max(self.detections)


@dataclass
class _Live:
    track: Track
    points: np.ndarray      # (25, 2) last detection
    seen: np.ndarray        # (25,) bool
    box: np.ndarray         # (4,) x0, y0, x1, y1
    velocity: np.ndarray    # (2,) box centre px per frame
    last_frame: int


def keypoint_box(points: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """(4,) x0, y0, x1, y1 of the ``seen`` (N,) rows of ``points`` (N, 2)."""
    chosen = points[seen]
    return np.concatenate([chosen.min(0), chosen.max(0)])


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes (4,) x0, y0, x1, y1."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _centre(box: np.ndarray) -> np.ndarray:
    return 0.5 * (box[:2] + box[2:])


def _side(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], box[3] - box[1], 1.0))


def pair_cost(live: _Live, points: np.ndarray, seen: np.ndarray, frame: int,
              config: TrackingConfig) -> tuple[float, float]:
    """The cost of linking a detection (``points`` (25, 2), ``seen`` (25,)) to a live track in
    ``frame``, and its normalised keypoint distance (what the gate reads)."""
    shift = live.velocity * (frame - live.last_frame)
    expected, box = live.points + shift, live.box + np.tile(shift, 2)
    shared = live.seen & seen
    detection_box = keypoint_box(points, seen)
    if shared.sum() >= _MIN_SHARED:
        distance = float(np.linalg.norm(points[shared] - expected[shared], axis=-1).mean()) / _side(box)
    else:
        distance = float(np.linalg.norm(_centre(detection_box) - _centre(box))) / _side(box)
    return distance + config.box_weight * (1.0 - box_iou(box, detection_box)), distance


def _usable(person: np.ndarray, config: TrackingConfig) -> np.ndarray:
    """(25,) the BODY_25 points of a detection (K, 3) seen above the threshold."""
    return person[BODY, 2] > config.confidence_threshold


def _cost_matrix(live: list[_Live], people: np.ndarray, usable: list[int], frame: int,
                 config: TrackingConfig) -> np.ndarray:
    """(L, D) pair costs, ``_NEVER`` where the gate forbids the pair."""
    costs = np.full((len(live), len(usable)), _NEVER)
    for row, track in enumerate(live):
        gate = config.max_distance * (1.0 + 0.1 * (frame - track.last_frame - 1))
        for col, index in enumerate(usable):
            person = people[index]
            cost, distance = pair_cost(track, person[BODY, :2], _usable(person, config), frame, config)
            if distance <= gate:
                costs[row, col] = cost
    return costs


def _update(live: _Live, points: np.ndarray, seen: np.ndarray, frame: int, index: int) -> None:
    box = keypoint_box(points, seen)
    live.velocity = (_centre(box) - _centre(live.box)) / max(1, frame - live.last_frame)
    live.points = np.where(seen[:, None], points, live.points + live.velocity * (frame - live.last_frame))
    live.seen, live.box, live.last_frame = seen | live.seen, box, frame
    live.track.detections[frame] = index


def track_people(frames: list[np.ndarray], config: TrackingConfig) -> list[Track]:
    """Tracks through ``frames`` (each (P, K, 3): x, y, confidence of its detections), numbered
    0, 1, ... in order of first appearance; detections with fewer than ``min_keypoints`` seen
    body points belong to no track, and tracks with fewer than ``min_length`` detections are
    dropped."""
    live: list[_Live] = []
    finished: list[Track] = []
    count = 0
    for frame, people in enumerate(frames):
        people = np.asarray(people, dtype=np.float64)
        if people.size == 0:
            people = np.zeros((0, 25, 3))
        if people.ndim != 3 or (len(people) and (people.shape[1] < 25 or people.shape[2] != 3)):
            raise ValueError(f"frame {frame}: detections must be (P, K>=25, 3), got {people.shape}")
        usable = [i for i in range(len(people)) if _usable(people[i], config).sum() >= config.min_keypoints]
        costs = _cost_matrix(live, people, usable, frame, config)
        rows, cols = linear_sum_assignment(costs) if costs.size else (np.zeros(0, int), np.zeros(0, int))
        matched = set()
        for row, col in zip(rows, cols):
            if costs[row, col] < _NEVER:
                person = people[usable[col]]
                _update(live[row], person[BODY, :2], _usable(person, config), frame, usable[col])
                matched.add(col)
        for col, index in enumerate(usable):
            if col not in matched:
                seen = _usable(people[index], config)
                points = people[index, BODY, :2]
                live.append(_Live(Track(count, {frame: index}), points, seen, keypoint_box(points, seen),
                                  np.zeros(2), frame))
                count += 1
        ended = [track for track in live if frame - track.last_frame > config.max_missed]
        finished += [track.track for track in ended]
        live = [track for track in live if frame - track.last_frame <= config.max_missed]
    finished += [track.track for track in live]
    kept = sorted((t for t in finished if len(t.detections) >= config.min_length), key=lambda t: (t.span[0], t.track_id))
    return [Track(number, track.detections) for number, track in enumerate(kept)]
