"""Train VPoser on AMASS-format pose clips or on the open motion corpus.

    bodyfit train-vposer --data data/poses/deepmimic --output runs/vposer
    bodyfit train-vposer --corpus [--corpus-root data/poses] [--no-widened] --output runs/vposer_corpus

``--data``: every clip of a folder (searched recursively), split train/validation by clip as
``cfg/vposer.yaml`` says. ``--corpus``: the corpus's train split (``motion.corpus.load_corpus``,
with the widened poses of that split unless ``--no-widened``), validated on its held-out real
clips. Training poses are mirrored left-right in both cases.

Resumes from ``OUTPUT/last.pt`` when it exists (``--restart`` starts over). Writes
``vposer.pt`` (the prior, usable as ``fit.py --vposer OUTPUT``), ``last.pt`` (with the
optimiser), ``config.yaml`` and ``metrics.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from bodyfit.resources import config_path
from bodyfit.motion.corpus import DEFAULT_ROOT, MotionClip, load_corpus
from bodyfit.vposer.data import Clip, PoseDataset, dataset_from_clips
from bodyfit.vposer.training import VPoserTrainConfig, load_train_config, train




def _body_clip(clip: MotionClip) -> Clip:
    return Clip(clip.name, clip.poses[:, 3:66], clip.fps)


def corpus_dataset(config: VPoserTrainConfig, root: Path, widened: bool, max_frames: int | None) -> PoseDataset:
    """The corpus's train clips (and widened train poses) against its held-out real clips."""
    train_clips = [_body_clip(c) for c in load_corpus("train", root, widened=widened)]
    val_clips = [_body_clip(c) for c in load_corpus("heldout", root, widened=False)]
    return dataset_from_clips(train_clips, val_clips, config.data.target_frame_rate, config.data.mirror, max_frames)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bodyfit train-vposer", description=__doc__.split("\n\n")[0].replace("\n", " "))
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="folder of AMASS-format .npz clips (searched recursively)")
    source.add_argument("--corpus", action="store_true", help="the open motion corpus's train / heldout split")
    parser.add_argument("--corpus-root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--include-widened", dest="widened", action="store_true", default=True,
                        help="with --corpus: add the widened train poses (default)")
    parser.add_argument("--no-widened", dest="widened", action="store_false", help="with --corpus: real clips only")
    parser.add_argument("--max-frames", type=int, default=None, help="with --corpus: at most this many training frames")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=config_path("vposer"))
    parser.add_argument("--epochs", type=int, default=None, help="override training.epochs")
    parser.add_argument("--kl", type=float, default=None, help="override losses.kl")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--restart", action="store_true", help="ignore OUTPUT/last.pt")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides: dict[str, dict] = {}
    if args.epochs:
        overrides.setdefault("training", {})["epochs"] = args.epochs
    if args.kl is not None:
        overrides.setdefault("losses", {})["kl"] = args.kl
    config = load_train_config(args.config, overrides)
    torch.manual_seed(config.training.seed)
    data = corpus_dataset(config, args.corpus_root, args.widened, args.max_frames) if args.corpus else args.data
    metrics = train(config, data, args.output, torch.device(args.device), resume=not args.restart,
                    progress=not args.quiet)
    print(json.dumps({k: v for k, v in metrics.items() if not k.endswith("clips")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
