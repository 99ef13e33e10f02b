"""Fit SMPL / SMPL-H / SMPL-X to every person in a folder of images with OpenPose keypoints.

    bodyfit fit --images DIR --keypoints DIR --output DIR      (in a checkout: python fit.py ...)
    bodyfit fit --images DIR --output DIR      # detects keypoints first (MediaPipe)
    bodyfit fit --cameras CALIB --images VIEWS [--keypoints KPVIEWS] --output DIR   # calibrated cameras
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bodyfit.fileio.formats.skeletons import FORMAT_NAMES
from bodyfit.fitting.config import FitConfig, load_config
from bodyfit.fitting.tasks import ModelKey
from bodyfit.gender.choose import GenderChooser
from bodyfit.gender.config import load_gender_config
from bodyfit.pipeline.engines import RayOptions
from bodyfit.pipeline.images import FolderOptions, ImageStrategy
from bodyfit.pipeline.runner import ImageFolder, RunError, RunOptions, run
from bodyfit.multiview.config import load_multiview_config
from bodyfit.multiview.strategy import MultiViewStrategy
from bodyfit.multiview.views import CameraViews
from bodyfit.resources import config_path
from bodyfit.video.config import load_video_config
from bodyfit.video.strategy import SequenceStrategy, VideoFile

DEFAULT_CONFIGS = {name: config_path(f"fit_{name}") for name in ("smpl", "smplh", "smplx")}


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
    parser = argparse.ArgumentParser(prog="bodyfit fit", description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--images", type=Path, default=None,
                        help="folder of .jpg/.jpeg/.png images (frames in name order with --sequence)")
    parser.add_argument("--video", type=Path, default=None,
                        help="a video file (mp4, avi, webm; pip install -e '.[video]'): frames extracted, people "
                             "tracked, each track fitted as one smooth sequence (cfg/video.yaml)")
    parser.add_argument("--cameras", type=Path, default=None,
                        help="a calibration of several cameras (Pose2Sim Calib.toml, EasyMocap intri.yml/extri.yml "
                             "or their folder, Qualisys .qca.txt): --images VIEWS holds one folder of frames per "
                             "camera (or, with --video VIEWS, one video per camera), --keypoints KPVIEWS one folder "
                             "per camera; people are matched across the views and fitted to all of them at once, "
                             "in the calibration's world frame (cfg/multiview.yaml; docs/multiview.md)")
    parser.add_argument("--multiview-config", type=Path, default=None,
                        help="matching, tracking and fit settings for --cameras (default cfg/multiview.yaml)")
    parser.add_argument("--leave-one-out", action="store_true",
                        help="with --cameras: also fit without each camera in turn and report the error of that "
                             "fit in the camera left out (one more fit per camera)")
    parser.add_argument("--sequence", action="store_true",
                        help="--images are the frames of one video: track people and fit each track as a sequence")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of --images with --sequence or --cameras")
    parser.add_argument("--video-config", type=Path, default=None,
                        help="tracking and sequence-fit settings for --video/--sequence (default cfg/video.yaml)")
    parser.add_argument("--keypoints", type=Path, default=None,
                        help="folder of per-image keypoint files (<stem>_keypoints.json or <stem>.json) or one "
                             "file over many images (AlphaPose, COCO); without it, keypoints are detected with "
                             "MediaPipe (pip install -e '.[detect]') into OUTPUT/keypoints")
    parser.add_argument("--keypoint-format", choices=("auto",) + FORMAT_NAMES, default="auto",
                        help="the keypoints' format (openpose: BODY_25); auto: told from the files")
    parser.add_argument("--image-ids", type=Path, default=None,
                        help="for a COCO result file: the COCO annotation file (or an {id: file name} JSON) "
                             "naming its image ids")
    parser.add_argument("--detect-config", type=Path, default=None,
                        help="detection settings when --keypoints is not given (default cfg/detect.yaml)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=None,
                        help="fitting schedule (default: cfg/fit_<model-type>.yaml)")
    parser.add_argument("--model-folder", type=Path, default=None,
                        help="folder with your SMPL/SMPL-H/SMPL-X files (default: the open model)")
    parser.add_argument("--model-type", choices=["smpl", "smplh", "smplx"], default="smplx")
    parser.add_argument("--gender", choices=["neutral", "male", "female", "auto"], default="neutral",
                        help="the body model's gender for everyone, or auto: a classifier (--gender-classifier) "
                             "picks each person's, neutral unless it is sure (cfg/gender.yaml; docs/gender.md)")
    parser.add_argument("--gender-classifier", default=None,
                        help="with --gender auto: the classifier checkpoint (train one with bodyfit train-gender; "
                             "none ships: docs/gender.md says why)")
    parser.add_argument("--gender-threshold", type=float, default=None,
                        help="with --gender auto: the gendered model only above this probability "
                             "(default: cfg/gender.yaml's, 0.9 as Homogenus)")
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
    parser.add_argument("--init", choices=["rest", "regressor"], default=None,
                        help="where fits start: the learned regressor (its pose, shape and camera; a short "
                             "schedule held near its pose) or SMPLify-X's rest pose; default: the config's")
    parser.add_argument("--regressor", default=None,
                        help="regressor checkpoint file or folder (default: the config's, the shipped one)")
    parser.add_argument("--regress-only", action="store_true",
                        help="HMR's feed-forward mode: write the regressor's output as the results, no fit")
    parser.add_argument("--collision", action="store_true",
                        help="add the self-penetration term with the config's per-stage weights "
                             "(slower; docs/algorithm.md)")
    parser.add_argument("--engine", choices=["plain", "ray"], default="plain",
                        help="plain: fit in this process; ray: on Ray actors (pip install -e '.[ray]'), "
                             "a local Ray unless --address is given")
    parser.add_argument("--address", default=None, help="Ray cluster address (e.g. auto, or host:6379)")
    parser.add_argument("--workers", type=int, default=2, help="Ray actors, each loading the models once")
    parser.add_argument("--cpus-per-worker", type=int, default=1, help="CPUs (torch threads) per Ray actor")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per Ray actor (with --device cuda)")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def config_overrides(args: argparse.Namespace) -> dict:
    """The command line's settings as overrides nested like the config file; they are laid
    over the chosen schedule before the config is parsed (``fitting.config.compose``)."""
    overrides: dict = {}
    if args.init is not None:
        overrides["init"] = args.init
    if args.regress_only:
        if args.init == "rest":
            raise SystemExit("bodyfit fit: --regress-only writes the regressor's output; it cannot go with --init rest")
        overrides.update(init="regressor", regress_only=True)
    if args.vposer == "none":
        overrides["body_pose_prior"] = "l2_angles"
    elif args.vposer is not None:
        overrides.update(body_pose_prior="vposer", vposer=args.vposer)
    if args.regressor is not None:
        overrides["regressor"] = {"checkpoint": args.regressor}
    if args.collision:
        overrides["collision"] = {"enabled": True}
    return overrides


def load_fit_config(args: argparse.Namespace) -> FitConfig:
    """The schedule for ``--model-type``, composed with the command line's overrides."""
    schedule_file = args.config or DEFAULT_CONFIGS[args.model_type]
    try:
        config = load_config(schedule_file, config_overrides(args))
    except (OSError, ValueError) as error:
        raise SystemExit(f"bodyfit fit: {error}") from error
    if config.model_type != args.model_type:
        raise SystemExit(f"bodyfit fit: {schedule_file} is a {config.model_type} schedule, --model-type is {args.model_type}")
    return config


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        if args.cameras is not None:
            source, strategy = multiview_run(args)
        elif args.leave_one_out or args.multiview_config:
            raise SystemExit("bodyfit fit: --leave-one-out and --multiview-config go with --cameras")
        elif args.video is not None or args.sequence:
            source, strategy = sequence_run(args)
        else:
            source, strategy = image_run(args)
        summary = run(run_options(args), source, strategy, vars(args))
    except RunError as error:
        raise SystemExit(f"bodyfit fit: {error}") from None
    return 1 if summary["counts"]["failed"] else 0


def run_options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(args.output, args.keypoints, args.keypoint_format, args.image_ids, args.detect_config,
                      not args.no_overlay, args.overwrite, args.quiet)


def image_run(args: argparse.Namespace) -> tuple[ImageFolder, ImageStrategy]:
    """Single images: each person fitted on their own, in batches."""
    if args.images is None:
        raise SystemExit("bodyfit fit: give --images DIR (or --video FILE)")
    if args.batch_size < 1:
        raise SystemExit(f"bodyfit fit: --batch-size must be at least 1, got {args.batch_size}")
    if args.max_people is not None and args.max_people < 1:
        raise SystemExit(f"bodyfit fit: --max-people must be at least 1, got {args.max_people}")
    config = load_fit_config(args)
    key = ModelKey(args.model_type, "neutral" if args.gender == "auto" else args.gender)
    folder = FolderOptions(args.focal_length, args.max_people, args.batch_size, gender_chooser(args))
    ray = None
    if args.engine == "ray":
        try:
            ray = RayOptions(args.address, args.workers, args.cpus_per_worker, args.gpus_per_worker)
        except ValueError as error:
            raise SystemExit(f"bodyfit fit: {error}") from error
    return ImageFolder(args.images), ImageStrategy(config, key, folder, args.model_folder, args.device, ray)


def sequence_run(args: argparse.Namespace) -> tuple[ImageFolder | VideoFile, SequenceStrategy]:
    """A video, or a folder of frames with --sequence: people tracked, each track one fit."""
    if args.model_type != "smplx":
        raise SystemExit("bodyfit fit: --video/--sequence fit the SMPL-X body (the regressor's); drop --model-type")
    if args.gender == "auto":
        raise SystemExit("bodyfit fit: --gender auto chooses per image for now; for --video/--sequence give "
                         "--gender neutral, male or female")
    unused = [flag for flag, value in (("--init", args.init), ("--vposer", args.vposer), ("--regressor", args.regressor),
                                       ("--regress-only", args.regress_only), ("--collision", args.collision),
                                       ("--max-people", args.max_people), ("--engine ray", args.engine == "ray"))
              if value]
    if unused:
        raise SystemExit(f"bodyfit fit: {', '.join(unused)} apply to image fits, not to --video/--sequence "
                         "(the sequence fit's settings are in cfg/video.yaml)")
    try:
        config = load_video_config(args.video_config or config_path("video"))
        fit_config = load_config(args.config or config_path("fit_smplx"))
    except (OSError, ValueError) as error:
        raise SystemExit(f"bodyfit fit: {error}") from error
    if args.video is not None:
        source: ImageFolder | VideoFile = VideoFile(args.video, config.video.max_frames, config.video.stride)
    elif args.images is not None:
        source = ImageFolder(args.images, args.fps)
    else:
        raise SystemExit("bodyfit fit: give --video FILE, or --images FRAMES with --sequence")
    return source, SequenceStrategy(config, fit_config, source, args.gender, args.model_folder, args.focal_length)


def multiview_run(args: argparse.Namespace) -> tuple[CameraViews, MultiViewStrategy]:
    """Several calibrated cameras: people matched across the views, tracked, each track one fit."""
    if args.model_type != "smplx":
        raise SystemExit("bodyfit fit: --cameras fits the SMPL-X body; drop --model-type")
    if args.gender == "auto":
        raise SystemExit("bodyfit fit: --cameras takes --gender neutral, male or female")
    unused = [flag for flag, value in (("--init", args.init), ("--vposer", args.vposer), ("--regressor", args.regressor),
                                       ("--regress-only", args.regress_only), ("--collision", args.collision),
                                       ("--max-people", args.max_people), ("--engine ray", args.engine == "ray"),
                                       ("--sequence", args.sequence), ("--focal-length", args.focal_length != "auto"),
                                       ("--config", args.config), ("--video-config", args.video_config),
                                       ("--batch-size", args.batch_size != 64),
                                       ("--gender-classifier", args.gender_classifier))
              if value]
    if unused:
        raise SystemExit(f"bodyfit fit: {', '.join(unused)} do not apply to --cameras (the calibration gives the "
                         "cameras; the fit's settings are in cfg/multiview.yaml)")
    if (args.images is None) == (args.video is None):
        raise SystemExit("bodyfit fit: with --cameras give --images VIEWS (a folder per camera) or --video VIEWS "
                         "(a video per camera), one of them")
    if not args.fps > 0:
        raise SystemExit(f"bodyfit fit: --fps must be positive, got {args.fps}")
    overrides = {"outputs": {"leave_one_out": True}} if args.leave_one_out else None
    try:
        config = load_multiview_config(args.multiview_config or config_path("multiview"), overrides)
    except (OSError, ValueError) as error:
        raise SystemExit(f"bodyfit fit: {error}") from error
    views = args.video if args.video is not None else args.images
    source = CameraViews(args.cameras, views, videos=args.video is not None,
                         fps=None if args.video is not None else args.fps)
    return source, MultiViewStrategy(config, source, args.gender, args.model_folder, args.device)


def gender_chooser(args: argparse.Namespace) -> GenderChooser | None:
    """With ``--gender auto``, the classifier and its rules (one line and exit for a bad
    checkpoint or threshold); else None."""
    if args.gender != "auto":
        return None
    try:
        overrides = {} if args.gender_threshold is None else {"rules": {"threshold": args.gender_threshold}}
        config = load_gender_config(overrides=overrides)
        if not 0.5 <= config.rules.threshold <= 1.0:
            raise ValueError(f"--gender-threshold must lie in 0.5..1, got {config.rules.threshold}")
        chooser = GenderChooser(args.gender_classifier, config, "cpu" if args.engine == "ray" else args.device)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"bodyfit fit: {error}") from error
    logging.info("gender: %s (threshold %.2f)", args.gender_classifier or "the shipped classifier",
                 chooser.config.rules.threshold)
    return chooser


if __name__ == "__main__":
    sys.exit(main())
