"""Several calibrated cameras as a run's fit strategy (``fit.py --cameras CALIB``): every
instant's detections undistorted, matched across the views into people and triangulated
(``multiview.matching``), people tracked through the clip (``multiview.tracking``), each track
fitted to all of its views at once (``multiview.fit``), then written in the world frame
(``multiview.outputs``). With ``outputs.leave_one_out`` each camera is also left out in turn:
the fit without it is projected into it, and the distance to its detections is the person's
leave-one-camera-out error, a quality figure that needs no ground truth.

Shapes: V cameras, P detections, K = 25 BODY_25 keypoints, T instants.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bodyfit.bodymodels.files import ModelFileError
from bodyfit.bodymodels.layer import BodyModel
from bodyfit.fileio.cameras import CalibrationError, CameraRig
from bodyfit.fileio.images import ImageError
from bodyfit.fileio.keypoint_layout import BODY, NUM_BODY
from bodyfit.fileio.openpose_json import KeypointFileError
from bodyfit.fitting.tasks import ModelKey
from bodyfit.multiview.config import MultiViewConfig
from bodyfit.multiview.fit import TrackViews, WorldFit, fit_tracks
from bodyfit.multiview.matching import MatchedPerson, ViewDetections, match_instant
from bodyfit.multiview.outputs import (person_arrays, person_entry, track_meshes, write_instant, write_track,
                                       write_track_index)
from bodyfit.multiview.tracking import PersonTrack, track_people_3d
from bodyfit.multiview.triangulation import ray_angles, triangulate
from bodyfit.multiview.views import CameraViews, Instant
from bodyfit.pipeline.prepare import read_people
from bodyfit.pipeline.results import ResultWriter
from bodyfit.pipeline.runner import RunError, RunOptions

log = logging.getLogger("bodyfit")


@dataclass
class InstantDetections:
    """One instant's detections: ``raw`` per camera (P, K, 3) as in the files (distorted
    pixels, confidence), ``views`` the same undistorted (``ViewDetections``), ``errors``
    camera -> why its file could not be read."""

    raw: list[np.ndarray]
    views: list[ViewDetections]
    errors: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def of(rig: CameraRig, raw: list[np.ndarray], errors: dict[str, str] | None = None) -> "InstantDetections":
        """Every camera's BODY_25 detections (P, 25, 3) as read, undistorted through its lens."""
        views = []
        for camera, people in zip(rig, raw):
            pixels = camera.undistort(people[..., :2].reshape(-1, 2)).reshape(len(people), NUM_BODY, 2)
            views.append(ViewDetections(pixels, np.where(people[..., 2] > 0, people[..., 2], 0.0)))
        return InstantDetections(raw, views, errors or {})


def read_instant(instant: Instant, rig: CameraRig) -> InstantDetections:
    """Every camera's people at ``instant`` (BODY_25); a file that cannot be read counts as
    nobody seen there, its reason kept."""
    raw, errors = [], {}
    for camera in rig:
        people = np.zeros((0, NUM_BODY, 3))
        item = instant.views.get(camera.name)
        if item is not None:
            try:
                found = read_people(item, camera.image_size)
                if found:
                    people = np.stack([person.to_layout()[BODY] for person in found])
            except (ImageError, KeypointFileError, ValueError) as error:
                errors[camera.name] = str(error)
                log.warning("%s, camera %s: %s", instant.stem, camera.name, error)
        raw.append(people)
    return InstantDetections.of(rig, raw, errors)


def track_views(track: PersonTrack, matched: list[list[MatchedPerson]], detections: list[InstantDetections],
                cameras: int) -> TrackViews:
    """The track's observations over its span (zero weights and NaN points where it was missed)."""
    first, last = track.span
    count = last - first + 1
    pixels = np.zeros((count, cameras, NUM_BODY, 2))
    confidence = np.zeros((count, cameras, NUM_BODY))
    weights = np.zeros((count, cameras, NUM_BODY))
    points = np.full((count, NUM_BODY, 3), np.nan)
    angles = np.zeros((count, NUM_BODY))
    for instant, index in track.people.items():
        person = matched[instant][index]
        for view, detection in person.detections.items():
            pixels[instant - first, view] = detections[instant].views[view].pixels[detection]
        confidence[instant - first] = person.confidence
        weights[instant - first] = person.weights
        points[instant - first] = person.points
        angles[instant - first] = person.angles
    return TrackViews(pixels, confidence, weights, points, angles, np.arange(first, last + 1), track.track_id)


def observed_raw(track: PersonTrack, matched: list[list[MatchedPerson]], detections: list[InstantDetections],
                 instant: int, cameras: int) -> np.ndarray:
    """(V, K, 3) the detections (as in the files) matched to the track at ``instant``, points
    below the matching's confidence threshold zeroed (as ``MatchedPerson.confidence``)."""
    out = np.zeros((cameras, NUM_BODY, 3))
    person = matched[instant][track.people[instant]]
    for view, detection in person.detections.items():
        out[view] = detections[instant].raw[view][detection]
    out[person.confidence <= 0] = 0.0
    return out


def without_camera(track: TrackViews, view: int, rig: CameraRig) -> TrackViews:
    """The track as if camera ``view`` did not exist: its weights zero, points triangulated
    again from the views that agreed before (points now seen by one view alone are unknown)."""
    weights = track.weights.copy()
    weights[:, view] = 0.0
    agreed = np.where((track.confidence > 0).sum(1, keepdims=True) >= 2, weights, 0.0)
    points = np.stack([triangulate(rig.cameras, track.pixels[t], agreed[t]) for t in range(len(track))])
    angles = np.stack([ray_angles(rig.cameras, points[t], agreed[t]) for t in range(len(track))])
    return dataclasses.replace(track, weights=weights, points=points, angles=angles)


def leave_one_out(model: BodyModel, rig: CameraRig, tracks: list[TrackViews], config: MultiViewConfig,
                  ) -> list[np.ndarray]:
    """Per track (T, V): the median pixel distance, in camera v, between its detections there
    (every point above the confidence threshold, agreeing with the others or not) and the
    projection of a fit made without camera v (NaN where v did not see the person). Needs at
    least three cameras."""
    errors = [np.full((len(track), len(rig)), np.nan) for track in tracks]
    if len(rig) < 3:
        log.warning("leave-one-camera-out needs at least three cameras; this rig has %d", len(rig))
        return errors
    for view, camera in enumerate(rig):
        reduced = [without_camera(track, view, rig) for track in tracks]
        fits = fit_tracks(model, rig.cameras, reduced, config.fit)
        for track, fit, error in zip(tracks, fits, errors):
            for row in range(len(track)):
                seen = track.confidence[row, view] > 0
                if seen.any():
                    distance = np.linalg.norm(camera.project_pinhole(fit.keypoints_3d[row]) - track.pixels[row, view],
                                              axis=-1)
                    error[row, view] = float(np.median(distance[seen]))
    return errors


def narrowest_angles(track: TrackViews) -> np.ndarray:
    """(T,) per instant the median over its triangulated points of the widest angle between
    two of a point's rays (degrees, 0..90; NaN where nothing was triangulated)."""
    known = np.isfinite(track.points).all(-1) & (track.angles > 0)
    with np.errstate(all="ignore"):
        return np.array([np.median(a[k]) if k.any() else np.nan for a, k in zip(track.angles, known)])


@dataclass
class Reconstruction:
    """Everything a clip's detections became: per instant the ``matched`` people, the kept
    ``tracks``, each track's ``observations`` and ``fits`` (in the tracks' order), and per
    track the leave-one-camera-out errors ``loo`` (T, V) (None when not asked for)."""

    matched: list[list[MatchedPerson]]
    tracks: list[PersonTrack]
    observations: list[TrackViews]
    fits: list[WorldFit]
    loo: list[np.ndarray | None]
    seconds: float


def reconstruct(model: BodyModel, rig: CameraRig, detections: list[InstantDetections],
                config: MultiViewConfig, leave_out: bool = False) -> Reconstruction:
    """Match, triangulate, track and fit (with ``leave_out``, also each camera left out)."""
    began = time.perf_counter()
    matched = [match_instant(rig.cameras, d.views, config.matching) for d in detections]
    tracks = track_people_3d(matched, config.tracking)
    observations = [track_views(track, matched, detections, len(rig)) for track in tracks]
    log.info("%d instants, %d cameras, %d tracks", len(detections), len(rig), len(tracks))
    fits = fit_tracks(model, rig.cameras, observations, config.fit)
    loo = leave_one_out(model, rig, observations, config) if leave_out else [None] * len(fits)
    return Reconstruction(matched, tracks, observations, fits, loo, time.perf_counter() - began)


@dataclass
class MultiViewStrategy:
    """Fits every person seen by several calibrated cameras with the SMPL-X body of
    ``gender``, one shape per track, in the calibration's world frame."""

    config: MultiViewConfig
    source: CameraViews
    gender: str = "neutral"
    model_folder: str | None = None
    device: str = "cpu"
    resumes_per_image: bool = False
    model: BodyModel | None = field(default=None, init=False)

    @property
    def key(self) -> ModelKey:
        return ModelKey("smplx", self.gender)

    def check(self, options: RunOptions) -> None:
        """The calibration read (and its lens model usable) and the body model loaded, each a
        ``RunError`` before any frame is read."""
        rig = self.source.load_rig()
        try:
            for camera in rig:
                camera.undistort(np.zeros((1, 2)))
        except CalibrationError as error:
            raise RunError(f"{self.source.calibration}: {error}") from error
        try:
            self.model = BodyModel("smplx", self.gender, self.model_folder).to(self.device)
        except (ModelFileError, FileNotFoundError, ValueError, RuntimeError) as error:
            raise RunError(f"the body model on --device {self.device}: {error}") from error

    def resolved(self) -> dict[str, Any]:
        return {"multiview": self.config.to_dict()}

    def faces(self, key: ModelKey) -> Any:
        return self.model.faces

    def fit(self, instants: list[Instant], writer: ResultWriter, options: RunOptions) -> dict[str, Any]:
        rig = self.source.load_rig()
        detections = [read_instant(instant, rig) for instant in instants]
        result = reconstruct(self.model, rig, detections, self.config, self.config.outputs.leave_one_out)
        self._write(instants, writer, options, rig, detections, result)
        person_instants = sum(int(fit.seen.sum()) for fit in result.fits)
        return {"multiview": {"cameras": rig.names, "fps": self.source.fps, "person_instants": person_instants,
                              "fit_seconds": result.seconds,
                              "seconds_per_person_instant": result.seconds / max(1, person_instants),
                              "tracks": {fit.track_id: {"instants": [int(fit.instants[0]), int(fit.instants[-1])],
                                                        "seen": int(fit.seen.sum())} for fit in result.fits}}}

    def _write(self, instants: list[Instant], writer: ResultWriter, options: RunOptions, rig: CameraRig,
               detections: list[InstantDetections], result: Reconstruction) -> None:
        stems = [instant.stem for instant in instants]
        matched, tracks, fits, loo = result.matched, result.tracks, result.fits, result.loo
        for stale in [*(options.output / "tracks").glob("*.npz"), *(options.output / "tracks").glob("*.trc")]:
            stale.unlink()  # an earlier run's tracks: this run numbers its own
        people: dict[int, list[dict[str, np.ndarray]]] = {index: [] for index in range(len(instants))}
        for track, fit, errors, observed in zip(tracks, fits, loo, result.observations):
            angles = narrowest_angles(observed)
            if np.nanmedian(angles) < self.config.outputs.narrow_angle:
                log.warning("track %d: its cameras see it from nearly one line (rays cross at %.0f degrees, median): "
                            "depth along them is poorly fixed", fit.track_id, np.nanmedian(angles))
            meshes = track_meshes(self.model, fit)
            write_track(options.output, fit, meshes, stems, self.source.fps or 30.0, self.key,
                        self.config.outputs.trc_y_up)
            for row, instant in enumerate(fit.instants):
                if int(instant) in track.people:
                    seen_2d = observed_raw(track, matched, detections, int(instant), len(rig))
                    arrays = person_arrays(meshes, row, rig, seen_2d, self.key, None if errors is None else errors[row])
                    arrays["triangulation_angle_deg"] = np.array(angles[row])
                    people[int(instant)].append(arrays)
        write_track_index(options.output, fits, stems)
        for index, instant in enumerate(instants):
            found = sorted(people[index], key=lambda p: int(p["track_id"]))
            record: dict[str, Any] = {"image": {name: str(item.image) for name, item in instant.views.items()},
                                      "cameras": list(instant.views), "people": [person_entry(a) for a in found]}
            detected = sum(len(raw) for raw in detections[index].raw)
            if detections[index].errors:
                record["view_errors"] = detections[index].errors
            if found:
                record["status"] = "ok"
            elif len(detections[index].errors) == len(instant.views) and instant.views:
                record.update(status="failed", reason="no keypoint file of this instant could be read")
            else:
                matched_here = len(result.matched[index])
                reason = (f"{detected} detections, nobody seen by two or more cameras" if not matched_here else
                          f"{matched_here} people matched across cameras, none in a track long enough to keep "
                          f"(tracking.min_length)")
                record.update(status="skipped", reason=reason)
            write_instant(writer, self.model, instant, record, found, rig, self.config.outputs)
