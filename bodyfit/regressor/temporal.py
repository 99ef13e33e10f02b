"""VIBE's temporal regressor over the shipped regressor's per-frame features, and VIBE's motion
discriminator.

The per-frame regressor (``regressor.model.Regressor``, frozen) encodes each frame's
keypoints to a feature vector; a GRU runs over a track's features and a linear layer adds its
output back to them (VIBE's residual temporal encoder; the layer starts at zero, so an
untrained model is the per-frame regressor exactly); the regressor's own IEF turns each
frame's features into its parameters. The motion discriminator (VIBE) reads a whole pose
sequence: a GRU over the body rotations, self-attention pooling over time, a linear score.

Training data: sequences of the motion corpus's training clips (``motion.sequences``) with
their detections drawn afresh every step. Checkpoints hold the GRU, the projection and the
discriminator (small) and the SHA-256 of the per-frame regressor file they were trained on.

Shapes: B sequences, T frames, F features, J = 21 body joints.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from bodyfit.fileio.checkpoints import CheckpointError, building_from, read_checkpoint, resolve_checkpoint, write_checkpoint
from bodyfit.regressor.checkpoint import load_regressor, resolve
from bodyfit.regressor.inputs import RegressorInput
from bodyfit.bodymodels.joints import NUM_BODY_JOINTS
from bodyfit.regressor.model import Regressor, RegressorOutput, split_parameters
from bodyfit.resources import model_path

KIND = "temporal"
FILE_NAME = "temporal.pt"
DEFAULT_TEMPORAL = model_path("temporal", "open_corpus", FILE_NAME)


@dataclass(frozen=True)
class TemporalShape:
    """The temporal parts' architecture; stored in checkpoints."""

    reduce: int = 256             # features projected to this width before the GRU
    hidden: int = 256             # GRU width (VIBE: 1024 over 2048 ResNet features)
    layers: int = 2               # GRU layers (VIBE: 2)
    bidirectional: bool = True    # offline video: the future informs each frame too (VIBE: one way)
    motion_hidden: int = 256      # the motion discriminator's GRU width (VIBE: 1024)
    attention: int = 256          # its self-attention pooling's hidden width

    def to_dict(self) -> dict:
        return asdict(self)


class TemporalRegressor(nn.Module):
    """``forward(inputs, frames) -> RegressorOutput`` over B x T rows of ``inputs`` (sequence
    by sequence, frame by frame)."""

    def __init__(self, regressor: Regressor, shape: TemporalShape | None = None) -> None:
        super().__init__()
        self.shape = shape = shape or TemporalShape()
        self.regressor = regressor.eval()
        for parameter in self.regressor.parameters():
            parameter.requires_grad_(False)
        width = regressor.encoder.width
        self.reduce = nn.Linear(width, shape.reduce)
        self.gru = nn.GRU(shape.reduce, shape.hidden, shape.layers, batch_first=True,
                          bidirectional=shape.bidirectional)
        self.project = nn.Linear(shape.hidden * (2 if shape.bidirectional else 1), width)
        nn.init.zeros_(self.project.weight)  # starts as the per-frame regressor
        nn.init.zeros_(self.project.bias)

    def train(self, mode: bool = True) -> "TemporalRegressor":
        super().train(mode)
        self.regressor.eval()  # frozen, dropout off
        return self

    def temporal_state(self) -> dict[str, torch.Tensor]:
        """The trained weights (the GRU and the projections, float16), not the frozen regressor's."""
        return {k: v.half() for k, v in self.state_dict().items() if not k.startswith("regressor.")}

    def forward(self, inputs: RegressorInput, frames: int) -> RegressorOutput:
        rows = len(inputs.keypoints)
        if rows % frames:
            raise ValueError(f"{rows} input rows are not sequences of {frames} frames")
        with torch.no_grad():
            features = self.regressor.encoder(inputs)  # (B*T, F)
        sequences = features.reshape(rows // frames, frames, -1)
        hidden, _ = self.gru(self.reduce(sequences))
        features = (sequences + self.project(hidden)).reshape(rows, -1)
        return iterate(self.regressor, features, inputs.box_info)


def iterate(regressor: Regressor, features: torch.Tensor, box_info: torch.Tensor) -> RegressorOutput:
    """The regressor's IEF from its mean parameters on ``features`` (N, F)."""
    params = regressor.mean.expand(len(features), -1)
    history = []
    for _ in range(regressor.shape.iterations):
        params = params + regressor.ief(torch.cat([features, params, box_info], dim=1))
        history.append(params)
    rotations, betas, camera = split_parameters(params)
    return RegressorOutput(rotations, betas, camera, history)


class MotionDiscriminator(nn.Module):
    """VIBE's: body rotations (B, T, J, 3, 3) -> (B, 1): a GRU over the flattened rotations,
    self-attention pooling (softmax over time of a small MLP's score of each state), a linear
    score."""

    def __init__(self, shape: TemporalShape | None = None) -> None:
        super().__init__()
        shape = shape or TemporalShape()
        self.gru = nn.GRU(NUM_BODY_JOINTS * 9, shape.motion_hidden, 2, batch_first=True)
        self.attention = nn.Sequential(nn.Linear(shape.motion_hidden, shape.attention), nn.Tanh(),
                                       nn.Linear(shape.attention, 1))
        self.score = nn.Linear(shape.motion_hidden, 1)

    def forward(self, rotations: torch.Tensor) -> torch.Tensor:
        if rotations.ndim != 5 or rotations.shape[2:] != (NUM_BODY_JOINTS, 3, 3):
            raise ValueError(f"rotations must be (B, T, {NUM_BODY_JOINTS}, 3, 3), got {tuple(rotations.shape)}")
        states, _ = self.gru(rotations.flatten(2))  # (B, T, H)
        weights = torch.softmax(self.attention(states), dim=1)  # (B, T, 1)
        return self.score((weights * states).sum(1))


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_temporal(path: Path | str, model: TemporalRegressor, base: Path, extra: dict | None = None) -> None:
    """Writes the temporal weights, architecture and the base regressor's file and digest."""
    write_checkpoint(path, KIND, model.shape.to_dict(), model.temporal_state(),
                     {"base": str(base), "base_sha256": file_digest(base), **(extra or {})})


def load_temporal(path: Path | str | None = "default", device: torch.device | str = "cpu",
                  regressor: Path | str = "default") -> TemporalRegressor:
    """The temporal regressor of a checkpoint over the per-frame ``regressor`` (its file must
    be the one it was trained on), in eval mode; ``CheckpointError`` naming the file."""
    path = resolve_checkpoint(path, DEFAULT_TEMPORAL, FILE_NAME)
    hint = " (train one with bodyfit train-temporal)" if path == DEFAULT_TEMPORAL else ""
    checkpoint = read_checkpoint(path, KIND, "temporal regressor", hint)
    base = resolve(regressor)
    if base.is_file() and file_digest(base) != checkpoint.extra.get("base_sha256"):
        raise CheckpointError(f"{path}: trained over another per-frame regressor than {base}; "
                              "retrain it with bodyfit train-temporal --regressor " + str(base))
    with building_from(path):
        model = TemporalRegressor(load_regressor(base), TemporalShape(**checkpoint.shape))
        model.load_state_dict({**model.regressor.state_dict(prefix="regressor."), **checkpoint.state_dict})
    return model.to(device).eval()
