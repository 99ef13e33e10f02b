"""Detection speed and hand recall on a folder of photographs, with and without the hand
re-detection on wrist crops.

    python benchmarks/detection.py [--images examples/photos] [--repeats 3]

Prints per image: people found, hands found (holistic alone / with wrist crops) and the
median seconds per image of each mode over the repeats.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detect.config import load_detect_config  # noqa: E402
from detect.holistic import HolisticDetector  # noqa: E402
from fileio.images import read_image  # noqa: E402
from fileio.openpose_json import list_images  # noqa: E402


def run_mode(config, images, repeats: int) -> dict[str, tuple[int, int, float]]:
    """Per image: (people, hands found, median seconds)."""
    results = {}
    with HolisticDetector(config) as detector:
        detector.detect(images[0][1])  # warm-up: model loading is not per-image cost
        for name, image in images:
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                found = detector.detect(image)
                times.append(time.perf_counter() - start)
            hands = sum(source != "none" for d in found for source in d.hand_sources.values())
            results[name] = (len(found), hands, statistics.median(times))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=Path("examples/photos"))
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    config = load_detect_config(args.config)
    images = [(path.name, read_image(path)) for path in list_images(args.images)]
    plain = run_mode(replace(config, hand_crops=False), images, args.repeats)
    crops = run_mode(replace(config, hand_crops=True), images, args.repeats)
    print("| image | size | people | hands: holistic only | hands: with wrist crops | s (holistic only) | s (with crops) |")
    print("|---|---|---|---|---|---|---|")
    for name, image in images:
        print(f"| {name} | {image.shape[1]}x{image.shape[0]} | {crops[name][0]} | {plain[name][1]} | {crops[name][1]} "
              f"| {plain[name][2]:.3f} | {crops[name][2]:.3f} |")
    for label, result in (("holistic only", plain), ("with wrist crops", crops)):
        seconds = [r[2] for r in result.values()]
        print(f"{label}: median {statistics.median(seconds):.3f} s per image, "
              f"{sum(r[1] for r in result.values())} hands, {sum(r[0] for r in result.values())} people")


if __name__ == "__main__":
    main()
