"""People found against people visible, per photo, with the old finder (``finder: masking``)
and the new one (``finder: proposals``), and seconds per image; optionally hand recall with
and without the wrist-crop re-detection.

    python benchmarks/detection.py [--images benchmarks/data/people examples/photos] [--repeats 1] [--hands]
        [--draw DIR]

Each folder holds its photos and a ``people.json`` of the people counted in them by hand
(``detect/counting.py``). A detection counts as a person found when at least half of its box
lies in that person's hand-drawn box (one detection per person); the others are "extra"
(someone not counted, or a person found twice). Seconds: median wall-clock time of
``HolisticDetector.detect`` per image over the repeats (models loaded beforehand), and its
CPU time (all threads).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bodyfit.detect.config import load_detect_config  # noqa: E402
from bodyfit.detect.folder import preview  # noqa: E402
from bodyfit.detect.counting import VIEWS, Match, VisiblePerson, match_people, read_people_counts  # noqa: E402
from bodyfit.detect.holistic import Detection, HolisticDetector  # noqa: E402
from bodyfit.fileio.images import read_image, write_png  # noqa: E402

DEFAULT_FOLDERS = [Path("benchmarks/data/people"), Path("examples/photos")]


@dataclass
class Photo:
    name: str
    image: object
    people: list[VisiblePerson]


@dataclass
class Outcome:
    """One finder on one photo."""

    detections: list[Detection]
    match: Match
    seconds: float
    cpu_seconds: float


def load_photos(folders: list[Path]) -> list[Photo]:
    """Every photo listed in each folder's ``people.json``."""
    photos = []
    for folder in folders:
        for name, people in read_people_counts(folder / "people.json").items():
            photos.append(Photo(name, read_image(folder / name), people))
    return photos


def run_finder(config, photos: list[Photo], repeats: int) -> dict[str, Outcome]:
    """``detect`` on every photo with ``config``: detections, match, median seconds."""
    outcomes = {}
    with HolisticDetector(config) as detector:
        detector.detect(photos[0].image)  # warm-up: model loading is not per-image cost
        for photo in photos:
            walls, cpus = [], []
            for _ in range(repeats):
                wall, cpu = time.perf_counter(), time.process_time()
                found = detector.detect(photo.image)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            match = match_people([d.box for d in found], photo.people)
            outcomes[photo.name] = Outcome(found, match, statistics.median(walls), statistics.median(cpus))
    return outcomes


def describe(people: list[VisiblePerson]) -> str:
    parts = [f"{sum(p.view == view for p in people)} {view.replace('_', '-')}" for view in VIEWS]
    edge = sum(p.edge for p in people)
    return ", ".join(parts) + (f", {edge} at an edge" if edge else "")


def print_people_table(photos: list[Photo], runs: dict[str, dict[str, Outcome]]) -> None:
    names = list(runs)
    header = ["photo", "size", "visible", "kinds"]
    header += [f"found ({n})" for n in names] + [f"extra ({n})" for n in names] + [f"s/image ({n})" for n in names]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for photo in photos:
        outcomes = [runs[n][photo.name] for n in names]
        cells = [photo.name, f"{photo.image.shape[1]}x{photo.image.shape[0]}", str(len(photo.people)),
                 describe(photo.people)]
        cells += [str(o.match.count) for o in outcomes] + [str(len(o.match.extra)) for o in outcomes]
        cells += [f"{o.seconds:.2f}" for o in outcomes]
        print("| " + " | ".join(cells) + " |")


def print_totals(photos: list[Photo], runs: dict[str, dict[str, Outcome]]) -> None:
    groups = {"all": lambda p: True, "full body": lambda p: p.view == "full_body",
              "waist up": lambda p: p.view == "waist_up", "at an edge": lambda p: p.edge}
    for name, outcomes in runs.items():
        parts = []
        for label, keep in groups.items():
            visible = found = 0
            for photo in photos:
                for person, index in zip(photo.people, outcomes[photo.name].match.found):
                    if keep(person):
                        visible += 1
                        found += index >= 0
            parts.append(f"{label} {found}/{visible}")
        extra = sum(len(o.match.extra) for o in outcomes.values())
        walls = [o.seconds for o in outcomes.values()]
        cpus = [o.cpu_seconds for o in outcomes.values()]
        print(f"{name}: found {', '.join(parts)}; {extra} extra; median {statistics.median(walls):.2f} s "
              f"per image (CPU {statistics.median(cpus):.2f} s)")


def draw(folder: Path, photos: list[Photo], outcomes: dict[str, Outcome]) -> None:
    """``<photo>.png`` with every detection's keypoints drawn, for looking at."""
    folder.mkdir(parents=True, exist_ok=True)
    for photo in photos:
        write_png(folder / f"{Path(photo.name).stem}.png", preview(photo.image, outcomes[photo.name].detections))


def print_hands(config, photos: list[Photo], repeats: int) -> None:
    """Hands found with holistic alone and with the wrist crops, per photo."""
    plain = run_finder(replace(config, hand_crops=False), photos, repeats)
    crops = run_finder(replace(config, hand_crops=True), photos, repeats)
    print("\n| photo | people | hands: holistic only | hands: with wrist crops | s (holistic only) | s (with crops) |")
    print("|---|---|---|---|---|---|")
    for photo in photos:
        counts = [sum(s != "none" for d in r[photo.name].detections for s in d.hand_sources.values())
                  for r in (plain, crops)]
        print(f"| {photo.name} | {len(crops[photo.name].detections)} | {counts[0]} | {counts[1]} "
              f"| {plain[photo.name].seconds:.2f} | {crops[photo.name].seconds:.2f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, nargs="+", default=DEFAULT_FOLDERS,
                        help="folders of photos, each with a people.json of hand counts")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--hands", action="store_true", help="also count hands with and without wrist crops")
    parser.add_argument("--draw", type=Path, default=None, help="write keypoint overlays of the new finder here")
    args = parser.parse_args(argv)
    config = load_detect_config(args.config)
    photos = load_photos(args.images)
    runs = {finder: run_finder(replace(config, finder=finder), photos, args.repeats)
            for finder in ("masking", "proposals")}
    print_people_table(photos, runs)
    print()
    print_totals(photos, runs)
    if args.draw is not None:
        draw(args.draw, photos, runs["proposals"])
    if args.hands:
        print_hands(config, photos, args.repeats)


if __name__ == "__main__":
    main()
