"""What a multi-view run writes, in the calibration's world frame (metres):

- ``results/<frame>/<pid:03d>.npz`` per person and instant, ``pid`` the person's track: the
  body parameters, ``vertices``, ``joints``, ``keypoints_3d`` (25, 3) BODY_25, and per camera
  ``camera_names`` (V,), ``keypoints_2d`` (V, 25, 2) the fit's projection into each real
  (distorted) image, ``observed_2d`` (V, 25, 3) the detections matched to the person (zero
  where a camera did not see them), ``reprojection_error_px_per_camera`` (V,) the median
  distance between the two (NaN: not seen) and ``reprojection_error_px`` their median; with
  leave-one-out, ``loo_error_px_per_camera`` (V,) and ``loo_error_px``, the same for the fit
  made without that camera; ``meshes/<frame>/<pid:03d>.obj``;
- ``results/<frame>/image.json``, the record of the instant (written last);
- ``images/<frame>.png``: every camera's view side by side with the meshes drawn over it
  (with ``outputs.camera_overlays`` also ``images/<camera>/<frame>.jpg`` at full size);
- ``tracks/<track:03d>.npz`` (T x parameters, keypoints, joints, ``frame_names``, ``seen``,
  ``fps``), ``tracks/<track:03d>.trc`` (BODY_25 markers for OpenSim and Pose2Sim) and
  ``tracks/index.json`` (frame -> pid -> track).

Shapes: T instants of a track, V cameras, K = 25 keypoints.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import numpy as np
import torch

from bodyfit.bodymodels.layer import BodyModel, BodyParams
from bodyfit.fileio.atomic import write_json, write_npz
from bodyfit.fileio.cameras import CameraRig
from bodyfit.fileio.images import ImageError, read_image
from bodyfit.fileio.keypoint_layout import OPENPOSE
from bodyfit.fileio.trc import write_trc
from bodyfit.fileio.video import write_jpeg
from bodyfit.fitting.tasks import ModelKey
from bodyfit.multiview.config import OutputConfig
from bodyfit.multiview.fit import WorldFit
from bodyfit.multiview.views import Instant
from bodyfit.pipeline.results import ResultWriter
from bodyfit.rendering.draw import draw_label
from bodyfit.rendering.overlay import render_overlay

log = logging.getLogger("bodyfit")

BODY_25_NAMES = tuple(sorted(OPENPOSE, key=OPENPOSE.get))


@dataclass
class TrackMeshes:
    """A fitted track through the full body model: ``params`` name -> (T, D) (hands, jaw
    and expression at rest), ``joints`` (T, J, 3), world frame. Vertices are made per instant
    as they are written (``vertices_of``), so a long clip never holds them all."""

    fit: WorldFit
    params: dict[str, np.ndarray]
    joints: np.ndarray


def _params(model: BodyModel, values: dict[str, np.ndarray]) -> BodyParams:
    """Body-model parameters on the model's device from arrays of any of their names (N, D)."""
    count = len(next(iter(values.values())))
    params = model.zero_params(count)
    for name, value in values.items():
        target = getattr(params, name)
        target[:, :value.shape[1]] = torch.as_tensor(value, dtype=target.dtype)
    return params


@torch.no_grad()
def track_meshes(model: BodyModel, fit: WorldFit, chunk: int = 64) -> TrackMeshes:
    """Every instant's full parameters and the model's joints."""
    params = _params(model, {name: fit.params[name] for name in ("global_orient", "body_pose", "transl", "betas")})
    joints = [model.keypoints(type(params)(**{k: v[start:start + chunk] for k, v in params.as_dict().items()}))[0]
              for start in range(0, len(fit.instants), chunk)]
    return TrackMeshes(fit, {k: v.cpu().numpy() for k, v in params.as_dict().items()},
                       torch.cat(joints).cpu().numpy())


@torch.no_grad()
def vertices_of(model: BodyModel, people: list[dict[str, np.ndarray]]) -> np.ndarray:
    """(P, V, 3) the meshes of people given by their parameter arrays (each name -> (D,))."""
    names = [f.name for f in fields(BodyParams)]
    params = _params(model, {name: np.stack([p[name] for p in people]) for name in names})
    return model(params).vertices.cpu().numpy()


def person_arrays(meshes: TrackMeshes, row: int, rig: CameraRig, observed: np.ndarray, key: ModelKey,
                  loo_error: np.ndarray | None) -> dict[str, np.ndarray]:
    """One person's npz arrays at row ``row`` of their track; ``observed`` (V, 25, 3) the
    detections matched to them (distorted pixels)."""
    fit = meshes.fit
    keypoints = fit.keypoints_3d[row]
    projected = np.stack([camera.project(keypoints) for camera in rig])
    seen = observed[..., 2] > 0
    distance = np.linalg.norm(projected - observed[..., :2], axis=-1)
    with np.errstate(all="ignore"):
        error = np.array([np.median(d[s]) if s.any() else np.nan for d, s in zip(distance, seen)])
    arrays = {
        **{name: value[row] for name, value in meshes.params.items()},
        "joints": meshes.joints[row], "keypoints_3d": keypoints,
        "camera_names": np.array(rig.names), "keypoints_2d": projected, "observed_2d": observed,
        "reprojection_error_px_per_camera": error, "reprojection_error_px": _median(error),
        "turned": np.array(False), "track_id": np.array(fit.track_id),
        "frame_index": np.array(int(fit.instants[row])), "model_type": np.array(key.model_type),
        "gender": np.array(key.gender), "loss": np.array(fit.loss / len(fit.instants)),
        "time_s": np.array(fit.seconds / len(fit.instants)), "world_frame": np.array(True),
    }
    if loo_error is not None:
        arrays["loo_error_px_per_camera"], arrays["loo_error_px"] = loo_error, _median(loo_error)
    return arrays


def _median(values: np.ndarray) -> np.ndarray:
    """The median of the finite values (NaN if none), as a 0-d array."""
    finite = values[np.isfinite(values)]
    return np.array(np.median(finite) if len(finite) else np.nan)


def person_entry(arrays: dict[str, np.ndarray]) -> dict:
    """The person's entry in the instant's record."""
    error = float(arrays["reprojection_error_px"])
    entry = {"index": int(arrays["track_id"]), "status": "ok", "track_id": int(arrays["track_id"]),
             "frame_index": int(arrays["frame_index"]),
             "views": int(np.isfinite(arrays["reprojection_error_px_per_camera"]).sum()),
             "reprojection_error_px": error if np.isfinite(error) else None,
             "model_type": str(arrays["model_type"]), "gender": str(arrays["gender"]),
             "loss": float(arrays["loss"]), "time_s": float(arrays["time_s"])}
    if "triangulation_angle_deg" in arrays and np.isfinite(arrays["triangulation_angle_deg"]):
        entry["triangulation_angle_deg"] = float(arrays["triangulation_angle_deg"])
    if "loo_error_px" in arrays and np.isfinite(arrays["loo_error_px"]):
        entry["loo_error_px"] = float(arrays["loo_error_px"])
    return entry


def camera_overlays(instant: Instant, rig: CameraRig, people: list[np.ndarray], faces: np.ndarray,
                    height: int | None) -> list[tuple[str, np.ndarray]]:
    """Per camera that has a frame at ``instant``: its name and the frame with the world-frame
    meshes ``people`` (each (V, 3)) drawn over it (pinhole: the lens is not applied to the
    meshes), scaled to ``height`` (None: full size)."""
    from PIL import Image

    out = []
    for camera in rig:
        item = instant.views.get(camera.name)
        if item is None:
            continue
        try:
            pixels = read_image(item.image)
        except ImageError as error:
            log.warning("%s: no overlay for camera %s: %s", instant.stem, camera.name, error)
            continue
        scale = 1.0 if height is None else height / pixels.shape[0]  # drawn at the output size: meshes cost by the pixel
        if scale != 1.0:
            size = (max(1, round(pixels.shape[1] * scale)), height)
            pixels = np.asarray(Image.fromarray(pixels).resize(size, Image.BILINEAR))
        if people:
            pixels = render_overlay(pixels, [camera.to_camera(v) for v in people], faces, camera.intrinsics * scale)
        out.append((camera.name, pixels))
    return out


def side_by_side(overlays: list[tuple[str, np.ndarray]]) -> np.ndarray | None:
    """(H, W, 3) the overlays (one height) next to each other, each labelled; None if none."""
    tiles = [draw_label(pixels, name, (8, 8), (255, 255, 255)) for name, pixels in overlays]
    return np.concatenate(tiles, axis=1) if tiles else None


def write_instant(writer: ResultWriter, model: BodyModel, instant: Instant, record: dict,
                  people: list[dict[str, np.ndarray]], rig: CameraRig, outputs: OutputConfig) -> None:
    """The instant's people (their arrays, with ``vertices`` added), its overlays and its
    record (last)."""
    if people:
        for arrays, vertices in zip(people, vertices_of(model, people)):
            arrays["vertices"] = vertices
    meshes = [a["vertices"] for a in people]
    overlay = None
    if writer.overlay and instant.views:
        overlay = side_by_side(camera_overlays(instant, rig, meshes, model.faces, outputs.overlay_height))
        if outputs.camera_overlays:
            for name, pixels in camera_overlays(instant, rig, meshes, model.faces, None):
                write_jpeg(writer.output / "images" / name / f"{instant.stem}.jpg", pixels)
    writer.write_record(instant.stem, record, {int(a["track_id"]): a for a in people}, overlay)


def write_track(output, fit: WorldFit, meshes: TrackMeshes, stems: list[str], fps: float, key: ModelKey,
                trc_y_up: bool) -> None:
    """``tracks/<track:03d>.npz`` and ``.trc``."""
    names = np.array([stems[i] for i in fit.instants])
    write_npz(output / "tracks" / f"{fit.track_id:03d}.npz", {
        **meshes.params, "keypoints_3d": fit.keypoints_3d, "joints": meshes.joints, "frame_indices": fit.instants,
        "frame_names": names, "seen": fit.seen, "fps": np.array(fps), "track_id": np.array(fit.track_id),
        "model_type": np.array(key.model_type), "gender": np.array(key.gender), "loss": np.array(fit.loss),
        "world_frame": np.array(True)})
    write_trc(output / "tracks" / f"{fit.track_id:03d}.trc", fit.keypoints_3d, list(BODY_25_NAMES), fps,
              first_frame=int(fit.instants[0]) + 1, y_up=trc_y_up)


def write_track_index(output, fits: list[WorldFit], stems: list[str]) -> None:
    """``tracks/index.json``: frame stem -> pid -> track id (pid is the track here)."""
    index: dict[str, dict[str, int]] = {}
    for fit in fits:
        for row in np.flatnonzero(fit.seen):
            index.setdefault(stems[int(fit.instants[row])], {})[f"{fit.track_id:03d}"] = fit.track_id
    write_json(output / "tracks" / "index.json", index)
