"""Training the temporal regressor (VIBE's GRU over the shipped regressor's features, with its
motion discriminator) on sequences of the motion corpus's training clips
(``bodyfit train-temporal``).

Sequences (``motion.sequences``: one camera each, a random shape, mirrored half the time) are
drawn once and cached in ``.cache/temporal/``; every step crops windows from them and draws
fresh detections (jitter, drift, dropouts lasting frames, left-right swaps). Losses: the
regressor's per-frame losses (``regressor.training.supervised_losses``), the acceleration of
the pelvis-relative joints against the truth's, and the motion discriminator's LSGAN loss
against windows of the corpus's training clips. Held-out sequences (held-out clips) are
scored every ``eval_every`` steps: PA-MPJPE and acceleration error against the per-frame
regressor.

Shapes: N sequences, T frames, K = 25 BODY_25 keypoints, J = 22 joints.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import roma
import torch
import yaml

from bodyfit.resources import checkout_path
from bodyfit.bodymodels.layer import BodyModel
from bodyfit.bodymodels.joints import NUM_BODY_JOINTS, NUM_BODY_JOINTS_WITH_PELVIS
from bodyfit.fileio.atomic import write_npz, write_text_atomic
from bodyfit.fileio.config import load_sections, plain
from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.motion.corpus import load_corpus, mirror_body_pose
from bodyfit.motion.sequences import SequenceDistribution, SequenceGenerator, observe_sequence
from bodyfit.regressor.body import body_points
from bodyfit.regressor.checkpoint import load_regressor, resolve
from bodyfit.regressor.discriminators import discriminator_loss, generator_loss
from bodyfit.regressor.inputs import RegressorInput, make_input
from bodyfit.geometry import pa_mpjpe
from bodyfit.regressor.model import camera_translation
from bodyfit.regressor.temporal import MotionDiscriminator, TemporalRegressor, TemporalShape, save_temporal
from bodyfit.regressor.training import LossWeights, Prediction, SupervisedBatch, supervised_losses, true_rotations


NUM_JOINTS = NUM_BODY_JOINTS_WITH_PELVIS  # the skeleton joints the 3D losses compare


@dataclass(frozen=True)
class TemporalData:
    train_sequences: int = 240       # drawn once from the training clips, each ``length`` frames
    heldout_sequences: int = 24      # from the held-out clips, to score
    length: int = 48
    window: int = 16                 # frames per training window (cropped at random)
    seed: int = 0


@dataclass(frozen=True)
class TemporalOptim:
    steps: int = 600
    batch_size: int = 16             # windows per step
    learning_rate: float = 3.0e-4
    discriminator_learning_rate: float = 1.0e-4
    weight_decay: float = 1.0e-4
    eval_every: int = 100
    seed: int = 0


@dataclass(frozen=True)
class TemporalLosses(LossWeights):
    """The per-frame regressor's weights (``adversarial``: here the motion discriminator's,
    as VIBE), plus the acceleration term."""

    acceleration: float = 50.0       # squared acceleration error of pelvis-relative joints (m/frame^2)


@dataclass(frozen=True)
class TemporalTrainConfig:
    model: TemporalShape = field(default_factory=TemporalShape)
    data: TemporalData = field(default_factory=TemporalData)
    training: TemporalOptim = field(default_factory=TemporalOptim)
    losses: TemporalLosses = field(default_factory=TemporalLosses)


def load_train_config(path: Path, overrides: dict[str, dict] | None = None) -> TemporalTrainConfig:
    sections = {"model": TemporalShape, "data": TemporalData, "training": TemporalOptim, "losses": TemporalLosses}
    return TemporalTrainConfig(**load_sections(path, sections, overrides))


@dataclass
class Sequences:
    """Flat float32 arrays: ``global_orient`` (N, T, 3) camera frame, ``body_pose`` (N, T, 63),
    ``betas`` (N, 10), ``transl`` (N, T, 3), ``intrinsics`` (N, 4), ``image_size`` (N, 2),
    ``keypoints_2d`` (N, T, K, 2) noise-free, ``keypoints_3d`` (N, T, K, 3), ``joints_3d``
    (N, T, J, 3), ``body_height_px`` (N,)."""

    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    intrinsics: np.ndarray
    image_size: np.ndarray
    keypoints_2d: np.ndarray
    keypoints_3d: np.ndarray
    joints_3d: np.ndarray
    body_height_px: np.ndarray

    def __len__(self) -> int:
        return len(self.betas)


def draw_sequences(model: BodyModel, count: int, split: str, length: int, seed: int) -> Sequences:
    """``count`` sequences of ``length`` frames (clips shorter than that are skipped)."""
    generator = SequenceGenerator(model, SequenceDistribution(split=split, length=length))
    generator.clips = [clip for clip in generator.clips if len(clip.poses) >= length]
    lengths = np.array([len(clip.poses) for clip in generator.clips], dtype=np.float64)
    generator.weights = lengths / lengths.sum()
    rng, rows = np.random.default_rng(seed), []
    for index in range(count):
        case = generator.sample(rng, str(index))
        rows.append({"global_orient": case.params.global_orient.numpy(), "body_pose": case.params.body_pose.numpy(),
                     "betas": case.params.betas[0].numpy(), "transl": case.params.transl.numpy(),
                     "intrinsics": case.intrinsics, "image_size": np.asarray(case.image_size),
                     "keypoints_2d": case.keypoints_2d[:, BODY], "keypoints_3d": case.keypoints_3d[:, BODY],
                     "joints_3d": case.joints_3d[:, :NUM_JOINTS], "body_height_px": np.asarray(case.body_height_px)})
    return Sequences(**{f.name: np.stack([row[f.name] for row in rows]).astype(np.float32) for f in fields(Sequences)})


def cached_sequences(model: BodyModel, count: int, split: str, length: int, seed: int) -> Sequences:
    path = checkout_path(".cache") / "temporal" / f"{split}_{count}_{length}_{seed}.npz"
    if path.is_file():
        with np.load(path) as data:
            return Sequences(**{f.name: data[f.name] for f in fields(Sequences)})
    sequences = draw_sequences(model, count, split, length, seed)
    write_npz(path, {f.name: getattr(sequences, f.name) for f in fields(Sequences)})
    return sequences


def observe(sequences: Sequences, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(B, T, K, 3) fresh detections of ``rows`` (B,) of the sequences."""
    dist, valid = SequenceDistribution(), np.ones(BODY.stop, dtype=bool)
    return np.stack([observe_sequence(sequences.keypoints_2d[row].astype(np.float64),
                                      sequences.keypoints_3d[row].astype(np.float64), valid,
                                      tuple(sequences.image_size[row].astype(int)), float(sequences.body_height_px[row]),
                                      rng, dist)[0] for row in rows]).astype(np.float32)


def window(sequences: Sequences, rows: np.ndarray, starts: np.ndarray, frames: int) -> Sequences:
    """Windows of ``frames`` frames from ``starts`` (B,) of ``rows`` (B,)."""
    take = rows[:, None], starts[:, None] + np.arange(frames)[None]
    per_frame = {"global_orient", "body_pose", "transl", "keypoints_2d", "keypoints_3d", "joints_3d"}
    return Sequences(**{f.name: getattr(sequences, f.name)[take] if f.name in per_frame
                        else getattr(sequences, f.name)[rows] for f in fields(Sequences)})


def predict(model: TemporalRegressor, body: BodyModel, observed: np.ndarray,
            intrinsics: np.ndarray) -> tuple[Prediction, RegressorInput]:
    """The temporal model's prediction over detections (B, T, K, 3) with ``intrinsics`` (B, 4),
    and its input rows (B x T)."""
    count, frames = observed.shape[:2]
    points = torch.as_tensor(observed.reshape(count * frames, -1, 3))
    cameras = torch.as_tensor(np.repeat(intrinsics, frames, axis=0))
    inputs = make_input(points[..., :2], points[..., 2], cameras)
    output = model(inputs, frames)
    transl = camera_translation(output.camera, inputs.box, inputs.intrinsics)
    joints, keypoints = body_points(body, output.rotations, output.betas, transl)
    return Prediction(output, transl, joints, keypoints), inputs


def acceleration_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the second differences in time of pelvis-relative joints
    (B, T, J, 3)."""
    def accel(joints: torch.Tensor) -> torch.Tensor:
        joints = joints - joints[:, :, :1]
        return joints[:, 2:] - 2 * joints[:, 1:-1] + joints[:, :-2]
    return (accel(predicted) - accel(target)).pow(2).sum(-1).mean()


def losses(model: TemporalRegressor, body: BodyModel, windows: Sequences, observed: np.ndarray,
           weights: TemporalLosses) -> tuple[dict[str, torch.Tensor], Prediction]:
    count, frames = observed.shape[:2]
    prediction, inputs = predict(model, body, observed, windows.intrinsics)
    flat = lambda array: torch.as_tensor(array.reshape(count * frames, *array.shape[2:]))  # noqa: E731
    batch = SupervisedBatch(inputs, flat(windows.keypoints_2d),
                            torch.ones(count * frames, observed.shape[2]),
                            true_rotations(windows.global_orient.reshape(-1, 3), windows.body_pose.reshape(-1, 63)),
                            torch.as_tensor(np.repeat(windows.betas, frames, axis=0)), flat(windows.transl),
                            flat(windows.joints_3d))
    terms = supervised_losses(prediction, batch, weights)
    terms["acceleration"] = weights.acceleration * acceleration_loss(
        prediction.joints.reshape(count, frames, NUM_JOINTS, 3), batch.joints.reshape(count, frames, NUM_JOINTS, 3))
    return terms, prediction


class RealMotion:
    """Windows of the corpus's training clips (mirrored too) as body rotations (T, 21, 3, 3)."""

    def __init__(self, frames: int) -> None:
        clips = [clip.poses[:, 3:] for clip in load_corpus("train") if len(clip.poses) >= frames]
        clips += [mirror_body_pose(clip.poses)[:, 3:] for clip in load_corpus("train") if len(clip.poses) >= frames]
        self.clips, self.frames = clips, frames

    def draw(self, rng: np.random.Generator, count: int) -> torch.Tensor:
        rows = []
        for _ in range(count):
            clip = self.clips[int(rng.integers(len(self.clips)))]
            start = int(rng.integers(0, len(clip) - self.frames + 1))
            rows.append(clip[start:start + self.frames])
        poses = torch.as_tensor(np.stack(rows), dtype=torch.float32).reshape(count, self.frames, NUM_BODY_JOINTS, 3)
        return roma.rotvec_to_rotmat(poses)


class TemporalLearner:
    """The temporal model, the motion discriminator and their optimisers; ``step`` trains both."""

    def __init__(self, model: TemporalRegressor, body: BodyModel, config: TemporalTrainConfig) -> None:
        optim = config.training
        self.model, self.body, self.config = model, body, config
        self.discriminator = MotionDiscriminator(config.model)
        self.real = RealMotion(config.data.window)
        trained = [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(trained, lr=optim.learning_rate, weight_decay=optim.weight_decay)
        self.d_opt = torch.optim.Adam(self.discriminator.parameters(), lr=optim.discriminator_learning_rate,
                                      weight_decay=optim.weight_decay)

    def step(self, sequences: Sequences, rng: np.random.Generator) -> dict[str, float]:
        data, optim = self.config.data, self.config.training
        rows = rng.integers(len(sequences), size=optim.batch_size)
        starts = rng.integers(0, sequences.keypoints_2d.shape[1] - data.window + 1, size=optim.batch_size)
        windows = window(sequences, rows, starts, data.window)
        self.model.train()
        terms, prediction = losses(self.model, self.body, windows, observe(windows, np.arange(len(rows)), rng),
                                   self.config.losses)
        fake = prediction.output.body_rotations.reshape(len(rows), data.window, NUM_BODY_JOINTS, 3, 3)
        terms["adversarial"] = self.config.losses.adversarial * generator_loss(self.discriminator(fake))
        total = sum(terms.values())
        self.opt.zero_grad()
        total.backward()
        self.opt.step()
        d_loss = discriminator_loss(self.discriminator(self.real.draw(rng, len(rows))), self.discriminator(fake.detach()))
        self.d_opt.zero_grad()
        d_loss.backward()
        self.d_opt.step()
        return {name: float(value.detach()) for name, value in {**terms, "discriminator": d_loss, "total": total}.items()}


@torch.no_grad()
def evaluate(model: TemporalRegressor, body: BodyModel, heldout: Sequences, observed: np.ndarray) -> dict[str, float]:
    """PA-MPJPE (mm, 22 joints) and acceleration error (mm/frame^2, pelvis-relative) on the
    held-out sequences seen through ``observed`` (N, T, K, 3)."""
    model.eval()
    count, frames = observed.shape[:2]
    joints = predict(model, body, observed, heldout.intrinsics)[0].joints
    truth = torch.as_tensor(heldout.joints_3d.reshape(count * frames, NUM_JOINTS, 3))
    pa = pa_mpjpe(joints, truth) * 1000
    relative = lambda j: (j - j[:, :, :1]).reshape(count, frames, NUM_JOINTS, 3)  # noqa: E731
    accel = lambda j: j[:, 2:] - 2 * j[:, 1:-1] + j[:, :-2]  # noqa: E731
    error = (accel(relative(joints.reshape(count, frames, -1, 3))) - accel(relative(truth.reshape(count, frames, -1, 3))))
    accel_error = error.norm(dim=-1).mean(-1) * 1000
    return {"pa_mpjpe_mm": float(pa.mean()), "accel_error_mm": float(accel_error.mean())}


def train(config: TemporalTrainConfig, output: Path, regressor: str = "default", progress: bool = True) -> dict:
    """Trains ``config.training.steps`` steps; writes ``temporal.pt`` and ``metrics.json``."""
    optim, data = config.training, config.data
    torch.manual_seed(optim.seed)
    body = BodyModel()
    base = resolve(regressor)
    model = TemporalRegressor(load_regressor(base), config.model)
    started = time.perf_counter()
    sequences = cached_sequences(body, data.train_sequences, "train", data.length, data.seed)
    heldout = cached_sequences(body, data.heldout_sequences, "heldout", data.length, data.seed + 1)
    heldout_observed = observe(heldout, np.arange(len(heldout)), np.random.default_rng(12345))
    drawn = time.perf_counter() - started
    learner, rng = TemporalLearner(model, body, config), np.random.default_rng(optim.seed)
    history = [{"step": 0, **evaluate(model, body, heldout, heldout_observed)}]  # = the per-frame regressor
    running: dict[str, float] = {}
    for step in range(1, optim.steps + 1):
        for name, value in learner.step(sequences, rng).items():
            running[name] = 0.95 * running.get(name, value) + 0.05 * value
        if step % optim.eval_every == 0 or step == optim.steps:
            history.append({"step": step, **evaluate(model, body, heldout, heldout_observed),
                            **{f"train_{k}": v for k, v in running.items()}})
            if progress:
                print(json.dumps(history[-1]), file=sys.stderr, flush=True)
    metrics = {"seconds": time.perf_counter() - started, "drawing_seconds": drawn, "history": history,
               "per_frame_regressor": history[0], "final": history[-1]}
    save_temporal(output / "temporal.pt", model, base, {"config": plain(config), "metrics": metrics})
    write_text_atomic(output / "metrics.json", json.dumps(metrics, indent=1))
    write_text_atomic(output / "config.yaml", yaml.safe_dump(plain(config), sort_keys=False))
    return metrics
