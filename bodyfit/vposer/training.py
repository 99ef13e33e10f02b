"""Training VPoser on AMASS-format clips: configuration, the loop, evaluation, checkpoints
that can be resumed.

Shapes: B batch, J = 21 joints.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import roma
import torch
import yaml
from tqdm import tqdm

from bodyfit.bodymodels.joints import NUM_BODY_JOINTS
from bodyfit.fileio.atomic import write_text_atomic
from bodyfit.fileio.config import load_sections
from bodyfit.vposer import losses
from bodyfit.vposer.checkpoint import read_vposer_checkpoint, save_checkpoint
from bodyfit.vposer.data import PoseDataset, load_dataset
from bodyfit.vposer.model import VPoser, VPoserShape


@dataclass(frozen=True)
class DataConfig:
    target_frame_rate: float = 30.0
    validation_fraction: float = 0.2
    mirror: bool = True
    seed: int = 0


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 300
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    seed: int = 0
    checkpoint_every: int = 25


@dataclass(frozen=True)
class LossWeights:
    kl: float = 0.005
    reconstruction: float = 1.0
    validity: float = 1.0


@dataclass(frozen=True)
class EvaluationConfig:
    samples: int = 1000


@dataclass(frozen=True)
class VPoserTrainConfig:
    model: VPoserShape
    data: DataConfig
    training: TrainingConfig
    losses: LossWeights
    evaluation: EvaluationConfig

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_train_config(path: Path, overrides: dict[str, dict] | None = None) -> VPoserTrainConfig:
    sections = {"model": VPoserShape, "data": DataConfig, "training": TrainingConfig, "losses": LossWeights,
                "evaluation": EvaluationConfig}
    return VPoserTrainConfig(**load_sections(path, sections, overrides))


def loss_terms(model: VPoser, poses: torch.Tensor, weights: LossWeights) -> dict[str, torch.Tensor]:
    """Batch means of the weighted terms and their sum, for poses (B, 63)."""
    decoded, posterior = model(poses)
    rotations = roma.rotvec_to_rotmat(poses.reshape(-1, NUM_BODY_JOINTS, 3))
    terms = {"kl": weights.kl * losses.kl_to_standard_normal(posterior).mean(),
             "reconstruction": weights.reconstruction * losses.reconstruction(rotations, decoded).mean(),
             "validity": weights.validity * losses.rotation_validity(decoded).mean()}
    terms["total"] = sum(terms.values())
    return terms


@torch.no_grad()
def evaluate(model: VPoser, poses: torch.Tensor, samples: int, generator: torch.Generator) -> dict[str, float]:
    """Validation geodesic error (degrees) and KL, and the validity of decoded random latents."""
    model.eval()
    metrics: dict[str, float] = {}
    if len(poses):
        decoded, posterior = model(poses)
        rotations = roma.rotvec_to_rotmat(poses.reshape(-1, NUM_BODY_JOINTS, 3))
        error = losses.geodesic_degrees(rotations, decoded)
        metrics.update(val_geodesic_deg_mean=float(error.mean()), val_geodesic_deg_median=float(error.median()),
                       val_kl=float(losses.kl_to_standard_normal(posterior).mean()))
    latent = torch.randn(samples, model.latent_size, generator=generator).to(poses.device)
    validity = losses.rotation_validity(model.decode_rotmats(latent)) / NUM_BODY_JOINTS
    metrics.update(sample_validity_per_joint_mean=float(validity.mean()),
                   sample_validity_per_joint_max=float(validity.max()))
    model.train()
    return metrics


def train(config: VPoserTrainConfig, data: Path | PoseDataset, output: Path, device: torch.device,
          resume: bool = True, progress: bool = True) -> dict[str, Any]:
    """Trains (or resumes) into ``output`` on a folder of clips (split by ``config.data``) or
    on a PoseDataset already split; returns the final metrics."""
    if isinstance(data, PoseDataset):
        train_np, val_np, train_clips, val_clips = data.train, data.val, data.train_clips, data.val_clips
    else:
        train_np, val_np, train_clips, val_clips = load_dataset(
            data, config.data.target_frame_rate, config.data.validation_fraction, config.data.mirror,
            config.data.seed)
    train_poses = torch.as_tensor(train_np, device=device)
    val_poses = torch.as_tensor(val_np, device=device)
    model = VPoser(config.model).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.training.learning_rate,
                                 weight_decay=config.training.weight_decay)
    history, start_epoch = [], 0
    last = output / "last.pt"
    if resume and last.is_file():
        state = read_vposer_checkpoint(last)
        model.load_state_dict(state.state_dict)
        optimizer.load_state_dict(state.extra["optimizer"])
        history, start_epoch = state.extra["history"], state.extra["epoch"]
    output.mkdir(parents=True, exist_ok=True)
    write_text_atomic(output / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    generator = torch.Generator().manual_seed(config.training.seed)
    metrics: dict[str, Any] = {}
    epochs = range(start_epoch, config.training.epochs)
    bar = tqdm(epochs, unit="epoch", disable=not progress, initial=start_epoch, total=config.training.epochs)
    model.train()
    for epoch in bar:
        start = time.perf_counter()
        order = torch.randperm(len(train_poses), generator=generator).to(device)
        sums: dict[str, float] = {}
        for begin in range(0, len(order), config.training.batch_size):
            batch = train_poses[order[begin:begin + config.training.batch_size]]
            if len(batch) < 2:
                continue  # batch norm needs two samples
            terms = loss_terms(model, batch, config.losses)
            optimizer.zero_grad()
            terms["total"].backward()
            optimizer.step()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach()) * len(batch)
        row = {"epoch": epoch + 1, "seconds": time.perf_counter() - start,
               **{f"train_{k}": v / len(train_poses) for k, v in sums.items()}}
        history.append(row)
        bar.set_postfix(loss=f"{row['train_total']:.4f}")
        if (epoch + 1) % config.training.checkpoint_every == 0 or epoch + 1 == config.training.epochs:
            metrics = {**row, **evaluate(model, val_poses, config.evaluation.samples, generator),
                       "train_frames": len(train_poses), "val_frames": len(val_poses),
                       "train_clips": train_clips, "val_clips": val_clips}
            save_checkpoint(last, model, {"optimizer": optimizer.state_dict(), "epoch": epoch + 1, "history": history})
            save_checkpoint(output / "vposer.pt", model, {"metrics": metrics, "config": config.to_dict()})
            write_text_atomic(output / "metrics.json", json.dumps({"final": metrics, "history": history}, indent=1))
    return metrics or json.loads((output / "metrics.json").read_text())["final"]

