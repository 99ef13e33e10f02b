"""Training the regressor: supervised losses on whatever each batch knows, HMR's
adversarial priors against real poses and shapes, held-out evaluation, atomic checkpoints
and resume.

A batch source is a callable ``rng -> SupervisedBatch``: synthetic people
(``synthetic_batches``) or a user's image dataset (``regressor.image_data``).

Shapes: B batch, K keypoints, J joints.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import roma
import torch
import yaml
from tqdm import tqdm

from bodyfit.bodymodels.layer import BodyModel
from bodyfit.bodymodels.joints import NUM_BODY_JOINTS
from bodyfit.fileio.atomic import write_text_atomic
from bodyfit.fileio.config import load_sections, plain
from bodyfit.geometry import mpjpe, pa_mpjpe, project
from bodyfit.regressor.body import body_points
from bodyfit.fileio.checkpoints import CheckpointError
from bodyfit.regressor.checkpoint import load_training_state, save_checkpoint
from bodyfit.regressor.discriminators import Discriminators, discriminator_loss, generator_loss
from bodyfit.regressor.inputs import RegressorInput, make_input
from bodyfit.regressor.losses import joint_loss, keypoint_loss, rotation_loss, translation_loss
from bodyfit.regressor.model import Regressor, RegressorOutput, RegressorShape, camera_translation
from bodyfit.regressor.synthetic import SyntheticPeople, reobserve


@dataclass(frozen=True)
class LossWeights:
    keypoints_2d: float = 1.0
    joints_3d: float = 5.0
    rotations: float = 1.0
    betas: float = 0.01
    translation: float = 0.5
    adversarial: float = 0.01


@dataclass(frozen=True)
class DataConfig:
    train_samples: int = 32000
    heldout_samples: int = 1000
    widened: bool = True
    seed: int = 0


@dataclass(frozen=True)
class OptimConfig:
    steps: int = 6000
    batch_size: int = 256
    learning_rate: float = 3.0e-4
    discriminator_learning_rate: float = 1.0e-4
    weight_decay: float = 1.0e-4
    lr_drop_at: float = 0.8          # the learning rates drop 10x after this share of steps
    eval_every: int = 500
    seed: int = 0


@dataclass(frozen=True)
class RegressorTrainConfig:
    model: RegressorShape = field(default_factory=RegressorShape)
    data: DataConfig = field(default_factory=DataConfig)
    training: OptimConfig = field(default_factory=OptimConfig)
    losses: LossWeights = field(default_factory=LossWeights)

    def to_dict(self) -> dict:
        return plain(self)


def load_train_config(path: Path | str, overrides: dict[str, dict] | None = None) -> RegressorTrainConfig:
    """``cfg/regressor.yaml``-style file with per-section ``overrides``; unknown keys are errors."""
    sections = {"model": RegressorShape, "data": DataConfig, "training": OptimConfig, "losses": LossWeights}
    return RegressorTrainConfig(**load_sections(path, sections, overrides))


@dataclass
class SupervisedBatch:
    """One batch: the regressor's ``inputs``; 2D targets ``keypoints_px`` (B, K, 2) with
    ``keypoint_weight`` (B, K); and, where known, ``rotations`` (B, 22, 3, 3), ``betas``
    (B, 10), ``transl`` (B, 3), ``joints`` (B, 22, 3) camera frame, with ``label_weight``
    (B,) saying which rows' labels count (None: all; SPIN's loop zeroes rows without a
    valid fit)."""

    inputs: RegressorInput
    keypoints_px: torch.Tensor
    keypoint_weight: torch.Tensor
    rotations: torch.Tensor | None = None
    betas: torch.Tensor | None = None
    transl: torch.Tensor | None = None
    joints: torch.Tensor | None = None
    label_weight: torch.Tensor | None = None


def true_rotations(global_orient: np.ndarray, body_pose: np.ndarray) -> torch.Tensor:
    """(B, 22, 3, 3) of axis-angle (B, 3) and (B, 63)."""
    rotvec = np.concatenate([global_orient[:, None], body_pose.reshape(len(body_pose), -1, 3)], axis=1)
    return roma.rotvec_to_rotmat(torch.as_tensor(rotvec, dtype=torch.float32))


def people_batch(people: SyntheticPeople, observed: np.ndarray) -> SupervisedBatch:
    """A batch of synthetic people seen through ``observed`` (B, K, 3) detections; the 2D
    target is the noise-free projection, every point weighted 1."""
    tensor = lambda array: torch.as_tensor(array, dtype=torch.float32)  # noqa: E731
    inputs = make_input(tensor(observed[..., :2]), tensor(observed[..., 2]), tensor(people.intrinsics))
    return SupervisedBatch(inputs, tensor(people.keypoints_2d), torch.ones(people.keypoints_2d.shape[:2]),
                           true_rotations(people.global_orient, people.body_pose), tensor(people.betas),
                           tensor(people.transl), tensor(people.joints_3d))


def synthetic_batches(people: SyntheticPeople, batch_size: int) -> Callable[[np.random.Generator], SupervisedBatch]:
    """Random batches of ``people`` with fresh detections each time (``reobserve``)."""
    def draw(rng: np.random.Generator) -> SupervisedBatch:
        chosen = people.subset(rng.integers(len(people), size=batch_size))
        return people_batch(chosen, reobserve(chosen, rng))
    return draw


class RealSamples:
    """The adversarial priors' real side: body rotations (N, 21, 3, 3) (corpus poses, left-right
    mirrored too) and shapes drawn from the body model's shape space (standard normal betas
    clipped at ``betas_clip``, as the synthetic people's)."""

    def __init__(self, body_poses: np.ndarray, betas_clip: float = 2.0) -> None:
        self.rotations = roma.rotvec_to_rotmat(torch.as_tensor(body_poses, dtype=torch.float32).reshape(-1, NUM_BODY_JOINTS, 3))
        self.betas_clip = betas_clip

    def draw(self, rng: np.random.Generator, count: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.as_tensor(rng.integers(len(self.rotations), size=count))
        betas = np.clip(rng.normal(size=(count, 10)), -self.betas_clip, self.betas_clip)
        return self.rotations[rows].to(device), torch.as_tensor(betas, dtype=torch.float32, device=device)


@dataclass
class Prediction:
    """A regressor output in the camera frame: ``output``, translation (B, 3), joints
    (B, 22, 3) and BODY_25 keypoints (B, 25, 3)."""

    output: RegressorOutput
    transl: torch.Tensor
    joints: torch.Tensor
    keypoints: torch.Tensor


def predict(regressor: Regressor, body: BodyModel, inputs: RegressorInput) -> Prediction:
    """The regressor's parameters for ``inputs`` and the body they describe."""
    output = regressor(inputs)
    transl = camera_translation(output.camera, inputs.box, inputs.intrinsics)
    joints, keypoints = body_points(body, output.rotations, output.betas, transl)
    return Prediction(output, transl, joints, keypoints)


def supervised_losses(prediction: Prediction, batch: SupervisedBatch, weights: LossWeights) -> dict[str, torch.Tensor]:
    """Each weighted loss (scalar) that the batch's labels allow."""
    inputs = batch.inputs
    projected = project(prediction.keypoints, inputs.intrinsics)
    losses = {"keypoints_2d": weights.keypoints_2d * keypoint_loss(projected, batch.keypoints_px,
                                                                   batch.keypoint_weight, inputs.box).mean()}
    rows = batch.label_weight if batch.label_weight is not None else torch.ones_like(projected[:, 0, 0])

    def mean(values: torch.Tensor) -> torch.Tensor:  # over the rows whose labels count
        return (values * rows).sum() / rows.sum().clamp_min(1.0)

    if batch.joints is not None:
        losses["joints_3d"] = weights.joints_3d * mean(joint_loss(prediction.joints, batch.joints))
    if batch.rotations is not None:
        losses["rotations"] = weights.rotations * mean(rotation_loss(prediction.output.rotations, batch.rotations))
    if batch.betas is not None:
        losses["betas"] = weights.betas * mean((prediction.output.betas - batch.betas).pow(2).sum(1))
    if batch.transl is not None:
        losses["translation"] = weights.translation * mean(translation_loss(prediction.transl, batch.transl))
    return losses


def _to_device(batch: SupervisedBatch, device: torch.device) -> SupervisedBatch:
    move = lambda x: None if x is None else x.to(device)  # noqa: E731
    return SupervisedBatch(batch.inputs.to(device), *(move(getattr(batch, name)) for name in
                                                     ("keypoints_px", "keypoint_weight", "rotations", "betas",
                                                      "transl", "joints", "label_weight")))


@torch.no_grad()
def evaluate(regressor: Regressor, body: BodyModel, people: SyntheticPeople, device: torch.device,
             batch_size: int = 500) -> dict[str, float]:
    """Held-out figures of the regressor alone on ``people`` with their stored detections:
    PA-MPJPE and MPJPE (mm, 22 joints) and root error (mm), median and mean."""
    regressor.eval()
    pa, mp, root = [], [], []
    for start in range(0, len(people), batch_size):
        chosen = people.subset(np.arange(start, min(start + batch_size, len(people))))
        batch = _to_device(people_batch(chosen, chosen.observed), device)
        prediction = predict(regressor, body, batch.inputs)
        pa.append(pa_mpjpe(prediction.joints, batch.joints))
        mp.append(mpjpe(prediction.joints, batch.joints, root=0))
        root.append((prediction.joints[:, 0] - batch.joints[:, 0]).norm(dim=-1))
    regressor.train()
    figures = {}
    for name, values in (("pa_mpjpe_mm", pa), ("mpjpe_mm", mp), ("root_error_mm", root)):
        values = torch.cat(values).cpu().numpy() * 1000.0
        figures[f"{name}_median"], figures[f"{name}_mean"] = float(np.median(values)), float(values.mean())
    return figures


def _learning_rate(base: float, step: int, config: OptimConfig) -> float:
    return base * (0.1 if step >= math.floor(config.lr_drop_at * config.steps) else 1.0)


class Learner:
    """The regressor, HMR's discriminators and their optimisers: one ``step`` trains both on a
    batch (the regressor on the supervised and adversarial losses, then the discriminators
    on real samples against its outputs). Used by ``train`` and by SPIN's loop."""

    def __init__(self, regressor: Regressor, body: BodyModel, real: RealSamples, config: RegressorTrainConfig,
                 device: torch.device) -> None:
        optim = config.training
        self.regressor, self.body, self.real, self.config, self.device = regressor.to(device), body.to(device), real, config, device
        self.discriminators = Discriminators().to(device)
        self.generator_opt = torch.optim.Adam(regressor.parameters(), lr=optim.learning_rate,
                                              weight_decay=optim.weight_decay)
        self.discriminator_opt = torch.optim.Adam(self.discriminators.parameters(),
                                                  lr=optim.discriminator_learning_rate, weight_decay=optim.weight_decay)

    def set_learning_rates(self, step: int) -> None:
        optim = self.config.training
        for opt, base in ((self.generator_opt, optim.learning_rate),
                          (self.discriminator_opt, optim.discriminator_learning_rate)):
            for group in opt.param_groups:
                group["lr"] = _learning_rate(base, step, optim)

    def step(self, batch: SupervisedBatch, rng: np.random.Generator) -> dict[str, float]:
        """One update of both networks; each loss's value."""
        self.regressor.train()
        batch = _to_device(batch, self.device)
        prediction = predict(self.regressor, self.body, batch.inputs)
        losses = supervised_losses(prediction, batch, self.config.losses)
        fake_scores = self.discriminators(prediction.output.body_rotations, prediction.output.betas)
        losses["adversarial"] = self.config.losses.adversarial * generator_loss(fake_scores)
        total = sum(losses.values())
        self.generator_opt.zero_grad()
        total.backward()
        self.generator_opt.step()
        real_rotations, real_betas = self.real.draw(rng, len(fake_scores), self.device)
        d_loss = discriminator_loss(self.discriminators(real_rotations, real_betas),
                                    self.discriminators(prediction.output.body_rotations.detach(),
                                                        prediction.output.betas.detach()))
        self.discriminator_opt.zero_grad()
        d_loss.backward()
        self.discriminator_opt.step()
        return {name: float(value.detach()) for name, value in {**losses, "discriminator": d_loss, "total": total}.items()}

    def training_state(self) -> dict:
        """What ``last.pt`` keeps beside the regressor's weights."""
        return {"discriminators": self.discriminators.state_dict(),
                "generator_optimizer": self.generator_opt.state_dict(),
                "discriminator_optimizer": self.discriminator_opt.state_dict()}

    def load_training_state(self, state: dict, path: Path) -> None:
        """Resumes from ``state`` (read from ``path``); ``CheckpointError`` naming it when it
        holds another architecture."""
        try:
            self.regressor.load_state_dict(state["state_dict"])
            self.discriminators.load_state_dict(state["discriminators"])
            self.generator_opt.load_state_dict(state["generator_optimizer"])
            self.discriminator_opt.load_state_dict(state["discriminator_optimizer"])
        except (KeyError, RuntimeError, ValueError) as error:
            raise CheckpointError(f"{path}: cannot resume from it, another architecture or run ({error}); "
                                  "use another output folder or --restart") from error


def train(config: RegressorTrainConfig, batches: Callable[[np.random.Generator], SupervisedBatch],
          body: BodyModel, real: RealSamples, output: Path, device: torch.device,
          heldout: SyntheticPeople | None = None, resume: bool = True, progress: bool = True,
          regressor: Regressor | None = None) -> dict:
    """Trains for ``config.training.steps`` steps on batches drawn from ``batches``; every
    ``eval_every`` steps (and at the end) evaluates on ``heldout`` and writes ``last.pt``
    (resumable) and ``regressor.pt`` atomically. ``regressor`` starts from given weights
    (fine-tuning) unless ``output/last.pt`` resumes. Returns the metrics (also
    ``metrics.json``)."""
    optim = config.training
    output.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(optim.seed)
    learner = Learner(regressor or Regressor(config.model), body, real, config, device)
    step, history, seconds = 0, [], 0.0
    rng = np.random.default_rng(optim.seed)
    last = output / "last.pt"
    if not resume:
        last.unlink(missing_ok=True)  # a kill before the first checkpoint must not resume the old run
    if last.exists():
        state = load_training_state(last)
        learner.load_training_state(state, last)
        step, history, seconds = state["step"], state["history"], state["seconds"]
        rng = np.random.default_rng([optim.seed, step])
    write_text_atomic(output / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    bar = tqdm(total=optim.steps, initial=step, desc="training regressor", unit="step", disable=not progress)
    running: dict[str, float] = {}
    started = time.perf_counter() - seconds
    while step < optim.steps:
        learner.set_learning_rates(step)
        losses = learner.step(batches(rng), rng)
        step += 1
        for name, value in losses.items():
            running[name] = 0.98 * running.get(name, value) + 0.02 * value
        bar.update(1)
        bar.set_postfix(loss=f"{running['total']:.3f}", kp2d=f"{running['keypoints_2d']:.3f}")
        if step % optim.eval_every == 0 or step == optim.steps:
            figures = evaluate(learner.regressor, learner.body, heldout, device) if heldout is not None else {}
            history.append({"step": step, "seconds": time.perf_counter() - started,
                            **{f"train_{k}": v for k, v in running.items()}, **figures})
            if progress and figures:
                bar.write(f"step {step}: held-out PA-MPJPE {figures['pa_mpjpe_mm_median']:.1f} mm (median), "
                          f"MPJPE {figures['mpjpe_mm_median']:.1f} mm")
            seconds = time.perf_counter() - started
            extra = {"step": step, "history": history, "seconds": seconds, "config": config.to_dict()}
            save_checkpoint(output / "regressor.pt", learner.regressor, extra)
            save_checkpoint(last, learner.regressor, {**extra, **learner.training_state()})
    bar.close()
    metrics = {"steps": step, "seconds": time.perf_counter() - started, "history": history,
               **({k: v for k, v in history[-1].items() if not k.startswith("train_")} if history else {})}
    write_text_atomic(output / "metrics.json", json.dumps(metrics, indent=1))
    return metrics
