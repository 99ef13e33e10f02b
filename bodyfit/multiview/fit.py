"""One body per person and instant, fitted to every camera at once, in the calibration's world
frame (metres), as EasyMocap does it:

1. **Shape**, one per track, from its median bone lengths between triangulated keypoints
   (limbs, shoulder and hip widths, the trunk), with an L2 prior on the betas.
2. **Start** per instant: the rest body of that shape turned and moved onto the triangulated
   torso (Kabsch), then each instant fitted alone onto its triangulated keypoints.
3. **The fit** of every track's instants together, in overlapping windows fitted as one batch
   (``fitting.batch_lbfgs``): robust, confidence-weighted reprojection (Geman-McClure) in every
   camera, each camera's data weight ``data_weight_scale / image height`` as the single-view
   fit; the triangulated keypoints (EasyMocap's k3d); an L2 on the body angles; SMPLify-X's
   bending prior; acceleration of the keypoints, the joint rotations and the translation
   along time. Instants a track missed have no data term: smoothness carries the body.

The detections are undistorted pixels (``fileio.cameras.Camera.undistort``), so every camera
is a pinhole here. The variables per instant are a rotation vector correcting the start's
global orientation, the 63 body angles and the translation.

Shapes: N windows, T instants, V cameras, K = 25 BODY_25 keypoints, J = 22 joints.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import roma
import torch

from bodyfit.bodymodels.joints import NUM_BODY_JOINTS, NUM_BODY_JOINTS_WITH_PELVIS
from bodyfit.bodymodels.layer import BodyModel
from bodyfit.fileio.cameras import Camera
from bodyfit.fileio.keypoint_layout import NUM_BODY, OPENPOSE
from bodyfit.fitting.batch_lbfgs import batch_lbfgs
from bodyfit.fitting.losses import reprojection_term
from bodyfit.geometry import project
from bodyfit.multiview.config import FitConfig
from bodyfit.priors.simple import bending_prior_from_rotations, squared_norm
from bodyfit.regressor.body import body_points
from bodyfit.video.sequence_fit import Window, fit_in_windows, rotation_params, second_difference, window_body

# Bones whose lengths give a track its shape: (from, to) BODY_25 names.
BONES = (("RShoulder", "RElbow"), ("RElbow", "RWrist"), ("LShoulder", "LElbow"), ("LElbow", "LWrist"),
         ("RHip", "RKnee"), ("RKnee", "RAnkle"), ("LHip", "LKnee"), ("LKnee", "LAnkle"),
         ("RShoulder", "LShoulder"), ("RHip", "LHip"), ("Neck", "MidHip"), ("RAnkle", "RHeel"),
         ("LAnkle", "LHeel"), ("Nose", "Neck"))
TORSO = ("Neck", "RShoulder", "LShoulder", "MidHip", "RHip", "LHip")


@dataclass
class TrackViews:
    """One track over its span of T consecutive instants: ``pixels`` (T, V, K, 2) undistorted,
    ``confidence`` (T, V, K) the matched detections' confidences (0 in views and instants
    without one), ``weights`` (T, V, K) what the fit weighs each point by
    (``MatchedPerson.weights``), ``points`` (T, K, 3) triangulated keypoints (NaN: unknown),
    ``angles`` (T, K) the widest angle between two of each point's rays (degrees, 0..90),
    ``instants`` (T,) consecutive indices, ``track_id``."""

    pixels: np.ndarray
    confidence: np.ndarray
    weights: np.ndarray
    points: np.ndarray
    angles: np.ndarray
    instants: np.ndarray
    track_id: int = 0

    def __len__(self) -> int:
        return len(self.pixels)

    @property
    def seen(self) -> np.ndarray:
        """(T,) instants with at least four triangulated keypoints."""
        return np.isfinite(self.points).all(-1).sum(-1) >= 4


@dataclass
class WorldFit:
    """A fitted track in the world frame: ``params`` name -> (T, D) (``global_orient``,
    ``body_pose``, ``betas`` (one shape in every row), ``transl``), ``keypoints_3d``
    (T, 25, 3), ``joints`` (T, 22, 3), ``seen`` (T,), ``loss`` the sum of its windows' final
    losses, ``seconds`` its share of the fit's wall time."""

    track_id: int
    instants: np.ndarray
    params: dict[str, np.ndarray]
    keypoints_3d: np.ndarray
    joints: np.ndarray
    seen: np.ndarray
    loss: float
    seconds: float


@dataclass
class CameraTensors:
    """The cameras as tensors: ``rotation`` (V, 3, 3), ``translation`` (V, 3),
    ``intrinsics`` (V, 4), ``data_weight`` (V,) = data_weight_scale / image height."""

    rotation: torch.Tensor
    translation: torch.Tensor
    intrinsics: torch.Tensor
    data_weight: torch.Tensor

    @staticmethod
    def of(cameras: list[Camera], data_weight_scale: float, device: torch.device) -> "CameraTensors":
        def tensor(values) -> torch.Tensor:
            return torch.as_tensor(np.stack(values), dtype=torch.float32, device=device)

        return CameraTensors(tensor([c.rotation for c in cameras]), tensor([c.translation for c in cameras]),
                             tensor([c.intrinsics for c in cameras]),
                             tensor([data_weight_scale / c.image_size[0] for c in cameras]))

    def project(self, points: torch.Tensor) -> torch.Tensor:
        """(B, V, K, 2) undistorted pixels of world ``points`` (B, K, 3) in every camera."""
        local = torch.einsum("vij,bkj->bvki", self.rotation, points) + self.translation[None, :, None]
        return project(local, self.intrinsics[None].expand(len(points), -1, -1))


def _indices(names: tuple[str, ...]) -> list[int]:
    return [OPENPOSE[name] for name in names]


def _rest_keypoints(model: BodyModel, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Joints (B, 22, 3) and BODY_25 keypoints (B, 25, 3) of the rest body of ``betas`` (B, 10)."""
    identity = torch.eye(3, device=betas.device).expand(len(betas), NUM_BODY_JOINTS_WITH_PELVIS, 3, 3)
    return body_points(model, identity, betas, betas.new_zeros(len(betas), 3))


def median_bone_lengths(points: np.ndarray) -> np.ndarray:
    """(B,) each bone's median length over the instants of ``points`` (T, 25, 3) (NaN where
    never seen, or where the caller masked a point as NaN)."""
    start, end = np.array(_indices(tuple(b[0] for b in BONES))), np.array(_indices(tuple(b[1] for b in BONES)))
    lengths = np.linalg.norm(points[:, start] - points[:, end], axis=-1)
    with np.errstate(all="ignore"):
        return np.array([np.nanmedian(column) if np.isfinite(column).any() else np.nan for column in lengths.T])


def fit_shapes(model: BodyModel, tracks: list[TrackViews], config: FitConfig, device: torch.device) -> torch.Tensor:
    """(N, 10) one shape per track fitted to its median bone lengths."""
    ignored = _indices(config.ignored_keypoints)
    lengths = []
    for track in tracks:
        points = track.points.copy()
        points[:, ignored] = np.nan  # bones to a point the detector puts elsewhere than the model do not count
        lengths.append(median_bone_lengths(points))
    target = torch.as_tensor(np.stack(lengths), dtype=torch.float32, device=device)
    known = torch.isfinite(target)
    target = torch.nan_to_num(target)
    start = torch.tensor(_indices(tuple(b[0] for b in BONES)), device=device)
    end = torch.tensor(_indices(tuple(b[1] for b in BONES)), device=device)
    betas = torch.zeros(len(tracks), 10, device=device, requires_grad=True)
    optimiser = torch.optim.LBFGS([betas], max_iter=config.shape_iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        _, keypoints = _rest_keypoints(model, betas)
        lengths = (keypoints[:, start] - keypoints[:, end]).norm(dim=-1)
        residual = torch.where(known, lengths - target, torch.zeros_like(target))
        loss = (100.0 * residual).pow(2).sum() + config.weights.shape ** 2 * betas.pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return betas.detach()


def _fill_nearest(points: np.ndarray) -> np.ndarray:
    """(T, K, 3) each keypoint's NaN instants filled from its nearest finite instant (left NaN
    where never seen)."""
    filled = points.copy()
    frames = np.arange(len(points))
    for k in range(points.shape[1]):
        finite = np.flatnonzero(np.isfinite(points[:, k]).all(-1))
        if len(finite):
            nearest = finite[np.abs(frames[:, None] - finite[None]).argmin(1)]
            filled[:, k] = points[nearest, k]
    return filled


def torso_starts(model: BodyModel, points: np.ndarray, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Global rotations (T, 3, 3) and translations (T, 3) that put the rest body of ``betas``
    (10,) onto each instant's triangulated torso (``points`` (T, 25, 3), gaps filled from the
    nearest instant; an instant with no torso point keeps the rest orientation)."""
    joints, rest = _rest_keypoints(model, betas[None])
    torso = _indices(TORSO)
    target = torch.as_tensor(_fill_nearest(points)[:, torso], dtype=torch.float32, device=betas.device)
    known = torch.isfinite(target).all(-1).float()
    source = rest[0, torso].expand(len(points), -1, -1)
    rotation, translation = roma.rigid_points_registration(source, torch.nan_to_num(target), weights=known + 1e-6)
    root = joints[0, 0]
    return rotation, translation - root + torch.einsum("tij,j->ti", rotation, root)


@dataclass
class _Windows:
    """Constants of N windows of one length T."""

    pixels: torch.Tensor           # (N, T, V, K, 2)
    weights: torch.Tensor          # (N, T, V, K)
    points: torch.Tensor           # (N, T, K, 3), zero where unknown
    known: torch.Tensor            # (N, T, K) 1 where triangulated
    start_rotations: torch.Tensor  # (N, T, 22, 3, 3)
    start_transl: torch.Tensor     # (N, T, 3)
    betas: torch.Tensor            # (N, 10)


def window_terms(model: BodyModel, rig: CameraTensors, windows: _Windows, rows: torch.Tensor, x: torch.Tensor,
                 config: FitConfig, smooth: bool = True) -> dict[str, torch.Tensor]:
    """Per-window (N,) weighted terms of the variables ``x`` (N, T * 69) of windows ``rows``;
    ``total`` is their sum. Without ``smooth`` the per-instant terms alone, and no reprojection
    (the start: onto the triangulated keypoints)."""
    frames = windows.pixels.shape[1]
    count, w = len(x), config.weights
    pose, transl, rotations, keypoints = window_body(model, windows.start_rotations[rows], windows.betas[rows], x)
    points = keypoints.reshape(count, frames, NUM_BODY, 3)
    offset = (points - windows.points[rows]).pow(2).sum(-1) * windows.known[rows]
    body = rotations[:, :, 1:].reshape(-1, NUM_BODY_JOINTS, 3, 3)
    terms = {
        "keypoints_3d": w.keypoints_3d ** 2 * offset.sum((1, 2)),
        "body_pose": w.body_pose ** 2 * squared_norm(pose.reshape(count, -1)),
        "bending": w.bending ** 2 * bending_prior_from_rotations(body).reshape(count, frames).sum(1),
    }
    if smooth:
        views = windows.pixels.shape[2]
        projected = rig.project(keypoints)  # (N T, V, K, 2)
        data = reprojection_term(projected.reshape(-1, NUM_BODY, 2), windows.pixels[rows].reshape(-1, NUM_BODY, 2),
                                 windows.weights[rows].reshape(-1, NUM_BODY), config.rho).reshape(count, frames, views)
        terms["reprojection"] = w.reprojection ** 2 * (rig.data_weight ** 2 * data).sum((1, 2))
    if smooth and frames >= 3:
        terms["joint_acceleration"] = w.joint_acceleration ** 2 * second_difference(points).pow(2).sum((1, 2, 3))
        terms["pose_acceleration"] = w.pose_acceleration ** 2 * second_difference(rotations).pow(2).sum((1, 2, 3, 4))
        terms["translation_acceleration"] = (w.translation_acceleration ** 2
                                             * second_difference(transl).pow(2).sum((1, 2)))
    terms["total"] = sum(terms.values())
    return terms


def _starts(model: BodyModel, tracks: list[TrackViews], shapes: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per track, start rotations (T, 22, 3, 3) (rest body, torso-aligned) and translations (T, 3)."""
    starts = []
    for track, betas in zip(tracks, shapes):
        rotation, transl = torso_starts(model, track.points, betas)
        rotations = torch.eye(3, device=betas.device).repeat(len(track), NUM_BODY_JOINTS_WITH_PELVIS, 1, 1)
        rotations[:, 0] = rotation
        starts.append((rotations, transl))
    return starts


def _window_constants(tracks: list[TrackViews], starts: list[tuple[torch.Tensor, torch.Tensor]],
                      shapes: torch.Tensor, items: list[tuple[int, int, int]], config: FitConfig,
                      device: torch.device) -> _Windows:
    """The constants of the windows ``items`` ((track, start, end), one length), on
    ``device``; the config's ignored keypoints weigh nothing."""
    part = np.ones(NUM_BODY)
    part[_indices(config.ignored_keypoints)] = 0.0
    rows: dict[str, list[torch.Tensor]] = {k: [] for k in ("pixels", "weights", "points", "known", "rot", "transl",
                                                          "betas")}
    for track_index, start, end in items:
        track = tracks[track_index]
        points = track.points[start:end]
        rows["pixels"].append(torch.as_tensor(track.pixels[start:end], dtype=torch.float32))
        rows["weights"].append(torch.as_tensor(track.weights[start:end] * part, dtype=torch.float32))
        rows["points"].append(torch.as_tensor(np.nan_to_num(points), dtype=torch.float32))
        rows["known"].append(torch.as_tensor(np.isfinite(points).all(-1) * part, dtype=torch.float32))
        rows["rot"].append(starts[track_index][0][start:end].float())
        rows["transl"].append(starts[track_index][1][start:end].float())
        rows["betas"].append(shapes[track_index].float())
    stack = {name: torch.stack(values).to(device) for name, values in rows.items()}
    return _Windows(stack["pixels"], stack["weights"], stack["points"], stack["known"], stack["rot"],
                    stack["transl"], stack["betas"])


def _fit_windows(model: BodyModel, rig: CameraTensors, windows: _Windows, config: FitConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Fitted variables (N, T * 69) and final losses (N,): first each instant onto its
    triangulated keypoints, then everything together."""
    pose0 = roma.rotmat_to_rotvec(windows.start_rotations[:, :, 1:]).flatten(2)
    x0 = torch.cat([torch.zeros_like(windows.start_transl), pose0, windows.start_transl], dim=-1).flatten(1)

    def per_instant(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return window_terms(model, rig, windows, rows, x, config, smooth=False)["total"]

    def objective(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return window_terms(model, rig, windows, rows, x, config)["total"]

    if config.start_iterations > 0:
        x0, _ = batch_lbfgs(per_instant, x0, config.start_iterations, config.ftol, config.gtol)
    x, log = batch_lbfgs(objective, x0, config.max_iterations, config.ftol, config.gtol)
    return x, log.loss


def fit_tracks(model: BodyModel, cameras: list[Camera], tracks: list[TrackViews], config: FitConfig) -> list[WorldFit]:
    """Every track fitted (see the module docstring) on the body model's device; one
    ``WorldFit`` each, in order."""
    if not tracks:
        return []
    begun = time.perf_counter()
    device = next(model.buffers()).device
    rig = CameraTensors.of(cameras, config.data_weight_scale, device)
    shapes = fit_shapes(model, tracks, config, device)
    starts = _starts(model, tracks, shapes)

    def fit_group(group: list[Window]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        windows = _window_constants(tracks, starts, shapes, group, config, device)
        return (windows.start_rotations, *_fit_windows(model, rig, windows, config))

    fitted = fit_in_windows([len(track) for track in tracks], config.window, config.overlap, fit_group)
    seconds = (time.perf_counter() - begun) / sum(len(t) for t in tracks)
    return [_world_fit(model, track, betas, *part, seconds) for track, betas, part in zip(tracks, shapes, fitted)]


@torch.no_grad()
def _world_fit(model: BodyModel, track: TrackViews, betas: torch.Tensor, rotations: torch.Tensor,
               transl: torch.Tensor, loss: float, seconds_per_instant: float) -> WorldFit:
    betas = betas.float()[None].expand(len(track), -1)
    joints, keypoints = (value.cpu().numpy() for value in body_points(model, rotations, betas, transl))
    return WorldFit(track.track_id, np.asarray(track.instants), rotation_params(rotations, betas, transl), keypoints,
                    joints, track.seen, loss, seconds_per_instant * len(track))
