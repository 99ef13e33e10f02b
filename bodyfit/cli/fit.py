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

import yaml
from tqdm import tqdm

from bodyfit.resources import config_path
from bodyfit.bodymodels.files import ModelFileError
from bodyfit.fileio.atomic import write_json, write_text_atomic
from bodyfit.fileio.config import plain
from bodyfit.fileio.formats.skeletons import FORMAT_NAMES
from bodyfit.fileio.formats.source import open_keypoints
from bodyfit.fileio.openpose_json import ImageItem, match_images
from bodyfit.fitting.config import FitConfig, load_config
from bodyfit.fitting.core import ModelBank
from bodyfit.fitting.tasks import ModelKey
from bodyfit.gender.choose import GenderChooser
from bodyfit.gender.config import load_gender_config
from bodyfit.pipeline.engines import Engine, PlainEngine, RayEngine, RayOptions
from bodyfit.pipeline.folder import FolderOptions, check_output_folder, fit_folder
from bodyfit.pipeline.prepare import ChoosesGender
from bodyfit.pipeline.index import write_index
from bodyfit.pipeline.results import ResultWriter, summarise
from bodyfit.report import write_report


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=None,
                        help="folder of .jpg/.jpeg/.png images (frames in name order with --sequence)")
    parser.add_argument("--video", type=Path, default=None,
                        help="a video file (mp4, avi, webm; pip install -e '.[video]'): frames extracted, people "
                             "tracked, each track fitted as one smooth sequence (cfg/video.yaml)")
    parser.add_argument("--sequence", action="store_true",
                        help="--images are the frames of one video: track people and fit each track as a sequence")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of --images with --sequence")
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
                             "picks each person's, neutral unless it is sure (cfg/gender.yaml; README: Gender)")
    parser.add_argument("--gender-classifier", default=None,
                        help="with --gender auto: the classifier checkpoint (train one with train_gender.py; none "
                             "is shipped yet: the best trained on synthetic people reached 0.61 on held-out renders and chance on real photos, README: Gender)")
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
                             "(about 3-4x slower; see the README)")
    parser.add_argument("--engine", choices=["plain", "ray"], default="plain",
                        help="plain: fit in this process; ray: on Ray actors (pip install -e '.[ray]'), "
                             "a local Ray unless --address is given")
    parser.add_argument("--address", default=None, help="Ray cluster address (e.g. auto, or host:6379)")
    parser.add_argument("--workers", type=int, default=2, help="Ray actors, each loading the models once")
    parser.add_argument("--cpus-per-worker", type=int, default=1, help="CPUs (torch threads) per Ray actor")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per Ray actor (with --device cuda)")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def load_fit_config(args: argparse.Namespace) -> FitConfig:
    """The schedule for ``--model-type``, with the command line's overrides."""
    schedule_file = args.config or DEFAULT_CONFIGS[args.model_type]
    overrides: dict = {}
    if args.init is not None:
        overrides["init"] = args.init
    if args.regress_only:
        if args.init == "rest":
            raise SystemExit("fit.py: --regress-only writes the regressor's output; it cannot go with --init rest")
        overrides.update(init="regressor", regress_only=True)
    if args.vposer == "none":
        overrides["body_pose_prior"] = "l2_angles"
    elif args.vposer is not None:
        overrides.update(body_pose_prior="vposer", vposer=args.vposer)
    try:
        config = load_config(schedule_file, overrides)
    except (OSError, ValueError) as error:
        raise SystemExit(f"fit.py: {error}") from error
    if args.regressor is not None:
        config = dataclasses.replace(config, regressor=dataclasses.replace(config.regressor, checkpoint=args.regressor))
    if args.vposer is not None and config.init == "regressor" and not config.regress_only:
        # the regressor's schedule names its own prior; --vposer replaces it there too
        config = dataclasses.replace(config, body_pose_prior=overrides["body_pose_prior"],
                                     vposer=overrides.get("vposer", config.vposer))
    if args.collision:
        config = dataclasses.replace(config, collision=dataclasses.replace(config.collision, enabled=True))
    if config.model_type != args.model_type:
        raise SystemExit(f"fit.py: {schedule_file} is a {config.model_type} schedule, --model-type is {args.model_type}")
    return config


def build(args: argparse.Namespace) -> tuple[ModelBank, ModelKey]:
    """The model bank (each body model and prior loaded once) and the model to fit with (with
    ``--gender auto``: the neutral one, for people the classifier leaves neutral); one line and
    exit for what the user can fix (a missing model file, a bad checkpoint)."""
    config = load_fit_config(args)
    key = ModelKey(args.model_type, "neutral" if args.gender == "auto" else args.gender)
    # with Ray the actors fit on --device; this process only reads, checks and writes
    bank = ModelBank({args.model_type: config}, args.model_folder, "cpu" if args.engine == "ray" else args.device)
    try:
        bank.fitter(key)
        if args.gender == "auto":  # every gendered model is there before any image is read
            for gender in ("male", "female"):
                bank.model(ModelKey(args.model_type, gender))
        if config.init == "regressor":  # a bad checkpoint: one line now, not a failed batch later
            from bodyfit.fitting.regressor_init import cached_regressor
            from bodyfit.regressor.checkpoint import resolve
            device = str(bank.model(key).smpl.v_template.device)  # as the fit will ask for it
            regressor = cached_regressor(str(resolve(config.regressor.checkpoint)), device)
            if regressor.shape.encoder == "rgb":
                raise ValueError(f"{resolve(config.regressor.checkpoint)}: an RGB regressor; fit.py starts fits "
                                 "from keypoint regressors (keypoints or heatmaps encoders)")
    except (ModelFileError, FileNotFoundError, ValueError) as error:
        raise SystemExit(f"fit.py: {error}") from error
    return bank, key


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    if args.video is not None or args.sequence:
        from bodyfit.video.run import options_from_args, run_video
        return run_video(options_from_args(args))
    if args.images is None:
        raise SystemExit("fit.py: give --images DIR (or --video FILE)")
    if args.batch_size < 1:
        raise SystemExit(f"fit.py: --batch-size must be at least 1, got {args.batch_size}")
    if args.max_people is not None and args.max_people < 1:
        raise SystemExit(f"fit.py: --max-people must be at least 1, got {args.max_people}")
    try:
        check_output_folder(args.output, not args.no_overlay)
    except OSError as error:
        raise SystemExit(f"fit.py: {error}") from error
    bank, key = build(args)
    chooser = gender_chooser(args)  # before detection, which may take hours: a bad checkpoint stops now
    keypoints = args.keypoints or detect_keypoints(args)
    try:
        source = open_keypoints(keypoints, args.keypoint_format, args.image_ids)
        logging.info("keypoints: %s from %s", source.describe(), keypoints)
        items = match_images(args.images, source)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"fit.py: {error}") from error
    conflicts = [item for item in items if item.conflict]
    for item in conflicts:
        logging.warning("%s: %s share one stem and keypoint file: not fitted, rename all but one", item.stem,
                        ", ".join(p.name for p in item.conflict))
    resolved = {"fit": bank.config(key).to_dict(), "run": {k: str(v) for k, v in vars(args).items()}}
    if chooser is not None:
        resolved["gender"] = {"config": plain(chooser.config), "classifier": chooser.about}
    write_text_atomic(args.output / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    start = time.perf_counter()
    run_folder(args, bank, key, items, chooser)
    notes = {"ambiguous_stems": {item.stem: [str(p) for p in item.conflict] for item in conflicts}}
    summary = summarise(args.output, [item.stem for item in items], time.perf_counter() - start, notes)
    write_json(args.output / "summary.json", summary)
    try:
        write_index(args.output)
    except Exception as error:  # noqa: BLE001 - the index is rebuildable (bodyfit index): never fail the run
        logging.warning("%s: the dataset index was not written: %r", args.output, error)
    try:
        logging.info("report: %s", write_report(args.output, progress=not args.quiet))
    except Exception as error:  # noqa: BLE001 - the report is rebuildable (bodyfit report): never fail the run
        logging.warning("%s: the report was not written: %r", args.output, error)
    counts = summary["counts"]
    logging.info("images: %d ok, %d skipped, %d failed; people fitted: %d; see %s",
                 counts["ok"], counts["skipped"], counts["failed"], summary["people_fitted"], args.output)
    return 1 if counts["failed"] else 0


def run_folder(args: argparse.Namespace, bank: ModelBank, key: ModelKey, items: list[ImageItem],
               chooser: ChoosesGender | None = None) -> None:
    """Fits the images without a record yet (all with ``--overwrite``), with a progress bar."""
    with tqdm(total=0, unit="img", disable=args.quiet) as bar:
        def done(stem: str, record: dict) -> None:
            bar.update(1)
            bar.set_postfix_str(f"{stem}: {record['status']}")

        writer = ResultWriter(args.output, lambda k: bank.model(k).faces, not args.no_overlay, done)
        todo = [item for item in items if args.overwrite or not writer.is_done(item.stem)]
        if len(todo) < len(items):
            logging.info("%d of %d images already have results (use --overwrite to redo them; failed ones "
                         "are retried)", len(items) - len(todo), len(items))
        bar.reset(total=len(todo))
        options = FolderOptions(args.focal_length, args.max_people, args.batch_size, chooser)
        engine = make_engine(args, bank) if todo else PlainEngine(bank)
        try:
            fit_folder(todo, bank, key, writer, options, engine)
        finally:
            engine.close()


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
        raise SystemExit(f"fit.py: {error}") from error
    logging.info("gender: %s (threshold %.2f)", args.gender_classifier or "the shipped classifier",
                 chooser.config.rules.threshold)
    return chooser


def make_engine(args: argparse.Namespace, bank: ModelBank) -> Engine:
    """The engine ``--engine`` names: this process, or Ray actors (one line and exit when Ray
    is missing or the options are wrong)."""
    if args.engine == "plain":
        return PlainEngine(bank)
    try:
        options = RayOptions(args.address, args.workers, args.cpus_per_worker, args.gpus_per_worker)
        started = time.perf_counter()
        engine = RayEngine(bank.configs, args.model_folder, args.device, options)
    except (ImportError, ValueError) as error:
        raise SystemExit(f"fit.py: {error}") from error
    logging.info("Ray: %d workers started in %.1f s", args.workers, time.perf_counter() - started)
    return engine


def detect_keypoints(args: argparse.Namespace) -> Path:
    """Detect keypoints for the images that have none yet in OUTPUT/keypoints; that folder."""
    from bodyfit.detect.folder import run_detection

    folder = args.output / "keypoints"
    run_detection(args.images, folder, args.detect_config, args.overwrite, quiet=args.quiet)
    return folder


if __name__ == "__main__":
    sys.exit(main())
