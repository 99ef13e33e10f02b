"""SPIN's loop (Kolotouros et al. 2019): the regressor starts a short fit of every person, the
best fit per person is kept, and the kept fits teach the regressor, epoch after epoch, from
2D keypoints alone.

Per batch: the regressor (eval mode) predicts; the batched fitter runs the config's short
``regressor`` schedule from that prediction, held near it; each fit whose data term beats the
stored one replaces it (``FitStore``), and counts as a label when its median 2D error is
under ``max_error_share`` of the person's box; then one training step of the regressor on the
detections (confidence-weighted L1), the valid stored fits (parameters, joints, translation)
and HMR's discriminators. After every epoch the store, the regressor and the training state
are written atomically; a rerun resumes after the last finished epoch.

Shapes: N people, B batch, K keypoints (the body model's layout), 25 BODY_25 points.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bodyfit.bodymodels.layer import BodyParams
from bodyfit.bodymodels.joints import NUM_BODY_JOINTS_WITH_PELVIS
from bodyfit.fileio.atomic import write_text_atomic
from bodyfit.fileio.config import build_dataclass, read_yaml
from bodyfit.fileio.keypoint_layout import BODY
from bodyfit.fitting.config import FitConfig, compose, parse_config
from bodyfit.fitting.fitter import Fitter
from bodyfit.fitting.initializers import Starts
from bodyfit.fitting.objective import Targets
from bodyfit.fitting.regressor_init import regressor_starts, uses_open_model
from bodyfit.geometry import pa_mpjpe, project
from bodyfit.regressor.checkpoint import load_training_state, save_checkpoint
from bodyfit.regressor.image_data import ImageCache, ImageSample, sample_crops
from bodyfit.regressor.inputs import RegressorInput, from_box, keypoint_boxes, make_input
from bodyfit.regressor.training import Learner, SupervisedBatch, predict, true_rotations
from bodyfit.spin.store import FitStore


@dataclass(frozen=True)
class SpinConfig:
    """``cfg/spin.yaml``."""

    epochs: int = 4
    batch_size: int = 64
    learning_rate: float = 5.0e-5       # the regressor's Adam in the loop (SPIN: 5e-5)
    max_error_share: float = 0.04       # a fit teaches when its median 2D error < this share of the box side
    fit_iterations: tuple[int, ...] = (30, 40)  # per stage of the fit config's regressor schedule, in the loop
    seed: int = 0


def load_spin_config(path: Path | str, overrides: dict | None = None) -> SpinConfig:
    data = read_yaml(Path(path))
    data.update(overrides or {})
    return build_dataclass(SpinConfig, data, str(path))


def sample_targets(samples: list[ImageSample], fitter: Fitter) -> Targets:
    """The fitting targets (one row each) of samples' BODY_25 detections."""
    model, config = fitter.model, fitter.config
    ref = model.smpl.v_template
    keypoints = torch.zeros(len(samples), model.num_keypoints, 2, dtype=ref.dtype, device=ref.device)
    confidence = torch.zeros(len(samples), model.num_keypoints, dtype=ref.dtype, device=ref.device)
    body = torch.as_tensor(np.stack([s.keypoints for s in samples]), dtype=ref.dtype, device=ref.device)
    keypoints[:, BODY], confidence[:, BODY] = body[..., :2], body[..., 2]
    intrinsics = torch.as_tensor(np.stack([s.intrinsics for s in samples]), dtype=ref.dtype, device=ref.device)
    heights = torch.as_tensor([float(s.image_size[0]) for s in samples], dtype=ref.dtype, device=ref.device)
    return Targets(keypoints, confidence, intrinsics, config.data_weight_scale / heights)


def error_shares(fitter: Fitter, params: BodyParams, targets: Targets) -> np.ndarray:
    """(B,) median pixel distance of the fit's BODY_25 points to the seen detections, over the
    side of the detections' box."""
    with torch.no_grad():
        projected = project(fitter.model.keypoints(params)[1][:, BODY], targets.intrinsics)
    observed, confidence = targets.keypoints[:, BODY], targets.confidence[:, BODY]
    distance = (projected - observed).norm(dim=-1).masked_fill(confidence <= 0, float("nan"))
    side = keypoint_boxes(observed, confidence)[:, 2]
    return (torch.nanmedian(distance, dim=1).values / side).cpu().numpy()


def batch_inputs(samples: list[ImageSample], rows: np.ndarray, images: ImageCache | None = None,
                 crop_size: int = 224) -> RegressorInput:
    """The regressor's inputs of ``rows``' detections, with RGB crops read through ``images``
    when the regressor reads images."""
    body = torch.as_tensor(np.stack([samples[r].keypoints for r in rows]), dtype=torch.float32)
    intrinsics = torch.as_tensor(np.stack([samples[r].intrinsics for r in rows]), dtype=torch.float32)
    inputs = make_input(body[..., :2], body[..., 2], intrinsics)
    if images is not None:
        inputs = dataclasses.replace(inputs, image=sample_crops([samples[r] for r in rows], inputs.box, crop_size,
                                                                images))
    return inputs


def label_batch(inputs: RegressorInput, store: FitStore, rows: np.ndarray, fitter: Fitter) -> SupervisedBatch:
    """The regressor's batch for ``inputs`` of ``rows``: the detections as 2D targets
    (confidence-weighted); the stored fits as labels where valid (betas and translation only
    when the fits use the regressor's own body model: another model's shape space and pelvis
    differ)."""
    model = fitter.model
    open_model = uses_open_model(model)
    with torch.no_grad():
        joints = model.keypoints(store.to_params(rows, model))[0][:, :NUM_BODY_JOINTS_WITH_PELVIS].float().cpu()
    detections = inputs.keypoints  # box coordinates; the 2D targets are in pixels
    keypoints_px = from_box(detections[..., :2], inputs.box)
    return SupervisedBatch(inputs, keypoints_px, detections[..., 2],
                           true_rotations(store.global_orient[rows], store.body_pose[rows]),
                           torch.as_tensor(store.betas[rows]) if open_model else None,
                           torch.as_tensor(store.transl[rows]) if open_model else None, joints,
                           torch.as_tensor(store.valid[rows], dtype=torch.float32))


def in_loop_config(schedule_file: Path | str, spin: SpinConfig, where: str) -> FitConfig:
    """The schedule of ``schedule_file`` started from the regressor (``init: regressor``),
    each stage's iteration budget from ``spin.fit_iterations``, composed before one parse;
    ``ValueError`` naming ``where`` when the counts differ."""
    data = compose(read_yaml(Path(schedule_file)), {"init": "regressor"}, str(schedule_file))
    stages = data.get("stages") or []
    if len(spin.fit_iterations) != len(stages):
        raise ValueError(f"{where}: fit_iterations needs one entry per regressor stage ({len(stages)})")
    data["stages"] = [{**stage, "batched_max_iterations": count} for stage, count in zip(stages, spin.fit_iterations)]
    return parse_config(data, str(schedule_file))


class LoopStarts:
    """The in-loop initialiser: ``regressor_starts`` from the learner's current regressor,
    with the batch's RGB ``crops`` (set before each fit) when it reads images."""

    def __init__(self, learner: Learner) -> None:
        self.learner, self.crops = learner, None

    def __call__(self, model, prior, config, targets, initial) -> Starts:
        return regressor_starts(model, prior, config, targets, initial, self.learner.regressor, self.crops)


def sample_keys(samples: list[ImageSample]) -> list[str]:
    """Who each sample is: ``<image stem>:<person index>``."""
    return [f"{sample.stem}:{sample.person}" for sample in samples]


def run_spin(samples: list[ImageSample], learner: Learner, fitter: Fitter, config: SpinConfig, output: Path,
             progress: bool = True, resume: bool = True) -> list[dict]:
    """Runs the loop for ``config.epochs`` epochs over ``samples`` (resuming from ``output``
    unless ``resume`` is False, which removes its state first); returns one summary per
    epoch (also in ``output/spin_history.json``)."""
    output.mkdir(parents=True, exist_ok=True)
    store_path, last = output / "spin_store.npz", output / "last.pt"
    if not resume:
        store_path.unlink(missing_ok=True)
        last.unlink(missing_ok=True)
    keys = sample_keys(samples)
    store, history, start_epoch = FitStore.empty(keys), [], 0
    if last.is_file() and store_path.is_file():
        state = load_training_state(last)
        learner.load_training_state(state, last)
        store, history, start_epoch = FitStore.load(store_path, keys), state["history"], state["epoch"]
    for group in learner.generator_opt.param_groups:
        group["lr"] = config.learning_rate
    starts = LoopStarts(learner)
    loop_fitter = Fitter(fitter.model, fitter.prior, fitter.config, initializer=starts)
    shape = learner.regressor.shape
    images = ImageCache() if shape.encoder == "rgb" else None
    batches_per_epoch = -(-len(samples) // config.batch_size)
    bar = tqdm(total=(config.epochs - start_epoch) * batches_per_epoch, unit="batch", disable=not progress)
    for epoch in range(start_epoch, config.epochs):
        bar.set_description(f"SPIN epoch {epoch + 1}/{config.epochs}")
        rng = np.random.default_rng([config.seed, epoch])
        order = rng.permutation(len(samples))
        started, replaced, disagreement, losses = time.perf_counter(), 0, [], []
        batches = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        for rows in batches:
            chosen = [samples[r] for r in rows]
            targets = sample_targets(chosen, fitter)
            inputs = batch_inputs(samples, rows, images, shape.crop_size)
            learner.regressor.eval()
            starts.crops = inputs.image
            result = loop_fitter.fit(targets)
            data = fitter.data_term(result.params, targets).cpu().numpy()
            params = {name: value.detach().cpu().numpy() for name, value in result.params.as_dict().items()}
            replaced += int(store.offer(rows, params, data, error_shares(fitter, result.params, targets),
                                        config.max_error_share, epoch).sum())
            batch = label_batch(inputs, store, rows, fitter)  # with the new fits
            with torch.no_grad():
                regressed = predict(learner.regressor, learner.body, batch.inputs.to(learner.device)).joints.cpu()
            if store.valid[rows].any():
                valid = torch.as_tensor(store.valid[rows])
                disagreement.append(pa_mpjpe(regressed[valid], batch.joints[valid]).numpy())
            losses.append(learner.step(batch, rng))
            bar.update(1)
        summary = {"epoch": epoch + 1, "seconds": time.perf_counter() - started, "people": len(samples),
                   "replaced": replaced, "valid_share": float(store.valid.mean()),
                   "mean_data_term": float(np.mean(store.data_term[np.isfinite(store.data_term)])),
                   "regressor_fit_disagreement_mm": float(np.mean(np.concatenate(disagreement)) * 1000)
                   if disagreement else None,
                   "mean_loss": float(np.mean([entry["total"] for entry in losses]))}
        history.append(summary)
        if progress:
            tqdm.write(f"epoch {epoch + 1}: data term {summary['mean_data_term']:.1f}, valid fits "
                       f"{100 * summary['valid_share']:.1f} %, regressor-to-fit PA-MPJPE "
                       f"{summary['regressor_fit_disagreement_mm'] or float('nan'):.1f} mm, "
                       f"{summary['seconds']:.0f} s")
        # the store first (a kill before the checkpoint redoes this epoch's training only), the
        # history before last.pt (a kill between them cannot leave the history short)
        store.save(store_path)
        write_text_atomic(output / "spin_history.json", json.dumps(history, indent=1))
        extra = {"epoch": epoch + 1, "history": history, "spin_config": asdict(config),
                 "config": learner.config.to_dict()}
        save_checkpoint(output / "regressor.pt", learner.regressor, extra)
        save_checkpoint(last, learner.regressor, {**extra, **learner.training_state()})
    bar.close()
    return history
