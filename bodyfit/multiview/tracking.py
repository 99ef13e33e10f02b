"""People through time by their triangulated keypoints: each instant's people are linked to
the open tracks by the median 3D distance of their shared keypoints (Hungarian assignment
under a gate that widens by ``max_speed`` per instant a track was missed); the rest start
tracks. Tracks that end are joined to one that starts a while later near where they were
lost, when nothing else fits (``relink``). Tracks seen at too few instants, or by too few
cameras on average, are dropped: false detections and people passing at the edge of the rig.

Shapes: K = 25 BODY_25 keypoints.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from bodyfit.multiview.config import TrackingConfig
from bodyfit.multiview.matching import MatchedPerson


@dataclass
class PersonTrack:
    """One person through the clip: ``people`` instant -> index among that instant's
    matched people; ``track_id`` numbers the kept tracks from 0 in order of first sight."""

    track_id: int
    people: dict[int, int] = field(default_factory=dict)
    last_points: np.ndarray | None = None
    last_instant: int = -1
    views: list[int] = field(default_factory=list)

    @property
    def span(self) -> tuple[int, int]:
        """First and last instant seen."""
        return min(self.people), max(self.people)


def point_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Median distance over the keypoints (K, 3) finite in both; inf if none."""
    both = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)
    return float(np.median(np.linalg.norm(a[both] - b[both], axis=-1))) if both.sum() >= 3 else np.inf


def track_people_3d(instants: list[list[MatchedPerson]], config: TrackingConfig) -> list[PersonTrack]:
    """Tracks over ``instants`` (each a list of matched people), kept ones only, renumbered."""
    open_tracks: list[PersonTrack] = []
    closed: list[PersonTrack] = []
    for instant, people in enumerate(instants):
        still_open = []
        for track in open_tracks:
            (still_open if instant - track.last_instant <= config.max_missed + 1 else closed).append(track)
        open_tracks = still_open
        cost = np.full((len(open_tracks), len(people)), np.inf)
        for row, track in enumerate(open_tracks):
            gate = config.max_distance + config.max_speed * (instant - track.last_instant - 1)
            for column, person in enumerate(people):
                distance = point_distance(track.last_points, person.points)
                if distance <= gate:
                    cost[row, column] = distance
        assigned = set()
        if open_tracks and people:
            rows, columns = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e9))
            for row, column in zip(rows, columns):
                if np.isfinite(cost[row, column]):
                    _extend(open_tracks[row], instant, column, people[column])
                    assigned.add(column)
        for column, person in enumerate(people):
            if column not in assigned:
                track = PersonTrack(-1)
                _extend(track, instant, column, person)
                open_tracks.append(track)
    least = min(config.min_length, len(instants))  # a clip shorter than min_length keeps who is always there
    kept = [t for t in relink(closed + open_tracks, instants, config)
            if len(t.people) >= least and np.mean(t.views) >= config.min_mean_views]
    kept.sort(key=lambda t: (t.span[0], -len(t.people)))
    for number, track in enumerate(kept):
        track.track_id = number
    return kept


def relink(tracks: list[PersonTrack], instants: list[list[MatchedPerson]],
           config: TrackingConfig) -> list[PersonTrack]:
    """Tracks joined across longer gaps (a person out of view for a while): a track that ends
    is continued by the one track starting within ``relink_gap`` instants after it whose first
    keypoints lie within the gate (``max_distance`` + ``max_speed`` per instant between), when
    no other track's end or start also fits."""
    tracks = sorted(tracks, key=lambda t: t.span[0])
    merged = True
    while merged:
        merged = False
        for first in tracks:
            end = first.span[1]
            candidates = [t for t in tracks if t is not first and 0 < t.span[0] - end <= config.relink_gap
                          and _fits_after(first, t, instants, config)]
            if len(candidates) != 1:
                continue
            later = candidates[0]
            rivals = [t for t in tracks if t is not first and t is not later and t.span[1] < later.span[0]
                      and later.span[0] - t.span[1] <= config.relink_gap and _fits_after(t, later, instants, config)]
            if rivals:
                continue
            first.people.update(later.people)
            first.views.extend(later.views)
            first.last_points, first.last_instant = later.last_points, later.last_instant
            tracks.remove(later)
            merged = True
            break
    return tracks


def _fits_after(first: PersonTrack, later: PersonTrack, instants: list[list[MatchedPerson]],
                config: TrackingConfig) -> bool:
    """Whether ``later``'s first keypoints lie within the gate of where ``first`` was last seen."""
    end, start = first.span[1], later.span[0]
    last = instants[end][first.people[end]].points
    begin = instants[start][later.people[start]].points
    return point_distance(last, begin) <= config.max_distance + config.max_speed * (start - end - 1)


def _extend(track: PersonTrack, instant: int, index: int, person: MatchedPerson) -> None:
    track.people[instant] = index
    finite = np.isfinite(person.points).all(-1)
    if track.last_points is None:
        track.last_points = person.points.copy()
    else:  # keep the last known position of points this instant did not triangulate
        track.last_points[finite] = person.points[finite]
    track.last_instant = instant
    track.views.append(person.views)
