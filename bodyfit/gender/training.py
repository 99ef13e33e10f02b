"""Training the classifier on labelled crops: AdamW with cosine decay, label smoothing, the
augmentations of ``gender.augment``, scored on held-out crops after every epoch.

Shapes: B crops, S the crop side.
"""
from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from bodyfit.fileio.atomic import write_json
from bodyfit.fileio.checkpoints import CheckpointError, read_checkpoint, write_checkpoint
from bodyfit.fileio.config import plain
from bodyfit.gender.augment import augment
from bodyfit.gender.config import GenderConfig
from bodyfit.gender.data import LabelledCrops
from bodyfit.gender.metrics import decision_figures
from bodyfit.gender.network import CropClassifier, as_float_images
from bodyfit.gender.teacher import Distiller, TeacherNet, load_imagenet_features

log = logging.getLogger("bodyfit")

TEACHER_KIND = "gender-teacher"


def score(net: CropClassifier, crops: LabelledCrops, threshold: float) -> dict[str, float]:
    """``decision_figures`` of ``net`` on ``crops`` (rules from ``crops.meta`` when there)."""
    was_training = net.training
    net.eval()
    p_female = net.probabilities(crops.images)[:, 0].numpy()
    net.train(was_training)
    reasons = crops.meta.get("neutral_reason")
    ruled_out = None if reasons is None else np.asarray([bool(r) for r in reasons])
    return decision_figures(p_female, crops.labels.numpy(), threshold, ruled_out)


def train_classifier(net: CropClassifier, train: LabelledCrops, heldout: LabelledCrops | None, config: GenderConfig,
                     device: torch.device | str = "cpu", epochs: int | None = None,
                     on_epoch: Callable[[dict], None] | None = None, distiller: Distiller | None = None,
                     learning_rate: float | None = None) -> list[dict]:
    """Trains ``net`` in place (with the teacher's terms when a ``distiller`` is given); one
    history row per epoch (train loss, held-out figures at the config's threshold, seconds)."""
    settings = config.training
    epochs = settings.epochs if epochs is None else epochs
    if len(train) == 0 or epochs < 1:
        raise ValueError(f"nothing to train: {len(train)} crops, {epochs} epochs")
    generator = torch.Generator().manual_seed(settings.seed)
    net.to(device).train()
    parameters = list(net.parameters())
    if distiller is not None:
        distiller.to(device)
        distiller.capture(net)
        parameters += list(distiller.adapter.parameters())
    optimiser = torch.optim.AdamW(parameters, lr=learning_rate or settings.learning_rate,
                                  weight_decay=settings.weight_decay)
    try:
        history = _epochs(net, train, heldout, config, device, epochs, optimiser, generator, on_epoch, distiller)
    finally:
        if distiller is not None:
            distiller.release()
    net.eval()
    return history


def _epochs(net: CropClassifier, train: LabelledCrops, heldout: LabelledCrops | None, config: GenderConfig,
            device: torch.device | str, epochs: int, optimiser: torch.optim.Optimizer, generator: torch.Generator,
            on_epoch: Callable[[dict], None] | None, distiller: Distiller | None) -> list[dict]:
    """``train_classifier``'s epochs under a cosine schedule; the history rows."""
    settings = config.training
    steps_per_epoch = math.ceil(len(train) / settings.batch_size)
    total = epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 0.5 * (1 + math.cos(math.pi * step / total)))
    history = []
    for epoch in range(epochs):
        started, losses = time.perf_counter(), []
        order = torch.randperm(len(train), generator=generator)
        bar = tqdm(range(0, len(train), settings.batch_size), desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                   leave=False)
        for first in bar:
            rows = order[first:first + settings.batch_size]
            images = augment(as_float_images(train.images[rows]), config.augment, generator).to(device)
            logits = net(images)
            loss = F.cross_entropy(logits, train.labels[rows].to(device), label_smoothing=settings.label_smoothing)
            if distiller is not None:
                loss = loss + distiller.loss(images, logits)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "seconds": time.perf_counter() - started}
        if heldout is not None and len(heldout):
            row["heldout"] = score(net, heldout, config.rules.threshold)
        log.info("epoch %d: loss %.3f%s", epoch + 1, row["train_loss"],
                 f", held-out accuracy {row['heldout']['accuracy']:.3f}" if "heldout" in row else "")
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
    return history


def prepare_teacher(path: Path, output: Path, train: LabelledCrops, heldout: LabelledCrops, config: GenderConfig,
                    source: str, device: str) -> tuple[TeacherNet, dict]:
    """The MobileNetV2 teacher fine-tuned on ``train`` and its held-out figures. It is kept in
    ``output/teacher.pt`` with what it was fine-tuned on (``source``, the weights file, the
    teacher settings) in ``output/teacher.json``: a rerun on the same reuses it, any other
    fine-tunes anew."""
    teacher = TeacherNet(load_imagenet_features(path), config.model.image_size)
    kept, record = output / "teacher.pt", output / "teacher.json"
    made_from = {"source": source, "weights": str(path), "image_size": config.model.image_size,
                 "teacher": plain(config.teacher)}
    if kept.is_file() and record.is_file() and json.loads(record.read_text()) == made_from:
        try:
            teacher.load_state_dict(read_checkpoint(kept, TEACHER_KIND, "fine-tuned gender teacher").state_dict)
        except (CheckpointError, RuntimeError) as error:
            raise ValueError(f"{kept}: not a fine-tuned teacher ({error}); delete it to fine-tune anew") from error
        log.info("teacher: %s (fine-tuned before on the same)", kept)
    else:
        log.info("fine-tuning the teacher for %d epochs", config.teacher.epochs)
        train_classifier(teacher, train, heldout, config, device, config.teacher.epochs,
                         learning_rate=config.teacher.learning_rate)
        output.mkdir(parents=True, exist_ok=True)
        write_checkpoint(kept, TEACHER_KIND, {"image_size": config.model.image_size}, teacher.state_dict())
        write_json(record, made_from)
    figures = score(teacher.to(device), heldout, config.rules.threshold) if len(heldout) else {}
    log.info("teacher held-out: %s", figures)
    return teacher.eval(), figures
