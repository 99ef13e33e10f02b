"""Detection over a folder: ``<stem>_keypoints.json`` per image (OpenPose 1.3), written
atomically; existing files are kept unless asked to redo them, so a rerun resumes. An image
that cannot be read is reported and the run goes on; an image where nobody is found gets a
file with no people (the fitter then records it as skipped)."""
from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from bodyfit.detect.config import DetectConfig, load_detect_config
from bodyfit.detect.holistic import Detection, DetectorUnavailable, HolisticDetector
from bodyfit.fileio.images import ImageError, read_image, write_png
from bodyfit.fileio.openpose_json import KEYPOINT_SUFFIX, list_images, write_openpose
from bodyfit.rendering.draw import draw_openpose

log = logging.getLogger("bodyfit")


@dataclass
class DetectionReport:
    """What happened to each image: stem -> {"status": ok|nobody|failed|existing, ...}."""

    images: dict[str, dict] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(record["status"] == status for record in self.images.values())

    def seconds(self) -> list[float]:
        return [record["seconds"] for record in self.images.values() if "seconds" in record]

    def summary(self) -> str:
        seconds = self.seconds()
        return (f"{self.count('ok')} images with people, {self.count('nobody')} with nobody, "
                f"{self.count('failed')} failed, {self.count('existing')} already done; median "
                f"{statistics.median(seconds) if seconds else float('nan'):.2f} s per image")


def keypoint_path(folder: Path, image: Path) -> Path:
    return folder / f"{image.stem}{KEYPOINT_SUFFIX}"


def preview(image: np.ndarray, detections: list[Detection]) -> np.ndarray:
    """``image`` (H, W, 3) with every detection's OpenPose keypoints drawn."""
    for detection in detections:
        k = detection.keypoints
        image = draw_openpose(image, k.body, k.left_hand, k.right_hand, k.face)
    return image


def detect_folder(images: Path, output: Path, config: DetectConfig, overwrite: bool = False,
                  draw: Path | None = None, on_image: Callable[[str, dict], None] | None = None) -> DetectionReport:
    """Detect every person in every image of ``images`` into ``output``; with ``draw``, also
    write ``<stem>.png`` previews of the keypoints there."""
    paths = list_images(images)
    output.mkdir(parents=True, exist_ok=True)
    report = DetectionReport()
    todo = []
    for path in paths:
        if keypoint_path(output, path).is_file() and not overwrite:
            report.images[path.stem] = {"status": "existing"}
        else:
            todo.append(path)
    if not todo:
        return report
    with HolisticDetector(config) as detector:
        for path in todo:
            started = time.perf_counter()
            try:
                image = read_image(path)
                detections = detector.detect(image)
            except ImageError as error:
                record = {"status": "failed", "reason": str(error)}
                log.warning("%s", error)
            except Exception as error:  # a model failing on one image must not stop the folder
                record = {"status": "failed", "reason": f"{path}: detection failed: {error!r}"}
                log.warning("%s", record["reason"])
            else:
                write_openpose(keypoint_path(output, path), [d.keypoints for d in detections])
                record = {"status": "ok" if detections else "nobody", "people": len(detections),
                          "hands": [d.hand_sources for d in detections],
                          "seconds": time.perf_counter() - started}
                if not detections:
                    log.warning("%s: nobody found", path)
                if draw is not None:
                    write_png(draw / f"{path.stem}.png", preview(image, detections))
            report.images[path.stem] = record
            if on_image is not None:
                on_image(path.stem, record)
    return report


class DetectionError(Exception):
    """Detection cannot run: the message names the folder, file or package and the problem."""


def run_detection(images: Path, output: Path, config_path: Path | None = None, overwrite: bool = False,
                  draw: Path | None = None, quiet: bool = False) -> DetectionReport:
    """``detect_folder`` with a progress bar and the summary logged. A missing folder, a bad
    config file or a missing MediaPipe is a ``DetectionError`` with the reason."""
    try:
        total = len(list_images(images))
        config = load_detect_config(config_path)
    except (FileNotFoundError, ValueError) as error:
        raise DetectionError(str(error)) from error
    try:
        with tqdm(total=total, unit="img", desc="detect", disable=quiet) as bar:
            def done(stem: str, record: dict) -> None:
                bar.update(1)
                bar.set_postfix_str(f"{stem}: {record['status']}")

            report = detect_folder(images, output, config, overwrite, draw, done)
    except DetectorUnavailable as error:
        raise DetectionError(str(error)) from error
    log.info("detection: %s; keypoints in %s", report.summary(), output)
    return report
