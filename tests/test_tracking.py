"""Tracking: people keep their ids through crossings, short occlusions, entries and exits."""
from __future__ import annotations

import numpy as np
import pytest

from bodyfit.video.config import TrackingConfig
from bodyfit.video.tracking import box_iou, track_people

# A stick figure: 25 BODY_25 points around a centre, ``height`` px tall, arms out by ``arms``.
_OFFSETS = np.random.default_rng(0).uniform(-0.5, 0.5, size=(25, 2)) * np.array([0.4, 1.0])


def person(centre: tuple[float, float], height: float, rng: np.random.Generator, noise: float = 2.0) -> np.ndarray:
    """(25, 3) keypoints of a figure centred at ``centre``, with pixel noise, all seen."""
    points = np.asarray(centre) + _OFFSETS * height + rng.normal(scale=noise, size=(25, 2))
    return np.column_stack([points, np.full(25, 0.9)])


def ids_by_frame(tracks) -> dict[int, dict[int, int]]:
    """frame -> detection index -> track id."""
    out: dict[int, dict[int, int]] = {}
    for track in tracks:
        for frame, index in track.detections.items():
            out.setdefault(frame, {})[index] = track.track_id
    return out


def test_crossing_people_keep_their_ids():
    """Two people walk towards each other and cross (their boxes overlap for several frames);
    the detector lists them in a random order every frame."""
    rng = np.random.default_rng(1)
    frames, truth = [], []
    for t in range(40):
        people = [person((100 + 20 * t, 300), 300, rng), person((900 - 20 * t, 320), 240, rng)]
        order = rng.permutation(2)
        frames.append(np.stack([people[i] for i in order]))
        truth.append(order)  # detection index -> true person
    tracks = track_people(frames, TrackingConfig())
    assert len(tracks) == 2
    by_frame = ids_by_frame(tracks)
    mapping = {by_frame[0][index]: truth[0][index] for index in range(2)}
    for t in range(40):
        assert {mapping[by_frame[t][i]]: truth[t][i] for i in range(2)} == {0: 0, 1: 1}


def test_occlusion_entry_and_exit():
    """Person A walks through; B is hidden for 6 frames (kept: max_missed 10) and reappears;
    C enters at frame 15; A leaves at frame 25; D shows up twice only (dropped: min_length)."""
    rng = np.random.default_rng(2)
    frames = []
    for t in range(35):
        people = []
        if t < 25:
            people.append(person((100 + 10 * t, 300), 300, rng))
        if not 10 <= t < 16:
            people.append(person((800, 300 + 2 * t), 280, rng))
        if t >= 15:
            people.append(person((500, 700 - 5 * (t - 15)), 260, rng))
        if t in (5, 6):
            people.append(person((1500, 100), 200, rng))
        frames.append(np.stack(people))
    tracks = track_people(frames, TrackingConfig(max_missed=10, min_length=5))
    spans = sorted(track.span for track in tracks)
    assert spans == [(0, 24), (0, 34), (15, 34)]
    occluded = next(t for t in tracks if t.span == (0, 34))
    assert not any(frame in occluded.detections for frame in range(10, 16))
    assert len(occluded.detections) == 35 - 6
    assert [t.track_id for t in tracks] == [0, 1, 2]


def test_long_occlusion_starts_a_new_track_and_sparse_detections_are_ignored():
    rng = np.random.default_rng(3)
    frames = [np.stack([person((400, 300), 300, rng)]) if not 5 <= t < 20 else np.zeros((0, 25, 3))
              for t in range(30)]
    frames[2] = frames[2].copy()
    frames[2][0, 5:, 2] = 0.0  # only 5 points seen: still usable (min_keypoints 5)
    tracks = track_people(frames, TrackingConfig(max_missed=5, min_length=3))
    assert [t.span for t in tracks] == [(0, 4), (20, 29)]
    frames[3] = frames[3].copy()
    frames[3][0, 3:, 2] = 0.0  # 3 points: belongs to no track
    tracks = track_people(frames, TrackingConfig(max_missed=5, min_length=3))
    assert 3 not in tracks[0].detections


def test_box_iou_and_bad_input():
    assert box_iou(np.array([0, 0, 2, 2.0]), np.array([1, 1, 3, 3.0])) == pytest.approx(1 / 7)
    with pytest.raises(ValueError, match=r"frame 0: detections must be \(P, K>=25, 3\)"):
        track_people([np.zeros((1, 10, 3))], TrackingConfig())
