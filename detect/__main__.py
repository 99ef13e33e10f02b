"""Detect 2D keypoints with MediaPipe and write them as OpenPose JSON.

    python -m detect --images DIR --output DIR [--draw DIR] [--config cfg/detect.yaml] [--overwrite]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
from pathlib import Path

from tqdm import tqdm

from detect.config import load_detect_config
from detect.folder import detect_folder
from detect.holistic import DetectorUnavailable
from fitting.keypoints import list_images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detect", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True, help="folder of .jpg/.jpeg/.png images")
    parser.add_argument("--output", type=Path, required=True, help="folder for <stem>_keypoints.json")
    parser.add_argument("--draw", type=Path, default=None, help="also write <stem>.png previews here")
    parser.add_argument("--config", type=Path, default=None, help="detection settings (default cfg/detect.yaml)")
    parser.add_argument("--overwrite", action="store_true", help="redo images that already have a keypoint file")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        total = len(list_images(args.images))
    except FileNotFoundError as error:
        raise SystemExit(str(error)) from error
    try:
        with tqdm(total=total, unit="img", disable=args.quiet) as bar:
            def done(stem: str, record: dict) -> None:
                bar.update(1)
                bar.set_postfix_str(f"{stem}: {record['status']}")

            report = detect_folder(args.images, args.output, load_detect_config(args.config), args.overwrite,
                                   args.draw, done)
    except DetectorUnavailable as error:
        raise SystemExit(str(error)) from error
    seconds = report.seconds()
    logging.info("images: %d with people, %d with nobody, %d failed, %d already done; median %.2f s per image",
                 report.count("ok"), report.count("nobody"), report.count("failed"), report.count("existing"),
                 statistics.median(seconds) if seconds else float("nan"))
    return 1 if report.count("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
