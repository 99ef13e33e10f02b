"""The one driver every run goes through: images (or a video's frames) and their keypoints in,
fits out through one writer, then the summary, the dataset index and the report.

What differs between input kinds is plugged in, not copied:

- a ``FrameSource`` says where the images are (a folder, frames extracted from a video with
  their rate, or the views of several calibrated cameras) and pairs them with keypoints;
- a ``FitStrategy`` fits the matched images and writes each person through the run's
  ``ResultWriter``: people of single images in batches (``pipeline.images.ImageStrategy``), or
  people tracked through a sequence and fitted as smooth tracks (``video.strategy``).

The keypoints are read in any supported format (``fileio.formats``) or detected into
``OUTPUT/keypoints``. Problems the user can fix raise ``RunError`` with one line naming the
file and the problem; only the command line turns that into an exit.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from tqdm import tqdm

from bodyfit.fileio.atomic import write_json, write_text_atomic
from bodyfit.fileio.formats.source import open_keypoints
from bodyfit.fileio.openpose_json import ImageItem, match_images
from bodyfit.pipeline.results import ImageDone, ResultWriter, summarise

log = logging.getLogger("bodyfit")


class RunError(Exception):
    """A run that cannot start or go on; the message names the file or option and the problem."""


@dataclass
class RunOptions:
    """What every run takes, whatever its input kind.

    ``keypoints``: a folder of per-image files or one file over many images (None: detect into
    ``OUTPUT/keypoints``); ``keypoint_format``: a name of ``fileio.formats`` or ``auto``;
    ``image_ids``: for a COCO result file, the annotation file naming its image ids."""

    output: Path
    keypoints: Path | None = None
    keypoint_format: str = "auto"
    image_ids: Path | None = None
    detect_config: Path | None = None
    overlay: bool = True
    overwrite: bool = False
    quiet: bool = False


class FrameSource(Protocol):
    """Where a run's images come from, paired with their keypoints."""

    def items(self, options: RunOptions) -> list[Any]:
        """The run's items, each with a ``stem`` and a ``conflict`` list: images with their
        keypoints (``ImageItem``), or one instant of several cameras
        (``multiview.views.Instant``); frames are extracted and keypoints detected under
        ``options.output`` first where needed."""
        ...

    def describe(self) -> dict[str, Any]:
        """What to record about the source (its path, frame rate) in config.yaml."""
        ...


@dataclass
class ImageFolder:
    """A folder of .jpg/.jpeg/.png images: photos, or a sequence's frames in name order."""

    path: Path
    fps: float | None = None

    def frames(self, output: Path) -> Path:
        if not Path(self.path).is_dir():
            raise RunError(f"{self.path}: not a folder of images")
        return Path(self.path)

    def items(self, options: RunOptions) -> list[ImageItem]:
        return match_keypoints(self.frames(options.output), options)

    def describe(self) -> dict[str, Any]:
        return {"images": str(self.path), **({"fps": self.fps} if self.fps else {})}


class FitStrategy(Protocol):
    """How the matched images are fitted and written; the driver does everything else.

    ``resumes_per_image``: images an earlier run finished are skipped (single images); a
    sequence strategy refits the whole clip, since a track spans frames."""

    resumes_per_image: bool

    def check(self, options: RunOptions) -> None:
        """Loads what the fit (and its outputs under ``options``) needs, so that a bad model, a
        bad checkpoint or a missing package stops the run before detection (which may take
        hours); ``RunError`` naming it."""
        ...

    def resolved(self) -> dict[str, Any]:
        """The settings the run uses, for ``OUTPUT/config.yaml``."""
        ...

    def fit(self, items: list[ImageItem], writer: ResultWriter, options: RunOptions) -> dict[str, Any]:
        """Fits ``items`` and writes every person through ``writer``; notes for summary.json."""
        ...

    def faces(self, key: Any) -> Any:
        """The (F, 3) faces of the body model ``key`` (for meshes and overlays)."""
        ...


def check_output_folder(output: Path, overlay: bool) -> None:
    """Creates the output folders; ``OSError`` with one line naming what cannot be written."""
    folders = [output, output / "results", output / "meshes"] + ([output / "images"] if overlay else [])
    for folder in folders:
        if folder.exists() and not folder.is_dir():
            raise OSError(f"{folder}: exists and is not a folder, so results cannot be written there")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / ".bodyfit-write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as error:
            raise OSError(f"{folder}: cannot write results there ({error.strerror or error})") from error


def detect_keypoints(images: Path, options: RunOptions, folder: Path | None = None) -> Path:
    """Detects keypoints for the images without them yet into ``folder`` (default
    ``OUTPUT/keypoints``); that folder."""
    from bodyfit.detect.folder import DetectionError, run_detection

    folder = folder or options.output / "keypoints"
    try:
        run_detection(images, folder, options.detect_config, options.overwrite, quiet=options.quiet)
    except DetectionError as error:
        raise RunError(str(error)) from error
    return folder


def match_keypoints(images: Path, options: RunOptions, keypoints: Path | None = None,
                    detect_into: Path | None = None) -> list[ImageItem]:
    """Each image paired with its people, in any keypoint format, from ``keypoints`` (default
    ``options.keypoints``; without either, detected first into ``detect_into``, default
    ``OUTPUT/keypoints``); images sharing one stem are logged and left unfitted."""
    keypoints = keypoints or options.keypoints or detect_keypoints(images, options, detect_into)
    try:
        source = open_keypoints(keypoints, options.keypoint_format, options.image_ids)
        log.info("keypoints: %s from %s", source.describe(), keypoints)
        items = match_images(images, source)
    except (FileNotFoundError, ValueError) as error:
        raise RunError(str(error)) from error
    for item in items:
        if item.conflict:
            log.warning("%s: %s share one stem and keypoint file: not fitted, rename all but one", item.stem,
                        ", ".join(p.name for p in item.conflict))
    return items


def write_run_config(options: RunOptions, source: FrameSource, strategy: FitStrategy,
                     arguments: dict[str, Any] | None = None) -> None:
    """``OUTPUT/config.yaml``: the strategy's resolved settings, the source, and the run's
    arguments (the command line's, else the options)."""
    run = {key: str(value) for key, value in (arguments or vars(options)).items()}
    resolved = {**strategy.resolved(), "source": source.describe(), "run": run}
    write_text_atomic(options.output / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))


def write_index_and_report(output: Path, quiet: bool) -> None:
    """The dataset index and the report; both are rebuildable (``bodyfit index``, ``bodyfit
    report``), so a failure is logged and never fails the run."""
    from bodyfit.pipeline.index import write_index
    from bodyfit.report import write_report

    try:
        write_index(output)
    except Exception as error:  # noqa: BLE001 - rebuildable: never fail the run
        log.warning("%s: the dataset index was not written: %r", output, error)
    try:
        log.info("report: %s", write_report(output, progress=not quiet))
    except Exception as error:  # noqa: BLE001 - rebuildable: never fail the run
        log.warning("%s: the report was not written: %r", output, error)


def progress_bar(quiet: bool) -> tuple[tqdm, ImageDone]:
    """A bar over images and the writer's callback that advances it."""
    bar = tqdm(total=0, unit="img", disable=quiet)

    def done(stem: str, record: dict) -> None:
        bar.update(1)
        bar.set_postfix_str(f"{stem}: {record['status']}")

    return bar, done


def run(options: RunOptions, source: FrameSource, strategy: FitStrategy,
        arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole run; returns the summary also written to ``OUTPUT/summary.json``.
    ``arguments``: the command line's, recorded in ``OUTPUT/config.yaml``.

    Order: the output folder and the models are checked first (cheap, one line each), then
    frames and keypoints (detection may be long), then the fit, then summary, index, report."""
    try:
        check_output_folder(options.output, options.overlay)
    except OSError as error:
        raise RunError(str(error)) from error
    strategy.check(options)
    items = source.items(options)
    write_run_config(options, source, strategy, arguments)
    started = time.perf_counter()
    bar, done = progress_bar(options.quiet)
    with bar:
        writer = ResultWriter(options.output, strategy.faces, options.overlay, done)
        todo = items
        if strategy.resumes_per_image and not options.overwrite:
            todo = [item for item in items if not writer.is_done(item.stem)]
            if len(todo) < len(items):
                log.info("%d of %d images already have results (use --overwrite to redo them; failed ones "
                         "are retried)", len(items) - len(todo), len(items))
        bar.reset(total=len(todo))
        notes = strategy.fit(todo, writer, options)
    notes["ambiguous_stems"] = {item.stem: [str(p) for p in item.conflict] for item in items if item.conflict}
    summary = summarise(options.output, [item.stem for item in items], time.perf_counter() - started, notes)
    write_json(options.output / "summary.json", summary)
    write_index_and_report(options.output, options.quiet)
    counts = summary["counts"]
    log.info("images: %d ok, %d skipped, %d failed; people fitted: %d; see %s",
             counts["ok"], counts["skipped"], counts["failed"], summary["people_fitted"], options.output)
    return summary
