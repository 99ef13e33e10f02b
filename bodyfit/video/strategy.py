"""Video as a run's fit strategy (``fit.py --video FILE`` and ``--images FRAMES --sequence``):
people tracked across the frames, every track fitted as one sequence, then the outputs:

- per frame, the image output contract through the run's writer: results, meshes, overlays and
  records, every person with their ``track_id``; people in no track are recorded as skipped;
- per track, ``tracks/<track:03d>.npz``: T x parameters, ``frame_indices``, ``frame_names``,
  ``seen`` (frames with a detection; the others are bridged by the fit), ``fps``;
- ``overlay.mp4``: the overlays as a video, each person labelled with their track.

The driver (``pipeline.runner``) reads the frames (``VideoFile`` extracts a video's) and their
keypoints, and writes the summary, index and report.

Shapes: T frames of a track, K keypoints.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bodyfit.bodymodels.files import ModelFileError
from bodyfit.bodymodels.layer import BodyModel, BodyParams
from bodyfit.fileio.atomic import write_json, write_npz
from bodyfit.fileio.images import ImageError, read_image
from bodyfit.fileio.keypoint_layout import BODY, OPENPOSE
from bodyfit.fileio.openpose_json import ImageItem
from bodyfit.fitting.config import FitConfig
from bodyfit.geometry import project
from bodyfit.fitting.metrics import reprojection_error
from bodyfit.fitting.regressor_init import cached_regressor, uses_open_model
from bodyfit.fitting.tasks import ModelKey, PersonFit
from bodyfit.pipeline.prepare import PreparedImage, prepare_image
from bodyfit.pipeline.results import ResultWriter
from bodyfit.pipeline.runner import RunError, RunOptions, match_keypoints
from bodyfit.regressor.checkpoint import resolve
from bodyfit.rendering.draw import draw_label
from bodyfit.video.config import VideoFitConfig
from bodyfit.video.sequence_fit import TrackFit, TrackObservations, fit_sequences
from bodyfit.video.starts import cached_temporal, make_starts
from bodyfit.video.tracking import Track, track_people

log = logging.getLogger("bodyfit")


@dataclass
class VideoFile:
    """A video file whose frames are extracted into ``OUTPUT/frames`` (every ``stride``-th, at
    most ``max_frames``); ``fps`` is the extracted frames' rate once ``frames`` has run."""

    path: Path
    max_frames: int | None = None
    stride: int = 1
    fps: float | None = None

    def frames(self, output: Path) -> Path:
        from bodyfit.fileio.video import VideoError, extract_frames

        try:
            _, self.fps = extract_frames(self.path, output / "frames", self.max_frames, self.stride)
        except VideoError as error:
            raise RunError(str(error)) from error
        return output / "frames"

    def items(self, options: RunOptions) -> list[ImageItem]:
        return match_keypoints(self.frames(options.output), options)

    def describe(self) -> dict[str, Any]:
        return {"video": str(self.path), "fps": self.fps, "stride": self.stride, "max_frames": self.max_frames}


def detections(prepared: list[PreparedImage]) -> list[np.ndarray]:
    """Per frame (P, K, 3): its tasks' keypoints and confidences (unusable points zero)."""
    return [np.stack([np.column_stack([t.keypoints, t.confidence]) for t in frame.tasks])
            if frame.tasks else np.zeros((0, 25, 3)) for frame in prepared]


def observations(track: Track, prepared: list[PreparedImage]) -> TrackObservations:
    """The track's keypoints over its whole span (zeros in the frames it missed)."""
    first, last = track.span
    task = prepared[first].tasks[track.detections[first]]
    keypoints = np.zeros((last - first + 1, *task.keypoints.shape))
    confidence = np.zeros((last - first + 1, len(task.confidence)))
    for frame, index in track.detections.items():
        keypoints[frame - first] = prepared[frame].tasks[index].keypoints
        confidence[frame - first] = prepared[frame].tasks[index].confidence
    return TrackObservations(keypoints, confidence, task.intrinsics, task.image_size,
                             np.arange(first, last + 1), track.track_id)


def track_params(model: BodyModel, fit: TrackFit) -> BodyParams:
    """Body-model parameters (T, D) of a fitted track (hands, jaw, eyes and expression at rest)."""
    params = model.zero_params(len(fit.frame_indices))
    for name in ("global_orient", "body_pose", "transl"):
        getattr(params, name)[:] = torch.as_tensor(fit.params[name])
    params.betas[:, :fit.params["betas"].shape[1]] = torch.as_tensor(fit.params["betas"])
    return params


@dataclass
class TrackMeshes:
    """A fitted track through the full body model: ``params`` (T, D), ``vertices`` (T, V, 3),
    ``joints`` (T, J, 3), ``keypoints`` (T, K, 3), camera frame."""

    fit: TrackFit
    params: BodyParams
    vertices: np.ndarray
    joints: np.ndarray
    keypoints: np.ndarray


@torch.no_grad()
def track_meshes(model: BodyModel, fit: TrackFit, chunk: int = 64) -> TrackMeshes:
    """The full forward of every frame of a track, ``chunk`` frames at a time."""
    params = track_params(model, fit)
    parts = []
    for start in range(0, len(fit.frame_indices), chunk):
        rows = slice(start, start + chunk)
        output = model(type(params)(**{k: v[rows] for k, v in params.as_dict().items()}))
        parts.append((output.vertices.numpy(), output.joints.numpy(), output.keypoints.numpy()))
    return TrackMeshes(fit, params, *(np.concatenate([p[i] for p in parts]) for i in range(3)))


def person_fit(meshes: TrackMeshes, frame: int, prepared: PreparedImage, index: int, key: ModelKey) -> PersonFit:
    """The image contract's fit of one person in one frame of a fitted track."""
    fit, task = meshes.fit, prepared.tasks[index]
    row = frame - int(fit.frame_indices[0])
    keypoints = meshes.keypoints[row]
    projected = project(torch.from_numpy(keypoints)[None], torch.from_numpy(task.intrinsics)[None])[0].numpy()
    error = reprojection_error(projected[BODY], task.keypoints[BODY], task.confidence[BODY], 0.0)
    return PersonFit(task.image_id, task.person_index, key, "ok",
                     params={k: v[row].numpy() for k, v in meshes.params.as_dict().items()},
                     vertices=meshes.vertices[row], joints=meshes.joints[row], keypoints_3d=keypoints,
                     keypoints_2d=projected, loss=fit.loss / len(fit.frame_indices), reprojection_error_px=error,
                     time_s=fit.seconds / len(fit.frame_indices), track_id=fit.track_id, frame_index=frame)


def write_track(output: Path, fit: TrackFit, track: TrackObservations, prepared: list[PreparedImage], fps: float,
                key: ModelKey) -> None:
    """``tracks/<track:03d>.npz``."""
    write_npz(output / "tracks" / f"{fit.track_id:03d}.npz", {
        **fit.params, "frame_indices": fit.frame_indices,
        "frame_names": np.array([prepared[f].item.stem for f in fit.frame_indices]), "seen": fit.seen,
        "fps": np.array(fps), "track_id": np.array(fit.track_id), "keypoints_3d": fit.keypoints_3d,
        "keypoints_2d": fit.keypoints_2d, "focal_length": track.intrinsics[:2], "camera_center": track.intrinsics[2:],
        "model_type": np.array(key.model_type), "gender": np.array(key.gender), "loss": np.array(fit.loss)})


def track_index(prepared: list[PreparedImage], tracks: list[Track]) -> dict[str, dict[str, int]]:
    """Frame stem -> person index (as in results/<stem>/<pid>.npz) -> track id."""
    index: dict[str, dict[str, int]] = {}
    for track in tracks:
        for frame, detection in sorted(track.detections.items()):
            person = prepared[frame].tasks[detection].person_index
            index.setdefault(prepared[frame].item.stem, {})[f"{person:03d}"] = track.track_id
    return index


def write_frames(writer: ResultWriter, model: BodyModel, prepared: list[PreparedImage], tracks: list[Track],
                 fits: list[TrackFit], key: ModelKey) -> None:
    """Every frame through the image contract; people in no track recorded as skipped."""
    meshes = {fit.track_id: track_meshes(model, fit) for fit in fits}
    owner = {(frame, index): meshes[fit.track_id] for track, fit in zip(tracks, fits)
             for frame, index in track.detections.items()}
    for frame, image in enumerate(prepared):
        writer.expect(image, time.perf_counter())
        people = []
        for index, task in enumerate(image.tasks):
            if (frame, index) in owner:
                people.append(person_fit(owner[(frame, index)], frame, image, index, key))
            else:
                people.append(PersonFit(task.image_id, task.person_index, key, "skipped",
                                        "in no track (too short, or too few keypoints to link)", frame_index=frame))
        writer.consume(people)


def write_overlay_video(output: Path, prepared: list[PreparedImage], fits: list[TrackFit], fps: float) -> None:
    """``overlay.mp4``: each frame's overlay (or the frame itself) with each detected person's
    track label."""
    from bodyfit.fileio.video import write_video

    labels: dict[int, list[tuple[int, np.ndarray]]] = {}
    for fit in fits:
        for row in np.flatnonzero(fit.seen):  # bridged frames have no mesh in the overlay: no label
            labels.setdefault(int(fit.frame_indices[row]), []).append((fit.track_id, fit.keypoints_2d[row]))

    def frames():
        for frame, image in enumerate(prepared):
            overlay = output / "images" / f"{image.item.stem}.png"
            try:
                pixels = read_image(overlay if overlay.is_file() else image.item.image)
            except ImageError as error:
                log.warning("overlay video: %s", error)
                continue
            for track_id, points in labels.get(frame, []):
                x, y = points[OPENPOSE["Nose"]] - np.array([20.0, 60.0])
                pixels = draw_label(pixels, f"track {track_id}", (int(max(0, x)), int(max(0, y))))
            yield pixels

    write_video(output / "overlay.mp4", frames(), fps)


@dataclass
class SequenceStrategy:
    """Tracks people through the frames and fits each track as one sequence with the SMPL-X
    body of ``gender`` (one shape per track). ``source`` gives the frame rate (a ``VideoFile``
    after extraction, or an image folder's ``fps``)."""

    config: VideoFitConfig
    fit_config: FitConfig
    source: Any
    gender: str = "neutral"
    model_folder: str | None = None
    focal_length: str | float = "auto"
    resumes_per_image: bool = False
    model: BodyModel | None = field(default=None, init=False)

    @property
    def key(self) -> ModelKey:
        return ModelKey("smplx", self.gender)

    def check(self, options: RunOptions) -> None:
        """The body model and the start's checkpoint loaded now, and PyAV there when overlays
        are asked for (``overlay.mp4``): each a ``RunError`` before frames are read."""
        starts = self.config.sequence_fit
        try:
            self.model = BodyModel("smplx", self.gender, self.model_folder)
            if starts.start == "temporal":
                cached_temporal(starts.temporal, "cpu")
            else:
                cached_regressor(str(resolve(starts.regressor)), "cpu")
        except (ModelFileError, FileNotFoundError, ValueError) as error:
            raise RunError(str(error)) from error
        if options.overlay:
            try:
                import av  # noqa: F401
            except ImportError:
                raise RunError("overlay.mp4 needs PyAV: pip install 'bodyfit[video]', or give --no-overlay") from None

    def resolved(self) -> dict[str, Any]:
        return {"video": self.config.to_dict(), "fit": self.fit_config.to_dict()}

    def faces(self, key: ModelKey) -> Any:
        return self.model.faces

    def fit(self, items: list[ImageItem], writer: ResultWriter, options: RunOptions) -> dict[str, Any]:
        fps = float(self.source.fps)
        prepared = [prepare_image(item, self.fit_config, self.key, self.focal_length, None) for item in items]
        tracks = track_people(detections(prepared), self.config.tracking)
        log.info("%d frames, %d tracks", len(prepared), len(tracks))
        observed = [observations(track, prepared) for track in tracks]
        starts = make_starts(observed, self.config.sequence_fit, open_model=uses_open_model(self.model))
        fits = fit_sequences(self.model, observed, starts, self.config.sequence_fit)
        write_frames(writer, self.model, prepared, tracks, fits, self.key)
        for fit, track in zip(fits, observed):
            write_track(options.output, fit, track, prepared, fps, self.key)
        write_json(options.output / "tracks" / "index.json", track_index(prepared, tracks))
        if options.overlay and prepared:
            write_overlay_video(options.output, prepared, fits, self.config.video.overlay_fps or fps)
        log.info("tracks: %d", len(fits))
        return {"fps": fps, "tracks": {fit.track_id: {"frames": [int(fit.frame_indices[0]), int(fit.frame_indices[-1])],
                                                      "seen": int(fit.seen.sum())} for fit in fits}}
