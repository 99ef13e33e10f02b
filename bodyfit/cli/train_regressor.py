"""Train the HMR-style regressor that starts every fit.

    bodyfit train-regressor --output runs/regressor                 # the shipped model's recipe
    bodyfit train-regressor --images DIR --keypoints DIR [--params DIR] --output runs/mine [--encoder rgb]
    bodyfit train-regressor --spin --images DIR --keypoints DIR --output runs/spin [--checkpoint START]

Without ``--images``: synthetic people from the motion corpus's train clips through the
accuracy benchmark's generator (``motion.cases``), drawn once and cached under ``--cache``,
with fresh detection noise every batch; evaluated on people from the held-out clips. With
``--images``: a user's images and OpenPose keypoints (and parameters where known, in fit.py's
output layout), with the keypoint or the RGB (ResNet-50) encoder; ``--checkpoint`` starts
from trained weights.

Resumes from ``OUTPUT/last.pt`` (``--restart`` starts over). Writes ``regressor.pt`` (usable as
``fit.py --regressor OUTPUT``), ``last.pt``, ``config.yaml`` and ``metrics.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

from bodyfit.resources import checkout_path, config_path
from bodyfit.bodymodels.layer import BodyModel
from bodyfit.regressor.checkpoint import load_regressor
from bodyfit.regressor.training import RegressorTrainConfig, load_train_config, synthetic_batches, train
from bodyfit.regressor.training_data import cached_people, real_samples


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bodyfit train-regressor", description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=config_path("regressor"))
    parser.add_argument("--cache", type=Path, default=checkout_path(".cache") / "regressor",
                        help="where the synthetic people are kept between runs")
    parser.add_argument("--images", type=Path, help="train on a user's images (with --keypoints)")
    parser.add_argument("--keypoints", type=Path, help="OpenPose keypoint files of --images")
    parser.add_argument("--params", type=Path, help="known parameters of --images (fit.py's output layout)")
    parser.add_argument("--encoder", choices=("keypoints", "heatmaps", "rgb"), help="override model.encoder")
    parser.add_argument("--checkpoint", type=Path, help="start from these weights (fine-tuning)")
    parser.add_argument("--amass", type=Path, default=None,
                        help="AMASS-format clips (searched recursively) added to the corpus as the discriminators' real poses")
    parser.add_argument("--spin", action="store_true", help="SPIN's loop on --images / --keypoints")
    parser.add_argument("--spin-config", type=Path, default=config_path("spin"))
    parser.add_argument("--epochs", type=int, help="with --spin: override epochs")
    parser.add_argument("--fit-config", type=Path, default=None,
                        help="with --spin: the fitting schedule (default cfg/fit_<model-type>.yaml; its 'regressor' stages)")
    parser.add_argument("--model-type", choices=["smpl", "smplh", "smplx"], default="smplx", help="with --spin")
    parser.add_argument("--model-folder", type=Path, default=None, help="with --spin: your body model files")
    parser.add_argument("--gender", choices=["neutral", "male", "female"], default="neutral", help="with --spin")
    parser.add_argument("--steps", type=int, help="override training.steps")
    parser.add_argument("--batch-size", type=int, help="override training.batch_size")
    parser.add_argument("--workers", type=int, default=2, help="processes drawing synthetic people")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--restart", action="store_true", help="ignore OUTPUT/last.pt")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> RegressorTrainConfig:
    overrides: dict[str, dict] = {}
    if args.steps:
        overrides.setdefault("training", {})["steps"] = args.steps
    if args.batch_size:
        overrides.setdefault("training", {})["batch_size"] = args.batch_size
    if args.encoder:
        overrides.setdefault("model", {})["encoder"] = args.encoder
    return load_train_config(args.config, overrides)


def spin_main(args: argparse.Namespace, config: RegressorTrainConfig, body: BodyModel, device: torch.device) -> int:
    """SPIN's loop on a user's images, then the pseudo-ground-truth."""
    from bodyfit.fitting.core import ModelBank
    from bodyfit.fitting.tasks import ModelKey
    from bodyfit.regressor.image_data import read_image_dataset
    from bodyfit.regressor.training import Learner
    from bodyfit.pipeline.runner import ImageFolder, RunError, RunOptions, run
    from bodyfit.spin.export import StoredFits, write_dataset_file
    from bodyfit.spin.loop import in_loop_config, load_spin_config, run_spin, sample_keys
    from bodyfit.spin.store import FitStore

    if not args.keypoints:
        raise SystemExit("bodyfit train-regressor: --spin needs --images and --keypoints")
    spin = load_spin_config(args.spin_config, {"epochs": args.epochs} if args.epochs else None)
    try:
        fit_config = in_loop_config(args.fit_config or config_path(f"fit_{args.model_type}"), spin,
                                    str(args.spin_config))
    except (OSError, ValueError) as error:
        raise SystemExit(f"bodyfit train-regressor: {error}") from error
    key = ModelKey(args.model_type, args.gender)
    fitter = ModelBank({args.model_type: fit_config}, args.model_folder, device).fitter(key)
    samples = read_image_dataset(args.images, args.keypoints)
    start = load_regressor(args.checkpoint or "default", device)
    config = RegressorTrainConfig(start.shape, config.data, config.training, config.losses)
    learner = Learner(start, body, real_samples(args.amass), config, device)
    history = run_spin(samples, learner, fitter, spin, args.output, progress=not args.quiet, resume=not args.restart)
    store = FitStore.load(args.output / "spin_store.npz", sample_keys(samples))
    try:
        summary = run(RunOptions(args.output / "pseudo_gt", args.keypoints, quiet=args.quiet), ImageFolder(args.images),
                      StoredFits(samples, store, fitter, key), vars(args))
    except RunError as error:
        raise SystemExit(f"bodyfit train-regressor: {error}") from None
    dataset = write_dataset_file(samples, store, fitter, args.images, args.output)
    print(json.dumps({"epochs": history, "pseudo_gt": str(args.output / "pseudo_gt"), "dataset_file": str(dataset),
                      "people_fitted": summary["people_fitted"]}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = build_config(args)
    if args.spin:
        if not args.images:
            raise SystemExit("bodyfit train-regressor: --spin needs --images and --keypoints")
        return spin_main(args, config, BodyModel(), torch.device(args.device))
    device = torch.device(args.device)
    body = BodyModel()
    start = load_regressor(args.checkpoint) if args.checkpoint else None
    if start is not None:  # fine-tuning: the checkpoint's architecture
        if args.encoder and args.encoder != start.shape.encoder:
            raise SystemExit(f"bodyfit train-regressor: --encoder {args.encoder}, but {args.checkpoint} has a "
                             f"{start.shape.encoder} encoder")
        config = RegressorTrainConfig(start.shape, config.data, config.training, config.losses)
    data = config.data
    started = time.perf_counter()
    heldout = cached_people(args.cache, "heldout", data.heldout_samples, data.seed + 1, False, args.workers,
                            progress=not args.quiet)
    if args.images:
        if not args.keypoints:
            raise SystemExit("--images needs --keypoints")
        from bodyfit.regressor.image_data import image_batches, read_image_dataset
        samples = read_image_dataset(args.images, args.keypoints, args.params)
        batches = image_batches(samples, config.training.batch_size, with_images=config.model.encoder == "rgb",
                                crop_size=config.model.crop_size, body=body)
        heldout = heldout if config.model.encoder != "rgb" else None  # synthetic people have no pixels
    else:
        people = cached_people(args.cache, "train", data.train_samples, data.seed, data.widened, args.workers,
                               progress=not args.quiet)
        batches = synthetic_batches(people, config.training.batch_size)
    metrics = train(config, batches, body, real_samples(args.amass), args.output, device, heldout=heldout,
                    resume=not args.restart, progress=not args.quiet, regressor=start)
    metrics["wall_seconds_with_data"] = time.perf_counter() - started
    print(json.dumps({k: v for k, v in metrics.items() if k != "history"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
