"""The sequence fit: every frame of a track fitted jointly, one shape per track, smooth in time.

Each track starts from per-frame predictions (the regressor's, or the temporal regressor's):
rotations, translation, and the median of its betas over the track's seen frames (the one
shape the whole track keeps). The variables per frame are a correction of the global
orientation (a rotation vector applied after the start's, so no axis-angle singularity at the
facing-camera 180 degrees), the 63 body angles and the translation. The objective per frame
is the default fit's (``fitting.losses.reprojection_term``: robust, confidence-weighted
BODY_25 reprojection; an L2 on the angles; SMPLify-X's bending prior; the anchor holding
each joint near the start's rotation), plus, along time, velocity and acceleration of the
BODY_25 keypoints in 3D, of the joint rotations, and acceleration of the translation. 3D
smoothness is measured in the data term's units (metres turned into pixels at the window's
depth, times the data weight), so one weight serves every camera. Frames a track missed
(occlusion) have no data term: smoothness carries the body through them.

Long tracks are cut into windows of ``window`` frames that overlap by ``overlap``; every
window of every track is one problem of the batched L-BFGS (``fitting.batch_lbfgs``),
fitted together; overlapping frames are blended with linear weights.

Shapes: N windows, T frames, K = 25 BODY_25 keypoints, J = 22 joints (global + 21 body).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import roma
import torch

from bodyfit.bodymodels.layer import BodyModel
from bodyfit.bodymodels.joints import NUM_BODY_JOINTS, NUM_BODY_JOINTS_WITH_PELVIS
from bodyfit.fileio.keypoint_layout import BODY, NUM_BODY, OPENPOSE
from bodyfit.fitting.batch_lbfgs import batch_lbfgs
from bodyfit.fitting.losses import reprojection_term
from bodyfit.geometry import project
from bodyfit.priors.simple import bending_prior_from_rotations, squared_norm
from bodyfit.regressor.body import body_points
from bodyfit.video.config import SequenceFitConfig



@dataclass
class TrackObservations:
    """One track over consecutive frames: ``keypoints`` (T, K', 2) px and ``confidence``
    (T, K') in bodyfit's layout (K' >= 25; only BODY_25 is fitted; all zero in frames the
    track missed), ``intrinsics`` (4,), ``image_size`` (height, width), ``frame_indices``
    (T,) consecutive, ``track_id``."""

    keypoints: np.ndarray
    confidence: np.ndarray
    intrinsics: np.ndarray
    image_size: tuple[int, int]
    frame_indices: np.ndarray
    track_id: int = 0

    def __post_init__(self) -> None:
        frames = len(self.keypoints)
        if self.keypoints.ndim != 3 or self.keypoints.shape[1] < NUM_BODY or self.keypoints.shape[2] != 2:
            raise ValueError(f"track {self.track_id}: keypoints must be (T, K>=25, 2), got {self.keypoints.shape}")
        if self.confidence.shape != self.keypoints.shape[:2]:
            raise ValueError(f"track {self.track_id}: confidence must be {self.keypoints.shape[:2]}, "
                             f"got {self.confidence.shape}")
        if np.shape(self.intrinsics) != (4,):
            raise ValueError(f"track {self.track_id}: intrinsics must be (4,), got {np.shape(self.intrinsics)}")
        if len(self.frame_indices) != frames or (frames > 1 and np.any(np.diff(self.frame_indices) != 1)):
            raise ValueError(f"track {self.track_id}: frame_indices must be {frames} consecutive frames")

    def __len__(self) -> int:
        return len(self.keypoints)

    def seen(self, config: SequenceFitConfig) -> np.ndarray:
        """(T,) frames with at least ``min_body_keypoints`` confident BODY_25 points."""
        return (self.confidence[:, BODY] > config.confidence_threshold).sum(1) >= config.min_body_keypoints


@dataclass
class SequenceStart:
    """Per-frame starts of one track: ``rotations`` (T, 22, 3, 3) global then body joints,
    ``betas`` (10,) the track's shape, ``transl`` (T, 3)."""

    rotations: torch.Tensor
    betas: torch.Tensor
    transl: torch.Tensor


@dataclass
class TrackFit:
    """A fitted track: ``params`` name -> (T, D) (``global_orient``, ``body_pose``, ``betas``
    (the track's one shape in every row), ``transl``), ``keypoints_3d`` (T, 25, 3) camera
    frame, ``keypoints_2d`` (T, 25, 2), ``seen`` (T,) frames with a detection, ``loss`` the
    sum of its windows' final losses, ``seconds`` its share of the fit's wall time."""

    track_id: int
    frame_indices: np.ndarray
    params: dict[str, np.ndarray]
    keypoints_3d: np.ndarray
    keypoints_2d: np.ndarray
    seen: np.ndarray
    loss: float
    seconds: float


def plan_windows(length: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) of windows of ``window`` frames overlapping by ``overlap`` that cover
    ``length`` frames; the last one ends at ``length`` (one window if it is shorter)."""
    if length <= window:
        return [(0, length)]
    step = window - overlap
    starts = list(range(0, length - window + 1, step))
    if starts[-1] + window < length:
        starts.append(length - window)
    return [(start, start + window) for start in starts]


def blend_weights(windows: list[tuple[int, int]], length: int) -> np.ndarray:
    """(W, T) per window and frame: weights rising linearly from a window's ends, zero
    outside it, summing to 1 over the windows at every frame."""
    weights = np.zeros((len(windows), length))
    for index, (start, end) in enumerate(windows):
        frames = np.arange(start, end)
        weights[index, start:end] = np.minimum(frames - start + 1, end - frames)
    return weights / weights.sum(0, keepdims=True)


def fill_unseen(values: torch.Tensor, seen: np.ndarray) -> torch.Tensor:
    """(T, ...) ``values`` with each unseen frame's row copied from the nearest seen frame."""
    if not seen.any():
        raise ValueError("a track needs at least one seen frame")
    seen_frames = np.flatnonzero(seen)
    frames = np.arange(len(seen))
    nearest = seen_frames[np.abs(frames[:, None] - seen_frames[None]).argmin(1)]
    return values[torch.as_tensor(nearest)]


@dataclass
class _Windows:
    """Constants of N windows of one length T (one problem each)."""

    keypoints: torch.Tensor      # (N, T, K, 2)
    weights: torch.Tensor        # (N, T, K) confidence x keypoint weight
    intrinsics: torch.Tensor     # (N, 4)
    data_weight: torch.Tensor    # (N,)
    scale: torch.Tensor          # (N,) metres -> data-term units at the window's depth
    start_rotations: torch.Tensor  # (N, T, 22, 3, 3)
    betas: torch.Tensor          # (N, 10)
    start_transl: torch.Tensor   # (N, T, 3)
    owners: list[tuple[int, int, int]]  # (track, start, end) per window


def _keypoint_weights(config: SequenceFitConfig) -> torch.Tensor:
    weights = torch.ones(NUM_BODY)
    for name in config.ignored_keypoints:
        weights[OPENPOSE[name]] = 0.0
    return weights


def _window_constants(tracks: list[TrackObservations], starts: list[SequenceStart], config: SequenceFitConfig,
                      items: list[tuple[int, int, int]]) -> _Windows:
    """The constants of the windows ``items`` ((track, start, end), one length)."""
    part = _keypoint_weights(config)
    rows = {"keypoints": [], "weights": [], "intrinsics": [], "data_weight": [], "scale": [], "rot": [],
            "betas": [], "transl": []}
    for track_index, start, end in items:
        track, begin = tracks[track_index], starts[track_index]
        confidence = np.where(track.confidence[start:end, BODY] > config.confidence_threshold,
                              track.confidence[start:end, BODY], 0.0)
        confidence[~track.seen(config)[start:end]] = 0.0
        data_weight = config.data_weight_scale / track.image_size[0]
        depth = float(begin.transl[start:end, 2].mean().clamp_min(0.1))
        rows["keypoints"].append(torch.as_tensor(track.keypoints[start:end, BODY], dtype=torch.float32))
        rows["weights"].append(torch.as_tensor(confidence, dtype=torch.float32) * part)
        rows["intrinsics"].append(torch.as_tensor(track.intrinsics, dtype=torch.float32))
        rows["data_weight"].append(torch.tensor(data_weight))
        rows["scale"].append(torch.tensor(data_weight * float(np.mean(track.intrinsics[:2])) / depth))
        rows["rot"].append(begin.rotations[start:end].float())
        rows["betas"].append(begin.betas.float())
        rows["transl"].append(begin.transl[start:end].float())
    stack = {name: torch.stack(values) for name, values in rows.items()}
    return _Windows(stack["keypoints"], stack["weights"], stack["intrinsics"], stack["data_weight"].float(),
                    stack["scale"].float(), stack["rot"], stack["betas"], stack["transl"], list(items))


def unpack_frames(x: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Orientation corrections (N, T, 3), body angles (N, T, 63), translations (N, T, 3)."""
    per_frame = x.reshape(len(x), frames, 69)
    return per_frame[..., :3], per_frame[..., 3:66], per_frame[..., 66:]


def _pack(orient: torch.Tensor, pose: torch.Tensor, transl: torch.Tensor) -> torch.Tensor:
    return torch.cat([orient, pose, transl], dim=-1).flatten(1)


def second_difference(values: torch.Tensor) -> torch.Tensor:
    return values[:, 2:] - 2 * values[:, 1:-1] + values[:, :-2]


def window_rotations(start_rotations: torch.Tensor, orient: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """(N, T, 22, 3, 3) the global rotation (the start's, (N, T, 22, 3, 3), turned by the
    correction ``orient`` (N, T, 3)) and the body joints' rotations of the angles ``pose``
    (N, T, 63)."""
    count, frames = pose.shape[:2]
    global_rotation = start_rotations[:, :, 0] @ roma.rotvec_to_rotmat(orient)
    body = roma.rotvec_to_rotmat(pose.reshape(count, frames, NUM_BODY_JOINTS, 3))
    return torch.cat([global_rotation[:, :, None], body], dim=2)


def window_body(model: BodyModel, start_rotations: torch.Tensor, betas: torch.Tensor,
                x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The body of windows' variables ``x`` (N, T * 69) from their starts' rotations
    (N, T, 22, 3, 3) with one shape per window ``betas`` (N, 10): body angles (N, T, 63),
    translations (N, T, 3), rotations (N, T, 22, 3, 3) and BODY_25 keypoints (N T, 25, 3)."""
    count, frames = start_rotations.shape[:2]
    orient, pose, transl = unpack_frames(x, frames)
    rotations = window_rotations(start_rotations, orient, pose)
    flat_betas = betas[:, None].expand(count, frames, -1).reshape(count * frames, -1)
    _, keypoints = body_points(model, rotations.reshape(-1, NUM_BODY_JOINTS_WITH_PELVIS, 3, 3), flat_betas,
                               transl.reshape(-1, 3))
    return pose, transl, rotations, keypoints


def window_terms(model: BodyModel, windows: _Windows, rows: torch.Tensor, x: torch.Tensor,
                 config: SequenceFitConfig, smooth: bool = True) -> dict[str, torch.Tensor]:
    """Per-window (N,) weighted terms of the variables ``x`` (N, T * 69) of windows ``rows``
    (N,); ``total`` is their sum. Without ``smooth``, the per-frame terms alone."""
    frames = windows.keypoints.shape[1]
    count, w = len(x), config.weights
    pose, transl, rotations, keypoints = window_body(model, windows.start_rotations[rows], windows.betas[rows], x)
    intrinsics = windows.intrinsics[rows, None].expand(count, frames, 4).reshape(-1, 4)
    projected = project(keypoints, intrinsics)
    data = reprojection_term(projected, windows.keypoints[rows].reshape(-1, NUM_BODY, 2),
                             windows.weights[rows].reshape(-1, NUM_BODY), config.rho).reshape(count, frames)
    body = rotations[:, :, 1:].reshape(-1, NUM_BODY_JOINTS, 3, 3)
    anchor = (rotations[:, :, 1:] - windows.start_rotations[rows, :, 1:]).pow(2).sum((2, 3, 4))
    scale = windows.scale[rows]
    points = keypoints.reshape(count, frames, NUM_BODY, 3) * scale[:, None, None, None]
    moved = transl * scale[:, None, None]
    terms = {
        "data": windows.data_weight[rows] ** 2 * data.sum(1),
        "body_pose": w.body_pose ** 2 * squared_norm(pose.reshape(count, -1)),
        "bending": w.bending ** 2 * bending_prior_from_rotations(body).reshape(count, frames).sum(1),
        "anchor": w.anchor ** 2 * anchor.sum(1),
    }
    if smooth and frames >= 2:
        terms["joint_velocity"] = w.joint_velocity ** 2 * points.diff(dim=1).pow(2).sum((1, 2, 3))
        terms["pose_velocity"] = w.pose_velocity ** 2 * rotations.diff(dim=1).pow(2).sum((1, 2, 3, 4))
    if smooth and frames >= 3:
        terms["joint_acceleration"] = w.joint_acceleration ** 2 * second_difference(points).pow(2).sum((1, 2, 3))
        terms["pose_acceleration"] = w.pose_acceleration ** 2 * second_difference(rotations).pow(2).sum((1, 2, 3, 4))
        terms["translation_acceleration"] = w.translation_acceleration ** 2 * second_difference(moved).pow(2).sum((1, 2))
    terms["total"] = sum(terms.values())
    return terms


def _fit_windows(model: BodyModel, windows: _Windows, config: SequenceFitConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Fitted variables (N, T * 69) and final losses (N,) of the windows, all at once."""
    pose0 = roma.rotmat_to_rotvec(windows.start_rotations[:, :, 1:]).flatten(2)
    x0 = _pack(torch.zeros_like(windows.start_transl), pose0, windows.start_transl)

    def per_frame(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return window_terms(model, windows, rows, x, config, smooth=False)["total"]

    def objective(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return window_terms(model, windows, rows, x, config)["total"]

    if config.frame_iterations > 0:  # well conditioned: each frame onto its keypoints first
        x0, _ = batch_lbfgs(per_frame, x0, config.frame_iterations, config.ftol, config.gtol)
    x, log = batch_lbfgs(objective, x0, config.max_iterations, config.ftol, config.gtol)
    return x, log.loss


def blend_windows(windows: list[tuple[int, int]], length: int, rotations: list[torch.Tensor],
           transl: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotations (T, 22, 3, 3) and translations (T, 3) of a track blended from its windows'
    (each (T_w, 22, 3, 3) and (T_w, 3)): weighted means, rotations projected back onto SO(3)."""
    weights = torch.as_tensor(blend_weights(windows, length), dtype=rotations[0].dtype, device=rotations[0].device)
    blended_rot = rotations[0].new_zeros(length, NUM_BODY_JOINTS_WITH_PELVIS, 3, 3)
    blended_transl = transl[0].new_zeros(length, 3)
    for index, (start, end) in enumerate(windows):
        share = weights[index, start:end]
        blended_rot[start:end] += share[:, None, None, None] * rotations[index]
        blended_transl[start:end] += share[:, None] * transl[index]
    return roma.special_procrustes(blended_rot), blended_transl


# (track, first frame, end frame) of one window
Window = tuple[int, int, int]
# windows of one length -> their starts' rotations (N, T, 22, 3, 3), fitted variables (N, T * 69)
# and final losses (N,)
FitGroup = Callable[[list[Window]], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def fit_in_windows(lengths: list[int], window: int, overlap: int,
                   fit_group: FitGroup) -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    """Per track of ``lengths`` frames: rotations (T, 22, 3, 3), translations (T, 3) and the
    sum of its windows' losses. Tracks are cut into windows of ``window`` frames overlapping
    by ``overlap``; all windows of one length are fitted in one call of ``fit_group``; a
    track's windows are blended."""
    plans = [plan_windows(length, window, overlap) for length in lengths]
    by_length: dict[int, list[Window]] = {}
    for index, plan in enumerate(plans):
        for start, end in plan:
            by_length.setdefault(end - start, []).append((index, start, end))
    fitted: dict[Window, tuple[torch.Tensor, torch.Tensor, float]] = {}
    for length, group in by_length.items():
        start_rotations, x, loss = fit_group(group)
        with torch.no_grad():
            orient, pose, transl = unpack_frames(x, length)
            rotations = window_rotations(start_rotations, orient, pose)
        for row, item in enumerate(group):
            fitted[item] = (rotations[row], transl[row], float(loss[row]))
    tracks = []
    for index, (length, plan) in enumerate(zip(lengths, plans)):
        parts = [fitted[(index, *w)] for w in plan]
        rotations, transl = blend_windows(plan, length, [p[0] for p in parts], [p[1] for p in parts])
        tracks.append((rotations, transl, sum(p[2] for p in parts)))
    return tracks


def rotation_params(rotations: torch.Tensor, betas: torch.Tensor, transl: torch.Tensor) -> dict[str, np.ndarray]:
    """``global_orient`` (T, 3), ``body_pose`` (T, 63), ``betas`` and ``transl`` arrays of
    rotations (T, 22, 3, 3), shapes (T, 10) and translations (T, 3)."""
    rotvec = roma.rotmat_to_rotvec(rotations.cpu())
    return {"global_orient": rotvec[:, 0].numpy(), "body_pose": rotvec[:, 1:].flatten(1).numpy(),
            "betas": betas.cpu().numpy().copy(), "transl": transl.cpu().numpy()}


def fit_sequences(model: BodyModel, tracks: list[TrackObservations], starts: list[SequenceStart],
                  config: SequenceFitConfig) -> list[TrackFit]:
    """Fits every track (see the module docstring); one ``TrackFit`` each, in order. Windows
    of one length are fitted in one batch."""
    if len(tracks) != len(starts):
        raise ValueError(f"need one start per track: {len(tracks)} tracks, {len(starts)} starts")
    begun = time.perf_counter()

    def fit_group(group: list[Window]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        windows = _window_constants(tracks, starts, config, group)
        return (windows.start_rotations, *_fit_windows(model, windows, config))

    fitted = fit_in_windows([len(track) for track in tracks], config.window, config.overlap, fit_group)
    seconds = (time.perf_counter() - begun) / max(1, sum(len(t) for t in tracks))
    return [_track_fit(model, track, start, *part, seconds) for track, start, part in zip(tracks, starts, fitted)]


@torch.no_grad()
def _track_fit(model: BodyModel, track: TrackObservations, start: SequenceStart, rotations: torch.Tensor,
               transl: torch.Tensor, loss: float, seconds_per_frame: float) -> TrackFit:
    betas = start.betas.float()[None].expand(len(track), -1)
    _, keypoints = body_points(model, rotations, betas, transl)
    intrinsics = torch.as_tensor(track.intrinsics, dtype=torch.float32)[None].expand(len(track), 4)
    return TrackFit(track.track_id, np.asarray(track.frame_indices), rotation_params(rotations, betas, transl),
                    keypoints.numpy(), project(keypoints, intrinsics).numpy(),
                    np.asarray(track.confidence[:, BODY].max(1) > 0), loss, seconds_per_frame * len(track))
