"""Per-frame starts of the sequence fit: the regressor run on every seen frame of a track (or
the temporal regressor over the whole track), unseen frames copied from the nearest seen
one, and the track's one shape as the median of the predicted betas over its seen frames.

Shapes: T frames, K keypoints.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.fitting.objective import Targets
from bodyfit.fitting.regressor_init import cached_regressor, regress
from bodyfit.regressor.checkpoint import resolve
from bodyfit.regressor.model import Regressor
from bodyfit.regressor.temporal import TemporalRegressor, load_temporal
from bodyfit.video.config import SequenceFitConfig
from bodyfit.video.sequence_fit import SequenceStart, TrackObservations, fill_unseen


def _targets(track: TrackObservations, frames: np.ndarray, config: SequenceFitConfig) -> Targets:
    """The fitting targets of ``frames`` of a track (BODY_25, confident points only)."""
    keypoints = torch.as_tensor(track.keypoints[frames, BODY], dtype=torch.float32)
    confidence = track.confidence[frames, BODY]
    confidence = torch.as_tensor(np.where(confidence > config.confidence_threshold, confidence, 0.0),
                                 dtype=torch.float32)
    intrinsics = torch.as_tensor(track.intrinsics, dtype=torch.float32)[None].expand(len(frames), 4)
    weight = torch.full((len(frames),), config.data_weight_scale / track.image_size[0])
    return Targets(keypoints, confidence, intrinsics, weight)


def regressor_start(regressor: Regressor, track: TrackObservations, config: SequenceFitConfig) -> SequenceStart:
    """The per-frame regressor's start of ``track``."""
    seen = track.seen(config)
    if not seen.any():
        raise ValueError(f"track {track.track_id}: no frame with {config.min_body_keypoints} seen body keypoints")
    rotations, betas, transl = regress(regressor, _targets(track, np.flatnonzero(seen), config))
    full_rotations = rotations.new_zeros(len(track), *rotations.shape[1:])
    full_transl = transl.new_zeros(len(track), 3)
    full_rotations[torch.as_tensor(seen)] = rotations
    full_transl[torch.as_tensor(seen)] = transl
    return SequenceStart(fill_unseen(full_rotations, seen).cpu(), betas.median(0).values.cpu(),
                         fill_unseen(full_transl, seen).cpu())


@functools.lru_cache(maxsize=2)
def cached_temporal(path: str, device: str) -> TemporalRegressor:
    """The temporal regressor of a checkpoint, loaded once per (file, device)."""
    return load_temporal(path, device)


def make_starts(tracks: list[TrackObservations], config: SequenceFitConfig, open_model: bool = True,
                device: str = "cpu") -> list[SequenceStart]:
    """One start per track from ``config.start``: the per-frame regressor, or the temporal
    regressor over the whole track. Another body model than the open one (the regressor's
    shape space) starts from the mean shape."""
    if config.start == "temporal":
        from bodyfit.video.temporal_starts import temporal_start
        model = cached_temporal(config.temporal, device)
        starts = [temporal_start(model, track, config) for track in tracks]
    else:
        regressor = cached_regressor(str(resolve(config.regressor)), device)
        starts = [regressor_start(regressor, track, config) for track in tracks]
    if not open_model:
        for start in starts:
            start.betas = torch.zeros_like(start.betas)
    return starts
