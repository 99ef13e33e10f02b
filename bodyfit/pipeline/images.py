"""Single images as a run's fit strategy: each image prepared into person tasks, tasks queued and
fitted in batches (people of several images together, one body model per batch, in this process
or on Ray actors, each from its own start), fits handed to the result writer as each batch
finishes."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bodyfit.bodymodels.files import ModelFileError
from bodyfit.fileio.config import plain
from bodyfit.fileio.openpose_json import ImageItem
from bodyfit.fitting.config import FitConfig
from bodyfit.fitting.core import ModelBank, TaskQueue
from bodyfit.fitting.tasks import ModelKey, PersonFit
from bodyfit.pipeline.engines import Engine, PlainEngine, RayEngine, RayOptions
from bodyfit.pipeline.prepare import ChoosesGender, PreparedImage, prepare_image
from bodyfit.pipeline.results import ResultWriter
from bodyfit.pipeline.runner import RunError, RunOptions
from bodyfit.resources import checkout_path

log = logging.getLogger("bodyfit")


@dataclass
class FolderOptions:
    """How images become tasks and batches: the focal length (``auto`` or pixels), at most
    ``max_people`` per image, ``batch_size`` people per batch, an optional gender chooser."""

    focal_length: str | float = "auto"
    max_people: int | None = None
    batch_size: int = 64
    gender_chooser: ChoosesGender | None = None  # --gender auto: picks each person's model


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


@dataclass
class ImageStrategy:
    """Fits each image's people with ``key``'s model (with a gender chooser in ``folder``:
    of the gender chosen per person). ``ray``: fit on Ray actors, which load the models on
    ``device`` themselves; this process then only reads, checks and writes on the CPU."""

    config: FitConfig
    key: ModelKey
    folder: FolderOptions
    model_folder: str | Path | None = None
    device: str = "cpu"
    ray: RayOptions | None = None
    bank: ModelBank | None = None    # models already loaded (None: loaded here, on first use)
    resumes_per_image: bool = True

    def __post_init__(self) -> None:
        if self.bank is None:
            self.bank = ModelBank({self.key.model_type: self.config}, self.model_folder,
                                  "cpu" if self.ray else self.device)

    def check(self, options: RunOptions) -> None:
        """Every model the run may use, loaded now (a missing file or a bad checkpoint is one
        line before any image is read)."""
        try:
            self.bank.fitter(self.key)
            if self.folder.gender_chooser is not None:
                for gender in ("male", "female"):
                    self.bank.model(ModelKey(self.key.model_type, gender))
            if self.config.init == "regressor":
                self._check_regressor()
        except (ModelFileError, FileNotFoundError, ValueError) as error:
            raise RunError(str(error)) from error

    def _check_regressor(self) -> None:
        from bodyfit.fitting.regressor_init import cached_regressor
        from bodyfit.regressor.checkpoint import resolve

        corpus = checkout_path("data", "poses")
        if self.config.regressor.pose_starts and not corpus.is_dir():
            raise ValueError(f"regressor.pose_starts: the pose clusters come from the motion corpus, which a "
                             f"checkout has in data/poses and {corpus} lacks (set pose_starts: 0)")
        path = resolve(self.config.regressor.checkpoint)
        device = str(self.bank.model(self.key).smpl.v_template.device)  # as the fit will ask for it
        if cached_regressor(str(path), device).shape.encoder == "rgb":
            raise ValueError(f"{path}: an RGB regressor; fits start from keypoint regressors "
                             "(keypoints or heatmaps encoders)")

    def resolved(self) -> dict[str, Any]:
        resolved: dict[str, Any] = {"fit": self.config.to_dict()}
        chooser = self.folder.gender_chooser
        if chooser is not None:
            resolved["gender"] = {"config": plain(chooser.config), "classifier": chooser.about}
        return resolved

    def faces(self, key: ModelKey) -> Any:
        return self.bank.model(key).faces

    def engine(self) -> Engine:
        """This process, or Ray actors (``RunError`` when Ray is missing or misconfigured)."""
        if self.ray is None:
            return PlainEngine(self.bank)
        try:
            started = time.perf_counter()
            engine = RayEngine(self.bank.configs, self.model_folder, self.device, self.ray)
        except (ImportError, ValueError) as error:
            raise RunError(str(error)) from error
        log.info("Ray: %d workers started in %.1f s", self.ray.workers, time.perf_counter() - started)
        return engine

    def fit(self, items: list[ImageItem], writer: ResultWriter, options: RunOptions) -> dict[str, Any]:
        engine = self.engine() if items else PlainEngine(self.bank)
        try:
            fit_folder(items, self.bank, self.key, writer, self.folder, engine)
        finally:
            engine.close()
        return {}
