"""Starts of the sequence fit from the temporal regressor (``regressor.temporal``): one pass of
its GRU over the whole track. Frames the track missed read the nearest seen frame's keypoints.

Shapes: T frames, K = 25 BODY_25 keypoints.
"""
from __future__ import annotations

import numpy as np
import torch

from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.regressor.inputs import make_input
from bodyfit.regressor.model import camera_translation
from bodyfit.regressor.temporal import TemporalRegressor
from bodyfit.video.config import SequenceFitConfig
from bodyfit.video.sequence_fit import SequenceStart, TrackObservations, fill_unseen


@torch.no_grad()
def temporal_start(model: TemporalRegressor, track: TrackObservations, config: SequenceFitConfig) -> SequenceStart:
    """The temporal regressor's per-frame rotations and translations of ``track`` and the
    median of its betas over the seen frames."""
    seen = track.seen(config)
    if not seen.any():
        raise ValueError(f"track {track.track_id}: no frame with {config.min_body_keypoints} seen body keypoints")
    confidence = track.confidence[:, BODY]
    confidence = np.where(confidence > config.confidence_threshold, confidence, 0.0)
    keypoints = fill_unseen(torch.as_tensor(track.keypoints[:, BODY], dtype=torch.float32), seen)
    confidence = fill_unseen(torch.as_tensor(confidence, dtype=torch.float32), seen)
    intrinsics = torch.as_tensor(track.intrinsics, dtype=torch.float32)[None].expand(len(track), 4)
    device = next(model.parameters()).device
    inputs = make_input(keypoints, confidence, intrinsics).to(device)
    output = model(inputs, len(track))
    transl = camera_translation(output.camera, inputs.box, inputs.intrinsics)
    return SequenceStart(output.rotations.cpu(), output.betas[torch.as_tensor(seen)].median(0).values.cpu(),
                         transl.cpu())
