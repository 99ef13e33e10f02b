"""Detect 2D keypoints with MediaPipe and write them as OpenPose JSON.

    bodyfit detect --images DIR --output DIR [--draw DIR] [--config cfg/detect.yaml] [--overwrite]
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bodyfit.detect.folder import DetectionError, run_detection


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bodyfit detect", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True, help="folder of .jpg/.jpeg/.png images")
    parser.add_argument("--output", type=Path, required=True, help="folder for <stem>_keypoints.json")
    parser.add_argument("--draw", type=Path, default=None, help="also write <stem>.png previews here")
    parser.add_argument("--config", type=Path, default=None, help="detection settings (default cfg/detect.yaml)")
    parser.add_argument("--overwrite", action="store_true", help="redo images that already have a keypoint file")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        report = run_detection(args.images, args.output, args.config, args.overwrite, args.draw, args.quiet)
    except DetectionError as error:
        raise SystemExit(f"bodyfit detect: {error}") from None
    return 1 if report.count("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
