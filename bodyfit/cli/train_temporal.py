"""Train the temporal regressor (VIBE's GRU over the shipped regressor's features, with its
motion discriminator) on sequences of the motion corpus's training clips.

    bodyfit train-temporal --output runs/temporal [--config cfg/temporal.yaml] [--steps N] [--regressor PATH]

The training itself is ``bodyfit.regressor.temporal_training``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from bodyfit.regressor.temporal_training import load_train_config, train
from bodyfit.resources import config_path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bodyfit train-temporal", description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=config_path("temporal"))
    parser.add_argument("--regressor", default="default", help="the per-frame regressor (default: the shipped one)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = {"training": {"steps": args.steps}} if args.steps is not None else {}
    try:
        config = load_train_config(args.config, overrides)
    except (OSError, ValueError) as error:
        raise SystemExit(f"bodyfit train-temporal: {error}") from error
    metrics = train(config, args.output, args.regressor)
    print(json.dumps(metrics["final"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
