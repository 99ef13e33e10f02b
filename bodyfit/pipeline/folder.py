"""Fitting a folder of images: each image prepared into person tasks, tasks queued and fitted
in batches (people of several images together, one body model per batch), fits handed to the
result writer as each batch finishes."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bodyfit.fileio.openpose_json import ImageItem
from bodyfit.fitting.core import ModelBank, TaskQueue
from bodyfit.fitting.tasks import ModelKey, PersonFit
from bodyfit.pipeline.engines import Engine, PlainEngine
from bodyfit.pipeline.prepare import ChoosesGender, PreparedImage, prepare_image
from bodyfit.pipeline.results import ResultWriter

log = logging.getLogger("bodyfit")


@dataclass
class FolderOptions:
    focal_length: str | float = "auto"
    max_people: int | None = None
    batch_size: int = 64
    gender_chooser: ChoosesGender | None = None  # --gender auto: picks each person's model


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


def _prepare(item: ImageItem, bank: ModelBank, model: ModelKey, options: FolderOptions) -> PreparedImage:
    try:
        return prepare_image(item, bank.config(model), model, options.focal_length, options.max_people,
                             options.gender_chooser)
    except Exception as error:  # noqa: BLE001 - an unforeseen problem with one image: record it, go on
        log.exception("%s: unexpected error while reading", item.stem)
        return PreparedImage(item, {"image": str(item.image), "people": [], "status": "failed",
                                    "reason": f"unexpected error while reading: {error!r}"})


def fit_folder(items: list[ImageItem], bank: ModelBank, model: ModelKey, writer: ResultWriter,
               options: FolderOptions, engine: Engine | None = None) -> None:
    """Fits every person of ``items`` with ``model`` (with ``options.gender_chooser``: of the
    gender chosen for each) and writes the results through ``writer``.
    ``engine`` fits the batches (default: ``PlainEngine(bank)``, in this process); images are
    prepared here and results written here as batches come back."""
    engine = engine or PlainEngine(bank)
    queue = TaskQueue(options.batch_size)

    def write(batches: Iterable[list[PersonFit]]) -> None:
        for fits in batches:
            writer.consume(fits)

    for item in items:
        started = time.perf_counter()
        prepared = _prepare(item, bank, model, options)
        writer.expect(prepared, started)
        for task in prepared.tasks:
            full = queue.push(task)
            if full is not None:
                engine.submit(full)
                write(engine.ready())
    for batch in queue.drain():
        engine.submit(batch)
    write(engine.drain())
