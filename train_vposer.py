"""Train VPoser on AMASS-format pose clips.

    python train_vposer.py --data data/poses/deepmimic --output runs/vposer

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

from vposer.training import load_train_config, train

REPO = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of AMASS-format .npz clips (searched recursively)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=REPO / "cfg" / "vposer.yaml")
    parser.add_argument("--epochs", type=int, default=None, help="override training.epochs")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--restart", action="store_true", help="ignore OUTPUT/last.pt")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    overrides = {"training": {"epochs": args.epochs}} if args.epochs else {}
    config = load_train_config(args.config, overrides)
    torch.manual_seed(config.training.seed)
    metrics = train(config, args.data, args.output, torch.device(args.device), resume=not args.restart,
                    progress=not args.quiet)
    print(json.dumps({k: v for k, v in metrics.items() if not k.endswith("clips")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
