"""Fit SMPL / SMPL-H / SMPL-X to every person in a folder of images with OpenPose keypoints.

    python fit.py --images DIR --keypoints DIR --output DIR
    python fit.py --images DIR --output DIR     # detects keypoints first (MediaPipe)
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path

import torch
import yaml
from tqdm import tqdm

from bodymodels.layer import BodyModel
from fitting import outputs
from fitting.config import load_config
from fitting.fitter import Fitter
from fitting.keypoints import match_images
from fitting.pipeline import FolderFitter, RunOptions
from priors.body_pose import make_body_pose_prior

REPO = Path(__file__).resolve().parent
DEFAULT_CONFIGS = {"smplx": REPO / "cfg" / "fit_smplx.yaml", "smpl": REPO / "cfg" / "fit_smpl.yaml"}


def focal_length(value: str) -> str | float:
    if value == "auto":
        return value
    try:
        focal = float(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--focal-length must be 'auto' or pixels, got {value!r}") from error
    if focal <= 0:
        raise argparse.ArgumentTypeError(f"--focal-length must be positive, got {value!r}")
    return focal


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True, help="folder of .jpg/.jpeg/.png images")
    parser.add_argument("--keypoints", type=Path, default=None,
                        help="folder of <stem>_keypoints.json; without it, keypoints are detected with "
                             "MediaPipe (pip install -e '.[detect]') into OUTPUT/keypoints")
    parser.add_argument("--detect-config", type=Path, default=None,
                        help="detection settings when --keypoints is not given (default cfg/detect.yaml)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=None,
                        help="fitting schedule (default: cfg/fit_<model-type>.yaml)")
    parser.add_argument("--model-folder", type=Path, default=None,
                        help="folder with your SMPL/SMPL-H/SMPL-X files (default: the open model)")
    parser.add_argument("--model-type", choices=["smpl", "smplh", "smplx"], default="smplx")
    parser.add_argument("--gender", choices=["neutral", "male", "female"], default="neutral")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--focal-length", type=focal_length, default="auto",
                        help="'auto' (sidecar, EXIF, else the image diagonal) or pixels (SMPLify-X: 5000)")
    parser.add_argument("--max-people", type=int, default=None, help="fit at most this many people per image")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="people fitted together (from several images); with the config's "
                             "'optimizer: lbfgs' (SMPLify-X's reference) people are fitted one at a time")
    parser.add_argument("--no-overlay", action="store_true", help="do not render images/<stem>.png")
    parser.add_argument("--overwrite", action="store_true", help="refit images that already have results")
    parser.add_argument("--vposer", default=None,
                        help="body pose prior: 'default' (the shipped VPoser), a checkpoint file or folder "
                             "(bodyfit's or an official V02_05 folder), or 'none' (an L2 on the angles); "
                             "default: the config's")
    parser.add_argument("--collision", action="store_true",
                        help="add the self-penetration term with the config's per-stage weights "
                             "(about 3-4x slower; see the README)")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def build(args: argparse.Namespace):
    config_path = args.config or DEFAULT_CONFIGS.get(args.model_type)
    if config_path is None:
        raise SystemExit(f"no default schedule for {args.model_type}: pass --config")
    overrides = {}
    if args.vposer == "none":
        overrides["body_pose_prior"] = "l2_angles"
    elif args.vposer is not None:
        overrides.update(body_pose_prior="vposer", vposer=args.vposer)
    config = load_config(config_path, overrides)
    if args.collision:
        config = dataclasses.replace(config, collision=dataclasses.replace(config.collision, enabled=True))
    if config.model_type != args.model_type:
        raise SystemExit(f"{config_path} is a {config.model_type} schedule, --model-type is {args.model_type}")
    device = torch.device(args.device)
    model = BodyModel(args.model_type, args.gender, args.model_folder).to(device)
    prior = make_body_pose_prior(config.body_pose_prior, config.vposer).to(device)
    return config, model, Fitter(model, prior, config)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    config, model, fitter = build(args)
    keypoints = args.keypoints or detect_keypoints(args)
    try:
        items = match_images(args.images, keypoints)
    except FileNotFoundError as error:
        raise SystemExit(str(error)) from error
    if args.batch_size < 1:
        raise SystemExit(f"--batch-size must be at least 1, got {args.batch_size}")
    options = RunOptions(args.output, args.focal_length, args.max_people, not args.no_overlay, args.overwrite,
                         args.batch_size)
    runner = FolderFitter(model, fitter, config, options)
    resolved = {"fit": config.to_dict(), "run": {k: str(v) for k, v in vars(args).items()}}
    outputs.write_text_atomic(args.output / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    todo = [item for item in items if not runner.is_done(item.stem)]
    if len(todo) < len(items):
        logging.info("%d of %d images already have results (use --overwrite to redo)", len(items) - len(todo), len(items))
    start = time.perf_counter()
    with tqdm(total=len(todo), unit="img", disable=args.quiet) as bar:
        def done(item, record) -> None:
            bar.update(1)
            bar.set_postfix_str(f"{item.stem}: {record['status']}")

        runner.run(todo, done)
    summary = summarise(runner, items, time.perf_counter() - start)
    outputs.write_json(args.output / "summary.json", summary)
    counts = summary["counts"]
    logging.info("images: %d ok, %d skipped, %d failed; people fitted: %d; see %s",
                 counts["ok"], counts["skipped"], counts["failed"], summary["people_fitted"], args.output)
    return 1 if counts["failed"] else 0


def detect_keypoints(args: argparse.Namespace) -> Path:
    """Detect keypoints for the images that have none yet in OUTPUT/keypoints; that folder."""
    from detect.folder import run_detection

    folder = args.output / "keypoints"
    run_detection(args.images, folder, args.detect_config, args.overwrite, quiet=args.quiet)
    return folder


def summarise(runner: FolderFitter, items, seconds: float) -> dict:
    """The run's summary from every image's record (including those of earlier runs)."""
    import json

    images, counts, people = {}, {"ok": 0, "skipped": 0, "failed": 0}, 0
    for item in items:
        path = runner.record_path(item.stem)
        record = json.loads(path.read_text()) if path.is_file() else {"status": "failed", "reason": "not processed"}
        images[item.stem] = record
        counts[record["status"]] += 1
        people += sum(p["status"] == "ok" for p in record.get("people", []))
    return {"counts": counts, "people_fitted": people, "run_seconds": seconds, "images": images}


if __name__ == "__main__":
    sys.exit(main())
