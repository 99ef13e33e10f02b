"""Background frames for the gender classifier's synthetic people, from open videos and photos.

    python -m tools.gather_backgrounds --output data/backgrounds \
        --source sports2d_demo=PATH/demo.mp4 --source vtest=PATH/vtest.avi ...

Each ``NAME=FILE`` source (a video, or an image) gives ``--frames`` evenly spaced frames, resized
so the longer side is ``--side`` px, written as ``NAME_NNN.jpg``. Where the shipped files came
from: data/backgrounds/NOTICE.md.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from bodyfit.fileio.atomic import atomic_path
from bodyfit.fileio.images import read_image
from bodyfit.fileio.video import read_frames

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm"}


def frames_of(path: Path, count: int) -> list[np.ndarray]:
    """``count`` evenly spaced frames (H, W, 3) uint8 of a video, or the image itself."""
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        return [read_image(path)]
    frames = list(read_frames(path))
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    return [frames[i] for i in sorted(set(picks))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", action="append", required=True, help="NAME=FILE (a video or an image)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=24, help="frames per video")
    parser.add_argument("--side", type=int, default=480, help="longer side of the written frames (px)")
    args = parser.parse_args(argv)
    for source in args.source:
        name, _, file = source.partition("=")
        if not file:
            raise SystemExit(f"gather_backgrounds.py: --source must be NAME=FILE, got {source!r}")
        for index, frame in enumerate(frames_of(Path(file), args.frames)):
            image = Image.fromarray(frame)
            image.thumbnail((args.side, args.side), Image.LANCZOS)
            with atomic_path(args.output / f"{name}_{index:03d}.jpg") as temporary:
                image.save(temporary, format="JPEG", quality=85)
        print(f"{name}: {file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
